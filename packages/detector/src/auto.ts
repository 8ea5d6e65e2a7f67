import { percentile } from './calibrate';
import { ceilToLadder, stepTriggerLevel } from './trigger';

/** The continuous "auto" trigger level: where it sits and when it last moved. */
export interface AutoLevelState {
  readonly level: number;
  readonly changedAtUs: number;
}

/** What the auto level follows. */
export interface AutoLevelConfig {
  /** Lowest auto level: the default trigger level, where a still scene leaves it. */
  readonly baseLevel: number;
  /** The level sits this many times above the 95th percentile of the quiet scores. */
  readonly margin: number;
  /** The level comes down one rung at most every this many seconds (hysteresis). */
  readonly holdS: number;
  readonly minTriggerLevel: number;
  readonly maxTriggerLevel: number;
}

/**
 * Which quantile of the quiet scores the auto level follows: the median. The score of sensor
 * noise is 0; what lifts the median is change present in most frames (steady rain, a flickering
 * screen the mask misses), while a dim person crossing for a few seconds — scoring below the
 * level as they enter — stays in the upper half and cannot drag the level up in front of
 * themselves.
 */
export const AUTO_QUANTILE = 0.5;

/**
 * The level the recent quiet scores ask for: `margin` × their median, at least the base
 * level, rounded up onto the ladder.
 */
export function wantedAutoLevel(quietScores: readonly number[], config: AutoLevelConfig): number {
  const floor = percentile(quietScores, AUTO_QUANTILE);
  return ceilToLadder(Math.max(config.baseLevel, floor * config.margin), config.minTriggerLevel, config.maxTriggerLevel);
}

/**
 * Moves the auto level towards `wanted`, pure. Up at once (rising noise must not start events);
 * down only when `wanted` is at least two rungs below, one rung at a time and not sooner than
 * `holdS` after the last move, so a level that has just been raised does not fall back on the
 * next clean second and oscillate.
 */
export function nextAutoLevel(state: AutoLevelState, wanted: number, ptsUs: number, config: AutoLevelConfig): AutoLevelState {
  if (wanted > state.level) return { level: wanted, changedAtUs: ptsUs };
  const oneDown = stepTriggerLevel(state.level, -1, config.minTriggerLevel, config.maxTriggerLevel);
  const twoDown = stepTriggerLevel(oneDown, -1, config.minTriggerLevel, config.maxTriggerLevel);
  if (wanted <= twoDown && ptsUs - state.changedAtUs >= config.holdS * 1e6) return { level: Math.max(oneDown, wanted), changedAtUs: ptsUs };
  return state;
}

/** `level` moved `offset` rungs up (positive) or down (negative) on the ladder, within the bounds. */
export function offsetLevel(level: number, offset: number, min: number, max: number): number {
  let out = level;
  for (let i = 0; i < Math.abs(offset); i++) out = stepTriggerLevel(out, offset > 0 ? 1 : -1, min, max);
  return out;
}
