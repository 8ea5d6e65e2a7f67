import { createHash } from 'node:crypto';
import type { ConfigLayers, ConfigOrigin } from './load';

/**
 * Pure helpers over configuration documents, for `GET/PATCH /api/config`: redaction of
 * secrets, JSON merge patches, the keys that differ, where a key comes from, and how a change
 * of a key is applied.
 */

/** What a secret's value is replaced with in everything the API returns. Sent back, it means "unchanged". */
export const REDACTED = '[redacted]';

/** Key names whose values are secrets (passwords, tokens, signing keys). */
const SECRET_KEY = /(password|secret|token|privateKey)$/i;
/** A URL carrying credentials (`mqtt://user:pass@host`): the whole value is a secret. */
const URL_WITH_CREDENTIALS = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]+@/i;

/** True when a key's value is never returned. Pure. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key.split('.').pop() ?? key);
}

/** A deep copy with every secret replaced by {@link REDACTED}. Pure. */
export function redactConfig<T>(value: T, key = ''): T {
  if (typeof value === 'string') return (key && isSecretKey(key)) || URL_WITH_CREDENTIALS.test(value) ? (REDACTED as T) : value;
  if (Array.isArray(value)) return value.map((item) => redactConfig(item, key)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactConfig(v, k)])) as T;
  }
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Applies a JSON merge patch (RFC 7396) to a document: objects merge, `null` removes a key (it
 * goes back to its default), anything else replaces. A string equal to {@link REDACTED} keeps
 * the current value, so a page can send back what it was shown. Pure.
 */
export function mergePatch(doc: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch === REDACTED ? doc : patch;
  const out: Record<string, unknown> = isObject(doc) ? { ...doc } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else if (value === REDACTED) continue;
    else {
      const merged = mergePatch(out[key], value);
      if (isObject(merged) && Object.keys(merged).length === 0 && isObject(value) && Object.keys(value).length > 0) delete out[key];
      else out[key] = merged;
    }
  }
  return out;
}

/** The dotted keys of a document's leaves (arrays are leaves). Pure. */
export function leafKeys(value: unknown, prefix = ''): string[] {
  if (!isObject(value)) return prefix ? [prefix] : [];
  const keys = Object.entries(value).flatMap(([key, child]) => leafKeys(child, prefix ? `${prefix}.${key}` : key));
  return keys.length || !prefix ? keys : [prefix];
}

/** The dotted leaf keys whose values differ between two documents. Pure. */
export function changedKeys(before: unknown, after: unknown): string[] {
  const keys = new Set([...leafKeys(before), ...leafKeys(after)]);
  return [...keys].filter((key) => JSON.stringify(valueAt(before, key)) !== JSON.stringify(valueAt(after, key))).sort();
}

/** The value at a dotted key, or undefined. Pure. */
export function valueAt(doc: unknown, key: string): unknown {
  let node: unknown = doc;
  for (const part of key.split('.')) {
    if (!isObject(node)) return undefined;
    node = node[part];
  }
  return node;
}

/** True when `key` is `prefix` or lies under it (`detector.noise.riseS` under `detector`). Pure. */
export function keyUnder(key: string, prefix: string): boolean {
  return key === prefix || key.startsWith(`${prefix}.`) || prefix.startsWith(`${key}.`);
}

/** Where a key's value comes from: a flag wins over the environment, the environment over the file. Pure. */
export function originOf(key: string, layers: Pick<ConfigLayers, 'fileDoc' | 'envKeys' | 'flagKeys' | 'profileKeys'>): ConfigOrigin {
  if (layers.flagKeys.some((k) => keyUnder(key, k))) return 'flag';
  if (layers.envKeys.some((k) => keyUnder(key, k))) return 'env';
  if (valueAt(layers.fileDoc, key) !== undefined) return 'file';
  if (layers.profileKeys.includes(key)) return 'profile';
  return 'default';
}

/** The origin of every key of the effective configuration. Pure. */
export function origins(config: unknown, layers: Pick<ConfigLayers, 'fileDoc' | 'envKeys' | 'flagKeys' | 'profileKeys'>): Record<string, ConfigOrigin> {
  return Object.fromEntries(leafKeys(config).map((key) => [key, originOf(key, layers)]));
}

/** The version of a configuration file's text (an ETag): the start of its SHA-256. Pure. */
export function configVersion(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/**
 * How a change of a key takes effect:
 * - `live`: the part restarts in place (detector, retention, live view, integrations, alerts and arming);
 * - `camera`: the camera's source and encoder restart after the clip being written is finished;
 * - `restart`: only at the next start of Preroll (the web server, the data directory, camera ids).
 */
export type ApplyMode = 'live' | 'camera' | 'restart';

/** Pure: how a change of the dotted key is applied. */
export function applyModeOf(key: string): ApplyMode {
  if (key === 'camera.id' || /^cameras\.\d+\.id$/.test(key) || key === 'cameras') return 'restart';
  // The memory button's rules, the GPIO line and the retention timer are set up once.
  if (key === 'retention.intervalS' || /^recording\.(memory|gpio)(\.|$)/.test(key)) return 'restart';
  const section = key.split('.')[0];
  switch (section) {
    case 'detector':
    case 'retention':
    case 'live':
    case 'integrations':
    case 'arming':
      return 'live';
    case 'camera':
    case 'cameras':
    case 'recorder':
    case 'recording':
      return 'camera';
    default:
      return 'restart';
  }
}

/** Settings-page groups, in the order the page shows them. */
export const CONFIG_GROUPS = ['Camera', 'Detection', 'Recording', 'Storage', 'Live view', 'Alerts', 'Integrations', 'Security', 'System'] as const;
/** A settings-page group. */
export type ConfigGroup = (typeof CONFIG_GROUPS)[number];

/** Pure: the settings-page group of a dotted key. */
export function groupOf(key: string): ConfigGroup {
  const [section, sub] = key.split('.');
  switch (section) {
    case 'camera':
    case 'cameras':
      return 'Camera';
    case 'detector':
    case 'labels':
      return 'Detection';
    case 'recorder':
    case 'recording':
      return 'Recording';
    case 'retention':
      return 'Storage';
    case 'live':
      return 'Live view';
    case 'arming':
      return 'Alerts';
    case 'integrations':
      return sub === 'notify' ? 'Alerts' : 'Integrations';
    case 'server':
      return sub === 'tls' || sub === 'allowedHosts' || sub === 'limits' ? 'Security' : 'System';
    default:
      return 'System';
  }
}

/** Pure: the unit of a key, read from its name (`preRollMs` → `ms`), or null. */
export function unitOf(key: string): string | null {
  const name = key.split('.').pop() ?? key;
  const units: [RegExp, string][] = [
    [/Ms$/, 'ms'],
    [/S$/, 's'],
    [/Pct$/, '%'],
    [/Bytes$/, 'bytes'],
    [/Kbps$/, 'kbit/s'],
    [/Days$/, 'days'],
    [/Minutes$/, 'min'],
    [/^(max|analysis)?[fF]ps$/, 'frames/s'],
    [/^(width|height|analysisWidth)$/, 'px'],
  ];
  return units.find(([pattern]) => pattern.test(name))?.[1] ?? null;
}
