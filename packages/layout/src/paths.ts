import { LayoutError } from './errors';
import { isSafeId } from './ids';

/**
 * Where a recording's files live, relative to the data directory (one folder per local day):
 *
 *   events/YYYY-MM-DD/<id>.mp4         the clip (a photo's "clip" is its JPEG)
 *   events/YYYY-MM-DD/<id>.jpg         snapshot
 *   events/YYYY-MM-DD/<id>.thumb.jpg   thumbnail
 *   events/YYYY-MM-DD/<id>.heat.png    motion heat-map (optional)
 *   events/YYYY-MM-DD/<id>.json        the sidecar, written last and atomically
 *   events/YYYY-MM-DD/<id>.part.mp4    while recording: fragmented MP4, crash-safe
 *   events/YYYY-MM-DD/<id>.part.meta   while recording: what recovery needs for the sidecar
 */

/** The folder, under the data directory, that holds every recording. */
export const EVENTS_DIR = 'events';

/** Suffix of a partial clip's fragmented MP4. */
export const PART_CLIP_SUFFIX = '.part.mp4';
/** Suffix of a partial clip's info file. */
export const PART_INFO_SUFFIX = '.part.meta';

/** The files of a recording, relative to the data directory. */
export interface RecordingPaths {
  readonly dir: string;
  readonly clip: string;
  readonly snapshot: string;
  readonly thumbnail: string;
  readonly heatmap: string;
  readonly sidecar: string;
  readonly partClip: string;
  readonly partInfo: string;
}

/** Where the files of recording `id` go: `events/<YYYY-MM-DD from the id>/<id>.*`. Throws `LAYOUT_BAD_ID`. */
export function recordingPaths(id: string): RecordingPaths {
  const day = /^(\d{4}-\d{2}-\d{2})_/.exec(id)?.[1];
  if (!isSafeId(id) || !day) throw new LayoutError('LAYOUT_BAD_ID', `recording id "${id}" does not start with a YYYY-MM-DD_ date`, id);
  const dir = `${EVENTS_DIR}/${day}`;
  return {
    dir,
    clip: `${dir}/${id}.mp4`,
    snapshot: `${dir}/${id}.jpg`,
    thumbnail: `${dir}/${id}.thumb.jpg`,
    heatmap: `${dir}/${id}.heat.png`,
    sidecar: `${dir}/${id}.json`,
    partClip: `${dir}/${id}${PART_CLIP_SUFFIX}`,
    partInfo: `${dir}/${id}${PART_INFO_SUFFIX}`,
  };
}

/**
 * The sidecar path of a recording, relative to the data directory: beside its clip. (A sidecar
 * copied from elsewhere may sit in another day folder than its id says; its clip path says where.)
 */
export function sidecarPathOf(sidecar: { readonly id: string; readonly files: { readonly clip: string } }): string {
  const clip = sidecar.files.clip;
  return `${clip.slice(0, clip.lastIndexOf('/'))}/${sidecar.id}.json`;
}

/** True for a forward-slash path that stays inside the data directory (no `..`, not absolute). */
export function isSafeRelativePath(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 1000) return false;
  if (value.includes('\\') || value.includes('\0') || value.startsWith('/') || /^[A-Za-z]:/.test(value)) return false;
  return value.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}
