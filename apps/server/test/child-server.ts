import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

const CLI = resolve(__dirname, '../dist/src/cli.js');

/** A `preroll serve` child process on 127.0.0.1 (built CLI), with its log lines collected. */
export interface ChildServer {
  readonly child: ChildProcess;
  /** Every JSON log line so far (stderr). */
  readonly logs: Record<string, unknown>[];
  /** Raw stderr text that was not JSON (e.g. a crash's stack). */
  readonly rawStderr: string[];
  /** Resolves with the exit code and signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
  /** The port, once the web server listens (rejects if the process ends first or after `timeoutMs`). */
  port(timeoutMs: number): Promise<number>;
  /** SIGTERM, then SIGKILL after `killAfterMs`; resolves when it has exited. */
  stop(killAfterMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
}

/**
 * Starts `preroll serve --host 127.0.0.1 --port 0` with `args`, optionally under a descriptor
 * limit (`ulimit -n` in the shell that then execs node).
 */
export function startChildServer(options: { args: readonly string[]; env?: Record<string, string>; fdLimit?: number }): ChildServer {
  const node = [process.execPath, CLI, 'serve', '--host', '127.0.0.1', '--port', '0', ...options.args];
  const quoted = node.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const script = options.fdLimit ? `ulimit -n ${options.fdLimit} && exec ${quoted}` : `exec ${quoted}`;
  const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PREROLL_LOG_LEVEL: 'info', ...options.env } });
  const logs: Record<string, unknown>[] = [];
  const rawStderr: string[] = [];
  const portWaiters: ((port: number) => void)[] = [];
  let port: number | null = null;
  let partial = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      let parsed: Record<string, unknown> | null = null;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch (error) {
        void error;
      }
      if (!parsed) {
        rawStderr.push(line);
        continue;
      }
      logs.push(parsed);
      if (port === null && typeof parsed.port === 'number' && String(parsed.msg).startsWith('web interface on')) {
        port = parsed.port;
        for (const waiter of portWaiters.splice(0)) waiter(port);
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>((resolveExit) => {
    child.once('exit', (code, signal) => resolveExit({ code, signal, atMs: Date.now() }));
  });
  return {
    child,
    logs,
    rawStderr,
    exited,
    port(timeoutMs) {
      if (port !== null) return Promise.resolve(port);
      return new Promise((resolvePort, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "web interface on" line within ${timeoutMs} ms; stderr: ${rawStderr.slice(-5).join(' | ')}`)), timeoutMs);
        portWaiters.push((p) => {
          clearTimeout(timer);
          resolvePort(p);
        });
        void exited.then((exit) => {
          clearTimeout(timer);
          reject(new Error(`the server exited (${exit.code ?? exit.signal}) before listening; stderr: ${rawStderr.slice(-5).join(' | ')}`));
        });
      });
    },
    async stop(killAfterMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      }
      return exited;
    },
  };
}
