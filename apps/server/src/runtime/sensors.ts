import type { Logger } from 'pino';
import type { SensorConfig } from '../config';
import { createGpioButton, type GpioButton, type GpioStatus } from './gpio';

/**
 * The sensors of one camera (`camera.triggers.sensors`): GPIO lines read with `gpiomon`, MQTT
 * topics (the messages come from the integrations' MQTT connection) and HTTP calls. Each turns
 * what it hears into edges (`on`: a cue; `off`: the start of its hold) for the pipeline's
 * trigger gate, and keeps what the status page shows: last state, last cue, counts.
 */

/** Why a sensor call was refused. */
export type SensorErrorCode = 'SENSOR_UNKNOWN' | 'SENSOR_RATE_LIMITED';

/** A refused sensor call, with a stable code (the API maps it to 404 / 429). */
export class SensorError extends Error {
  override readonly name = 'SensorError';
  constructor(
    readonly code: SensorErrorCode,
    message: string,
    readonly value?: unknown,
    /** For `SENSOR_RATE_LIMITED`: when the next call is accepted, milliseconds from now. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** What a sensor reports in `GET /api/status` (`sensors`) and `/metrics`. */
export interface SensorStatus {
  readonly name: string;
  readonly kind: SensorConfig['kind'];
  /** The last state heard (`null` before anything was heard). */
  readonly state: 'on' | 'off' | null;
  /** ISO-8601 wall time of the last cue ("on"), or null. */
  readonly lastCueAt: string | null;
  /** Cues heard since start. */
  readonly cues: number;
  /** Messages or calls not taken: retained, unreadable, too soon, or detection off. */
  readonly ignored: number;
  /** The `gpiomon` reader of a `gpio` sensor (state, restarts, last error and its code); null otherwise. */
  readonly reader: GpioStatus | null;
}

/** Options of {@link createSensors}. */
export interface SensorsOptions {
  readonly sensors: readonly SensorConfig[];
  /**
   * Hands an edge to the trigger gate; false when it was not taken (no frame yet, detection
   * off). `holdUs` is how long the sensor stays active after an "off".
   */
  readonly edge: (name: string, on: boolean, holdUs: number) => boolean;
  readonly logger: Logger;
  /** First restart delay of a dead `gpiomon`, milliseconds (see `createGpioButton`). */
  readonly gpioRestartMinMs?: number;
  readonly now?: () => number;
}

/** The sensors of one camera. Nothing is spawned until `start()`. */
export interface Sensors {
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): SensorStatus[];
  /** The topics of the `mqtt` sensors (to subscribe to). */
  mqttTopics(): string[];
  /** A message on one of {@link mqttTopics}; retained ones are ignored. */
  mqttMessage(topic: string, payload: Buffer, retained: boolean): void;
  /**
   * An HTTP call for an `http` sensor: `pulse` (on, then its hold), `on` or `off`. Throws
   * `SENSOR_UNKNOWN` (no such `http` sensor) or `SENSOR_RATE_LIMITED`. Returns whether the gate took it.
   */
  fire(name: string, what: 'pulse' | 'on' | 'off'): boolean;
}

/**
 * What an MQTT payload means for a sensor (pure): `on`, `off`, or null when it means neither
 * (or cannot be read). With `jsonPath` the payload is JSON and the value at that key is read:
 * `true`/`false`, or a string or number compared with the payloads.
 */
export function parseSensorPayload(sensor: { readonly jsonPath?: string; readonly onPayload: string; readonly offPayload: string | null }, payload: Buffer): 'on' | 'off' | null {
  // A state is a short word or a small JSON document; anything bigger is not one.
  if (payload.length > 64 * 1024) return null;
  const text = payload.toString('utf8');
  let value: unknown = text.trim();
  if (sensor.jsonPath !== undefined) {
    try {
      value = JSON.parse(text);
    } catch (error) {
      if (error instanceof SyntaxError) return null;
      throw error;
    }
    for (const key of sensor.jsonPath.split('.')) {
      if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.prototype.hasOwnProperty.call(value, key)) return null;
      value = (value as Record<string, unknown>)[key];
    }
    if (value === true) return 'on';
    if (value === false) return 'off';
    if (typeof value === 'number') value = String(value);
    if (typeof value !== 'string') return null;
  }
  if (value === sensor.onPayload) return 'on';
  if (sensor.offPayload !== null && value === sensor.offPayload) return 'off';
  return null;
}

interface SensorEntry {
  readonly config: SensorConfig;
  state: 'on' | 'off' | null;
  lastCueMs: number | null;
  cues: number;
  ignored: number;
  lastAcceptedMs: number;
  reader: GpioButton | null;
}

/** Creates the sensors of one camera. */
export function createSensors(options: SensorsOptions): Sensors {
  const log = options.logger;
  const now = options.now ?? Date.now;
  const entries = new Map<string, SensorEntry>(
    options.sensors.map((config) => [config.name, { config, state: null, lastCueMs: null, cues: 0, ignored: 0, lastAcceptedMs: Number.NEGATIVE_INFINITY, reader: null }]),
  );

  /** One edge of one sensor: counted, shown, and handed to the gate. */
  const edge = (entry: SensorEntry, on: boolean, pulse = false): boolean => {
    const holdUs = entry.config.holdS * 1e6;
    entry.state = pulse ? 'off' : on ? 'on' : 'off';
    if (on) {
      entry.cues++;
      entry.lastCueMs = now();
    }
    const taken = options.edge(entry.config.name, on, holdUs);
    // A sensor without "off" is a pulse: active for its hold after each cue.
    if (pulse) options.edge(entry.config.name, false, holdUs);
    if (!taken) entry.ignored++;
    log.info({ sensor: entry.config.name, kind: entry.config.kind, on, pulse, taken }, `sensor ${entry.config.name}: ${on ? 'on' : 'off'}`);
    return taken;
  };

  return {
    async start() {
      for (const entry of entries.values()) {
        const config = entry.config;
        if (config.kind !== 'gpio') continue;
        entry.reader = createGpioButton({
          pin: config.line,
          chip: config.chip,
          bias: config.bias,
          activeLow: config.activeLow,
          debounceMs: config.debounceMs,
          purpose: `sensor ${config.name}`,
          restartMinMs: options.gpioRestartMinMs,
          logger: log.child({ sensor: config.name }),
          onPress: () => void edge(entry, true),
          onRelease: () => void edge(entry, false),
          now,
        });
        await entry.reader.start();
      }
    },
    async stop() {
      for (const entry of entries.values()) {
        if (entry.reader) await entry.reader.stop();
      }
    },
    status() {
      return [...entries.values()].map((e) => ({
        name: e.config.name,
        kind: e.config.kind,
        state: e.state,
        lastCueAt: e.lastCueMs === null ? null : new Date(e.lastCueMs).toISOString(),
        cues: e.cues,
        ignored: e.ignored,
        reader: e.reader?.status() ?? null,
      }));
    },
    mqttTopics() {
      return [...new Set([...entries.values()].flatMap((e) => (e.config.kind === 'mqtt' ? [e.config.topic] : [])))];
    },
    mqttMessage(topic, payload, retained) {
      for (const entry of entries.values()) {
        const config = entry.config;
        if (config.kind !== 'mqtt' || config.topic !== topic) continue;
        if (retained) {
          // A retained "on" is what the sensor said some time ago, not a cue now.
          entry.ignored++;
          log.info({ sensor: config.name, topic, code: 'SENSOR_RETAINED' }, `sensor ${config.name}: retained message ignored`);
          continue;
        }
        const meaning = parseSensorPayload(config, payload);
        if (meaning === null) {
          entry.ignored++;
          log.warn({ sensor: config.name, topic, payload: payload.subarray(0, 64).toString('utf8'), code: 'SENSOR_BAD_PAYLOAD' }, `sensor ${config.name}: payload means neither on nor off`);
          continue;
        }
        edge(entry, meaning === 'on', meaning === 'on' && config.offPayload === null);
      }
    },
    fire(name, what) {
      const entry = entries.get(name);
      if (!entry || entry.config.kind !== 'http') throw new SensorError('SENSOR_UNKNOWN', `no http sensor "${name}" on this camera`, name);
      const config = entry.config;
      const at = now();
      const waitMs = entry.lastAcceptedMs + config.minIntervalMs - at;
      if (waitMs > 0) {
        entry.ignored++;
        throw new SensorError('SENSOR_RATE_LIMITED', `sensor ${name} was fired less than ${config.minIntervalMs} ms ago`, name, waitMs);
      }
      entry.lastAcceptedMs = at;
      return edge(entry, what !== 'off', what === 'pulse');
    },
  };
}
