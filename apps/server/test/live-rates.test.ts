import { createRateMeter, createSizeMeter, ewma } from '../src/live/rates';

describe('live cost meters (pure)', () => {
  test('ewma is the plain mean while young, then an exponential average', () => {
    expect(ewma(null, 10, 1, 30)).toBe(10);
    expect(ewma(10, 20, 1, 30, 1)).toBe(15);
    expect(ewma(10, 20, 1, 30, 1000)).toBeCloseTo(10 + 10 * (1 - Math.exp(-1 / 30)), 6);
  });

  test('a rate meter skips the first (partial) second and then follows the byte rate', () => {
    const meter = createRateMeter(30);
    expect(meter.bytesPerS()).toBeNull();
    // 1000 bytes every 100 ms = 10 kB/s, after a warm-up second at a tenth of that.
    let t = 0;
    for (; t < 1000; t += 100) meter.add(100, t);
    for (; t < 20_000; t += 100) meter.add(1000, t);
    expect(meter.bytesPerS()).toBeCloseTo(10_000, -1);
  });

  test('a size meter averages sizes', () => {
    const meter = createSizeMeter(50);
    expect(meter.mean()).toBeNull();
    for (const size of [100, 200, 300]) meter.add(size);
    expect(meter.mean()).toBeCloseTo(200, 6);
  });
});
