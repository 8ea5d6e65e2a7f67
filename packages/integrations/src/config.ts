/**
 * The integrations' own configuration: what the user writes (every key optional except the
 * few that name a destination), the resolved form with defaults, and the one validation that
 * turns the first into the second. The server's zod schema mirrors these types; the bounds in
 * the JSDoc are the ones {@link resolveIntegrationsConfig} enforces.
 */

import type { RecordingKind } from '@preroll/layout';
import { RECORDING_KINDS } from '@preroll/layout';
import { IntegrationsError } from './errors';
import { notifyConfigSchema, type NotifyConfig, type ResolvedNotifyConfig } from './notify-config';

/** Home Assistant MQTT discovery. */
export interface DiscoveryConfig {
  /** Publish discovery messages (retained). Turning it off removes the entities (empty retained payloads). Default true. */
  readonly enabled?: boolean;
  /** Discovery prefix Home Assistant listens on. 1..100 chars, no `+`, `#`, no leading/trailing `/`. Default `homeassistant`. */
  readonly prefix?: string;
  /** Node id in the discovery topics and prefix of the unique_ids; `[A-Za-z0-9_-]{1,64}`. Default `preroll_<cameraId>`. */
  readonly nodeId?: string;
  /** Device name shown in Home Assistant, 1..100 chars. Default `Preroll <cameraId>`. */
  readonly deviceName?: string;
  /** Lowest trigger level the Home Assistant number entity offers, 0.1..65025. Default 0.1. */
  readonly triggerLevelMin?: number;
  /** Highest trigger level the number entity offers, 0.1..65025 and above the minimum. Default 100. */
  readonly triggerLevelMax?: number;
  /** Step of the number entity, 0.01..1000. Default 0.1. */
  readonly triggerLevelStep?: number;
}

/** MQTT publishing, commands and Home Assistant discovery. */
export interface MqttConfig {
  /** Default true: a present section is on. */
  readonly enabled?: boolean;
  /** Broker URL: `mqtt://host[:port]`, `mqtts://`, `ws://` or `wss://`; up to 2000 chars. Required. */
  readonly url: string;
  /** Broker user name, up to 200 chars. */
  readonly username?: string;
  /** Broker password, up to 200 chars (never logged). */
  readonly password?: string;
  /** MQTT client id, `[A-Za-z0-9_.-]{1,64}`. Default `preroll-<cameraId>`. */
  readonly clientId?: string;
  /** Prefix of every topic, 1..200 chars, no `+`, `#`, no leading/trailing `/`. Default `preroll/<cameraId>`. */
  readonly topicPrefix?: string;
  /** QoS of every publish and subscription: 0, 1 or 2. Default 1. */
  readonly qos?: 0 | 1 | 2;
  /** Retain the state topics (motion, score, recording, trigger level, detection, snapshot). Availability and discovery are always retained. Default true. */
  readonly retain?: boolean;
  /** MQTT keepalive, seconds, 5..3600. Default 30. */
  readonly keepaliveS?: number;
  /** Give up one connection attempt after this long, milliseconds, 1000..120000. Default 10000. */
  readonly connectTimeoutMs?: number;
  /** First reconnect delay, milliseconds, 100..600000; doubles per failed attempt. Default 1000. */
  readonly reconnectMinMs?: number;
  /** Longest reconnect delay, milliseconds, 100..600000, at least `reconnectMinMs`. Default 60000. */
  readonly reconnectMaxMs?: number;
  /** Most messages waiting for the broker (while offline or while earlier publishes are unacknowledged), 1..10000; the oldest is dropped beyond. Default 200. */
  readonly queueMax?: number;
  /** Most bytes of payload waiting for the broker, 1024..268435456; the oldest message is dropped beyond. Default 8388608 (8 MiB). */
  readonly queueMaxBytes?: number;
  /** At most one score message per this many milliseconds, 100..3600000. Default 1000. */
  readonly scoreIntervalMs?: number;
  /** Publish the score only when it moved at least this much (or crossed the trigger level), 0..65025. Default 0.5. */
  readonly scoreMinDelta?: number;
  /** Publish the score at least this often even when unchanged, seconds, 1..86400. Default 60. */
  readonly scoreHeartbeatS?: number;
  /** Kinds of recordings whose summary (and snapshot) is published on `<prefix>/event`. Default all kinds. */
  readonly eventKinds?: readonly RecordingKind[];
  /** Publish the snapshot JPEG of a finished recording on `<prefix>/snapshot`. Default true. */
  readonly publishSnapshot?: boolean;
  /** Larger snapshots are not published, bytes, 1024..16777216. Default 2097152 (2 MiB). */
  readonly snapshotMaxBytes?: number;
  readonly discovery?: DiscoveryConfig;
  /** TLS options of an `mqtts://` or `wss://` broker (a home broker's own CA, a client certificate). */
  readonly tls?: MqttTlsConfig;
}

/** TLS towards the broker. Files are PEM, read once at start. */
export interface MqttTlsConfig {
  /** CA certificate(s) to trust instead of the system's (e.g. the CA that signed your Mosquitto's certificate). */
  readonly caPath?: string;
  /** Client certificate, for a broker with `require_certificate true`; needs `keyPath`. */
  readonly certPath?: string;
  /** Private key of `certPath`. */
  readonly keyPath?: string;
  /** Check the broker's certificate and host name. Default true; false only on a network you trust. */
  readonly rejectUnauthorized?: boolean;
}

/** Signed HTTP POSTs of an event summary when a recording ends. */
export interface WebhooksConfig {
  /** Default true: a present section is on. */
  readonly enabled?: boolean;
  /** 1..10 `http://` or `https://` URLs, each up to 2000 chars. Required. */
  readonly urls: readonly string[];
  /** HMAC-SHA256 key of the `X-Preroll-Signature` header, 16..256 chars. Required. */
  readonly secret: string;
  /** Kinds of recordings that are posted. Default `["motion", "manual", "memory", "photo"]` (not the minute-by-minute segments). */
  readonly eventKinds?: readonly RecordingKind[];
  /** Timeout of one attempt (connect to end of response), milliseconds, 100..120000. Default 10000. */
  readonly timeoutMs?: number;
  /** Attempts per delivery, including the first, 1..20. Default 5. */
  readonly maxAttempts?: number;
  /** Delay before the first retry, milliseconds, 10..3600000; doubles per retry. Default 2000. */
  readonly retryInitialMs?: number;
  /** Longest delay between retries, milliseconds, 10..3600000, at least `retryInitialMs`. Default 60000. */
  readonly retryMaxMs?: number;
  /** Deliveries waiting per URL, 1..10000; the oldest is dropped beyond. Default 100. */
  readonly queueMax?: number;
}

/** Extra files of a recording uploaded beside its clip. */
export type UploadExtraFile = 'snapshot' | 'thumbnail' | 'heatmap' | 'sidecar';

/** Every extra file kind, in a stable order. */
export const UPLOAD_EXTRA_FILES: readonly UploadExtraFile[] = ['snapshot', 'thumbnail', 'heatmap', 'sidecar'];

/** Upload of recordings with `rclone copyto`. */
export interface UploadConfig {
  /** Default true: a present section is on. */
  readonly enabled?: boolean;
  /** The rclone remote, as on the rclone command line: `name:`, `name:bucket` or a connection string `:s3,...:`; 2..1000 chars, must contain `:`. Required. */
  readonly remote: string;
  /**
   * Folder under the remote, 0..1000 chars, with placeholders `{camera}`, `{kind}`, `{day}`
   * (YYYY-MM-DD), `{year}`, `{month}`, `{id}`; the files keep their names. No `..` segments.
   * Default `preroll/{camera}/{day}`.
   */
  readonly pathTemplate?: string;
  /** Kinds uploaded automatically when they finish; `[]` means on demand only. Default `["motion", "manual", "memory"]`. */
  readonly kinds?: readonly RecordingKind[];
  /** Files uploaded beside the clip when they exist. Default `["snapshot", "sidecar"]`. */
  readonly files?: readonly UploadExtraFile[];
  /** After a successful upload, ask the server to delete the local files (the index row stays; favourites are kept). Default false. */
  readonly deleteLocalAfterUpload?: boolean;
  /** The rclone program, 1..1000 chars. Default `rclone`. */
  readonly rcloneCommand?: string;
  /** An rclone config file passed as `--config`, up to 4096 chars. Default: rclone's own default (and `RCLONE_CONFIG_*` variables). */
  readonly rcloneConfigPath?: string;
  /** Extra rclone arguments, e.g. `["--bwlimit", "1M"]`; up to 50, each up to 500 chars. */
  readonly extraArgs?: readonly string[];
  /** Timeout of one `rclone copyto`, milliseconds, 1000..86400000. Default 1800000 (30 min). */
  readonly timeoutMs?: number;
  /** Attempts per recording, including the first, 1..50. Default 5. */
  readonly maxAttempts?: number;
  /** Delay before the first retry, milliseconds, 10..86400000; doubles per retry. Default 10000. */
  readonly retryInitialMs?: number;
  /** Longest delay between retries, milliseconds, 10..86400000, at least `retryInitialMs`. Default 600000. */
  readonly retryMaxMs?: number;
  /** Recordings waiting for upload, 1..100000; beyond, new ones are marked `failed` (retry from the gallery). Default 1000. */
  readonly queueMax?: number;
}

/**
 * Everything the integrations package is configured with. Each section is optional; a present
 * section is on unless it says `enabled: false`.
 */
export interface IntegrationsConfig {
  readonly mqtt?: MqttConfig;
  readonly webhooks?: WebhooksConfig;
  readonly upload?: UploadConfig;
  /** Alerts on the phone: ntfy, Telegram, e-mail, Web Push (see notify-config.ts). */
  readonly notify?: NotifyConfig;
}

/** {@link DiscoveryConfig} with every default filled in. */
export type ResolvedDiscoveryConfig = Required<DiscoveryConfig>;

/** {@link MqttConfig} with every default filled in (credentials stay optional). */
export type ResolvedMqttConfig = Required<Omit<MqttConfig, 'username' | 'password' | 'discovery' | 'tls'>> &
  Pick<MqttConfig, 'username' | 'password'> & { readonly discovery: ResolvedDiscoveryConfig; readonly tls: ResolvedMqttTlsConfig | null };

/** {@link MqttTlsConfig} with the default filled in; null without a `tls` section. */
export type ResolvedMqttTlsConfig = Omit<MqttTlsConfig, 'rejectUnauthorized'> & { readonly rejectUnauthorized: boolean };

/** {@link WebhooksConfig} with every default filled in. */
export type ResolvedWebhooksConfig = Required<WebhooksConfig>;

/** {@link UploadConfig} with every default filled in (`rcloneConfigPath` stays optional). */
export type ResolvedUploadConfig = Required<Omit<UploadConfig, 'rcloneConfigPath'>> & Pick<UploadConfig, 'rcloneConfigPath'>;

/** The validated configuration: a section is `null` when absent or disabled. Frozen. */
export interface ResolvedIntegrationsConfig {
  readonly mqtt: ResolvedMqttConfig | null;
  readonly webhooks: ResolvedWebhooksConfig | null;
  readonly upload: ResolvedUploadConfig | null;
  /** Null when absent or when no channel is configured. */
  readonly notify: ResolvedNotifyConfig | null;
}

/** Placeholders allowed in {@link UploadConfig.pathTemplate}. */
export const PATH_PLACEHOLDERS = ['camera', 'kind', 'day', 'year', 'month', 'id'] as const;

const TOPIC_LEVELS = /^[^+#\0]+$/;
const CAMERA_ID = /^[A-Za-z0-9_-]{1,100}$/;

/**
 * Checks the user's integrations config and fills in the defaults. `cameraId` names the default
 * topic prefix, client id and discovery node. Throws `INTEGRATIONS_BAD_CONFIG` with the key path
 * (e.g. `mqtt.qos`) in the message and in `value.key`, on the first bad key. Unknown keys are
 * rejected too, so a typo never silently disables something.
 */
export function resolveIntegrationsConfig(config: IntegrationsConfig | undefined, cameraId: string): ResolvedIntegrationsConfig {
  if (!CAMERA_ID.test(cameraId)) fail('cameraId', cameraId, 'must match /^[A-Za-z0-9_-]{1,100}$/');
  const root = objectAt(config ?? {}, 'integrations', ['mqtt', 'webhooks', 'upload', 'notify']);
  return Object.freeze({
    mqtt: root.mqtt === undefined ? null : resolveMqtt(root.mqtt, cameraId),
    webhooks: root.webhooks === undefined ? null : resolveWebhooks(root.webhooks),
    upload: root.upload === undefined ? null : resolveUpload(root.upload),
    notify: root.notify === undefined ? null : resolveNotify(root.notify),
  });
}

function resolveMqtt(value: unknown, cameraId: string): ResolvedMqttConfig | null {
  const o = objectAt(value, 'mqtt', [
    'enabled', 'url', 'username', 'password', 'clientId', 'topicPrefix', 'qos', 'retain', 'keepaliveS', 'connectTimeoutMs',
    'reconnectMinMs', 'reconnectMaxMs', 'queueMax', 'queueMaxBytes', 'scoreIntervalMs', 'scoreMinDelta', 'scoreHeartbeatS',
    'eventKinds', 'publishSnapshot', 'snapshotMaxBytes', 'discovery', 'tls',
  ]);
  if (!bool(o, 'mqtt.enabled', true)) return null;
  const url = str(o, 'mqtt.url', { min: 1, max: 2000 });
  if (url === undefined) fail('mqtt.url', url, 'is required (e.g. "mqtt://192.168.1.10:1883")');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    fail('mqtt.url', url, 'is not a URL', error);
  }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:', 'ssl:'].includes(parsed.protocol)) {
    fail('mqtt.url', url, 'must start with mqtt://, mqtts://, ws:// or wss://');
  }
  const reconnectMinMs = num(o, 'mqtt.reconnectMinMs', 1000, 100, 600_000, true);
  const reconnectMaxMs = num(o, 'mqtt.reconnectMaxMs', 60_000, 100, 600_000, true);
  if (reconnectMaxMs < reconnectMinMs) fail('mqtt.reconnectMaxMs', reconnectMaxMs, `must be at least mqtt.reconnectMinMs (${reconnectMinMs})`);
  const qos = o.qos ?? 1;
  if (qos !== 0 && qos !== 1 && qos !== 2) fail('mqtt.qos', qos, 'must be 0, 1 or 2');
  const clientId = str(o, 'mqtt.clientId', { min: 1, max: 64, pattern: /^[A-Za-z0-9_.-]+$/ }) ?? `preroll-${cameraId}`;
  return Object.freeze({
    enabled: true,
    url,
    username: str(o, 'mqtt.username', { min: 0, max: 200 }),
    password: str(o, 'mqtt.password', { min: 0, max: 200 }),
    clientId,
    topicPrefix: topic(o, 'mqtt.topicPrefix') ?? `preroll/${cameraId}`,
    qos,
    retain: bool(o, 'mqtt.retain', true),
    keepaliveS: num(o, 'mqtt.keepaliveS', 30, 5, 3600, true),
    connectTimeoutMs: num(o, 'mqtt.connectTimeoutMs', 10_000, 1000, 120_000, true),
    reconnectMinMs,
    reconnectMaxMs,
    queueMax: num(o, 'mqtt.queueMax', 200, 1, 10_000, true),
    queueMaxBytes: num(o, 'mqtt.queueMaxBytes', 8 * 1024 * 1024, 1024, 256 * 1024 * 1024, true),
    scoreIntervalMs: num(o, 'mqtt.scoreIntervalMs', 1000, 100, 3_600_000, true),
    scoreMinDelta: num(o, 'mqtt.scoreMinDelta', 0.5, 0, 65025, false),
    scoreHeartbeatS: num(o, 'mqtt.scoreHeartbeatS', 60, 1, 86_400, false),
    eventKinds: kinds(o, 'mqtt.eventKinds', RECORDING_KINDS),
    publishSnapshot: bool(o, 'mqtt.publishSnapshot', true),
    snapshotMaxBytes: num(o, 'mqtt.snapshotMaxBytes', 2 * 1024 * 1024, 1024, 16 * 1024 * 1024, true),
    discovery: resolveDiscovery(o.discovery, cameraId),
    tls: o.tls === undefined ? null : resolveMqttTls(o.tls, parsed.protocol),
  }) as ResolvedMqttConfig;
}

function resolveMqttTls(value: unknown, protocol: string): ResolvedMqttTlsConfig {
  const o = objectAt(value, 'mqtt.tls', ['caPath', 'certPath', 'keyPath', 'rejectUnauthorized']);
  if (!['mqtts:', 'wss:', 'ssl:'].includes(protocol)) fail('mqtt.tls', value, 'needs an encrypted broker URL (mqtts:// or wss://)');
  const file = (key: string): string | undefined => str(o, key, { min: 1, max: 4096 });
  const certPath = file('mqtt.tls.certPath');
  const keyPath = file('mqtt.tls.keyPath');
  if ((certPath === undefined) !== (keyPath === undefined)) fail(certPath === undefined ? 'mqtt.tls.certPath' : 'mqtt.tls.keyPath', undefined, 'is required with the other one (a client certificate and its key)');
  return Object.freeze({ caPath: file('mqtt.tls.caPath'), certPath, keyPath, rejectUnauthorized: bool(o, 'mqtt.tls.rejectUnauthorized', true) });
}

function resolveDiscovery(value: unknown, cameraId: string): ResolvedDiscoveryConfig {
  const o = objectAt(value ?? {}, 'mqtt.discovery', ['enabled', 'prefix', 'nodeId', 'deviceName', 'triggerLevelMin', 'triggerLevelMax', 'triggerLevelStep']);
  const triggerLevelMin = num(o, 'mqtt.discovery.triggerLevelMin', 0.1, 0.1, 65025, false);
  const triggerLevelMax = num(o, 'mqtt.discovery.triggerLevelMax', 100, 0.1, 65025, false);
  if (triggerLevelMax <= triggerLevelMin) fail('mqtt.discovery.triggerLevelMax', triggerLevelMax, `must be above mqtt.discovery.triggerLevelMin (${triggerLevelMin})`);
  return Object.freeze({
    enabled: bool(o, 'mqtt.discovery.enabled', true),
    prefix: topic(o, 'mqtt.discovery.prefix', 100) ?? 'homeassistant',
    nodeId: str(o, 'mqtt.discovery.nodeId', { min: 1, max: 64, pattern: /^[A-Za-z0-9_-]+$/ }) ?? `preroll_${cameraId}`,
    deviceName: str(o, 'mqtt.discovery.deviceName', { min: 1, max: 100 }) ?? `Preroll ${cameraId}`,
    triggerLevelMin,
    triggerLevelMax,
    triggerLevelStep: num(o, 'mqtt.discovery.triggerLevelStep', 0.1, 0.01, 1000, false),
  });
}

function resolveWebhooks(value: unknown): ResolvedWebhooksConfig | null {
  const o = objectAt(value, 'webhooks', ['enabled', 'urls', 'secret', 'eventKinds', 'timeoutMs', 'maxAttempts', 'retryInitialMs', 'retryMaxMs', 'queueMax']);
  if (!bool(o, 'webhooks.enabled', true)) return null;
  if (!Array.isArray(o.urls) || o.urls.length < 1 || o.urls.length > 10) fail('webhooks.urls', o.urls, 'must be a list of 1 to 10 URLs');
  const urls = (o.urls as unknown[]).map((url, i) => {
    const key = `webhooks.urls[${i}]`;
    if (typeof url !== 'string' || url.length === 0 || url.length > 2000) fail(key, url, 'must be a URL of 1..2000 chars');
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (error) {
      fail(key, url, 'is not a URL', error);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') fail(key, url, 'must start with http:// or https://');
    return url;
  });
  const secret = str(o, 'webhooks.secret', { min: 16, max: 256 });
  if (secret === undefined) fail('webhooks.secret', secret, 'is required (16..256 chars; receivers verify the signature with it)');
  const retryInitialMs = num(o, 'webhooks.retryInitialMs', 2000, 10, 3_600_000, true);
  const retryMaxMs = num(o, 'webhooks.retryMaxMs', 60_000, 10, 3_600_000, true);
  if (retryMaxMs < retryInitialMs) fail('webhooks.retryMaxMs', retryMaxMs, `must be at least webhooks.retryInitialMs (${retryInitialMs})`);
  return Object.freeze({
    enabled: true,
    urls: Object.freeze(urls),
    secret,
    eventKinds: kinds(o, 'webhooks.eventKinds', ['motion', 'manual', 'memory', 'photo']),
    timeoutMs: num(o, 'webhooks.timeoutMs', 10_000, 100, 120_000, true),
    maxAttempts: num(o, 'webhooks.maxAttempts', 5, 1, 20, true),
    retryInitialMs,
    retryMaxMs,
    queueMax: num(o, 'webhooks.queueMax', 100, 1, 10_000, true),
  });
}

function resolveUpload(value: unknown): ResolvedUploadConfig | null {
  const o = objectAt(value, 'upload', [
    'enabled', 'remote', 'pathTemplate', 'kinds', 'files', 'deleteLocalAfterUpload', 'rcloneCommand', 'rcloneConfigPath', 'extraArgs',
    'timeoutMs', 'maxAttempts', 'retryInitialMs', 'retryMaxMs', 'queueMax',
  ]);
  if (!bool(o, 'upload.enabled', true)) return null;
  const remote = str(o, 'upload.remote', { min: 2, max: 1000 });
  if (remote === undefined) fail('upload.remote', remote, 'is required (an rclone remote such as "gdrive:" or "s3:bucket")');
  if (!remote.includes(':') || remote.startsWith('-') || /[\0\n\r]/.test(remote)) {
    fail('upload.remote', remote, 'must be an rclone remote such as "name:" or "name:path" (it must contain ":")');
  }
  const pathTemplate = str(o, 'upload.pathTemplate', { min: 0, max: 1000 }) ?? 'preroll/{camera}/{day}';
  checkPathTemplate(pathTemplate);
  const files = o.files === undefined ? ['snapshot', 'sidecar'] : o.files;
  if (!Array.isArray(files) || files.some((f) => !UPLOAD_EXTRA_FILES.includes(f as UploadExtraFile))) {
    fail('upload.files', files, `must be a list of ${UPLOAD_EXTRA_FILES.join(', ')}`);
  }
  const extraArgs = o.extraArgs ?? [];
  if (!Array.isArray(extraArgs) || extraArgs.length > 50 || extraArgs.some((a) => typeof a !== 'string' || a.length > 500 || a.includes('\0'))) {
    fail('upload.extraArgs', extraArgs, 'must be a list of at most 50 strings of at most 500 chars');
  }
  const retryInitialMs = num(o, 'upload.retryInitialMs', 10_000, 10, 86_400_000, true);
  const retryMaxMs = num(o, 'upload.retryMaxMs', 600_000, 10, 86_400_000, true);
  if (retryMaxMs < retryInitialMs) fail('upload.retryMaxMs', retryMaxMs, `must be at least upload.retryInitialMs (${retryInitialMs})`);
  return Object.freeze({
    enabled: true,
    remote,
    pathTemplate,
    kinds: kinds(o, 'upload.kinds', ['motion', 'manual', 'memory']),
    files: Object.freeze([...new Set(files as UploadExtraFile[])]),
    deleteLocalAfterUpload: bool(o, 'upload.deleteLocalAfterUpload', false),
    rcloneCommand: str(o, 'upload.rcloneCommand', { min: 1, max: 1000 }) ?? 'rclone',
    rcloneConfigPath: str(o, 'upload.rcloneConfigPath', { min: 1, max: 4096 }),
    extraArgs: Object.freeze([...(extraArgs as string[])]),
    timeoutMs: num(o, 'upload.timeoutMs', 1_800_000, 1000, 86_400_000, true),
    maxAttempts: num(o, 'upload.maxAttempts', 5, 1, 50, true),
    retryInitialMs,
    retryMaxMs,
    queueMax: num(o, 'upload.queueMax', 1000, 1, 100_000, true),
  });
}

function checkPathTemplate(template: string): void {
  for (const match of template.matchAll(/\{([^}]*)\}/g)) {
    if (!(PATH_PLACEHOLDERS as readonly string[]).includes(match[1])) {
      fail('upload.pathTemplate', template, `has an unknown placeholder {${match[1]}} (known: ${PATH_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')})`);
    }
  }
  if (/[\0\n\r\\]/.test(template) || template.split('/').some((segment) => segment === '..' || segment === '.')) {
    fail('upload.pathTemplate', template, 'must be a forward-slash folder path without "." or ".." segments');
  }
}

/** Parses `notify` with its zod schema; the first issue becomes `INTEGRATIONS_BAD_CONFIG` naming the key. */
export function resolveNotify(value: unknown): ResolvedNotifyConfig | null {
  const result = notifyConfigSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]] : issue.path;
    const key = ['notify', ...path.map(String)].join('.');
    const why = issue.code === 'unrecognized_keys' ? 'is not a known key' : issue.message;
    fail(key, undefined, why);
  }
  const channels = result.data;
  if (!channels.ntfy?.enabled && !channels.telegram?.enabled && !channels.email?.enabled && !channels.webpush?.enabled) return null;
  return Object.freeze(channels);
}

function fail(key: string, value: unknown, why: string, cause?: unknown): never {
  const shown = /(password|secret|token|botToken)$/i.test(key) ? '***' : value;
  throw new IntegrationsError('INTEGRATIONS_BAD_CONFIG', `integrations config: ${key} ${why}`, { key, value: shown }, cause === undefined ? undefined : { cause });
}

function objectAt(value: unknown, key: string, known: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(key, value, 'must be an object');
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) fail(`${key}.${k}`, o[k], `is not a known key (known: ${known.join(', ')})`);
  }
  return o;
}

function leaf(key: string): string {
  return key.slice(key.lastIndexOf('.') + 1);
}

function bool(o: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const v = o[leaf(key)];
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') fail(key, v, 'must be true or false');
  return v;
}

function num(o: Record<string, unknown>, key: string, fallback: number, min: number, max: number, integer: boolean): number {
  const v = o[leaf(key)];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(key, v, 'must be a number');
  if (integer && !Number.isInteger(v)) fail(key, v, 'must be a whole number');
  if (v < min || v > max) fail(key, v, `must be between ${min} and ${max}`);
  return v;
}

function str(o: Record<string, unknown>, key: string, rule: { min: number; max: number; pattern?: RegExp }): string | undefined {
  const v = o[leaf(key)];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') fail(key, v, 'must be a string');
  if (v.length < rule.min || v.length > rule.max) fail(key, v, `must be ${rule.min}..${rule.max} characters long`);
  if (rule.pattern && !rule.pattern.test(v)) fail(key, v, `must match ${String(rule.pattern)}`);
  return v;
}

function topic(o: Record<string, unknown>, key: string, max = 200): string | undefined {
  const v = str(o, key, { min: 1, max });
  if (v === undefined) return undefined;
  if (!TOPIC_LEVELS.test(v) || v.startsWith('/') || v.endsWith('/') || v.includes('//')) {
    fail(key, v, 'must be an MQTT topic without wildcards (+, #), empty levels or a leading/trailing "/"');
  }
  return v;
}

function kinds(o: Record<string, unknown>, key: string, fallback: readonly RecordingKind[]): readonly RecordingKind[] {
  const v = o[leaf(key)];
  if (v === undefined) return Object.freeze([...fallback]);
  if (!Array.isArray(v) || v.some((k) => !RECORDING_KINDS.includes(k as RecordingKind))) {
    fail(key, v, `must be a list of ${RECORDING_KINDS.join(', ')}`);
  }
  return Object.freeze([...new Set(v as RecordingKind[])]);
}
