import type { Logger } from 'pino';
import { isAiCameraLine, listRpicamCameras, parseSourceSpec, type AiCameraStats, type CameraObject, type FrameDetections } from '@preroll/capture';
import { taxonomyOf } from '@preroll/classify';
import { MAX_LABELS, type EventLabel } from '@preroll/layout';
import type { Store } from '@preroll/store';
import type { Announcer } from './announcer';
import type { Config } from './config';
import type { LabelsStatus } from './labels';
import type { EventStart } from './runtime/runtime';

/**
 * Labels from the Raspberry Pi AI Camera (IMX500): the sensor runs an object detector on every
 * frame, rpicam-vid reports its output in each frame's metadata, and capture turns it into
 * objects with the frame's timestamp (packages/capture/src/imx500.ts). Here they are kept per
 * camera and, when a motion event's recording is announced, the objects seen during it become
 * its labels through `store.setLabels`, in the taxonomy the CPU classifier uses, so everything
 * downstream (gallery, API, MQTT, webhooks) is the same. No inference runs on the Pi.
 */

/** Where one camera's labels come from. */
export type LabelSource = 'cpu' | 'camera' | 'none';

/** Frames with objects kept per camera at most (20 min at 15 fps with something in view). */
export const MAX_SIGHTINGS = 18_000;
/** Sightings older than this are forgotten (an event longer than this loses its start's). */
export const SIGHTING_MAX_AGE_MS = 30 * 60_000;

/**
 * Chooses a camera's label source from `labels.source` and the camera's source. `camera` and
 * `auto` apply to a Pi camera (`rpicam…`, or `auto` which is the Pi camera when one is listed);
 * `auto` takes the AI Camera when `rpicam-vid --list-cameras` (`cameras`, null when it was not
 * run) lists an imx500 at the camera's index. Pure.
 */
export function chooseLabelSource(setting: Config['labels']['source'], cameraSource: string, cameras: readonly string[] | null): { source: LabelSource; reason: string } {
  if (setting === 'cpu') return { source: 'cpu', reason: 'labels.source is "cpu"' };
  const index = piCameraIndex(cameraSource);
  if (index === null) {
    return setting === 'camera'
      ? { source: 'none', reason: `labels.source is "camera" but the source ${cameraSource} is not the Pi camera` }
      : { source: 'cpu', reason: `the source ${cameraSource} is not the Pi camera` };
  }
  if (setting === 'camera') return { source: 'camera', reason: 'labels.source is "camera"' };
  const line = (cameras ?? []).find((l) => new RegExp(`^${index}\\s*:`).test(l.trim()));
  if (line && isAiCameraLine(line)) return { source: 'camera', reason: `rpicam-vid lists an AI Camera: ${line.trim()}` };
  return { source: 'cpu', reason: cameras === null ? 'rpicam-vid could not list the cameras' : `no AI Camera at camera index ${index}` };
}

/** The camera index of a Pi camera source (`auto` counts as camera 0), or null for any other source. */
function piCameraIndex(cameraSource: string): number | null {
  if (cameraSource === 'auto') return 0;
  try {
    const spec = parseSourceSpec(cameraSource);
    return spec.kind === 'rpicam' ? (spec.camera ?? 0) : null;
  } catch (error) {
    // A malformed source is the capture's to report when the camera starts.
    void error;
    return null;
  }
}

/**
 * The label source of each camera (by id), listing the Pi cameras once when `auto` needs to
 * know whether one is an AI Camera.
 */
export async function chooseLabelSources(cameras: readonly Readonly<Config>[], logger: Logger): Promise<Map<string, { source: LabelSource; reason: string }>> {
  const needList = cameras.some((c) => c.labels.source === 'auto' && piCameraIndex(c.camera.source) !== null);
  let listed: string[] | null = null;
  if (needList) {
    const listing = await listRpicamCameras();
    if (listing.error) logger.info({ reason: listing.error }, 'labels: no AI Camera found (rpicam-vid cannot list cameras)');
    listed = listing.error ? null : listing.cameras;
  }
  const out = new Map<string, { source: LabelSource; reason: string }>();
  for (const c of cameras) {
    const choice = chooseLabelSource(c.labels.source, c.camera.source, listed);
    out.set(c.camera.id, choice);
    logger.info({ camera: c.camera.id, source: choice.source, reason: choice.reason }, `labels: from the ${choice.source === 'camera' ? 'AI Camera' : choice.source === 'cpu' ? 'CPU classifier' : 'nowhere'}`);
  }
  return out;
}

/** One frame in which the camera saw something. */
export interface Sighting {
  /** Wall time of the frame, ms since the epoch (the clock of the recordings' `startedAt`). */
  readonly wallMs: number;
  readonly objects: readonly CameraObject[];
}

/**
 * The labels of an event from the frames of `[fromMs, toMs]`: per COCO class the taxonomy keeps
 * (sub-label), the frames it was seen in at or above `minConfidence`, its highest confidence
 * and the box of that sighting (in pixels of a `width`×`height` frame); classes seen in fewer
 * than `minFrames` frames are left out (one stray frame is not a sighting). Strongest first, at
 * most `MAX_LABELS`. Pure.
 */
export function aggregateSightings(
  sightings: readonly Sighting[],
  options: { fromMs: number; toMs: number; minFrames: number; minConfidence: number; width: number; height: number },
): (EventLabel & { frames: number })[] {
  const best = new Map<string, { object: CameraObject; frames: number }>();
  for (const s of sightings) {
    if (s.wallMs < options.fromMs || s.wallMs > options.toMs) continue;
    const seenHere = new Set<string>();
    for (const o of s.objects) {
      if (o.confidence < options.minConfidence || taxonomyOf(o.className) === null) continue;
      const entry = best.get(o.className) ?? { object: o, frames: 0 };
      if (!seenHere.has(o.className)) entry.frames++;
      seenHere.add(o.className);
      if (o.confidence > entry.object.confidence) entry.object = o;
      best.set(o.className, entry);
    }
  }
  return [...best.values()]
    .filter((e) => e.frames >= options.minFrames)
    .sort((a, b) => b.object.confidence - a.object.confidence || a.object.className.localeCompare(b.object.className))
    .slice(0, MAX_LABELS)
    .map(({ object: o, frames }) => {
      const x = Math.round(o.box.x * options.width);
      const y = Math.round(o.box.y * options.height);
      return {
        label: taxonomyOf(o.className)!,
        subLabel: o.className,
        confidence: Math.round(o.confidence * 1000) / 1000,
        box: [x, y, Math.min(options.width - x, Math.round(o.box.width * options.width)), Math.min(options.height - y, Math.round(o.box.height * options.height))] as const,
        frames,
      };
    });
}

/** Labels reported a moment after an event's trigger, before the event has a recording. */
export interface EarlyLabels {
  readonly camera: string;
  /** Wall time of the trigger. */
  readonly triggeredAtMs: number;
  readonly labels: readonly EventLabel[];
}

/** What the status shows of one camera's AI Camera labels. */
export interface CameraLabelsStatus {
  readonly camera: string;
  /** Motion events labelled from the camera's detections. */
  readonly events: number;
  /** Frames with objects kept now. */
  readonly sightings: number;
  /** The last early report, if any. */
  readonly lastEarly: EarlyLabels | null;
  /** The metadata stream's counters (corrupt lines among them), null before the camera started. */
  readonly metadata: AiCameraStats | null;
}

/** One camera's AI Camera labelling. */
export interface CameraLabels {
  status(): CameraLabelsStatus;
  /** Listens to the early reports (a moment after each trigger); returns a function that removes it. */
  onEarly(listener: (early: EarlyLabels) => void): () => void;
  /** Stops listening; an event announced afterwards keeps no camera labels. Waits for writes under way. */
  stop(): Promise<void>;
}

/** The runtime parts camera labelling listens to. */
export interface DetectionsFeed {
  onDetections(listener: (detections: FrameDetections) => void): () => void;
  onEventStart(listener: (event: EventStart) => void): () => void;
  cameraSource(): { readonly width: number; readonly height: number; stats(): { aiCamera?: AiCameraStats | null } } | null;
}

/**
 * Attaches AI Camera labelling to one camera: keeps the frames in which the sensor's detector
 * saw something, reports the labels seen so far `aiCamera.earlyAfterMs` after each motion
 * trigger, and writes each motion event's labels with `store.setLabels` once its recording is
 * announced (`[]` when nothing was seen enough: "motion only").
 */
export function attachCameraLabels(options: {
  runtime: DetectionsFeed;
  announcer: Pick<Announcer, 'subscribe'>;
  store: () => Store;
  config: Readonly<Config>;
  logger: Logger;
  /**
   * Records an event's labels (the labels hook's `record`: merge, sidecar, index, one update to
   * MQTT, webhooks and the page); default `store.setLabels` alone.
   */
  record?: (id: string, labels: readonly EventLabel[]) => Promise<unknown>;
}): CameraLabels {
  const { config, logger } = options;
  const camera = config.camera.id;
  const settings = config.labels.aiCamera;
  const minConfidence = config.labels.minConfidence;
  const sightings: Sighting[] = [];
  const earlyListeners = new Set<(early: EarlyLabels) => void>();
  const timers = new Set<NodeJS.Timeout>();
  const pending = new Set<Promise<void>>();
  let events = 0;
  let lastEarly: EarlyLabels | null = null;
  let stopped = false;

  const prune = (nowMs: number): void => {
    let drop = 0;
    while (drop < sightings.length && (sightings.length - drop > MAX_SIGHTINGS || sightings[drop].wallMs < nowMs - SIGHTING_MAX_AGE_MS)) drop++;
    if (drop) sightings.splice(0, drop);
  };

  const detachers = [
    options.runtime.onDetections((d) => {
      // Only frames with something at or above the floor are kept: an empty scene costs nothing.
      const objects = d.objects.filter((o) => o.confidence >= minConfidence && taxonomyOf(o.className) !== null);
      if (!objects.length) return;
      sightings.push({ wallMs: d.wallMs, objects });
      if (sightings.length > MAX_SIGHTINGS + 1000) prune(d.wallMs);
    }),
    options.runtime.onEventStart((event) => {
      if (event.kind !== 'motion' || settings.earlyAfterMs === 0) return;
      const timer = setTimeout(() => {
        timers.delete(timer);
        const labels = aggregateSightings(sightings, {
          fromMs: event.atMs - config.recorder.preRollMs,
          toMs: Number.POSITIVE_INFINITY,
          minFrames: settings.minFrames,
          minConfidence,
          // No recording yet: boxes are in pixels of the camera's frames, as the recording's will be.
          width: options.runtime.cameraSource()?.width ?? 0,
          height: options.runtime.cameraSource()?.height ?? 0,
        }).map(stripFrames);
        lastEarly = { camera, triggeredAtMs: event.atMs, labels };
        logger.info({ camera, labels: labels.map((l) => `${l.subLabel}:${l.confidence}`) }, 'labels: AI Camera, early');
        for (const listener of earlyListeners) {
          try {
            listener(lastEarly);
          } catch (error) {
            logger.error({ err: error }, 'labels: early listener threw');
          }
        }
      }, settings.earlyAfterMs);
      timers.add(timer);
    }),
    options.announcer.subscribe(({ record }) => {
      if (stopped || record.kind !== 'motion' || record.camera !== camera) return;
      const labels = aggregateSightings(sightings, {
        fromMs: Date.parse(record.startedAt),
        toMs: Date.parse(record.endedAt),
        minFrames: settings.minFrames,
        minConfidence,
        width: record.width,
        height: record.height,
      });
      prune(Date.parse(record.endedAt));
      const write = options.record ?? ((id: string, found: readonly EventLabel[]) => options.store().setLabels(id, found));
      const job = write(record.id, labels.map(stripFrames))
        .then(() => {
          events++;
          logger.info({ id: record.id, source: 'camera', labels: labels.map((l) => `${l.subLabel}:${l.confidence}x${l.frames}`), ms: 0 }, 'labels: event labelled by the AI Camera');
        })
        .catch((error: unknown) => {
          const code = (error as { code?: unknown }).code;
          logger[code === 'STORE_NOT_FOUND' ? 'debug' : 'warn']({ err: error, id: record.id }, 'labels: AI Camera labels not written');
        });
      pending.add(job);
      void job.finally(() => pending.delete(job));
    }),
  ];

  return {
    status() {
      return { camera, events, sightings: sightings.length, lastEarly, metadata: options.runtime.cameraSource()?.stats().aiCamera ?? null };
    },
    onEarly(listener) {
      earlyListeners.add(listener);
      return () => earlyListeners.delete(listener);
    },
    async stop() {
      stopped = true;
      for (const detach of detachers) detach();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.all([...pending]);
    },
  };
}

function stripFrames(label: EventLabel & { frames: number }): EventLabel {
  return { label: label.label, subLabel: label.subLabel, confidence: label.confidence, box: label.box };
}

/** `/api/status`'s `labels` when some cameras are labelled by the AI Camera: the CPU's figures plus the source and the camera's. */
export interface CombinedLabelsStatus extends LabelsStatus {
  /** `camera` (every camera by the AI Camera), `cpu`, or `mixed`. */
  readonly source: 'camera' | 'cpu' | 'mixed';
  /** Per camera labelled by the AI Camera. */
  readonly aiCameras: readonly CameraLabelsStatus[];
}

/**
 * The labels status the System panel shows: with every camera on the AI Camera, labels are on,
 * the source is the camera and the cost per event is 0 ms (no inference on the Pi); with some,
 * the CPU's figures with the cameras' beside them. Pure.
 */
export function combineLabelsStatus(cpu: LabelsStatus, cameras: readonly CameraLabelsStatus[], cpuCameras: number): CombinedLabelsStatus {
  if (cameras.length === 0) return { ...cpu, source: 'cpu', aiCameras: [] };
  if (cpuCameras > 0) return { ...cpu, source: 'mixed', aiCameras: cameras };
  const events = cameras.reduce((n, c) => n + c.events, 0);
  return { ...cpu, enabled: true, events, lastEventMs: 0, meanEventMs: 0, meanInferenceMs: 0, source: 'camera', aiCameras: cameras };
}
