import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadavg } from 'node:os';
import { createSource } from '@preroll/capture';
import { useFakeCamera } from './camera';
import { fmt, type BenchSuite } from './suite';

/** Baseline: spawn the camera and wait for its first byte of video (the camera's own start-up); then how long it takes to exit on SIGTERM. */
async function bareStartMs(): Promise<{ startMs: number; stopMs: number }> {
  const startedAt = performance.now();
  const child = spawn('rpicam-vid', ['-n', '-t', '0', '--codec', 'yuv420', '--width', '320', '--height', '240', '--framerate', '15', '--flush', '-o', '-'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const ms = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', () => resolve(performance.now() - startedAt));
    child.once('error', reject);
  });
  const killedAt = performance.now();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('close', r));
  return { startMs: ms, stopMs: performance.now() - killedAt };
}

/** What the timestamp FIFO costs each run: `mkfifo` is run synchronously (Node has no mkfifo). */
function mkfifoMs(): number {
  const dir = mkdtempSync(join(tmpdir(), 'preroll-bench-fifo-'));
  const startedAt = performance.now();
  execFileSync('mkfifo', ['-m', '600', join(dir, 'pts')]);
  const ms = performance.now() - startedAt;
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * The gap of a camera-controls restart (`reconfigure`: the last frame of the old rpicam-vid run
 * to the first of the new one), measured repeatedly with the load average, against the bare
 * start-up of the camera process measured in the same run. Target: at most 2 s.
 */
export const restartBench: BenchSuite = {
  name: 'restart',
  summary: 'gap of a camera-controls restart (last frame before to first frame after) against the camera process start-up',
  async run({ quick, log }) {
    useFakeCamera();
    const rounds = quick ? 3 : 15;
    const source = createSource('rpicam:320x240@15', { strideAlign: 64, framePool: true });
    let frames = 0;
    source.onFrame(() => frames++);
    await source.start();
    try {
      const gaps: number[] = [];
      const bare: number[] = [];
      const stops: number[] = [];
      const fifos: number[] = [];
      const loads: number[] = [];
      for (let i = 0; i < rounds; i++) {
        const before = frames;
        // Frames flowing before each restart: the gap is from a running camera.
        while (frames < before + 5) await new Promise((r) => setTimeout(r, 20));
        loads.push(loadavg()[0]);
        const result = await source.reconfigure!({ controls: { awb: i % 2 ? 'auto' : 'daylight' } });
        gaps.push(result.gapMs);
        const camera = await bareStartMs();
        bare.push(camera.startMs);
        stops.push(camera.stopMs);
        fifos.push(mkfifoMs());
      }
      log(`rounds ${rounds}; load average (1 min) during the runs: ${fmt(Math.min(...loads), 1)}..${fmt(Math.max(...loads), 1)}`);
      log(`| measure | best ms | median ms | worst ms |`);
      log(`| --- | --- | --- | --- |`);
      log(`| restart gap (reconfigure) | ${fmt(Math.min(...gaps), 0)} | ${fmt(median(gaps), 0)} | ${fmt(Math.max(...gaps), 0)} |`);
      log(`| bare camera start-up (spawn to first byte) | ${fmt(Math.min(...bare), 0)} | ${fmt(median(bare), 0)} | ${fmt(Math.max(...bare), 0)} |`);
      log(`| bare camera exit on SIGTERM | ${fmt(Math.min(...stops), 0)} | ${fmt(median(stops), 0)} | ${fmt(Math.max(...stops), 0)} |`);
      log(`| mkfifo (synchronous, once per run) | ${fmt(Math.min(...fifos), 0)} | ${fmt(median(fifos), 0)} | ${fmt(Math.max(...fifos), 0)} |`);
      log(`gap / start-up (median): ${fmt(median(gaps) / median(bare))}; gap / 2 s target (median): ${fmt(median(gaps) / 2000)}`);
    } finally {
      await source.stop();
    }
  },
};
