/**
 * The sidecar JSON written next to every recording (see `paths.ts` for the layout). It is the
 * source of truth the SQLite index is rebuilt from, so it carries everything a row holds. Paths
 * are relative to the data directory and use forward slashes. Written last, atomically: a
 * recording whose sidecar exists is complete.
 */

import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from './atomic';
import { LayoutError } from './errors';
import { isSafeId, RECORDING_KINDS, type RecordingKind } from './ids';
import { isSafeRelativePath } from './paths';

/** One point of the per-frame motion score series, relative to the clip's first frame. */
export interface ScorePoint {
  /** Milliseconds since the first frame of the clip. */
  readonly tMs: number;
  readonly score: number;
}

/** Contents of `<id>.json`. */
export interface EventSidecar {
  readonly version: 1;
  /** Stable id, also the file base name; matches /^[A-Za-z0-9_-]{1,100}$/. */
  readonly id: string;
  /** Camera id from the config; `cam` for a single-camera setup. */
  readonly camera: string;
  readonly kind: RecordingKind;
  /** ISO-8601 wall time of the clip's first frame. */
  readonly startedAt: string;
  /** ISO-8601 wall time of the clip's last frame (plus one frame duration). */
  readonly endedAt: string;
  /** ISO-8601 wall time of the trigger (motion start or manual start); null for segments. */
  readonly triggeredAt: string | null;
  /** How much video precedes the trigger in the clip, in milliseconds. */
  readonly preRollMs: number;
  readonly durationS: number;
  readonly frames: number;
  readonly width: number;
  readonly height: number;
  readonly triggerLevel: number | null;
  readonly peakScore: number | null;
  readonly scores: readonly ScorePoint[];
  /** Files of this recording, relative to the data directory. */
  readonly files: {
    readonly clip: string;
    readonly snapshot?: string;
    readonly thumbnail?: string;
    readonly heatmap?: string;
  };
  /** Size of the clip file in bytes. */
  readonly bytes: number;
  /** The frame and crop the thumbnail was cut from; absent in sidecars written before thumbnails followed the peak. */
  readonly thumbnailFrom?: ThumbnailSource;
  readonly favorite?: boolean;
  /**
   * What started the event: `video` (the motion detector) and/or the names of sensors, in the
   * order they fired; absent for recordings without a cue (manual, segments, older files).
   */
  readonly cues?: readonly string[];
  /** Someone looked at it in the gallery; absent means not yet (kept here so a rebuilt index keeps it). */
  readonly reviewed?: boolean;
  /** Where the recording is in its upload to remote storage; absent means `none`. */
  readonly uploadState?: UploadState;
  /**
   * Set when the clip was removed from this device after an upload: the recording stays in
   * the index (images and this sidecar are kept) and the clip lives at `remote` only.
   */
  readonly offloaded?: Offloaded;
  /**
   * What the object detector saw in the event's best frames, strongest first. Absent: not
   * classified (labels off, not yet done, or a recording from before labels); `[]`: classified
   * and nothing was found ("motion only").
   */
  readonly labels?: readonly EventLabel[];
  /**
   * Where the video breaks: the camera restarted inside the clip (new controls: the clip goes on
   * after a gap) or the clip was ended by a restart (a new frame size or encoder: the recording
   * continues in a new clip). Absent: no break.
   */
  readonly discontinuities?: readonly Discontinuity[];
}

/** Why the video of a recording breaks. */
export type DiscontinuityReason = 'camera-restart';

/** Every discontinuity reason. */
export const DISCONTINUITY_REASONS: readonly DiscontinuityReason[] = ['camera-restart'];

/** Most discontinuities one sidecar holds (each is a camera restart a user asked for). */
export const MAX_DISCONTINUITIES = 64;

/** A break in a recording's video. */
export interface Discontinuity {
  /** Milliseconds since the clip's first frame (the scale of `scores`) of the last frame before the break. */
  readonly atMs: number;
  readonly reason: DiscontinuityReason;
  /** The dotted configuration keys whose change restarted the camera (`camera.controls.awb`, `camera.width`). */
  readonly keys: readonly string[];
  /** How long no frame came (last frame before to first frame after), when known. */
  readonly gapMs: number | null;
  /** True when the recording ends at the break (it goes on in a new clip); false when the clip spans the gap. */
  readonly ended: boolean;
}

/** The coarse classes an event is labelled with. */
export type LabelName = 'person' | 'animal' | 'vehicle' | 'other';

/** Every label name, in the order the gallery shows them. */
export const LABEL_NAMES: readonly LabelName[] = ['person', 'animal', 'vehicle', 'other'];

/** Most labels one sidecar may hold (one per sub-label is kept; COCO has 80 classes). */
export const MAX_LABELS = 80;

/** One object found in an event. */
export interface EventLabel {
  readonly label: LabelName;
  /** The detector's own class, lower case (a COCO class such as `bird`, `cat`, `car`). */
  readonly subLabel: string;
  /** 0..1, the detector's score of the best sighting. */
  readonly confidence: number;
  /** Where it was, in frame pixels: `[x, y, width, height]`. */
  readonly box: readonly [number, number, number, number];
}

/**
 * Where a thumbnail was cut from: the frame where the subject was most visible (the peak
 * score), cropped around its motion boxes.
 */
export interface ThumbnailSource {
  /** The frame's time in the clip, milliseconds since its first frame (the scale of `scores`). */
  readonly tMs: number;
  /** The crop, in pixels of the frame. */
  readonly crop: { readonly x: number; readonly y: number; readonly width: number; readonly height: number };
}

/** Where an uploaded clip went when its local copy was removed. */
export interface Offloaded {
  /** ISO-8601 time the local clip was removed. */
  readonly at: string;
  /** The rclone destination of the clip (`remote:folder/file.mp4`, secrets redacted). */
  readonly remote: string;
}

/** Upload state of a recording (rclone upload is a later feature; the store keeps the state). */
export type UploadState = 'none' | 'pending' | 'uploaded' | 'failed';

/** Every upload state. */
export const UPLOAD_STATES: readonly UploadState[] = ['none', 'pending', 'uploaded', 'failed'];

/** A cue's name: `video` or a sensor name. */
const CUE_NAME = /^[a-z0-9_-]{1,40}$/;
/** Most cues one recording lists (the video cue and every sensor of a camera, with room). */
const MAX_CUES = 16;

/** The sidecar format version this build reads and writes. */
export const SIDECAR_VERSION = 1;

/**
 * Checks a parsed JSON value against the sidecar schema and returns it typed. Unknown extra
 * fields are kept (a newer recorder may add optional ones). `source` names the file in errors.
 * Throws `LAYOUT_SIDECAR_VERSION` for another version and `LAYOUT_SIDECAR_INVALID` (with the
 * field name as `value`) for anything else.
 */
export function parseSidecar(value: unknown, source = 'sidecar'): EventSidecar {
  const bad = (field: string, why: string): never => {
    throw new LayoutError('LAYOUT_SIDECAR_INVALID', `${source}: field "${field}" ${why}`, field);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad('(root)', 'must be an object');
  const o = value as Record<string, unknown>;
  if (o.version !== SIDECAR_VERSION) {
    if (typeof o.version === 'number') {
      throw new LayoutError('LAYOUT_SIDECAR_VERSION', `${source}: sidecar version ${o.version} is not supported (this build reads ${SIDECAR_VERSION})`, o.version);
    }
    bad('version', `must be ${SIDECAR_VERSION}`);
  }
  if (typeof o.id !== 'string' || !isSafeId(o.id)) bad('id', 'must match /^[A-Za-z0-9_-]{1,100}$/');
  if (typeof o.camera !== 'string' || !isSafeId(o.camera)) bad('camera', 'must match /^[A-Za-z0-9_-]{1,100}$/');
  if (!RECORDING_KINDS.includes(o.kind as RecordingKind)) bad('kind', `must be one of ${RECORDING_KINDS.join(', ')}`);
  const startedMs = isoMs(o.startedAt);
  if (startedMs === null) bad('startedAt', 'must be an ISO-8601 date-time');
  const endedMs = isoMs(o.endedAt);
  if (endedMs === null) bad('endedAt', 'must be an ISO-8601 date-time');
  if ((endedMs as number) < (startedMs as number)) bad('endedAt', 'must not be before startedAt');
  if (o.triggeredAt !== null && isoMs(o.triggeredAt) === null) bad('triggeredAt', 'must be an ISO-8601 date-time or null');
  if (!isNonNegative(o.preRollMs)) bad('preRollMs', 'must be a number >= 0');
  if (!isNonNegative(o.durationS)) bad('durationS', 'must be a number >= 0');
  for (const field of ['frames', 'width', 'height', 'bytes'] as const) {
    if (!Number.isSafeInteger(o[field]) || (o[field] as number) < 0) bad(field, 'must be an integer >= 0');
  }
  if (o.triggerLevel !== null && !isFiniteNumber(o.triggerLevel)) bad('triggerLevel', 'must be a number or null');
  if (o.peakScore !== null && !isFiniteNumber(o.peakScore)) bad('peakScore', 'must be a number or null');
  if (!Array.isArray(o.scores)) bad('scores', 'must be an array');
  (o.scores as unknown[]).forEach((p, i) => {
    const point = p as Record<string, unknown> | null;
    if (typeof point !== 'object' || point === null || !isFiniteNumber(point.tMs) || !isFiniteNumber(point.score)) {
      bad(`scores[${i}]`, 'must be {"tMs": number, "score": number}');
    }
  });
  if (typeof o.files !== 'object' || o.files === null || Array.isArray(o.files)) bad('files', 'must be an object');
  const files = o.files as Record<string, unknown>;
  if (!isSafeRelativePath(files.clip)) bad('files.clip', 'must be a relative path inside the data directory');
  for (const key of ['snapshot', 'thumbnail', 'heatmap'] as const) {
    if (files[key] !== undefined && !isSafeRelativePath(files[key])) bad(`files.${key}`, 'must be a relative path inside the data directory');
  }
  if (o.thumbnailFrom !== undefined) {
    const from = o.thumbnailFrom as Record<string, unknown> | null;
    if (typeof from !== 'object' || from === null || Array.isArray(from) || !isNonNegative(from.tMs)) bad('thumbnailFrom', 'must be {"tMs": number >= 0, "crop": {...}}');
    const crop = (from as Record<string, unknown>).crop as Record<string, unknown> | null;
    if (typeof crop !== 'object' || crop === null || !(['x', 'y', 'width', 'height'] as const).every((k) => Number.isSafeInteger(crop[k]) && (crop[k] as number) >= 0)) {
      bad('thumbnailFrom.crop', 'must be {"x","y","width","height"} in whole pixels >= 0');
    }
  }
  if (o.favorite !== undefined && typeof o.favorite !== 'boolean') bad('favorite', 'must be a boolean');
  if (o.cues !== undefined && !(Array.isArray(o.cues) && o.cues.length <= MAX_CUES && o.cues.every((c) => typeof c === 'string' && CUE_NAME.test(c)))) {
    bad('cues', `must be an array of at most ${MAX_CUES} names matching ${CUE_NAME}`);
  }
  if (o.reviewed !== undefined && typeof o.reviewed !== 'boolean') bad('reviewed', 'must be a boolean');
  if (o.uploadState !== undefined && !UPLOAD_STATES.includes(o.uploadState as UploadState)) {
    bad('uploadState', `must be one of ${UPLOAD_STATES.join(', ')}`);
  }
  if (o.offloaded !== undefined) {
    const off = o.offloaded as Record<string, unknown> | null;
    if (typeof off !== 'object' || off === null || Array.isArray(off)) bad('offloaded', 'must be an object');
    if (isoMs(off?.at) === null) bad('offloaded.at', 'must be an ISO-8601 date-time');
    if (typeof off?.remote !== 'string' || off.remote.length === 0 || off.remote.length > 2000) bad('offloaded.remote', 'must be a non-empty string');
  }
  if (o.labels !== undefined) checkLabels(o.labels, bad);
  if (o.discontinuities !== undefined) checkDiscontinuities(o.discontinuities, bad);
  return value as EventSidecar;
}

const SUB_LABEL_PATTERN = /^[a-z][a-z ]{0,39}$/;

/** The dotted key of a configuration change, as `changedKeys` names it. */
const CONFIG_KEY = /^[A-Za-z0-9_.-]{1,120}$/;

function checkDiscontinuities(value: unknown, bad: (field: string, why: string) => never): void {
  if (!Array.isArray(value) || value.length > MAX_DISCONTINUITIES) bad('discontinuities', `must be an array of at most ${MAX_DISCONTINUITIES} breaks`);
  (value as unknown[]).forEach((d, i) => {
    if (typeof d !== 'object' || d === null || Array.isArray(d)) bad(`discontinuities[${i}]`, 'must be an object');
    const one = d as Record<string, unknown>;
    if (!isFiniteNumber(one.atMs) || one.atMs < 0) bad(`discontinuities[${i}].atMs`, 'must be a number >= 0');
    if (!DISCONTINUITY_REASONS.includes(one.reason as DiscontinuityReason)) bad(`discontinuities[${i}].reason`, `must be one of ${DISCONTINUITY_REASONS.join(', ')}`);
    if (!Array.isArray(one.keys) || one.keys.length > 64 || !one.keys.every((k) => typeof k === 'string' && CONFIG_KEY.test(k))) bad(`discontinuities[${i}].keys`, 'must be at most 64 configuration keys');
    if (one.gapMs !== null && (!isFiniteNumber(one.gapMs) || one.gapMs < 0)) bad(`discontinuities[${i}].gapMs`, 'must be a number >= 0 or null');
    if (typeof one.ended !== 'boolean') bad(`discontinuities[${i}].ended`, 'must be a boolean');
  });
}

function checkLabels(value: unknown, bad: (field: string, why: string) => never): void {
  if (!Array.isArray(value) || value.length > MAX_LABELS) bad('labels', `must be an array of at most ${MAX_LABELS} labels`);
  (value as unknown[]).forEach((item, i) => {
    const l = item as Record<string, unknown> | null;
    if (typeof l !== 'object' || l === null || Array.isArray(l)) bad(`labels[${i}]`, 'must be an object');
    const one = l as Record<string, unknown>;
    if (!LABEL_NAMES.includes(one.label as LabelName)) bad(`labels[${i}].label`, `must be one of ${LABEL_NAMES.join(', ')}`);
    if (typeof one.subLabel !== 'string' || !SUB_LABEL_PATTERN.test(one.subLabel)) bad(`labels[${i}].subLabel`, 'must be 1-40 lower-case letters or spaces');
    if (!isFiniteNumber(one.confidence) || one.confidence < 0 || one.confidence > 1) bad(`labels[${i}].confidence`, 'must be a number 0..1');
    const box = one.box as unknown[];
    if (!Array.isArray(box) || box.length !== 4 || !box.every((v) => isNonNegative(v) && (v as number) <= 65536)) {
      bad(`labels[${i}].box`, 'must be [x, y, width, height] in pixels');
    }
  });
}

/**
 * Reads and validates a sidecar file. Besides the schema (see {@link parseSidecar}) the file
 * name must be `<id>.json`, so a copied or renamed sidecar cannot shadow another recording.
 * Error codes: `LAYOUT_SIDECAR_UNREADABLE` (cause has the errno), `LAYOUT_SIDECAR_BAD_JSON`,
 * `LAYOUT_SIDECAR_VERSION`, `LAYOUT_SIDECAR_INVALID`.
 */
export async function readSidecar(filePath: string): Promise<EventSidecar> {
  let text: string;
  try {
    text = await fsp.readFile(filePath, 'utf8');
  } catch (error) {
    throw new LayoutError('LAYOUT_SIDECAR_UNREADABLE', `cannot read sidecar ${filePath}: ${(error as Error).message}`, filePath, { cause: error });
  }
  return parseSidecarText(text, filePath);
}

/** Parses the text of a sidecar file found at `filePath` (checks JSON, schema and file name). */
export function parseSidecarText(text: string, filePath: string): EventSidecar {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new LayoutError('LAYOUT_SIDECAR_BAD_JSON', `sidecar ${filePath} is not valid JSON: ${(error as Error).message}`, filePath, { cause: error });
  }
  const sidecar = parseSidecar(json, filePath);
  checkFileName(filePath, sidecar.id);
  return sidecar;
}

/**
 * Writes a sidecar so that readers only ever see the old or the new complete file (see
 * {@link writeFileAtomic}: temporary file, fsync, rename, fsync of the directory). Throws
 * `LAYOUT_SIDECAR_INVALID` before touching the disk, and `LAYOUT_WRITE_FAILED` (cause has the
 * errno, e.g. `ENOSPC`) when writing fails.
 */
export async function writeSidecarAtomic(filePath: string, sidecar: EventSidecar): Promise<void> {
  parseSidecar(sidecar, filePath);
  checkFileName(filePath, sidecar.id);
  await writeFileAtomic(filePath, `${JSON.stringify(sidecar, null, 2)}\n`);
}

function checkFileName(filePath: string, id: string): void {
  if (path.basename(filePath) !== `${id}.json`) {
    throw new LayoutError('LAYOUT_SIDECAR_INVALID', `${filePath}: a sidecar for id "${id}" must be named ${id}.json`, 'id');
  }
}

function isoMs(value: unknown): number | null {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value)) return null;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isNonNegative(value: unknown): value is number {
  return isFiniteNumber(value) && value >= 0;
}
