import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { createSource } from '@preroll/capture';
import { createLiveView } from '../live/live-view';
import { createPipeline } from '../pipeline';
import { useFakeCamera } from './camera';
import { cpuMs, fmt, type BenchSuite } from './suite';

/** What one run of Node's frame loop cost. */
export interface LoopMeasure {
  readonly frames: number;
  readonly wallMs: number;
  /** Node CPU (user + system, every thread of this process, GC included) per frame, ms. */
  readonly cpuMsPerFrame: number;
  /** Garbage-collection pauses as a share of wall time, percent. */
  readonly gcPct: number;
  readonly gcMs: number;
  /** Buffers of at least a quarter luma plane allocated per frame (Buffer.alloc/allocUnsafe/from/concat). */
  readonly bigAllocsPerFrame: number;
  /** Wall time inside the detector's push() per frame, ms (synchronous, so close to its CPU). */
  readonly detectorMsPerFrame: number;
  readonly droppedFrames: number;
  readonly encoderDropped: number;
  readonly poolPeak: number | null;
  readonly rssMb: number;
}

/** Options of {@link measureLoop}. */
export interface LoopOptions {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly seconds: number;
  /**
   * Frame pool and direct pipe reads on (the server's setting), or both off: an ordinary stdout
   * pipe (a new 64 KiB Buffer per read) and a new buffer per frame, the path before the pool.
   */
  readonly pool: boolean;
  /** A live-view viewer subscribed (JPEGs at 640 px, 10 fps), or none (the idle case). */
  readonly viewer: boolean;
  /** Seconds to run before measuring (caches, the encoder's start, the first keyframes). */
  readonly warmupS?: number;
}

/**
 * Counts Buffers of at least `minBytes` made through Buffer's factories while it is installed.
 * Buffers made by native code or by `new Uint8Array` are not seen; the pool's own buffers are
 * made before the window opens.
 */
function countBigBuffers(minBytes: number): { count: () => number; restore: () => void } {
  const B = Buffer as unknown as Record<string, (...args: unknown[]) => Buffer>;
  const names = ['alloc', 'allocUnsafe', 'allocUnsafeSlow', 'from', 'concat'] as const;
  const saved = names.map((name) => B[name]);
  let count = 0;
  names.forEach((name, i) => {
    const original = saved[i];
    B[name] = function (this: unknown, ...args: unknown[]) {
      const made = original.apply(this, args);
      if (made.length >= minBytes) count++;
      return made;
    };
  });
  return {
    count: () => count,
    restore: () => names.forEach((name, i) => (B[name] = saved[i])),
  };
}

/**
 * Runs the server's frame loop in this process — fake rpicam-vid → capture → detector →
 * encoder pipe (ffmpeg, its CPU not counted) → pre-roll ring and recorder, optionally the live
 * view — and measures Node's cost per frame over `seconds` after a warm-up.
 */
export async function measureLoop(options: LoopOptions): Promise<LoopMeasure> {
  useFakeCamera();
  const dataDir = mkdtempSync(join(tmpdir(), 'preroll-bench-loop-'));
  const source = createSource(`rpicam:${options.width}x${options.height}@${options.fps}`, { strideAlign: 64, framePool: options.pool, directReads: options.pool, keepTrying: false });
  const pipeline = createPipeline({ source, dataDir, recover: false, recorder: { fsync: false } });
  const live = createLiveView({ width: 640, maxFps: 10, jpegQuality: 70 });
  source.onFrame((frame) => live.offer(frame));
  const unsubscribe = options.viewer ? live.subscribe(() => undefined) : () => undefined;
  let gcMs = 0;
  let measuring = false;
  const observer = new PerformanceObserver((list) => {
    if (!measuring) return;
    for (const entry of list.getEntries()) gcMs += entry.duration;
  });
  observer.observe({ entryTypes: ['gc'] });
  const big = countBigBuffers((options.width * options.height) / 4);
  // The detector is timed from outside: the pipeline calls it through the same object.
  let detectorMs = 0;
  const detector = pipeline.detector;
  const push = detector.push.bind(detector);
  detector.push = (frame) => {
    const t0 = performance.now();
    try {
      return push(frame);
    } finally {
      if (measuring) detectorMs += performance.now() - t0;
    }
  };
  try {
    await pipeline.start();
    await new Promise((r) => setTimeout(r, (options.warmupS ?? 3) * 1000));
    const frames0 = pipeline.stats().frames;
    const dropped0 = source.stats().droppedFrames;
    const encDropped0 = pipeline.encoder()?.stats().droppedFrames ?? 0;
    const big0 = big.count();
    const cpu0 = cpuMs();
    const wall0 = performance.now();
    measuring = true;
    await new Promise((r) => setTimeout(r, options.seconds * 1000));
    // Let the observer's buffered entries of the window arrive.
    await new Promise((r) => setImmediate(r));
    measuring = false;
    const wallMs = performance.now() - wall0;
    const cpu = cpuMs() - cpu0;
    const frames = pipeline.stats().frames - frames0;
    const stats = source.stats();
    return {
      frames,
      wallMs,
      cpuMsPerFrame: frames ? cpu / frames : NaN,
      gcPct: (100 * gcMs) / wallMs,
      gcMs,
      bigAllocsPerFrame: frames ? (big.count() - big0) / frames : NaN,
      detectorMsPerFrame: frames ? detectorMs / frames : NaN,
      droppedFrames: stats.droppedFrames - dropped0,
      encoderDropped: (pipeline.encoder()?.stats().droppedFrames ?? 0) - encDropped0,
      poolPeak: stats.pool?.peakInUse ?? null,
      rssMb: process.memoryUsage().rss / 1e6,
    };
  } finally {
    measuring = false;
    big.restore();
    observer.disconnect();
    unsubscribe();
    live.close();
    await pipeline.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** `pnpm bench loop`: Node's own cost per frame at 720p30, without and with the frame pool, in one run. */
export const loopBench: BenchSuite = {
  name: 'loop',
  summary: "Node's frame loop at 1280x720@30 (fake rpicam-vid): CPU and GC per frame, a new buffer per frame against the frame pool",
  async run({ quick, log }) {
    const seconds = quick ? 3 : 30;
    const warmupS = quick ? 1 : 3;
    log(`load average ${loadavg().map((l) => fmt(l, 2)).join(' ')} (2 cores shared); ${seconds} s per run after ${warmupS} s warm-up; CPU of this Node process (all threads, GC included), the camera and ffmpeg not counted`);
    log('| frame buffers | viewer | frames | Node CPU ms/frame | of which in the detector | rest (capture, pipes, ring) | GC % of wall | GC ms | big Buffers/frame | dropped (capture) | dropped (encoder) | pool peak | RSS MB |');
    log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    const runs: { pool: boolean; viewer: boolean }[] = [
      { pool: false, viewer: false },
      { pool: true, viewer: false },
      ...(quick ? [] : [{ pool: false, viewer: true }, { pool: true, viewer: true }]),
    ];
    const results: LoopMeasure[] = [];
    for (const run of runs) {
      const m = await measureLoop({ width: 1280, height: 720, fps: 30, seconds, warmupS, ...run });
      results.push(m);
      log(
        `| ${run.pool ? 'pool + direct reads' : 'new per frame (pipe chunks copied)'} | ${run.viewer ? '1 (640 px, 10 fps)' : 'none'} | ${m.frames} | ${fmt(m.cpuMsPerFrame, 3)} | ${fmt(m.detectorMsPerFrame, 3)} | ${fmt(m.cpuMsPerFrame - m.detectorMsPerFrame, 3)} | ${fmt(m.gcPct, 2)} | ${fmt(m.gcMs, 0)} | ${fmt(m.bigAllocsPerFrame, 2)} | ${m.droppedFrames} | ${m.encoderDropped} | ${m.poolPeak ?? '-'} | ${fmt(m.rssMb, 0)} |`,
      );
    }
    const [before, after] = results;
    log(
      `\npool against a new buffer per frame (no viewer, same run): Node CPU/frame ${fmt(after.cpuMsPerFrame / before.cpuMsPerFrame)}x (${fmt(after.cpuMsPerFrame, 3)} ms against the 1 ms budget: ${fmt(after.cpuMsPerFrame)}x), outside the detector ${restRatio(before, after)}, GC share ${fmt(before.gcPct)} % → ${fmt(after.gcPct)} % (target ≤ 2 %), big Buffers/frame ${fmt(before.bigAllocsPerFrame)} → ${fmt(after.bigAllocsPerFrame)}`,
    );
    log(`load average after: ${loadavg().map((l) => fmt(l, 2)).join(' ')}`);
  },
};

/**
 * The ratio of the per-frame cost outside the detector, after against before. The detector's
 * share is wall time: on a loaded machine a descheduled push() can exceed the CPU it used, and
 * then there is no meaningful "rest" to compare.
 */
function restRatio(before: LoopMeasure, after: LoopMeasure): string {
  const restBefore = before.cpuMsPerFrame - before.detectorMsPerFrame;
  const restAfter = after.cpuMsPerFrame - after.detectorMsPerFrame;
  if (!(restBefore > 0) || !(restAfter > 0)) return 'not measurable in this run (the detector\'s wall time exceeded the CPU: machine too loaded)';
  return `${fmt(restAfter / restBefore)}x`;
}
