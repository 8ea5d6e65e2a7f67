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
 */
export function planRetention(input: RetentionInput, candidatesOldestFirst: Iterable<RetentionCandidate>): RetentionPlan {
  const { limits, disk } = input;
  const ageCutoffMs = limits.maxAgeDays === null ? null : input.nowMs - limits.maxAgeDays * 86_400_000;
  let freed = 0;
  const overBytes = (): boolean => limits.maxTotalBytes !== null && input.indexedBytes - freed > limits.maxTotalBytes;
  const overDisk = (): boolean =>
    limits.maxDiskPct !== null && disk !== null && disk.sizeBytes > 0 && ((disk.usedBytes - freed) / disk.sizeBytes) * 100 > limits.maxDiskPct;
  const owesFree = (): boolean => input.freeBytes !== undefined && freed < input.freeBytes;

  const deletions: RetentionDecision[] = [];
  for (const c of candidatesOldestFirst) {
    let reason: RetentionReason | null = null;
    if (ageCutoffMs !== null && c.startedAtMs < ageCutoffMs) reason = 'max-age';
    else if (overBytes()) reason = 'max-total-bytes';
    else if (overDisk()) reason = 'max-disk-pct';
    else if (owesFree()) reason = 'free-space';
    // Candidates are oldest first: once this one is not too old and every global limit
    // holds, no later one needs deleting.
    if (reason === null) break;
    deletions.push({ id: c.id, bytes: c.bytes, startedAtMs: c.startedAtMs, reason });
    freed += c.bytes;
  }
  return { deletions, satisfied: !overBytes() && !overDisk() && !owesFree(), freedBytes: freed };
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
