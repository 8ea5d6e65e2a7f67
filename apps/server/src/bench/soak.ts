import { get } from 'node:http';
import WebSocket from 'ws';
import { mjpegViewer, processFds, processMallocHeapBytes, processRssBytes, startChildServer } from './serve-child';
import { fmt } from './suite';

/**
 * `pnpm soak --minutes N [--source SPEC]`: the server on the demo source (an event every 20 s),
 * or on SPEC (e.g. `rpicam:1280x720@30`, the fake camera), with 5 MJPEG viewers, a WebSocket page and a `/stream.mp4` reader connected, sampled every 30 s: memory, open descriptors,
 * dropped frames, events. Prints a table and a verdict line.
 */
async function main(argv: string[]): Promise<number> {
  const at = argv.indexOf('--minutes');
  const minutes = at >= 0 ? Number(argv[at + 1]) : 30;
  if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 24 * 60) {
    process.stderr.write('usage: pnpm soak --minutes N (0 < N <= 1440)\n');
    return 2;
  }
  const sourceAt = argv.indexOf('--source');
  const source = sourceAt >= 0 ? argv[sourceAt + 1] : 'demo';
  if (!source || source.startsWith('--')) {
    process.stderr.write('usage: pnpm soak --minutes N [--source SPEC]\n');
    return 2;
  }
  const server = await startChildServer(source, { startTimeoutMs: 120_000 });
  const pid = server.child.pid!;
  const viewers = Array.from({ length: 5 }, () => mjpegViewer(server.url));
  // A central Preroll's view of this node: the H.264 stream.
  let mp4Bytes = 0;
  const mp4 = get(`${server.url}/stream.mp4`, (res) => res.on('data', (chunk: Buffer) => (mp4Bytes += chunk.length)));
  mp4.on('error', () => undefined);
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`, { headers: { Origin: server.url } });
  ws.on('open', () => ws.send(JSON.stringify({ type: 'live', enabled: true })));
  ws.on('message', () => undefined);
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  log(`# pnpm soak --minutes ${minutes}${sourceAt >= 0 ? ` --source ${source}` : ''}`);
  log(`${source === 'demo' ? 'demo source 640x360@15 (motion 10-14 s of every 20 s)' : `source ${source}`}, 5 MJPEG viewers + 1 WebSocket page + 1 /stream.mp4 reader, sampled every 30 s`);
  log('| minute | RSS MB | malloc heap MB | JS heap MB | external MB | pre-roll MB | frame pool MB (buffers) | open fds | dropped frames | events | live encodes | stream.mp4 MB |');
  log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  const samples: { minute: number; rss: number; fds: number; dropped: number; events: number }[] = [];
  const started = Date.now();
  try {
    for (;;) {
      await new Promise((r) => setTimeout(r, Math.min(30_000, minutes * 60_000 / 4)));
      const status = await (await fetch(`${server.url}/api/status`)).json();
      const sample = { minute: (Date.now() - started) / 60_000, rss: processRssBytes(pid), fds: processFds(pid), dropped: status.droppedFrames, events: status.events.count };
      samples.push(sample);
      const pool = status.pipeline?.framePool;
      log(`| ${fmt(sample.minute, 1)} | ${fmt(sample.rss / 1e6, 1)} | ${fmt(processMallocHeapBytes(pid) / 1e6, 1)} | ${fmt((status.system?.heapUsedBytes ?? 0) / 1e6, 1)} | ${fmt((status.system?.externalBytes ?? 0) / 1e6, 1)} | ${fmt((status.pipeline?.preRoll.bytes ?? 0) / 1e6, 1)} | ${pool ? `${fmt(pool.bytes / 1e6, 1)} (${pool.frames})` : '-'} | ${sample.fds} | ${sample.dropped} | ${sample.events} | ${status.live.encodes} | ${fmt(mp4Bytes / 1e6, 1)} |`);
      if (sample.minute >= minutes) break;
    }
  } finally {
    for (const v of viewers) v.close();
    mp4.destroy();
    ws.close();
    await server.stop();
  }
  // Compare against the sample after warm-up (the first two minutes fill caches and the ring).
  const base = samples.find((s) => s.minute >= 2) ?? samples[0];
  const last = samples[samples.length - 1];
  const steady = samples.filter((s) => s.minute >= base.minute);
  // Single samples swing with the Buffers in flight; the trend is a least-squares line.
  const slope = rssSlopeMbPerHour(steady);
  const rss = steady.map((s) => s.rss / 1e6);
  log(
    `\nafter warm-up (minute ${fmt(base.minute, 1)}) to the end: RSS ${fmt((last.rss - base.rss) / 1e6, 1)} MB (range ${fmt(Math.min(...rss), 1)}–${fmt(Math.max(...rss), 1)} MB, trend ${fmt(slope, 1)} MB/hour), open fds ${last.fds - base.fds}, dropped frames ${last.dropped}, events ${last.events}`,
  );
  return 0;
}

/** Slope of the least-squares line through (minute, RSS), in MB per hour; 0 with fewer than 2 samples. */
function rssSlopeMbPerHour(samples: readonly { minute: number; rss: number }[]): number {
  if (samples.length < 2) return 0;
  const n = samples.length;
  const mx = samples.reduce((s, p) => s + p.minute, 0) / n;
  const my = samples.reduce((s, p) => s + p.rss / 1e6, 0) / n;
  const sxy = samples.reduce((s, p) => s + (p.minute - mx) * (p.rss / 1e6 - my), 0);
  const sxx = samples.reduce((s, p) => s + (p.minute - mx) ** 2, 0);
  return sxx === 0 ? 0 : (sxy / sxx) * 60;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
