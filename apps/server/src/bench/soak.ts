import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { mjpegViewer, processCpuS, processFds, processMallocHeapBytes, processOtherAnonBytes, processRssBytes, startChildServer } from './serve-child';
import { fmt } from './suite';

const USAGE = 'usage: pnpm soak --minutes N [--source SPEC] [--env NAME=VALUE]... [--node-option FLAG]... [--snapshot-external-mb N]\n';
/** How often the status is polled between table rows: often enough to catch a burst of Buffers. */
const POLL_MS = 2_000;
/** Heap snapshots at most per run: each one pauses the server and costs memory while written. */
const MAX_SNAPSHOTS = 2;

/** The options of `pnpm soak`, or a usage error. */
interface SoakOptions {
  readonly minutes: number;
  readonly source: string;
  /** Environment for the server on top of `pnpm start`'s (e.g. `MALLOC_MMAP_THRESHOLD_=65536`). */
  readonly env: Readonly<Record<string, string>>;
  /** More options for the server's node (e.g. `--max-old-space-size=256`), after `pnpm start`'s. */
  readonly nodeOptions: readonly string[];
  /** Take a heap snapshot of the server when its external memory exceeds this (MB), or null. */
  readonly snapshotExternalMb: number | null;
}

function parseOptions(argv: readonly string[]): SoakOptions | string {
  let minutes = 30;
  let source = 'demo';
  const env: Record<string, string> = {};
  const nodeOptions: string[] = [];
  let snapshotExternalMb: number | null = null;
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined || (value.startsWith('--') && flag !== '--node-option')) return `${flag} needs a value`;
    if (flag === '--minutes') minutes = Number(value);
    else if (flag === '--source') source = value;
    else if (flag === '--snapshot-external-mb') snapshotExternalMb = Number(value);
    else if (flag === '--node-option') nodeOptions.push(value);
    else if (flag === '--env') {
      const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(value);
      if (!match) return `--env takes NAME=VALUE, not ${value}`;
      env[match[1]] = match[2];
    } else return `unknown option ${flag}`;
  }
  if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 24 * 60) return '--minutes must be in (0, 1440]';
  if (snapshotExternalMb !== null && !(snapshotExternalMb > 0)) return '--snapshot-external-mb must be a positive number';
  return { minutes, source, env, nodeOptions, snapshotExternalMb };
}

/**
 * `pnpm soak --minutes N [--source SPEC]`: the server on the demo source (an event every 20 s),
 * or on SPEC (e.g. `rpicam:1280x720@30`, the fake camera), with 5 MJPEG viewers, a WebSocket page and a `/stream.mp4` reader connected, sampled every 30 s: memory, open descriptors,
 * dropped frames, events, and the server's CPU time per captured frame. Prints a table and a verdict line.
 *
 * `--env NAME=VALUE` (repeatable) starts the server with more environment (allocator settings
 * to compare side by side), `--node-option FLAG` (repeatable) with more options for node (heap
 * settings). `--snapshot-external-mb N` starts it with
 * `--heapsnapshot-signal=SIGUSR2` and takes a heap snapshot (at most two) when the external
 * memory (Buffers outside the JavaScript heap) exceeds N MB, to find what holds a burst.
 */
async function main(argv: string[]): Promise<number> {
  const options = parseOptions(argv);
  if (typeof options === 'string') {
    process.stderr.write(`${options}\n${USAGE}`);
    return 2;
  }
  const { minutes, source, env, nodeOptions, snapshotExternalMb } = options;
  const snapshotDir = snapshotExternalMb === null ? null : mkdtempSync(join(tmpdir(), 'preroll-soak-snapshots-'));
  const server = await startChildServer(source, {
    startTimeoutMs: 120_000,
    env,
    nodeArgs: [...nodeOptions, ...(snapshotDir ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshotDir}`] : [])],
  });
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
  log(`# pnpm soak ${argv.join(' ')}`);
  log(`${source === 'demo' ? 'demo source 640x360@15 (motion 10-14 s of every 20 s)' : `source ${source}`}, 5 MJPEG viewers + 1 WebSocket page + 1 /stream.mp4 reader, sampled every 30 s (external max and queued to clients: the highest of the ${POLL_MS / 1000}-s polls since the last row)`);
  if (Object.keys(env).length) log(`server environment: ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  if (nodeOptions.length) log(`server node options: ${nodeOptions.join(' ')}`);
  if (snapshotDir) log(`heap snapshots above ${snapshotExternalMb} MB external go to ${snapshotDir}`);
  log('| minute | RSS MB | malloc heap MB | other anon MB | JS heap MB | external MB | external max MB | pre-roll MB | frame pool MB (buffers) | queued to clients kB (max) | open fds | dropped frames | events | live encodes | stream.mp4 MB | CPU ms/frame |');
  log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  const samples: { minute: number; rss: number; fds: number; dropped: number; events: number }[] = [];
  const started = Date.now();
  const rowMs = Math.min(30_000, (minutes * 60_000) / 4);
  let nextRow = started + rowMs;
  // Frames captured, integrated from the status's frame rate at each poll; CPU from /proc.
  let frames = 0;
  let lastPoll = started;
  let rowFrames = 0;
  const startCpuS = processCpuS(pid);
  let rowCpuS = startCpuS;
  let cpuMsPerFrameTotal = 0;
  let externalMax = 0;
  // Bytes Node holds for the live streams' clients (MJPEG, /stream.mp4, WebSocket), highest poll.
  let queuedMax = 0;
  let snapshots = 0;
  try {
    for (;;) {
      await new Promise((r) => setTimeout(r, Math.max(0, Math.min(POLL_MS, nextRow - Date.now()))));
      const status = await fetchStatus(server.url);
      const now = Date.now();
      frames += ((status.fps ?? 0) * (now - lastPoll)) / 1000;
      lastPoll = now;
      const external = status.system?.externalBytes ?? 0;
      externalMax = Math.max(externalMax, external);
      const streams = Object.values(status.streams ?? {}) as { queuedBytes: number }[];
      queuedMax = Math.max(queuedMax, streams.reduce((sum, kind) => sum + kind.queuedBytes, 0));
      if (snapshotDir && snapshotExternalMb !== null && external > snapshotExternalMb * 1e6 && snapshots < MAX_SNAPSHOTS) {
        snapshots++;
        log(`snapshot ${snapshots} at minute ${fmt((now - started) / 60_000, 2)}: external ${fmt(external / 1e6, 1)} MB, RSS ${fmt(processRssBytes(pid) / 1e6, 1)} MB, malloc heap ${fmt(processMallocHeapBytes(pid) / 1e6, 1)} MB, other anon ${fmt(processOtherAnonBytes(pid) / 1e6, 1)} MB`);
        process.kill(pid, 'SIGUSR2');
        await waitForSnapshot(snapshotDir, snapshots);
      }
      if (now < nextRow) continue;
      nextRow += rowMs;
      const cpuS = processCpuS(pid);
      const cpuMsPerFrame = frames > rowFrames ? ((cpuS - rowCpuS) * 1000) / (frames - rowFrames) : 0;
      rowCpuS = cpuS;
      rowFrames = frames;
      const sample = { minute: (now - started) / 60_000, rss: processRssBytes(pid), fds: processFds(pid), dropped: status.droppedFrames, events: status.events.count };
      samples.push(sample);
      const pool = status.pipeline?.framePool;
      log(`| ${fmt(sample.minute, 1)} | ${fmt(sample.rss / 1e6, 1)} | ${fmt(processMallocHeapBytes(pid) / 1e6, 1)} | ${fmt(processOtherAnonBytes(pid) / 1e6, 1)} | ${fmt((status.system?.heapUsedBytes ?? 0) / 1e6, 1)} | ${fmt(external / 1e6, 1)} | ${fmt(externalMax / 1e6, 1)} | ${fmt((status.pipeline?.preRoll.bytes ?? 0) / 1e6, 1)} | ${pool ? `${fmt(pool.bytes / 1e6, 1)} (${pool.frames})` : '-'} | ${fmt(queuedMax / 1e3, 0)} | ${sample.fds} | ${sample.dropped} | ${sample.events} | ${status.live.encodes} | ${fmt(mp4Bytes / 1e6, 1)} | ${fmt(cpuMsPerFrame, 1)} |`);
      externalMax = 0;
      queuedMax = 0;
      if (sample.minute >= minutes) break;
    }
    cpuMsPerFrameTotal = frames > 0 ? ((processCpuS(pid) - startCpuS) * 1000) / frames : 0;
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
    `\nafter warm-up (minute ${fmt(base.minute, 1)}) to the end: RSS ${fmt((last.rss - base.rss) / 1e6, 1)} MB (range ${fmt(Math.min(...rss), 1)}–${fmt(Math.max(...rss), 1)} MB, trend ${fmt(slope, 1)} MB/hour), open fds ${last.fds - base.fds}, dropped frames ${last.dropped}, events ${last.events}, server CPU ${fmt(cpuMsPerFrameTotal, 1)} ms per captured frame (${fmt(frames, 0)} frames)`,
  );
  return 0;
}

/**
 * The server's status, tried up to 5 times: a poll may meet a keep-alive connection the server
 * has just closed (a loaded machine can hold either process past the keep-alive timeout).
 */
async function fetchStatus(url: string): Promise<any> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await (await fetch(`${url}/api/status`)).json();
    } catch (error) {
      if (attempt >= 5) throw error;
      process.stderr.write(`status poll failed (${(error as Error).message}; ${String((error as { cause?: unknown }).cause)}), retrying\n`);
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

/** Waits (up to 2 minutes) until the n-th `.heapsnapshot` file in `dir` stops growing. */
async function waitForSnapshot(dir: string, n: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  let lastSize = -1;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1_000));
    const files = readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot')).sort();
    if (files.length < n) continue;
    const size = statSync(join(dir, files[n - 1])).size;
    if (size > 0 && size === lastSize) return;
    lastSize = size;
  }
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
