import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFramePool, releaseFrame } from '@preroll/capture';
import { createCleanupStack, waitFor } from '@preroll/testkit';
import { createEncoder, type AccessUnit } from '../src';

const cleanup = createCleanupStack();
afterEach(() => cleanup.run());

const W = 160;
const H = 96;
const FRAMES = 30;
/** Released buffers are filled with 0: a frame written from one would decode black, not grey. */
const POISON = 0;
const lumaOf = (seq: number): number => 60 + 6 * (seq % 20);

describe('encoder with pooled frames', () => {
  it('keeps each frame until its pipe write completes: the capture may release at once and the clip still shows every frame', async () => {
    const pool = createFramePool({ frameBytes: W * H * 1.5, capacity: 3, poison: POISON });
    const encoder = cleanup.defer(createEncoder({ width: W, height: H, fps: 10, policy: 'wait' }), (e) => e.stop());
    const units: AccessUnit[] = [];
    encoder.onUnit((unit) => units.push(unit));
    await encoder.start();
    for (let seq = 0; seq < FRAMES; seq++) {
      // Only 3 buffers: the next frame waits until the encoder has let go of one.
      const data = await waitFor(() => pool.acquire(), { timeoutMs: 30_000, what: 'a free pool buffer' });
      data.fill(lumaOf(seq), 0, W * H);
      data.fill(128, W * H);
      const frame = pool.frame(data, { seq, ptsUs: seq * 100_000, wallMs: seq * 100, width: W, height: H });
      encoder.encode(frame);
      releaseFrame(frame); // the capture's reference ends with the listener call
    }
    await encoder.stop();
    expect(units).toHaveLength(FRAMES);
    const stats = pool.stats();
    expect(stats.allocated).toBe(3);
    expect(stats.inUse).toBe(0);
    expect(stats.returned).toBe(FRAMES);

    const dir = mkdtempSync(join(tmpdir(), 'preroll-encoder-pool-'));
    try {
      const file = join(dir, 'out.h264');
      writeFileSync(file, Buffer.concat(units.map((u) => u.data)));
      // Raw I420 out, so the luma values are compared as written (no range conversion).
      const decoded = execFileSync('ffmpeg', ['-loglevel', 'error', '-f', 'h264', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1'], { maxBuffer: 64 * 1024 * 1024 });
      const frameBytes = W * H * 1.5;
      expect(decoded.length).toBe(FRAMES * frameBytes);
      for (let seq = 0; seq < FRAMES; seq++) {
        const plane = decoded.subarray(seq * frameBytes, seq * frameBytes + W * H);
        const mean = plane.reduce((sum, v) => sum + v, 0) / plane.length;
        expect(Math.abs(mean - lumaOf(seq))).toBeLessThan(3);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
