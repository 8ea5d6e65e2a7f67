import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { createEmitter } from '@preroll/process';
import { DEFAULT_CAMERA, MAX_DISCONTINUITIES, recordingId, type Discontinuity } from '@preroll/layout';
import { createClipWriter, type ClipWriter, type ClipWriteSummary } from './clip-writer';
import { RecorderError } from './errors';
import { finishRecording, type FinishedRecording } from './finish';
import { partPaths, writePartInfo, type PartInfo } from './parts';
import { recoverPartialClip } from './recovery';
import type { AccessUnit } from '@preroll/capture';
import type { BreakMark } from './recorder';

/**
 * Continuous recording and the disk-backed look-back: every access unit goes into exactly one
 * MP4 segment, segments are cut right before a keyframe, so consecutive segments join with no
 * frame missing or repeated.
 *
 *   units ──► open segment (fragmented MP4, crash-safe) ──cut at a keyframe──► next segment
 *                 │ continuous on: events/YYYY-MM-DD/<id>.mp4 + sidecar (kind `segment`), indexed
 *                 │ continuous off, look-back on: .lookback/<id>.mp4, not indexed, capped in bytes
 *                 └──► finished list (both kinds): what "save the last N minutes" joins
 */

/** Folder of the hidden look-back segments, inside the data directory (the store does not watch it). */
export const LOOKBACK_DIR = '.lookback';

/** A keyframe this close before the segment length counts as reaching it (timestamps jitter). */
const LENGTH_TOLERANCE_US = 250_000;

/** What an open segment is for. */
export type SegmentKind = 'segment' | 'lookback';

/** What `push` does with a unit (the pure decision of {@link segmentAction}). */
export type SegmentAction =
  /** Append to the open segment. */
  | 'write'
  /** Close the open segment (if any) and start a new one with this keyframe. */
  | 'start'
  /** Close the open segment; this unit goes nowhere (segments were switched off). */
  | 'end'
  /** No segment is open or wanted, or a new one waits for a keyframe: the unit goes nowhere. */
  | 'skip';

/** The open segment as {@link segmentAction} sees it. */
export interface OpenSegmentState {
  readonly kind: SegmentKind;
  readonly firstPtsUs: number;
  /** Bytes of the units written so far. */
  readonly bytes: number;
}

/** What is wanted for the next units. */
export interface SegmentWant {
  /** `segment` (continuous on), `lookback` (only the hidden look-back) or null (nothing). */
  readonly kind: SegmentKind | null;
  /** Target length of a segment of that kind, microseconds. */
  readonly lengthUs: number;
  /** A segment holding this many bytes is cut at the next keyframe (keeps look-back segments well under its cap). */
  readonly maxBytes: number;
  /** Someone asked for a cut (a memory needs the newest video in a finished file). */
  readonly cutRequested: boolean;
}

/**
 * Decides what happens to `unit` (pure). Segments only start at keyframes, so a cut always
 * falls right before a keyframe: the old segment keeps every unit before it and the new one
 * starts with it. A segment is cut when it reached its length (within 250 ms, or a quarter of
 * the length for short ones), its byte limit, when its kind is no longer the wanted one, or
 * on request.
 */
export function segmentAction(open: OpenSegmentState | null, unit: { readonly keyframe: boolean; readonly ptsUs: number }, want: SegmentWant): SegmentAction {
  if (open === null) return unit.keyframe && want.kind !== null ? 'start' : 'skip';
  if (!unit.keyframe) return 'write';
  const toleranceUs = Math.min(LENGTH_TOLERANCE_US, want.lengthUs / 4);
  const cut = want.cutRequested || want.kind !== open.kind || unit.ptsUs - open.firstPtsUs >= want.lengthUs - toleranceUs || open.bytes >= want.maxBytes;
  if (!cut) return 'write';
  return want.kind === null ? 'end' : 'start';
}

/**
 * Which finished look-back segments to delete (indices, oldest first) so that the finished
 * ones plus the open one fit in `maxBytes` (pure). Pinned segments (being joined into a
 * memory right now) are skipped, so the total may stay over the cap until they are released.
 */
export function lookbackEvictions(finishedOldestFirst: ReadonlyArray<{ readonly bytes: number; readonly pinned: boolean }>, openBytes: number, maxBytes: number): number[] {
  let total = openBytes + finishedOldestFirst.reduce((sum, s) => sum + s.bytes, 0);
  const out: number[] = [];
  for (let i = 0; i < finishedOldestFirst.length && total > maxBytes; i++) {
    if (finishedOldestFirst[i].pinned) continue;
    out.push(i);
    total -= finishedOldestFirst[i].bytes;
  }
  return out;
}

/** Options of {@link createSegmenter}. */
export interface SegmenterOptions {
  /** The data directory: continuous segments go to `events/YYYY-MM-DD/`, look-back ones to `.lookback/`. */
  readonly dataDir: string;
  /** Camera id (default `cam`). */
  readonly camera?: string;
  /** Length of continuous segments, seconds (cut at the first keyframe at or after it). Default 60. */
  readonly segmentS?: number;
  /** Record continuous segments from the start. Default false. */
  readonly continuous?: boolean;
  /** Byte cap of the hidden look-back; 0 switches it off. Default 0. */
  readonly lookbackMaxBytes?: number;
  /** Length of hidden look-back segments, seconds. Default 10. */
  readonly lookbackSegmentS?: number;
  /** How far back the list of finished continuous segments reaches (for memories), seconds. Default 7200. */
  readonly keepListS?: number;
  /** fsync the open segment after every fragment. Default true. */
  readonly fsync?: boolean;
  /** Minimum fragment length, milliseconds (fragments start at keyframes). Default 500. */
  readonly fragmentMs?: number;
  /** Nominal frame rate, for the first frame's duration. Default 30. */
  readonly fps?: number;
  readonly thumbnailWidth?: number;
  readonly logger?: Logger;
}

/** A finished segment. */
export interface SegmentRecord {
  readonly kind: SegmentKind;
  /** Recording id (continuous) or file stem (look-back). */
  readonly id: string;
  /** Absolute path of the finished MP4. */
  readonly file: string;
  /** Capture timestamps of the first and last frame; timestamps in the file are relative to the first. */
  readonly firstPtsUs: number;
  readonly lastPtsUs: number;
  readonly firstWallMs: number;
  readonly frames: number;
  readonly bytes: number;
  /** A continuous segment as a finished recording (null for look-back segments, which are not recordings). */
  readonly recording: FinishedRecording | null;
}

/** Counters for the status page and tests. */
export interface SegmenterStats {
  readonly continuous: boolean;
  /** Kind of the segment being written, or null. */
  readonly open: SegmentKind | null;
  readonly segmentsWritten: number;
  readonly segmentsFailed: number;
  /** Finished look-back segments on disk and their bytes (the cap counts these plus the open one). */
  readonly lookbackSegments: number;
  readonly lookbackBytes: number;
  /** Look-back segments deleted to stay under the cap. */
  readonly lookbackEvicted: number;
  /** Capture time covered by the finished segments in the list, seconds. */
  readonly availableS: number;
}

/**
 * The segment writer (see the file comment). Feed it every access unit in stream order.
 */
export interface Segmenter {
  /** Prepares the look-back folder: what a previous run left there is removed (a memory is one stretch of this run's capture). */
  open(): Promise<void>;
  push(unit: AccessUnit): void;
  /** The unit stream broke (encoder restart, camera outage): closes the open segment; the next starts at the next keyframe. */
  discontinuity(reason: string): void;
  /** The camera restarted (see `Recorder.markBreak`): the open continuous segment's sidecar lists the break. */
  markBreak(mark: BreakMark): void;
  /** Switches continuous recording; the open segment is cut at the next keyframe so the next one goes to the right place. */
  setContinuous(on: boolean): void;
  continuous(): boolean;
  /** True when segments are written at all (continuous on, or a look-back cap above 0). */
  active(): boolean;
  /**
   * Ends the open segment right before the next keyframe and resolves with its record once it
   * is final (null when no segment was open, or it failed).
   */
  cut(): Promise<SegmentRecord | null>;
  /** Capture timestamp and wall time of the newest unit seen, or null. */
  newest(): { ptsUs: number; wallMs: number } | null;
  /** Finished segments, oldest first: what a memory can be joined from. */
  finished(): SegmentRecord[];
  /**
   * Keeps look-back segments overlapping [`fromPtsUs`, `toPtsUs`] from being evicted (a memory
   * was asked for that span and is being saved); newer ones are evicted instead while the cap
   * needs it. Returns the release function.
   */
  protect(fromPtsUs: number, toPtsUs: number): () => void;
  /** Listener for finished continuous segments (their sidecar is on disk): index them. */
  onSegment(listener: (record: SegmentRecord) => void): () => void;
  /** Resolves once the segments closed so far are final and evicted look-back files are deleted. */
  settled(): Promise<void>;
  /** Closes the open segment at its last unit and waits until every segment is final. */
  flush(): Promise<void>;
  /** `flush()`, then refuses further input. */
  stop(): Promise<void>;
  stats(): SegmenterStats;
}

interface OpenSegment {
  readonly kind: SegmentKind;
  readonly id: string;
  readonly writer: ClipWriter;
  readonly partFile: string;
  readonly firstPtsUs: number;
  readonly firstWallMs: number;
  readonly width: number;
  readonly height: number;
  lastPtsUs: number;
  bytes: number;
  frames: number;
  readonly breaks: Discontinuity[];
  readonly waiters: Array<(record: SegmentRecord | null) => void>;
}

interface Entry {
  record: SegmentRecord;
}

/** Creates a segmenter (touches no file until `open()` or the first segment). Throws `RECORDER_BAD_OPTIONS`. */
export function createSegmenter(options: SegmenterOptions): Segmenter {
  const camera = options.camera ?? DEFAULT_CAMERA;
  const segmentS = options.segmentS ?? 60;
  const lookbackSegmentS = options.lookbackSegmentS ?? 10;
  const lookbackMaxBytes = options.lookbackMaxBytes ?? 0;
  const keepListUs = (options.keepListS ?? 7200) * 1e6;
  checkRange('segmentS', segmentS, 0.5, 86_400);
  checkRange('lookbackSegmentS', lookbackSegmentS, 0.5, 3600);
  checkRange('lookbackMaxBytes', lookbackMaxBytes, 0, Number.MAX_SAFE_INTEGER);
  if (typeof options.dataDir !== 'string' || options.dataDir.length === 0) throw new RecorderError('RECORDER_BAD_OPTIONS', 'dataDir is required', { key: 'dataDir', value: options.dataDir });
  const log = options.logger;
  const lookbackDir = path.join(options.dataDir, LOOKBACK_DIR);
  const fps = options.fps ?? 30;
  // A look-back segment never holds more than a quarter of the cap, so evicting whole segments keeps the total under it.
  const lookbackSegmentBytes = Math.max(1, Math.floor(lookbackMaxBytes / 4));

  let continuous = options.continuous ?? false;
  let open: OpenSegment | null = null;
  let cutRequested = false;
  let newest: { ptsUs: number; wallMs: number } | null = null;
  let stopped = false;
  const entries: Entry[] = [];
  const closing = new Set<OpenSegment>();
  const protectedSpans = new Set<{ fromPtsUs: number; toPtsUs: number }>();
  const isProtected = (record: SegmentRecord): boolean => [...protectedSpans].some((p) => record.lastPtsUs >= p.fromPtsUs && record.firstPtsUs <= p.toPtsUs);
  const segments = createEmitter<[SegmentRecord]>('segments', log);
  const finalising = new Set<Promise<void>>();
  const counters = { segmentsWritten: 0, segmentsFailed: 0, lookbackEvicted: 0 };

  /** Breaks marked while no continuous segment was open. */
  const pendingBreaks: BreakMark[] = [];
  const addBreak = (segment: OpenSegment, mark: BreakMark): void => {
    if (segment.breaks.length >= MAX_DISCONTINUITIES) return;
    const sinceFirstMs = mark.ptsUs !== undefined && mark.ptsUs !== null ? (mark.ptsUs - segment.firstPtsUs) / 1000 : mark.wallMs - segment.firstWallMs;
    segment.breaks.push({ atMs: Math.max(0, Math.round(sinceFirstMs)), reason: mark.reason, keys: [...mark.keys], gapMs: mark.gapMs, ended: mark.ended });
  };

  const wantedKind = (): SegmentKind | null => (continuous ? 'segment' : lookbackMaxBytes > 0 ? 'lookback' : null);

  const estimateOnDisk = (segment: OpenSegment): number =>
    // mediabunny holds a fragment in RAM until it is complete, so count the units written so far
    // plus the boxes around them (about 24 bytes per sample and a few kB of headers).
    Math.max(segment.writer.fileBytes(), segment.bytes + segment.frames * 24 + 8192);

  // The cap is enforced at keyframes, so leave room for the GOP that follows: the largest one
  // seen recently (decaying, so one burst does not shrink the look-back for good).
  let gopBytes = 0;
  let gopHeadroom = 0;
  const noteUnit = (bytes: number, keyframe: boolean): void => {
    if (keyframe) {
      gopHeadroom = Math.max(gopBytes, Math.round(gopHeadroom * 0.98));
      gopBytes = 0;
    }
    gopBytes += bytes;
  };

  const enforceCap = (): void => {
    if (lookbackMaxBytes <= 0) return;
    const lookback = entries.filter((e) => e.record.kind === 'lookback');
    // Segments closed but not yet final are on disk too (and cannot be evicted before they are).
    let openBytes = (open?.kind === 'lookback' ? estimateOnDisk(open) : 0) + gopHeadroom;
    for (const segment of closing) openBytes += estimateOnDisk(segment);
    const evict = lookbackEvictions(lookback.map((e) => ({ bytes: e.record.bytes, pinned: isProtected(e.record) })), openBytes, lookbackMaxBytes);
    if (!evict.length) return;
    const gone = new Set(evict.map((i) => lookback[i]));
    for (let i = entries.length - 1; i >= 0; i--) if (gone.has(entries[i])) entries.splice(i, 1);
    for (const entry of gone) {
      counters.lookbackEvicted++;
      // Counted as gone at once; the unlink itself takes a moment and cannot fail the recording.
      const deletion = fsp
        .rm(entry.record.file, { force: true })
        .catch((error: unknown) => log?.warn({ err: error, file: entry.record.file }, 'segments: cannot delete a look-back segment'))
        .finally(() => finalising.delete(deletion));
      finalising.add(deletion);
    }
    log?.debug({ evicted: gone.size, lookbackMaxBytes }, 'segments: look-back cap reached; oldest segments deleted');
  };

  const trimList = (): void => {
    if (!newest) return;
    const horizon = newest.ptsUs - keepListUs;
    // Continuous segments stay on disk (retention decides); they only leave the memory list.
    for (let i = entries.length - 1; i >= 0; i--) if (entries[i].record.kind === 'segment' && entries[i].record.lastPtsUs < horizon && !isProtected(entries[i].record)) entries.splice(i, 1);
  };

  const startSegment = (unit: AccessUnit, kind: SegmentKind): void => {
    const id = recordingId(unit.wallMs, 'segment', camera);
    const partFile = kind === 'segment' ? partPaths(options.dataDir, id).clip : path.join(lookbackDir, `${id}.part.mp4`);
    const writer = createClipWriter({ path: partFile, fsync: options.fsync ?? true, fragmentMs: options.fragmentMs ?? 500, frameUs: 1e6 / fps, logger: log });
    open = { kind, id, writer, partFile, firstPtsUs: unit.ptsUs, firstWallMs: unit.wallMs, width: unit.width, height: unit.height, lastPtsUs: unit.ptsUs, bytes: 0, frames: 0, breaks: [], waiters: [] };
    cutRequested = false;
    if (kind === 'segment') {
      for (const mark of pendingBreaks.splice(0)) addBreak(open, mark);
      const info: PartInfo = {
        version: 1,
        id,
        camera,
        kind: 'segment',
        firstWallMs: unit.wallMs,
        firstPtsUs: unit.ptsUs,
        triggerPtsUs: unit.ptsUs,
        triggerWallMs: unit.wallMs,
        width: unit.width,
        height: unit.height,
        triggerLevel: null,
      };
      // Only recovery after a crash needs it; failing to write it must not stop recording.
      void writePartInfo(partPaths(options.dataDir, id).info, info).catch((error: unknown) => log?.warn({ err: error, id }, 'segments: cannot write part info'));
    }
    log?.debug({ id, kind }, 'segments: segment started');
  };

  const closeSegment = (): void => {
    const segment = open;
    if (!segment) return;
    open = null;
    if (segment.kind === 'lookback') closing.add(segment);
    const work = finishSegment(segment).then(
      (record) => {
        counters.segmentsWritten++;
        closing.delete(segment);
        if (record.kind === 'lookback') {
          entries.push({ record });
          entries.sort((a, b) => a.record.firstPtsUs - b.record.firstPtsUs);
          enforceCap();
        } else {
          entries.push({ record });
          entries.sort((a, b) => a.record.firstPtsUs - b.record.firstPtsUs);
          segments.emit(record);
        }
        trimList();
        for (const waiter of segment.waiters) waiter(record);
      },
      (error: unknown) => {
        counters.segmentsFailed++;
        closing.delete(segment);
        log?.error({ err: error, code: (error as RecorderError).code, id: segment.id, kind: segment.kind }, 'segments: segment could not be finalised');
        for (const waiter of segment.waiters) waiter(null);
      },
    );
    const tracked = work.finally(() => finalising.delete(tracked));
    finalising.add(tracked);
  };

  const finishSegment = async (segment: OpenSegment): Promise<SegmentRecord> => {
    let summary: ClipWriteSummary;
    try {
      summary = await segment.writer.close();
    } catch (error) {
      if (segment.kind === 'lookback') {
        await fsp.rm(segment.partFile, { force: true });
        throw error;
      }
      // Disk full or an I/O error: keep what the complete fragments hold, like an event clip.
      const recovered = await recoverPartialClip(options.dataDir, segment.id, log);
      const recording = recovered.recording;
      if (!recording) throw error;
      const file = path.join(options.dataDir, recording.sidecar.files.clip);
      return { kind: 'segment', id: segment.id, file, firstPtsUs: segment.firstPtsUs, lastPtsUs: segment.lastPtsUs, firstWallMs: segment.firstWallMs, frames: recording.sidecar.frames, bytes: recording.sidecar.bytes, recording: { ...recording, origin: 'live' } };
    }
    if (segment.kind === 'lookback') {
      // Look-back segments stay fragmented (no remux: they are only read back by the joiner).
      const file = path.join(lookbackDir, `${segment.id}.mp4`);
      await fsp.rename(segment.partFile, file);
      const bytes = (await fsp.stat(file)).size;
      return { kind: 'lookback', id: segment.id, file, firstPtsUs: summary.firstPtsUs, lastPtsUs: summary.lastPtsUs, firstWallMs: summary.firstWallMs, frames: summary.frames, bytes, recording: null };
    }
    const recording = await finishRecording({
      dataDir: options.dataDir,
      id: segment.id,
      camera,
      kind: 'segment',
      media: { type: 'clip', summary, firstWallMs: summary.firstWallMs },
      width: segment.width,
      height: segment.height,
      triggerWallMs: null,
      preRollUs: 0,
      snapshotAtUs: 0,
      // A break that ends the segment sits at its last frame.
      discontinuities: segment.breaks.map((b) => (b.ended ? { ...b, atMs: Math.round((summary.lastPtsUs - summary.firstPtsUs) / 1000) } : b)),
      thumbnailWidth: options.thumbnailWidth,
      fsync: options.fsync,
      logger: log,
    });
    const { sidecar } = recording;
    const file = path.join(options.dataDir, sidecar.files.clip);
    return { kind: 'segment', id: segment.id, file, firstPtsUs: summary.firstPtsUs, lastPtsUs: summary.lastPtsUs, firstWallMs: summary.firstWallMs, frames: summary.frames, bytes: sidecar.bytes, recording };
  };

  return {
    markBreak(mark) {
      if (!continuous) return;
      // Between segments (waiting for a keyframe): the next segment starts with the break.
      if (!open || open.kind !== 'segment') {
        if (pendingBreaks.length < MAX_DISCONTINUITIES) pendingBreaks.push(mark);
        return;
      }
      addBreak(open, mark);
    },
    async open() {
      await fsp.rm(lookbackDir, { recursive: true, force: true });
      if (lookbackMaxBytes > 0) await fsp.mkdir(lookbackDir, { recursive: true });
    },
    push(unit) {
      if (stopped) return;
      newest = { ptsUs: unit.ptsUs, wallMs: unit.wallMs };
      const kind = wantedKind();
      const segment: OpenSegment | null = open;
      const action = segmentAction(segment, unit, {
        kind,
        lengthUs: (kind === 'lookback' ? lookbackSegmentS : segmentS) * 1e6,
        maxBytes: kind === 'lookback' ? lookbackSegmentBytes : Number.POSITIVE_INFINITY,
        cutRequested,
      });
      if (action === 'skip') {
        cutRequested = false;
        return;
      }
      if (action === 'end' || action === 'start') closeSegment();
      if (action === 'end') {
        cutRequested = false;
        return;
      }
      if (action === 'start') startSegment(unit, kind as SegmentKind);
      const current = open as OpenSegment | null;
      if (!current) return;
      current.writer.write(unit);
      current.lastPtsUs = unit.ptsUs;
      current.bytes += unit.data.length;
      current.frames++;
      noteUnit(unit.data.length, unit.keyframe);
      if (current.kind === 'lookback' && unit.keyframe) enforceCap();
    },
    discontinuity(reason) {
      if (!open) return;
      log?.info({ reason, id: open.id }, 'segments: stream broke; segment closed');
      closeSegment();
    },
    setContinuous(on) {
      if (on === continuous) return;
      continuous = on;
      log?.info({ continuous: on }, `segments: continuous recording ${on ? 'on' : 'off'}`);
    },
    continuous: () => continuous,
    active: () => wantedKind() !== null,
    cut() {
      const segment = open;
      if (!segment) return Promise.resolve(null);
      cutRequested = true;
      return new Promise((resolve) => segment.waiters.push(resolve));
    },
    newest: () => newest,
    finished: () => entries.map((e) => e.record),
    protect(fromPtsUs, toPtsUs) {
      const span = { fromPtsUs, toPtsUs };
      protectedSpans.add(span);
      return () => {
        if (!protectedSpans.delete(span)) return;
        enforceCap();
      };
    },
    onSegment(listener) {
      return segments.on(listener);
    },
    async settled() {
      while (finalising.size > 0) await Promise.all([...finalising]);
    },
    async flush() {
      closeSegment();
      while (finalising.size > 0) await Promise.all([...finalising]);
    },
    async stop() {
      stopped = true;
      closeSegment();
      while (finalising.size > 0) await Promise.all([...finalising]);
    },
    stats() {
      const lookback = entries.filter((e) => e.record.kind === 'lookback');
      const first = entries[0]?.record;
      const last = entries[entries.length - 1]?.record;
      return {
        continuous,
        open: open?.kind ?? null,
        segmentsWritten: counters.segmentsWritten,
        segmentsFailed: counters.segmentsFailed,
        lookbackSegments: lookback.length,
        lookbackBytes: lookback.reduce((sum, e) => sum + e.record.bytes, 0),
        lookbackEvicted: counters.lookbackEvicted,
        availableS: first && last ? Math.round((last.lastPtsUs - first.firstPtsUs) / 1e5) / 10 : 0,
      };
    },
  };
}

function checkRange(key: string, value: number, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new RecorderError('RECORDER_BAD_OPTIONS', `${key} must be a number in [${min}, ${max}]`, { key, value });
  }
}
