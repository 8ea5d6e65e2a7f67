/**
 * The sidecar JSON written next to every recording. It is the source of truth the SQLite index
 * is rebuilt from, so it carries everything a row holds. Paths are relative to the data
 * directory and use forward slashes.
 *
 * Layout written by the recorder (one folder per day, local time):
 *   events/YYYY-MM-DD/<id>.mp4        the clip
 *   events/YYYY-MM-DD/<id>.jpg        snapshot of the trigger frame
 *   events/YYYY-MM-DD/<id>.thumb.jpg  small thumbnail
 *   events/YYYY-MM-DD/<id>.heat.png   motion heat-map of the trigger moment (optional)
 *   events/YYYY-MM-DD/<id>.json       this sidecar, written atomically (temp file + rename)
 * where <id> is `YYYY-MM-DD_HH-MM-SS-mmm_<kind>` of the clip start (unique per camera; a
 * `_<camera>` suffix is added for cameras other than the default one).
 */

import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { isErrnoCode, StoreError } from './errors';

/** What kind of recording a row is. */
export type RecordingKind = 'motion' | 'manual' | 'segment' | 'memory' | 'photo';

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
  readonly favorite?: boolean;
  /** Where the recording is in its upload to remote storage; absent means `none`. */
  readonly uploadState?: UploadState;
  /**
   * Set when the clip was removed from this device after an upload: the recording stays in
   * the index (images and this sidecar are kept) and the clip lives at `remote` only.
   */
  readonly offloaded?: Offloaded;
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

/** Every recording kind, in a stable order (for validation and CHECK constraints). */
export const RECORDING_KINDS: readonly RecordingKind[] = ['motion', 'manual', 'segment', 'memory', 'photo'];

/** Every upload state. */
export const UPLOAD_STATES: readonly UploadState[] = ['none', 'pending', 'uploaded', 'failed'];

/** The sidecar format version this build reads and writes. */
export const SIDECAR_VERSION = 1;

/** Ids and camera ids: safe as file names and URL segments. */
const ID_PATTERN = /^[A-Za-z0-9_-]{1,100}$/;

/** The camera id used when none is configured; its recordings carry no `_<camera>` suffix. */
export const DEFAULT_CAMERA = 'cam';

/** Suffix of the temporary file {@link writeSidecarAtomic} renames into place; the watcher and reindex ignore it. */
export const SIDECAR_TEMP_MARKER = '.tmp-';

/**
 * Checks a parsed JSON value against the sidecar schema and returns it typed. Unknown extra
 * fields are kept (a newer recorder may add optional ones). `source` names the file in errors.
 * Throws `STORE_SIDECAR_VERSION` for another version and `STORE_SIDECAR_INVALID` (with the
 * field name as `value`) for anything else.
 */
export function parseSidecar(value: unknown, source = 'sidecar'): EventSidecar {
  const bad = (field: string, why: string): never => {
    throw new StoreError('STORE_SIDECAR_INVALID', `${source}: field "${field}" ${why}`, field);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad('(root)', 'must be an object');
  const o = value as Record<string, unknown>;
  if (o.version !== SIDECAR_VERSION) {
    if (typeof o.version === 'number') {
      throw new StoreError('STORE_SIDECAR_VERSION', `${source}: sidecar version ${o.version} is not supported (this build reads ${SIDECAR_VERSION})`, o.version);
    }
    bad('version', `must be ${SIDECAR_VERSION}`);
  }
  if (typeof o.id !== 'string' || !ID_PATTERN.test(o.id)) bad('id', 'must match /^[A-Za-z0-9_-]{1,100}$/');
  if (typeof o.camera !== 'string' || !ID_PATTERN.test(o.camera)) bad('camera', 'must match /^[A-Za-z0-9_-]{1,100}$/');
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
  if (o.favorite !== undefined && typeof o.favorite !== 'boolean') bad('favorite', 'must be a boolean');
  if (o.uploadState !== undefined && !UPLOAD_STATES.includes(o.uploadState as UploadState)) {
    bad('uploadState', `must be one of ${UPLOAD_STATES.join(', ')}`);
  }
  if (o.offloaded !== undefined) {
    const off = o.offloaded as Record<string, unknown> | null;
    if (typeof off !== 'object' || off === null || Array.isArray(off)) bad('offloaded', 'must be an object');
    if (isoMs(off?.at) === null) bad('offloaded.at', 'must be an ISO-8601 date-time');
    if (typeof off?.remote !== 'string' || off.remote.length === 0 || off.remote.length > 2000) bad('offloaded.remote', 'must be a non-empty string');
  }
  return value as EventSidecar;
}

/**
 * Reads and validates a sidecar file. Besides the schema (see {@link parseSidecar}) the file
 * name must be `<id>.json`, so a copied or renamed sidecar cannot shadow another recording.
 * Error codes: `STORE_SIDECAR_UNREADABLE` (cause has the errno), `STORE_SIDECAR_BAD_JSON`,
 * `STORE_SIDECAR_VERSION`, `STORE_SIDECAR_INVALID`.
 */
export async function readSidecar(filePath: string): Promise<EventSidecar> {
  let text: string;
  try {
    text = await fsp.readFile(filePath, 'utf8');
  } catch (error) {
    throw new StoreError('STORE_SIDECAR_UNREADABLE', `cannot read sidecar ${filePath}: ${(error as Error).message}`, filePath, { cause: error });
  }
  return parseSidecarText(text, filePath);
}

/** Parses the text of a sidecar file found at `filePath` (checks JSON, schema and file name). */
export function parseSidecarText(text: string, filePath: string): EventSidecar {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new StoreError('STORE_SIDECAR_BAD_JSON', `sidecar ${filePath} is not valid JSON: ${(error as Error).message}`, filePath, { cause: error });
  }
  const sidecar = parseSidecar(json, filePath);
  checkFileName(filePath, sidecar.id);
  return sidecar;
}

/**
 * Writes a sidecar so that readers only ever see the old or the new complete file: validate,
 * write a temporary file beside it, fsync it, rename it over `filePath`, fsync the directory.
 * Creates the directory when missing. Throws `STORE_SIDECAR_INVALID` before touching the disk,
 * and `STORE_SIDECAR_WRITE_FAILED` (cause has the errno, e.g. `ENOSPC`) when writing fails; the
 * temporary file is removed in that case.
 */
export async function writeSidecarAtomic(filePath: string, sidecar: EventSidecar): Promise<void> {
  parseSidecar(sidecar, filePath);
  checkFileName(filePath, sidecar.id);
  const dir = path.dirname(filePath);
  const temp = `${filePath}${SIDECAR_TEMP_MARKER}${process.pid}-${randomBytes(4).toString('hex')}`;
  const text = `${JSON.stringify(sidecar, null, 2)}\n`;
  try {
    await fsp.mkdir(dir, { recursive: true });
    const handle = await fsp.open(temp, 'wx');
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(temp, filePath);
  } catch (error) {
    await fsp.rm(temp, { force: true }).catch(() => undefined);
    throw new StoreError('STORE_SIDECAR_WRITE_FAILED', `cannot write sidecar ${filePath}: ${(error as Error).message}`, filePath, { cause: error });
  }
  await syncDirectory(dir);
}

/**
 * The id of a recording that starts at `startedAtMs` (local time, like the day folders):
 * `YYYY-MM-DD_HH-MM-SS-mmm_<kind>`, plus `_<camera>` for a camera other than {@link DEFAULT_CAMERA}.
 */
export function recordingId(startedAtMs: number, kind: RecordingKind, camera: string = DEFAULT_CAMERA): string {
  const d = new Date(startedAtMs);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  const stamp = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}_${p(d.getHours())}-${p(d.getMinutes())}-${p(d.getSeconds())}-${p(d.getMilliseconds(), 3)}`;
  const id = camera === DEFAULT_CAMERA ? `${stamp}_${kind}` : `${stamp}_${kind}_${camera}`;
  if (!ID_PATTERN.test(id)) throw new StoreError('STORE_BAD_QUERY', `camera id "${camera}" makes an invalid recording id`, camera);
  return id;
}

/** The files of a recording, relative to the data directory, per the layout in this file's header. */
export interface RecordingPaths {
  readonly dir: string;
  readonly clip: string;
  readonly snapshot: string;
  readonly thumbnail: string;
  readonly heatmap: string;
  readonly sidecar: string;
}

/** Where the files of recording `id` go: `events/<YYYY-MM-DD from the id>/<id>.*`. */
export function recordingPaths(id: string): RecordingPaths {
  const day = /^(\d{4}-\d{2}-\d{2})_/.exec(id)?.[1];
  if (!ID_PATTERN.test(id) || !day) throw new StoreError('STORE_BAD_QUERY', `recording id "${id}" does not start with a YYYY-MM-DD_ date`, id);
  const dir = `events/${day}`;
  return {
    dir,
    clip: `${dir}/${id}.mp4`,
    snapshot: `${dir}/${id}.jpg`,
    thumbnail: `${dir}/${id}.thumb.jpg`,
    heatmap: `${dir}/${id}.heat.png`,
    sidecar: `${dir}/${id}.json`,
  };
}

/** True for a forward-slash path that stays inside the data directory (no `..`, not absolute). */
export function isSafeRelativePath(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 1000) return false;
  if (value.includes('\\') || value.includes('\0') || value.startsWith('/') || /^[A-Za-z]:/.test(value)) return false;
  return value.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

function checkFileName(filePath: string, id: string): void {
  if (path.basename(filePath) !== `${id}.json`) {
    throw new StoreError('STORE_SIDECAR_INVALID', `${filePath}: a sidecar for id "${id}" must be named ${id}.json`, 'id');
  }
}

async function syncDirectory(dir: string): Promise<void> {
  // The rename is durable only once the directory entry is; some file systems (and Windows)
  // refuse to fsync a directory, which only weakens durability, so those refusals are ignored.
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(dir, 'r');
    await handle.sync();
  } catch (error) {
    if (!['EINVAL', 'EISDIR', 'EPERM', 'EBADF'].some((code) => isErrnoCode(error, code))) {
      throw new StoreError('STORE_SIDECAR_WRITE_FAILED', `cannot fsync directory ${dir}: ${(error as Error).message}`, dir, { cause: error });
    }
  } finally {
    await handle?.close();
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
