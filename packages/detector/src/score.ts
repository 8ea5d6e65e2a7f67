import type { LightingConfig } from './types';

/**
 * Integer sums over the watched pixels of two consecutive analysis images, from which every
 * score variant follows. All sums are exact: at 160x90 the largest (`sumPrevCur`) is below
 * 14400·65025 ≈ 9.4e8, and even at full 1080p analysis they stay far below 2^53.
 */
export interface FrameStats {
  /** Watched pixels. */
  readonly pixels: number;
  readonly sumPrev: number;
  readonly sumCur: number;
  readonly sumPrevSq: number;
  readonly sumCurSq: number;
  readonly sumPrevCur: number;
  /** Σ (cur − prev)²: the raw squared error. */
  readonly sumDiffSq: number;
  /** Pixels that got brighter by more than `pixelDelta`. */
  readonly brighter: number;
  /** Pixels that got darker by more than `pixelDelta`. */
  readonly darker: number;
}

/**
 * Gathers {@link FrameStats} between two analysis images. `watched` lists the indices of the
 * pixels that count (the mask), or is null when every pixel counts.
 */
export function frameStats(prev: Uint8Array, cur: Uint8Array, watched: Uint32Array | null, pixelDelta: number): FrameStats {
  let sp = 0;
  let sc = 0;
  let spp = 0;
  let scc = 0;
  let spc = 0;
  let sdd = 0;
  let brighter = 0;
  let darker = 0;
  const n = watched ? watched.length : Math.min(prev.length, cur.length);
  for (let k = 0; k < n; k++) {
    const i = watched ? watched[k] : k;
    const p = prev[i];
    const c = cur[i];
    const d = c - p;
    sp += p;
    sc += c;
    spp += p * p;
    scc += c * c;
    spc += p * c;
    sdd += d * d;
    if (d > pixelDelta) brighter++;
    else if (d < -pixelDelta) darker++;
  }
  return { pixels: n, sumPrev: sp, sumCur: sc, sumPrevSq: spp, sumCurSq: scc, sumPrevCur: spc, sumDiffSq: sdd, brighter, darker };
}

/** The global brightness model removed before scoring: `cur ≈ gain·prev + offset`. */
export interface BrightnessFit {
  readonly gain: number;
  readonly offset: number;
}

/** Gains beyond these bounds are not exposure changes the fit should absorb (switch detection handles them). */
const MIN_GAIN = 0.25;
const MAX_GAIN = 4;

/**
 * Fits the global brightness change for a compensation mode: `none` is gain 1 offset 0,
 * `offset` is gain 1 and the mean difference, `gain-offset` the least-squares line (gain
 * clamped to [0.25, 4]; offset only when the previous image is nearly flat, as at night).
 */
export function fitBrightness(stats: FrameStats, compensation: LightingConfig['compensation']): BrightnessFit {
  const n = stats.pixels;
  if (n === 0 || compensation === 'none') return { gain: 1, offset: 0 };
  const meanPrev = stats.sumPrev / n;
  const meanCur = stats.sumCur / n;
  if (compensation === 'offset') return { gain: 1, offset: meanCur - meanPrev };
  // Centred sums from the integer sums: n·Σp² − (Σp)² is exact in doubles at these sizes.
  const varPrevN = n * stats.sumPrevSq - stats.sumPrev * stats.sumPrev;
  const covN = n * stats.sumPrevCur - stats.sumPrev * stats.sumCur;
  // Below a variance of 1 level² the slope is noise: fall back to the mean difference.
  if (varPrevN < n * n) return { gain: 1, offset: meanCur - meanPrev };
  const gain = Math.min(MAX_GAIN, Math.max(MIN_GAIN, covN / varPrevN));
  return { gain, offset: meanCur - gain * meanPrev };
}

/**
 * Mean squared residual `Σ (cur − gain·prev − offset)² / n` from the integer sums
 * (0..65025). With gain 1 and offset 0 it is the true MSE `Σ (cur − prev)² / n`.
 */
export function residualMse(stats: FrameStats, fit: BrightnessFit): number {
  const n = stats.pixels;
  if (n === 0) return 0;
  if (fit.gain === 1 && fit.offset === 0) return stats.sumDiffSq / n;
  const { gain: a, offset: b } = fit;
  // Σ (c − a p − b)² expanded over the sums.
  const sum = stats.sumCurSq + a * a * stats.sumPrevSq + n * b * b - 2 * a * stats.sumPrevCur - 2 * b * stats.sumCur + 2 * a * b * stats.sumPrev;
  return Math.min(65025, Math.max(0, sum / n));
}

/** The numbers a frame is judged by. */
export interface FrameScore {
  /** Residual MSE after brightness compensation (0..65025). */
  readonly score: number;
  /** Raw MSE (0..65025). */
  readonly rawScore: number;
  /** Mean difference cur − prev (−255..255). */
  readonly meanDelta: number;
  /** Fraction of watched pixels changed by more than `pixelDelta`, either way. */
  readonly changedFraction: number;
  /** Fraction of watched pixels changed by more than `pixelDelta` in the dominant direction. */
  readonly sameDirectionFraction: number;
  readonly fit: BrightnessFit;
}

/** Scores a pair of analysis images from their stats. Rounds the scores to 1/1000. */
export function scoreFrame(stats: FrameStats, compensation: LightingConfig['compensation']): FrameScore {
  const n = stats.pixels;
  const fit = fitBrightness(stats, compensation);
  const round = (v: number): number => Math.round(v * 1000) / 1000;
  return {
    score: round(residualMse(stats, fit)),
    rawScore: round(n ? stats.sumDiffSq / n : 0),
    meanDelta: round(n ? (stats.sumCur - stats.sumPrev) / n : 0),
    changedFraction: n ? (stats.brighter + stats.darker) / n : 0,
    sameDirectionFraction: n ? Math.max(stats.brighter, stats.darker) / n : 0,
    fit,
  };
}

/**
 * Per-pixel magnitude of the residual change `|cur − gain·prev − offset|` (0..255) at analysis
 * size; masked pixels are 0. This is the heat-map of a trigger moment.
 */
export function diffMagnitudes(prev: Uint8Array, cur: Uint8Array, fit: BrightnessFit, watchedMask: Uint8Array | null): Uint8Array {
  const out = new Uint8Array(cur.length);
  for (let i = 0; i < cur.length; i++) {
    if (watchedMask && !watchedMask[i]) continue;
    const r = Math.abs(cur[i] - fit.gain * prev[i] - fit.offset);
    out[i] = r > 255 ? 255 : Math.round(r);
  }
  return out;
}
