import { join } from 'node:path';
import { createSource, type CaptureError, type Frame } from '../src/index';
import { fakeLuma, tempDir, useFakeCamera } from './fake-camera';
import { createCleanupStack } from '@preroll/testkit';

// Every source a test creates is stopped after it, passed or failed (a running capture would keep jest alive).
const cleanup = createCleanupStack();
afterEach(() => cleanup.run());
const track = <T extends { stop(): Promise<void> }>(source: T): T => cleanup.defer(source, (s) => s.stop());

const quickBackoff = { initialMs: 50, maxMs: 200, factor: 2, resetAfterMs: 60_000 };

/** Collects frames until `count` arrived (bounded by `timeoutMs`). */
function collect(source: ReturnType<typeof createSource>, count: number, timeoutMs = 10_000): Promise<Frame[]> {
  const frames: Frame[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${frames.length}/${count} frames in ${timeoutMs} ms`)), timeoutMs);
    source.onFrame((frame) => {
      frames.push(frame);
      if (frames.length === count) {
        clearTimeout(timer);
        resolve(frames);
      }
    });
  });
}

/** Starts the source and waits for `count` frames. */
async function collectAfterStart(source: ReturnType<typeof createSource>, count: number): Promise<Frame[]> {
  const got = collect(source, count);
  await source.start();
  return got;
}

describe('rpicam source (fake rpicam-vid on PATH)', () => {
  let restore: () => void = () => undefined;
  afterEach(() => restore());

  test('frames carry the exact pixels with no stride padding, and timestamps from --save-pts', async () => {
    restore = useFakeCamera({ FAKE_RPICAM_RANDOM_CHUNKS: '1' });
    // 100 px rows are padded to 128 bytes by the camera: the padding (0xEE) must never show.
    const source = track(createSource('rpicam:100x40@30', { strideAlign: 64 }));
    const got = collect(source, 12);
    await source.start();
    const frames = await got;
    await source.stop();
    // On a loaded machine the fake sensor, like a real one, skips a frame when its tick comes
    // late (even the first): each frame's pixels must match the sensor frame its timestamp
    // names, counted from the first frame's (its pattern repeats every 8 sensor frames).
    const first = [0, 1, 2, 3, 4, 5, 6, 7].find((k) => fakeLuma(0, 0, k) === frames[0].y[0]) ?? -1;
    expect(first).toBeGreaterThanOrEqual(0);
    frames.forEach((frame, n) => {
      const sensor = first + Math.round(frame.ptsUs / 33_333.333);
      expect(frame.width).toBe(100);
      expect(frame.height).toBe(40);
      expect(frame.seq).toBe(n);
      expect(frame.data.length).toBe(100 * 40 * 1.5);
      expect(frame.data.includes(0xee)).toBe(false);
      expect(frame.y[0]).toBe(fakeLuma(0, 0, sensor));
      expect(frame.y[39 * 100 + 99]).toBe(fakeLuma(99, 39, sensor));
    });
    // Sensor timestamps are whole multiples of 33.333 ms apart to the microsecond, unlike arrival times.
    const gaps = frames.slice(1).map((f, i) => f.ptsUs - frames[i].ptsUs);
    for (const gap of gaps) expect(Math.abs(gap - Math.round(gap / 33_333.333) * 33_333.333)).toBeLessThanOrEqual(1);
    expect(gaps.filter((gap) => gap < 33_000)).toHaveLength(0);
    expect(frames[0].ptsUs).toBe(0);
  });

  test('Pi 5 layout: 128-byte stride alignment', async () => {
    restore = useFakeCamera({ FAKE_RPICAM_STRIDE_ALIGN: '128' });
    const source = track(createSource('rpicam:200x32@30', { board: { model: 'Raspberry Pi 5 Model B Rev 1.0', isRaspberryPi: true, strideAlign: 128 } }));
    const got = collect(source, 3);
    await source.start();
    const frames = await got;
    await source.stop();
    const first = [0, 1, 2, 3, 4, 5, 6, 7].find((k) => fakeLuma(0, 0, k) === frames[0].y[0]) ?? -1;
    expect(first).toBeGreaterThanOrEqual(0);
    expect(frames[2].y[31 * 200 + 199]).toBe(fakeLuma(199, 31, first + Math.round(frames[2].ptsUs / 33_333.333)));
    expect(frames[2].data.includes(0xee)).toBe(false);
  });

  test('frames the sensor skipped are counted as dropped from the timestamp gaps', async () => {
    restore = useFakeCamera({ FAKE_RPICAM_DROP_EVERY: '4' });
    const source = track(createSource('rpicam:64x32@30', { strideAlign: 64 }));
    const got = collect(source, 15);
    await source.start();
    const frames = await got;
    await source.stop();
    // Frames keep arriving until stop(): compare with everything delivered by then.
    const last = frames[frames.length - 1];
    const spanFrames = Math.round((last.ptsUs - frames[0].ptsUs) / 33_333) + 1;
    expect(source.stats().droppedFrames).toBe(spanFrames - frames.length);
    expect(source.stats().droppedFrames).toBeGreaterThanOrEqual(3);
  });

  test('a crash is restarted with backoff and the timeline stays monotonic', async () => {
    const dir = tempDir();
    restore = useFakeCamera({ FAKE_RPICAM_CRASH_AFTER: '5', FAKE_RPICAM_FAULTY_RUNS: '2', FAKE_RPICAM_RUNS_FILE: join(dir, 'runs') });
    const states: string[] = [];
    const source = track(createSource('rpicam:64x32@30', { strideAlign: 64, backoff: quickBackoff }));
    source.onState((state) => states.push(state));
    const got = collect(source, 20);
    await source.start();
    const frames = await got;
    await source.stop();
    expect(source.stats().restarts).toBe(2);
    expect(source.stats().lastError?.code).toBe('CAPTURE_SOURCE_EXITED');
    expect(states.filter((s) => s === 'restarting')).toHaveLength(2);
    for (let i = 1; i < frames.length; i++) {
      expect(frames[i].seq).toBe(frames[i - 1].seq + 1);
      expect(frames[i].ptsUs).toBeGreaterThan(frames[i - 1].ptsUs);
    }
  });

  test('a blocked event loop is not a stalled camera: its frames wait in the pipe, no restart', async () => {
    restore = useFakeCamera();
    const source = track(createSource('rpicam:64x32@30', { strideAlign: 64, stallTimeoutMs: 400, backoff: quickBackoff }));
    await collectAfterStart(source, 3);
    // Synchronous work (a big compression, a starved machine) holds this process for 4x the stall limit.
    const until = Date.now() + 1600;
    while (Date.now() < until);
    await collect(source, 5);
    expect(source.stats().restarts).toBe(0);
    expect(source.state()).toBe('running');
  });

  test('a camera that stops sending frames is restarted by the stall watchdog', async () => {
    const dir = tempDir();
    restore = useFakeCamera({ FAKE_RPICAM_HANG_AFTER: '3', FAKE_RPICAM_FAULTY_RUNS: '1', FAKE_RPICAM_RUNS_FILE: join(dir, 'runs') });
    const source = track(createSource('rpicam:64x32@30', { strideAlign: 64, stallTimeoutMs: 400, backoff: quickBackoff }));
    const got = collect(source, 8);
    await source.start();
    await got;
    await source.stop();
    expect(source.stats().restarts).toBe(1);
    expect(source.stats().lastError?.code).toBe('CAPTURE_STALLED');
  });

  test('old rpicam-vid that buffers the pts file: falls back to arrival time', async () => {
    restore = useFakeCamera({ FAKE_RPICAM_PTS_BUFFERED: '1' });
    const source = track(createSource('rpicam:64x32@30', { strideAlign: 64, ptsWaitMs: 150 }));
    const got = collect(source, 10);
    await source.start();
    const frames = await got;
    await source.stop();
    for (let i = 1; i < frames.length; i++) expect(frames[i].ptsUs).toBeGreaterThan(frames[i - 1].ptsUs);
  });

  test('camera busy: a clear error with a stable code', async () => {
    restore = useFakeCamera({ FAKE_RPICAM_BUSY: '1' });
    const source = track(createSource('rpicam:64x32@30'));
    await expect(source.start()).rejects.toMatchObject({ code: 'CAPTURE_CAMERA_BUSY' });
    expect(source.state()).toBe('failed');
    expect(source.stats().stderrTail.join('\n')).toMatch(/failed to acquire camera/);
  });

  test('no camera connected: CAPTURE_NO_CAMERA', async () => {
    restore = useFakeCamera({ FAKE_RPICAM_NO_CAMERA: '1' });
    await expect(createSource('rpicam').start()).rejects.toMatchObject({ code: 'CAPTURE_NO_CAMERA' });
  });

  test('rpicam-vid not installed: CAPTURE_BINARY_NOT_FOUND with an install hint', async () => {
    restore = useFakeCamera();
    process.env.PATH = tempDir();
    const error = (await createSource('rpicam').start().catch((e: unknown) => e)) as CaptureError;
    expect(error.code).toBe('CAPTURE_BINARY_NOT_FOUND');
    expect(error.message).toMatch(/rpicam-apps.*--source demo/);
  });
});
