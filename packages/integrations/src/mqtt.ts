/**
 * The MQTT shell: one connection to the broker, re-made with backoff when it drops; state
 * topics re-published on every connect; commands handed to the control callbacks. Publishing
 * is fire-and-forget: callers never wait, and what cannot be sent yet waits in a bounded outbox.
 */

import { readFileSync } from 'node:fs';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { createRestartSupervisor, redactUrl } from '@preroll/process';
import type { ResolvedMqttConfig, ResolvedMqttTlsConfig } from './config';
import { IntegrationsError, type IntegrationsErrorCode } from './errors';
import {
  discoveryMessages,
  formatNumber,
  SENSED_LABELS,
  mqttTopics,
  onOff,
  parseCommand,
  shouldPublishScore,
  type MqttCommand,
  type ScorePublished,
} from './mqtt-topics';
import { createOutbox, type OutboxMessage } from './outbox';
import type { EventSummary } from './summary';

/** What MQTT commands may do: the same actions as the web page's buttons. */
export interface IntegrationsControl {
  /** Sets the trigger level; returns the level actually applied (it may be clamped). */
  setTriggerLevel(value: number): number;
  /** Switches motion detection; returns the new state. */
  setMotionEnabled(on: boolean): boolean;
  /** Starts a manual recording; false when it could not start (e.g. already recording). */
  startManualRecording(): boolean;
  /** Stops a manual recording (no-op when none runs). */
  stopManualRecording(): void;
  /** Chooses the arming mode; absent when the server has no arming (then no select entity is announced). */
  setArmingMode?(mode: 'home' | 'away' | 'off'): void;
}

/** Counters of the MQTT connection. */
export interface MqttStats {
  readonly connected: boolean;
  /** The broker URL with any password hidden. */
  readonly url: string;
  /** Successful connections since start (1 + reconnects). */
  readonly connects: number;
  /** Messages the broker accepted (acknowledged for QoS 1/2, written for QoS 0). */
  readonly published: number;
  /** Publishes that failed (connection lost before acknowledgement). */
  readonly failed: number;
  /** Messages dropped because the outbox was full. */
  readonly dropped: number;
  /** Messages waiting in the outbox. */
  readonly queued: number;
  /** Commands executed. */
  readonly commands: number;
  /** Command messages ignored (bad payload, retained, callback failed). */
  readonly rejectedCommands: number;
  readonly lastError: string | null;
}

/**
 * Topics read besides the commands (sensors that trigger recordings): the bridge subscribes
 * to them on every connect and hands each message on, retained or not (the reader decides).
 */
export interface MqttSubscriptions {
  readonly topics: readonly string[];
  onMessage(topic: string, payload: Buffer, retained: boolean): void;
}

/** Options of {@link createMqttBridge}. */
export interface MqttBridgeOptions {
  /** Further topics to read (sensors); none unless given. */
  readonly subscriptions?: MqttSubscriptions;
  readonly config: ResolvedMqttConfig;
  readonly cameraId: string;
  readonly softwareVersion: string;
  readonly control: IntegrationsControl;
  readonly logger?: Logger;
  /** Object labels are on: the label sensors are announced to Home Assistant. Default false. */
  readonly labels?: boolean;
  /** Clock of the score throttle, milliseconds. Default `Date.now`. */
  readonly now?: () => number;
}

/** The MQTT side of the integrations. Every method except start/stop returns at once. */
export interface MqttBridge {
  /** Starts connecting (in the background: an unreachable broker is retried, never fatal). */
  start(): void;
  /** Publishes `offline`, disconnects cleanly (at most ~2 s), stops reconnecting. */
  stop(): Promise<void>;
  motion(active: boolean): void;
  score(score: number, triggerLevel: number): void;
  recording(active: boolean): void;
  settings(s: { readonly triggerLevel: number; readonly motionEnabled: boolean }): void;
  /** Publishes a finished recording's summary (for the kinds in `eventKinds`). */
  event(summary: EventSummary): void;
  /** Publishes the JPEG bytes of the last snapshot (the Home Assistant image entity). */
  snapshot(jpeg: Buffer): void;
  /** An event saw these labels: `ON` on the label sensor of each person / animal / vehicle among them. */
  labels(labels: readonly { readonly label: string }[]): void;
  /** Publishes the arming mode in force and why (retained state topics). */
  arming(mode: string, reason: string): void;
  stats(): MqttStats;
}

/** Unacknowledged publishes allowed at once; more wait in the outbox (so the outbox is the one bound). */
const MAX_IN_FLIGHT = 16;
/** How long stop() waits for the broker to take the `offline` message and the disconnect. */
const STOP_WAIT_MS = 2000;

/**
 * Reads the PEM files of `mqtt.tls` once. A file that cannot be read is a configuration error
 * naming its key (`INTEGRATIONS_BAD_CONFIG`), raised at start rather than on every reconnect.
 */
function readTlsFiles(tls: ResolvedMqttTlsConfig | null): Pick<IClientOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized'> {
  if (!tls) return {};
  const read = (key: 'caPath' | 'certPath' | 'keyPath'): Buffer | undefined => {
    const file = tls[key];
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (error) {
      throw new IntegrationsError('INTEGRATIONS_BAD_CONFIG', `integrations config: mqtt.tls.${key} ${file} cannot be read: ${(error as Error).message}`, { key: `mqtt.tls.${key}`, value: file }, { cause: error });
    }
  };
  const files = { ca: read('caPath'), cert: read('certPath'), key: read('keyPath') };
  return { ...Object.fromEntries(Object.entries(files).filter(([, v]) => v !== undefined)), rejectUnauthorized: tls.rejectUnauthorized };
}

/** Creates the bridge; nothing connects until {@link MqttBridge.start}. */
export function createMqttBridge(options: MqttBridgeOptions): MqttBridge {
  const { config, control, logger } = options;
  const tlsOptions = readTlsFiles(config.tls);
  const now = options.now ?? Date.now;
  const topics = mqttTopics(config.topicPrefix);
  const outbox = createOutbox(config.queueMax, config.queueMaxBytes);
  const url = redactUrl(config.url);
  // Latest value of every state topic: re-published on each connect, so a broker restart or a
  // retained value left by the last run never shows a stale state.
  const state = new Map<string, string>();
  const throttle = { intervalMs: config.scoreIntervalMs, minDelta: config.scoreMinDelta, heartbeatMs: config.scoreHeartbeatS * 1000 };
  let lastScore: ScorePublished | null = null;
  let windowPeak = Number.NEGATIVE_INFINITY;

  let client: MqttClient | null = null;
  // Each connection attempt gets a new client and a new generation; callbacks of older
  // clients (flushed on close) must not touch the in-flight count of the current one.
  let generation = 0;
  let connected = false;
  let inFlight = 0;
  // Reconnects wait with backoff; a successful connect starts the delays over.
  const reconnects = createRestartSupervisor({ backoff: { initialMs: config.reconnectMinMs, maxMs: config.reconnectMaxMs, factor: 2, resetAfterMs: Number.POSITIVE_INFINITY }, unref: true });
  let stopping = false;
  let started = false;
  const counters = { connects: 0, published: 0, failed: 0, dropped: 0, commands: 0, rejectedCommands: 0 };
  let lastError: string | null = null;

  const warn = (code: IntegrationsErrorCode, fields: Record<string, unknown>, message: string): void => {
    lastError = `${code}: ${message}`;
    logger?.warn({ code, ...fields }, `mqtt: ${message}`);
  };

  const send = (message: OutboxMessage): void => {
    const c = client;
    if (c === null) return;
    const gen = generation;
    inFlight++;
    c.publish(message.topic, message.payload, { qos: config.qos, retain: message.retain }, (error) => {
      if (gen !== generation) return;
      inFlight--;
      if (error) {
        counters.failed++;
        warn('MQTT_PUBLISH_FAILED', { topic: message.topic, err: error.message }, `publish to ${message.topic} failed: ${error.message}`);
      } else {
        counters.published++;
      }
      drain();
    });
  };

  const drain = (): void => {
    while (connected && inFlight < MAX_IN_FLIGHT && outbox.size > 0) {
      send(outbox.shift() as OutboxMessage);
    }
  };

  const enqueue = (message: OutboxMessage, key?: string): void => {
    for (const dropped of outbox.push(message, key)) {
      counters.dropped++;
      warn('MQTT_QUEUE_FULL', { topic: dropped.topic, queued: outbox.size }, `outbox full: dropped a message for ${dropped.topic}`);
    }
    drain();
  };

  const setState = (topic: string, payload: string, force = false): void => {
    if (!force && state.get(topic) === payload) return;
    state.set(topic, payload);
    // While offline there is nothing to queue: the connect handler publishes every state.
    if (connected) enqueue({ topic, payload, retain: config.retain }, topic);
  };

  const onConnect = (): void => {
    connected = true;
    reconnects.reset();
    counters.connects++;
    logger?.info({ url, clientId: config.clientId, prefix: config.topicPrefix }, `mqtt: connected to ${url}`);
    client?.subscribe(`${config.topicPrefix}/set/+`, { qos: config.qos }, (error) => {
      if (error) warn('MQTT_CONNECT_FAILED', { err: error.message }, `cannot subscribe to commands: ${error.message}`);
    });
    const extra = options.subscriptions?.topics ?? [];
    if (extra.length) {
      client?.subscribe([...extra], { qos: config.qos }, (error) => {
        if (error) warn('MQTT_SUBSCRIBE_FAILED', { err: error.message, topics: extra }, `cannot subscribe to ${extra.join(', ')}: ${error.message}`);
      });
    }
    // Discovery first, then availability, then the states: Home Assistant creates the
    // entities before their values arrive. These few messages bypass the outbox bounds.
    for (const message of discoveryMessages(config, options.cameraId, options.softwareVersion, control.setArmingMode !== undefined, options.labels === true)) {
      send({ topic: message.topic, payload: config.discovery.enabled ? JSON.stringify(message.config) : '', retain: true });
    }
    send({ topic: topics.availability, payload: 'online', retain: true });
    for (const [topic, payload] of state) send({ topic, payload, retain: config.retain });
    drain();
  };

  const scheduleReconnect = (): void => {
    if (stopping || reconnects.pending) return;
    const delayMs = reconnects.failed(0, open);
    logger?.debug({ delayMs }, 'mqtt: reconnecting');
  };

  const onClose = (gen: number): void => {
    if (gen !== generation) return;
    const wasConnected = connected;
    connected = false;
    inFlight = 0;
    generation++;
    const old = client;
    client = null;
    old?.removeAllListeners('message');
    old?.end(true);
    if (stopping) return;
    if (wasConnected) warn('MQTT_CONNECTION_LOST', { url }, `connection to ${url} lost; reconnecting`);
    scheduleReconnect();
  };

  const open = (): void => {
    const gen = ++generation;
    const clientOptions: IClientOptions = {
      clientId: config.clientId,
      username: config.username,
      password: config.password,
      keepalive: config.keepaliveS,
      connectTimeout: config.connectTimeoutMs,
      // Reconnection is ours (with backoff and a fresh client each time).
      reconnectPeriod: 0,
      clean: true,
      queueQoSZero: false,
      will: { topic: topics.availability, payload: Buffer.from('offline'), qos: config.qos, retain: true },
      ...tlsOptions,
    };
    const c = connect(config.url, clientOptions);
    client = c;
    c.on('connect', () => {
      if (gen === generation) onConnect();
    });
    c.on('error', (error: Error & { code?: string | number }) => {
      if (gen !== generation) return;
      warn('MQTT_CONNECT_FAILED', { url, err: error.message, reason: error.code }, `cannot connect to ${url}: ${error.message}`);
    });
    c.on('close', () => onClose(gen));
    c.on('message', (topic, payload, packet) => onMessage(topic, payload, packet.retain));
  };

  const onMessage = (topic: string, payload: Buffer, retained: boolean): void => {
    const subscriptions = options.subscriptions;
    if (subscriptions?.topics.includes(topic)) {
      try {
        subscriptions.onMessage(topic, payload, retained);
      } catch (error) {
        warn('MQTT_SUBSCRIBER_FAILED', { topic, err: (error as Error).message }, `message on ${topic} not handled: ${(error as Error).message}`);
      }
      return;
    }
    const parsed = parseCommand(topics, topic, payload);
    if (parsed === null) return;
    const shown = payload.subarray(0, 64).toString('utf8');
    if (retained) {
      counters.rejectedCommands++;
      warn('MQTT_RETAINED_COMMAND', { topic, payload: shown }, `ignored a retained command on ${topic} (clear it with an empty retained message)`);
      return;
    }
    if (!parsed.ok) {
      counters.rejectedCommands++;
      warn('MQTT_BAD_PAYLOAD', { topic, payload: shown }, `ignored command on ${topic}: ${parsed.reason}`);
      return;
    }
    try {
      execute(parsed.command);
      counters.commands++;
    } catch (error) {
      counters.rejectedCommands++;
      warn('MQTT_COMMAND_FAILED', { topic, err: (error as Error).message }, `command on ${topic} failed: ${(error as Error).message}`);
    }
  };

  const execute = (command: MqttCommand): void => {
    logger?.info({ command }, `mqtt: command ${command.type}`);
    switch (command.type) {
      case 'triggerLevel':
        setState(topics.triggerLevel, formatNumber(control.setTriggerLevel(command.value)));
        break;
      case 'motion':
        setState(topics.detection, onOff(control.setMotionEnabled(command.on)));
        break;
      case 'record':
        if (!command.on) control.stopManualRecording();
        else if (!control.startManualRecording()) logger?.info('mqtt: manual recording did not start (already recording?)');
        break;
      case 'arming':
        // The state topics follow through arming(), called by the server when the mode changed.
        if (!control.setArmingMode) throw new Error('arming is not configured on this server');
        control.setArmingMode(command.mode);
        break;
    }
  };

  return {
    start() {
      if (started) return;
      started = true;
      stopping = false;
      open();
    },
    async stop() {
      if (!started || stopping) return;
      stopping = true;
      reconnects.cancel();
      started = false;
      const c = client;
      if (c === null) return;
      if (connected) {
        // A clean DISCONNECT after our own retained `offline`: the broker then sends no will.
        await withTimeout(
          new Promise<void>((resolve) => c.publish(topics.availability, 'offline', { qos: config.qos, retain: true }, () => resolve())),
          STOP_WAIT_MS,
        );
        await withTimeout(new Promise<void>((resolve) => c.end(false, {}, () => resolve())), STOP_WAIT_MS);
      }
      // From here on this client's close is expected: the new generation makes onClose ignore it.
      generation++;
      connected = false;
      client = null;
      c.end(true);
      outbox.clear();
    },
    motion(active) {
      setState(topics.motion, onOff(active));
    },
    score(score, triggerLevel) {
      if (!Number.isFinite(score)) return;
      // The published value is the peak since the last publish, so a short spike between two
      // throttled messages is not lost.
      windowPeak = Math.max(windowPeak, score);
      const t = now();
      if (!shouldPublishScore(lastScore, windowPeak, triggerLevel, t, throttle)) return;
      lastScore = { score: windowPeak, atMs: t, above: windowPeak >= triggerLevel };
      setState(topics.score, formatNumber(windowPeak), true);
      windowPeak = Number.NEGATIVE_INFINITY;
    },
    recording(active) {
      setState(topics.recording, onOff(active));
    },
    settings(s) {
      setState(topics.triggerLevel, formatNumber(s.triggerLevel));
      setState(topics.detection, onOff(s.motionEnabled));
    },
    event(summary) {
      if (!config.eventKinds.includes(summary.kind)) return;
      enqueue({ topic: topics.event, payload: JSON.stringify(summary), retain: false });
    },
    labels(labels) {
      for (const label of SENSED_LABELS) {
        if (labels.some((l) => l.label === label)) enqueue({ topic: topics.label[label], payload: 'ON', retain: false });
      }
    },
    arming(mode, reason) {
      setState(topics.arming, mode);
      setState(topics.armingReason, reason.slice(0, 250));
    },
    snapshot(jpeg) {
      // Only the newest snapshot is worth waiting for: it replaces an older one still queued.
      if (config.publishSnapshot) enqueue({ topic: topics.snapshot, payload: jpeg, retain: config.retain }, topics.snapshot);
    },
    stats() {
      return { connected, url, ...counters, queued: outbox.size, lastError };
    },
  };
}

async function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
