import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { sampleTree, totalCpu, treeCpuBetween, type ProcSample } from './proc-tree';
import { startChildServer, type ChildServer } from './serve-child';
import { fmt, type BenchSuite } from './suite';

/** cgroup v1's CPU controller (this machine; cgroup v2 names its files differently). */
const CPU_ROOT = '/sys/fs/cgroup/cpu';
const PERIOD_US = 100_000;
/** 15 % of one core: about what a Pi Zero 2 W's Cortex-A53 core does of this machine's work. */
const QUOTA_US = 15_000;

/** A CPU cgroup of our own, removed again by `remove()`. */
interface CpuGroup {
  readonly procs: string;
  setQuota(quotaUs: number): void;
  /** Moves a process back to the root group (the encoder: a hardware block on the Pi). */
  release(pid: number): void;
  /** Periods and throttled periods so far. */
  stat(): { periods: number; throttled: number; throttledMs: number };
  remove(): void;
}

function createCpuGroup(name: string): CpuGroup {
  const dir = join(CPU_ROOT, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'cpu.cfs_period_us'), String(PERIOD_US));
  return {
    procs: join(dir, 'cgroup.procs'),
    setQuota: (quotaUs) => writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quotaUs)),
    release: (pid) => writeFileSync(join(CPU_ROOT, 'cgroup.procs'), String(pid)),
    stat() {
      const text = readFileSync(join(dir, 'cpu.stat'), 'utf8');
      const get = (key: string): number => Number(new RegExp(`${key} (\\d+)`).exec(text)?.[1] ?? 0);
      return { periods: get('nr_periods'), throttled: get('nr_throttled'), throttledMs: get('throttled_time') / 1e6 };
    },
    remove() {
      // A group can only go once it is empty: whatever is left (a process that outlived the server) goes back to the root.
      for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        try {
          writeFileSync(join(CPU_ROOT, 'cgroup.procs'), pid);
        } catch (error) {
          void error; // it ended meanwhile
        }
      }
      rmdirSync(dir);
    },
  };
}

function label(p: ProcSample, root: number): string {
  if (p.pid === root) return 'node';
  if (p.comm === 'ffmpeg') return p.cmdline.includes('-i pipe:0') ? 'encoder' : 'ffmpeg';
  if (p.cmdline.includes('rpicam-vid')) return 'camera';
  return p.comm;
}

function percentile(values: readonly number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function numberOption(argv: readonly string[], name: string): number | undefined {
  const at = argv.indexOf(name);
  if (at < 0) return undefined;
  const value = Number(argv[at + 1]);
  if (!Number.isFinite(value) || value <= 0 || value > 3600) throw new RangeError(`${name} must be a number of seconds in (0, 3600]`);
  return value;
}

interface PhaseResult {
  readonly seconds: number;
  readonly dropped: number;
  /** Drops by cause over the window: the camera (timestamp gaps), the frame pool, the encoder. */
  readonly causes: { camera: number; pool: number; encoder: number };
  readonly cpu: Map<string, number>;
  readonly latenciesMs: number[];
  /** Mean of the capture's measured frame rate over the window (from the status). */
  readonly fps: number;
  /** Mean of the rate the detector analysed frames at (`detector.analysisFps` caps it). */
  readonly analysisFps: number;
  readonly failedRequests: number;
  readonly throttledPct: number;
}

/**
 * Runs one phase: polls `/api/status` once a second (timing each answer), keeps the encoder
 * outside the group, and measures CPU per process and the frames dropped in the window.
 */
async function phase(server: ChildServer, group: CpuGroup, seconds: number): Promise<PhaseResult> {
  const pid = server.child.pid!;
  const moved = new Set<number>();
  const keepEncoderOut = (): void => {
    for (const p of sampleTree(pid)) {
      if (label(p, pid) === 'encoder' && !moved.has(p.pid)) {
        group.release(p.pid);
        moved.add(p.pid);
      }
    }
  };
  keepEncoderOut();
  type Drops = { fps: number; analysisFps?: number; droppedFrames: number; pipeline: { captureDroppedFrames: number; framePoolDroppedFrames: number; encoderDroppedFrames: number } };
  const status = async (): Promise<(Drops & { ms: number }) | null> => {
    const t0 = performance.now();
    try {
      const response = await fetch(`${server.url}/api/status`, { signal: AbortSignal.timeout(10_000) });
      const body = (await response.json()) as Drops;
      return { ...body, ms: performance.now() - t0 };
    } catch (error) {
      void error;
      return null;
    }
  };
  const first = await status();
  const before = sampleTree(pid);
  const stat0 = group.stat();
  const latencies: number[] = [];
  const rates: number[] = [];
  const analysed: number[] = [];
  let failed = 0;
  let last = first;
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 1000));
    keepEncoderOut();
    const s = await status();
    if (s) {
      latencies.push(s.ms);
      rates.push(s.fps);
      analysed.push(s.analysisFps ?? 0);
      last = s;
    } else failed++;
  }
  const after = sampleTree(pid);
  const stat1 = group.stat();
  return {
    seconds,
    dropped: (last?.droppedFrames ?? 0) - (first?.droppedFrames ?? 0),
    causes: {
      camera: (last?.pipeline.captureDroppedFrames ?? 0) - (first?.pipeline.captureDroppedFrames ?? 0) - ((last?.pipeline.framePoolDroppedFrames ?? 0) - (first?.pipeline.framePoolDroppedFrames ?? 0)),
      pool: (last?.pipeline.framePoolDroppedFrames ?? 0) - (first?.pipeline.framePoolDroppedFrames ?? 0),
      encoder: (last?.pipeline.encoderDroppedFrames ?? 0) - (first?.pipeline.encoderDroppedFrames ?? 0),
    },
    // The encoder is outside the group but still reported, for the whole picture.
    cpu: treeCpuBetween(before, after, (p) => label(p, pid)),
    latenciesMs: latencies,
    fps: rates.length ? rates.reduce((a, b) => a + b, 0) / rates.length : 0,
    analysisFps: analysed.length ? analysed.reduce((a, b) => a + b, 0) / analysed.length : 0,
    failedRequests: failed,
    throttledPct: stat1.periods > stat0.periods ? (100 * (stat1.throttled - stat0.throttled)) / (stat1.periods - stat0.periods) : 0,
  };
}

/**
 * `pnpm bench budget [--seconds N] [--split]`: the server at 1280x720@30 from the
 * fake camera, Node and the camera inside a cgroup CPU quota of 15 % of one core (a Pi Zero 2
 * W's budget), the encoder outside it (with `--split`, `camera.rpicamRoute` `split`: on that route the encoder ffmpeg also reads the
 * camera's frames and scales the reduced stream: that work is outside the quota too). First a
 * minute with no quota (the baseline), then the quota for N seconds (default 300): dropped
 * frames, the p99 of `/api/status`, CPU per process, throttling.
 */
export const budgetBench: BenchSuite = {
  name: 'budget',
  summary: 'the server at 1280x720@30 inside a cgroup CPU quota of 15 % of one core (encoder outside): drops and /api/status latency',
  async run({ quick, log, argv }) {
    if (!existsSync(join(CPU_ROOT, 'cgroup.procs'))) {
      log(`no cgroup v1 CPU controller at ${CPU_ROOT}: this suite needs it (and root)`);
      return;
    }
    if (process.getuid?.() !== 0) {
      log('this suite needs root to make a cgroup: run it as root (e.g. sudo pnpm bench budget)');
      return;
    }
    const seconds = numberOption(argv, '--seconds') ?? (quick ? 20 : 300);
    const route = argv.includes('--split') ? 'split' : 'node';
    const baselineS = Math.min(60, seconds);
    const group = createCpuGroup(`preroll-budget-${process.pid}`);
    let server: ChildServer | null = null;
    try {
      group.setQuota(-1);
      log(`load average at start ${loadavg().map((l) => fmt(l, 2)).join(' ')} (2 cores shared with other work); camera.rpicamRoute ${route}`);
      server = await startChildServer('rpicam:1280x720@30', { cgroupProcs: group.procs, startTimeoutMs: 120_000, env: { PREROLL_CAMERA__RPICAM_ROUTE: route } });
      // Let the first keyframes and the pre-roll ring fill before measuring.
      await new Promise((r) => setTimeout(r, 5000));
      const free = await phase(server, group, baselineS);
      group.setQuota(QUOTA_US);
      await new Promise((r) => setTimeout(r, 3000));
      const limited = await phase(server, group, seconds);
      // On the split route the status's rate is the reduced stream's: camera frames are 30 a second less the drops.
      const cameraFps = (r: PhaseResult): number => (route === 'split' ? Math.max(0, 30 - r.dropped / r.seconds) : r.fps);
      log(`\n| phase | seconds | camera fps (mean) | frames into Node fps (mean) | analysed fps (mean) | dropped frames | of which camera / pool / encoder | Node CPU % of a core | camera (fake rpicam-vid) % | encoder (outside) % | group throttled periods % | /api/status p50 ms | p99 ms | max ms | failed |`);
      log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
      for (const [name, r] of [['no quota (baseline)', free], ['quota 15 % of one core', limited]] as const) {
        const pct = (key: string): string => fmt((100 * (r.cpu.get(key) ?? 0)) / r.seconds, 1);
        log(
          `| ${name} | ${r.seconds} | ${fmt(cameraFps(r), 1)} | ${fmt(r.fps, 1)} | ${fmt(r.analysisFps, 1)} | ${r.dropped} | ${r.causes.camera} / ${r.causes.pool} / ${r.causes.encoder} | ${pct('node')} | ${pct('camera')} | ${pct('encoder')} | ${fmt(r.throttledPct, 1)} | ${fmt(percentile(r.latenciesMs, 50), 1)} | ${fmt(percentile(r.latenciesMs, 99), 1)} | ${fmt(Math.max(...r.latenciesMs), 1)} | ${r.failedRequests} |`,
        );
      }
      const inGroup = (r: PhaseResult): number => totalCpu(r.cpu, ['encoder']) / r.seconds;
      log(`\nin the group without a quota: ${fmt(100 * inGroup(free), 1)} % of one core (the quota is 15 %: ${fmt((100 * inGroup(free)) / 15, 2)}x of it); with the quota: ${fmt(100 * inGroup(limited), 1)} %`);
      const perFrameMs = (r: PhaseResult): number => (1000 * inGroup(r)) / Math.max(cameraFps(r), 1e-9);
      log(
        `in-group CPU per camera frame: ${fmt(perFrameMs(free), 2)} ms without the quota, ${fmt(perFrameMs(limited), 2)} ms with it; 30 fps at that cost needs ${fmt((perFrameMs(free) * 30) / 10, 1)} % of one core against the 15 % quota`,
      );
      log(`dropped frames under the quota: ${limited.dropped} in ${limited.seconds} s (${fmt((100 * limited.dropped) / (limited.seconds * 30), 2)} % of 30 fps)`);
      log(`load average at the end ${loadavg().map((l) => fmt(l, 2)).join(' ')}`);
    } finally {
      if (server) {
        const s = server;
        await Promise.race([s.stop(), new Promise((r) => setTimeout(r, 20_000)).then(() => s.child.kill('SIGKILL'))]);
      }
      // The server's children (camera, encoder) end with it; give them a moment before removing the group.
      for (let i = 0; i < 50; i++) {
        try {
          group.remove();
          break;
        } catch (error) {
          if (i === 49) log(`could not remove the cgroup: ${(error as Error).message}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }
  },
};
