import { findBlobs, type Blob, type BlobScratch } from './blobs';
import { NOISE_BANDS, NOISE_BIN_SCALE, NOISE_BINS, robustSigmaFromHistogram } from './noise';

/** The parameters of one change analysis (a day or a night profile). */
export interface ChangeParams {
  /** A pixel changed when its smoothed residual exceeds this many noise σ. */
  readonly thresholdSigma: number;
  /** ...and at least this many luma levels (a floor for very clean or flat images). */
  readonly minDeltaLuma: number;
  /** Weight of the activity map in the squared threshold (0 turns it off). */
  readonly activityWeight: number;
  /** Smallest region that counts, in analysis pixels. */
  readonly minBlobArea: number;
}

/** Working buffers of one analysis size, reused from frame to frame. */
export interface ChangeBuffers {
  readonly width: number;
  readonly height: number;
  /** Residual cur − expected[ref] per pixel (0 where masked). */
  readonly residual: Float32Array;
  /** The residual after a 3×3 box mean: the denoised analysis image the decision is made on. */
  readonly smoothed: Float32Array;
  readonly rowPass: Float32Array;
  /** Squared residual of each changed pixel (the score's weights). */
  readonly weights: Float32Array;
  readonly changed: Uint8Array;
  readonly histogram: Uint32Array;
  readonly blobScratch: BlobScratch;
}

/** Allocates the buffers for a `width`×`height` analysis image. */
export function createChangeBuffers(width: number, height: number): ChangeBuffers {
  const n = width * height;
  return {
    width,
    height,
    residual: new Float32Array(n),
    smoothed: new Float32Array(n),
    rowPass: new Float32Array(n),
    weights: new Float32Array(n),
    changed: new Uint8Array(n),
    histogram: new Uint32Array(NOISE_BANDS * NOISE_BINS),
    blobScratch: {},
  };
}

/** What one change analysis found. */
export interface ChangeResult {
  /** Σ squared residual over the pixels of the accepted regions / watched pixels (0..65025). */
  readonly score: number;
  /** Accepted regions, largest first. */
  readonly blobs: Blob[];
  /** Pixels above the threshold before the area filter. */
  readonly changedPixels: number;
  /** This frame's robust σ of the smoothed residual per band (NaN where too few pixels). */
  readonly sigmaByBand: Float64Array;
  /** The squared threshold each band was judged by (before the activity term). */
  readonly thresholdSqByBand: Float64Array;
  /**
   * Changed pixels (before the area filter) whose value differs from the previous analysis
   * image: 0 when the change is only the reference still showing what an earlier frame
   * brought, as on a frame the encoder repeated. Equal to `changedPixels` without a previous image.
   */
  readonly freshPixels: number;
  /**
   * Changed pixels (before the area filter) that are not an echo: where the current image is
   * not back (within half the change) to what it was one reference interval before the
   * reference — there the change is the reference's own, e.g. a glitch leaving. Equal to
   * `changedPixels` without that image.
   */
  readonly novelPixels: number;
  /**
   * Changed pixels (before the area filter) that changed beyond the noise since the first image
   * of the current confirmation run: a change that appeared at once and
   * stands still (a glitch of two frames) has none. Equal to `changedPixels` without that image.
   */
  readonly movedPixels: number;
}

/** Below this share of non-echo pixels among the changed ones, a frame {@link bringsNothingNew}. */
export const NOVEL_MIN_FRACTION = 0.1;
/** Below this share of moved pixels among the changed ones (and at least 2), a frame {@link bringsNothingNew}. */
export const MOVED_MIN_FRACTION = 0.02;

/**
 * True when a frame's change is no new evidence of motion: fewer than a tenth of its changed
 * pixels are not an echo of the reference (`novelPixels`), or almost none moved since the
 * first frame of its confirmation run (`movedPixels`: fewer than 2 % and at least 2 pixels).
 * A moving object always brings both: its leading edge is new against the reference's past
 * and against the first frame of its run, while its trailing edge is the echo. Pure.
 */
export function bringsNothingNew(changedPixels: number, novelPixels: number, movedPixels: number): boolean {
  if (changedPixels <= 0) return false;
  return novelPixels < NOVEL_MIN_FRACTION * changedPixels || movedPixels < Math.max(2, MOVED_MIN_FRACTION * changedPixels);
}

/** Below this share of fresh pixels among the changed ones, a frame {@link repeatsPrevious}. */
export const REPEAT_MAX_FRESH_FRACTION = 0.02;

/**
 * True when a frame's change brings nothing new: (almost) none of its changed pixels differ
 * from the previous frame. Heavily compressed video repeats whole frames between keyframes
 * and re-quantises at each keyframe, so a block-shaped step appears in one frame and then
 * holds unchanged while the reference still shows the old picture; a moving object changes
 * its pixels from frame to frame. Real sensor noise never repeats a pixel exactly over a
 * changed region, so the guard only acts on repeated frames. Pure.
 */
export function repeatsPrevious(changedPixels: number, freshPixels: number): boolean {
  return changedPixels > 0 && freshPixels < REPEAT_MAX_FRESH_FRACTION * changedPixels;
}

/**
 * Finds the change between a reference and the current analysis image that stands out of the
 * noise, in connected regions. Steps: residual after the global brightness fit
 * (`expected[ref]`); a 3×3 box mean of it (independent noise drops by 3, a compact object
 * keeps its level); per band of the reference luma, this frame's robust σ of that smoothed
 * residual (for the noise follower); a pixel changed when `s² > max(minDelta², k²·σ²_band) +
 * w·activity`; 8-connected regions of at least `minBlobArea`; the score is the mean squared
 * residual those regions hold, over all watched pixels — an MSE, of coherent change only.
 * `varianceByBand` is the followed noise (σ² per band) the thresholds come from. `prev` (the
 * previous analysis image, null when unknown) only tells which changed pixels are fresh;
 * `beforeRef` (the image about one reference interval older than `ref`) which are echoes, and
 * `evidence` (the first image of the current confirmation run) which are
 * still — see `ChangeResult.novelPixels`.
 */
export function analyseChange(
  ref: Uint8Array,
  cur: Uint8Array,
  expected: Float64Array,
  watched: Uint8Array | null,
  watchedCount: number,
  varianceByBand: Float64Array,
  activity: Float32Array,
  params: ChangeParams,
  buffers: ChangeBuffers,
  prev: Uint8Array | null = null,
  beforeRef: Uint8Array | null = null,
  evidence: Uint8Array | null = null,
): ChangeResult {
  const { width, height, residual, smoothed, rowPass, weights, changed, histogram } = buffers;
  const n = width * height;
  if (watched) {
    for (let i = 0; i < n; i++) residual[i] = watched[i] ? cur[i] - expected[ref[i]] : 0;
  } else {
    for (let i = 0; i < n; i++) residual[i] = cur[i] - expected[ref[i]];
  }
  boxMean3(residual, rowPass, smoothed, width, height);
  // Pass 1: this frame's own noise per band, from the histogram of the smoothed residual.
  histogram.fill(0);
  const top = NOISE_BINS - 1;
  for (let i = 0; i < n; i++) {
    if (watched && !watched[i]) continue;
    const s = smoothed[i];
    const a = s < 0 ? -s : s;
    // noiseBin inlined: quarter levels, rounded, capped.
    const bin = (a * NOISE_BIN_SCALE + 0.5) | 0;
    histogram[((ref[i] >>> 5) << 8) + (bin > top ? top : bin)]++;
  }
  const sigmaByBand = new Float64Array(NOISE_BANDS);
  for (let b = 0; b < NOISE_BANDS; b++) sigmaByBand[b] = robustSigmaFromHistogram(histogram, b * NOISE_BINS);
  // Pass 2: judge each pixel against the larger of the followed noise and this frame's own, so
  // a frame-wide burst (an H.264 keyframe, a gain step) raises the bar for exactly that frame.
  const k2 = params.thresholdSigma * params.thresholdSigma;
  const floor2 = params.minDeltaLuma * params.minDeltaLuma;
  const bandThreshold = new Float64Array(NOISE_BANDS);
  for (let b = 0; b < NOISE_BANDS; b++) {
    const own = sigmaByBand[b];
    const v = Number.isFinite(own) ? Math.max(varianceByBand[b], own * own) : varianceByBand[b];
    bandThreshold[b] = Math.max(floor2, k2 * v);
  }
  const w = params.activityWeight;
  let changedPixels = 0;
  let freshPixels = 0;
  let novelPixels = 0;
  let movedPixels = 0;
  const last = prev ?? cur;
  changed.fill(0);
  for (let i = 0; i < n; i++) {
    if (watched && !watched[i]) continue;
    const s = smoothed[i];
    const t = bandThreshold[ref[i] >>> 5];
    if (s * s > t + w * activity[i]) {
      changed[i] = 1;
      changedPixels++;
      const r = residual[i];
      if (cur[i] !== last[i]) freshPixels++;
      weights[i] = r * r;
      // Echo: the picture is back (within half the change) to what it was before the reference.
      if (!beforeRef || 4 * meanDiffSq(cur, beforeRef, i, width, height) > s * s) novelPixels++;
      // Moved: it changed since the first frame of the run, beyond the noise.
      if (!evidence || meanDiffSq(cur, evidence, i, width, height) > t) movedPixels++;
    }
  }
  if (!prev) freshPixels = changedPixels;
  const blobs = changedPixels >= params.minBlobArea ? findBlobs(changed, width, height, params.minBlobArea, weights, buffers.blobScratch) : [];
  let sum = 0;
  for (const blob of blobs) sum += blob.weight;
  const score = watchedCount ? Math.min(65025, sum / watchedCount) : 0;
  return { score, blobs, changedPixels, sigmaByBand, thresholdSqByBand: bandThreshold, freshPixels, novelPixels, movedPixels };
}

/** At least this share of a run's first changed pixels must still differ for a frame to {@link holdsChange}. */
export const HOLD_MIN_FRACTION = 0.5;

/**
 * True when the change that started a confirmation run is still in the picture: at least half
 * of the pixels changed on the run's first frame (`firstChanged`, non-zero = changed) still
 * differ, beyond their band's threshold (`thresholdSqByBand`, by the luma of `ref`), from
 * `beforeRef`, the image one reference interval before the reference. A frame below the level
 * that holds the change — someone standing still for a moment at 2 frames/s, where the
 * reference is the previous frame and shows them too — neither extends nor breaks the run; a
 * glitch that has gone does not hold. Pure.
 */
export function holdsChange(
  firstChanged: Uint8Array,
  cur: Uint8Array,
  beforeRef: Uint8Array,
  ref: Uint8Array,
  thresholdSqByBand: ArrayLike<number>,
  width: number,
  height: number,
): boolean {
  let total = 0;
  let held = 0;
  for (let i = 0; i < firstChanged.length; i++) {
    if (!firstChanged[i]) continue;
    total++;
    if (meanDiffSq(cur, beforeRef, i, width, height) > thresholdSqByBand[ref[i] >>> 5]) held++;
  }
  return total > 0 && held >= HOLD_MIN_FRACTION * total;
}

/** Squared 3×3 mean (clipped at the borders) of `cur − other` around pixel `i`. */
function meanDiffSq(cur: Uint8Array, other: Uint8Array, i: number, width: number, height: number): number {
  const x = i % width;
  const y = (i - x) / width;
  const x0 = x > 0 ? x - 1 : x;
  const x1 = x < width - 1 ? x + 1 : x;
  const y0 = y > 0 ? y - 1 : y;
  const y1 = y < height - 1 ? y + 1 : y;
  let sum = 0;
  for (let yy = y0; yy <= y1; yy++) {
    const row = yy * width;
    for (let xx = x0; xx <= x1; xx++) sum += cur[row + xx] - other[row + xx];
  }
  const mean = sum / ((x1 - x0 + 1) * (y1 - y0 + 1));
  return mean * mean;
}

/** 3×3 box mean with the window clipped at the borders (separable: rows, then columns). */
export function boxMean3(input: Float32Array, rowPass: Float32Array, out: Float32Array, width: number, height: number): void {
  for (let y = 0; y < height; y++) {
    const o = y * width;
    if (width === 1) {
      rowPass[o] = input[o];
      continue;
    }
    rowPass[o] = (input[o] + input[o + 1]) / 2;
    for (let x = 1; x < width - 1; x++) rowPass[o + x] = (input[o + x - 1] + input[o + x] + input[o + x + 1]) / 3;
    rowPass[o + width - 1] = (input[o + width - 2] + input[o + width - 1]) / 2;
  }
  for (let y = 0; y < height; y++) {
    const o = y * width;
    if (y > 0 && y < height - 1) {
      const up = o - width;
      const down = o + width;
      for (let x = 0; x < width; x++) out[o + x] = (rowPass[up + x] + rowPass[o + x] + rowPass[down + x]) / 3;
    } else if (height === 1) {
      for (let x = 0; x < width; x++) out[x] = rowPass[x];
    } else {
      const other = y === 0 ? o + width : o - width;
      for (let x = 0; x < width; x++) out[o + x] = (rowPass[o + x] + rowPass[other + x]) / 2;
    }
  }
}
