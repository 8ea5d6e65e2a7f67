import { readFileSync } from 'node:fs';
import { CaptureError } from './errors';

/**
 * The Raspberry Pi AI Camera (Sony IMX500) runs an object detector on the sensor. With a
 * `--post-process-file` naming an `imx500_object_detection` stage, rpicam-vid loads the network
 * onto the sensor, and every frame's libcamera metadata carries the network's raw output
 * (`CnnOutputTensor`). `--metadata FILE --metadata-format json` writes that metadata, one JSON
 * object per frame, in frame order. This module reads that stream and decodes the detections;
 * the Pi's CPU does no inference. The formats are described, with where they come from in
 * rpicam-apps, in docs/labels.md ("The AI Camera").
 */

/** The post-processing file the `imx500-all` package installs (SSD MobileNetV2 FPN-Lite 320x320, COCO). */
export const DEFAULT_POST_PROCESS_FILE = '/usr/share/rpi-camera-assets/imx500_mobilenet_ssd.json';

/**
 * The IMX500's full pixel array: the network's input covers it (rpicam-apps sets the inference
 * region to the whole sensor), and `ScalerCrop` is expressed in it.
 */
export const IMX500_SENSOR_SIZE = { width: 4056, height: 3040 } as const;

/** Longest metadata line kept, bytes: longer ones (an input tensor someone enabled) are skipped and counted. */
export const MAX_METADATA_LINE_BYTES = 256 * 1024;

/** A rectangle; in fractions of the frame (0..1) for {@link CameraObject}, in sensor pixels for `ScalerCrop`. */
export interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** One object the sensor's detector found in a frame. */
export interface CameraObject {
  /** Index in the network's class list. */
  readonly classIndex: number;
  /** Name from the post-processing file's `classes` (COCO: `person`, `dog`, `car`...). */
  readonly className: string;
  /** 0..1. */
  readonly confidence: number;
  /** Where, in fractions of the video frame (0..1): left, top, width, height. */
  readonly box: Box;
}

/** What the sensor's detector reported for one video frame, with the frame's timestamp. */
export interface FrameDetections {
  /** The frame's timestamp on the source's timeline (the same `ptsUs` as the frame). */
  readonly ptsUs: number;
  /** The frame's wall-clock time, ms since the epoch (the same `wallMs` as the frame). */
  readonly wallMs: number;
  /** Objects at or above the source's confidence floor, strongest first (empty: none). */
  readonly objects: readonly CameraObject[];
}

/** One frame's metadata record, reduced to the fields the detections need. */
export interface MetadataRecord {
  /** 0-based position in the run's metadata stream: record k belongs to the k-th frame written. */
  readonly index: number;
  /** `CnnOutputTensor`, or null when the frame carried none (the sensor does not infer on every frame). */
  readonly tensor: readonly number[] | null;
  /** `ScalerCrop` (the part of the sensor the video shows), or null when absent. */
  readonly scalerCrop: Box | null;
  /** `SensorTimestamp`, nanoseconds (for logs), or null. */
  readonly sensorTimestampNs: number | null;
}

/** Counters of a metadata stream. */
export interface MetadataStats {
  /** Records (frames) read. */
  readonly records: number;
  /** Records that carried an output tensor. */
  readonly tensors: number;
  /** Lines skipped as unreadable (logged with `CAPTURE_BAD_METADATA`). */
  readonly corrupt: number;
  /** Records whose frame could not be found any more (the metadata lagged too far), dropped. */
  readonly unmatched: number;
}

const KEY_LINE = /^"([A-Za-z0-9_]+)"\s*:\s*(.*?),?$/;
const WANTED = new Set(['CnnOutputTensor', 'ScalerCrop', 'SensorTimestamp']);

/**
 * Splits rpicam-vid's `--metadata-format json` stream into per-frame records. The writer puts
 * `[` first, then for each frame `{`, one `"Name": value` line per control and `}` (with `,`
 * between frames), and `]` when it stops; values never span lines. Parsing is per line so one
 * bad line costs one field, never the record: records are counted by their `{`, which keeps
 * record k paired with frame k. Bounded: a line longer than `maxLineBytes` is dropped as it
 * streams in. Not a general JSON parser: values rpicam-vid writes unquoted that JSON rejects
 * (a `Size` such as `640x480`) are skipped unless they are wanted, then they count as corrupt.
 */
export class MetadataParser {
  private partial = '';
  private skippingLongLine = false;
  private current: { tensor: number[] | null; scalerCrop: Box | null; sensorTimestampNs: number | null } | null = null;
  private index = 0;
  private counts = { records: 0, tensors: 0, corrupt: 0, unmatched: 0 };

  constructor(
    private readonly onRecord: (record: MetadataRecord) => void,
    private readonly onCorrupt: (error: CaptureError) => void,
    private readonly maxLineBytes = MAX_METADATA_LINE_BYTES,
  ) {}

  /** Counters so far (`unmatched` is the caller's, see {@link countUnmatched}). */
  stats(): MetadataStats {
    return { ...this.counts };
  }

  /** Counts a record the caller could not pair with a frame. */
  countUnmatched(): void {
    this.counts.unmatched++;
  }

  /** Feeds a chunk of the stream (any split). */
  push(chunk: string): void {
    let text = chunk;
    for (;;) {
      const newline = text.indexOf('\n');
      if (newline < 0) break;
      const head = text.slice(0, newline);
      text = text.slice(newline + 1);
      if (this.skippingLongLine) {
        this.skippingLongLine = false;
        this.partial = '';
        continue;
      }
      const line = this.partial + head;
      this.partial = '';
      this.line(line.trim());
    }
    if (this.skippingLongLine) return;
    this.partial += text;
    if (this.partial.length > this.maxLineBytes) {
      this.corrupt(`a line longer than ${this.maxLineBytes} bytes`, this.partial.slice(0, 80));
      this.partial = '';
      this.skippingLongLine = true;
    }
  }

  /** The stream ended: a record left open is emitted (its frame was written). */
  end(): void {
    if (this.partial.trim()) this.line(this.partial.trim());
    this.partial = '';
    if (this.current) this.finish();
  }

  private line(line: string): void {
    if (line === '' || line === '[' || line === ']' || line === ',') return;
    if (line === '{' || line === ',{') {
      if (this.current) {
        this.corrupt('a record that was never closed', line);
        this.finish();
      }
      this.current = { tensor: null, scalerCrop: null, sensorTimestampNs: null };
      return;
    }
    if (line === '}' || line === '},') {
      if (!this.current) return this.corrupt('a record closed twice', line);
      this.finish();
      return;
    }
    const match = KEY_LINE.exec(line);
    if (!match || !this.current) return this.corrupt(this.current ? 'not a "Name": value line' : 'a value outside a record', line);
    const [, name, value] = match;
    if (!WANTED.has(name)) return;
    try {
      if (name === 'CnnOutputTensor') this.current.tensor = parseNumberArray(value);
      else if (name === 'ScalerCrop') this.current.scalerCrop = parseRectangle(value);
      else this.current.sensorTimestampNs = parseInteger(value);
    } catch (error) {
      this.corrupt(`${name}: ${(error as Error).message}`, line);
    }
  }

  private finish(): void {
    const record = this.current!;
    this.current = null;
    this.counts.records++;
    if (record.tensor) this.counts.tensors++;
    this.onRecord({ index: this.index++, ...record });
  }

  private corrupt(reason: string, line: string): void {
    this.counts.corrupt++;
    const shown = line.length > 120 ? `${line.slice(0, 120)}…` : line;
    this.onCorrupt(new CaptureError('CAPTURE_BAD_METADATA', `camera metadata line skipped (${reason}): ${shown}`, shown));
  }
}

/** `[ 0.1, 2, 3.5e-05 ]` (libcamera's array text) to numbers; throws on anything else. */
function parseNumberArray(value: string): number[] {
  const text = value.trim();
  if (!text.startsWith('[') || !text.endsWith(']')) throw new Error('not an array');
  const inner = text.slice(1, -1).trim();
  if (inner === '') return [];
  return inner.split(',').map((part) => {
    const n = Number(part.trim());
    if (part.trim() === '' || !Number.isFinite(n)) throw new Error(`"${part.trim().slice(0, 20)}" is not a number`);
    return n;
  });
}

function parseInteger(value: string): number {
  const n = Number(value.trim());
  if (!Number.isSafeInteger(n)) throw new Error('not an integer');
  return n;
}

/**
 * libcamera's `Rectangle` text, `(x, y)/widthxheight`, quoted by rpicam-vid because it holds a
 * `/`. Pure; throws on anything else.
 */
export function parseRectangle(value: string): Box {
  const match = /^"?\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\)\/(\d+)x(\d+)"?$/.exec(value.trim());
  if (!match) throw new Error('not a rectangle "(x, y)/WxH"');
  const [x, y, width, height] = match.slice(1).map(Number);
  if (width === 0 || height === 0) throw new Error('an empty rectangle');
  return { x, y, width, height };
}

/** One detection of the network, in the network input's fractions (0..1), before mapping to the frame. */
export interface TensorDetection {
  readonly classIndex: number;
  readonly confidence: number;
  /** x0, y0, x1, y1 in fractions of the sensor (the network's input). */
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

/**
 * Decodes the output of the SSD MobileNet network with on-sensor post-processing (rpicam-apps'
 * `imx500_object_detection` stage reads the same layout): for N slots, N boxes as four planes
 * (all y0, all x0, all y1, all x1, in fractions of the input), N scores, N class indices, then
 * the number of valid slots; 6N+1 values. Keeps valid slots at or above `minConfidence`,
 * strongest first. Throws `CAPTURE_BAD_METADATA` when the length is not 6N+1. Pure.
 */
export function decodeSsdTensor(tensor: readonly number[], minConfidence: number): TensorDetection[] {
  const slots = (tensor.length - 1) / 6;
  if (!Number.isInteger(slots) || slots < 1) {
    throw new CaptureError('CAPTURE_BAD_METADATA', `CnnOutputTensor has ${tensor.length} values; an SSD detector's has 6N+1`, tensor.length);
  }
  const valid = Math.max(0, Math.min(slots, Math.floor(tensor[6 * slots])));
  const out: TensorDetection[] = [];
  for (let i = 0; i < valid; i++) {
    const confidence = tensor[4 * slots + i];
    if (!(confidence >= minConfidence) || confidence > 1) continue;
    const classIndex = Math.round(tensor[5 * slots + i]);
    out.push({
      classIndex,
      confidence,
      y0: tensor[i],
      x0: tensor[slots + i],
      y1: tensor[2 * slots + i],
      x1: tensor[3 * slots + i],
    });
  }
  return out.sort((a, b) => b.confidence - a.confidence);
}

/**
 * Maps a box in fractions of the sensor into fractions of the video frame: the frame shows the
 * `ScalerCrop` part of the sensor (null: all of it), so the box is clipped to that part and
 * expressed relative to it. Returns null when nothing of the box is in the frame. Pure.
 */
export function sensorBoxToFrame(d: Pick<TensorDetection, 'x0' | 'y0' | 'x1' | 'y1'>, scalerCrop: Box | null, sensor: { width: number; height: number } = IMX500_SENSOR_SIZE): Box | null {
  const crop = scalerCrop ?? { x: 0, y: 0, width: sensor.width, height: sensor.height };
  const clamp = (v: number): number => Math.min(1, Math.max(0, v));
  const left = Math.max(crop.x, clamp(Math.min(d.x0, d.x1)) * sensor.width);
  const right = Math.min(crop.x + crop.width, clamp(Math.max(d.x0, d.x1)) * sensor.width);
  const top = Math.max(crop.y, clamp(Math.min(d.y0, d.y1)) * sensor.height);
  const bottom = Math.min(crop.y + crop.height, clamp(Math.max(d.y0, d.y1)) * sensor.height);
  if (right <= left || bottom <= top) return null;
  return { x: (left - crop.x) / crop.width, y: (top - crop.y) / crop.height, width: (right - left) / crop.width, height: (bottom - top) / crop.height };
}

/**
 * The objects of one metadata record: decoded, named from `classes` (a class with no name, or
 * named `-` as the unused COCO ids are, is left out) and mapped into the frame. Null when the
 * record carries no tensor. Pure; throws `CAPTURE_BAD_METADATA` for a tensor of the wrong shape.
 */
export function recordObjects(record: MetadataRecord, classes: readonly string[], minConfidence: number): CameraObject[] | null {
  if (!record.tensor) return null;
  const objects: CameraObject[] = [];
  for (const d of decodeSsdTensor(record.tensor, minConfidence)) {
    const className = classes[d.classIndex];
    if (!className || className === '-') continue;
    const box = sensorBoxToFrame(d, record.scalerCrop);
    if (box) objects.push({ classIndex: d.classIndex, className, confidence: d.confidence, box });
  }
  return objects;
}

/**
 * The class names of an `imx500_object_detection` post-processing file (its `classes` array,
 * indexed by the network's class index). Throws `CAPTURE_BAD_POST_PROCESS` when the file cannot
 * be read or has no such stage or list.
 */
export function readPostProcessClasses(file: string): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CaptureError('CAPTURE_BAD_POST_PROCESS', `cannot read the AI Camera post-processing file ${file}: ${(error as Error).message} (sudo apt install imx500-all)`, file, { cause: error });
  }
  const stage = (doc as Record<string, unknown> | null)?.imx500_object_detection as Record<string, unknown> | undefined;
  const classes = stage?.classes;
  if (!Array.isArray(classes) || classes.length === 0 || !classes.every((c) => typeof c === 'string')) {
    throw new CaptureError('CAPTURE_BAD_POST_PROCESS', `${file} has no imx500_object_detection stage with a "classes" list: Preroll reads object detection only`, file);
  }
  return classes as string[];
}

/** True when a line of `rpicam-vid --list-cameras` is the AI Camera (sensor `imx500`). Pure. */
export function isAiCameraLine(line: string): boolean {
  return /^\d+\s*:\s*imx500\b/i.test(line.trim());
}

/** Frames a {@link DetectionPairer} remembers the timestamps of: how far the metadata may lag the frames. */
export const PAIRING_WINDOW_FRAMES = 512;
/** Records a {@link DetectionPairer} holds while their frame has not arrived yet. */
const MAX_EARLY_RECORDS = 64;

/**
 * Gives each metadata record its frame's timestamp. rpicam-vid writes one record per frame it
 * outputs, in the same order as the frames and their pts lines, so record k belongs to the run's
 * k-th frame (a frame Preroll dropped still counts: it was read). rpicam-vid buffers the
 * metadata file, so records usually arrive a few frames late; the last
 * {@link PAIRING_WINDOW_FRAMES} frames' timestamps are kept, and a record that arrives before its
 * frame waits (at most 64 of them). One pairer per run of rpicam-vid.
 */
export class DetectionPairer {
  private readonly pts = new Float64Array(PAIRING_WINDOW_FRAMES);
  private readonly wall = new Float64Array(PAIRING_WINDOW_FRAMES);
  private frames = 0;
  private readonly early: MetadataRecord[] = [];

  constructor(
    private readonly options: {
      readonly classes: readonly string[];
      readonly minConfidence: number;
      readonly emit: (detections: FrameDetections) => void;
      /** A record whose frame is out of the window (or never came): dropped. */
      readonly unmatched: () => void;
      /** A record whose tensor is not an SSD detector's: dropped. */
      readonly bad: (error: CaptureError) => void;
    },
  ) {}

  /** The run's next frame was read, with its timestamps. */
  frame(ptsUs: number, wallMs: number): void {
    const slot = this.frames % PAIRING_WINDOW_FRAMES;
    this.pts[slot] = ptsUs;
    this.wall[slot] = wallMs;
    this.frames++;
    while (this.early.length && this.early[0].index < this.frames) this.pair(this.early.shift()!);
  }

  /** The run's next metadata record was read. */
  record(record: MetadataRecord): void {
    if (record.index < this.frames) return this.pair(record);
    if (this.early.length >= MAX_EARLY_RECORDS) {
      this.early.shift();
      this.options.unmatched();
    }
    this.early.push(record);
  }

  private pair(record: MetadataRecord): void {
    if (this.frames - record.index > PAIRING_WINDOW_FRAMES) return this.options.unmatched();
    let objects: CameraObject[] | null;
    try {
      objects = recordObjects(record, this.options.classes, this.options.minConfidence);
    } catch (error) {
      return this.options.bad(error as CaptureError);
    }
    if (objects === null) return;
    const slot = record.index % PAIRING_WINDOW_FRAMES;
    this.options.emit({ ptsUs: this.pts[slot], wallMs: this.wall[slot], objects });
  }
}
