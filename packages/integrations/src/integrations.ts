/**
 * The front door the server wires in: one object per camera that fans the recorder's news out
 * to MQTT, webhooks and rclone. Every notification method returns at once and never throws,
 * so nothing here can slow down or break recording.
 */

import { promises as fsp } from 'node:fs';
import type { Logger } from 'pino';
import type { EventLabel } from '@preroll/layout';
import type { EventRecord } from '@preroll/store';
import { resolveIntegrationsConfig, type IntegrationsConfig, type ResolvedIntegrationsConfig } from './config';
import { IntegrationsError } from './errors';
import { createMqttBridge, type IntegrationsControl, type MqttBridge, type MqttStats, type MqttSubscriptions } from './mqtt';
import { eventSummary } from './summary';
import { createUploader, type UploadCallbacks, type Uploader, type UploadStats } from './uploader';
import { createWebhookSender, type WebhookSender, type WebhookStats } from './webhooks';

/** Options of {@link createIntegrations}. */
export interface IntegrationsOptions {
  /** The user's config (validated here; see {@link resolveIntegrationsConfig}). */
  readonly config: IntegrationsConfig | undefined;
  /** The data directory: recording paths in an {@link EventRecord} are relative to it. */
  readonly dataDir: string;
  /** Camera id (names the default MQTT topic prefix, client id and Home Assistant device). */
  readonly cameraId: string;
  readonly logger?: Logger;
  /** What MQTT commands may do. */
  readonly control: IntegrationsControl;
  /** The store's upload state (and, for `deleteLocalAfterUpload`, the local delete). */
  readonly uploads?: UploadCallbacks;
  /** Shown in Home Assistant's device info and the webhook User-Agent. Default `0.0.0`. */
  readonly softwareVersion?: string;
  /** MQTT topics read for the camera's sensors (see {@link MqttSubscriptions}). */
  readonly mqttSubscriptions?: MqttSubscriptions;
  /** Object labels are on (`labels.enabled`): Home Assistant gets the label sensors. Default false. */
  readonly labels?: boolean;
}

/** A finished recording, as handed to {@link Integrations.recordingFinished}. */
export interface FinishedRecording {
  readonly record: EventRecord;
  /** Labels known before the row has its own (the early classification of a motion event), or null. */
  readonly labels?: readonly EventLabel[] | null;
  /** Absolute path of the snapshot JPEG, or null when the recording has none. */
  readonly snapshotPath: string | null;
  /** Absolute path of the clip. */
  readonly clipPath: string;
}

/** Counters of every integration; a section is null when it is not configured. */
export interface IntegrationsStats {
  readonly mqtt: MqttStats | null;
  readonly webhooks: WebhookStats | null;
  readonly upload: UploadStats | null;
}

/** MQTT, webhooks and uploads of one camera. */
export interface Integrations {
  /** The validated config (frozen). */
  readonly config: ResolvedIntegrationsConfig;
  /** Connects to the broker in the background and looks for rclone; resolves at once (an unreachable broker is retried, never fatal). */
  start(): Promise<void>;
  /** Publishes `offline`, disconnects, aborts webhook attempts and the running upload. Final (create a new instance to start again); safe to call twice. */
  stop(): Promise<void>;
  /** Motion started (`true`) or ended. */
  motion(active: boolean, at: Date): void;
  /** The motion score of a frame (call it every frame: it is throttled here). */
  score(score: number, triggerLevel: number): void;
  /** A recording started or ended. */
  recording(active: boolean): void;
  /** The trigger level or detection switch changed (from any side: page, API, MQTT). */
  settings(s: { readonly triggerLevel: number; readonly motionEnabled: boolean }): void;
  /** The arming mode in force and why (MQTT state topics and the Home Assistant select entity). */
  arming(mode: string, reason: string): void;
  /** A recording is closed and indexed: event summary on MQTT (with its snapshot), webhooks, automatic upload. */
  recordingFinished(event: FinishedRecording): void;
  /**
   * A motion event's final labels are stored (once per event): the summary again, typed
   * `recording.labelled`, on the MQTT event topic and to the webhooks, and the Home Assistant
   * label sensors. Nothing is uploaded again.
   */
  recordingLabelled(record: EventRecord): void;
  /**
   * Uploads a recording on demand (the gallery's button): resolves once it is queued and
   * marked `pending`, not when it is uploaded (watch its `uploadState`). Rejects with
   * `UPLOAD_DISABLED` when upload is not configured, `UPLOAD_QUEUE_FULL`, `UPLOAD_STATE_FAILED`.
   */
  upload(record: EventRecord, clipPath: string): Promise<void>;
  /** Resolves when no upload is queued or running (for tests and orderly shutdown). */
  uploadsIdle(): Promise<void>;
  stats(): IntegrationsStats;
}

/**
 * Creates the integrations of one camera from their config. Validates the config first and
 * throws `INTEGRATIONS_BAD_CONFIG` (with the key path) on a bad one; nothing connects, spawns or
 * listens until {@link Integrations.start}.
 */
export function createIntegrations(options: IntegrationsOptions): Integrations {
  const config = resolveIntegrationsConfig(options.config, options.cameraId);
  const logger = options.logger;
  const softwareVersion = options.softwareVersion ?? '0.0.0';
  if (config.upload?.deleteLocalAfterUpload && !options.uploads?.deleteLocal) {
    throw new IntegrationsError('INTEGRATIONS_BAD_CONFIG', 'integrations config: upload.deleteLocalAfterUpload needs the server to pass uploads.deleteLocal', {
      key: 'upload.deleteLocalAfterUpload',
      value: true,
    });
  }
  const mqtt: MqttBridge | null = config.mqtt
    ? createMqttBridge({
        config: config.mqtt,
        cameraId: options.cameraId,
        softwareVersion,
        control: options.control,
        subscriptions: options.mqttSubscriptions,
        labels: options.labels,
        logger: logger?.child({ component: 'mqtt' }),
      })
    : null;
  const webhooks: WebhookSender | null = config.webhooks
    ? createWebhookSender({ config: config.webhooks, softwareVersion, logger: logger?.child({ component: 'webhooks' }) })
    : null;
  const uploader: Uploader | null = config.upload
    ? createUploader({ config: config.upload, dataDir: options.dataDir, callbacks: options.uploads, logger: logger?.child({ component: 'upload' }) })
    : null;

  // A notification must never throw into the recorder; a bug here is logged instead.
  const guard = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (error) {
      logger?.error({ err: error }, `integrations: ${what} failed`);
    }
  };

  const publishFinished = async (event: FinishedRecording): Promise<void> => {
    const summary = eventSummary(event.record, { labels: event.labels ?? null });
    if (summary.labels) mqtt?.labels(summary.labels);
    // Summaries go out synchronously, so they keep the order in which recordings finished;
    // the snapshot follows its summary once read from disk.
    webhooks?.send(summary);
    mqtt?.event(summary);
    const upload =
      uploader && config.upload?.kinds.includes(event.record.kind)
        ? uploader.enqueue(event.record, event.clipPath, false).catch((error: IntegrationsError) => {
            // The uploader has logged it with its code; an automatic upload has no caller to tell.
            logger?.debug({ code: error.code, id: event.record.id }, 'integrations: automatic upload not queued');
          })
        : null;
    if (mqtt && config.mqtt?.publishSnapshot && config.mqtt.eventKinds.includes(event.record.kind)) {
      const jpeg = await readSnapshot(event.snapshotPath);
      if (jpeg !== null) mqtt.snapshot(jpeg);
    }
    await upload;
  };

  const readSnapshot = async (snapshotPath: string | null): Promise<Buffer | null> => {
    if (snapshotPath === null) return null;
    const max = config.mqtt?.snapshotMaxBytes ?? 0;
    try {
      const stat = await fsp.stat(snapshotPath);
      if (stat.size > max) {
        logger?.warn({ code: 'MQTT_SNAPSHOT_SKIPPED', path: snapshotPath, bytes: stat.size, max }, 'mqtt: snapshot larger than snapshotMaxBytes, not published');
        return null;
      }
      return await fsp.readFile(snapshotPath);
    } catch (error) {
      logger?.warn({ code: 'MQTT_SNAPSHOT_SKIPPED', path: snapshotPath, err: (error as Error).message }, 'mqtt: snapshot unreadable, not published');
      return null;
    }
  };

  let running = false;
  return {
    config,
    async start() {
      if (running) return;
      running = true;
      mqtt?.start();
      uploader?.start();
      logger?.info({ mqtt: config.mqtt !== null, webhooks: config.webhooks?.urls.length ?? 0, upload: config.upload !== null }, 'integrations: started');
    },
    async stop() {
      if (!running) return;
      running = false;
      await Promise.all([mqtt?.stop(), webhooks?.stop(), uploader?.stop()]);
    },
    motion(active, at) {
      guard('motion', () => {
        logger?.debug({ active, at: at.toISOString() }, 'integrations: motion');
        mqtt?.motion(active);
      });
    },
    score(score, triggerLevel) {
      guard('score', () => mqtt?.score(score, triggerLevel));
    },
    recording(active) {
      guard('recording', () => mqtt?.recording(active));
    },
    settings(s) {
      guard('settings', () => mqtt?.settings(s));
    },
    arming(mode, reason) {
      guard('arming', () => mqtt?.arming(mode, reason));
    },
    recordingFinished(event) {
      publishFinished(event).catch((error: unknown) => logger?.error({ err: error, id: event.record.id }, 'integrations: recordingFinished failed'));
    },
    recordingLabelled(record) {
      guard('recordingLabelled', () => {
        const summary = eventSummary(record, { type: 'recording.labelled' });
        webhooks?.send(summary);
        mqtt?.event(summary);
        if (summary.labels) mqtt?.labels(summary.labels);
      });
    },
    async upload(record, clipPath) {
      if (!uploader) throw new IntegrationsError('UPLOAD_DISABLED', 'upload is not configured (integrations.upload)', record.id);
      await uploader.enqueue(record, clipPath, true);
    },
    uploadsIdle() {
      return uploader?.idle() ?? Promise.resolve();
    },
    stats() {
      return { mqtt: mqtt?.stats() ?? null, webhooks: webhooks?.stats() ?? null, upload: uploader?.stats() ?? null };
    },
  };
}
