import { ceilToLadder } from './trigger';

/**
 * The noise floor of a quiet stretch: the 95th percentile (nearest rank) of its scores. A
 * high percentile, not the mean, because triggers come from the noisy tail; not the maximum,
 * because one compression glitch should not set the level. 0 for no scores.
 */
export function estimateNoiseFloor(scores: readonly number[]): number {
  return percentile(scores, 0.95);
}

/** Nearest-rank percentile (`q` in 0..1) of a list of numbers; 0 for an empty list. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

/**
 * Multiple of the noise floor a suggested level sits at, and the level below which no
 * suggestion goes (codec and rounding noise alone can reach it). Chosen by measurement, see
 * docs/detector.md.
 */
export const CALIBRATION_MARGIN = 3;
export const CALIBRATION_MIN_LEVEL = 1;

/** A trigger level for a noise floor: `margin`× the floor, at least the minimum, rounded up onto the ladder. */
export function suggestTriggerLevel(noiseFloor: number, bounds: { minTriggerLevel: number; maxTriggerLevel: number }): number {
  const wanted = Math.max(CALIBRATION_MIN_LEVEL, noiseFloor * CALIBRATION_MARGIN);
  return ceilToLadder(wanted, bounds.minTriggerLevel, bounds.maxTriggerLevel);
}
