import { LayoutError } from './errors';

/** What kind of recording a row is. */
export type RecordingKind = 'motion' | 'manual' | 'segment' | 'memory' | 'photo';

/** Every recording kind, in a stable order (for validation and CHECK constraints). */
export const RECORDING_KINDS: readonly RecordingKind[] = ['motion', 'manual', 'segment', 'memory', 'photo'];

/** The camera id used when none is configured; its recordings carry no `_<camera>` suffix. */
export const DEFAULT_CAMERA = 'cam';

/** Ids and camera ids: safe as file names and URL segments. */
const ID_PATTERN = /^[A-Za-z0-9_-]{1,100}$/;

/** True for a string that is safe as a recording or camera id (file name and URL segment). */
export function isSafeId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

function stampOf(wallMs: number): { date: string; time: string; ms: string } {
  const d = new Date(wallMs);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return {
    date: `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`,
    time: `${p(d.getHours())}-${p(d.getMinutes())}-${p(d.getSeconds())}`,
    ms: p(d.getMilliseconds(), 3),
  };
}

function checked(id: string, camera: string): string {
  if (!ID_PATTERN.test(id)) throw new LayoutError('LAYOUT_BAD_ID', `camera id "${camera}" makes an invalid recording id`, camera);
  return id;
}

/**
 * The id of a recording that starts at `startedAtMs` (local time, like the day folders):
 * `YYYY-MM-DD_HH-MM-SS-mmm_<kind>`, plus `_<camera>` for a camera other than {@link DEFAULT_CAMERA}.
 */
export function recordingId(startedAtMs: number, kind: RecordingKind, camera: string = DEFAULT_CAMERA): string {
  const s = stampOf(startedAtMs);
  const base = `${s.date}_${s.time}-${s.ms}_${kind}`;
  return checked(camera === DEFAULT_CAMERA ? base : `${base}_${camera}`, camera);
}

/**
 * The id of a saved memory, named after the moment it was asked for: `YYYY-MM-DD_HH-MM-SS-MEMORY`,
 * `-n` for the n-th memory of the same second (n > 1), and `_<camera>` for another camera.
 */
export function memoryId(wallMs: number, camera: string = DEFAULT_CAMERA, n = 1): string {
  const s = stampOf(wallMs);
  return checked(`${s.date}_${s.time}-MEMORY${n > 1 ? `-${n}` : ''}${camera === DEFAULT_CAMERA ? '' : `_${camera}`}`, camera);
}

/**
 * Reads kind, camera and start time back from a recording id made by {@link recordingId} or
 * {@link memoryId} (local time). Throws `LAYOUT_BAD_ID` for anything else.
 */
export function parseRecordingId(id: string): { startedAtMs: number; kind: RecordingKind; camera: string } {
  const memory = /^(\d{4})-(\d{2})-(\d{2})_(\d{2})-(\d{2})-(\d{2})-MEMORY(?:-\d+)?(?:_([A-Za-z0-9_-]+))?$/.exec(id);
  if (memory) {
    const [, y, mo, d, h, mi, s, camera] = memory;
    return { startedAtMs: new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)).getTime(), kind: 'memory', camera: camera ?? DEFAULT_CAMERA };
  }
  const m = /^(\d{4})-(\d{2})-(\d{2})_(\d{2})-(\d{2})-(\d{2})-(\d{3})_([a-z]+)(?:_([A-Za-z0-9_-]+))?$/.exec(id);
  if (!m) throw new LayoutError('LAYOUT_BAD_ID', `"${id}" is not a recording id`, id);
  const [, y, mo, d, h, mi, s, ms, kind, camera] = m;
  if (!RECORDING_KINDS.includes(kind as RecordingKind)) throw new LayoutError('LAYOUT_BAD_ID', `"${id}" has an unknown kind`, id);
  const startedAtMs = new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Number(ms)).getTime();
  return { startedAtMs, kind: kind as RecordingKind, camera: camera ?? DEFAULT_CAMERA };
}
