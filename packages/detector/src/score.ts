import type { LightingConfig } from './types';

/** Number of luma bins of the `tone` compensation (8 levels each). */
export const TONE_BINS = 32;

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
  /** Per bin of the previous luma (`prev >> 3`): pixel count, Σ prev, Σ d and Σ d² with d = cur − prev. */
  readonly binCount: Float64Array;
  readonly binSumPrev: Float64Array;
  readonly binSumDiff: Float64Array;
  readonly binSumDiffSq: Float64Array;
}

/**
 * Gathers {@link FrameStats} between two analysis images in one pass. `watched` lists the
 * indices of the pixels that count (the mask), or is null when every pixel counts.
 */
export function frameStats(prev: Uint8Array, cur: Uint8Array, watched: Uint32Array | null, pixelDelta: number): FrameStats {
  // Per-pixel work is the hot spot of the analysis: only Σp² and Σp·d are summed over pixels,
  // the rest comes from the per-bin sums (exact integers, int32 arithmetic throughout).
  let spp = 0;
  let spd = 0;
  let brighter = 0;
  let darker = 0;
  const count = new Int32Array(TONE_BINS);
  const sumPrev = new Int32Array(TONE_BINS);
  const sumDiff = new Int32Array(TONE_BINS);
  const sumDiffSq = new Float64Array(TONE_BINS);
  // d is an integer, so d > pixelDelta ⟺ d > ⌊pixelDelta⌋ (and likewise for darker).
  const delta = Math.floor(pixelDelta);
  const n = watched ? watched.length : Math.min(prev.length, cur.length);
  for (let k = 0; k < n; k++) {
    const i = watched ? watched[k] : k;
    const p = prev[i];
    const d = cur[i] - p;
    const bin = p >>> 3;
    spp += p * p;
    spd += p * d;
    count[bin]++;
    sumPrev[bin] += p;
    sumDiff[bin] += d;
    sumDiffSq[bin] += d * d;
    // Branch-free counts: (delta − d) is negative exactly when d > delta.
    brighter += (delta - d) >>> 31;
    darker += (d + delta) >>> 31;
  }
  const binCount = new Float64Array(TONE_BINS);
  const binSumPrev = new Float64Array(TONE_BINS);
  const binSumDiff = new Float64Array(TONE_BINS);
  let sp = 0;
  let sd = 0;
  let sdd = 0;
  for (let b = 0; b < TONE_BINS; b++) {
    binCount[b] = count[b];
    binSumPrev[b] = sumPrev[b];
    binSumDiff[b] = sumDiff[b];
    sp += sumPrev[b];
    sd += sumDiff[b];
    sdd += sumDiffSq[b];
  }
  // Σc = Σp + Σd; Σp·c = Σp² + Σp·d; Σc² = Σp² + 2Σp·d + Σd².
  return {
    pixels: n,
    sumPrev: sp,
    sumCur: sp + sd,
    sumPrevSq: spp,
    sumCurSq: spp + 2 * spd + sdd,
    sumPrevCur: spp + spd,
    sumDiffSq: sdd,
    brighter,
    darker,
    binCount,
    binSumPrev,
    binSumDiff,
    binSumDiffSq: sumDiffSq,
  };
}

/**
 * The global brightness change removed before scoring, as the expected current luma for each
 * previous luma value (`expected[prev]`), plus the straight-line summary of it.
 */
export interface BrightnessFit {
  readonly mode: LightingConfig['compensation'];
  /** Slope of the change (1 for `none`, `offset` and `tone`). */
  readonly gain: number;
  /** Mean offset of the change. */
  readonly offset: number;
  /** Expected current luma for each previous luma 0..255. */
  readonly expected: Float64Array;
}

/** Gains beyond these bounds are not exposure changes the fit should absorb (switch detection handles them). */
const MIN_GAIN = 0.25;
const MAX_GAIN = 4;

/**
 * Fits the global brightness change for a compensation mode:
 * - `none`: no change;
 * - `offset`: the mean difference;
 * - `gain-offset`: the least-squares line `cur ≈ gain·prev + offset` (gain clamped to
 *   [0.25, 4]; offset only when the previous image is nearly flat, as at night);
 * - `tone`: a mean difference per band of 8 luma levels of the previous image, shrunk towards
 *   the gain-offset line where a band has few pixels — any global tone change (exposure,
 *   gain, gamma, clipping at white) from the one pass of sums.
 */
export function fitBrightness(stats: FrameStats, compensation: LightingConfig['compensation']): BrightnessFit {
  const n = stats.pixels;
  const expected = new Float64Array(256);
  const line = (gain: number, offset: number): BrightnessFit => {
    for (let p = 0; p < 256; p++) expected[p] = gain * p + offset;
    return { mode: compensation, gain, offset, expected };
  };
  if (n === 0 || compensation === 'none') return line(1, 0);
  const meanDelta = (stats.sumCur - stats.sumPrev) / n;
  if (compensation === 'offset') return line(1, meanDelta);
  const fitted = fitLine(stats, meanDelta);
  if (compensation === 'gain-offset') return line(fitted.gain, fitted.offset);
  // tone: each band's own mean difference, shrunk towards the straight line by TONE_PRIOR_PIXELS
  // pseudo-pixels, so a band that a moving object fills (few pixels, all changed) does not
  // learn the object's change as a "tone change" and hide it.
  const offsets = toneOffsets(stats, fitted);
  for (let p = 0; p < 256; p++) expected[p] = p + offsets[p >>> 3];
  return { mode: compensation, gain: fitted.gain, offset: fitted.offset, expected };
}

/** Pseudo-pixels of the straight-line prior in each band of the `tone` fit. */
export const TONE_PRIOR_PIXELS = 32;

function toneOffsets(stats: FrameStats, fitted: { gain: number; offset: number }): Float64Array {
  const offsets = new Float64Array(TONE_BINS);
  for (let b = 0; b < TONE_BINS; b++) {
    const count = stats.binCount[b];
    const meanPrev = count ? stats.binSumPrev[b] / count : b * 8 + 3.5;
    const prior = (fitted.gain - 1) * meanPrev + fitted.offset;
    offsets[b] = (stats.binSumDiff[b] + TONE_PRIOR_PIXELS * prior) / (count + TONE_PRIOR_PIXELS);
  }
  return offsets;
}

function fitLine(stats: FrameStats, meanDelta: number): { gain: number; offset: number } {
  const n = stats.pixels;
  // Centred sums from the integer sums: n·Σp² − (Σp)² is exact in doubles at these sizes.
  const varPrevN = n * stats.sumPrevSq - stats.sumPrev * stats.sumPrev;
  const covN = n * stats.sumPrevCur - stats.sumPrev * stats.sumCur;
  // Below a variance of 1 level² the slope is noise: fall back to the mean difference.
  if (varPrevN < n * n) return { gain: 1, offset: meanDelta };
  const gain = Math.min(MAX_GAIN, Math.max(MIN_GAIN, covN / varPrevN));
  return { gain, offset: stats.sumCur / n - (gain * stats.sumPrev) / n };
}

/**
 * Mean squared residual `Σ (cur − expected[prev])² / n` from the integer sums (0..65025).
 * With no compensation it is the true MSE `Σ (cur − prev)² / n`.
 */
export function residualMse(stats: FrameStats, fit: BrightnessFit): number {
  const n = stats.pixels;
  if (n === 0) return 0;
  let sum: number;
  if (fit.mode === 'none') {
    sum = stats.sumDiffSq;
  } else if (fit.mode === 'tone') {
    // Σ_b Σ (d − o_b)² = Σ_b (Σd² − 2·o_b·Σd + n_b·o_b²), with o_b the band's offset.
    sum = 0;
    for (let b = 0; b < TONE_BINS; b++) {
      const count = stats.binCount[b];
      if (!count) continue;
      const o = fit.expected[b * 8] - b * 8;
      sum += stats.binSumDiffSq[b] - 2 * o * stats.binSumDiff[b] + count * o * o;
    }
  } else {
    const { gain: a, offset: o } = fit;
    // Σ (c − a p − o)² expanded over the sums.
    sum = stats.sumCurSq + a * a * stats.sumPrevSq + n * o * o - 2 * a * stats.sumPrevCur - 2 * o * stats.sumCur + 2 * a * o * stats.sumPrev;
  }
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
 * Per-pixel magnitude of the residual change `|cur − expected[prev]|` (0..255) at analysis
 * size; masked pixels are 0. This is the heat-map of a trigger moment.
 */
export function diffMagnitudes(prev: Uint8Array, cur: Uint8Array, fit: BrightnessFit, watchedMask: Uint8Array | null): Uint8Array {
  const out = new Uint8Array(cur.length);
  for (let i = 0; i < cur.length; i++) {
    if (watchedMask && !watchedMask[i]) continue;
    const r = Math.abs(cur[i] - fit.expected[prev[i]]);
    out[i] = r > 255 ? 255 : Math.round(r);
  }
  return out;
}
