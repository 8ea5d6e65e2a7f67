import { existsSync, statSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { CaptureError } from '@preroll/capture';

/** Where a command writes: stdout carries results (JSON lines), stderr carries logs and errors. */
export interface CommandIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
}

/**
 * One `preroll <name>` command. `run` gets the arguments after the command name and returns
 * the process exit code; it throws only for programming errors (the CLI prints those too).
 */
export interface Command {
  readonly name: string;
  /** One line for `preroll --help`. */
  readonly summary: string;
  /** Full usage text for `preroll <name> --help`. */
  readonly usage: string;
  run(argv: readonly string[], io: CommandIo): Promise<number>;
}

/** A CLI usage error: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'CLI_USAGE';
}

/** Writes one JSON object as a line (the machine-readable output of every command). */
export function writeJsonLine(out: Writable, value: unknown): void {
  out.write(`${JSON.stringify(value)}\n`);
}

/**
 * The one video file a command works on (`detect`, `record`): a usage error when there is not
 * exactly one, CAPTURE_FILE_NOT_FOUND when it is not a file.
 */
export function videoArgument(positionals: readonly string[]): string {
  if (positionals.length !== 1) throw new UsageError(positionals.length ? 'give exactly one video file' : 'missing the video file');
  const [video] = positionals;
  if (!existsSync(video) || !statSync(video).isFile()) throw new CaptureError('CAPTURE_FILE_NOT_FOUND', `no such file: ${video}`, video);
  return video;
}
