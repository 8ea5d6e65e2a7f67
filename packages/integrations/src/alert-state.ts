/**
 * What the notifier remembers across a restart, in `<dataDir>/notify-state.json`: each
 * channel's visits (the last message and the last motion per camera, so a restart during a
 * long visit sends no new "first" alert) and the alerts whose recording is not finished yet
 * (the e-mail follow-up answers them in the same thread). Written atomically (temporary file,
 * then rename), bounded in entries and bytes; a corrupt file is set aside as
 * `notify-state.json.corrupt` and reported, never a reason for the alerts to stop.
 */

import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { CameraVisit } from './alert-rules';
import { IntegrationsError } from './errors';
import { ALERT_KINDS, CHANNEL_NAMES, type AlertKind, type ChannelName } from './notify-config';

/** An alert that waits for its event's recording to send the follow-up with the clip. */
export interface PendingThread {
  readonly channel: ChannelName;
  readonly camera: string;
  readonly kind: AlertKind;
  /** Wall time of the alerted event's trigger (the recording covers it). */
  readonly startedAtMs: number;
  /** The recording, when it was known at the alert (a memory is alerted once saved); else matched by time. */
  readonly recordingId: string | null;
  /** `Message-ID` of the alert mail. */
  readonly messageId: string;
  /** Subject of the alert mail. */
  readonly subject: string;
}

/** A channel's visit of a camera, with the mail that began it (e-mail updates reply to it). */
export interface StoredVisit extends CameraVisit {
  readonly mail?: { readonly messageId: string; readonly subject: string };
}

/** The remembered state: visits by channel and camera, and the threads waiting for a recording. */
export interface NotifyState {
  readonly visits: Readonly<Partial<Record<ChannelName, Readonly<Record<string, StoredVisit>>>>>;
  readonly threads: readonly PendingThread[];
}

/** The state file of one data directory. */
export interface NotifyStateFile {
  readonly path: string;
  /** The last saved state; empty when there is none. A file that cannot be used is renamed to `.corrupt` and the error returned beside an empty state. */
  load(): Promise<{ state: NotifyState; error: IntegrationsError | null }>;
  /** Writes the state atomically. Throws `NOTIFY_STATE_FAILED`. */
  save(state: NotifyState): Promise<void>;
}

/** Cameras remembered per channel (the least recently active are forgotten first). */
export const STATE_MAX_VISITS = 64;
/** Alerts waiting for their recording (the oldest are forgotten first). */
export const STATE_MAX_THREADS = 200;
/** A file larger than this is not read (it cannot have been written by {@link NotifyStateFile.save}). */
export const STATE_MAX_BYTES = 262_144;

const CAMERA = z.string().regex(/^[A-Za-z0-9_-]{1,40}$/);
const MS = z.number().int().min(0).max(8.64e15);
const MESSAGE_ID = z.string().min(3).max(300);
const SUBJECT = z.string().max(1000);
const visitSchema = z.strictObject({ lastSentMs: MS, lastActivityMs: MS, mail: z.strictObject({ messageId: MESSAGE_ID, subject: SUBJECT }).optional() });
const stateSchema = z.strictObject({
  version: z.literal(1),
  visits: z.partialRecord(z.enum(CHANNEL_NAMES), z.record(CAMERA, visitSchema)),
  threads: z
    .array(
      z.strictObject({
        channel: z.enum(CHANNEL_NAMES),
        camera: CAMERA,
        kind: z.enum(ALERT_KINDS),
        startedAtMs: MS,
        recordingId: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/).nullable(),
        messageId: MESSAGE_ID,
        subject: SUBJECT,
      }),
    )
    .max(STATE_MAX_THREADS),
});

/** The empty state. */
export const EMPTY_STATE: NotifyState = { visits: {}, threads: [] };

/** Keeps the newest entries within the bounds. Pure. */
export function boundState(state: NotifyState): NotifyState {
  const visits: Partial<Record<ChannelName, Record<string, StoredVisit>>> = {};
  for (const name of CHANNEL_NAMES) {
    const of = state.visits[name];
    if (!of) continue;
    const kept = Object.entries(of)
      .sort((a, b) => b[1].lastActivityMs - a[1].lastActivityMs)
      .slice(0, STATE_MAX_VISITS);
    if (kept.length > 0) visits[name] = Object.fromEntries(kept);
  }
  return { visits, threads: state.threads.slice(-STATE_MAX_THREADS) };
}

/** Opens the state file of a data directory (no I/O until `load()`/`save()`). */
export function openNotifyState(dataDir: string): NotifyStateFile {
  const path = join(dataDir, 'notify-state.json');
  const setAside = async (error: IntegrationsError): Promise<{ state: NotifyState; error: IntegrationsError }> => {
    await fsp.rename(path, `${path}.corrupt`).catch((renameError: unknown) => {
      // Keeping the bad file in place is harmless: the next save replaces it.
      error.message += `; could not set it aside: ${(renameError as Error).message}`;
    });
    return { state: EMPTY_STATE, error };
  };
  return {
    path,
    async load() {
      let text: string;
      try {
        const stat = await fsp.stat(path);
        if (stat.size > STATE_MAX_BYTES) return setAside(new IntegrationsError('NOTIFY_STATE_FAILED', `${path} is ${stat.size} bytes, more than the ${STATE_MAX_BYTES} it can be; starting afresh`, path));
        text = await fsp.readFile(path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { state: EMPTY_STATE, error: null };
        return { state: EMPTY_STATE, error: new IntegrationsError('NOTIFY_STATE_FAILED', `cannot read ${path}: ${(error as Error).message}; starting afresh`, path, { cause: error }) };
      }
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch (error) {
        return setAside(new IntegrationsError('NOTIFY_STATE_FAILED', `${path} is not JSON (${(error as Error).message}); set aside, starting afresh`, path, { cause: error }));
      }
      const parsed = stateSchema.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        return setAside(new IntegrationsError('NOTIFY_STATE_FAILED', `${path} is not a notifier state (${issue.path.join('.')}: ${issue.message}); set aside, starting afresh`, path));
      }
      return { state: boundState({ visits: parsed.data.visits, threads: parsed.data.threads }), error: null };
    },
    async save(state) {
      const temp = `${path}.tmp`;
      try {
        await fsp.mkdir(dataDir, { recursive: true });
        await fsp.writeFile(temp, JSON.stringify({ version: 1, ...boundState(state) }), { mode: 0o600 });
        await fsp.rename(temp, path);
      } catch (error) {
        throw new IntegrationsError('NOTIFY_STATE_FAILED', `cannot write ${path}: ${(error as Error).message}`, path, { cause: error });
      }
    },
  };
}
