/**
 * Trigger levels move on a ladder of "nice" values, 1-1.2-1.5-2-2.5-3-4-5-6-8 per decade, so
 * each step is 20-33 % of the level: fine near the noise floor, coarse far above it, and the
 * same number of clicks per decade anywhere on the scale.
 */
const MANTISSAS = [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8];

/** Ladder values between `min` and `max` (inclusive), ascending. */
export function triggerLadder(min: number, max: number): number[] {
  const values: number[] = [];
  const low = Math.floor(Math.log10(Math.max(min, 1e-3)));
  const high = Math.ceil(Math.log10(Math.max(max, 1e-3)));
  for (let exp = low; exp <= high; exp++) {
    for (const m of MANTISSAS) {
      const v = roundNice(m * 10 ** exp);
      if (v >= min && v <= max) values.push(v);
    }
  }
  return values;
}

/** Clamps a level to the bounds (non-finite values become `min`). */
export function clampTriggerLevel(level: number, min: number, max: number): number {
  if (!Number.isFinite(level)) return min;
  return Math.min(max, Math.max(min, level));
}

/**
 * The next level up (`1`) or down (`-1`) from `level` on the ladder, within `[min, max]`. A
 * level between two rungs moves to the neighbouring rung in that direction.
 */
export function stepTriggerLevel(level: number, direction: 1 | -1, min: number, max: number): number {
  const ladder = triggerLadder(min, max);
  const eps = 1e-9 * Math.max(1, Math.abs(level));
  if (direction > 0) {
    const next = ladder.find((v) => v > level + eps);
    return clampTriggerLevel(next ?? max, min, max);
  }
  let below: number | undefined;
  for (const v of ladder) if (v < level - eps) below = v;
  return clampTriggerLevel(below ?? min, min, max);
}

/** The lowest ladder value at or above `level` (within the bounds). */
export function ceilToLadder(level: number, min: number, max: number): number {
  const ladder = triggerLadder(min, max);
  const eps = 1e-9 * Math.max(1, Math.abs(level));
  return clampTriggerLevel(ladder.find((v) => v >= level - eps) ?? max, min, max);
}

function roundNice(v: number): number {
  return Number(v.toPrecision(6));
}
