import { i420ToRgb } from '@preroll/recorder';
import { downscaleI420, i420ToRgbScaled, liveSize } from '../src/live/scale';

/** A packed I420 picture of deterministic pseudo-random bytes. */
function picture(width: number, height: number, seed: number): { width: number; height: number; data: Buffer } {
  const data = Buffer.alloc((width * height * 3) / 2);
  let a = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    data[i] = a >>> 24;
  }
  return { width, height, data };
}

describe('live view: scaling and colour conversion in one pass (pure)', () => {
  test.each([
    // [source width, source height, live width]
    [1280, 720, 640],
    [1920, 1080, 640],
    [640, 480, 320],
    [100, 60, 40],
    [320, 240, 640], // no scaling: narrower than the live width
  ])('%ix%i at %i px wide: the same pixels as downscaleI420 then i420ToRgb', (sw, sh, maxWidth) => {
    const frame = picture(sw, sh, sw * 7 + sh);
    const size = liveSize(sw, sh, maxWidth);
    const expected = i420ToRgb(downscaleI420(frame, size.width, size.height));
    const fused = i420ToRgbScaled(frame, size.width, size.height);
    expect(fused).toHaveLength(size.width * size.height * 3);
    expect(fused.equals(expected)).toBe(true);
  });

  test('writes into a buffer it is given when that is large enough, else makes one', () => {
    const frame = picture(1280, 720, 3);
    const scratch = Buffer.alloc(640 * 360 * 3);
    const into = i420ToRgbScaled(frame, 640, 360, scratch);
    expect(into.buffer).toBe(scratch.buffer);
    const smaller = i420ToRgbScaled(frame, 320, 180, scratch);
    expect(smaller.buffer).toBe(scratch.buffer);
    expect(smaller).toHaveLength(320 * 180 * 3);
    const tooSmall = Buffer.alloc(10);
    const made = i420ToRgbScaled(frame, 640, 360, tooSmall);
    expect(made.buffer).not.toBe(tooSmall.buffer);
    expect(made.equals(i420ToRgbScaled(frame, 640, 360))).toBe(true);
  });
});
