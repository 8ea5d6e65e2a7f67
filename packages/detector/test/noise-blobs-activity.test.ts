import fc from 'fast-check';
import { updateActivity } from '../src/activity';
import { nextAutoLevel, offsetLevel, wantedAutoLevel, type AutoLevelConfig } from '../src/auto';
import { findBlobs } from '../src/blobs';
import { createRandom } from '../src/synthetic';
import { createNoiseState, filledVariances, followNoise, NOISE_BANDS, robustSigma } from '../src/noise';
import { addReference, createReferenceRing, pickReference } from '../src/reference';

/** Normal samples from the seeded generator (Box–Muller). */
function normals(seed: number, n: number, sigma: number): Float64Array {
  const rand = createRandom(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = sigma * Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
  return out;
}

describe('noise estimate', () => {
  test('robustSigma recovers σ of normal noise within 8 %, at any σ from 0.5 to 20', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), fc.double({ min: 0.5, max: 20, noNaN: true }), (seed, sigma) => {
        const estimate = robustSigma(normals(seed, 4000, sigma));
        expect(Math.abs(estimate - sigma) / sigma).toBeLessThan(0.08);
      }),
      { numRuns: 60 },
    );
  });

  test('a moving object on up to 8 % of the pixels moves the estimate by less than 30 %', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), fc.double({ min: 1, max: 10, noNaN: true }), fc.double({ min: 0, max: 0.08, noNaN: true }), (seed, sigma, share) => {
        const values = normals(seed, 4000, sigma);
        const object = Math.floor(share * values.length);
        for (let i = 0; i < object; i++) values[i] = 60 + (i % 40);
        expect(Math.abs(robustSigma(values) - sigma) / sigma).toBeLessThan(0.3);
      }),
      { numRuns: 60 },
    );
  });

  test('compressed video (most residuals exactly 0, a flickering tail) does not read as "no noise"', () => {
    const values = normals(5, 4000, 6);
    for (let i = 0; i < values.length * 0.85; i++) values[i] = 0;
    // The median is 0; the tail guard keeps the estimate at half of what the 90th percentile
    // implies (here 0.8: the flicker's p90 sits a third of the way into its own distribution).
    expect(robustSigma(values)).toBeGreaterThan(0.6);
  });

  test('following the noise takes the same seconds at any frame rate (any split of the time gives the same state)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0.01, max: 0.6, noNaN: true }), { minLength: 1, maxLength: 40 }), fc.double({ min: 0.3, max: 30, noNaN: true }), (steps, target) => {
        const start = followNoise(createNoiseState(), Array(NOISE_BANDS).fill(1), 0, { riseS: 0.5, fallS: 3 });
        const total = steps.reduce((a, b) => a + b, 0);
        let split = start;
        for (const dt of steps) split = followNoise(split, Array(NOISE_BANDS).fill(target), dt, { riseS: 0.5, fallS: 3 });
        const once = followNoise(start, Array(NOISE_BANDS).fill(target), total, { riseS: 0.5, fallS: 3 });
        for (let b = 0; b < NOISE_BANDS; b++) expect(split.varianceByBand[b]).toBeCloseTo(once.varianceByBand[b], 9);
      }),
      { numRuns: 100 },
    );
  });

  test('the estimate rises faster than it falls, and an unknown band borrows its nearest neighbour', () => {
    const follow = { riseS: 0.5, fallS: 3 };
    const base = followNoise(createNoiseState(), Array(NOISE_BANDS).fill(2), 0, follow);
    const up = followNoise(base, Array(NOISE_BANDS).fill(4), 0.5, follow).varianceByBand[0];
    const down = followNoise(base, Array(NOISE_BANDS).fill(1), 0.5, follow).varianceByBand[0];
    // Log-domain moves: up by a factor of 4^(1−e^−1) ≈ 2.4, down by 4^(1−e^−1/6) ≈ 1.26.
    expect(up / 4).toBeCloseTo(4 ** (1 - Math.exp(-1)), 6);
    expect(4 / down).toBeCloseTo(4 ** (1 - Math.exp(-1 / 6)), 6);
    const sparse = followNoise(createNoiseState(), [NaN, 3, NaN, NaN, NaN, NaN, 5, NaN], 0, follow);
    expect(Array.from(filledVariances(sparse, 99))).toEqual([9, 9, 9, 9, 25, 25, 25, 25]);
    expect(Array.from(filledVariances(createNoiseState(), 7))).toEqual(Array(NOISE_BANDS).fill(7));
  });
});

describe('blob filter', () => {
  const mask = (width: number, height: number, cells: readonly boolean[]): Uint8Array => Uint8Array.from(cells.slice(0, width * height).map((c) => (c ? 1 : 0)));

  test('every region returned is 8-connected, at least the minimum area, and the areas add up to at most the changed pixels', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 4, max: 30 }),
        fc.integer({ min: 4, max: 30 }),
        fc.array(fc.boolean(), { minLength: 900, maxLength: 900 }),
        fc.integer({ min: 1, max: 12 }),
        (width, height, cells, minArea) => {
          const m = mask(width, height, cells);
          const blobs = findBlobs(m, width, height, minArea);
          const changed = m.reduce((a, b) => a + b, 0);
          expect(blobs.reduce((a, b) => a + b.area, 0)).toBeLessThanOrEqual(changed);
          for (const b of blobs) {
            expect(b.area).toBeGreaterThanOrEqual(minArea);
            expect(b.area).toBeLessThanOrEqual((b.maxX - b.minX + 1) * (b.maxY - b.minY + 1));
          }
          // With minimum area 1 every changed pixel is in exactly one region.
          expect(findBlobs(m, width, height, 1).reduce((a, b) => a + b.area, 0)).toBe(changed);
          // Largest first.
          for (let k = 1; k < blobs.length; k++) expect(blobs[k - 1].area).toBeGreaterThanOrEqual(blobs[k].area);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('a compact object is found with its exact box; scattered specks of the same total area are not', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 20 }), fc.integer({ min: 3, max: 9 }), fc.integer({ min: 3, max: 9 }), (x, y, w, h) => {
        const width = 40;
        const height = 30;
        const object = new Uint8Array(width * height);
        const weights = new Float32Array(width * height).fill(2);
        for (let yy = y; yy < Math.min(height, y + h); yy++) for (let xx = x; xx < Math.min(width, x + w); xx++) object[yy * width + xx] = 1;
        const area = object.reduce((a, b) => a + b, 0);
        const [blob, ...rest] = findBlobs(object, width, height, area, weights);
        expect(rest).toEqual([]);
        expect([blob.minX, blob.minY, blob.maxX, blob.maxY, blob.area, blob.weight]).toEqual([x, y, Math.min(width, x + w) - 1, Math.min(height, y + h) - 1, area, 2 * area]);
        // Specks three pixels apart on every third row never touch, not even diagonally.
        const specks = new Uint8Array(width * height);
        for (let k = 0, i = 0; k < area && i < specks.length; i += 3) {
          if (Math.floor(i / width) % 3 === 0) {
            specks[i] = 1;
            k++;
          }
        }
        expect(findBlobs(specks, width, height, 2)).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });
});

describe('activity map', () => {
  const learning = { riseS: 3, fallS: 60 };

  test('stays between 0 and the clip, grows under steady change and fades without it', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -80, max: 80, noNaN: true }), { minLength: 16, maxLength: 16 }), fc.double({ min: 1, max: 5000, noNaN: true }), (values, clip) => {
        const map = new Float32Array(16);
        const clipSq = new Float32Array(16).fill(clip);
        let before = Float32Array.from(map);
        for (let k = 0; k < 20; k++) {
          updateActivity(map, values, clipSq, 0.2, learning);
          for (let i = 0; i < 16; i++) {
            expect(map[i]).toBeGreaterThanOrEqual(before[i] - 1e-3);
            expect(map[i]).toBeLessThanOrEqual(Math.min(values[i] ** 2, clip) + 1e-3);
          }
          before = Float32Array.from(map);
        }
        updateActivity(map, new Float32Array(16), clipSq, 10, learning);
        for (let i = 0; i < 16; i++) expect(map[i]).toBeLessThanOrEqual(before[i] + 1e-6);
      }),
      { numRuns: 30 },
    );
  });

  test('learns in seconds, not frames: the same steady change at 2 and at 30 updates per second gives the same map', () => {
    fc.assert(
      fc.property(fc.double({ min: 1, max: 50, noNaN: true }), fc.double({ min: 0.5, max: 20, noNaN: true }), (value, seconds) => {
        const slow = new Float32Array(1);
        const fast = new Float32Array(1);
        const clip = new Float32Array([1e9]);
        const n = Math.round(seconds * 2);
        for (let k = 0; k < n; k++) updateActivity(slow, [value], clip, 0.5, learning);
        for (let k = 0; k < n * 15; k++) updateActivity(fast, [value], clip, 0.5 / 15, learning);
        expect(Math.abs(slow[0] - fast[0]) / (value * value)).toBeLessThan(1e-4);
      }),
      { numRuns: 100 },
    );
  });
});

describe('reference image and auto level', () => {
  test('the reference is the image whose age is nearest to referenceS, whatever the frame rate', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 10_000, max: 700_000 }), { minLength: 2, maxLength: 80 }), (gaps) => {
        const ring = createReferenceRing(4);
        let pts = 0;
        const seen: number[] = [];
        for (const gap of gaps) {
          pts += gap;
          const slot = pickReference(ring, pts, 500_000);
          if (seen.length) {
            // Every image kept or dropped: none is nearer to 0.5 s old than the one picked.
            const miss = (p: number): number => Math.abs(pts - p - 500_000);
            expect(Math.min(...seen.map(miss))).toBe(miss(ring.ptsUs[slot]));
          }
          addReference(ring, new Uint8Array(4).fill(pts % 251), pts, 500_000);
          seen.push(pts);
        }
        expect(ring.images.length).toBeLessThanOrEqual(64);
      }),
      { numRuns: 200 },
    );
  });

  const config: AutoLevelConfig = { baseLevel: 0.5, margin: 2, holdS: 30, minTriggerLevel: 0.1, maxTriggerLevel: 65025 };

  test('the auto level rises at once, comes down a rung at a time after the hold, and never below the base', () => {
    expect(wantedAutoLevel(Array(100).fill(0), config)).toBe(0.5);
    expect(wantedAutoLevel([...Array(60).fill(1.1), ...Array(40).fill(0)], config)).toBe(2.5);
    let state = { level: 0.5, changedAtUs: 0 };
    state = nextAutoLevel(state, 2.5, 1e6, config);
    expect(state.level).toBe(2.5);
    expect(nextAutoLevel(state, 0.5, 20e6, config).level).toBe(2.5);
    state = nextAutoLevel(state, 0.5, 32e6, config);
    expect(state.level).toBe(2);
    // One rung below is inside the hysteresis band: it stays.
    expect(nextAutoLevel({ level: 2, changedAtUs: 0 }, 1.5, 100e6, config).level).toBe(2);
    expect(offsetLevel(2, 2, 0.1, 65025)).toBe(3);
    expect(offsetLevel(2, -1, 0.1, 65025)).toBe(1.5);
  });
});
