import { ceilToLadder } from './trigger';

/**
 * The noise floor of a quiet stretch: the 95th percentile (nearest rank) of its scores. A
 * high percentile, not the mean, because triggers come from the noisy tail; not the maximum,
 * because one compression glitch should not set the floor. 0 for no scores.
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
 * How far above the quiet scores a suggested level sits: `CALIBRATION_MARGIN` times the noise
 * floor, and at least `CALIBRATION_PEAK_MARGIN` times the quiet stretch's highest score (the
 * periodic spike an H.264 keyframe leaves in a decoded file would otherwise keep events
 * alive), never below `CALIBRATION_MIN_LEVEL`. Chosen by measurement, see docs/detector.md.
 */
export const CALIBRATION_MARGIN = 2;
export const CALIBRATION_PEAK_MARGIN = 1.25;
export const CALIBRATION_MIN_LEVEL = 1;

/** Result of {@link calibrateFromScores}. */
export interface ScoreCalibration {
  readonly noiseFloor: number;
  /** Highest score of the stretch. */
  readonly quietPeak: number;
  readonly suggestedTriggerLevel: number;
}

/** Suggests a trigger level from the scores of a quiet stretch, rounded up onto the ladder (margins overridable for the bench's sweep). */
export function calibrateFromScores(
  scores: readonly number[],
  bounds: { minTriggerLevel: number; maxTriggerLevel: number },
  margins: { margin?: number; peakMargin?: number } = {},
): ScoreCalibration {
  const noiseFloor = estimateNoiseFloor(scores);
  const quietPeak = percentile(scores, 1);
  const wanted = Math.max(CALIBRATION_MIN_LEVEL, noiseFloor * (margins.margin ?? CALIBRATION_MARGIN), quietPeak * (margins.peakMargin ?? CALIBRATION_PEAK_MARGIN));
  return { noiseFloor, quietPeak, suggestedTriggerLevel: ceilToLadder(wanted, bounds.minTriggerLevel, bounds.maxTriggerLevel) };
}

/**
 * The scores of the quietest stretch of a recording: windows of `windowS` seconds sliding by a
 * quarter window, and the one with the lowest noise floor (95th percentile) among those with at
 * least `minFrames` samples. For a whole file, where motion may take any part of the time, this
 * finds the quiet part without knowing the trigger level. Empty when no window has enough
 * samples. Samples must be in time order.
 */
export function quietestWindow(samples: readonly { ptsUs: number; score: number }[], windowS: number, minFrames = 10): number[] {
  let best: number[] = [];
  let bestFloor = Number.POSITIVE_INFINITY;
  if (samples.length === 0) return best;
  const windowUs = windowS * 1e6;
  const stepUs = windowUs / 4;
  const lastUs = samples[samples.length - 1].ptsUs;
  let from = 0;
  for (let startUs = samples[0].ptsUs; ; startUs += stepUs) {
    while (from < samples.length && samples[from].ptsUs < startUs) from++;
    let to = from;
    while (to < samples.length && samples[to].ptsUs < startUs + windowUs) to++;
    if (to - from >= minFrames) {
      const window = samples.slice(from, to).map((s) => s.score);
      const floor = estimateNoiseFloor(window);
      if (floor < bestFloor) {
        bestFloor = floor;
        best = window;
      }
    }
    if (startUs + windowUs > lastUs) break;
  }
  return best;
}
