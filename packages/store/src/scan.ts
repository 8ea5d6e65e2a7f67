import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { RecordingErrorCode } from './errors';
import { isErrnoCode, isRecordingError, StoreError } from './errors';
import type { EventSidecar } from '@preroll/layout';
import { EVENTS_DIR, readSidecar, TEMP_MARKER } from '@preroll/layout';

/** A sidecar that can be indexed: valid, and its clip is on disk. */
export interface ScannedRecording {
  /** Path of the sidecar, relative to the data directory. */
  readonly sidecarPath: string;
  readonly sidecar: EventSidecar;
  /** Bytes of every file of the recording that exists (clip, images, sidecar). */
  readonly totalBytes: number;
}

/** A sidecar that was not indexed, and why. */
export interface SkippedSidecar {
  readonly path: string;
  readonly code: RecordingErrorCode;
  readonly message: string;
}

/** What an unreferenced file looks like. */
export type OrphanKind =
  /** An `.mp4` no valid sidecar points at (e.g. the recorder died before writing the sidecar, or the sidecar was deleted). */
  | 'clip-without-sidecar'
  /** A leftover temporary file of an interrupted atomic write. */
  | 'temp-file'
  /** Any other file no valid sidecar points at. */
  | 'unreferenced-file';

/** A file under `events/` that belongs to no indexed recording. */
export interface Orphan {
  readonly path: string;
  readonly kind: OrphanKind;
  readonly bytes: number;
}

/** Everything a full scan of `events/` found. */
export interface ScanResult {
  readonly recordings: ScannedRecording[];
  readonly skipped: SkippedSidecar[];
  readonly orphans: Orphan[];
  /** Files seen under `events/`. */
  readonly files: number;
}

/** A file found by {@link listEventFiles}: path relative to the data directory, with its size. */
export interface ListedFile {
  readonly rel: string;
  readonly bytes: number;
}

/** Runs `fn` over `items` with at most `limit` in flight (file systems on SD cards dislike thousands at once). */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Lists every file under `<dataDir>/events`, recursively, with sizes when `withSizes` (a
 * missing events folder is an empty list). Paths use forward slashes.
 */
export async function listEventFiles(dataDir: string, withSizes: boolean): Promise<ListedFile[]> {
  const names: string[] = [];
  const walk = async (relDir: string): Promise<void> => {
    let entries;
    try {
      entries = await fsp.readdir(path.join(dataDir, relDir), { withFileTypes: true });
    } catch (error) {
      if (isErrnoCode(error, 'ENOENT') || isErrnoCode(error, 'ENOTDIR')) return;
      throw error;
    }
    const dirs: string[] = [];
    for (const entry of entries) {
      const rel = `${relDir}/${entry.name}`;
      if (entry.isDirectory()) dirs.push(rel);
      else if (entry.isFile()) names.push(rel);
    }
    await mapLimit(dirs, 4, walk);
  };
  await walk(EVENTS_DIR);
  if (!withSizes) return names.map((rel) => ({ rel, bytes: 0 }));
  const sizes = await mapLimit(names, 32, async (rel) => {
    try {
      return (await fsp.stat(path.join(dataDir, rel))).size;
    } catch (error) {
      if (isErrnoCode(error, 'ENOENT')) return -1;
      throw error;
    }
  });
  return names.map((rel, i) => ({ rel, bytes: sizes[i] })).filter((f) => f.bytes >= 0);
}

/** True for sidecar files (not the temporary files of an atomic write). */
export function isSidecarPath(rel: string): boolean {
  return rel.endsWith('.json') && !rel.includes(TEMP_MARKER);
}

/** The recording id a file name belongs to: everything before the first dot (ids contain no dots). */
export function idOfFile(rel: string): string {
  const base = rel.slice(rel.lastIndexOf('/') + 1);
  const dot = base.indexOf('.');
  return dot === -1 ? base : base.slice(0, dot);
}

/**
 * Measures the files of a sidecar that exist and checks its clip is there. Throws
 * `STORE_CLIP_MISSING` when it is not. `known` is an optional size lookup from a listing.
 */
export async function measureRecording(dataDir: string, sidecarPath: string, sidecar: EventSidecar, known?: Map<string, number>): Promise<number> {
  const sizeOf = async (rel: string): Promise<number | null> => {
    const listed = known?.get(rel);
    if (listed !== undefined) return listed;
    try {
      return (await fsp.stat(path.join(dataDir, rel))).size;
    } catch (error) {
      if (isErrnoCode(error, 'ENOENT') || isErrnoCode(error, 'ENOTDIR')) return null;
      throw error;
    }
  };
  // An offloaded clip is expected to be gone (a copy left behind is still counted).
  const clip = (await sizeOf(sidecar.files.clip)) ?? (sidecar.offloaded ? 0 : null);
  if (clip === null) {
    throw new StoreError('STORE_CLIP_MISSING', `${sidecarPath}: clip ${sidecar.files.clip} is not on disk`, sidecar.files.clip);
  }
  let total = clip + ((await sizeOf(sidecarPath)) ?? 0);
  for (const rel of [sidecar.files.snapshot, sidecar.files.thumbnail, sidecar.files.heatmap]) {
    if (rel !== undefined) total += (await sizeOf(rel)) ?? 0;
  }
  return total;
}

/**
 * Reads every sidecar under `events/`, keeps those that can be indexed, and reports the rest
 * with a reason plus the files no valid sidecar references. Never modifies anything.
 */
export async function scanDataDir(dataDir: string, options: { concurrency?: number } = {}): Promise<ScanResult> {
  const files = await listEventFiles(dataDir, true);
  const sizes = new Map(files.map((f) => [f.rel, f.bytes]));
  const sidecarPaths = files.map((f) => f.rel).filter(isSidecarPath).sort();
  const outcomes = await mapLimit(sidecarPaths, options.concurrency ?? 16, async (rel) => {
    try {
      const sidecar = await readSidecar(path.join(dataDir, rel));
      const totalBytes = await measureRecording(dataDir, rel, sidecar, sizes);
      return { ok: true as const, recording: { sidecarPath: rel, sidecar, totalBytes } };
    } catch (error) {
      if (!isRecordingError(error)) throw error;
      return { ok: false as const, skipped: { path: rel, code: error.code, message: error.message } };
    }
  });

  const recordings: ScannedRecording[] = [];
  const skipped: SkippedSidecar[] = [];
  const ids = new Map<string, string>();
  const clips = new Map<string, string>();
  for (const outcome of outcomes) {
    if (!outcome.ok) {
      skipped.push(outcome.skipped);
      continue;
    }
    const { sidecar, sidecarPath } = outcome.recording;
    const clash = ids.get(sidecar.id) ?? clips.get(sidecar.files.clip);
    if (clash !== undefined) {
      skipped.push({ path: sidecarPath, code: 'STORE_DUPLICATE', message: `${sidecarPath}: same id or clip as ${clash}` });
      continue;
    }
    ids.set(sidecar.id, sidecarPath);
    clips.set(sidecar.files.clip, sidecarPath);
    recordings.push(outcome.recording);
  }

  const referenced = new Set<string>();
  for (const r of recordings) {
    referenced.add(r.sidecarPath);
    for (const rel of [r.sidecar.files.clip, r.sidecar.files.snapshot, r.sidecar.files.thumbnail, r.sidecar.files.heatmap]) {
      if (rel !== undefined) referenced.add(rel);
    }
  }
  // Files of a skipped sidecar are reported through that sidecar, not again as orphans.
  const skippedIds = new Set(skipped.map((s) => `${path.posix.dirname(s.path)}/${idOfFile(s.path)}`));
  const orphans: Orphan[] = [];
  for (const f of files) {
    if (referenced.has(f.rel) || isSidecarPath(f.rel)) continue;
    if (skippedIds.has(`${path.posix.dirname(f.rel)}/${idOfFile(f.rel)}`)) continue;
    const kind: OrphanKind = f.rel.includes(TEMP_MARKER) ? 'temp-file' : f.rel.endsWith('.mp4') ? 'clip-without-sidecar' : 'unreferenced-file';
    orphans.push({ path: f.rel, kind, bytes: f.bytes });
  }
  return { recordings, skipped, orphans, files: files.length };
}
