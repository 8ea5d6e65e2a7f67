import sharp from 'sharp';
import { createFramePool, releaseFrame, type Frame } from '@preroll/capture';
import { waitFor } from '@preroll/testkit';
import { createLiveView, type LiveFrame } from '../src/live/live-view';

const W = 64;
const H = 48;

/** Mean of a JPEG's pixels (grey frames: every channel alike). */
async function jpegMean(jpeg: Buffer): Promise<number> {
  const { data } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  return data.reduce((sum, v) => sum + v, 0) / data.length;
}

describe('live view with pooled frames', () => {
  test('the frame waiting for the encoder keeps its buffer after the capture released it, and gives it back afterwards', async () => {
    // Released buffers are poisoned with 0: a JPEG made from one would be black.
    const pool = createFramePool({ frameBytes: W * H * 1.5, capacity: 3, poison: 0 });
    const frameOf = (seq: number, luma: number): Frame => {
      const data = pool.acquire();
      if (!data) throw new Error('pool exhausted');
      data.fill(luma, 0, W * H);
      data.fill(128, W * H);
      return pool.frame(data, { seq, ptsUs: seq * 100_000, wallMs: Date.now(), width: W, height: H });
    };
    const live = createLiveView({ width: W, maxFps: 30, jpegQuality: 90 });
    const shown: LiveFrame[] = [];
    const unsubscribe = live.subscribe((frame) => shown.push(frame));
    try {
      // Frame 0 starts an encode; frame 1 arrives while it runs and waits as the pending frame.
      const first = frameOf(0, 60);
      live.offer(first);
      releaseFrame(first);
      const second = frameOf(1, 200);
      live.offer(second);
      releaseFrame(second);
      // The capture goes on: had the pending frame's buffer gone back to the pool, this would refill it.
      const third = frameOf(2, 20);
      releaseFrame(third);
      expect(pool.stats().inUse).toBe(1);
      await waitFor(() => shown.length >= 2, { timeoutMs: 30_000, what: 'two live JPEGs' });
      expect(shown.map((f) => f.seq)).toEqual([0, 1]);
      expect(await jpegMean(shown[1].jpeg)).toBeGreaterThan(150);
      // Encoded, the pending frame's buffer is back in the pool.
      expect(pool.stats().inUse).toBe(0);
      expect(pool.stats().returned).toBe(pool.stats().acquired);
    } finally {
      unsubscribe();
      live.close();
    }
  });

  test('closing the view releases a pending frame', () => {
    const pool = createFramePool({ frameBytes: W * H * 1.5, capacity: 2 });
    const live = createLiveView({ width: W, maxFps: 30, jpegQuality: 90 });
    const unsubscribe = live.subscribe(() => undefined);
    const make = (seq: number): Frame => pool.frame(pool.acquire()!, { seq, ptsUs: seq * 100_000, wallMs: 0, width: W, height: H });
    const a = make(0);
    live.offer(a);
    releaseFrame(a);
    const b = make(1);
    live.offer(b);
    releaseFrame(b);
    expect(pool.stats().inUse).toBe(1);
    unsubscribe();
    live.close();
    expect(pool.stats().inUse).toBe(0);
  });
});

describe('live view from an MJPEG camera', () => {
  test('camera JPEGs that fit the live width are shown byte for byte (no decode, no encode); wider ones are resized once', async () => {
    const small = await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 90, g: 90, b: 90 } } }).jpeg().toBuffer();
    const big = await sharp({ create: { width: 1280, height: 720, channels: 3, background: { r: 200, g: 200, b: 200 } } }).jpeg().toBuffer();
    const live = createLiveView({ width: 640, maxFps: 10, jpegQuality: 80 });
    const shown: LiveFrame[] = [];
    const unsubscribe = live.subscribe((frame) => shown.push(frame));
    try {
      live.offerJpeg({ seq: 0, ptsUs: 0, wallMs: Date.now(), data: small });
      expect(shown).toHaveLength(1);
      expect(shown[0].jpeg).toBe(small);
      expect(shown[0]).toMatchObject({ width: 320, height: 240 });
      // Within the rate cap: skipped.
      live.offerJpeg({ seq: 1, ptsUs: 50_000, wallMs: Date.now(), data: small });
      expect(shown).toHaveLength(1);
      live.offerJpeg({ seq: 2, ptsUs: 200_000, wallMs: Date.now(), data: big });
      await waitFor(() => shown.length === 2, { what: 'the resized picture' });
      expect(shown[1]).toMatchObject({ width: 640, height: 360, seq: 2 });
      const meta = await sharp(shown[1].jpeg).metadata();
      expect({ width: meta.width, height: meta.height }).toEqual({ width: 640, height: 360 });
      expect(live.stats()).toMatchObject({ passedThrough: 1, encodes: 1, skipped: 1 });
    } finally {
      unsubscribe();
      live.close();
    }
  });
});
