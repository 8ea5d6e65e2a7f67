import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { treeCpuBetween, sampleTree, totalCpu, type ProcSample } from './proc-tree';
import { startChildServer, type ChildServer } from './serve-child';
import { fmt, type BenchSuite } from './suite';

/** A real clip of people walking (Debian's opencv-doc), used when installed; else a synthetic scene. */
const OPENCV_CLIP = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
const WIDTH = 640;
const HEIGHT = 480;
const FPS = 15;

/** True when `motion` runs here; installs Debian's package when missing and we are root. */
export function ensureMotion(log: (line: string) => void): boolean {
  if (spawnSync('motion', ['-h'], { stdio: 'ignore' }).error === undefined) return true;
  if (process.getuid?.() !== 0) {
    log('motion is not installed and this is not root: install it with `sudo apt-get install -y motion`, then run `pnpm bench peer` again');
    return false;
  }
  log('installing Debian\'s motion (apt-get update; apt-get install -y motion)…');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update'], { stdio: 'ignore', env, timeout: 300_000 });
  const install = spawnSync('apt-get', ['install', '-y', 'motion'], { stdio: 'ignore', env, timeout: 600_000 });
  if (update.status !== 0 || install.status !== 0) {
    log(`apt-get failed (update ${update.status}, install ${install.status}): install motion by hand`);
    return false;
  }
  return spawnSync('motion', ['-h'], { stdio: 'ignore' }).error === undefined;
}

/** Encodes the scene once as 640x480@15 JPEGs and cuts the MJPEG stream into single pictures. */
export function encodeJpegs(dir: string, seconds: number): { frames: Buffer[]; scene: string } {
  const out = join(dir, 'scene.mjpeg');
  const real = existsSync(OPENCV_CLIP);
  const input = real
    ? ['-stream_loop', '-1', '-i', OPENCV_CLIP]
    : ['-f', 'lavfi', '-i', `color=c=0x807060:size=${WIDTH}x${HEIGHT}:rate=${FPS}`];
  const filter = real
    ? `scale=${WIDTH}:${HEIGHT},fps=${FPS}`
    : // A dark figure crosses the frame every 20 s (4 s in view), on a still background.
      `drawbox=x='mod(t,20)*160-80':y=180:w=60:h=160:color=0x202020:t=fill:enable='lt(mod(t,20),4.5)'`;
  const run = spawnSync('ffmpeg', ['-loglevel', 'error', '-y', ...input, '-t', String(seconds), '-vf', filter, '-q:v', '5', '-f', 'mjpeg', out], { timeout: 300_000 });
  if (run.status !== 0) throw new Error(`ffmpeg could not make the MJPEG scene: ${run.stderr?.toString().slice(-400)}`);
  const data = readFileSync(out);
  const frames: Buffer[] = [];
  let start = data.indexOf(Buffer.from([0xff, 0xd8, 0xff]));
  while (start >= 0) {
    const next = data.indexOf(Buffer.from([0xff, 0xd8, 0xff]), start + 3);
    frames.push(data.subarray(start, next < 0 ? data.length : next));
    start = next;
  }
  return { frames, scene: real ? `opencv-doc vtest.avi (people walking), looped` : 'synthetic: a figure crosses every 20 s' };
}

/**
 * One MJPEG stream on loopback, paced in real time by one clock: every client gets the same
 * picture at the same tick. `still(true)` repeats one picture (a scene with no motion).
 */
export function startMjpegServer(frames: readonly Buffer[]): Promise<{ url: string; still(on: boolean): void; skipped(): number; close(): Promise<void> }> {
  const clients = new Set<ServerResponse>();
  let still = false;
  let tick = 0;
  let skipped = 0;
  let timer: NodeJS.Timeout | null = null;
  const started = performance.now();
  const periodMs = 1000 / FPS;
  const send = (): void => {
    const jpeg = still ? frames[0] : frames[tick % frames.length];
    const head = Buffer.from(`--frame\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`);
    for (const res of clients) {
      // A reader that fell a second behind misses pictures instead of queueing them.
      if (res.writableLength > 1 << 20) {
        skipped++;
        continue;
      }
      res.write(head);
      res.write(jpeg);
      res.write('\r\n');
    }
    tick++;
    timer = setTimeout(send, Math.max(0, started + (tick + 1) * periodMs - performance.now()));
  };
  const server: Server = createServer((req, res) => {
    if (req.url !== '/stream.mjpg') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'multipart/x-mixed-replace; boundary=frame', 'Cache-Control': 'no-cache', Connection: 'close' });
    clients.add(res);
    res.on('close', () => clients.delete(res));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      timer = setTimeout(send, periodMs);
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/stream.mjpg`,
        still: (on) => void (still = on),
        skipped: () => skipped,
        close: () =>
          new Promise<void>((done) => {
            if (timer) clearTimeout(timer);
            for (const res of clients) res.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** Motion's configuration: the stream, detection with events (counted by a hook), movies on, no web control. */
export function motionConfig(dir: string, url: string, size: { width: number; height: number; fps: number } = { width: WIDTH, height: HEIGHT, fps: FPS }): string {
  const events = join(dir, 'events.log');
  mkdirSync(join(dir, 'out'), { recursive: true });
  const conf = join(dir, 'motion.conf');
  writeFileSync(
    conf,
    [
      'daemon off',
      'setup_mode off',
      'log_level 5',
      `log_file ${join(dir, 'motion.log')}`,
      `target_dir ${join(dir, 'out')}`,
      `netcam_url ${url}`,
      `width ${size.width}`,
      `height ${size.height}`,
      `framerate ${size.fps}`,
      'threshold 1500',
      'event_gap 10',
      'pre_capture 3',
      'post_capture 15',
      'movie_output on',
      'picture_output off',
      'webcontrol_port 0',
      'stream_port 0',
      `on_event_start echo start >> ${events}`,
      '',
    ].join('\n'),
  );
  return conf;
}

/** Events Motion started so far (its `on_event_start` hook writes one line each). */
export function motionEvents(dir: string): number {
  const file = join(dir, 'events.log');
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
}

/** Ends a process: SIGTERM, then SIGKILL after `graceMs`. */
export async function kill(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * Labels a process of Preroll's tree: `node`, the `encoder` ffmpeg (writes H.264), the
 * `decoder` ffmpeg (every other ffmpeg: the one that reads the camera, and on the MJPEG path
 * the one that decodes the analysed pictures).
 */
export function prerollLabel(p: ProcSample, root: number): string {
  if (p.pid === root) return 'node';
  if (p.comm === 'ffmpeg') return p.cmdline.includes('-f h264') ? 'encoder' : 'decoder';
  return p.comm;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Phase {
  /** CPU seconds by process label, per Preroll path (in the order of {@link PATHS}). */
  readonly preroll: Map<string, number>[];
  readonly motion: number;
}

/** The Preroll servers of the run: today's path (the baseline), the MJPEG path, and the MJPEG path without object labels (Motion has none). */
const PATHS = [
  { key: 'today', name: 'full decode, encoder always on (`camera.mjpeg.mode` never)', config: { camera: { mjpeg: { mode: 'never' } } } },
  { key: 'mjpeg', name: 'MJPEG path, the default (JPEG pre-roll, 5 fps quarter-size decode of the analysed pictures, encoder on demand)', config: null },
  { key: 'mjpeg-nolabels', name: 'MJPEG path, labels off (like for like: Motion has no object labels)', config: { labels: { enabled: false } } },
] as const;

interface OnDemandStatus {
  readonly fps: number;
  readonly droppedFrames: number;
  readonly pipeline?: { readonly preRoll?: { units: number; bytes: number; spanMs: number }; readonly onDemandEncoder?: { starts: number; stops: number; lastStartLatencyMs: number | null } | null };
}

/**
 * `pnpm bench peer`: Preroll and Motion on the same MJPEG stream, CPU of the process trees and
 * the events each found. Three Preroll servers read the stream at once: the full-decode path
 * (`camera.mjpeg.mode` never: the MJPEG decoded in full, H.264 encoded all the time: the
 * baseline), the MJPEG path (the default for a camera that sends MJPEG: the camera's JPEGs as the pre-roll, only the analysed pictures
 * decoded, at quarter size, the encoder on demand) and the MJPEG path with object labels off
 * (Motion has none), with Motion, all in the same windows. `--profile=DIR`: the MJPEG servers'
 * Node writes a CPU profile there.
 */
export const peerBench: BenchSuite = {
  name: 'peer',
  summary: 'Preroll (today\'s path, the MJPEG path, the MJPEG path with labels off) against Debian\'s Motion on one MJPEG stream (640x480@15, loopback, real time): CPU of the process trees and events',
  async run({ quick, log, argv }) {
    if (!ensureMotion(log)) return;
    const sceneS = quick ? 10 : 60;
    const idleS = quick ? 6 : 30;
    const settleS = quick ? 8 : 15;
    const dir = mkdtempSync(join(tmpdir(), 'preroll-bench-peer-'));
    let stream: Awaited<ReturnType<typeof startMjpegServer>> | null = null;
    const servers: ChildServer[] = [];
    let motion: ChildProcess | null = null;
    try {
      const { frames, scene } = encodeJpegs(dir, sceneS + 5);
      stream = await startMjpegServer(frames);
      log(`scene: ${scene}; ${frames.length} JPEGs of ${fmt(frames.reduce((s, f) => s + f.length, 0) / frames.length / 1024, 1)} KiB on average, served at ${FPS} fps to all three`);
      log(`load average at start ${loadavg().map((l) => fmt(l, 2)).join(' ')} (2 cores shared with other work: CPU seconds hold, wall-time figures do not)`);
      stream.still(true);
      motion = spawn('motion', ['-n', '-c', motionConfig(dir, stream.url)], { stdio: 'ignore' });
      // `--profile=DIR`: the MJPEG paths' Node writes a CPU profile there when it stops.
      const profileDir = argv.find((a) => a.startsWith('--profile='))?.slice('--profile='.length) ?? null;
      for (const path of PATHS) {
        const extraArgs: string[] = [];
        if (path.config) {
          const file = join(dir, `${path.key}.json`);
          writeFileSync(file, JSON.stringify(path.config));
          extraArgs.push('--config', file);
        }
        const nodeArgs = profileDir && path.key !== 'today' ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${path.key}.cpuprofile`] : [];
        servers.push(await startChildServer(`url:${stream.url}`, { extraArgs, nodeArgs }));
      }
      const pids = servers.map((server) => server.child.pid!);
      const motionPid = motion.pid!;
      // All read the still picture for a few seconds: connections made, caches warm, no event.
      await sleep(5000);
      const measure = async (seconds: number): Promise<Phase> => {
        const before = pids.map((pid) => sampleTree(pid));
        const m0 = sampleTree(motionPid);
        await sleep(seconds * 1000);
        const after = pids.map((pid) => sampleTree(pid));
        const m1 = sampleTree(motionPid);
        return {
          preroll: pids.map((pid, i) => treeCpuBetween(before[i], after[i], (p) => prerollLabel(p, pid))),
          motion: totalCpu(treeCpuBetween(m0, m1, () => 'motion')),
        };
      };
      const countAll = async (): Promise<number[]> => Promise.all(servers.map((server) => prerollEvents(server.url)));
      const events0 = { motion: motionEvents(dir), preroll: await countAll() };
      stream.still(false);
      const active = await measure(sceneS);
      stream.still(true);
      await sleep(settleS * 1000);
      // Idle means idle: every event of the scene closed, the on-demand encoders stopped (on a
      // loaded machine an event's end, its clip and its labels can run well past the scene).
      const settledBy = Date.now() + 120_000;
      const busy = async (url: string): Promise<boolean> => {
        const status = (await (await fetch(`${url}/api/status`)).json()) as { recording?: boolean; pipeline?: { onDemandEncoder?: { state?: string } | null } };
        return Boolean(status.recording) || (status.pipeline?.onDemandEncoder?.state ?? 'off') !== 'off';
      };
      while (Date.now() < settledBy && (await Promise.all(servers.map((server) => busy(server.url)))).some(Boolean)) await sleep(1000);
      log(`settled ${fmt((Date.now() - settledBy + 120_000) / 1000 + settleS, 0)} s after the scene (events closed, encoders stopped); then ${settleS} s more for what follows an event (clip, snapshot, labels)`);
      await sleep(settleS * 1000);
      const idle = await measure(idleS);
      const eventsEnd = await countAll();
      const events = { motion: motionEvents(dir) - events0.motion, preroll: eventsEnd.map((n, i) => n - events0.preroll[i]) };
      const statusOf = async (url: string): Promise<OnDemandStatus> => (await (await fetch(`${url}/api/status`)).json()) as OnDemandStatus;
      const statuses = await Promise.all(servers.map((server) => statusOf(server.url)));

      log(`\n| phase | seconds | Preroll path | tree CPU s | Node | decoder ffmpeg | encoder ffmpeg | Motion CPU s | tree ÷ Motion | without encoder ÷ Motion |`);
      log('|---|---|---|---|---|---|---|---|---|---|');
      for (const [name, m, s] of [['scene (motion)', active, sceneS], ['idle (still picture, no viewers)', idle, idleS]] as const) {
        PATHS.forEach((path, i) => {
          const tree = m.preroll[i];
          const all = totalCpu(tree);
          const noEnc = totalCpu(tree, ['encoder']);
          log(
            `| ${name} | ${s} | ${path.name} | ${fmt(all)} | ${fmt(tree.get('node') ?? 0)} | ${fmt(tree.get('decoder') ?? 0)} | ${fmt(tree.get('encoder') ?? 0)} | ${fmt(m.motion)} | ${fmt(all / m.motion)}x | ${fmt(noEnc / m.motion)}x |`,
          );
        });
      }
      const [t, j, n] = [0, 1, 2];
      log(`\nevents found in the scene: ${PATHS.map((path, i) => `${path.key} ${events.preroll[i]}`).join(', ')}, Motion ${events.motion} (Motion: event_gap 10 s; Preroll: defaults)`);
      log(`MJPEG path ÷ today's path, whole tree: scene ${fmt(totalCpu(active.preroll[j]) / totalCpu(active.preroll[t]))}x, idle ${fmt(totalCpu(idle.preroll[j]) / totalCpu(idle.preroll[t]))}x`);
      log(`object labels' cost on the MJPEG path (labels on − off): scene ${fmt(totalCpu(active.preroll[j]) - totalCpu(active.preroll[n]))} CPU-s, idle ${fmt(totalCpu(idle.preroll[j]) - totalCpu(idle.preroll[n]))} CPU-s`);
      log(`Preroll's whole tree ÷ Motion's (scene): ${PATHS.map((path, i) => `${path.key} ${fmt(totalCpu(active.preroll[i]) / active.motion)}x`).join(', ')} (target ≤ 1.0x)`);
      log(`Preroll idle, encoder excluded ÷ Motion idle: ${PATHS.map((path, i) => `${path.key} ${fmt(totalCpu(idle.preroll[i], ['encoder']) / idle.motion)}x`).join(', ')} (target ≤ 0.5x)`);
      const statusMjpeg = statuses[j];
      const od = statusMjpeg.pipeline?.onDemandEncoder;
      const encCpu = (active.preroll[j].get('encoder') ?? 0) + (idle.preroll[j].get('encoder') ?? 0);
      log(`MJPEG path's on-demand encoder: ${od?.starts ?? 0} starts, ${od?.stops ?? 0} idle stops, start-up (spawn to first H.264 unit, pre-roll fed) ${od?.lastStartLatencyMs ?? '-'} ms; encoder CPU ${fmt(encCpu)} s over ${events.preroll[j]} event(s); JPEG pre-roll ${statusMjpeg.pipeline?.preRoll?.units ?? 0} pictures, ${fmt((statusMjpeg.pipeline?.preRoll?.bytes ?? 0) / 1e6, 2)} MB, ${statusMjpeg.pipeline?.preRoll?.spanMs ?? 0} ms`);
      log(`status at the end: ${PATHS.map((path, i) => `${path.key} ${statuses[i].fps} fps, ${statuses[i].droppedFrames} dropped`).join('; ')}; pictures the stream skipped for a slow reader: ${stream.skipped()}`);
      log(`load average at the end ${loadavg().map((l) => fmt(l, 2)).join(' ')}`);
    } finally {
      if (motion) await kill(motion, 5000);
      for (const server of servers) await Promise.race([server.stop(), sleep(15_000).then(() => server.child.kill('SIGKILL'))]);
      if (stream) await stream.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

/** Motion events a Preroll server has indexed so far. */
export async function prerollEvents(url: string): Promise<number> {
  const body = (await (await fetch(`${url}/api/events?limit=100&kind=motion`)).json()) as { items?: unknown[] };
  return body.items?.length ?? 0;
}
