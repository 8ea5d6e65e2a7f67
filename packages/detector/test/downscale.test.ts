import { analysisGeometry, boxDownscale, type AnalysisGeometry } from '../src/downscale';
import { createRandom } from '../src/synthetic';

/** The obvious implementation (the mean of every `rowStep`-th row of each block), to check the fast paths against. */
function reference(plane: Uint8Array, g: AnalysisGeometry): Uint8Array {
  const out = new Uint8Array(g.width * g.height);
  for (let oy = 0; oy < g.height; oy++) {
    for (let ox = 0; ox < g.width; ox++) {
      let sum = 0;
      let count = 0;
      for (let y = 0; y < g.box; y += g.rowStep) {
        for (let x = 0; x < g.box; x++) {
          sum += plane[(oy * g.box + y) * g.frameWidth + ox * g.box + x];
          count++;
        }
      }
      out[oy * g.width + ox] = Math.floor(sum / count + 0.5);
    }
  }
  return out;
}

function randomPlane(width: number, height: number, seed: number): Uint8Array {
  const random = createRandom(seed);
  const plane = new Uint8Array(width * height);
  for (let i = 0; i < plane.length; i++) plane[i] = Math.floor(random() * 256);
  return plane;
}

describe('analysisGeometry', () => {
  test.each([
    [1920, 1080, 160, { box: 12, width: 160, height: 90, rowStep: 2 }],
    [1280, 720, 160, { box: 8, width: 160, height: 90, rowStep: 2 }],
    [640, 480, 160, { box: 4, width: 160, height: 120, rowStep: 1 }],
    [2028, 1520, 160, { box: 13, width: 156, height: 116, rowStep: 2 }],
    [320, 180, 160, { box: 2, width: 160, height: 90, rowStep: 1 }],
    [100, 60, 160, { box: 1, width: 100, height: 60, rowStep: 1 }],
    [1296, 972, 160, { box: 8, width: 162, height: 121, rowStep: 2 }],
  ])('%ix%i at %i wide', (w, h, aw, expected) => {
    expect(analysisGeometry(w, h, aw)).toEqual({ frameWidth: w, frameHeight: h, ...expected });
  });

  test('keeps the aspect within one box', () => {
    for (const [w, h] of [[1920, 1080], [1280, 960], [2028, 1080], [800, 600]]) {
      const g = analysisGeometry(w, h, 160);
      expect(Math.abs(g.width * g.box - w)).toBeLessThan(g.box);
      expect(Math.abs(g.height * g.box - h)).toBeLessThan(g.box);
    }
  });

  test('rejects impossible sizes with DETECTOR_BAD_FRAME', () => {
    expect(() => analysisGeometry(0, 10, 160)).toThrow(expect.objectContaining({ code: 'DETECTOR_BAD_FRAME' }));
    expect(() => analysisGeometry(10.5, 10, 160)).toThrow(expect.objectContaining({ code: 'DETECTOR_BAD_FRAME' }));
  });
});

describe('boxDownscale', () => {
  test.each([
    ['word path, box 12', 1920, 1080],
    ['word path, box 8', 1280, 720],
    ['word path, box 4', 640, 360],
    ['word path, box 16', 2560, 1440],
    ['byte loop, box 2', 320, 180],
    ['byte loop, box 13', 2028, 1520],
    ['byte loop, box 3', 480, 270],
    ['row copy, box 1 (an MJPEG camera decoded at a quarter size)', 160, 120],
    ['row copy, box 1, narrower than the analysis width', 100, 60],
    ['row copy, box 1, wider than the analysis width', 200, 150],
  ])('%s matches the reference (%ix%i)', (_name, w, h) => {
    const g = analysisGeometry(w, h, 160);
    const plane = randomPlane(w, h, w + h);
    expect(boxDownscale(plane, g, new Uint8Array(g.width * g.height))).toEqual(reference(plane, g));
  });

  test('an unaligned plane (pooled Buffer) gives the same result as an aligned one', () => {
    const g = analysisGeometry(1280, 720, 160);
    const plane = randomPlane(1280, 720, 7);
    const unaligned = new Uint8Array(plane.length + 3).subarray(3);
    unaligned.set(plane);
    const scratch: { aligned?: Uint8Array } = {};
    expect(boxDownscale(unaligned, g, new Uint8Array(g.width * g.height), scratch)).toEqual(reference(plane, g));
    expect(scratch.aligned?.length).toBe(plane.length);
  });

  test('from box 8 up only every other row is read: the rows in between change nothing', () => {
    const g = analysisGeometry(1920, 1080, 160);
    const plane = randomPlane(1920, 1080, 11);
    const before = boxDownscale(plane, g, new Uint8Array(g.width * g.height));
    for (let y = 1; y < 1080; y += 2) plane.fill(255, y * 1920, (y + 1) * 1920);
    expect(boxDownscale(plane, g, new Uint8Array(g.width * g.height))).toEqual(before);
  });

  test('from box 8 up the analysis pixel still averages sensor noise over at least 32 pixels', () => {
    for (const [w, h] of [[1280, 720], [1920, 1080]]) {
      const g = analysisGeometry(w, h, 160);
      const random = createRandom(w);
      // Uniform noise of σ 20 levels around 128: the mean of n pixels has σ 20/√n.
      const spread = 20 * Math.sqrt(12);
      const plane = new Uint8Array(w * h);
      for (let i = 0; i < plane.length; i++) plane[i] = Math.round(128 + (random() - 0.5) * spread);
      const out = boxDownscale(plane, g, new Uint8Array(g.width * g.height));
      const mean = out.reduce((s, v) => s + v, 0) / out.length;
      const sigma = Math.sqrt(out.reduce((s, v) => s + (v - mean) ** 2, 0) / out.length);
      expect(sigma).toBeLessThan((20 / Math.sqrt(32)) * 1.1);
    }
  });

  test('extremes: all white stays 255, all black 0, no overflow in the lanes', () => {
    const g = analysisGeometry(2560, 1440, 160);
    const white = new Uint8Array(2560 * 1440).fill(255);
    expect(boxDownscale(white, g, new Uint8Array(g.width * g.height)).every((v) => v === 255)).toBe(true);
    expect(boxDownscale(new Uint8Array(2560 * 1440), g, new Uint8Array(g.width * g.height)).every((v) => v === 0)).toBe(true);
  });

  test('a short plane is DETECTOR_BAD_FRAME', () => {
    const g = analysisGeometry(64, 64, 16);
    expect(() => boxDownscale(new Uint8Array(100), g, new Uint8Array(256))).toThrow(expect.objectContaining({ code: 'DETECTOR_BAD_FRAME' }));
  });
});
