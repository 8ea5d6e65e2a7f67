/**
 * The alerts' outbox on disk: one small JSON file per alert waiting on one channel, written
 * atomically (temporary file, then rename) before delivery starts and deleted once it is
 * delivered or given up, so alerts queued while the network is down survive a restart.
 * Layout: `<dataDir>/notify-outbox/<channel>/<createdAtMs>-<id>.json`.
 */

import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { AlertFacts } from './alert-rules';
import { IntegrationsError } from './errors';

/** One alert waiting on one channel. */
export interface QueuedAlert {
  /** Unique per alert and channel (also the file name). */
  readonly id: string;
  readonly createdAtMs: number;
  readonly facts: AlertFacts;
  /** Absolute URL of the event (null without `notify.publicUrl`). */
  readonly link: string | null;
  /** The trigger snapshot JPEG, if any. */
  readonly snapshot: Buffer | null;
  /** Web Push: the subscriptions still to reach (null: every subscription, decided at the first attempt). */
  pendingSubscriptions: string[] | null;
  /** E-mail: the `Message-ID` this alert is sent with (a follow-up replies to it). */
  readonly messageId?: string;
  /** E-mail: the mail that began the visit; an update replies to it (same thread). */
  readonly replyTo?: { readonly messageId: string; readonly subject: string };
  /** E-mail: what a `clip` follow-up is about (facts.type `clip`). */
  readonly followUp?: ClipFollowUp;
}

/** The finished recording a follow-up mail carries (or links to), and the alert it answers. */
export interface ClipFollowUp {
  /** `Message-ID` of the alert this follow-up answers (`In-Reply-To`, `References`). */
  readonly inReplyTo: string;
  /** Subject of that alert (the follow-up's is `Re: <subject>`). */
  readonly subject: string;
  /** The recording's id (the link opens it). */
  readonly recordingId: string;
  /** The MP4, relative to the data directory (read when the mail is sent: a clip deleted meanwhile is linked, not attached), or null when it has no clip on this device. */
  readonly clip: string | null;
  readonly clipBytes: number;
  readonly durationS: number;
}

/** The directory of one channel's outbox. */
export function outboxDir(dataDir: string, channel: string): string {
  return join(dataDir, 'notify-outbox', channel);
}

const FILE = /^(\d{13})-([A-Za-z0-9_-]{1,80})\.json$/;

/** One channel's files. */
export interface AlertOutbox {
  /** Reads what a previous run left, oldest first; unreadable files are removed and logged by the caller through `onBad`. */
  load(onBad: (file: string, error: unknown) => void): Promise<QueuedAlert[]>;
  /** Writes (or rewrites) one alert. */
  put(alert: QueuedAlert): Promise<void>;
  /** Deletes one alert's file (gone already is fine). */
  remove(alert: QueuedAlert): Promise<void>;
}

/** Opens the outbox of one channel (creates the directory on the first write). */
export function openAlertOutbox(dir: string): AlertOutbox {
  const fileOf = (alert: QueuedAlert): string => join(dir, `${String(alert.createdAtMs).padStart(13, '0')}-${alert.id}.json`);
  return {
    async load(onBad) {
      let names: string[];
      try {
        names = await fsp.readdir(dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw new IntegrationsError('NOTIFY_OUTBOX_FAILED', `cannot read the alert outbox ${dir}: ${(error as Error).message}`, dir, { cause: error });
      }
      const out: QueuedAlert[] = [];
      for (const name of names.filter((n) => FILE.test(n)).sort()) {
        const path = join(dir, name);
        try {
          const raw = JSON.parse(await fsp.readFile(path, 'utf8')) as Omit<QueuedAlert, 'snapshot'> & { snapshot: string | null };
          if (typeof raw.id !== 'string' || typeof raw.createdAtMs !== 'number' || typeof raw.facts !== 'object' || raw.facts === null) throw new Error('not an alert');
          out.push({ ...raw, snapshot: raw.snapshot === null ? null : Buffer.from(raw.snapshot, 'base64') });
        } catch (error) {
          onBad(path, error);
          await fsp.rm(path, { force: true });
        }
      }
      return out;
    },
    async put(alert) {
      try {
        await fsp.mkdir(dir, { recursive: true });
        const path = fileOf(alert);
        const temp = `${path}.tmp`;
        await fsp.writeFile(temp, JSON.stringify({ ...alert, snapshot: alert.snapshot === null ? null : alert.snapshot.toString('base64') }), { mode: 0o600 });
        await fsp.rename(temp, path);
      } catch (error) {
        throw new IntegrationsError('NOTIFY_OUTBOX_FAILED', `cannot write the alert outbox ${dir}: ${(error as Error).message}`, dir, { cause: error });
      }
    },
    async remove(alert) {
      await fsp.rm(fileOf(alert), { force: true });
    },
  };
}
