import { promises as fsp } from 'node:fs';
import { StoreError } from './errors';

/** Retention limits; `null` switches a limit off. */
export interface RetentionLimits {
  /** Keep the file system holding the data directory at or below this usage, in percent (1..100). Default 80, as in the seeds. */
  readonly maxDiskPct: number | null;
  /** Keep the indexed recordings (favourites included in the sum) at or below this many bytes. Default off. */
  readonly maxTotalBytes: number | null;
  /** Delete recordings that started more than this many days ago. Default off. */
  readonly maxAgeDays: number | null;
}

/** The defaults: 80 % disk usage, no byte or age limit. */
export const DEFAULT_RETENTION: RetentionLimits = Object.freeze({ maxDiskPct: 80, maxTotalBytes: null, maxAgeDays: null });

/** Usage of the file system holding the data directory, as `df` reports it. */
export interface DiskUsage {
  /** Bytes usable by this user: used + available (root-reserved blocks excluded, like `df`). */
  readonly sizeBytes: number;
  readonly usedBytes: number;
  readonly availableBytes: number;
}

/** Reads the usage of the file system holding `dir` (injectable so tests can play a full disk). */
export type DiskUsageReader = (dir: string) => Promise<DiskUsage>;

/** The real reader: `fs.statfs`, with `df`'s percentage semantics. */
export const statfsDiskUsage: DiskUsageReader = async (dir) => {
  const s = await fsp.statfs(dir);
  const usedBytes = (s.blocks - s.bfree) * s.bsize;
  const availableBytes = s.bavail * s.bsize;
  return { sizeBytes: usedBytes + availableBytes, usedBytes, availableBytes };
};

/** A recording retention may delete (never a favourite). */
export interface RetentionCandidate {
  readonly id: string;
  readonly startedAtMs: number;
  readonly bytes: number;
}

/** Why a recording was deleted. */
export type RetentionReason = 'max-age' | 'max-total-bytes' | 'max-disk-pct' | 'free-space';

/** One planned deletion. */
export interface RetentionDecision {
  readonly id: string;
  readonly bytes: number;
  readonly startedAtMs: number;
  readonly reason: RetentionReason;
}

/** The state retention decides on. */
export interface RetentionInput {
  readonly nowMs: number;
  readonly limits: RetentionLimits;
  /** Sum of `total_bytes` over every indexed recording, favourites included. */
  readonly indexedBytes: number;
  /** Disk usage now; null when the percentage limit is off or could not be read. */
  readonly disk: DiskUsage | null;
  /** Free at least this many bytes whatever the limits say (the ENOSPC recovery). */
  readonly freeBytes?: number;
}

/** The plan, and whether the limits hold once it is carried out. */
export interface RetentionPlan {
  readonly deletions: RetentionDecision[];
  /** False when deleting every candidate still leaves a limit broken (e.g. favourites or other data fill the disk). */
  readonly satisfied: boolean;
  readonly freedBytes: number;
}

/**
 * Decides what to delete, oldest first. `candidatesOldestFirst` must be sorted by start time
 * and exclude favourites; it is consumed lazily and iteration stops as soon as every limit
 * holds, so the caller can stream rows from SQLite. Each deletion carries the first limit it
 * serves: age, then total bytes, then disk percentage, then the explicit `freeBytes` request.
 *
 * `loopFirst` (optional) are the recordings of a loop recording (continuous segments), also
 * oldest first and without favourites; `candidatesOldestFirst` then must not hold them. The
 * age limit applies to both streams alike; the size limits (bytes, disk, free space) take the
 * loop's recordings first and touch the others (events, photos, memories) only once no loop
 * recording is left, so a dashcam loop overwrites its own oldest segments, not the events.
 */
export function planRetention(input: RetentionInput, candidatesOldestFirst: Iterable<RetentionCandidate>, loopFirst?: Iterable<RetentionCandidate>): RetentionPlan {
  const { limits, disk } = input;
  const ageCutoffMs = limits.maxAgeDays === null ? null : input.nowMs - limits.maxAgeDays * 86_400_000;
  let freed = 0;
  const overBytes = (): boolean => limits.maxTotalBytes !== null && input.indexedBytes - freed > limits.maxTotalBytes;
  const overDisk = (): boolean =>
    limits.maxDiskPct !== null && disk !== null && disk.sizeBytes > 0 && ((disk.usedBytes - freed) / disk.sizeBytes) * 100 > limits.maxDiskPct;
  const owesFree = (): boolean => input.freeBytes !== undefined && freed < input.freeBytes;
  const sizeReason = (): RetentionReason | null => (overBytes() ? 'max-total-bytes' : overDisk() ? 'max-disk-pct' : owesFree() ? 'free-space' : null);
  const tooOld = (c: RetentionCandidate): boolean => ageCutoffMs !== null && c.startedAtMs < ageCutoffMs;

  const deletions: RetentionDecision[] = [];
  const take = (c: RetentionCandidate, reason: RetentionReason): void => {
    deletions.push({ id: c.id, bytes: c.bytes, startedAtMs: c.startedAtMs, reason });
    freed += c.bytes;
  };
  if (loopFirst === undefined) {
    for (const c of candidatesOldestFirst) {
      const reason: RetentionReason | null = tooOld(c) ? 'max-age' : sizeReason();
      // Candidates are oldest first: once this one is not too old and every global limit
      // holds, no later one needs deleting.
      if (reason === null) break;
      take(c, reason);
    }
  } else {
    const streams = [peekable(loopFirst), peekable(candidatesOldestFirst)];
    try {
      // Age first in each stream (each stops at its first recording young enough)...
      for (const stream of ageCutoffMs === null ? [] : streams) {
        for (let c = stream.peek(); c && tooOld(c); c = stream.peek()) take(stream.next() as RetentionCandidate, 'max-age');
      }
      // ...then the size limits, the loop's recordings before any other.
      for (const stream of streams) {
        for (let reason = sizeReason(); reason && stream.peek(); reason = sizeReason()) take(stream.next() as RetentionCandidate, reason);
      }
    } finally {
      // Close unfinished iterators (an open SQLite statement iterator keeps the connection busy).
      for (const stream of streams) stream.close();
    }
  }
  return { deletions, satisfied: !overBytes() && !overDisk() && !owesFree(), freedBytes: freed };
}

/** An iterator that can look at its next item without taking it (pulls lazily). */
function peekable<T>(items: Iterable<T>): { peek(): T | undefined; next(): T | undefined; close(): void } {
  const it = items[Symbol.iterator]();
  let head: IteratorResult<T> | null = null;
  const fill = (): IteratorResult<T> => (head ??= it.next());
  return {
    peek: () => {
      const r = fill();
      return r.done ? undefined : r.value;
    },
    next: () => {
      const r = fill();
      head = null;
      return r.done ? undefined : r.value;
    },
    close: () => {
      it.return?.();
    },
  };
}

/** Checks limits given by a caller; throws `STORE_BAD_OPTIONS` naming the bad one. */
export function validateRetentionLimits(limits: RetentionLimits): RetentionLimits {
  const check = (name: keyof RetentionLimits, min: number, max: number): void => {
    const v = limits[name];
    if (v !== null && (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)) {
      throw new StoreError('STORE_BAD_OPTIONS', `retention.${name} must be null or a number in ${min}..${max}, got ${String(v)}`, name);
    }
  };
  check('maxDiskPct', 1, 100);
  check('maxTotalBytes', 0, Number.MAX_SAFE_INTEGER);
  check('maxAgeDays', 0, 36_500);
  return Object.freeze({ ...limits });
}
