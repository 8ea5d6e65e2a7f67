/**
 * The sensor-noise model: a robust, per-brightness estimate of how much a still scene's
 * (spatially smoothed) residual moves from frame to frame, followed over time.
 *
 * Why per brightness: a camera's temporal noise grows with the signal (shot noise) and with the
 * analogue gain, and dark areas of a compressed image lose it again; one global figure would
 * be too strict in one part of the picture and too lax in another. Why robust: the estimate is
 * taken from every frame, moving objects included, so it uses the median absolute value
 * (a moving object covering less than half of a band's pixels does not move it).
 */

/** Bands of the reference luma (32 levels each) the noise is estimated in (`luma >>> 5`). */
export const NOISE_BANDS = 8;
/** Histogram bins per band: |residual| in quarter luma levels, 0..63.75. */
export const NOISE_BINS = 256;
/** Quarter-level resolution of the histogram. */
export const NOISE_BIN_SCALE = 4;
/** A band needs this many pixels in a frame before its median counts. */
export const NOISE_MIN_BAND_PIXELS = 48;
/** 1/Φ⁻¹(0.75): the median absolute deviation of a normal variable is 0.6745 σ. */
const MAD_TO_SIGMA = 1.4826;

/** The followed noise estimate: σ² of the smoothed residual per band, NaN while unknown. */
export interface NoiseState {
  readonly varianceByBand: Float64Array;
}

/** A fresh noise state with every band unknown. */
export function createNoiseState(): NoiseState {
  return { varianceByBand: new Float64Array(NOISE_BANDS).fill(Number.NaN) };
}

/** The band of a reference luma value. */
export function noiseBand(luma: number): number {
  return luma >>> 5;
}

/** Histogram bin of an absolute residual. */
export function noiseBin(absResidual: number): number {
  const q = Math.round(absResidual * NOISE_BIN_SCALE);
  return q > NOISE_BINS - 1 ? NOISE_BINS - 1 : q;
}

/** Φ⁻¹(0.95): the 90th percentile of |x| for a normal variable is 1.645 σ. */
const P90_TO_SIGMA = 1.6449;

/** Nearest-bin quantile `q` of a band's histogram, interpolated inside the bin, in luma levels. */
function histogramQuantile(histogram: Uint32Array, offset: number, total: number, q: number): number {
  const wanted = total * q;
  let seen = 0;
  for (let b = 0; b < NOISE_BINS; b++) {
    const count = histogram[offset + b];
    if (seen + count >= wanted) {
      const within = count ? (wanted - seen) / count : 0;
      return Math.max(0, b - 0.5 + within) / NOISE_BIN_SCALE;
    }
    seen += count;
  }
  return (NOISE_BINS - 1) / NOISE_BIN_SCALE;
}

/**
 * Robust σ of one band from a histogram of absolute residuals (`NOISE_BINS` counts starting
 * at `offset`): 1.4826 × the median absolute value, but at least half of what the 90th
 * percentile implies (p90 / 1.645 / 2). The median ignores a moving object covering less than
 * half the band; the tail guard covers compressed video, where most residuals are exactly 0
 * (skipped blocks) and the median says "no noise" while blocks around it flicker. For normal
 * noise the guard (0.5 σ) never binds. NaN with fewer than `NOISE_MIN_BAND_PIXELS` pixels.
 */
export function robustSigmaFromHistogram(histogram: Uint32Array, offset = 0): number {
  let total = 0;
  for (let b = 0; b < NOISE_BINS; b++) total += histogram[offset + b];
  if (total < NOISE_MIN_BAND_PIXELS) return Number.NaN;
  const mad = histogramQuantile(histogram, offset, total, 0.5);
  const p90 = histogramQuantile(histogram, offset, total, 0.9);
  return Math.max(MAD_TO_SIGMA * mad, p90 / P90_TO_SIGMA / 2);
}

/** Robust σ (1.4826 × median |x|) of a list of residuals, for tests and tools; NaN for none. */
export function robustSigma(residuals: ArrayLike<number>): number {
  const histogram = new Uint32Array(NOISE_BINS);
  for (let i = 0; i < residuals.length; i++) histogram[noiseBin(Math.abs(residuals[i]))]++;
  return robustSigmaFromHistogram(histogram);
}

/** Time constants of the noise follower, seconds. */
export interface NoiseFollow {
  /** Time constant when the noise rises (a gain step must be followed within a second). */
  readonly riseS: number;
  /** Time constant when it falls (slower: one unusually clean frame must not lower the guard). */
  readonly fallS: number;
}

/**
 * Follows the per-band variance towards this frame's estimates (`sigmaByBand`, NaN where a band
 * had too few pixels), with an exponential smoothing of the log variance whose weight depends
 * on the time since the previous frame (`dtS`), not on the frame count: the same scene at 2 or
 * 30 frames/s converges in the same seconds. Bands estimated at exactly 0 are skipped. In the log domain one outlying frame (a burst of
 * compression artefacts, a light switch the judge has not caught) moves the estimate by a
 * bounded factor instead of by its size. A band seen for the first time takes the estimate at
 * once. Pure: returns a new state.
 */
export function followNoise(state: NoiseState, sigmaByBand: ArrayLike<number>, dtS: number, follow: NoiseFollow): NoiseState {
  const next = new Float64Array(state.varianceByBand);
  const dt = Math.min(Math.max(dtS, 0), 5);
  for (let b = 0; b < NOISE_BANDS; b++) {
    const sigma = sigmaByBand[b];
    // Exactly 0: the encoder repeated the band unchanged (skipped blocks); that says nothing
    // about the sensor, and learning it would leave the next keyframe's burst unguarded.
    if (!Number.isFinite(sigma) || sigma <= 0) continue;
    const v = Math.max(sigma * sigma, MIN_VARIANCE);
    const old = next[b];
    if (!Number.isFinite(old)) {
      next[b] = v;
      continue;
    }
    const tau = v > old ? follow.riseS : follow.fallS;
    const alpha = 1 - Math.exp(-dt / Math.max(tau, 1e-6));
    next[b] = Math.exp(Math.log(old) + alpha * (Math.log(v) - Math.log(old)));
  }
  return { varianceByBand: next };
}

/** Variances are kept above this (σ 0.05 level) so the log domain stays finite on a frozen picture. */
const MIN_VARIANCE = 0.0025;

/**
 * The variance to judge each band by: its own where known, else the nearest known band's
 * (ties go to the brighter one), else `fallbackVariance`. Written into `out`.
 */
export function filledVariances(state: NoiseState, fallbackVariance: number, out: Float64Array = new Float64Array(NOISE_BANDS)): Float64Array {
  const v = state.varianceByBand;
  for (let b = 0; b < NOISE_BANDS; b++) {
    if (Number.isFinite(v[b])) {
      out[b] = v[b];
      continue;
    }
    out[b] = fallbackVariance;
    for (let d = 1; d < NOISE_BANDS; d++) {
      if (b + d < NOISE_BANDS && Number.isFinite(v[b + d])) {
        out[b] = v[b + d];
        break;
      }
      if (b - d >= 0 && Number.isFinite(v[b - d])) {
        out[b] = v[b - d];
        break;
      }
    }
  }
  return out;
}
