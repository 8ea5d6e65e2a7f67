import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createArming, createNotifier, resolveNotify, type Arming, type ArmingStatus, type Notifier, type NotifyStats, type RecordingNotice } from '@preroll/integrations';
import type { Announcer } from './announcer';
import type { Config } from './config';
import type { Labels } from './labels';
import type { Runtime } from './runtime/runtime';

/** Alerts on the phone and arming, shared by every camera of the server. */
export interface Alerts {
  /** The channels, or null when `integrations.notify` configures none. */
  readonly notifier: Notifier | null;
  readonly arming: Arming;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** What `/api/status` shows under `alerts`. */
  status(): { readonly arming: ArmingStatus; readonly notify: NotifyStats | null };
  /**
   * Stops the channels and arming, and starts them anew from a new configuration (applied
   * live). Whoever attached to them (attachAlerts, the integrations) attaches again after.
   */
  reconfigure(config: Readonly<Config>): Promise<void>;
}

/** Creates the notifier (when channels are configured) and the arming state; nothing starts until `start()`. */
export function createAlerts(options: { config: Readonly<Config>; logger: Logger }): Alerts {
  const { logger } = options;
  const dataDir = options.config.server.dataDir;
  const build = (config: Readonly<Config>): { arming: Arming; notifier: Notifier | null } => {
    const arming = createArming({ config: config.arming, dataDir, logger: logger.child({ component: 'arming' }) });
    const notifyConfig = config.integrations?.notify === undefined ? null : resolveNotify(config.integrations.notify);
    const notifier = notifyConfig
      ? createNotifier({ config: notifyConfig, dataDir, arming: (camera, atMs) => arming.gate(camera, atMs), logger: logger.child({ component: 'alerts' }) })
      : null;
    return { arming, notifier };
  };
  let { arming, notifier } = build(options.config);
  return {
    get notifier() {
      return notifier;
    },
    get arming() {
      return arming;
    },
    async reconfigure(config) {
      await notifier?.stop();
      await arming.stop();
      ({ arming, notifier } = build(config));
      await arming.start();
      await notifier?.start();
    },
    async start() {
      await arming.start();
      await notifier?.start();
    },
    async stop() {
      await notifier?.stop();
      await arming.stop();
    },
    status: () => ({ arming: arming.status(), notify: notifier?.stats() ?? null }),
  };
}

/** Progress of an open event is passed on at most this often (the rules need no more). */
const PROGRESS_EVERY_MS = 1000;
/** How often the detection schedule is looked at. */
const SCHEDULE_EVERY_MS = 20_000;

/**
 * Feeds one camera's events to the alerts: "event started" notices (motion at the trigger,
 * manual recordings) with their snapshot, the event's progress for "still moving" updates,
 * saved memories and every finished recording from the announcer (once each; the e-mail
 * follow-up with the clip), and applies the detection schedule and a
 * presence that pauses detection. Returns the function that detaches it all.
 */
export function attachAlerts(options: { alerts: Alerts; runtime: Runtime; announcer: Announcer; config: Readonly<Config>; logger: Logger; labels?: Pick<Labels, 'early' | 'onEarly' | 'earlyAt'> }): () => void {
  const { alerts, runtime, config, logger } = options;
  const camera = config.camera.id;
  const notifier = alerts.notifier;
  const detachers: (() => void)[] = [];
  if (notifier) {
    let active = false;
    let peak = 0;
    let lastProgressMs = 0;
    detachers.push(
      runtime.onEventStart((event) => {
        peak = event.score ?? 0;
        const awaitLabels = event.kind === 'motion' && options.labels?.early === true;
        notifier.eventStarted({ camera: event.camera, kind: event.kind, atMs: event.atMs, score: event.score, snapshot: event.snapshot, oneShot: event.kind === 'manual', awaitLabels });
        // Early labels that came before the notice (it waits for the trigger's JPEG) are handed over now.
        const early = awaitLabels ? options.labels?.earlyAt(event.camera, event.atMs) : undefined;
        if (early) notifier.eventLabels(early.camera, early.startedAtMs, early.labels);
      }),
      options.labels?.onEarly((early) => {
        if (early.camera === camera) notifier.eventLabels(early.camera, early.startedAtMs, early.labels);
      }) ?? (() => undefined),
      runtime.onMotion((on, atMs) => {
        active = on;
        if (!on) notifier.eventEnded(camera, atMs);
      }),
      runtime.onSample((sample) => {
        if (!active) return;
        peak = Math.max(peak, sample.score);
        const now = Date.now();
        if (now - lastProgressMs < PROGRESS_EVERY_MS) return;
        lastProgressMs = now;
        notifier.eventProgress(camera, now, peak, () => runtime.snapshotJpeg());
      }),
      options.announcer.subscribe(({ record, recording }) => {
        if (record.camera !== camera || (record.kind !== 'motion' && record.kind !== 'manual' && record.kind !== 'memory')) return;
        const finished: RecordingNotice = {
          id: record.id,
          camera,
          kind: record.kind,
          startedAtMs: Date.parse(record.startedAt),
          endedAtMs: Date.parse(record.endedAt),
          clip: record.offloaded ? null : record.files.clip,
          clipBytes: recording.sidecar.bytes,
          durationS: record.durationS,
          peakScore: record.peakScore,
        };
        // Motion and manual recordings alerted at their start: the finished clip follows up those alerts.
        if (record.kind !== 'memory') {
          notifier.recordingFinished(finished);
          return;
        }
        // A memory alerts when it is saved (it has no trigger), and its clip follows at once.
        const path = record.files.snapshot ? join(config.server.dataDir, record.files.snapshot) : null;
        void (path ? fsp.readFile(path).catch(() => null) : Promise.resolve(null)).then((snapshot) => {
          notifier.eventStarted({ camera, kind: 'memory', atMs: Date.now(), score: null, snapshot, oneShot: true, recordingId: record.id });
          notifier.recordingFinished(finished);
        });
      }),
    );
  }

  // Detection by schedule and presence: switched at the edges only, so the page's switch still works in between.
  const presencePauses = config.arming.presence.pauses === 'alerts-and-detection' && config.arming.presence.devices.length > 0;
  const scheduled = config.arming.schedules.detection.some((r) => r.cameras.length === 0 || r.cameras.includes(camera));
  if (presencePauses || scheduled) {
    let last: boolean | null = null;
    const apply = (): void => {
      const wanted = (alerts.arming.detectionWanted(camera, Date.now()) ?? true) && !alerts.arming.pausesDetection();
      if (wanted === last) return;
      last = wanted;
      try {
        runtime.setMotionEnabled(wanted);
        logger.info({ camera, detection: wanted }, `detection ${wanted ? 'on' : 'off'} by ${presencePauses && alerts.arming.pausesDetection() ? 'presence' : 'schedule'}`);
      } catch (error) {
        logger.warn({ err: error, camera }, 'cannot switch detection by schedule');
      }
    };
    apply();
    const timer = setInterval(apply, SCHEDULE_EVERY_MS);
    timer.unref();
    detachers.push(() => clearInterval(timer), alerts.arming.onChange(apply));
  }
  return () => {
    for (const detach of detachers.splice(0)) detach();
  };
}
