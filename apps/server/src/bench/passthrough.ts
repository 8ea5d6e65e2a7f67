import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureMotion, kill, motionConfig, motionEvents, prerollEvents, prerollLabel } from './peer';
import { sampleTree, totalCpu, treeCpuBetween } from './proc-tree';
import { startChildServer, type ChildServer } from './serve-child';
import { fmt, type BenchSuite } from './suite';
import { makeH264Scene, startTsServer, type TsServer } from './ts-stream';

const WIDTH = 1280;
const HEIGHT = 720;
const FPS = 15;
/** A keyframe every second, as most IP cameras are set up. */
const GOP_FRAMES = 15;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface StatusBody {
  fps: number;
  droppedFrames: number;
  width: number;
  height: number;
  recordingPath?: { mode: string; reason: string; gopMs: number | null };
}

async function status(server: ChildServer): Promise<StatusBody> {
  return (await (await fetch(`${server.url}/api/status`)).json()) as StatusBody;
}

/**
 * `pnpm bench passthrough`: a network camera that sends H.264 (1280x720 at 15 fps, High
 * profile, a keyframe a second, MPEG-TS on loopback in real time), read at the same time by
 * Preroll recording the camera's H.264 as it comes (passthrough, the default), Preroll
 * decoding and re-encoding it (`camera.passthrough.mode` `never`, the path before passthrough)
 * and Debian's Motion: CPU of each whole process tree over the same window, and the events
 * each found.
 */
export const passthroughBench: BenchSuite = {
  name: 'passthrough',
  summary: `a network camera sending H.264 (${WIDTH}x${HEIGHT}@${FPS}, MPEG-TS on loopback, real time): Preroll recording it as it comes vs. decoding and re-encoding it, and Motion, same stream, same window`,
  async run({ quick, log }) {
    const windowS = quick ? 10 : 60;
    const warmS = quick ? 8 : 15;
    const dir = mkdtempSync(join(tmpdir(), 'preroll-bench-passthrough-'));
    let camera: TsServer | null = null;
    const servers: ChildServer[] = [];
    let motion: ChildProcess | null = null;
    try {
      const scene = join(dir, 'camera.ts');
      // Longer than the run: the stream never loops inside the window. A figure crosses every 20 s for 4 s.
      const sceneS = warmS + windowS + 30;
      log(`encoding the camera's stream (${sceneS} s, libx264 High, GOP ${GOP_FRAMES})…`);
      makeH264Scene(scene, { seconds: sceneS, width: WIDTH, height: HEIGHT, fps: FPS, gopFrames: GOP_FRAMES, motionAtS: 10, motionForS: 4, periodS: 20 });
      camera = await startTsServer(scene);
      log(`load average at start ${loadavg().map((l) => fmt(l, 2)).join(' ')} (2 cores shared with other work: CPU seconds hold, wall-time figures do not)`);
      const withMotion = ensureMotion(log);
      if (withMotion) {
        // Motion takes http:// for MJPEG: it reads the same bytes over plain TCP through its ffmpeg.
        motion = spawn('motion', ['-n', '-c', motionConfig(join(dir, 'motion'), camera.tcpUrl, { width: WIDTH, height: HEIGHT, fps: FPS })], { stdio: 'ignore' });
      }
      // The probe reads the camera in real time on a machine shared with other work: give it time.
      const passthrough = await startChildServer(`url:${camera.url}`, { startTimeoutMs: 60_000, env: { PREROLL_CAMERA__PASSTHROUGH__PROBE_TIMEOUT_MS: '45000' } });
      servers.push(passthrough);
      const reencode = await startChildServer(`url:${camera.url}`, { startTimeoutMs: 60_000, env: { PREROLL_CAMERA__PASSTHROUGH__MODE: 'never' } });
      servers.push(reencode);
      const paths = { passthrough: await status(passthrough), reencode: await status(reencode) };
      log(`passthrough server: ${paths.passthrough.recordingPath?.mode} (${paths.passthrough.recordingPath?.reason}); frames for detection ${paths.passthrough.width}x${paths.passthrough.height}`);
      if (paths.passthrough.recordingPath?.mode !== 'passthrough') log('WARNING: the passthrough server is not in passthrough: its row below measures the re-encode path');
      log(`re-encode server: ${paths.reencode.recordingPath?.mode} (${paths.reencode.recordingPath?.reason}); frames ${paths.reencode.width}x${paths.reencode.height}`);
      await sleep(warmS * 1000);

      const roots = { passthrough: passthrough.child.pid!, reencode: reencode.child.pid!, motion: motion?.pid ?? null };
      const before = { passthrough: sampleTree(roots.passthrough), reencode: sampleTree(roots.reencode), motion: roots.motion ? sampleTree(roots.motion) : [] };
      const events0 = { passthrough: await prerollEvents(passthrough.url), reencode: await prerollEvents(reencode.url), motion: withMotion ? motionEvents(join(dir, 'motion')) : 0 };
      await sleep(windowS * 1000);
      const after = { passthrough: sampleTree(roots.passthrough), reencode: sampleTree(roots.reencode), motion: roots.motion ? sampleTree(roots.motion) : [] };
      const cpu = {
        passthrough: treeCpuBetween(before.passthrough, after.passthrough, (p) => prerollLabel(p, roots.passthrough)),
        reencode: treeCpuBetween(before.reencode, after.reencode, (p) => prerollLabel(p, roots.reencode)),
        motion: roots.motion ? totalCpu(treeCpuBetween(before.motion, after.motion, () => 'motion')) : NaN,
      };
      const events = {
        passthrough: (await prerollEvents(passthrough.url)) - events0.passthrough,
        reencode: (await prerollEvents(reencode.url)) - events0.reencode,
        motion: withMotion ? motionEvents(join(dir, 'motion')) - events0.motion : NaN,
      };
      const end = { passthrough: await status(passthrough), reencode: await status(reencode) };
      const base = totalCpu(cpu.reencode);

      log(`\nwindow: ${windowS} s, the three reading the same stream at the same time\n`);
      log('| reader | tree CPU s | Node | ffmpeg reading the camera | encoder ffmpeg | ÷ re-encode | ÷ Motion | events |');
      log('|---|---|---|---|---|---|---|---|');
      const row = (name: string, m: Map<string, number>, found: number): string => {
        const all = totalCpu(m);
        return `| ${name} | ${fmt(all)} | ${fmt(m.get('node') ?? 0)} | ${fmt(m.get('decoder') ?? 0)} | ${fmt(m.get('encoder') ?? 0)} | ${fmt(all / base)}x | ${fmt(all / cpu.motion)}x | ${found} |`;
      };
      log(row('Preroll, passthrough (default)', cpu.passthrough, events.passthrough));
      log(row('Preroll, decode + re-encode (`never`)', cpu.reencode, events.reencode));
      log(`| Motion 4.5 | ${fmt(cpu.motion)} | | | | ${fmt(cpu.motion / base)}x | 1.00x | ${events.motion} |`);
      log(`\npassthrough ÷ re-encode (whole tree): ${fmt(totalCpu(cpu.passthrough) / base)}x; passthrough ÷ Motion: ${fmt(totalCpu(cpu.passthrough) / cpu.motion)}x`);
      log(`camera GOP seen by the passthrough server: ${end.passthrough.recordingPath?.gopMs ?? '?'} ms; fps for detection ${end.passthrough.fps} (re-encode path: ${end.reencode.fps})`);
      log(`dropped frames at the end: passthrough ${end.passthrough.droppedFrames}, re-encode ${end.reencode.droppedFrames}; chunks the stream skipped for a slow reader: ${camera.skipped()}`);
      log(`load average at the end ${loadavg().map((l) => fmt(l, 2)).join(' ')}`);
    } finally {
      if (motion) await kill(motion, 5000);
      for (const server of servers.reverse()) await Promise.race([server.stop(), sleep(15_000).then(() => server.child.kill('SIGKILL'))]);
      if (camera) await camera.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
