import { readFileSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createFrame, type Frame } from '@preroll/capture';
import { runTool, spawnFfmpeg } from '@preroll/process';
import {
  buildEncoderArgs,
  createClipWriter,
  createEncoder,
  createRecorder,
  createRing,
  encodeSnapshot,
  remuxToFaststart,
  type AccessUnit,
  type RecordedClip,
} from '@preroll/recorder';
import { cpuMs, fmt, type BenchSuite } from './suite';

/** CPU time (user + system) of a child process so far, in ms, from /proc (Linux). */
function childCpuMs(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch (error) {
    void error; // the process has exited: the last sample stands
    return Number.NaN;
  }
}

/** `count` distinct frames of a moving test scene (with sensor-like noise when asked), decoded by ffmpeg. */
async function sceneFrames(width: number, height: number, fps: number, count: number, noise: boolean): Promise<Frame[]> {
  const filter = noise ? ',noise=alls=8:allf=t' : '';
  const { stdout } = await runTool('ffmpeg', [
    '-v', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}${filter}`, '-frames:v', String(count),
    '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1',
  ], { timeoutMs: 300_000 });
  const bytes = (width * height * 3) / 2;
  return Array.from({ length: count }, (_, i) => createFrame({ seq: i, ptsUs: 0, wallMs: 0, width, height, data: stdout.subarray(i * bytes, (i + 1) * bytes) }));
}

/** Frame `i` of an endless sequence that cycles through `frames`, with capture timestamps at `fps`. */
function frameAt(frames: Frame[], i: number, fps: number): Frame {
  const base = frames[i % frames.length];
  const ptsUs = Math.round((i * 1e6) / fps);
  return createFrame({ seq: i, ptsUs, wallMs: Date.UTC(2025, 0, 1) + ptsUs / 1000, width: base.width, height: base.height, data: base.data });
}

interface EncodeRun {
  wallMs: number;
  nodeCpuMs: number;
  ffmpegCpuMs: number;
  bytes: number;
  units: AccessUnit[];
}

/** Baseline: the same ffmpeg command line fed the same frames; stdout is only counted. */
async function plainFfmpeg(frames: Frame[], count: number, fps: number): Promise<EncodeRun> {
  const { width, height } = frames[0];
  const args = buildEncoderArgs({ width, height, fps, codec: 'libx264', gopFrames: Math.round(fps), crf: 23, bitrateKbps: 4000, hasFpsMode: true });
  const start = Date.now();
  const cpu0 = cpuMs();
  const child = spawnFfmpeg({ name: 'baseline', args });
  let bytes = 0;
  let ffmpegCpu = 0;
  child.stdout?.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  const sampler = setInterval(() => {
    const v = childCpuMs(child.pid);
    if (Number.isFinite(v)) ffmpegCpu = v;
  }, 50);
  const stdin = child.stdin!;
  for (let i = 0; i < count; i++) {
    if (!stdin.write(frames[i % frames.length].data)) await new Promise((r) => stdin.once('drain', r));
  }
  stdin.end();
  await child.exited;
  clearInterval(sampler);
  return { wallMs: Date.now() - start, nodeCpuMs: cpuMs() - cpu0, ffmpegCpuMs: ffmpegCpu, bytes, units: [] };
}

/** Preroll's encoder (policy `wait`): ffmpeg plus splitting, pairing and keyframe bookkeeping. */
async function prerollEncoder(frames: Frame[], count: number, fps: number, keep: boolean): Promise<EncodeRun> {
  const { width, height } = frames[0];
  const encoder = createEncoder({ width, height, fps, policy: 'wait' });
  const units: AccessUnit[] = [];
  let bytes = 0;
  encoder.onUnit((unit) => {
    bytes += unit.data.length;
    if (keep) units.push(unit);
  });
  await encoder.start();
  const start = Date.now();
  const cpu0 = cpuMs();
  let ffmpegCpu = 0;
  const sampler = setInterval(() => {
    const v = childCpuMs(encoder.pid() ?? undefined);
    if (Number.isFinite(v)) ffmpegCpu = v;
  }, 50);
  for (let i = 0; i < count; i++) {
    encoder.encode(frameAt(frames, i, fps));
    if (encoder.busy()) await encoder.drained();
  }
  await encoder.stop();
  clearInterval(sampler);
  return { wallMs: Date.now() - start, nodeCpuMs: cpuMs() - cpu0, ffmpegCpuMs: ffmpegCpu, bytes, units };
}

/** Per-field medians of several runs of the same work. */
function medianRun(runs: EncodeRun[]): EncodeRun {
  const med = (pick: (r: EncodeRun) => number): number => {
    const v = runs.map(pick).sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)];
  };
  return { wallMs: med((r) => r.wallMs), nodeCpuMs: med((r) => r.nodeCpuMs), ffmpegCpuMs: med((r) => r.ffmpegCpuMs), bytes: med((r) => r.bytes), units: [] };
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return [value, Number(process.hrtime.bigint() - t0) / 1e6];
}

/** `pnpm bench recorder`: encoder overhead, ring memory, and the cost of closing a clip. */
export const recorderBench: BenchSuite = {
  name: 'recorder',
  summary: 'encoder vs plain ffmpeg, pre-roll ring memory, event end → final MP4',
  async run({ quick, log }) {
    const [width, height] = quick ? [320, 240] : [1920, 1080];
    const fps = quick ? 10 : 30;
    const distinct = quick ? 10 : 60;

    // 1. Encoder cost against plain ffmpeg with the same argv and input, same run.
    const encodeFrames = quick ? 30 : 300;
    log(`\n### Encoder: ${encodeFrames} frames ${width}x${height}, libx264 ultrafast/zerolatency, GOP ${fps}`);
    const clean = await sceneFrames(width, height, fps, distinct, false);
    // Alternate the two runs and take medians: other processes share the cores.
    const rounds = quick ? 1 : 3;
    const baseRuns: EncodeRun[] = [];
    const ourRuns: EncodeRun[] = [];
    for (let r = 0; r < rounds; r++) {
      baseRuns.push(await plainFfmpeg(clean, encodeFrames, fps));
      ourRuns.push(await prerollEncoder(clean, encodeFrames, fps, false));
    }
    const base = medianRun(baseRuns);
    const ours = medianRun(ourRuns);
    log(`median of ${rounds} alternating run(s) each`);
    log('| run | wall ms/frame | fps | Node CPU ms/frame | ffmpeg CPU ms/frame | total CPU ms/frame | output kB/frame |');
    log('|---|---:|---:|---:|---:|---:|---:|');
    for (const [name, r] of [['plain ffmpeg (baseline)', base], ['Preroll encoder', ours]] as const) {
      log(
        `| ${name} | ${fmt(r.wallMs / encodeFrames, 2)} | ${fmt((encodeFrames * 1000) / r.wallMs, 1)} | ${fmt(r.nodeCpuMs / encodeFrames, 3)} | ${fmt(r.ffmpegCpuMs / encodeFrames, 2)} | ${fmt((r.nodeCpuMs + r.ffmpegCpuMs) / encodeFrames, 2)} | ${fmt(r.bytes / encodeFrames / 1024, 1)} |`,
      );
    }
    log(
      `ratio Preroll/baseline: wall ${fmt(ours.wallMs / base.wallMs)}x, total CPU ${fmt((ours.nodeCpuMs + ours.ffmpegCpuMs) / (base.nodeCpuMs + base.ffmpegCpuMs))}x, ` +
        `Node CPU ${fmt(ours.nodeCpuMs / base.nodeCpuMs)}x (${fmt((ours.nodeCpuMs - base.nodeCpuMs) / encodeFrames, 3)} ms per frame for splitting, pairing and keyframe bookkeeping)`,
    );

    // 2. Ring memory: pre-roll 5 s (+ 2 s trigger lag + one GOP) at this size and rate.
    const ringSeconds = quick ? 3 : 12;
    log(`\n### Pre-roll ring: ${width}x${height}@${fps}, preRollMs 5000, maxTriggerLagMs 2000, at least ${ringSeconds} s of video pushed`);
    log('| scene | ring MB | ring span s | keyframes | MB per s held | raw I420 for the same span MB | raw/ring |');
    log('|---|---:|---:|---:|---:|---:|---:|');
    const noisy = quick ? clean : await sceneFrames(width, height, fps, distinct, true);
    let clipUnits: AccessUnit[] = [];
    for (const [scene, frames] of [['testsrc2 (clean)', clean], ['testsrc2 + sensor noise', noisy]] as const) {
      // The noisy run is long enough to serve as the clip of part 3 as well.
      const seconds = scene.includes('noise') ? Math.max(ringSeconds, quick ? 3 : 30) : ringSeconds;
      const run = await prerollEncoder(frames, seconds * fps, fps, true);
      const ring = createRing({ preRollMs: 5000, maxTriggerLagMs: 2000 });
      for (const unit of run.units) ring.push(unit);
      const s = ring.stats();
      const rawMb = (s.units * width * height * 1.5) / 1e6;
      log(`| ${scene} | ${fmt(s.bytes / 1e6, 2)} | ${fmt(s.spanMs / 1000, 2)} | ${s.keyframes} | ${fmt(s.bytes / 1e6 / (s.spanMs / 1000), 2)} | ${fmt(rawMb, 0)} | ${fmt(rawMb / (s.bytes / 1e6), 0)}x |`);
      if (scene.includes('noise')) clipUnits = run.units;
    }

    // 3. Event end → final MP4, for a clip of `clipSeconds`, against copying the same bytes.
    const clipSeconds = quick ? 3 : 30;
    log(`\n### Event end → final MP4: ${clipSeconds} s clip at ${width}x${height}@${fps} (noisy scene), fsync per fragment on`);
    const needed = clipSeconds * fps;
    if (clipUnits.length < needed) {
      const run = await prerollEncoder(noisy, needed, fps, true);
      clipUnits = run.units;
    }
    const units = clipUnits.slice(0, needed);
    const dir = await mkdtemp(path.join(tmpdir(), 'preroll-bench-rec-'));
    try {
      const recorder = createRecorder({ dataDir: dir, preRollMs: 0, fps });
      const done = new Promise<[RecordedClip, bigint]>((resolve) => recorder.onClip((clip) => resolve([clip, process.hrtime.bigint()])));
      recorder.manualStart({ ptsUs: units[0].ptsUs });
      for (const unit of units) recorder.push(unit);
      // Live, units arrive over 30 s and the writer keeps up; let it catch up before the end.
      while (recorder.stats().queuedBytes > 0) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 200));
      const endAt = process.hrtime.bigint();
      recorder.manualStop(units[units.length - 1].ptsUs);
      const [clip, doneAt] = await done;
      const endToFinalMs = Number(doneAt - endAt) / 1e6;
      await recorder.stop();
      const clipFile = path.join(dir, clip.sidecar.files.clip);
      const bytes = (await fsp.stat(clipFile)).size;

      // Stages, measured separately on the same units.
      const part = path.join(dir, 'stage.part.mp4');
      const writer = createClipWriter({ path: part, fsync: true, fragmentMs: 500, frameUs: 1e6 / fps });
      for (const unit of units) writer.write(unit);
      const [, finalizeMs] = await timed(() => writer.close());
      const [, remuxMs] = await timed(() => remuxToFaststart(part, path.join(dir, 'stage.mp4')));
      const image = { width, height, data: Buffer.from(noisy[0].data) };
      const [, snapshotMs] = await timed(() => encodeSnapshot(image));
      const [, copyMs] = await timed(() => fsp.copyFile(clipFile, path.join(dir, 'copy.mp4')));
      log('| step | ms |');
      log('|---|---:|');
      log(`| **event end → final MP4 + snapshot + thumbnail + sidecar (recorder)** | **${fmt(endToFinalMs, 0)}** |`);
      log(`| remux to +faststart alone (ffmpeg -c copy, then fsync; measured separately) | ${fmt(remuxMs, 0)} |`);
      log(`| JPEG snapshot + thumbnail from I420 alone (sharp, measured separately) | ${fmt(snapshotMs, 0)} |`);
      log(`| writing all ${needed} units + finalize, fsync per fragment (measured separately; live, this is spread over the ${clipSeconds} s) | ${fmt(finalizeMs, 0)} |`);
      log(`| baseline: copying the ${fmt(bytes / 1e6, 1)} MB clip (fs.copyFile) | ${fmt(copyMs, 0)} |`);
      log(
        `end → final is ${fmt(endToFinalMs / remuxMs, 1)}x the bare remux, ${fmt(endToFinalMs / copyMs, 1)}x a plain copy of the clip, ` +
          `${fmt((100 * endToFinalMs) / (clipSeconds * 1000), 1)} % of the clip's duration; target < 1000 ms`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};
