import { analysisGeometry } from './downscale';
import { DetectorError } from './errors';
import { buildAnalysisMask } from './mask';
import type { DetectorMask, MaskImage } from './types';

/** A point in fractions of the frame: `[x, y]`, both 0..1 (0,0 is the top-left corner). */
export type MaskPoint = readonly [number, number];

/**
 * A polygon drawn on the picture, in fractions of the frame so it holds at any resolution.
 * `exclude` (a mask): motion inside never counts. `include` (an "only here" zone): when any
 * zone exists, motion counts only inside the zones (and outside every exclusion).
 */
export interface MaskPolygon {
  readonly kind: 'exclude' | 'include';
  readonly points: readonly MaskPoint[];
}

/** Bounds of polygon masks (also used by the configuration schema). */
export const POLYGON_LIMITS = Object.freeze({ maxPolygons: 32, minPoints: 3, maxPoints: 64 });

/**
 * Checks polygons: each has 3..64 points inside the frame (0..1), at most 32 polygons.
 * Throws `DETECTOR_BAD_MASK` naming the polygon.
 */
export function checkPolygons(polygons: readonly MaskPolygon[]): void {
  if (polygons.length > POLYGON_LIMITS.maxPolygons) {
    throw new DetectorError('DETECTOR_BAD_MASK', `at most ${POLYGON_LIMITS.maxPolygons} polygons`, { polygons: polygons.length });
  }
  polygons.forEach((polygon, index) => {
    if (polygon.kind !== 'exclude' && polygon.kind !== 'include') {
      throw new DetectorError('DETECTOR_BAD_MASK', `polygon ${index}: kind must be exclude or include`, { index, kind: polygon.kind });
    }
    const n = polygon.points?.length ?? 0;
    if (n < POLYGON_LIMITS.minPoints || n > POLYGON_LIMITS.maxPoints) {
      throw new DetectorError('DETECTOR_BAD_MASK', `polygon ${index}: needs ${POLYGON_LIMITS.minPoints} to ${POLYGON_LIMITS.maxPoints} points`, { index, points: n });
    }
    for (const point of polygon.points) {
      const ok = Array.isArray(point) && point.length === 2 && point.every((v) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1);
      if (!ok) throw new DetectorError('DETECTOR_BAD_MASK', `polygon ${index}: points are [x, y] fractions of the frame (0..1)`, { index, point });
    }
  });
}

/**
 * Where a horizontal line at `y` crosses the edge from `a` to `b` (pixel units). Shared by the
 * rasteriser and {@link pointInPolygon}, so both decide a pixel centre with the same arithmetic.
 */
function crossingX(ax: number, ay: number, bx: number, by: number, y: number): number {
  return ax + ((y - ay) * (bx - ax)) / (by - ay);
}

/**
 * The even-odd point-in-polygon test (a ray to the right, half-open in y), in the polygon's own
 * units. A point exactly on a left edge is inside, on a right edge outside, so polygons that
 * share an edge never both own a pixel.
 */
export function pointInPolygon(x: number, y: number, points: readonly MaskPoint[]): boolean {
  let inside = false;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    const [xi, yi] = points[i];
    const [xj, yj] = points[j];
    if (yi > y !== yj > y && x < crossingX(xi, yi, xj, yj, y)) inside = !inside;
  }
  return inside;
}

/**
 * Rasterises one polygon (normalised points) onto a `width`×`height` grid: sets `value` in
 * `out` at every pixel whose centre is inside (even-odd rule, the same decision as
 * {@link pointInPolygon} at `((x + 0.5) / width, (y + 0.5) / height)` in pixel units). A scanline
 * fill: O(rows × edges + pixels), no per-pixel polygon test.
 */
export function fillPolygon(out: Uint8Array, width: number, height: number, points: readonly MaskPoint[], value: number): void {
  const px = points.map(([x, y]) => [x * width, y * height] as const);
  const xs: number[] = [];
  let minY = Infinity;
  let maxY = -Infinity;
  for (const [, y] of px) {
    minY = Math.min(minY, y);
    maxY = Math.max(maxY, y);
  }
  const rowFrom = Math.max(0, Math.floor(minY - 0.5));
  const rowTo = Math.min(height - 1, Math.ceil(maxY));
  for (let row = rowFrom; row <= rowTo; row++) {
    const yc = row + 0.5;
    xs.length = 0;
    for (let i = 0, j = px.length - 1; i < px.length; j = i++) {
      const [xi, yi] = px[i];
      const [xj, yj] = px[j];
      if (yi > yc !== yj > yc) xs.push(crossingX(xi, yi, xj, yj, yc));
    }
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      // Centres x + 0.5 with xs[k] <= x + 0.5 < xs[k + 1].
      const first = Math.max(0, Math.ceil(xs[k] - 0.5));
      const last = Math.min(width - 1, Math.ceil(xs[k + 1] - 0.5) - 1);
      if (last >= first) out.fill(value, row * width + first, row * width + last + 1);
    }
  }
}

/**
 * The polygons as a mask bitmap of `width`×`height` (255 watched, 0 ignored): everything, or
 * only the `include` zones when there are any, minus every `exclude` polygon. Null when there
 * are no polygons.
 */
export function rasterisePolygons(polygons: readonly MaskPolygon[], width: number, height: number): MaskImage | null {
  if (!polygons.length) return null;
  const includes = polygons.filter((p) => p.kind === 'include');
  const data = new Uint8Array(width * height).fill(includes.length ? 0 : 255);
  for (const zone of includes) fillPolygon(data, width, height, zone.points, 255);
  for (const polygon of polygons) if (polygon.kind === 'exclude') fillPolygon(data, width, height, polygon.points, 0);
  return { width, height, data };
}

/** A detector mask with polygons besides the existing bitmap and rectangles. */
export interface PolygonMask extends DetectorMask {
  readonly polygons?: readonly MaskPolygon[];
}

/**
 * Turns a mask with polygons into the detector's mask for frames of `frameWidth`×`frameHeight`:
 * the polygons are rasterised at the analysis size (once per size: the caller keeps the
 * result) and combined with the bitmap (reduced to the analysis size as the detector reduces it). Rectangles pass as they
 * are. Undefined when nothing is masked.
 */
export function resolvePolygonMask(mask: PolygonMask | undefined, frameWidth: number, frameHeight: number, analysisWidth: number): DetectorMask | undefined {
  if (!mask) return undefined;
  const polygons = mask.polygons ?? [];
  if (!polygons.length) return mask.image || mask.rects?.length ? { image: mask.image, rects: mask.rects } : undefined;
  const geometry = analysisGeometry(frameWidth, frameHeight, analysisWidth);
  // Polygons are fractions of the frame; the analysis image covers box-sized blocks of it.
  const coverW = (geometry.width * geometry.box) / frameWidth;
  const coverH = (geometry.height * geometry.box) / frameHeight;
  const scaled = polygons.map((p) => ({ kind: p.kind, points: p.points.map(([x, y]) => [x / coverW, y / coverH] as const) }));
  const image = rasterisePolygons(scaled, geometry.width, geometry.height)!;
  if (mask.image) {
    // The bitmap is reduced to the analysis size exactly as the detector would, then combined.
    const watched = buildAnalysisMask({ image: mask.image }, geometry)!;
    for (let i = 0; i < image.data.length; i++) if (!watched[i]) image.data[i] = 0;
  }
  return { image, rects: mask.rects };
}
