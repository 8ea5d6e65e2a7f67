import type { Logger } from 'pino';
import { RecorderError } from './errors';
import type { AccessUnit } from '@preroll/capture';

/** The fields of a unit that the ring's decisions look at. */
export type RingUnitLike = Pick<AccessUnit, 'ptsUs' | 'keyframe'> & { readonly data: { readonly length: number } };

/** Options of {@link createRing}. */
export interface RingOptions {
  /** Video kept before a trigger, in milliseconds. Default 5000. */
  readonly preRollMs?: number;
  /**
   * How far behind the newest unit a trigger may lie, in milliseconds (the detector confirms
   * motion a few frames after it began). The ring keeps `preRollMs + maxTriggerLagMs` plus
   * the GOP that reaches past it. Default 2000.
   */
  readonly maxTriggerLagMs?: number;
  /** Byte cap over the units' data; whole GOPs are dropped, oldest first, to stay under it. Default 64 MiB. */
  readonly maxBytes?: number;
  readonly logger?: Logger;
}

/** Counters of what the ring kept and discarded. */
export interface RingStats {
  readonly units: number;
  readonly keyframes: number;
  /** Sum of the units' data sizes. */
  readonly bytes: number;
  /** Newest minus oldest timestamp, milliseconds. */
  readonly spanMs: number;
  /** Units aged out (routine: older than the retention window). */
  readonly agedOutUnits: number;
  /** Units dropped to stay under the byte cap (the pre-roll got shorter than asked). */
  readonly cappedUnits: number;
  readonly cappedBytes: number;
  /** Units dropped because no keyframe preceded them (nothing could decode them). */
  readonly orphanUnits: number;
  /** Units discarded by `clear()` (encoder restarts). */
  readonly clearedUnits: number;
}

/**
 * The pre-roll: a time-bounded, keyframe-indexed ring of access units in RAM. It always
 * begins with a keyframe and ends with the newest unit; it drops whole GOPs, oldest first,
 * when the second-oldest keyframe is older than the retention window or when over the byte
 * cap (both checked at every push), and logs with numbers what it dropped.
 */
export interface Ring {
  /** Appends the next unit (in stream order). */
  push(unit: AccessUnit): void;
  /** The units held, oldest first (a copy of the list; the units themselves are shared). */
  units(): AccessUnit[];
  /** Index (into `units()`) of each keyframe, ascending. */
  keyframeIndexes(): number[];
  /** The newest unit, or null. */
  newest(): AccessUnit | null;
  /** The oldest unit (always a keyframe), or null. */
  oldest(): AccessUnit | null;
  /** Forgets everything (the stream broke: later units do not continue these). */
  clear(reason: string): void;
  stats(): RingStats;
  readonly preRollMs: number;
}

/**
 * Where a clip triggered at `triggerPtsUs` begins (pure): the index of the newest keyframe at
 * least `preRollMs` before the trigger, or of the oldest keyframe when the units do not reach
 * back that far; -1 when there is no keyframe at all.
 */
export function clipStart(units: readonly Pick<AccessUnit, 'ptsUs' | 'keyframe'>[], triggerPtsUs: number, preRollMs: number): number {
  const latestStartUs = triggerPtsUs - preRollMs * 1000;
  let oldest = -1;
  let chosen = -1;
  for (let i = 0; i < units.length; i++) {
    if (!units[i].keyframe) continue;
    if (oldest < 0) oldest = i;
    // Units are in capture order: the first keyframe past the limit ends the search.
    if (units[i].ptsUs > latestStartUs) break;
    chosen = i;
  }
  return chosen >= 0 ? chosen : oldest;
}

/**
 * How many units to drop from the front of a keyframe-aligned list so that it keeps exactly
 * the GOP that reaches back `retainUs` before its newest unit, and, if it is over `maxBytes`,
 * as few whole GOPs more as it takes (the newest GOP is always kept). Pure; the ring's policy.
 * Returns `{ aged, capped }`: units dropped for age, then for bytes.
 */
export function trimCount(
  units: readonly RingUnitLike[],
  keyframes: readonly number[],
  retainUs: number,
  maxBytes: number,
): { aged: number; capped: number } {
  if (units.length === 0 || keyframes.length === 0) return { aged: 0, capped: 0 };
  const newestUs = units[units.length - 1].ptsUs;
  let k = 0;
  // Drop the first GOP while the next keyframe alone still reaches back far enough.
  while (k + 1 < keyframes.length && units[keyframes[k + 1]].ptsUs <= newestUs - retainUs) k++;
  const aged = keyframes[k];
  let bytes = 0;
  for (let i = aged; i < units.length; i++) bytes += units[i].data.length;
  let capped = 0;
  while (bytes > maxBytes && k + 1 < keyframes.length) {
    for (let i = keyframes[k]; i < keyframes[k + 1]; i++) bytes -= units[i].data.length;
    k++;
    capped = keyframes[k] - aged;
  }
  return { aged, capped };
}

/** Creates an empty ring. Throws `RECORDER_BAD_OPTIONS` for bad settings. */
export function createRing(options: RingOptions = {}): Ring {
  const preRollMs = options.preRollMs ?? 5000;
  const lagMs = options.maxTriggerLagMs ?? 2000;
  const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  checkRange('preRollMs', preRollMs, 0, 600_000);
  checkRange('maxTriggerLagMs', lagMs, 0, 60_000);
  checkRange('maxBytes', maxBytes, 1024, 16 * 1024 * 1024 * 1024);
  const retainUs = (preRollMs + lagMs) * 1000;
  const log = options.logger;

  let items: AccessUnit[] = [];
  let keys: number[] = [];
  let bytes = 0;
  const counters = { agedOutUnits: 0, cappedUnits: 0, cappedBytes: 0, orphanUnits: 0, clearedUnits: 0 };

  const dropFront = (count: number): number => {
    let dropped = 0;
    for (let i = 0; i < count; i++) dropped += items[i].data.length;
    items = items.slice(count);
    keys = keys.filter((k) => k >= count).map((k) => k - count);
    bytes -= dropped;
    return dropped;
  };

  return {
    preRollMs,
    push(unit: AccessUnit): void {
      if (items.length === 0 && !unit.keyframe) {
        counters.orphanUnits++;
        return;
      }
      if (unit.keyframe) keys.push(items.length);
      items.push(unit);
      bytes += unit.data.length;
      const { aged, capped } = trimCount(items, keys, retainUs, maxBytes);
      if (aged > 0) {
        const first = items[0].ptsUs;
        const droppedBytes = dropFront(aged);
        counters.agedOutUnits += aged;
        log?.debug({ droppedUnits: aged, droppedBytes, droppedMs: Math.round((items[0].ptsUs - first) / 1000), keptUnits: items.length, keptBytes: bytes }, 'pre-roll ring: oldest GOP aged out');
      }
      if (capped > 0) {
        const first = items[0].ptsUs;
        const droppedBytes = dropFront(capped);
        counters.cappedUnits += capped;
        counters.cappedBytes += droppedBytes;
        log?.warn(
          { droppedUnits: capped, droppedBytes, droppedMs: Math.round((items[0].ptsUs - first) / 1000), maxBytes, keptMs: Math.round((unit.ptsUs - items[0].ptsUs) / 1000) },
          'pre-roll ring over its byte cap: dropped the oldest GOPs, the pre-roll is shorter than configured',
        );
      }
    },
    units: () => items.slice(),
    keyframeIndexes: () => keys.slice(),
    newest: () => items[items.length - 1] ?? null,
    oldest: () => items[0] ?? null,
    clear(reason: string): void {
      if (items.length > 0) {
        log?.info({ reason, droppedUnits: items.length, droppedBytes: bytes, droppedMs: Math.round((items[items.length - 1].ptsUs - items[0].ptsUs) / 1000) }, 'pre-roll ring cleared');
      }
      counters.clearedUnits += items.length;
      items = [];
      keys = [];
      bytes = 0;
    },
    stats(): RingStats {
      return {
        units: items.length,
        keyframes: keys.length,
        bytes,
        spanMs: items.length ? (items[items.length - 1].ptsUs - items[0].ptsUs) / 1000 : 0,
        ...counters,
      };
    },
  };
}

function checkRange(key: string, value: number, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new RecorderError('RECORDER_BAD_OPTIONS', `${key} must be a number in [${min}, ${max}]`, { key, value });
  }
}
