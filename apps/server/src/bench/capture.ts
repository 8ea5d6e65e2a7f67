import { spawn } from 'node:child_process';
import { alignStride, createSource, rawFrameBytes } from '@preroll/capture';
import { useFakeCamera } from './camera';
import { cpuMs, fmt, type BenchSuite } from './suite';


interface Measure {
  frames: number;
  cpuMsPerFrame: number;
  dropped: number;
  fps: number;
}

/** Baseline: read the camera's stdout and count bytes, nothing else. */
async function barePipeRead(width: number, height: number, fps: number, seconds: number): Promise<Measure> {
  const frameBytes = rawFrameBytes({ width, height, strideY: alignStride(width, 64) });
  const child = spawn('rpicam-vid', ['-n', '-t', '0', '--codec', 'yuv420', '--width', String(width), '--height', String(height), '--framerate', String(fps), '--flush', '-o', '-'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let bytes = 0;
  let cpu0 = 0;
  let counting = false;
  child.stdout.on('data', (chunk: Buffer) => {
    if (!counting) {
      counting = true;
      cpu0 = cpuMs();
      return;
    }
    bytes += chunk.length;
  });
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = cpuMs() - cpu0;
  child.kill('SIGTERM');
  const frames = bytes / frameBytes;
  return { frames, cpuMsPerFrame: cpu / frames, dropped: Math.max(0, Math.round(seconds * fps - frames)), fps: frames / seconds };
}

/** The capture package: assemble, unpad, timestamp and deliver frames to a listener. */
async function capture(width: number, height: number, fps: number, seconds: number): Promise<Measure> {
  const source = createSource(`rpicam:${width}x${height}@${fps}`, { strideAlign: 64 });
  let frames = 0;
  let cpu0 = 0;
  let dropped0 = 0;
  let luma = 0;
  source.onFrame((frame) => {
    if (frames === 0) {
      cpu0 = cpuMs();
      dropped0 = source.stats().droppedFrames;
    }
    frames++;
    luma += frame.y[0]; // touch the frame as a consumer would
  });
  await source.start();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = cpuMs() - cpu0;
  const stats = source.stats();
  await source.stop();
  void luma;
  return { frames, cpuMsPerFrame: cpu / frames, dropped: stats.droppedFrames - dropped0, fps: stats.fps };
}

/** `pnpm bench capture`: capture cost per frame against a bare read of the same pipe. */
export const captureBench: BenchSuite = {
  name: 'capture',
  summary: 'camera pipe → frames, against a bare read of the same bytes',
  async run({ quick, log }) {
    useFakeCamera();
    const seconds = quick ? 2 : 30;
    log(`fake rpicam-vid, ${seconds} s per run; CPU is this Node process only (user+system)`);
    log('| size | fps | bare read ms/frame | capture ms/frame | ratio | frames | dropped (capture) | dropped (bare) |');
    log('|---|---|---|---|---|---|---|---|');
    for (const [width, height, fps] of [
      [1280, 720, 30],
      [1920, 1080, 30],
      [1296, 972, 30],
    ] as const) {
      const bare = await barePipeRead(width, height, fps, seconds);
      const cap = await capture(width, height, fps, seconds);
      log(
        `| ${width}x${height}${width % 64 ? ' (padded rows)' : ''} | ${fps} | ${fmt(bare.cpuMsPerFrame, 3)} | ${fmt(cap.cpuMsPerFrame, 3)} | ${fmt(cap.cpuMsPerFrame / bare.cpuMsPerFrame)}x | ${cap.frames} | ${cap.dropped} | ${bare.dropped} |`,
      );
    }
  },
};
