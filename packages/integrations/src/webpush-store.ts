/**
 * Web Push's state in the data directory: the server's VAPID key pair (made at the first start,
 * `webpush-vapid.json`, mode 0600) and the devices that enabled notifications
 * (`webpush-subscriptions.json`). Both are written atomically.
 */

import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import webpush from 'web-push';
import { IntegrationsError } from './errors';

/** One device's push subscription, as the browser's `PushSubscription.toJSON()` gives it. */
export interface PushSubscriptionRecord {
  /** Stable id of the subscription (a hash of its endpoint). */
  readonly id: string;
  readonly endpoint: string;
  readonly keys: { readonly p256dh: string; readonly auth: string };
  /** When it was added, ISO time. */
  readonly addedAt: string;
  /** A label the page sends (the browser's name), shown in the status. */
  readonly label: string;
}

/** The VAPID keys, base64url as web-push makes them. */
export interface VapidKeys {
  readonly publicKey: string;
  readonly privateKey: string;
}

/** The subscriptions and keys of one server. */
export interface WebPushStore {
  /** Reads the files, making the VAPID keys when there are none. */
  open(): Promise<void>;
  vapidKeys(): VapidKeys;
  list(): readonly PushSubscriptionRecord[];
  /** Adds (or refreshes) a device; beyond `max`, the oldest is dropped. Throws `NOTIFY_BAD_SUBSCRIPTION`. */
  add(subscription: unknown, label: string): Promise<PushSubscriptionRecord>;
  /** Removes a device by id or endpoint; true when it was there. */
  remove(idOrEndpoint: string): Promise<boolean>;
}

const B64URL = /^[A-Za-z0-9_-]+=*$/;

/** Checks a subscription sent by a page (pure); throws `NOTIFY_BAD_SUBSCRIPTION` naming the field. */
export function parseSubscription(value: unknown): { endpoint: string; keys: { p256dh: string; auth: string } } {
  const bad = (field: string, why: string): never => {
    throw new IntegrationsError('NOTIFY_BAD_SUBSCRIPTION', `push subscription: ${field} ${why}`, field);
  };
  if (typeof value !== 'object' || value === null) return bad('subscription', 'must be an object');
  const o = value as { endpoint?: unknown; keys?: { p256dh?: unknown; auth?: unknown } };
  if (typeof o.endpoint !== 'string' || o.endpoint.length > 2000) return bad('endpoint', 'must be a URL of at most 2000 characters');
  let url: URL;
  try {
    url = new URL(o.endpoint);
  } catch (error) {
    void error;
    return bad('endpoint', 'must be a URL');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(url.hostname))) {
    bad('endpoint', 'must be an https: URL');
  }
  const p256dh = o.keys?.p256dh;
  const auth = o.keys?.auth;
  if (typeof p256dh !== 'string' || !B64URL.test(p256dh) || Buffer.from(p256dh, 'base64url').length !== 65) bad('keys.p256dh', 'must be a 65-byte P-256 public key, base64url');
  if (typeof auth !== 'string' || !B64URL.test(auth) || Buffer.from(auth, 'base64url').length < 16) bad('keys.auth', 'must be an auth secret of at least 16 bytes, base64url');
  return { endpoint: o.endpoint, keys: { p256dh: p256dh as string, auth: auth as string } };
}

/** Opens the Web Push state of a data directory (reads nothing until `open()`). */
export function createWebPushStore(dataDir: string, max: number): WebPushStore {
  const keysPath = join(dataDir, 'webpush-vapid.json');
  const subsPath = join(dataDir, 'webpush-subscriptions.json');
  let keys: VapidKeys | null = null;
  let subscriptions: PushSubscriptionRecord[] = [];

  const writeAtomic = async (path: string, value: unknown): Promise<void> => {
    try {
      await fsp.mkdir(dataDir, { recursive: true });
      await fsp.writeFile(`${path}.tmp`, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
      await fsp.rename(`${path}.tmp`, path);
    } catch (error) {
      throw new IntegrationsError('NOTIFY_OUTBOX_FAILED', `cannot write ${path}: ${(error as Error).message}`, path, { cause: error });
    }
  };
  const readJson = async (path: string): Promise<unknown> => {
    try {
      return JSON.parse(await fsp.readFile(path, 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new IntegrationsError('NOTIFY_OUTBOX_FAILED', `cannot read ${path}: ${(error as Error).message}`, path, { cause: error });
    }
  };

  return {
    async open() {
      const savedKeys = (await readJson(keysPath)) as VapidKeys | undefined;
      if (savedKeys && typeof savedKeys.publicKey === 'string' && typeof savedKeys.privateKey === 'string') {
        keys = { publicKey: savedKeys.publicKey, privateKey: savedKeys.privateKey };
      } else {
        const made = webpush.generateVAPIDKeys();
        keys = { publicKey: made.publicKey, privateKey: made.privateKey };
        await writeAtomic(keysPath, keys);
      }
      const saved = (await readJson(subsPath)) as PushSubscriptionRecord[] | undefined;
      subscriptions = Array.isArray(saved) ? saved.filter((s) => typeof s?.endpoint === 'string' && typeof s?.keys?.p256dh === 'string') : [];
    },
    vapidKeys() {
      if (!keys) throw new Error('web push store not opened');
      return keys;
    },
    list: () => subscriptions,
    async add(value, label) {
      const parsed = parseSubscription(value);
      const id = createHash('sha256').update(parsed.endpoint).digest('base64url').slice(0, 22);
      const record: PushSubscriptionRecord = { id, endpoint: parsed.endpoint, keys: parsed.keys, addedAt: new Date().toISOString(), label: label.replace(/[^\x20-\x7e]/g, '').slice(0, 80) || 'browser' };
      subscriptions = [...subscriptions.filter((s) => s.id !== id), record];
      while (subscriptions.length > max) subscriptions.shift();
      await writeAtomic(subsPath, subscriptions);
      return record;
    },
    async remove(idOrEndpoint) {
      const before = subscriptions.length;
      subscriptions = subscriptions.filter((s) => s.id !== idOrEndpoint && s.endpoint !== idOrEndpoint);
      if (subscriptions.length === before) return false;
      await writeAtomic(subsPath, subscriptions);
      return true;
    },
  };
}
