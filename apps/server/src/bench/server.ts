import { get, type IncomingMessage } from 'node:http';
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

/** Reads `path` for `seconds` (after 1 s to settle) and returns bytes/s and the server's CPU %. */
async function streamCost(server: ChildServer, path: string, seconds: number): Promise<{ bytesPerS: number; cpuPct: number }> {
  let bytes = 0;
  let response: IncomingMessage | null = null;
  const req = get(`${server.url}${path}`, (res) => {
    response = res;
    res.on('data', (chunk: Buffer) => (bytes += chunk.length));
  });
  req.on('error', () => undefined);
  await new Promise((r) => setTimeout(r, 1000));
  const bytes0 = bytes;
  const cpu0 = processCpuS(server.child.pid!);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = processCpuS(server.child.pid!) - cpu0;
  const total = bytes - bytes0;
  (response as IncomingMessage | null)?.destroy();
  req.destroy();
  return { bytesPerS: total / seconds, cpuPct: (cpu / seconds) * 100 };
}

/** Receives live JPEGs on the WebSocket as the page does (`maxFps` 0: every frame) and returns bytes/s. */
async function pageJpegCost(server: ChildServer, maxFps: number, seconds: number): Promise<number> {
  let bytes = 0;
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`, { headers: { Origin: server.url } });
  ws.on('open', () => ws.send(JSON.stringify({ type: 'live', enabled: true, maxFps })));
  ws.on('message', (data: Buffer, isBinary) => {
    if (isBinary) bytes += data.length;
  });
  ws.on('error', () => undefined);
  await new Promise((r) => setTimeout(r, 1000));
  const bytes0 = bytes;
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const total = bytes - bytes0;
  ws.terminate();
  return total / seconds;
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

    // A camera node's stream to a central Preroll: the encoder's H.264 against the MJPEG view.
    log('');
    log(`one viewer of each node stream, ${seconds} s each; server CPU includes capture, detection and the encoder, which always run`);
    log('| source | stream | picture | bytes/s | bytes per 1000 pixels shown | server CPU % |');
    log('|---|---|---|---|---|---|');
    const qualities: { source: string; video: number; pictures: number; saver: number }[] = [];
    for (const nodeSource of [source, 'demo']) {
      const server = await startChildServer(nodeSource);
      try {
        const status = await (await fetch(`${server.url}/api/status`)).json();
        const idle = await streamCost(server, '/api/status', seconds);
        const mjpeg = await streamCost(server, '/stream.mjpg', seconds);
        const mp4 = await streamCost(server, '/stream.mp4', seconds);
        // The live view: at most 640 px wide, at most 10 fps; the H.264: the camera's size and rate.
        const liveW = Math.min(640, status.width);
        const liveH = Math.round((status.height * liveW) / status.width);
        const liveFps = Math.min(10, status.fps);
        const per1000 = (bytesPerS: number, w: number, h: number, fps: number): string => fmt((bytesPerS / (w * h * fps)) * 1000, 1);
        log(`| ${nodeSource} | none (baseline) | | 0 | | ${fmt(idle.cpuPct, 0)} |`);
        log(`| ${nodeSource} | /stream.mjpg | ${liveW}x${liveH}@${fmt(liveFps, 0)} | ${fmt(mjpeg.bytesPerS / 1e3, 0)} kB/s | ${per1000(mjpeg.bytesPerS, liveW, liveH, liveFps)} | ${fmt(mjpeg.cpuPct, 0)} |`);
        log(`| ${nodeSource} | /stream.mp4 | ${status.width}x${status.height}@${fmt(status.fps, 0)} | ${fmt(mp4.bytesPerS / 1e3, 0)} kB/s | ${per1000(mp4.bytesPerS, status.width, status.height, status.fps)} | ${fmt(mp4.cpuPct, 0)} |`);
        qualities.push({ source: nodeSource, video: mp4.bytesPerS, pictures: await pageJpegCost(server, 0, seconds), saver: await pageJpegCost(server, 1, seconds) });
      } finally {
        await server.stop();
      }
    }

    // What each quality of the web page's live view costs (the buttons show these, measured in the browser).
    const mbh = (bytesPerS: number): string => `${fmt((bytesPerS * 3600) / 1e6, 0)} MB/h (${fmt(bytesPerS / 1e3, 0)} kB/s)`;
    log('');
    log(`the web page's live qualities, ${seconds} s each: Video is /stream.mp4 through MSE, Pictures and Data saver are JPEGs on the WebSocket (maxFps 0 and 1)`);
    log('| source | Video (H.264) | Pictures (JPEG) | Data saver (1 JPEG/s) |');
    log('|---|---|---|---|');
    for (const q of qualities) log(`| ${q.source} | ${mbh(q.video)} | ${mbh(q.pictures)} | ${mbh(q.saver)} |`);
  },
};
