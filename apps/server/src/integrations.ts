import { join } from 'node:path';
import type { Logger } from 'pino';
import { createIntegrations, type Integrations } from '@preroll/integrations';
import type { EventRecord } from '@preroll/store';
import type { Alerts } from './alerts';
import type { Announcer } from './announcer';
import type { Config } from './config';
import type { Labels } from './labels';
import type { Runtime } from './runtime/runtime';

/**
 * Connects the runtime to MQTT / Home Assistant, webhooks and rclone upload (when configured):
 * motion, score, recording state and settings go out; commands come in through the runtime's
 * own controls; every recording the announcer announces (once) is summarised and, if so
 * configured, uploaded; a motion event's final labels go out once more (`recording.labelled`).
 * Other store changes (favourites, upload state, deletions) are not announced.
 * Returns null when no integration is configured. Never blocks the frame path: the
 * integrations queue and throttle on their side.
 */
export async function startIntegrations(options: {
  runtime: Runtime;
  announcer: Announcer;
  config: Readonly<Config>;
  logger: Logger;
  version: string;
  /** With alert channels configured, MQTT also shows and switches the arming mode. */
  alerts?: Alerts;
  /** Object labels: summaries carry them, and each motion event's final labels go out once more. */
  labels?: Pick<Labels, 'earlyFor' | 'onLabelled'>;
}): Promise<(Integrations & { detach(): void }) | null> {
  const { runtime, config, logger } = options;
  const section = config.integrations;
  if (!section || (!section.mqtt && !section.webhooks && !section.upload)) return null;
  const store = runtime.store();
  const dataDir = config.server.dataDir;
  const integrations = createIntegrations({
    config: section,
    dataDir,
    cameraId: config.camera.id,
    logger,
    softwareVersion: options.version,
    labels: config.labels.enabled,
    control: {
      setTriggerLevel: (value) => runtime.setTriggerLevel(value),
      setMotionEnabled: (on) => runtime.setMotionEnabled(on),
      startManualRecording: () => runtime.startManualRecording(),
      stopManualRecording: () => runtime.stopManualRecording(),
      ...(options.alerts?.notifier
        ? {
            setArmingMode: (mode: 'home' | 'away' | 'off') => {
              options.alerts?.arming.setMode(mode, 'mqtt').catch((error: unknown) => logger.warn({ err: error }, 'arming mode from MQTT not saved'));
            },
          }
        : {}),
    },
    // The camera's MQTT sensors are read over the same connection (retained messages included: the sensors ignore them).
    mqttSubscriptions: { topics: runtime.sensorTopics(), onMessage: (topic, payload, retained) => runtime.sensorMessage(topic, payload, retained) },
    uploads: {
      setUploadState: (id, state) => store.setUploadState(id, state),
      // delete-local-after-upload: the clip goes, the recording stays in the gallery. Starred
      // since it was queued? Then it stays on this device.
      deleteLocal: async (record, remote) => {
        const now = store.get(record.id);
        if (!now || now.favorite) return false;
        return store.offloadClip(record.id, remote);
      },
    },
  });
  await integrations.start();

  let settings = { triggerLevel: NaN, motionEnabled: true };
  let recording = false;
  const pushState = (): void => {
    const status = runtime.status();
    if (status.triggerLevel !== settings.triggerLevel || status.motionEnabled !== settings.motionEnabled) {
      settings = { triggerLevel: status.triggerLevel, motionEnabled: status.motionEnabled };
      integrations.settings(settings);
    }
    if (status.recording !== recording) {
      recording = status.recording;
      integrations.recording(recording);
    }
  };
  pushState();
  const arming = options.alerts?.notifier ? options.alerts.arming : null;
  const pushArming = (): void => {
    if (!arming) return;
    const status = arming.status();
    integrations.arming(status.effective, status.reason);
  };
  pushArming();
  const detachers = [
    arming?.onChange(pushArming) ?? (() => undefined),
    runtime.onChange(pushState),
    runtime.onMotion((active, atMs) => integrations.motion(active, new Date(atMs))),
    runtime.onSample((sample) => integrations.score(sample.score, sample.triggerLevel)),
    options.announcer.subscribe(({ record }) => {
      // The announcer serves every camera: this camera's recordings only.
      if (record.camera === config.camera.id) integrations.recordingFinished({ ...finished(dataDir, record), labels: record.kind === 'motion' ? (options.labels?.earlyFor(record) ?? null) : null });
    }),
    options.labels?.onLabelled((record) => {
      if (record.camera === config.camera.id) integrations.recordingLabelled(record);
    }) ?? (() => undefined),
  ];

  // Uploads that were queued or running when the last run stopped go again.
  if (section.upload) {
    for (const record of pendingUploads(runtime, config.camera.id)) {
      integrations.upload(record, join(dataDir, record.files.clip)).catch((error: unknown) => logger.warn({ err: error, id: record.id }, 'cannot queue a pending upload again'));
    }
  }
  return Object.assign(integrations, {
    detach() {
      for (const detach of detachers) detach();
    },
  });
}

/** What the integrations need of a new recording: the row and absolute paths. */
export function finished(dataDir: string, record: EventRecord): { record: EventRecord; snapshotPath: string | null; clipPath: string } {
  return { record, snapshotPath: record.files.snapshot ? join(dataDir, record.files.snapshot) : null, clipPath: join(dataDir, record.files.clip) };
}

function pendingUploads(runtime: Runtime, camera: string): EventRecord[] {
  const out: EventRecord[] = [];
  let cursor: string | null = null;
  // Bounded: 100 pages of 500 newest-first recordings.
  for (let page = 0; page < 100; page++) {
    const result = runtime.store().list({ limit: 500, cursor });
    out.push(...result.items.filter((r) => r.uploadState === 'pending' && r.camera === camera));
    cursor = result.nextCursor;
    if (!cursor) break;
  }
  return out;
}
