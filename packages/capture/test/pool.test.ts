import fc from 'fast-check';
import { createFramePool, createFrameSlot, createSource, frameAlive, FrameAssembler, releaseFrame, retainFrame, type Frame, type FrameRelease } from '../src/index';
import { useFakeCamera } from './fake-camera';
import { createCleanupStack, waitFor } from '@preroll/testkit';

const cleanup = createCleanupStack();
afterEach(() => cleanup.run());

const POISON = 0xa5;
const W = 8;
const H = 4;
const BYTES = W * H * 1.5;

/** Fills a pooled buffer with a pattern that names its frame (never the poison byte). */
function paint(buffer: Buffer, n: number): void {
  buffer.fill(n % 200);
}

describe('frame pool', () => {
  test('random schedules: every acquire is matched by a release, held frames are intact, released ones poisoned (property)', () => {
    type Op = { kind: 'frame'; holders: number } | { kind: 'release'; pick: number } | { kind: 'use'; pick: number };
    const op = fc.oneof(
      fc.record({ kind: fc.constant('frame' as const), holders: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('use' as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.array(op, { maxLength: 200 }), (capacity, ops: Op[]) => {
        const pool = createFramePool({ frameBytes: BYTES, capacity, poison: POISON });
        // Each holder keeps (frame, its own release, the byte the frame was painted with).
        const held: { frame: Frame; release: FrameRelease; value: number }[] = [];
        const released: { frame: Frame; release: FrameRelease }[] = [];
        let seq = 0;
        let dropped = 0;
        for (const step of ops) {
          if (step.kind === 'frame') {
            const data = pool.acquire();
            const busy = new Set(held.map((h) => h.frame.data)).size;
            if (!data) {
              // Exhausted only when every buffer is really held.
              expect(busy).toBe(capacity);
              dropped++;
              continue;
            }
            const n = seq++;
            paint(data, n);
            const frame = pool.frame(data, { seq: n, ptsUs: n * 1000, wallMs: n, width: W, height: H });
            for (let i = 0; i < step.holders; i++) held.push({ frame, release: retainFrame(frame), value: n % 200 });
            releaseFrame(frame); // the capture's own reference ends after delivery
            if (step.holders === 0) {
              expect(frameAlive(frame)).toBe(false);
              expect(frame.data.every((b) => b === POISON)).toBe(true);
            }
          } else if (step.kind === 'release' && held.length) {
            const [h] = held.splice(step.pick % held.length, 1);
            h.release();
            expect(() => h.release()).toThrow(expect.objectContaining({ code: 'CAPTURE_FRAME_DOUBLE_RELEASE' }));
            released.push(h);
          } else if (step.kind === 'use' && held.length) {
            const h = held[step.pick % held.length];
            // A frame someone holds was never recycled under them.
            expect(frameAlive(h.frame)).toBe(true);
            expect(h.frame.data.every((b) => b === h.value)).toBe(true);
            expect(h.frame.y.length).toBe(W * H);
          }
          const stats = pool.stats();
          expect(stats.allocated).toBeLessThanOrEqual(capacity);
          expect(stats.inUse).toBe(new Set(held.map((h) => h.frame.data)).size);
        }
        for (const h of released) {
          // A frame whose every holder let go cannot be retained again (use after release).
          if (!held.some((o) => o.frame === h.frame)) expect(() => retainFrame(h.frame)).toThrow(expect.objectContaining({ code: 'CAPTURE_FRAME_RELEASED' }));
        }
        for (const h of held.splice(0)) h.release();
        const stats = pool.stats();
        expect(stats.inUse).toBe(0);
        expect(stats.returned).toBe(stats.acquired);
        expect(stats.exhausted).toBe(dropped);
      }),
      { numRuns: 300 },
    );
  });

  test('plane views follow the frame size when a buffer is reused for another shape of the same bytes', () => {
    const pool = createFramePool({ frameBytes: BYTES, capacity: 1 });
    const wide = pool.frame(pool.acquire()!, { seq: 0, ptsUs: 0, wallMs: 0, width: W, height: H });
    expect([wide.y.length, wide.u.byteOffset - wide.data.byteOffset]).toEqual([W * H, W * H]);
    releaseFrame(wide);
    const tall = pool.frame(pool.acquire()!, { seq: 1, ptsUs: 0, wallMs: 0, width: H, height: W });
    expect(tall.data).toBe(wide.data);
    expect([tall.y.length, tall.u.length, tall.v.length]).toEqual([H * W, (H / 2) * (W / 2), (H / 2) * (W / 2)]);
    releaseFrame(tall);
  });

  test('a frame that was never pooled needs no release, and retaining it is harmless', () => {
    const frame = { seq: 0, ptsUs: 0, wallMs: 0, width: 2, height: 2, data: Buffer.alloc(6), y: Buffer.alloc(4), u: Buffer.alloc(1), v: Buffer.alloc(1) };
    const release = retainFrame(frame);
    release();
    expect(frameAlive(frame)).toBe(true);
  });

  test('the assembler skips a frame when the pool is exhausted and keeps cutting on frame boundaries', () => {
    const layout = { width: W, height: H, strideY: W };
    const pool = createFramePool({ frameBytes: BYTES, capacity: 1, poison: POISON });
    const assembler = new FrameAssembler(layout, pool);
    const out: (Buffer | null)[] = [];
    const stream = Buffer.concat([0, 1, 2].map((n) => Buffer.alloc(BYTES, 10 + n)));
    // The first frame is kept by a consumer: the second finds no buffer and is reported as null.
    assembler.push(stream.subarray(0, 2 * BYTES), (packed) => out.push(packed));
    expect(out).toHaveLength(2);
    expect(out[0]!.every((b) => b === 10)).toBe(true);
    expect(out[1]).toBeNull();
    pool.discard(out[0]!);
    assembler.push(stream.subarray(2 * BYTES), (packed) => out.push(packed));
    expect(out).toHaveLength(3);
    expect(out[2]!.every((b) => b === 12)).toBe(true);
    expect(pool.stats()).toMatchObject({ allocated: 1, exhausted: 1 });
    pool.discard(out[2]!);
    expect(pool.stats().inUse).toBe(0);
  });

  test('closing an assembler mid-frame gives its buffer back', () => {
    const pool = createFramePool({ frameBytes: BYTES, capacity: 2 });
    const assembler = new FrameAssembler({ width: W, height: H, strideY: W }, pool);
    assembler.push(Buffer.alloc(BYTES / 2), () => undefined);
    expect(pool.stats().inUse).toBe(1);
    assembler.close();
    expect(pool.stats().inUse).toBe(0);
  });
});

describe('frame slot', () => {
  test('holds one frame by reference: a new frame releases the old one, take hands the reference over', () => {
    const pool = createFramePool({ frameBytes: BYTES, capacity: 2, poison: POISON });
    const make = (n: number): Frame => {
      const data = pool.acquire()!;
      paint(data, n);
      return pool.frame(data, { seq: n, ptsUs: n * 1000, wallMs: n, width: W, height: H });
    };
    const slot = createFrameSlot();
    const first = make(1);
    slot.hold(first);
    releaseFrame(first); // the capture's delivery ends; the slot still holds it
    expect(frameAlive(first)).toBe(true);
    expect(slot.frame).toBe(first);
    const second = make(2);
    slot.hold(second);
    releaseFrame(second);
    expect(frameAlive(first)).toBe(false);
    expect(first.data.every((b) => b === POISON)).toBe(true);
    const taken = slot.take()!;
    expect(taken.frame).toBe(second);
    expect(slot.frame).toBeNull();
    expect(slot.take()).toBeNull();
    expect(frameAlive(second)).toBe(true);
    taken.release();
    expect(frameAlive(second)).toBe(false);
    slot.hold(null);
    expect(pool.stats().inUse).toBe(0);
  });
});

describe('a live source with a frame pool (fake rpicam-vid)', () => {
  let restore: () => void = () => undefined;
  afterEach(() => restore());

  test('frames are recycled when nobody keeps them, and a consumer that keeps them all makes the capture drop, not grow', async () => {
    restore = useFakeCamera();
    const source = cleanup.defer(createSource('rpicam:64x32@30', { strideAlign: 64, framePool: { frames: 4 } }), (s) => s.stop());
    const kept: FrameRelease[] = [];
    let seen = 0;
    let keep = false;
    source.onFrame((frame) => {
      seen++;
      if (keep) kept.push(retainFrame(frame));
    });
    await source.start();
    await waitFor(() => seen >= 10, { timeoutMs: 20_000 });
    // Nobody kept a frame: the pool's buffers served ten frames and more. (How many it took
    // depends on how many frames waited for their timestamp line at once: one or two on an idle
    // machine, up to the pool on a loaded one.)
    expect(seen).toBeGreaterThan(4);
    expect(source.stats().pool!.allocated).toBeLessThanOrEqual(4);
    keep = true;
    await waitFor(() => (source.stats().pool?.dropped ?? 0) >= 3, { timeoutMs: 20_000 });
    const stats = source.stats();
    expect(stats.pool!.allocated).toBe(4);
    expect(stats.droppedFrames).toBeGreaterThanOrEqual(stats.pool!.dropped);
    expect(kept.length).toBeLessThanOrEqual(4);
    // Released, the buffers serve the capture again.
    keep = false;
    for (const release of kept.splice(0)) release();
    const before = seen;
    await waitFor(() => seen >= before + 5, { timeoutMs: 20_000 });
    expect(source.stats().pool!.allocated).toBe(4);
  });
});
