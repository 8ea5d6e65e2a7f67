import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../../../../..');

/** A Preroll server in its own process, for benchmarks that must not share its CPU. */
export interface ChildServer {
  readonly child: ChildProcess;
  readonly url: string;
  readonly dataDir: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

/** Options of {@link startChildServer}. */
export interface ChildServerOptions {
  /**
   * A cgroup's `cgroup.procs` file: the server is started inside that group from its first
   * instruction (a shell writes its own pid there, then becomes node), so everything it spawns
   * starts there too.
   */
  readonly cgroupProcs?: string;
  /** How long to wait for the first frames (default 30 s). */
  readonly startTimeoutMs?: number;
  /** More `serve` arguments (e.g. `--config FILE`). */
  readonly extraArgs?: readonly string[];
  /** More environment for the server (e.g. `PREROLL_CAMERA__PASSTHROUGH__MODE`). */
  readonly env?: Readonly<Record<string, string>>;
  /** Options for node itself, before the script (e.g. `--heapsnapshot-signal=SIGUSR2`, or `--cpu-prof`, which NODE_OPTIONS does not take). */
  readonly nodeArgs?: readonly string[];
}

/** Starts `preroll serve` on the source (fake camera on PATH) and waits for frames. */
export async function startChildServer(source: string, options: ChildServerOptions = {}): Promise<ChildServer> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'preroll-bench-'));
  const args = [...(options.nodeArgs ?? []), join(ROOT, 'apps/server/dist/src/cli.js'), 'serve', '--source', source, '--port', String(port), '--host', '127.0.0.1', '--data', dataDir, ...(options.extraArgs ?? [])];
  const [command, argv] = options.cgroupProcs
    ? ['/bin/sh', ['-c', 'echo $$ > "$0" && exec "$@"', options.cgroupProcs, process.execPath, ...args]]
    : [process.execPath, args];
  const child = spawn(command, argv, {
    // The allocator and heap settings of `pnpm start`, the systemd unit and the Docker image.
    env: { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072', NODE_OPTIONS: '--max-semi-space-size=2 --max-old-space-size=256', ...process.env, PATH: `${join(ROOT, 'test-fixtures/bin')}${delimiter}${process.env.PATH}`, PREROLL_LOG_LEVEL: 'warn', ...options.env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  while (Date.now() < deadline && child.exitCode === null) {
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
    dataDir,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** CPU seconds (user + system) of a process, from /proc. */
export function processCpuS(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Resident memory of a process in bytes, from /proc. */
export function processRssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

/**
 * Resident bytes of a process's main malloc heap (the `[heap]` mapping of `/proc/PID/smaps`):
 * where glibc keeps allocations below its mmap threshold, and the holes between them.
 */
export function processMallocHeapBytes(pid: number): number {
  let inHeap = false;
  let kb = 0;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inHeap = line.endsWith('[heap]');
    else if (inHeap && line.startsWith('Rss:')) kb += Number(/(\d+)/.exec(line)?.[1] ?? 0);
  }
  return kb * 1024;
}

/**
 * Resident bytes of a process's anonymous memory outside the `[heap]` mapping (from
 * `/proc/PID/smaps`): mmapped malloc chunks, the other malloc arena, V8's heap, thread stacks.
 */
export function processOtherAnonBytes(pid: number): number {
  let inHeap = false;
  let kb = 0;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inHeap = line.endsWith('[heap]');
    else if (!inHeap && line.startsWith('Anonymous:')) kb += Number(/(\d+)/.exec(line)?.[1] ?? 0);
  }
  return kb * 1024;
}

/** Open file descriptors of a process. */
export function processFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** An MJPEG viewer that counts the JPEGs it receives. */
export function mjpegViewer(url: string): { frames: () => number; close: () => void } {
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
