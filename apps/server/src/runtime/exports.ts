import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { writeMemory, type FinishedRecording, type MemorySource } from '@preroll/recorder';
import { localDay, type Store } from '@preroll/store';

/**
 * "Export this time range": the continuous segments covering a range of wall time joined into
 * one MP4 without re-encoding, by the same join as "save the last N minutes" (`writeMemory`,
 * kind `memory`, finished by the one finisher and reported through the one path). The segments
 * come from the index, so a range from any day still on disk can be exported. The segments'
 * wall times are the join's clock: within a segment the file's own exact timestamps, between
 * segments their recorded start times.
 */

/** A span of wall time, milliseconds since the epoch, `fromMs` < `toMs`. */
export interface TimeSpan {
  readonly fromMs: number;
  readonly toMs: number;
}

/** An export error with a stable code; `missing` lists the parts of the range without footage. */
export class ExportError extends Error {
  override readonly name = 'ExportError';
  constructor(
    readonly code: ExportErrorCode,
    message: string,
    readonly missing: readonly TimeSpan[] = [],
  ) {
    super(message);
  }
}

/** Codes of {@link ExportError}. */
export type ExportErrorCode =
  /** `to` is not after `from`, or the range lies in the future. */
  | 'EXPORT_BAD_RANGE'
  /** Longer than the longest export (`recording.memory.maxMinutes`). */
  | 'EXPORT_TOO_LONG'
  /** No continuous recording covers any of the range. */
  | 'EXPORT_NO_FOOTAGE'
  /** Parts of the range have no continuous recording (listed in `missing`). */
  | 'EXPORT_PARTLY_COVERED'
  /** An export is already running (one at a time). */
  | 'EXPORT_BUSY'
  /** No export job with that id (unknown, or finished long ago). */
  | 'EXPORT_NOT_FOUND';

/** Gaps this short between segments are the usual seams (a frame, a keyframe wait), not missing footage. */
export const SEAM_TOLERANCE_MS = 2000;

/**
 * The parts of `range` that `spans` (in any order, may overlap) leave uncovered, ignoring gaps
 * of at most `toleranceMs`. Pure.
 */
export function missingSpans(spans: readonly TimeSpan[], range: TimeSpan, toleranceMs = SEAM_TOLERANCE_MS): TimeSpan[] {
  const sorted = spans.filter((s) => s.toMs > range.fromMs && s.fromMs < range.toMs).sort((a, b) => a.fromMs - b.fromMs);
  const missing: TimeSpan[] = [];
  let covered = range.fromMs;
  for (const span of sorted) {
    if (span.fromMs - covered > toleranceMs) missing.push({ fromMs: covered, toMs: span.fromMs });
    covered = Math.max(covered, span.toMs);
  }
  if (range.toMs - covered > toleranceMs) missing.push({ fromMs: covered, toMs: range.toMs });
  return missing;
}

/** One export, as `GET /api/exports/:id` shows it. */
export interface ExportJob {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly state: 'running' | 'done' | 'failed';
  /** Share of the video joined so far, 0..1. */
  readonly progress: number;
  /** The recording made (kind `memory`), once done. */
  readonly eventId: string | null;
  readonly error: { readonly code: string; readonly message: string } | null;
}

/** Options of {@link createExportService}. */
export interface ExportServiceOptions {
  readonly store: () => Store;
  readonly camera: string;
  readonly dataDir: string;
  readonly fsync: boolean;
  readonly fps: () => number | undefined;
  /** The longest export, milliseconds (read at each export: the configuration can change live). */
  readonly maxMs: () => number;
  /** Reports the finished recording (indexed, then announced, like every recording). */
  readonly report: (recording: FinishedRecording) => Promise<void>;
  readonly now?: () => number;
  readonly logger?: Logger;
}

/** The export service: one export at a time, the last few jobs kept for a while for their status. */
export interface ExportService {
  /** Checks the range and starts joining it; throws {@link ExportError}. */
  start(range: TimeSpan): ExportJob;
  /** A job by id, or undefined. */
  get(id: string): ExportJob | undefined;
  /** Waits for the export under way. */
  stop(): Promise<void>;
}

/** Finished jobs kept for their status (count and age). */
const KEEP_JOBS = 8;
const KEEP_JOB_MS = 15 * 60_000;

/** Creates the export service (nothing runs until `start`). */
export function createExportService(options: ExportServiceOptions): ExportService {
  const log = options.logger;
  const now = options.now ?? Date.now;
  const jobs = new Map<string, { job: ExportJob; endedMs: number | null }>();
  let running: Promise<void> | null = null;

  const prune = (): void => {
    const finished = [...jobs.entries()].filter(([, j]) => j.endedMs !== null);
    finished.forEach(([id, j], i) => {
      if (i < finished.length - KEEP_JOBS || now() - (j.endedMs as number) > KEEP_JOB_MS) jobs.delete(id);
    });
  };

  /** The camera's continuous segments overlapping the range, from the index, oldest first. */
  const segmentsFor = (range: TimeSpan): Array<TimeSpan & { id: string }> => {
    const store = options.store();
    const days = new Set<string>();
    // A segment overlapping the start may have begun the day before (segments are at most an hour and a keyframe).
    for (let t = range.fromMs - 7_200_000; t < range.toMs + 86_400_000; t += 86_400_000) days.add(localDay(Math.min(t, range.toMs)));
    const out: Array<TimeSpan & { id: string }> = [];
    for (const day of days) {
      for (const s of store.timeline(day, options.camera).segments) {
        if (s.endMs > range.fromMs && s.startMs < range.toMs) out.push({ id: s.id, fromMs: s.startMs, toMs: s.endMs });
      }
    }
    return out.sort((a, b) => a.fromMs - b.fromMs);
  };

  const run = async (id: string, range: TimeSpan, segments: ReadonlyArray<TimeSpan & { id: string }>): Promise<void> => {
    const update = (patch: Partial<ExportJob>): void => {
      const entry = jobs.get(id);
      if (entry) entry.job = { ...entry.job, ...patch };
    };
    try {
      const store = options.store();
      const sources: MemorySource[] = [];
      let lastToMs = -Infinity;
      for (const segment of segments) {
        const record = store.get(segment.id);
        // Offloaded segments have no local clip; a clock step can make two segments overlap: skip both cases.
        if (!record?.files.clip || segment.fromMs < lastToMs - SEAM_TOLERANCE_MS) continue;
        sources.push({ file: path.join(options.dataDir, record.files.clip), firstPtsUs: segment.fromMs * 1000, lastPtsUs: segment.toMs * 1000, firstWallMs: segment.fromMs });
        lastToMs = segment.toMs;
      }
      const memory = await writeMemory({
        dataDir: options.dataDir,
        camera: options.camera,
        sources,
        fromPtsUs: range.fromMs * 1000,
        toPtsUs: range.toMs * 1000,
        triggerWallMs: range.fromMs,
        fsync: options.fsync,
        fps: options.fps(),
        onProgress: (fraction) => update({ progress: Math.round(fraction * 1000) / 1000 }),
        logger: log,
      });
      await options.report(memory);
      update({ state: 'done', progress: 1, eventId: memory.sidecar.id });
      log?.info({ id: memory.sidecar.id, segments: memory.segments, durationS: memory.sidecar.durationS }, 'export: range saved');
    } catch (error) {
      const code = typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : 'EXPORT_FAILED';
      update({ state: 'failed', error: { code, message: (error as Error).message } });
      log?.error({ err: error, code }, 'export: failed');
    } finally {
      const entry = jobs.get(id);
      if (entry) entry.endedMs = now();
    }
  };

  return {
    start(range) {
      const { fromMs, toMs } = range;
      if (!Number.isFinite(fromMs) || !Number.isFinite(toMs) || toMs <= fromMs) throw new ExportError('EXPORT_BAD_RANGE', '"to" must be after "from"');
      if (fromMs > now()) throw new ExportError('EXPORT_BAD_RANGE', 'the range lies in the future');
      if (toMs - fromMs > options.maxMs()) throw new ExportError('EXPORT_TOO_LONG', `an export is at most ${options.maxMs() / 60_000} minutes long (recording.memory.maxMinutes)`);
      if (running) throw new ExportError('EXPORT_BUSY', 'an export is already running; wait for it to finish');
      const segments = segmentsFor(range);
      const missing = missingSpans(segments, range);
      const iso = (span: TimeSpan): string => `${new Date(span.fromMs).toISOString()}–${new Date(span.toMs).toISOString()}`;
      if (segments.length === 0 || (missing.length === 1 && missing[0].fromMs === fromMs && missing[0].toMs === toMs)) {
        throw new ExportError('EXPORT_NO_FOOTAGE', 'no continuous recording covers this range', [range]);
      }
      if (missing.length > 0) throw new ExportError('EXPORT_PARTLY_COVERED', `no continuous recording for ${missing.map(iso).join(', ')}`, missing);
      prune();
      const id = randomBytes(8).toString('hex');
      const job: ExportJob = { id, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), state: 'running', progress: 0, eventId: null, error: null };
      jobs.set(id, { job, endedMs: null });
      running = run(id, range, segments).finally(() => {
        running = null;
      });
      return job;
    },
    get(id) {
      prune();
      return jobs.get(id)?.job;
    },
    async stop() {
      await running;
    },
  };
}

