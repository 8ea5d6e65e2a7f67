import * as path from 'node:path';
import type { Logger } from 'pino';
import type { Frame } from '@preroll/capture';
import { createClassifier, cropAround, i420ToRgb, mergeDetections, motionRegionFromHeatmap, type Classifier, type ClassifierStats, type Rect } from '@preroll/classify';
import type { MotionBox, MotionSample } from '@preroll/detector';
import type { EventLabel } from '@preroll/layout';
import { createEmitter } from '@preroll/process';
import type { EventRecord, Store } from '@preroll/store';
import type { Announcer } from './announcer';
import type { Config } from './config';

/** The early classification's figures (the System panel shows them next to the final one's). */
export interface EarlyLabelsStatus {
  readonly enabled: boolean;
  readonly delayMs: number;
  /** Early classifications done. */
  readonly events: number;
  /** Events whose early labels could not be had (no frame with motion boxes, a failed pass). */
  readonly failures: number;
  /** Milliseconds from the trigger to the early labels, last and mean (what an alert with label rules waits). */
  readonly lastMs: number | null;
  readonly meanMs: number | null;
}

/** What `/api/status` shows of the labels (the System panel's cost figure). */
export interface LabelsStatus extends ClassifierStats {
  readonly enabled: boolean;
  readonly minConfidence: number;
  /** Events skipped because too many were waiting. */
  readonly skipped: number;
  readonly early: EarlyLabelsStatus;
}

/** The early labels of one camera's event. */
export interface EarlyLabels {
  readonly camera: string;
  /** Wall time of the trigger frame (the `atMs` of the event's start notice). */
  readonly startedAtMs: number;
  /** What was seen ([]: nothing), or null when they could not be had. */
  readonly labels: readonly EventLabel[] | null;
  /** Milliseconds from the trigger to these labels. */
  readonly ms: number;
  /** Size of the frame the boxes are in, when it may differ from the recording's (an MJPEG camera's detection frames are smaller). */
  readonly frame?: { readonly width: number; readonly height: number };
}

/** What the early classification needs of a camera's runtime. */
export interface LabelledCamera {
  readonly id: string;
  onMotion(listener: (active: boolean, atMs: number) => void): () => void;
  onSample(listener: (sample: MotionSample, frame: Frame | null) => void): () => void;
  onEventStart(listener: (event: { readonly kind: string; readonly atMs: number }) => void): () => void;
}

/** The best frame of an event's first moments, copied, with its motion boxes. */
interface EarlyFrame {
  readonly data: Buffer;
  readonly width: number;
  readonly height: number;
  readonly boxes: readonly MotionBox[];
}

/** A motion event of a watched camera in its first moments: the best frame so far is in the camera's buffer. */
interface OpenEarly {
  readonly atMs: number;
  bestScore: number;
  boxes: readonly MotionBox[];
  width: number;
  height: number;
  /** Bytes of the best frame in the buffer (0: none yet). */
  bytes: number;
  timer: NodeJS.Timeout | null;
}

/** Unclassified motion events younger than this are classified at start (those a stop interrupted). */
export const CATCH_UP_WINDOW_MS = 24 * 3_600_000;
/** Most events classified at start, so a long period with labels off does not cost hours of CPU. */
export const CATCH_UP_MAX = 10;
/** Early results kept to be matched with their recordings (a recording is announced seconds to minutes after its trigger). */
const EARLY_KEPT = 32;
/** A recording's trigger and an early result match within this (the notice's wall clock and the row's differ slightly). */
const MATCH_SLACK_MS = 1000;
/** A motion region covering more than this share of the frame is classified whole (as the final classification does). */
const CROP_MAX_AREA = 0.5;

/** The labelling hook: classifies each motion event early (for alerts) and once it has been announced. */
export interface Labels {
  /** Whether early labels come for motion events (labels and `labels.early` on): alerts with label rules wait for them. */
  readonly early: boolean;
  status(): LabelsStatus;
  /**
   * Watches one camera for the early classification: from the trigger, the frame with the
   * highest score (and motion boxes) is kept, and `labels.earlyDelayMs` after the trigger (or
   * at the event's end, if sooner) it is classified once, cropped around the boxes. Returns
   * the function that stops watching.
   */
  watchCamera(camera: LabelledCamera): () => void;
  /** Early labels as they come (one per motion event of a watched camera, and any a label source reports). */
  onEarly(listener: (early: EarlyLabels) => void): () => void;
  /**
   * Early labels from another source (a camera that detects on its sensor) for the camera's
   * event triggered at `startedAtMs`: kept, matched with the recording, and handed to the
   * alerts like the detector's. The first early labels of an event decide its alerts.
   */
  reportEarly(camera: string, startedAtMs: number, labels: readonly EventLabel[] | null): void;
  /** The early labels of the camera's event triggered at `startedAtMs`, if they came already. */
  earlyAt(camera: string, startedAtMs: number): EarlyLabels | undefined;
  /** The early labels of a finished recording (matched by camera and trigger time), or null. */
  earlyFor(record: EventRecord): readonly EventLabel[] | null;
  /**
   * Records labels for an event, from any source (the detector here, a camera that detects on
   * its sensor): merged with what the event already has (the strongest sighting of each class
   * wins, none is removed), written with `store.setLabels` (sidecar, then index: one `updated`
   * change), then reported once through {@link onLabelled}. Resolves with the row, or null when
   * the recording is gone.
   */
  record(id: string, labels: readonly EventLabel[]): Promise<EventRecord | null>;
  /** A recording's labels were recorded (the final classification: once per event). */
  onLabelled(listener: (record: EventRecord) => void): () => void;
  /**
   * Classifies, one at a time in the background, the newest unclassified motion events of the
   * last 24 hours (at most {@link CATCH_UP_MAX}): events that ended while the server stopped,
   * or while labels were off. Resolves when they are done.
   */
  catchUp(now?: number): Promise<number>;
  /** Stops listening and ends the classification under way (its event keeps no labels), then frees the model. */
  stop(): Promise<void>;
}

/**
 * Labels of one event from several sightings: the strongest of each detector class, strongest
 * first (ties by name). Nothing is removed, so a label that made an alert stays. Pure.
 */
export function mergeLabels(...lists: ReadonlyArray<readonly EventLabel[] | null | undefined>): EventLabel[] {
  const best = new Map<string, EventLabel>();
  for (const list of lists) {
    for (const one of list ?? []) {
      const seen = best.get(one.subLabel);
      if (!seen || one.confidence > seen.confidence) best.set(one.subLabel, one);
    }
  }
  return [...best.values()].sort((a, b) => b.confidence - a.confidence || a.subLabel.localeCompare(b.subLabel));
}

/**
 * The frame region around a sample's motion boxes (fractions of the frame), or null without
 * boxes: the union of the boxes in pixels. The classifier's crop adds the margin. Pure.
 */
export function boxesRegion(boxes: readonly Pick<MotionBox, 'x' | 'y' | 'width' | 'height'>[], width: number, height: number): Rect | null {
  if (boxes.length === 0) return null;
  const left = Math.min(...boxes.map((b) => b.x));
  const top = Math.min(...boxes.map((b) => b.y));
  const right = Math.max(...boxes.map((b) => b.x + b.width));
  const bottom = Math.max(...boxes.map((b) => b.y + b.height));
  const x = Math.max(0, Math.floor(left * width));
  const y = Math.max(0, Math.floor(top * height));
  return { x, y, width: Math.max(1, Math.min(width, Math.ceil(right * width)) - x), height: Math.max(1, Math.min(height, Math.ceil(bottom * height)) - y) };
}

/**
 * Attaches labelling to the one announcement path: a motion event is indexed and announced as
 * usual; afterwards its snapshot (cropped around the heat-map's hot region when the motion was
 * small) goes through the object detector, merged with the event's early labels, and recorded
 * with {@link Labels.record}. A recording is never announced a second time for its labels. Off
 * (`labels.enabled: false`) nothing is loaded. `classifier` replaces the on-device detector (a
 * deterministic one in tests, another runtime); default: `createClassifier`.
 */
export function attachLabels(options: { announcer: Pick<Announcer, 'subscribe'>; store: () => Store; config: Readonly<Config>; logger: Logger; classifier?: Classifier }): Labels {
  const { config, logger } = options;
  const settings = config.labels;
  const classifier: Classifier | null = settings.enabled ? (options.classifier ?? createClassifier({ minConfidence: settings.minConfidence })) : null;
  const earlyOn = classifier !== null && settings.early;
  let skipped = 0;
  let stopped = false;
  const pending = new Set<Promise<unknown>>();
  const earlies: EarlyLabels[] = [];
  const earlyEmitter = createEmitter<[EarlyLabels]>('labels early', logger);
  const labelled = createEmitter<[EventRecord]>('labels recorded', logger);
  const watchers = new Set<() => void>();
  const earlyStats = { events: 0, failures: 0, lastMs: null as number | null, totalMs: 0 };

  const track = <T>(job: Promise<T>): Promise<T> => {
    pending.add(job);
    void job.finally(() => pending.delete(job)).catch(() => undefined);
    return job;
  };

  const record = async (id: string, labels: readonly EventLabel[]): Promise<EventRecord | null> => {
    const store = options.store();
    const row = store.get(id);
    if (!row) return null;
    const saved = await store.setLabels(id, mergeLabels(row.labels, labels));
    labelled.emit(saved);
    return saved;
  };

  const earlyFor = (record: EventRecord): readonly EventLabel[] | null => {
    const from = Date.parse(record.startedAt) - MATCH_SLACK_MS;
    const to = Date.parse(record.endedAt) + MATCH_SLACK_MS;
    const trigger = record.triggeredAt ? Date.parse(record.triggeredAt) : from;
    let found: EarlyLabels | null = null;
    for (const e of earlies) {
      if (e.camera !== record.camera || e.labels === null || e.startedAtMs < from || e.startedAtMs > to) continue;
      if (!found || Math.abs(e.startedAtMs - trigger) < Math.abs(found.startedAtMs - trigger)) found = e;
    }
    if (!found?.labels) return null;
    const frame = found.frame;
    if (!frame || (frame.width === record.width && frame.height === record.height)) return found.labels;
    // Boxes found in a smaller detection frame, in the recording's pixels.
    const sx = record.width / frame.width;
    const sy = record.height / frame.height;
    return found.labels.map((l) => ({ ...l, box: [Math.round(l.box[0] * sx), Math.round(l.box[1] * sy), Math.round(l.box[2] * sx), Math.round(l.box[3] * sy)] as const }));
  };

  const label = async (id: string): Promise<void> => {
    if (!classifier) return;
    const store = options.store();
    const row = store.get(id);
    if (!row || row.kind !== 'motion' || !row.files.snapshot) return;
    // Paths in the index are relative to the data directory and were checked when indexed.
    const abs = (rel: string): string => path.join(store.dataDir, rel);
    const motion = row.files.heatmap
      ? await motionRegionFromHeatmap(abs(row.files.heatmap), row.width, row.height).catch((error: unknown) => {
          logger.warn({ err: error, id }, 'labels: heat-map unreadable; classifying the whole frame');
          return null;
        })
      : null;
    const result = await classifier.classifyEvent({ images: [abs(row.files.snapshot)], motion });
    // Both are in the frame's pixels (the early pass reads the captured frame, the snapshot is one): merged as they are.
    const early = earlyFor(row);
    const saved = await record(id, mergeLabels(result.labels, early));
    if (!saved) return; // deleted while it was being classified
    logger.info({ id, labels: saved.labels?.map((l) => `${l.subLabel}:${l.confidence}`), ms: result.ms, inferences: result.inferences, early: early?.length ?? null }, 'labels: event classified');
  };

  const unsubscribe = classifier
    ? options.announcer.subscribe(({ record: announced }) => {
        if (announced.kind !== 'motion') return;
        track(
          label(announced.id).catch((error: unknown) => {
            const code = (error as { code?: unknown }).code;
            if (code === 'CLASSIFY_BUSY') skipped++;
            // A row removed meanwhile (retention, delete) is not an error worth more than a line.
            const level = code === 'STORE_NOT_FOUND' || code === 'CLASSIFY_CLOSED' ? 'debug' : 'warn';
            logger[level]({ err: error, id: announced.id }, 'labels: event not classified');
          }),
        );
      })
    : () => undefined;

  const publishEarly = (early: EarlyLabels): void => {
    earlies.push(early);
    while (earlies.length > EARLY_KEPT) earlies.shift();
    if (early.labels === null) earlyStats.failures++;
    else {
      earlyStats.events++;
      earlyStats.lastMs = early.ms;
      earlyStats.totalMs += early.ms;
    }
    earlyEmitter.emit(early);
  };

  return {
    early: earlyOn,
    watchCamera(camera) {
      if (!earlyOn || !classifier || stopped) return () => undefined;
      // The best frame of the open event is copied into this one buffer (reused across events,
      // grown only when the frame size grows): no frame-sized allocation per frame or per event.
      let buffer: Buffer | null = null;
      let open: OpenEarly | null = null;
      // Trigger times of the event-start notices: an event continued past maxEventS triggers again without a notice, and is not classified again.
      const started: number[] = [];
      // An event that ended before its notice came (the notice waits for the trigger's JPEG): classified when the notice comes.
      let unconfirmed: { atMs: number; frame: EarlyFrame | null } | null = null;

      const classify = async (atMs: number, frame: EarlyFrame | null): Promise<void> => {
        if (!frame) {
          logger.info({ camera: camera.id, atMs }, 'labels: no frame with motion boxes in the event\'s first moments; its early labels are unknown');
          publishEarly({ camera: camera.id, startedAtMs: atMs, labels: null, ms: Date.now() - atMs });
          return;
        }
        try {
          const rgb = i420ToRgb({ data: frame.data, width: frame.width, height: frame.height });
          const region = boxesRegion(frame.boxes, frame.width, frame.height);
          const crop = region ? cropAround(region, frame.width, frame.height) : null;
          const small = crop !== null && crop.width * crop.height <= CROP_MAX_AREA * frame.width * frame.height;
          const detections = await classifier.detect(rgb, small ? crop : undefined);
          const labels = mergeDetections(detections, settings.minConfidence);
          if (stopped) return;
          publishEarly({ camera: camera.id, startedAtMs: atMs, labels, ms: Date.now() - atMs, frame: { width: frame.width, height: frame.height } });
          logger.info({ camera: camera.id, labels: labels.map((l) => `${l.subLabel}:${l.confidence}`), ms: Date.now() - atMs, crop: small }, 'labels: early classification');
        } catch (error) {
          if (stopped) return;
          const code = (error as { code?: unknown }).code;
          logger[code === 'CLASSIFY_CLOSED' ? 'debug' : 'warn']({ err: error, camera: camera.id }, 'labels: early classification failed; alerts treat the labels as unknown');
          publishEarly({ camera: camera.id, startedAtMs: atMs, labels: null, ms: Date.now() - atMs });
        }
      };

      const finish = (): void => {
        const event = open;
        if (!event) return;
        open = null;
        if (event.timer) clearTimeout(event.timer);
        // The frame is classified from a copy of its own: the buffer is reused by the next event.
        const frame = event.bytes > 0 && buffer ? { data: Buffer.from(buffer.subarray(0, event.bytes)), width: event.width, height: event.height, boxes: event.boxes } : null;
        if (started.includes(event.atMs)) track(classify(event.atMs, frame));
        else unconfirmed = { atMs: event.atMs, frame };
      };

      /** Classifies the open event once its delay is over, its start notice came and a frame is kept. */
      const finishWhenDue = (event: OpenEarly): void => {
        if (open === event && event.timer === null && event.bytes > 0 && started.includes(event.atMs)) finish();
      };

      const detachers = [
        camera.onEventStart((event) => {
          if (event.kind !== 'motion') return;
          started.push(event.atMs);
          while (started.length > 8) started.shift();
          // The notice follows the trigger by the JPEG's encoding: if the delay (or the event) has passed meanwhile, classify now.
          if (open?.atMs === event.atMs) finishWhenDue(open);
          if (unconfirmed?.atMs === event.atMs) {
            track(classify(unconfirmed.atMs, unconfirmed.frame));
            unconfirmed = null;
          }
        }),
        camera.onMotion((active, atMs) => {
          if (!active) {
            finish();
            return;
          }
          if (open) return;
          const event: OpenEarly = { atMs, bestScore: -1, boxes: [], width: 0, height: 0, bytes: 0, timer: null };
          open = event;
          event.timer = setTimeout(
            () => {
              event.timer = null;
              finishWhenDue(event);
            },
            Math.max(0, settings.earlyDelayMs - (Date.now() - atMs)),
          );
          event.timer.unref();
        }),
        camera.onSample((sample, frame) => {
          const event = open;
          if (!event || !frame || sample.boxes.length === 0 || sample.score <= event.bestScore) return;
          // Copied now: the frame's buffer goes back to the capture's pool after this call.
          if (!buffer || buffer.length < frame.data.length) buffer = Buffer.allocUnsafe(frame.data.length);
          frame.data.copy(buffer, 0, 0, frame.data.length);
          event.bestScore = sample.score;
          event.boxes = sample.boxes;
          event.width = frame.width;
          event.height = frame.height;
          event.bytes = frame.data.length;
          // On a loaded machine the detector reports the trigger late, and the delay may be over
          // before any frame of the event was kept: the first one is classified then.
          finishWhenDue(event);
        }),
      ];
      const detach = (): void => {
        for (const d of detachers.splice(0)) d();
        if (open?.timer) clearTimeout(open.timer);
        open = null;
        buffer = null;
        watchers.delete(detach);
      };
      watchers.add(detach);
      return detach;
    },
    onEarly: earlyEmitter.on,
    reportEarly(camera, startedAtMs, labels) {
      if (!stopped) publishEarly({ camera, startedAtMs, labels, ms: Date.now() - startedAtMs });
    },
    earlyAt(camera, startedAtMs) {
      return earlies.find((e) => e.camera === camera && e.startedAtMs === startedAtMs);
    },
    earlyFor,
    record,
    onLabelled: labelled.on,
    async catchUp(now = Date.now()) {
      if (!classifier || stopped) return 0;
      const recent = options
        .store()
        .list({ kind: 'motion', limit: 200 })
        .items.filter((r) => r.labels === null && r.files.snapshot !== null && Date.parse(r.startedAt) >= now - CATCH_UP_WINDOW_MS)
        .slice(0, CATCH_UP_MAX)
        .reverse();
      let done = 0;
      for (const row of recent) {
        if (stopped) break;
        try {
          await label(row.id);
          done++;
        } catch (error) {
          if (stopped) break;
          logger.warn({ err: error, id: row.id }, 'labels: event not classified at start');
        }
      }
      if (recent.length) logger.info({ classified: done, found: recent.length }, 'labels: caught up with unclassified events');
      return done;
    },
    status() {
      const stats: ClassifierStats = classifier?.stats() ?? {
        loaded: false,
        backend: null,
        loadMs: null,
        events: 0,
        inferences: 0,
        failures: 0,
        lastEventMs: null,
        meanEventMs: null,
        meanInferenceMs: null,
        queued: 0,
      };
      const early: EarlyLabelsStatus = {
        enabled: earlyOn,
        delayMs: settings.earlyDelayMs,
        events: earlyStats.events,
        failures: earlyStats.failures,
        lastMs: earlyStats.lastMs,
        meanMs: earlyStats.events ? Math.round(earlyStats.totalMs / earlyStats.events) : null,
      };
      return { ...stats, enabled: settings.enabled, minConfidence: settings.minConfidence, skipped, early };
    },
    async stop() {
      stopped = true;
      unsubscribe();
      for (const detach of [...watchers]) detach();
      await classifier?.close();
      await Promise.all([...pending]);
    },
  };
}
