import type { Logger } from 'pino';
import { spawnChild, describeExit, type ChildHandle, type SpawnOptions } from './child';
import { ProcessError } from './errors';

/**
 * The one module through which Preroll runs ffmpeg and ffprobe (plain `spawn`, argv arrays).
 * Swapping the ffmpeg front end means changing only this file.
 */

/** Program names; overridable with PREROLL_FFMPEG / PREROLL_FFPROBE for unusual installs. */
export function ffmpegCommand(): string {
  return process.env.PREROLL_FFMPEG || 'ffmpeg';
}

/** See {@link ffmpegCommand}. */
export function ffprobeCommand(): string {
  return process.env.PREROLL_FFPROBE || 'ffprobe';
}

/** Spawns a long-running ffmpeg (a decoder or an encoder) with its black box. */
export function spawnFfmpeg(options: Omit<SpawnOptions, 'command'>): ChildHandle {
  return spawnChild({ ...options, command: ffmpegCommand(), args: ['-hide_banner', '-nostats', ...options.args] });
}

/** Result of a short ffmpeg/ffprobe run. */
export interface RunResult {
  readonly stdout: Buffer;
  readonly stderr: string;
}

/**
 * Runs ffmpeg or ffprobe to completion and collects its output. Rejects with `PROC_EXITED`
 * (exit code and the last stderr lines in the message) or `PROC_TIMEOUT`.
 */
export async function runTool(
  tool: 'ffmpeg' | 'ffprobe',
  args: readonly string[],
  options: { timeoutMs?: number; input?: Buffer; logger?: Logger } = {},
): Promise<RunResult> {
  const command = tool === 'ffmpeg' ? ffmpegCommand() : ffprobeCommand();
  const child = spawnChild({
    name: tool,
    command,
    args: ['-hide_banner', ...args],
    stdio: [options.input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    logger: options.logger,
    stderrLines: 200,
  });
  const chunks: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk));
  // The output is whole only once stdout has ended: `exited` stops waiting for the pipes after
  // 2 s, which a starved event loop can take to deliver them.
  const stdoutEnded = new Promise<void>((resolve) => {
    if (!child.stdout) return resolve();
    child.stdout.once('end', resolve);
    child.stdout.once('close', resolve);
  });
  if (options.input && child.stdin) child.stdin.end(options.input);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void child.stop({ graceMs: 0, termMs: 1000 });
  }, options.timeoutMs ?? 120_000);
  const info = await child.exited;
  await Promise.race([stdoutEnded, new Promise((r) => setTimeout(r, 10_000).unref())]);
  clearTimeout(timer);
  const stderr = info.stderrTail.join('\n');
  if (timedOut) {
    throw new ProcessError('PROC_TIMEOUT', `${tool} did not finish in ${options.timeoutMs ?? 120_000} ms`, { command });
  }
  if (info.code !== 0) {
    throw new ProcessError('PROC_EXITED', `${tool} failed (${describeExit(info)})`, {
      command,
      exitCode: info.code,
      signal: info.signal,
      stderrTail: [...info.stderrTail],
    });
  }
  return { stdout: Buffer.concat(chunks), stderr };
}

/**
 * Runs ffprobe with `-print_format json` and returns the parsed document. Output that is not
 * whole JSON is asked for again (3 tries): under load ffprobe's output was seen truncated
 * (3 of 18 segment finalisations while six remuxes ran on 2 busy cores).
 */
export async function ffprobeJson(path: string, args: readonly string[] = ['-show_format', '-show_streams']): Promise<any> {
  for (let attempt = 1; ; attempt++) {
    const { stdout } = await runTool('ffprobe', ['-v', 'error', '-print_format', 'json', ...args, path]);
    try {
      return JSON.parse(stdout.toString('utf8'));
    } catch (error) {
      if (!(error instanceof SyntaxError) || attempt >= 3) throw error;
    }
  }
}

let versionCache: Promise<{ major: number; text: string }> | null = null;

/** ffmpeg's version (major number and the first line of `ffmpeg -version`), cached. */
export function ffmpegVersion(): Promise<{ major: number; text: string }> {
  versionCache ??= runTool('ffmpeg', ['-version']).then(({ stdout }) => {
    const text = stdout.toString('utf8').split('\n')[0] ?? '';
    const match = /version n?(\d+)\./.exec(text);
    return { major: match ? Number(match[1]) : 0, text };
  });
  return versionCache;
}

const encoderCache = new Map<string, Promise<boolean>>();

/** True when this ffmpeg build lists the encoder (e.g. `libx264`, `h264_v4l2m2m`). */
export function hasEncoder(name: string): Promise<boolean> {
  let cached = encoderCache.get(name);
  if (!cached) {
    cached = runTool('ffmpeg', ['-encoders'])
      .then(({ stdout }) => new RegExp(`^\\s*V\\S*\\s+${name}\\s`, 'm').test(stdout.toString('utf8')))
      .catch(() => false);
    encoderCache.set(name, cached);
  }
  return cached;
}
