import fc from 'fast-check';
import { createFrame, type Frame } from '@preroll/capture';
import { analysisGeometry } from '../src/downscale';
import { buildAnalysisMask } from '../src/mask';
import { createMaskableDetector } from '../src/masked-detector';
import { checkPolygons, fillPolygon, pointInPolygon, rasterisePolygons, resolvePolygonMask, type MaskPoint, type MaskPolygon } from '../src/masks-polygon';
import { createSceneRenderer, type SceneSpec } from '../src/synthetic';

/** The reference decision: the point-in-polygon test at every pixel centre, in pixel units. */
function reference(points: readonly MaskPoint[], width: number, height: number): Uint8Array {
  const px = points.map(([x, y]) => [x * width, y * height] as MaskPoint);
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[y * width + x] = pointInPolygon(x + 0.5, y + 0.5, px) ? 1 : 0;
  return out;
}

const fill = (points: readonly MaskPoint[], width: number, height: number): Uint8Array => {
  const out = new Uint8Array(width * height);
  fillPolygon(out, width, height, points, 1);
  return out;
};

const coord = fc.double({ min: 0, max: 1, noNaN: true });
/** Points on a coarse grid too, so vertices land exactly on pixel centres and edges are shared. */
const gridCoord = fc.integer({ min: 0, max: 16 }).map((k) => k / 16);
const anyPoint = fc.tuple(fc.oneof(coord, gridCoord), fc.oneof(coord, gridCoord)) as fc.Arbitrary<MaskPoint>;
const size = fc.record({ width: fc.integer({ min: 1, max: 48 }), height: fc.integer({ min: 1, max: 48 }) });

/** A convex polygon: points on an ellipse at increasing angles. */
const convex = fc
  .record({ cx: fc.double({ min: 0.2, max: 0.8, noNaN: true }), cy: fc.double({ min: 0.2, max: 0.8, noNaN: true }), r: fc.double({ min: 0.01, max: 0.2, noNaN: true }), n: fc.integer({ min: 3, max: 20 }), phase: fc.double({ min: 0, max: 6.28, noNaN: true }) })
  .map(({ cx, cy, r, n, phase }) => Array.from({ length: n }, (_, i) => [cx + r * Math.cos(phase + (2 * Math.PI * i) / n), cy + r * Math.sin(phase + (2 * Math.PI * i) / n)] as MaskPoint));

describe('fillPolygon agrees with the point-in-polygon test at every pixel centre', () => {
  test('arbitrary (concave, self-intersecting) polygons', () => {
    fc.assert(
      fc.property(fc.array(anyPoint, { minLength: 3, maxLength: 12 }), size, (points, { width, height }) => {
        expect(Buffer.from(fill(points, width, height)).equals(Buffer.from(reference(points, width, height)))).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  test('convex polygons, and every filled pixel lies within the bounding box', () => {
    fc.assert(
      fc.property(convex, size, (points, { width, height }) => {
        const out = fill(points, width, height);
        expect(Buffer.from(out).equals(Buffer.from(reference(points, width, height)))).toBe(true);
        const xs = points.map((p) => p[0] * width);
        const ys = points.map((p) => p[1] * height);
        for (let i = 0; i < out.length; i++) {
          if (!out[i]) continue;
          const cx = (i % width) + 0.5;
          const cy = Math.floor(i / width) + 0.5;
          expect(cx).toBeGreaterThanOrEqual(Math.min(...xs));
          expect(cx).toBeLessThanOrEqual(Math.max(...xs));
          expect(cy).toBeGreaterThanOrEqual(Math.min(...ys));
          expect(cy).toBeLessThanOrEqual(Math.max(...ys));
        }
      }),
      { numRuns: 300 },
    );
  });

  test('points outside the picture never write outside the buffer (bounds)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.double({ min: -2, max: 3, noNaN: true }), fc.double({ min: -2, max: 3, noNaN: true })), { minLength: 3, maxLength: 8 }), size, (points, { width, height }) => {
        const out = new Uint8Array(width * height + 16).fill(7);
        fillPolygon(out.subarray(0, width * height), width, height, points as MaskPoint[], 1);
        expect([...out.subarray(width * height)]).toEqual(Array(16).fill(7));
        expect(Buffer.from(out.subarray(0, width * height).map((v) => (v === 1 ? 1 : 0))).equals(Buffer.from(reference(points as MaskPoint[], width, height)))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('fillPolygon, table', () => {
  test.each<[string, number, MaskPoint[]]>([
    ['the whole frame', 100, [[0, 0], [1, 0], [1, 1], [0, 1]]],
    ['the left half', 50, [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]],
    // An L (concave): the 10x10 square minus its top-right 5x5 quarter.
    ['an L shape (concave)', 75, [[0, 0], [0.5, 0], [0.5, 0.5], [1, 0.5], [1, 1], [0, 1]]],
    // Two squares touching at one vertex, drawn as one outline (self-touching).
    ['two squares touching at a corner', 50, [[0, 0], [0.5, 0], [0.5, 0.5], [1, 0.5], [1, 1], [0.5, 1], [0.5, 0.5], [0, 0.5]]],
    ['a degenerate sliver (zero area)', 0, [[0.2, 0.2], [0.8, 0.8], [0.2, 0.2]]],
  ])('%s covers %i of 100 pixels', (_name, count, points) => {
    const out = fill(points, 10, 10);
    expect(out.reduce((a, b) => a + b, 0)).toBe(count);
  });

  test('two polygons sharing an edge never both own a pixel, and together cover the square', () => {
    const left: MaskPoint[] = [[0, 0], [0.37, 0], [0.61, 1], [0, 1]];
    const right: MaskPoint[] = [[0.37, 0], [1, 0], [1, 1], [0.61, 1]];
    const a = fill(left, 37, 23);
    const b = fill(right, 37, 23);
    for (let i = 0; i < a.length; i++) expect(a[i] + b[i]).toBe(1);
  });
});

describe('rasterisePolygons', () => {
  test('exclusions are cut out of everything; with a zone only the zone (minus exclusions) is watched', () => {
    const exclude: MaskPolygon = { kind: 'exclude', points: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]] };
    const zone: MaskPolygon = { kind: 'include', points: [[0, 0], [1, 0], [1, 0.5], [0, 0.5]] };
    const only = rasterisePolygons([exclude], 10, 10)!;
    expect(only.data.filter((v) => v === 255)).toHaveLength(50);
    const both = rasterisePolygons([zone, exclude], 10, 10)!;
    // The top half minus its left half: the top-right quarter.
    expect(both.data.filter((v) => v === 255)).toHaveLength(25);
    expect(both.data[0 * 10 + 9]).toBe(255);
    expect(both.data[0 * 10 + 0]).toBe(0);
    expect(both.data[9 * 10 + 9]).toBe(0);
    expect(rasterisePolygons([], 10, 10)).toBeNull();
  });

  test('resolved at the analysis size, polygons and rectangles combine like the detector reads them', () => {
    const geometry = analysisGeometry(640, 360, 160);
    const mask = resolvePolygonMask({ rects: [{ x: 0.75, y: 0, width: 0.25, height: 1 }], polygons: [{ kind: 'exclude', points: [[0, 0], [0.25, 0], [0.25, 1], [0, 1]] }] }, 640, 360, 160)!;
    expect([mask.image!.width, mask.image!.height]).toEqual([geometry.width, geometry.height]);
    const watched = buildAnalysisMask(mask, geometry)!;
    // The middle half of each row is watched.
    expect(watched.reduce((a, b) => a + b, 0)).toBe((geometry.width / 2) * geometry.height);
    expect(watched[10 * geometry.width + geometry.width / 2]).toBe(1);
    expect(watched[10 * geometry.width + 2]).toBe(0);
    expect(watched[10 * geometry.width + geometry.width - 2]).toBe(0);
  });

  test.each<[string, unknown]>([
    ['too few points', [{ kind: 'exclude', points: [[0, 0], [1, 1]] }]],
    ['a point outside the frame', [{ kind: 'exclude', points: [[0, 0], [1.5, 0], [1, 1]] }]],
    ['an unknown kind', [{ kind: 'maybe', points: [[0, 0], [1, 0], [1, 1]] }]],
  ])('%s is DETECTOR_BAD_MASK', (_name, polygons) => {
    expect(() => checkPolygons(polygons as MaskPolygon[])).toThrow(expect.objectContaining({ code: 'DETECTOR_BAD_MASK' }));
  });
});

describe('createMaskableDetector', () => {
  const W = 320;
  const H = 180;
  // An object crossing the lower half (yFrac 0.6) from 3 s to 6 s.
  const SCENE: SceneSpec = { width: W, height: H, fps: 10, durationS: 8, seed: 7, noiseSigma: 2, cloudDepth: 0, cloudSpeed: 0, objects: [{ startS: 3, endS: 6, sizeFrac: 0.25, contrast: -70, reverse: false, yFrac: 0.6 }], brightnessSteps: [] };
  const renderer = createSceneRenderer(SCENE);
  const frames: Frame[] = Array.from({ length: renderer.frameCount }, (_, i) => createFrame({ seq: i, ptsUs: renderer.ptsUs(i), wallMs: renderer.ptsUs(i) / 1000, width: W, height: H, data: renderer.frame(i) }));
  const peak = (detector: ReturnType<typeof createMaskableDetector>, from = 0): number => {
    let max = 0;
    frames.slice(from).forEach((frame) => (max = Math.max(max, detector.push(frame).sample.score)));
    return max;
  };

  test('a polygon over the moving object silences it; an "only here" zone elsewhere too; the level carries over', () => {
    const plain = createMaskableDetector({ warmupS: 1, triggerMode: 'manual', triggerLevel: 5 });
    expect(peak(plain)).toBeGreaterThan(5);
    const lowerHalf: MaskPolygon = { kind: 'exclude', points: [[0, 0.3], [1, 0.3], [1, 1], [0, 1]] };
    const masked = createMaskableDetector({ warmupS: 1, triggerMode: 'manual', triggerLevel: 5, mask: { polygons: [lowerHalf] } });
    expect(peak(masked)).toBe(0);
    const topZone: MaskPolygon = { kind: 'include', points: [[0, 0], [1, 0], [1, 0.2], [0, 0.2]] };
    const zoned = createMaskableDetector({ warmupS: 1, triggerMode: 'manual', triggerLevel: 5 });
    zoned.setTriggerLevel(7);
    zoned.push(frames[0]);
    expect(zoned.setMask({ polygons: [topZone] })).toEqual([]);
    expect(zoned.triggerLevel()).toBe(7);
    expect(zoned.mask()?.polygons).toHaveLength(1);
    expect(peak(zoned, 1)).toBe(0);
  });

  test('a mask hiding everything is refused and the old one stays', () => {
    const detector = createMaskableDetector({ warmupS: 1 });
    detector.push(frames[0]);
    const all: MaskPolygon = { kind: 'exclude', points: [[0, 0], [1, 0], [1, 1], [0, 1]] };
    expect(() => detector.setMask({ polygons: [all] })).toThrow(expect.objectContaining({ code: 'DETECTOR_BAD_MASK' }));
    expect(detector.mask()).toBeUndefined();
  });
});
