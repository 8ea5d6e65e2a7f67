import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createFrame, type Frame } from '@preroll/capture';
import { runTool } from '@preroll/process';
import { createEncoder, createRecorder, createSegmenter, writeMemory, LOOKBACK_DIR, type AccessUnit, type SegmentRecord } from '@preroll/recorder';
import { fmt, type BenchSuite } from './suite';

/**
 * `pnpm bench modes`: what continuous recording and the look-back cost on top of the encoder
 * (which runs anyway for the pre-roll), and how fast a memory is joined against ffmpeg's
 * concat demuxer doing the same stream copy.
 */

/** CPU of this process and of its children that have exited (ffmpeg remuxes, snapshots), ms, from /proc/self/stat. */
function totalCpuMs(): { selfMs: number; childrenMs: number } {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  // utime, stime, cutime, cstime are stat fields 14..17, i.e. 11..14 after the command name; clock ticks of 10 ms.
  const tick = 10;
  return { selfMs: (Number(fields[11]) + Number(fields[12])) * tick, childrenMs: (Number(fields[13]) + Number(fields[14])) * tick };
}

function cpuDelta(start: { selfMs: number; childrenMs: number }): { selfMs: number; childrenMs: number; totalMs: number } {
  const now = totalCpuMs();
  const selfMs = now.selfMs - start.selfMs;
  const childrenMs = now.childrenMs - start.childrenMs;
  return { selfMs, childrenMs, totalMs: selfMs + childrenMs };
}

async function sceneFrames(width: number, height: number, fps: number, count: number): Promise<Frame[]> {
  const { stdout } = await runTool('ffmpeg', [
    '-v', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps},noise=alls=6:allf=t`, '-frames:v', String(count),
    '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1',
  ], { timeoutMs: 300_000 });
  const bytes = (width * height * 3) / 2;
  return Array.from({ length: count }, (_, i) => createFrame({ seq: i, ptsUs: 0, wallMs: 0, width, height, data: stdout.subarray(i * bytes, (i + 1) * bytes) }));
}

/** Encodes `count` frames cycling through `frames` (the encoder every mode runs); returns the units and its CPU. */
async function encode(frames: Frame[], count: number, fps: number): Promise<{ units: AccessUnit[]; cpu: ReturnType<typeof cpuDelta> }> {
  const { width, height } = frames[0];
  const start = totalCpuMs();
  const encoder = createEncoder({ width, height, fps, policy: 'wait' });
  const units: AccessUnit[] = [];
  encoder.onUnit((unit) => units.push(unit));
  await encoder.start();
  const wall0 = Date.UTC(2025, 0, 1, 12);
  for (let i = 0; i < count; i++) {
    const base = frames[i % frames.length];
    const ptsUs = Math.round((i * 1e6) / fps);
    encoder.encode(createFrame({ seq: i, ptsUs, wallMs: wall0 + ptsUs / 1000, width, height, data: base.data }));
    if (encoder.busy()) await encoder.drained();
  }
  await encoder.stop();
  return { units, cpu: cpuDelta(start) };
}

type Mode = 'events only' | 'continuous, 10 s segments' | 'continuous, 60 s segments' | 'look-back, 10 s segments';

const MODES: Mode[] = ['events only', 'continuous, 10 s segments', 'continuous, 60 s segments', 'look-back, 10 s segments'];

/** Feeds the units to what a mode runs besides the encoder; returns its CPU and what it wrote. */
async function feed(units: AccessUnit[], mode: Mode, fps: number): Promise<{ cpu: ReturnType<typeof cpuDelta>; bytes: number; segments: number; failed: number }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'preroll-bench-modes-'));
  try {
    const start = totalCpuMs();
    // The recorder keeps the pre-roll ring in every mode (no event happens in this stream).
    const recorder = createRecorder({ dataDir: dir, fps });
    const segmentS = mode.includes('60 s') ? 60 : 10;
    const segmenter = createSegmenter({ dataDir: dir, fps, continuous: mode.startsWith('continuous'), segmentS, lookbackMaxBytes: mode.startsWith('look-back') ? 8e9 : 0, lookbackSegmentS: segmentS });
    await segmenter.open();
    for (const unit of units) {
      recorder.push(unit);
      segmenter.push(unit);
    }
    await segmenter.stop();
    await recorder.stop();
    const cpu = cpuDelta(start);
    const stats = segmenter.stats();
    return { cpu, bytes: diskBytes(dir), segments: stats.segmentsWritten, failed: stats.segmentsFailed };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function diskBytes(dir: string): number {
  let sum = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    sum += entry.isDirectory() ? diskBytes(p) : statSync(p).size;
  }
  return sum;
}

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)];
}

export const modesBench: BenchSuite = {
  name: 'modes',
  summary: 'continuous segments and look-back vs events only (the encoder runs in all), memory join vs ffmpeg concat',
  async run({ quick, log }) {
    const [width, height] = quick ? [320, 240] : [1280, 720];
    const fps = quick ? 10 : 30;
    const seconds = quick ? 20 : 60;
    const segmentS = 10;
    const count = seconds * fps;
    const frames = await sceneFrames(width, height, fps, quick ? 10 : 60);

    log(`\n### Recording modes: ${seconds} s of ${width}x${height}@${fps} (testsrc2 + noise), fsync per fragment on`);
    const encoded = await encode(frames, count, fps);
    const units = encoded.units;
    const rounds = quick ? 1 : 3;
    const results = new Map<Mode, Array<Awaited<ReturnType<typeof feed>>>>();
    // Alternate the modes and take medians: other processes share the cores.
    for (let r = 0; r < rounds; r++) {
      for (const mode of MODES) {
        const list = results.get(mode) ?? [];
        list.push(await feed(units, mode, fps));
        results.set(mode, list);
      }
    }
    const enc = encoded.cpu.totalMs;
    log(`encoder (runs in every mode): ${fmt(enc / seconds, 1)} ms CPU per second of video (Node ${fmt(encoded.cpu.selfMs / seconds, 1)}, ffmpeg ${fmt(encoded.cpu.childrenMs / seconds, 1)})`);
    log(`median of ${rounds} alternating run(s) each`);
    log('| mode | extra CPU ms per s of video (Node + ffmpeg remux/snapshot) | encoder + mode, × events only | written MB per min | segments (failed) per run |');
    log('|---|---:|---:|---:|---|');
    const base = median((results.get('events only') ?? []).map((x) => x.cpu.totalMs));
    for (const [mode, list] of results) {
      const extra = median(list.map((x) => x.cpu.totalMs));
      const self = median(list.map((x) => x.cpu.selfMs));
      const kids = median(list.map((x) => x.cpu.childrenMs));
      log(
        `| ${mode} | ${fmt(extra / seconds, 1)} (${fmt(self / seconds, 1)} + ${fmt(kids / seconds, 1)}) | ${fmt((enc + extra) / (enc + base), 3)} | ${fmt((median(list.map((x) => x.bytes)) / 1e6) * (60 / seconds), 1)} | ${list.map((x) => `${x.segments} (${x.failed})`).join(', ')} |`,
      );
    }

    // 2. A memory of the whole stretch, joined from the look-back segments, against the
    //    standard way to join MP4 files without re-encoding (ffmpeg's concat demuxer).
    const dir = await mkdtemp(path.join(tmpdir(), 'preroll-bench-memory-'));
    try {
      const segmenter = createSegmenter({ dataDir: dir, fps, lookbackMaxBytes: 8e9, lookbackSegmentS: segmentS, fsync: false });
      await segmenter.open();
      for (const unit of units) segmenter.push(unit);
      await segmenter.flush();
      const sources: SegmentRecord[] = segmenter.finished();
      const memoryRuns: number[] = [];
      const concatRuns: number[] = [];
      let memoryCpu = 0;
      let concatCpu = 0;
      for (let r = 0; r < rounds; r++) {
        let t0 = Date.now();
        let c0 = totalCpuMs();
        await writeMemory({ dataDir: dir, sources, fromPtsUs: units[0].ptsUs, toPtsUs: units[units.length - 1].ptsUs, triggerWallMs: units[units.length - 1].wallMs, fps });
        memoryRuns.push(Date.now() - t0);
        memoryCpu = cpuDelta(c0).totalMs;
        const list = path.join(dir, 'concat.txt');
        writeFileSync(list, sources.map((s) => `file '${s.file}'`).join('\n'));
        t0 = Date.now();
        c0 = totalCpuMs();
        await runTool('ffmpeg', ['-v', 'error', '-y', '-f', 'concat', '-safe', '0', '-i', list, '-c', 'copy', '-movflags', '+faststart', path.join(dir, `concat-${r}.mp4`)], { timeoutMs: 300_000 });
        concatRuns.push(Date.now() - t0);
        concatCpu = cpuDelta(c0).totalMs;
      }
      log(`\n### Memory of ${seconds} s from ${sources.length} look-back segments (${fmt(diskBytes(path.join(dir, LOOKBACK_DIR)) / 1e6, 1)} MB), median of ${rounds}`);
      log('| join | wall ms | CPU ms (last run) | × ffmpeg concat |');
      log('|---|---:|---:|---:|');
      log(`| ffmpeg -f concat -c copy +faststart (baseline) | ${median(concatRuns)} | ${concatCpu} | 1.00 |`);
      log(`| writeMemory (mediabunny read → clip writer → remux, snapshot, sidecar) | ${median(memoryRuns)} | ${memoryCpu} | ${fmt(median(memoryRuns) / median(concatRuns))} |`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};
