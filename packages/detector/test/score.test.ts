import { diffMagnitudes, fitBrightness, frameStats, residualMse, scoreFrame } from '../src/score';
import { createRandom } from '../src/synthetic';

const texture = (n: number, seed: number): Uint8Array => {
  const random = createRandom(seed);
  return Uint8Array.from({ length: n }, () => 30 + Math.floor(random() * 190));
};

describe('score: true integer MSE', () => {
  test.each([
    ['identical images', [10, 20, 30, 40], [10, 20, 30, 40], 0],
    ['one pixel off by 2', [10, 20, 30, 40], [12, 20, 30, 40], 1],
    ['0 → 255 everywhere is the maximum (no uint8 wrap-around)', [0, 0, 0, 0], [255, 255, 255, 255], 65025],
    ['255 → 0 everywhere is the maximum too', [255, 255], [0, 0], 65025],
    ['differences of ±3', [100, 100, 100, 100], [103, 97, 103, 97], 9],
    ['a single full-scale pixel among four', [0, 0, 0, 0], [255, 0, 0, 0], 65025 / 4],
  ])('%s', (_name, prev, cur, mse) => {
    const stats = frameStats(Uint8Array.from(prev), Uint8Array.from(cur), null, 12);
    expect(scoreFrame(stats, 'none').score).toBeCloseTo(mse, 3);
    expect(scoreFrame(stats, 'none').rawScore).toBeCloseTo(mse, 3);
  });

  test('the uint8 "MSE" of the seeds would wrap: 10 − 250 is 16 there, 240 here', () => {
    const stats = frameStats(Uint8Array.from([250]), Uint8Array.from([10]), null, 12);
    expect(stats.sumDiffSq).toBe(240 * 240);
  });

  test('masked pixels never count', () => {
    const prev = Uint8Array.from([0, 0, 0, 0]);
    const cur = Uint8Array.from([255, 0, 0, 0]);
    const stats = frameStats(prev, cur, Uint32Array.from([1, 2, 3]), 12);
    expect(stats.pixels).toBe(3);
    expect(scoreFrame(stats, 'none').score).toBe(0);
  });

  test('counts changed pixels by direction', () => {
    const stats = frameStats(Uint8Array.from([100, 100, 100, 100]), Uint8Array.from([120, 120, 80, 105]), null, 12);
    expect([stats.brighter, stats.darker]).toEqual([2, 1]);
    expect(scoreFrame(stats, 'none').changedFraction).toBeCloseTo(0.75);
    expect(scoreFrame(stats, 'none').sameDirectionFraction).toBeCloseTo(0.5);
  });
});

describe('score: brightness compensation', () => {
  const prev = texture(160 * 90, 1);
  const offset = prev.map((p) => p + 20);
  const gained = prev.map((p) => Math.min(255, Math.round(p * 1.3)));
  const gamma = prev.map((p) => Math.round(255 * (p / 255) ** 0.8));

  test.each([
    // [name, cur, mode, max residual]
    ['offset removes an offset', offset, 'offset', 0.001],
    ['gain-offset removes an offset', offset, 'gain-offset', 0.001],
    ['tone removes an offset', offset, 'tone', 0.001],
    ['gain-offset removes a gain (up to rounding)', prev.map((p) => Math.round(p * 1.1)), 'gain-offset', 0.2],
    ['tone removes a gain with clipping at white', gained, 'tone', 1.5],
    ['tone removes a gamma change', gamma, 'tone', 1],
  ] as const)('%s', (_name, cur, mode, max) => {
    const stats = frameStats(prev, cur, null, 12);
    const score = scoreFrame(stats, mode);
    expect(score.rawScore).toBeGreaterThan(100);
    expect(score.score).toBeLessThanOrEqual(max);
  });

  test('compensation keeps a moving object: a 10 % patch changed by 80 keeps most of its score', () => {
    const cur = Uint8Array.from(prev);
    for (let i = 0; i < 1440; i++) cur[i] = Math.min(255, prev[i] + 80);
    const stats = frameStats(prev, cur, null, 12);
    const raw = scoreFrame(stats, 'none').score;
    for (const mode of ['offset', 'gain-offset', 'tone'] as const) expect(scoreFrame(stats, mode).score).toBeGreaterThan(raw * 0.7);
  });

  test('residualMse from the sums equals the residual computed pixel by pixel', () => {
    const random = createRandom(9);
    const cur = prev.map((p) => Math.max(0, Math.min(255, Math.round(p * 0.9 + 10 + (random() - 0.5) * 20))));
    const stats = frameStats(prev, cur, null, 12);
    for (const mode of ['none', 'offset', 'gain-offset', 'tone'] as const) {
      const fit = fitBrightness(stats, mode);
      let sum = 0;
      for (let i = 0; i < prev.length; i++) sum += (cur[i] - fit.expected[prev[i]]) ** 2;
      expect(residualMse(stats, fit)).toBeCloseTo(sum / prev.length, 6);
    }
  });

  test('gain-offset falls back to the mean difference on a flat image', () => {
    const flat = new Uint8Array(100).fill(40);
    const fit = fitBrightness(frameStats(flat, new Uint8Array(100).fill(50), null, 12), 'gain-offset');
    expect(fit.gain).toBe(1);
    expect(fit.offset).toBe(10);
  });

  test('diffMagnitudes shows the residual where things changed, 0 where masked', () => {
    const p = Uint8Array.from([100, 100, 100, 100]);
    const c = Uint8Array.from([100, 160, 100, 160]);
    const fit = fitBrightness(frameStats(p, c, null, 12), 'none');
    expect([...diffMagnitudes(p, c, fit, null)]).toEqual([0, 60, 0, 60]);
    expect([...diffMagnitudes(p, c, fit, Uint8Array.from([1, 1, 1, 0]))]).toEqual([0, 60, 0, 0]);
  });
});
