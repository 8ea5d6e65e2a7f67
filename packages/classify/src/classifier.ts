import type { EventLabel } from '@preroll/layout';
import { ClassifyError } from './errors';
import { cropAround, mergeDetections, type Detection, type Rect } from './geometry';
import { modelInput, type RgbImage } from './image';
import { defaultModelDir, loadModel, MODEL_INPUT, type LoadedModel } from './model';
import { COCO_CLASSES, taxonomyOf } from './taxonomy';

/** Default lowest confidence that labels an event (chosen on the labelled set, docs/benchmarks.md). */
export const DEFAULT_MIN_CONFIDENCE = 0.4;
/** Raw detections below this score are dropped at once (CenterNet returns 100 candidates, most near 0). */
const DETECTION_FLOOR = 0.1;
/** A motion region covering more than this share of the frame is not worth a second, cropped pass. */
const CROP_MAX_AREA = 0.5;
/** Most images one event may send (the snapshot, a peak frame, ...). */
export const MAX_EVENT_IMAGES = 4;

/** Options of {@link createClassifier}. */
export interface ClassifierOptions {
  /** 0..1; detections below it never label an event. Default {@link DEFAULT_MIN_CONFIDENCE}. */
  readonly minConfidence?: number;
  /** Folder with `centernet.json` and `centernet.bin`; default: the one the npm package ships. */
  readonly modelDir?: string;
  /** Most classifications waiting at once (a waiting one holds only its paths or buffers; one is decoded at a time). Default 8. */
  readonly maxQueued?: number;
  /** Margin around the motion region, percent of its size on each side. Default 25. */
  readonly marginPct?: number;
}

/** What one event needs classified. */
export interface EventImages {
  /** Encoded images (paths or buffers) or RGB frames of the event, best first; at most {@link MAX_EVENT_IMAGES}. */
  readonly images: ReadonlyArray<string | Buffer | RgbImage>;
  /** Where the motion was, in frame pixels (all images are the same frame size); null: unknown. */
  readonly motion?: Rect | null;
}

/** The labels of one event and what they cost. */
export interface EventClassification {
  readonly labels: EventLabel[];
  /** Wall time of the whole event's classification, milliseconds (includes decoding, excludes the model load). */
  readonly ms: number;
  readonly inferences: number;
}

/** Figures for the System panel and `/api/status`. */
export interface ClassifierStats {
  readonly loaded: boolean;
  /** The runtime backend once loaded (`wasm`). */
  readonly backend: string | null;
  readonly loadMs: number | null;
  readonly events: number;
  readonly inferences: number;
  readonly failures: number;
  /** Milliseconds the last event's classification took. */
  readonly lastEventMs: number | null;
  /** Mean milliseconds per event over the events so far. */
  readonly meanEventMs: number | null;
  /** Mean milliseconds per inference (one 512×512 pass). */
  readonly meanInferenceMs: number | null;
  readonly queued: number;
}

/** Labels events with an on-device COCO detector. One classification runs at a time. */
export interface Classifier {
  /** One detector pass over an image or part of it: every kept detection above a low floor, in image pixels. */
  detect(source: string | Buffer | RgbImage, crop?: Rect): Promise<Detection[]>;
  /** The labels of an event: each image whole and, when the motion was small, cropped around it. */
  classifyEvent(input: EventImages): Promise<EventClassification>;
  stats(): ClassifierStats;
  /** Ends the detector's thread at once (a classification under way fails with `CLASSIFY_CLOSED`) and frees the model. Idempotent. */
  close(): Promise<void>;
}

/**
 * Creates a classifier. Nothing is loaded until the first classification (the model and its
 * runtime take about 30 MB and half a second), and then only once. Classifications are queued
 * and run one at a time so memory stays bounded whatever the event rate; past `maxQueued` a
 * request fails with `CLASSIFY_BUSY` instead of piling up.
 */
export function createClassifier(options: ClassifierOptions = {}): Classifier {
  const minConfidence = options.minConfidence ?? DEFAULT_MIN_CONFIDENCE;
  if (!(minConfidence >= 0 && minConfidence <= 1)) throw new ClassifyError('CLASSIFY_BAD_IMAGE', `minConfidence must be 0..1, got ${minConfidence}`, minConfidence);
  const maxQueued = options.maxQueued ?? 8;
  const marginPct = options.marginPct ?? 25;
  let model: Promise<LoadedModel> | null = null;
  let loaded: LoadedModel | null = null;
  let loadMs: number | null = null;
  let tail: Promise<unknown> = Promise.resolve();
  let queued = 0;
  let closed = false;
  let events = 0;
  let inferences = 0;
  let failures = 0;
  let eventMsTotal = 0;
  let inferenceMsTotal = 0;
  let lastEventMs: number | null = null;
  const closing = new AbortController();

  const getModel = (): Promise<LoadedModel> => {
    if (!model) {
      const started = performance.now();
      model = loadModel(options.modelDir ?? defaultModelDir(), closing.signal).then((m) => {
        loaded = m;
        loadMs = Math.round(performance.now() - started);
        return m;
      });
      // A failed load is retried by the next event rather than cached forever.
      model.catch(() => {
        model = null;
      });
    }
    return model;
  };

  const serial = <T>(job: () => Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(new ClassifyError('CLASSIFY_CLOSED', 'the classifier is closed'));
    if (queued >= maxQueued) return Promise.reject(new ClassifyError('CLASSIFY_BUSY', `${queued} classifications are already waiting`, queued));
    queued++;
    // Work still waiting when close() is called is refused rather than run: closing waits only for the one running.
    const run = tail
      .then(() => (closed ? Promise.reject(new ClassifyError('CLASSIFY_CLOSED', 'the classifier was closed before this classification started')) : job()))
      .finally(() => {
        queued--;
      });
    tail = run.catch((error: unknown) => error);
    return run;
  };

  const detectNow = async (source: string | Buffer | RgbImage, crop?: Rect): Promise<{ detections: Detection[]; width: number; height: number }> => {
    const m = await getModel();
    const input = await modelInput(source, crop);
    const started = performance.now();
    const raw = await m.detect(input.rgb);
    inferences++;
    inferenceMsTotal += performance.now() - started;
    const region = crop ?? { x: 0, y: 0, width: input.width, height: input.height };
    const sx = region.width / MODEL_INPUT;
    const sy = region.height / MODEL_INPUT;
    const out: Detection[] = [];
    for (const [x1, y1, x2, y2, score, cls] of raw) {
      if (!(score >= DETECTION_FLOOR)) continue;
      const subLabel = COCO_CLASSES[Math.round(cls)];
      const label = subLabel === undefined ? null : taxonomyOf(subLabel);
      if (!label) continue;
      const left = Math.max(0, Math.min(MODEL_INPUT, x1));
      const top = Math.max(0, Math.min(MODEL_INPUT, y1));
      const right = Math.max(left, Math.min(MODEL_INPUT, x2));
      const bottom = Math.max(top, Math.min(MODEL_INPUT, y2));
      out.push({ label, subLabel, confidence: score, box: { x: region.x + left * sx, y: region.y + top * sy, width: (right - left) * sx, height: (bottom - top) * sy } });
    }
    return { detections: out, width: input.width, height: input.height };
  };

  return {
    detect(source, crop) {
      return serial(async () => (await detectNow(source, crop)).detections);
    },
    classifyEvent(input) {
      if (input.images.length > MAX_EVENT_IMAGES) {
        return Promise.reject(new ClassifyError('CLASSIFY_BAD_IMAGE', `at most ${MAX_EVENT_IMAGES} images per event, got ${input.images.length}`, input.images.length));
      }
      return serial(async () => {
        await getModel();
        const started = performance.now();
        const before = inferences;
        try {
          const all: Detection[] = [];
          for (const image of input.images) {
            const size = await detectNow(image);
            all.push(...size.detections);
            const motion = input.motion;
            if (!motion) continue;
            const crop = cropAround(motion, size.width, size.height, marginPct);
            if (crop.width * crop.height <= CROP_MAX_AREA * size.width * size.height) all.push(...(await detectNow(image, crop)).detections);
          }
          const ms = Math.round(performance.now() - started);
          events++;
          eventMsTotal += ms;
          lastEventMs = ms;
          return { labels: mergeDetections(all, minConfidence), ms, inferences: inferences - before };
        } catch (error) {
          failures++;
          throw error;
        }
      });
    },
    stats() {
      return {
        loaded: loaded !== null,
        backend: loaded?.backend ?? null,
        loadMs,
        events,
        inferences,
        failures,
        lastEventMs,
        meanEventMs: events ? Math.round(eventMsTotal / events) : null,
        meanInferenceMs: inferences ? Math.round(inferenceMsTotal / inferences) : null,
        queued,
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      closing.abort();
      await tail;
      loaded?.dispose();
      loaded = null;
      model = null;
    },
  };
}
