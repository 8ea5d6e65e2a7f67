import WebSocket from 'ws';
import { mjpegViewer, processFds, processRssBytes, startChildServer } from './serve-child';
import { fmt } from './suite';

/**
 * `pnpm soak --minutes N`: the server on the demo source (an event every 20 s) with 5 MJPEG
 * viewers and a WebSocket page connected, sampled every 30 s: memory, open descriptors,
 * dropped frames, events. Prints a table and a verdict line.
 */
async function main(argv: string[]): Promise<number> {
  const at = argv.indexOf('--minutes');
  const minutes = at >= 0 ? Number(argv[at + 1]) : 30;
  if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 24 * 60) {
    process.stderr.write('usage: pnpm soak --minutes N (0 < N <= 1440)\n');
    return 2;
  }
  const server = await startChildServer('demo');
  const pid = server.child.pid!;
  const viewers = Array.from({ length: 5 }, () => mjpegViewer(server.url));
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`, { headers: { Origin: server.url } });
  ws.on('open', () => ws.send(JSON.stringify({ type: 'live', enabled: true })));
  ws.on('message', () => undefined);
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  log(`# pnpm soak --minutes ${minutes}`);
  log(`demo source 640x360@15 (motion 10-14 s of every 20 s), 5 MJPEG viewers + 1 WebSocket page, sampled every 30 s`);
  log('| minute | RSS MB | JS heap MB | external MB | open fds | dropped frames | events | live encodes |');
  log('|---|---|---|---|---|---|---|---|');
  const samples: { minute: number; rss: number; fds: number; dropped: number; events: number }[] = [];
  const started = Date.now();
  try {
    for (;;) {
      await new Promise((r) => setTimeout(r, Math.min(30_000, minutes * 60_000 / 4)));
      const status = await (await fetch(`${server.url}/api/status`)).json();
      const sample = { minute: (Date.now() - started) / 60_000, rss: processRssBytes(pid), fds: processFds(pid), dropped: status.droppedFrames, events: status.events.count };
      samples.push(sample);
      log(`| ${fmt(sample.minute, 1)} | ${fmt(sample.rss / 1e6, 1)} | ${fmt((status.system?.heapUsedBytes ?? 0) / 1e6, 1)} | ${fmt((status.system?.externalBytes ?? 0) / 1e6, 1)} | ${sample.fds} | ${sample.dropped} | ${sample.events} | ${status.live.encodes} |`);
      if (sample.minute >= minutes) break;
    }
  } finally {
    for (const v of viewers) v.close();
    ws.close();
    await server.stop();
  }
  // Compare against the sample after warm-up (the first two minutes fill caches and the ring).
  const base = samples.find((s) => s.minute >= 2) ?? samples[0];
  const last = samples[samples.length - 1];
  log(
    `\nafter warm-up (minute ${fmt(base.minute, 1)}) to the end: RSS ${fmt((last.rss - base.rss) / 1e6, 1)} MB, open fds ${last.fds - base.fds}, dropped frames ${last.dropped}, events ${last.events}`,
  );
  return 0;
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
