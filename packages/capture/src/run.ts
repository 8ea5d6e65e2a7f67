import { execFileSync } from 'node:child_process';
import { constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { describeExit, spawnChild, spawnFfmpeg, ProcessError, type ChildHandle, type ExitInfo } from '@preroll/process';
import { FrameAssembler, type FrameBuffers, type RawLayout } from './assembler';
import { ffmpegDecodeArgs, parseOutputStream, parseShowinfoPts, parseShowinfoTimeBase, rpicamArgs, type FrameFormat } from './args';
import { CaptureError } from './errors';
import { PtsPairer } from './pts';
import type { SourceSpec } from './spec';

/** Monotonic microseconds (arrival clock). */
export function monotonicUs(): number {
  return Math.round(performance.now() * 1000);
}

/** What a run reports to its supervisor. */
export interface RunEvents {
  /** The frame size is known (immediately for rpicam, from ffmpeg's output line otherwise). */
  onFormat(width: number, height: number, fps: number | null): void;
  /**
   * A packed frame with its run-relative timestamp (stream pts, or arrival time when `fromStream`
   * is false); null for a frame dropped for want of a free buffer (its timestamp still counts).
   * A buffer comes with the reference of its {@link FrameBuffers}: the receiver owns it.
   */
  onFrame(packed: Buffer | null, ptsUs: number, fromStream: boolean): void;
  /** The buffers for frames of the size just given to `onFormat` (called right after it). */
  frameBuffers(): FrameBuffers;
  /** The stream timestamps could not be used; arrival time from now on. */
  onFallback(reason: string): void;
}

/** One life of a source process. The supervisor starts a new run after a crash. */
export interface SourceRun {
  readonly child: ChildHandle;
  /** Resolves with how the process ended and, for an unexpected end, a classified error. */
  readonly finished: Promise<{ exit: ExitInfo; error: CaptureError | null }>;
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

/** Options shared by both kinds of run. */
export interface RunOptions {
  readonly logger?: Logger;
  /** How long a frame may wait for its side-channel timestamp before falling back to arrival time. */
  readonly ptsWaitMs: number;
}

/**
 * Starts `rpicam-vid`, reading frames from stdout and their timestamps from a FIFO.
 *
 * rpicam-vid opens `--save-pts` by name, and Node's stdio pipes are socket pairs that
 * `/dev/fd/N` cannot open (ENXIO), so the timestamps come through a named pipe that we open
 * read-write and non-blocking: the open never waits for the writer and the read never sees a
 * premature end of file.
 */
export function startRpicamRun(
  format: { width: number; height: number; fps: number },
  layout: RawLayout,
  options: RunOptions & { camera?: number; extraArgs?: readonly string[] },
  events: RunEvents,
): SourceRun {
  const fifo = openPtsFifo(options.logger);
  let child: ChildHandle;
  try {
    child = spawnChild({
      name: 'camera',
      command: 'rpicam-vid',
      args: rpicamArgs(format, { ...options, ptsPath: fifo?.path ?? null }),
      stdio: ['ignore', 'pipe', 'pipe'],
      logger: options.logger,
    });
  } catch (error) {
    fifo?.close();
    throw translateSpawnError(error, 'rpicam-vid', 'install rpicam-apps (sudo apt install rpicam-apps), or use --source demo');
  }
  events.onFormat(format.width, format.height, format.fps);
  const buffers = events.frameBuffers();
  const pairer = new PtsPairer<Buffer | null>((packed, ptsUs, fromStream) => events.onFrame(packed, ptsUs, fromStream), {
    waitMs: options.ptsWaitMs,
    useStream: fifo !== null,
    onFallback: events.onFallback,
    discard: (packed) => packed && buffers.discard(packed),
  });
  const assembler = new FrameAssembler(layout, buffers);
  child.stdout?.on('data', (chunk: Buffer) => assembler.push(chunk, (packed) => pairer.pushFrame(packed, monotonicUs())));
  if (fifo) {
    readLines(fifo.stream, (line) => {
      // `# timecode format v2`, then one line per frame in milliseconds (e.g. `33.333`).
      if (!line || line.startsWith('#')) return;
      const ms = Number(line);
      if (Number.isFinite(ms)) pairer.pushPts(Math.round(ms * 1000));
    });
    void child.exited.then(() => setTimeout(() => fifo.close(), 100));
  }
  return wrapRun(child, pairer, classifyRpicamExit, () => assembler.close());
}

/** A named pipe for rpicam-vid's timestamps, or null (arrival time then) when one cannot be made. */
function openPtsFifo(logger?: Logger): { path: string; stream: Readable; close(): void } | null {
  let dir: string | null = null;
  try {
    dir = mkdtempSync(join(tmpdir(), 'preroll-pts-'));
    const path = join(dir, 'pts');
    execFileSync('mkfifo', ['-m', '600', path]);
    const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
    const stream = new Socket({ fd, readable: true, writable: false });
    stream.on('error', (error) => logger?.debug({ err: error }, 'camera: pts pipe error'));
    const madeDir = dir;
    return {
      path,
      stream,
      close() {
        stream.destroy();
        rmSync(madeDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    logger?.warn({ err: error }, 'cannot make a FIFO for rpicam-vid timestamps; using arrival time');
    if (dir) rmSync(dir, { recursive: true, force: true });
    return null;
  }
}

/** Starts an ffmpeg that decodes a file, device, URL or the demo scene to raw I420. */
export function startFfmpegRun(
  spec: Exclude<SourceSpec, { kind: 'rpicam' }>,
  format: FrameFormat,
  options: RunOptions & { realtime: boolean; loop: boolean; durationS?: number; streamTimestamps: boolean },
  events: RunEvents,
): SourceRun {
  let child: ChildHandle;
  let timeBase: [number, number] | null = null;
  let afterOutputHeader = false;
  let assembler: FrameAssembler | null = null;
  let buffers: FrameBuffers | null = null;
  const early: Buffer[] = [];
  const pairer = new PtsPairer<Buffer | null>((packed, ptsUs, fromStream) => events.onFrame(packed, ptsUs, fromStream), {
    waitMs: options.ptsWaitMs,
    useStream: options.streamTimestamps,
    onFallback: events.onFallback,
    discard: (packed) => packed && buffers?.discard(packed),
  });
  const onFrame = (packed: Buffer | null): void => pairer.pushFrame(packed, monotonicUs());
  try {
    child = spawnFfmpeg({
      name: `source(${spec.kind})`,
      args: ffmpegDecodeArgs(spec, format, options),
      stdio: ['pipe', 'pipe', 'pipe'],
      logger: options.logger,
      keepInTail: (line) => !line.includes('showinfo') && !line.startsWith('[Parsed_'),
      onStderrLine: (line) => {
        const pts = parseShowinfoPts(line);
        if (pts !== null) {
          if (timeBase) pairer.pushPts(Math.round((pts * timeBase[0] * 1_000_000) / timeBase[1]));
          return;
        }
        timeBase ??= parseShowinfoTimeBase(line);
        if (line.startsWith('Output #0')) afterOutputHeader = true;
        if (afterOutputHeader && !assembler) {
          const stream = parseOutputStream(line);
          if (stream) {
            events.onFormat(stream.width, stream.height, stream.fps);
            buffers = events.frameBuffers();
            assembler = new FrameAssembler({ width: stream.width, height: stream.height, strideY: stream.width }, buffers);
            for (const chunk of early.splice(0)) assembler.push(chunk, onFrame);
          }
        }
      },
    });
  } catch (error) {
    throw translateSpawnError(error, 'ffmpeg', 'install ffmpeg (sudo apt install ffmpeg)');
  }
  child.stdout?.on('data', (chunk: Buffer) => {
    // Frames can arrive before the size line has been parsed from stderr: hold them until then.
    if (assembler) assembler.push(chunk, onFrame);
    else early.push(chunk);
  });
  return wrapRun(child, pairer, (exit) => classifyFfmpegExit(spec, exit), () => assembler?.close());
}

function wrapRun(child: ChildHandle, pairer: PtsPairer<Buffer | null>, classify: (exit: ExitInfo) => CaptureError | null, closeAssembler: () => void): SourceRun {
  let stopping = false;
  const stdoutDone = new Promise<void>((resolve) => {
    if (!child.stdout) return resolve();
    child.stdout.once('close', resolve);
    child.stdout.once('error', () => resolve());
  });
  const finished = (async () => {
    const exit = await child.exited;
    // Deliver every byte the process wrote before it died, then the frames still waiting for a pts.
    await stdoutDone;
    pairer.drain();
    pairer.close();
    closeAssembler();
    return { exit, error: stopping ? null : classify(exit) };
  })();
  return {
    child,
    finished,
    pause: () => child.stdout?.pause(),
    resume: () => child.stdout?.resume(),
    async stop() {
      stopping = true;
      child.stdout?.resume();
      await child.stop({ quitInput: child.stdin ? 'q' : undefined, graceMs: 1500, termMs: 1500 });
    },
  };
}

function classifyRpicamExit(exit: ExitInfo): CaptureError | null {
  const text = exit.stderrTail.join('\n');
  if (/no cameras available/i.test(text)) {
    return new CaptureError('CAPTURE_NO_CAMERA', 'rpicam-vid found no camera: check the ribbon cable and `rpicam-hello --list-cameras`', describeExit(exit));
  }
  if (/busy|failed to acquire camera|resource temporarily unavailable/i.test(text)) {
    return new CaptureError('CAPTURE_CAMERA_BUSY', `the camera is in use by another program (${describeExit(exit, 2)})`, describeExit(exit));
  }
  return new CaptureError('CAPTURE_SOURCE_EXITED', `rpicam-vid stopped (${describeExit(exit)})`, describeExit(exit));
}

function classifyFfmpegExit(spec: Exclude<SourceSpec, { kind: 'rpicam' }>, exit: ExitInfo): CaptureError | null {
  if (exit.code === 0 && !exit.signal) return null;
  const text = exit.stderrTail.join('\n');
  if (spec.kind === 'file' && /no such file or directory/i.test(text)) {
    return new CaptureError('CAPTURE_FILE_NOT_FOUND', `no such file: ${spec.path}`, spec.path);
  }
  if (spec.kind === 'v4l2' && /no such file or directory|cannot open video device/i.test(text)) {
    return new CaptureError('CAPTURE_DEVICE_NOT_FOUND', `no video device ${spec.device}: is the USB camera plugged in?`, spec.device);
  }
  if (spec.kind === 'v4l2' && /busy/i.test(text)) {
    return new CaptureError('CAPTURE_CAMERA_BUSY', `${spec.device} is in use by another program`, spec.device);
  }
  return new CaptureError('CAPTURE_SOURCE_EXITED', `ffmpeg (${spec.kind} source) stopped (${describeExit(exit)})`, describeExit(exit));
}

function translateSpawnError(error: unknown, binary: string, hint: string): unknown {
  if (error instanceof ProcessError && error.code === 'PROC_BINARY_NOT_FOUND') {
    return new CaptureError('CAPTURE_BINARY_NOT_FOUND', `${binary} not found: ${hint}`, binary, { cause: error });
  }
  return error;
}

function readLines(stream: Readable, onLine: (line: string) => void): void {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) onLine(line.trim());
  });
}
