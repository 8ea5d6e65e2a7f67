import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import { ProcessError } from './errors';
import { redactArgs, redactUrl } from './redact';
import { which } from './which';

/** How a child process ended. */
export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Milliseconds between spawn and exit. */
  readonly uptimeMs: number;
  /** The last stderr lines, oldest first. */
  readonly stderrTail: readonly string[];
}

/** Options of {@link spawnChild}. */
export interface SpawnOptions {
  /** Short name for logs, e.g. `camera` or `encoder`. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly logger?: Logger;
  /** stdio of the child; default `['pipe', 'pipe', 'pipe']`. stderr is always a pipe. */
  readonly stdio?: StdioOptions;
  /** How many stderr lines to keep for the black box. Default 40. */
  readonly stderrLines?: number;
  /** Called with each complete stderr line as it arrives (after it is stored in the tail). */
  readonly onStderrLine?: (line: string) => void;
  /** Lines for which this returns false are passed to `onStderrLine` but kept out of the tail (e.g. per-frame chatter). */
  readonly keepInTail?: (line: string) => boolean;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** Options of {@link ChildHandle.stop}: the kill ladder. */
export interface StopOptions {
  /** Written to stdin first (ffmpeg quits cleanly on `q`); when absent stdin is just closed. */
  readonly quitInput?: string;
  /** How long to wait after the polite request before SIGTERM. Default 2000. */
  readonly graceMs?: number;
  /** How long to wait after SIGTERM before SIGKILL. Default 2000. */
  readonly termMs?: number;
}

/** A running child process with its black box and a kill ladder. */
export interface ChildHandle {
  readonly process: ChildProcess;
  readonly pid: number | undefined;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  /** The last stderr lines, oldest first. */
  stderrTail(): string[];
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** True once the process has exited. */
  hasExited(): boolean;
  /** Stops the process: quit input / stdin close, then SIGTERM, then SIGKILL. Resolves on exit. */
  stop(options?: StopOptions): Promise<ExitInfo>;
}

/**
 * Spawns a program with an argv array (never a shell), keeps the tail of its stderr, and logs
 * its command line with secrets redacted. Throws `PROC_BINARY_NOT_FOUND` synchronously when the
 * program is not on PATH, so callers can give an install hint.
 */
export function spawnChild(options: SpawnOptions): ChildHandle {
  const resolved = which(options.command, options.env?.PATH ?? process.env.PATH);
  if (!resolved) {
    throw new ProcessError('PROC_BINARY_NOT_FOUND', `${options.command} not found on PATH`, { command: options.command });
  }
  const stderrMax = options.stderrLines ?? 40;
  const tail: string[] = [];
  const startedAt = Date.now();
  const stdio = normaliseStdio(options.stdio);
  options.logger?.debug({ argv: [options.command, ...redactArgs(options.args)] }, `${options.name}: spawn`);
  const child = spawn(resolved, [...options.args], {
    stdio,
    shell: false,
    env: options.env ?? process.env,
    cwd: options.cwd,
  });

  let partial = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    const lines = (partial + chunk).split(/\r?\n|\r/);
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line) continue;
      if (!options.keepInTail || options.keepInTail(line)) {
        // The tail is logged and shown in the status: no credential of an input URL in it.
        tail.push(redactUrl(line));
        if (tail.length > stderrMax) tail.shift();
      }
      options.onStderrLine?.(line);
    }
  });

  let exitInfo: ExitInfo | null = null;
  const exited = new Promise<ExitInfo>((resolve) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (exitInfo) return;
      if (partial) {
        tail.push(redactUrl(partial));
        if (tail.length > stderrMax) tail.shift();
        partial = '';
      }
      exitInfo = { code, signal, uptimeMs: Date.now() - startedAt, stderrTail: [...tail] };
      resolve(exitInfo);
    };
    // 'exit' can come before the last stdout/stderr bytes are read; 'close' comes after the
    // pipes are drained. Wait for 'close', but not forever (a grandchild may hold a pipe open).
    child.once('exit', (code, signal) => {
      const timer = setTimeout(() => finish(code, signal), 2000);
      timer.unref();
      child.once('close', () => {
        clearTimeout(timer);
        finish(code, signal);
      });
    });
    child.once('error', (error) => {
      tail.push(`spawn error: ${error.message}`);
      finish(null, null);
    });
  });
  // A child that dies while we write to it raises EPIPE on stdin; the exit handler reports it.
  child.stdin?.on('error', (error) => options.logger?.debug({ err: error }, `${options.name}: stdin error`));

  const handle: ChildHandle = {
    process: child,
    pid: child.pid,
    stdin: child.stdin,
    stdout: child.stdout,
    stderrTail: () => [...tail],
    exited,
    hasExited: () => exitInfo !== null,
    stop: (stopOptions = {}) => stopChild(handle, stopOptions),
  };
  return handle;
}

function normaliseStdio(stdio: StdioOptions | undefined): StdioOptions {
  if (!stdio) return ['pipe', 'pipe', 'pipe'];
  if (typeof stdio === 'string') return [stdio, stdio, 'pipe'];
  const copy = [...stdio];
  copy[2] = 'pipe';
  return copy;
}

async function stopChild(handle: ChildHandle, options: StopOptions): Promise<ExitInfo> {
  if (handle.hasExited()) return handle.exited;
  const graceMs = options.graceMs ?? 2000;
  const termMs = options.termMs ?? 2000;
  const stdin = handle.stdin;
  if (stdin && !stdin.destroyed && stdin.writable) {
    if (options.quitInput !== undefined) stdin.write(options.quitInput);
    stdin.end();
  } else if (options.quitInput === undefined) {
    handle.process.kill('SIGTERM');
  }
  if (await exitsWithin(handle, graceMs)) return handle.exited;
  handle.process.kill('SIGTERM');
  if (await exitsWithin(handle, termMs)) return handle.exited;
  handle.process.kill('SIGKILL');
  return handle.exited;
}

async function exitsWithin(handle: ChildHandle, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const result = await Promise.race([handle.exited.then(() => true as const), timeout]);
  clearTimeout(timer);
  return result;
}

/** Formats an exit for an error message: `exit code 1` / `signal SIGKILL`, plus the stderr tail. */
export function describeExit(info: ExitInfo, lines = 5): string {
  const how = info.signal ? `signal ${info.signal}` : `exit code ${info.code}`;
  const tail = info.stderrTail.slice(-lines).join(' | ');
  return tail ? `${how}: ${tail}` : how;
}
