import WebSocket from 'ws';
import { mjpegViewer, processCpuS, startChildServer, type ChildServer } from './serve-child';
import { fmt, type BenchSuite } from './suite';

async function measure(server: ChildServer, viewers: number, seconds: number): Promise<Record<string, number>> {
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
      const server = await startChildServer(source);
      try {
        const m = await measure(server, viewers, seconds);
        log(`| ${viewers === 0 ? '0 (baseline)' : `${viewers} MJPEG + 1 WebSocket`} | ${fmt(m.captureFps, 1)} | ${m.dropped} | ${fmt(m.encodesPerS, 1)} | ${fmt(m.viewerFpsMin, 1)} | ${fmt(m.wsFps, 1)} | ${fmt(m.cpuPct, 0)} | ${fmt(m.p50, 1)} | ${fmt(m.p99, 1)} |`);
      } finally {
        await server.stop();
      }
    }
  },
};
