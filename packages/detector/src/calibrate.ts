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
/** See {@link CALIBRATION_MARGIN}. */
export const CALIBRATION_PEAK_MARGIN = 1.25;
/**
 * See {@link CALIBRATION_MARGIN}. The default trigger level: a quiet scene scores 0, and a
 * calibration on it must not end up less sensitive than the defaults.
 */
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
  const wanted = wantedLevel(noiseFloor, quietPeak, margins);
  return { noiseFloor, quietPeak, suggestedTriggerLevel: ceilToLadder(wanted, bounds.minTriggerLevel, bounds.maxTriggerLevel) };
}

function wantedLevel(noiseFloor: number, quietPeak: number, margins: { margin?: number; peakMargin?: number } = {}): number {
  return Math.max(CALIBRATION_MIN_LEVEL, noiseFloor * (margins.margin ?? CALIBRATION_MARGIN), quietPeak * (margins.peakMargin ?? CALIBRATION_PEAK_MARGIN));
}

/**
 * The scores of the quietest stretch of a recording: every window of `windowS` seconds that
 * starts at a sample and spans at least 90 % of `windowS` with at least `minFrames` samples,
 * and of those the one whose calibration asks for the lowest level (the larger of the margin
 * over its noise floor and the margin over its highest score; then the lower noise floor).
 * Ranking by the highest score too keeps a window that clips the last frame of a crossing from
 * being taken for quiet, and full-length windows keep periodic spikes (H.264 keyframes) in.
 * For a whole file, where motion may take any part of the time, this finds the quiet part
 * without knowing the trigger level. Empty when no window qualifies. Samples must be in time
 * order.
 */
export function quietestWindow(samples: readonly { ptsUs: number; score: number }[], windowS: number, minFrames = 10): number[] {
  let best: number[] = [];
  let bestRank: [number, number] = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
  const windowUs = windowS * 1e6;
  let to = 0;
  for (let from = 0; from < samples.length; from++) {
    if (to < from) to = from;
    while (to < samples.length && samples[to].ptsUs < samples[from].ptsUs + windowUs) to++;
    if (to - from < minFrames || samples[to - 1].ptsUs - samples[from].ptsUs < 0.9 * windowUs) continue;
    const window = samples.slice(from, to).map((s) => s.score);
    const floor = estimateNoiseFloor(window);
    const rank: [number, number] = [wantedLevel(floor, percentile(window, 1)), floor];
    if (rank[0] < bestRank[0] || (rank[0] === bestRank[0] && rank[1] < bestRank[1])) {
      bestRank = rank;
      best = window;
    }
  }
  return best;
}
