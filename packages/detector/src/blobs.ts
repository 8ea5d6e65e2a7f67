/**
 * Spatial coherence: changed pixels count only when they form a connected region of a
 * minimum area. Scattered noise, rain and snow make many small, isolated specks; a person, a
 * car or an animal makes one compact region, however dim.
 */

/** A connected region of changed pixels, in analysis pixels. */
export interface Blob {
  /** Pixels in the region. */
  readonly area: number;
  /** Bounding box: first column/row and last column/row, inclusive. */
  readonly minX: number;
  readonly minY: number;
  readonly maxX: number;
  readonly maxY: number;
  /** Σ of `weights` over the region's pixels (the squared residual, for the score). */
  readonly weight: number;
}

/** Scratch buffers reused between frames, so labelling allocates nothing per frame. */
export interface BlobScratch {
  labels?: Int32Array;
  stack?: Int32Array;
}

/**
 * Labels the 8-connected regions of `changed` (non-zero = changed, `width`×`height`) and
 * returns those with at least `minArea` pixels, largest first. `weights` (optional, one per
 * pixel) is summed per region. Pure apart from the scratch buffers; O(pixels).
 */
export function findBlobs(
  changed: Uint8Array,
  width: number,
  height: number,
  minArea: number,
  weights?: ArrayLike<number>,
  scratch: BlobScratch = {},
): Blob[] {
  const n = width * height;
  if (!scratch.labels || scratch.labels.length < n) scratch.labels = new Int32Array(n);
  if (!scratch.stack || scratch.stack.length < n) scratch.stack = new Int32Array(n);
  const labels = scratch.labels;
  const stack = scratch.stack;
  labels.fill(0, 0, n);
  const blobs: Blob[] = [];
  let label = 0;
  for (let start = 0; start < n; start++) {
    if (!changed[start] || labels[start]) continue;
    label++;
    let top = 0;
    stack[top++] = start;
    labels[start] = label;
    let area = 0;
    let weight = 0;
    let minX = width;
    let minY = height;
    let maxX = -1;
    let maxY = -1;
    while (top > 0) {
      const i = stack[--top];
      const x = i % width;
      const y = (i - x) / width;
      area++;
      if (weights) weight += weights[i];
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
      const y0 = y > 0 ? y - 1 : y;
      const y1 = y < height - 1 ? y + 1 : y;
      const x0 = x > 0 ? x - 1 : x;
      const x1 = x < width - 1 ? x + 1 : x;
      for (let yy = y0; yy <= y1; yy++) {
        const row = yy * width;
        for (let xx = x0; xx <= x1; xx++) {
          const j = row + xx;
          if (changed[j] && !labels[j]) {
            labels[j] = label;
            stack[top++] = j;
          }
        }
      }
    }
    if (area >= minArea) blobs.push({ area, minX, minY, maxX, maxY, weight });
  }
  blobs.sort((a, b) => b.area - a.area);
  return blobs;
}
