import { closeSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { createSource } from '@preroll/capture';
import { createLiveView } from '../live/live-view';
import { createPipeline, splitEncoderArgs } from '../pipeline';
import { useFakeCamera } from './camera';
import { sampleTree, treeCpuBetween, type ProcSample } from './proc-tree';
import { cpuMs, fmt, type BenchSuite } from './suite';

/** What one run of Node's frame loop cost. */
export interface LoopMeasure {
  /** Camera frames in the window: frames read by Node (`node` route), H.264 units (`split` route, whose Node sees only reduced frames). */
  readonly frames: number;
  /** Frames Node received (on the split route the reduced ones). */
  readonly nodeFrames: number;
  /** CPU per camera frame of the encoder ffmpeg (on the split route it also reads the camera and scales), of the camera, and of the whole tree (Node included), ms. */
  readonly encoderMsPerFrame: number;
  readonly cameraMsPerFrame: number;
  readonly treeMsPerFrame: number;
  readonly wallMs: number;
  /** Node CPU (user + system, every thread of this process, GC included) per frame, ms. */
  readonly cpuMsPerFrame: number;
  /** Garbage-collection pauses as a share of wall time, percent. */
  readonly gcPct: number;
  readonly gcMs: number;
  /** Buffers of at least a quarter luma plane allocated per frame (Buffer.alloc/allocUnsafe/from/concat). */
  readonly bigAllocsPerFrame: number;
  /** Main-thread CPU time inside the detector's push() per captured frame, ms (measured around each call). */
  readonly detectorMsPerFrame: number;
  /** CPU time of one push() (per analysed frame), ms. */
  readonly detectorMsPerPush: number;
  /** Wall time inside push() per captured frame, ms: above the CPU time when the push waited for a core. */
  readonly detectorWallMsPerFrame: number;
  /** Frames the detector analysed. */
  readonly analysed: number;
  /** CPU of the main (JavaScript) thread alone per frame, ms; the rest of `cpuMsPerFrame` is other threads (GC helpers, the compiler, sharp). */
  readonly mainThreadMsPerFrame: number;
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
  /** `detector.analysisFps` (`Infinity`: every frame, the path before the analysis rate). */
  readonly analysisFps: number;
  /** Seconds to run before measuring (caches, the encoder's start, the first keyframes). */
  readonly warmupS?: number;
  /** `node` (default): every frame through Node to the encoder; `split`: the encoder ffmpeg reads the camera (`camera.rpicamRoute`). */
  readonly route?: 'node' | 'split';
}

/** Who a process of the bench's tree is: this Node, the (fake) camera, the encoder ffmpeg, or something else. */
function processLabel(p: ProcSample): string {
  if (p.pid === process.pid) return 'node';
  if (p.cmdline.includes('rpicam-vid')) return 'camera';
  if (p.comm === 'ffmpeg') return 'encoder';
  return p.comm;
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
 * The CPU time of the calling thread in µs, from `/proc/thread-self/schedstat` (nanoseconds on
 * the CPU, kept open and read with pread: a few µs a call); the process's CPU where that file
 * does not exist.
 */
function mainThreadCpuUs(): { read: () => number; close: () => void } {
  let fd: number;
  try {
    fd = openSync('/proc/thread-self/schedstat', 'r');
  } catch (error) {
    void error;
    return {
      read: () => {
        const usage = process.cpuUsage();
        return usage.user + usage.system;
      },
      close: () => undefined,
    };
  }
  const buffer = Buffer.alloc(96);
  return {
    read: () => {
      const n = readSync(fd, buffer, 0, buffer.length, 0);
      const text = buffer.toString('latin1', 0, n);
      return Number(text.slice(0, text.indexOf(' '))) / 1000;
    },
    close: () => closeSync(fd),
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
  const split =
    options.route === 'split'
      ? { detectWidthPx: 640, detectFps: Math.min(options.analysisFps, options.fps), encoderArgs: await splitEncoderArgs() }
      : undefined;
  const source = createSource(`rpicam:${options.width}x${options.height}@${options.fps}`, { strideAlign: 64, framePool: options.pool, directReads: options.pool, keepTrying: false, split });
  const pipeline = createPipeline({ source, dataDir, recover: false, recorder: { fsync: false, fps: options.fps }, analysisFps: options.analysisFps });
  let units = 0;
  pipeline.onUnit(() => units++);
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
  // The detector is timed from outside (the pipeline calls it through the same object), in CPU
  // time of the main thread: wall time would count the waits for a core on a loaded machine as
  // detector work, and the process's CPU would count sharp's encodes on other threads.
  const threadCpuUs = mainThreadCpuUs();
  let detectorCpuUs = 0;
  let detectorWallMs = 0;
  let pushes = 0;
  const detector = pipeline.detector;
  const push = detector.push.bind(detector);
  detector.push = (frame) => {
    const cpu0 = threadCpuUs.read();
    const t0 = performance.now();
    try {
      return push(frame);
    } finally {
      if (measuring) {
        detectorCpuUs += threadCpuUs.read() - cpu0;
        detectorWallMs += performance.now() - t0;
        pushes++;
      }
    }
  };
  try {
    await pipeline.start();
    await new Promise((r) => setTimeout(r, (options.warmupS ?? 3) * 1000));
    const frames0 = pipeline.stats().frames;
    const units0 = units;
    const tree0 = sampleTree(process.pid);
    const dropped0 = source.stats().droppedFrames;
    const encDropped0 = pipeline.encoder()?.stats().droppedFrames ?? 0;
    const big0 = big.count();
    const cpu0 = cpuMs();
    const main0 = threadCpuUs.read();
    const wall0 = performance.now();
    measuring = true;
    await new Promise((r) => setTimeout(r, options.seconds * 1000));
    // Let the observer's buffered entries of the window arrive.
    await new Promise((r) => setImmediate(r));
    measuring = false;
    const wallMs = performance.now() - wall0;
    const cpu = cpuMs() - cpu0;
    const mainMs = (threadCpuUs.read() - main0) / 1000;
    const tree = treeCpuBetween(tree0, sampleTree(process.pid), processLabel);
    const nodeFrames = pipeline.stats().frames - frames0;
    const frames = options.route === 'split' ? units - units0 : nodeFrames;
    const stats = source.stats();
    const perFrame = (key: string): number => (frames ? (1000 * (tree.get(key) ?? 0)) / frames : NaN);
    let treeS = 0;
    for (const value of tree.values()) treeS += value;
    return {
      frames,
      nodeFrames,
      encoderMsPerFrame: perFrame('encoder'),
      cameraMsPerFrame: perFrame('camera'),
      treeMsPerFrame: frames ? (1000 * treeS) / frames : NaN,
      wallMs,
      cpuMsPerFrame: frames ? cpu / frames : NaN,
      gcPct: (100 * gcMs) / wallMs,
      gcMs,
      bigAllocsPerFrame: frames ? (big.count() - big0) / frames : NaN,
      detectorMsPerFrame: frames ? detectorCpuUs / 1000 / frames : NaN,
      detectorMsPerPush: pushes ? detectorCpuUs / 1000 / pushes : NaN,
      detectorWallMsPerFrame: frames ? detectorWallMs / frames : NaN,
      analysed: pushes,
      mainThreadMsPerFrame: frames ? mainMs / frames : NaN,
      droppedFrames: stats.droppedFrames - dropped0,
      encoderDropped: (pipeline.encoder()?.stats().droppedFrames ?? 0) - encDropped0,
      poolPeak: stats.pool?.peakInUse ?? null,
      rssMb: process.memoryUsage().rss / 1e6,
    };
  } finally {
    measuring = false;
    big.restore();
    threadCpuUs.close();
    observer.disconnect();
    unsubscribe();
    live.close();
    await pipeline.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** `pnpm bench loop`: Node's own cost per frame at 720p30, the detector on every frame against the analysis rate, and the two routes of the Pi camera, in one run. */
export const loopBench: BenchSuite = {
  name: 'loop',
  summary: "Node's frame loop at 1280x720@30 (fake rpicam-vid): CPU and GC per frame, the detector on every frame against the analysis rate (5 frames/s), and the Pi camera's node route against the split route (camera.rpicamRoute)",
  async run({ quick, log, argv }) {
    const seconds = quick ? 3 : 30;
    const warmupS = quick ? 1 : 3;
    // `--pool-baseline` adds the path before the frame pool (a new buffer per frame) as a row.
    const poolBaseline = argv.includes('--pool-baseline');
    log(`load average ${loadavg().map((l) => fmt(l, 2)).join(' ')} (2 cores shared); ${seconds} s per run after ${warmupS} s warm-up; Node CPU is this process (all threads, GC included); the encoder ffmpeg, the camera and the tree are read from /proc (10 ms ticks); per camera frame (on the split route Node receives only the reduced frames); the detector's share is main-thread CPU time inside push()`);
    log('| route | frame buffers | analysed | viewer | camera frames | frames into Node | analysed frames | Node CPU ms/frame | of which main thread | detector CPU ms/frame | detector CPU ms/push | detector wall ms/frame | rest (capture, pipes, ring, live) ms/frame | GC % of wall | GC ms | big Buffers/frame | encoder ffmpeg CPU ms/frame | camera CPU ms/frame | whole tree CPU ms/frame | dropped (capture) | dropped (encoder) | pool peak | RSS MB |');
    log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    type Run = { route: 'node' | 'split'; pool: boolean; viewer: boolean; analysisFps: number };
    const runs: Run[] = [
      ...(poolBaseline ? [{ route: 'node' as const, pool: false, viewer: false, analysisFps: Infinity }] : []),
      { route: 'node', pool: true, viewer: false, analysisFps: Infinity },
      { route: 'node', pool: true, viewer: false, analysisFps: 5 },
      { route: 'split', pool: true, viewer: false, analysisFps: 5 },
      ...(quick
        ? []
        : ([
            { route: 'node', pool: true, viewer: true, analysisFps: Infinity },
            { route: 'node', pool: true, viewer: true, analysisFps: 5 },
            { route: 'split', pool: true, viewer: true, analysisFps: 5 },
          ] as Run[])),
    ];
    const results: LoopMeasure[] = [];
    for (const run of runs) {
      const m = await measureLoop({ width: 1280, height: 720, fps: 30, seconds, warmupS, ...run });
      results.push(m);
      log(
        `| ${run.route} | ${run.pool ? 'pool + direct reads' : 'new per frame (pipe chunks copied)'} | ${Number.isFinite(run.analysisFps) ? `≤ ${run.analysisFps} fps` : 'every frame'} | ${run.viewer ? '1 (640 px, 10 fps)' : 'none'} | ${m.frames} | ${m.nodeFrames} | ${m.analysed} | ${fmt(m.cpuMsPerFrame, 3)} | ${fmt(m.mainThreadMsPerFrame, 3)} | ${fmt(m.detectorMsPerFrame, 3)} | ${fmt(m.detectorMsPerPush, 3)} | ${fmt(m.detectorWallMsPerFrame, 3)} | ${fmt(m.cpuMsPerFrame - m.detectorMsPerFrame, 3)} | ${fmt(m.gcPct, 2)} | ${fmt(m.gcMs, 0)} | ${fmt(m.bigAllocsPerFrame, 2)} | ${fmt(m.encoderMsPerFrame, 2)} | ${fmt(m.cameraMsPerFrame, 2)} | ${fmt(m.treeMsPerFrame, 2)} | ${m.droppedFrames} | ${m.encoderDropped} | ${m.poolPeak ?? '-'} | ${fmt(m.rssMb, 0)} |`,
      );
    }
    const at = (route: 'node' | 'split', viewer: boolean, analysisFps: number): LoopMeasure | undefined =>
      results[runs.findIndex((r) => r.route === route && r.pool && r.viewer === viewer && r.analysisFps === analysisFps)];
    for (const viewer of quick ? [false] : [false, true]) {
      const before = at('node', viewer, Infinity) as LoopMeasure;
      const after = at('node', viewer, 5) as LoopMeasure;
      log(
        `\n${viewer ? 'with a viewer' : 'no viewer'}: analysis rate 5 fps against every frame (same run): Node CPU/frame ${fmt(after.cpuMsPerFrame / before.cpuMsPerFrame)}x (${fmt(before.cpuMsPerFrame, 3)} → ${fmt(after.cpuMsPerFrame, 3)} ms; against the 1 ms budget ${fmt(after.cpuMsPerFrame)}x), detector CPU/frame ${fmt(before.detectorMsPerFrame, 3)} → ${fmt(after.detectorMsPerFrame, 3)} ms, GC share ${fmt(before.gcPct)} % → ${fmt(after.gcPct)} % (target ≤ 2 %)`,
      );
      const split = at('split', viewer, 5) as LoopMeasure;
      log(
        `${viewer ? 'with a viewer' : 'no viewer'}: split route against the node route at 5 fps (same run): Node CPU/frame ${fmt(split.cpuMsPerFrame / after.cpuMsPerFrame)}x (${fmt(after.cpuMsPerFrame, 3)} → ${fmt(split.cpuMsPerFrame, 3)} ms; against the 1 ms budget ${fmt(split.cpuMsPerFrame)}x), main thread ${fmt(after.mainThreadMsPerFrame, 3)} → ${fmt(split.mainThreadMsPerFrame, 3)} ms, GC ${fmt(after.gcPct)} % → ${fmt(split.gcPct)} %, big Buffers/frame ${fmt(after.bigAllocsPerFrame, 2)} → ${fmt(split.bigAllocsPerFrame, 2)}, encoder ffmpeg ${fmt(after.encoderMsPerFrame, 2)} → ${fmt(split.encoderMsPerFrame, 2)} ms, camera ${fmt(after.cameraMsPerFrame, 2)} → ${fmt(split.cameraMsPerFrame, 2)} ms, whole tree ${fmt(after.treeMsPerFrame, 2)} → ${fmt(split.treeMsPerFrame, 2)} ms (${fmt(split.treeMsPerFrame / after.treeMsPerFrame)}x)`,
      );
    }
    log(`load average after: ${loadavg().map((l) => fmt(l, 2)).join(' ')}`);
  },
};
