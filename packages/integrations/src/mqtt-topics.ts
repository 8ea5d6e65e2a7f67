/**
 * Pure MQTT decisions: the topic names, the Home Assistant discovery documents, the parsing of
 * command payloads and the score throttle. The MQTT shell (mqtt.ts) only sends and receives.
 */

import type { ResolvedMqttConfig } from './config';

/** Every topic of one camera, all under the configured prefix. */
export interface MqttTopics {
  /** `online` / `offline` (the last will), retained. */
  readonly availability: string;
  /** Motion in progress: `ON` / `OFF`. */
  readonly motion: string;
  /** Motion score, a decimal number (the highest over the last throttle interval). */
  readonly score: string;
  /** A recording (any kind) is being written: `ON` / `OFF`. */
  readonly recording: string;
  /** Current trigger level, a decimal number. */
  readonly triggerLevel: string;
  /** Motion detection switched on: `ON` / `OFF`. */
  readonly detection: string;
  /** JSON {@link EventSummary} of each finished recording (not retained). */
  readonly event: string;
  /** JPEG bytes of the last recording's snapshot. */
  readonly snapshot: string;
  /** Command: a decimal number. */
  readonly setTriggerLevel: string;
  /** Command: `ON` / `OFF` switches motion detection. */
  readonly setMotion: string;
  /** Command: `ON` starts a manual recording, `OFF` stops it. */
  readonly setRecord: string;
  /** Arming mode in force: `home`, `away` or `off`. */
  readonly arming: string;
  /** Why, in words: `away since 08:12: set from the page; no phone seen for 10 min`. */
  readonly armingReason: string;
  /** Command: `home`, `away` or `off` chooses the arming mode (of the whole server). */
  readonly setArming: string;
  /** `ON` when an event with this label was seen (not retained; Home Assistant turns it off after `LABEL_OFF_DELAY_S`). */
  readonly label: Readonly<Record<SensedLabel, string>>;
}

/** The labels with a Home Assistant "detected" sensor. */
export const SENSED_LABELS = ['person', 'animal', 'vehicle'] as const;
/** One of {@link SENSED_LABELS}. */
export type SensedLabel = (typeof SENSED_LABELS)[number];
/** A label sensor falls back to "clear" this long after the last event that saw it, seconds. */
export const LABEL_OFF_DELAY_S = 60;

/** The topics under `prefix`. */
export function mqttTopics(prefix: string): MqttTopics {
  return {
    availability: `${prefix}/availability`,
    motion: `${prefix}/motion`,
    score: `${prefix}/score`,
    recording: `${prefix}/recording`,
    triggerLevel: `${prefix}/trigger_level`,
    detection: `${prefix}/detection`,
    event: `${prefix}/event`,
    snapshot: `${prefix}/snapshot`,
    setTriggerLevel: `${prefix}/set/trigger_level`,
    setMotion: `${prefix}/set/motion`,
    setRecord: `${prefix}/set/record`,
    arming: `${prefix}/arming`,
    armingReason: `${prefix}/arming_reason`,
    setArming: `${prefix}/set/arming`,
    label: { person: `${prefix}/label/person`, animal: `${prefix}/label/animal`, vehicle: `${prefix}/label/vehicle` },
  };
}

/** One retained discovery message: its topic and its JSON document. */
export interface DiscoveryMessage {
  readonly topic: string;
  readonly config: Record<string, unknown>;
}

/** The Home Assistant entities Preroll announces, by object id (the last part of their unique_id). */
export const DISCOVERY_OBJECTS = [
  ['binary_sensor', 'motion'],
  ['sensor', 'score'],
  ['number', 'trigger_level'],
  ['switch', 'detection'],
  ['switch', 'recording'],
  ['image', 'snapshot'],
] as const;

/** The arming entities, announced when the server has arming (alerts configured). */
export const ARMING_DISCOVERY_OBJECTS = [
  ['select', 'arming'],
  ['sensor', 'arming_reason'],
] as const;

/** The label entities, announced when object labels are on. */
export const LABEL_DISCOVERY_OBJECTS = [
  ['binary_sensor', 'person'],
  ['binary_sensor', 'animal'],
  ['binary_sensor', 'vehicle'],
] as const;

/**
 * The discovery documents of one camera (Home Assistant's MQTT discovery, one config topic per
 * entity: `<discoveryPrefix>/<component>/<nodeId>/<objectId>/config`). All share the device
 * block and the availability topic; unique_ids are `<nodeId>_<objectId>`.
 */
export function discoveryMessages(config: ResolvedMqttConfig, cameraId: string, softwareVersion: string, withArming = false, withLabels = false): DiscoveryMessage[] {
  const d = config.discovery;
  const t = mqttTopics(config.topicPrefix);
  const device = {
    identifiers: [d.nodeId],
    name: d.deviceName,
    manufacturer: 'Preroll',
    model: `Motion recorder (camera ${cameraId})`,
    sw_version: softwareVersion,
  };
  const common = (component: string, objectId: string, name: string): Record<string, unknown> => ({
    name,
    unique_id: `${d.nodeId}_${objectId}`,
    // Home Assistant 2025.10 replaced `object_id` by `default_entity_id` (and drops `object_id`
    // in 2026.4); both are sent so older and newer versions name the entity the same.
    object_id: `${d.nodeId}_${objectId}`,
    default_entity_id: `${component}.${d.nodeId}_${objectId}`,
    device,
    origin: { name: 'Preroll', sw_version: softwareVersion },
    availability_topic: t.availability,
    payload_available: 'online',
    payload_not_available: 'offline',
  });
  const qos = config.qos;
  const configs: Record<string, Record<string, unknown>> = {
    motion: { ...common('binary_sensor', 'motion', 'Motion'), device_class: 'motion', state_topic: t.motion, payload_on: 'ON', payload_off: 'OFF', qos },
    score: {
      ...common('sensor', 'score', 'Motion score'),
      state_topic: t.score,
      state_class: 'measurement',
      suggested_display_precision: 1,
      icon: 'mdi:motion-sensor',
      qos,
    },
    trigger_level: {
      ...common('number', 'trigger_level', 'Trigger level'),
      state_topic: t.triggerLevel,
      command_topic: t.setTriggerLevel,
      min: d.triggerLevelMin,
      max: d.triggerLevelMax,
      step: d.triggerLevelStep,
      mode: 'box',
      entity_category: 'config',
      icon: 'mdi:tune-vertical',
      qos,
      retain: false,
    },
    detection: {
      ...common('switch', 'detection', 'Motion detection'),
      state_topic: t.detection,
      command_topic: t.setMotion,
      payload_on: 'ON',
      payload_off: 'OFF',
      state_on: 'ON',
      state_off: 'OFF',
      icon: 'mdi:motion-sensor',
      qos,
      retain: false,
    },
    recording: {
      ...common('switch', 'recording', 'Recording'),
      state_topic: t.recording,
      command_topic: t.setRecord,
      payload_on: 'ON',
      payload_off: 'OFF',
      state_on: 'ON',
      state_off: 'OFF',
      icon: 'mdi:record-rec',
      qos,
      retain: false,
    },
    snapshot: { ...common('image', 'snapshot', 'Last snapshot'), image_topic: t.snapshot, content_type: 'image/jpeg' },
    arming: {
      ...common('select', 'arming', 'Arming mode'),
      state_topic: t.arming,
      command_topic: t.setArming,
      options: ['home', 'away', 'off'],
      icon: 'mdi:shield-home',
      qos,
      retain: false,
    },
    arming_reason: { ...common('sensor', 'arming_reason', 'Arming reason'), state_topic: t.armingReason, icon: 'mdi:shield-search', qos },
  };
  const icons: Record<SensedLabel, string> = { person: 'mdi:account', animal: 'mdi:paw', vehicle: 'mdi:car' };
  for (const label of SENSED_LABELS) {
    configs[label] = {
      ...common('binary_sensor', label, `${label.charAt(0).toUpperCase()}${label.slice(1)} detected`),
      state_topic: t.label[label],
      payload_on: 'ON',
      payload_off: 'OFF',
      // Only ON is sent, per labelled event: Home Assistant itself turns the sensor off again.
      off_delay: LABEL_OFF_DELAY_S,
      device_class: label === 'person' ? 'occupancy' : 'motion',
      icon: icons[label],
      qos,
    };
  }
  return [...DISCOVERY_OBJECTS, ...(withArming ? ARMING_DISCOVERY_OBJECTS : []), ...(withLabels ? LABEL_DISCOVERY_OBJECTS : [])].map(([component, objectId]) => ({
    topic: discoveryTopic(d.prefix, component, d.nodeId, objectId),
    config: configs[objectId],
  }));
}

/** `<prefix>/<component>/<nodeId>/<objectId>/config`. */
export function discoveryTopic(prefix: string, component: string, nodeId: string, objectId: string): string {
  return `${prefix}/${component}/${nodeId}/${objectId}/config`;
}

/** A command received on a `set/...` topic, parsed. */
export type MqttCommand =
  | { readonly type: 'triggerLevel'; readonly value: number }
  | { readonly type: 'motion'; readonly on: boolean }
  | { readonly type: 'record'; readonly on: boolean }
  | { readonly type: 'arming'; readonly mode: 'home' | 'away' | 'off' };

/** The result of {@link parseCommand}: a command, or why the payload was refused. */
export type ParsedCommand = { readonly ok: true; readonly command: MqttCommand } | { readonly ok: false; readonly reason: string };

/** Longest command payload accepted; anything longer is refused without being decoded. */
export const MAX_COMMAND_BYTES = 64;

/** Bounds of a trigger level command: the detector's own range (mean squared luma difference). */
export const TRIGGER_LEVEL_RANGE = { min: 0.1, max: 65025 } as const;

/**
 * Parses a command payload for `topic` (one of `topics.set*`). Trigger level: a decimal number
 * within {@link TRIGGER_LEVEL_RANGE} (plain text like Home Assistant sends, or `{"value": N}`).
 * Switches: `ON` / `OFF` (any case, surrounding white space ignored). Returns `null` for a topic
 * that is not a command topic. Pure.
 */
export function parseCommand(topics: MqttTopics, topic: string, payload: Buffer): ParsedCommand | null {
  if (topic !== topics.setTriggerLevel && topic !== topics.setMotion && topic !== topics.setRecord && topic !== topics.setArming) return null;
  if (payload.length > MAX_COMMAND_BYTES) return { ok: false, reason: `payload longer than ${MAX_COMMAND_BYTES} bytes` };
  const text = payload.toString('utf8').trim();
  if (topic === topics.setArming) {
    const mode = text.toLowerCase();
    if (mode !== 'home' && mode !== 'away' && mode !== 'off') return { ok: false, reason: 'arming mode must be home, away or off' };
    return { ok: true, command: { type: 'arming', mode } };
  }
  if (topic === topics.setTriggerLevel) {
    let value: number = Number.NaN;
    if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) value = Number(text);
    else if (text.startsWith('{')) value = jsonValue(text);
    if (!Number.isFinite(value)) return { ok: false, reason: 'trigger level must be a number' };
    if (value < TRIGGER_LEVEL_RANGE.min || value > TRIGGER_LEVEL_RANGE.max) {
      return { ok: false, reason: `trigger level must be between ${TRIGGER_LEVEL_RANGE.min} and ${TRIGGER_LEVEL_RANGE.max}` };
    }
    return { ok: true, command: { type: 'triggerLevel', value } };
  }
  const upper = text.toUpperCase();
  if (upper !== 'ON' && upper !== 'OFF') return { ok: false, reason: 'payload must be ON or OFF' };
  return { ok: true, command: { type: topic === topics.setMotion ? 'motion' : 'record', on: upper === 'ON' } };
}

function jsonValue(text: string): number {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    // Not JSON: the caller reports "must be a number", which is what the sender needs to know.
    if (error instanceof SyntaxError) return Number.NaN;
    throw error;
  }
  const value = typeof parsed === 'object' && parsed !== null ? (parsed as { value?: unknown }).value : undefined;
  return typeof value === 'number' ? value : Number.NaN;
}

/** `ON` / `OFF`. */
export function onOff(on: boolean): string {
  return on ? 'ON' : 'OFF';
}

/** A score or trigger level as published: two decimals at most, no trailing zeros. */
export function formatNumber(value: number): string {
  return String(Math.round(value * 100) / 100);
}

/** What the score throttle remembers of the last published value. */
export interface ScorePublished {
  readonly score: number;
  readonly atMs: number;
  /** Whether that score was at or above the trigger level then. */
  readonly above: boolean;
}

/** Settings of {@link shouldPublishScore}. */
export interface ScoreThrottle {
  readonly intervalMs: number;
  readonly minDelta: number;
  readonly heartbeatMs: number;
}

/**
 * Whether to publish `score` now (pure). Never more often than `intervalMs`; then only when the
 * value moved by `minDelta` or more, crossed the trigger level, or `heartbeatMs` passed since the
 * last publish (so a subscriber that missed the retained value still sees a live sensor).
 */
export function shouldPublishScore(last: ScorePublished | null, score: number, triggerLevel: number, nowMs: number, throttle: ScoreThrottle): boolean {
  if (!Number.isFinite(score)) return false;
  if (last === null) return true;
  const elapsedMs = nowMs - last.atMs;
  if (elapsedMs < throttle.intervalMs) return false;
  if (elapsedMs >= throttle.heartbeatMs) return true;
  if (score >= triggerLevel !== last.above) return true;
  return Math.abs(score - last.score) >= throttle.minDelta;
}
