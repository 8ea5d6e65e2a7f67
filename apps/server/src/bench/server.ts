import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import WebSocket from 'ws';
import { fmt, type BenchSuite } from './suite';

const ROOT = resolve(__dirname, '../../../../..');

async function freePort(): Promise<number> {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

/** CPU seconds (user + system) of a process, from /proc. */
function processCpuS(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Server {
  child: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

async function startServer(source: string): Promise<Server> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'preroll-bench-'));
  const child = spawn(process.execPath, [join(ROOT, 'apps/server/dist/src/cli.js'), 'serve', '--source', source, '--port', String(port), '--host', '127.0.0.1', '--data', dataDir], {
    env: { ...process.env, PATH: `${join(ROOT, 'test-fixtures/bin')}${delimiter}${process.env.PATH}`, PREROLL_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      const status = await (await fetch(`${url}/api/status`)).json();
      if (status.fps > 0) break;
    } catch (error) {
      void error;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    child,
    url,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** An MJPEG viewer that counts the JPEGs it receives. */
function mjpegViewer(url: string): { frames: () => number; close: () => void } {
  let frames = 0;
  let response: IncomingMessage | null = null;
  const req = get(`${url}/stream.mjpg`, (res) => {
    response = res;
    res.on('data', (chunk: Buffer) => {
      let at = chunk.indexOf('Content-Type: image/jpeg');
      while (at >= 0) {
        frames++;
        at = chunk.indexOf('Content-Type: image/jpeg', at + 1);
      }
    });
  });
  req.on('error', () => undefined);
  return { frames: () => frames, close: () => (response ? response.destroy() : req.destroy()) };
}

async function measure(server: Server, viewers: number, seconds: number): Promise<Record<string, number>> {
  const clients = Array.from({ length: viewers }, () => mjpegViewer(server.url));
  let wsFrames = 0;
  const ws = viewers ? new WebSocket(`${server.url.replace('http', 'ws')}/ws`, { headers: { Origin: server.url } }) : null;
  ws?.on('open', () => ws.send(JSON.stringify({ type: 'live', enabled: true })));
  ws?.on('message', (_data, isBinary) => {
    if (isBinary) wsFrames++;
  });
  await new Promise((r) => setTimeout(r, 1000));
  await fetch(`${server.url}/api/record/start`, { method: 'POST', headers: { Origin: server.url } });
  const before = await (await fetch(`${server.url}/api/status`)).json();
  const viewerStart = clients.map((c) => c.frames());
  const cpu0 = processCpuS(server.child.pid!);
  const latencies: number[] = [];
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    const t0 = performance.now();
    await (await fetch(`${server.url}/api/status`)).json();
    latencies.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 100));
  }
  const cpu = processCpuS(server.child.pid!) - cpu0;
  const after = await (await fetch(`${server.url}/api/status`)).json();
  await fetch(`${server.url}/api/record/stop`, { method: 'POST', headers: { Origin: server.url } });
  for (const c of clients) c.close();
  ws?.close();
  latencies.sort((a, b) => a - b);
  const viewerFps = clients.map((c, i) => (c.frames() - viewerStart[i]) / seconds);
  return {
    captureFps: after.fps,
    dropped: after.droppedFrames - before.droppedFrames,
    encodesPerS: (after.live.encodes - before.live.encodes) / seconds,
    viewerFpsMin: viewerFps.length ? Math.min(...viewerFps) : 0,
    wsFps: wsFrames / (seconds + 1),
    cpuPct: (cpu / seconds) * 100,
    p50: latencies[Math.floor(latencies.length * 0.5)],
    p99: latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))],
    recording: after.recording ? 1 : 0,
  };
}

/** `pnpm bench server`: 20 MJPEG viewers and a WebSocket page while recording, against none. */
export const serverBench: BenchSuite = {
  name: 'server',
  summary: 'live viewers while recording: drops, JPEG encodes, API latency, against no viewers',
  async run({ quick, log }) {
    const seconds = quick ? 5 : 30;
    const source = 'rpicam:1280x720@30';
    log(`fake camera ${source}, server in its own process, live view 640 px at most 10 fps, ${seconds} s per run, manual recording on`);
    log('| viewers | capture fps | dropped frames | JPEG encodes/s | slowest viewer fps | WebSocket fps | server CPU % | /api/status p50 ms | p99 ms |');
    log('|---|---|---|---|---|---|---|---|---|');
    for (const viewers of [0, 20]) {
      const server = await startServer(source);
      try {
        const m = await measure(server, viewers, seconds);
        log(`| ${viewers === 0 ? '0 (baseline)' : `${viewers} MJPEG + 1 WebSocket`} | ${fmt(m.captureFps, 1)} | ${m.dropped} | ${fmt(m.encodesPerS, 1)} | ${fmt(m.viewerFpsMin, 1)} | ${fmt(m.wsFps, 1)} | ${fmt(m.cpuPct, 0)} | ${fmt(m.p50, 1)} | ${fmt(m.p99, 1)} |`);
      } finally {
        await server.stop();
      }
    }
  },
};
