import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { describeExit, spawnChild, spawnFfmpeg, ProcessError, type ChildHandle, type ExitInfo } from '@preroll/process';
import { FrameAssembler, type FrameBuffers, type RawLayout } from './assembler';
import { ffmpegDecodeArgs, parseOutputStream, parseShowinfoPts, parseShowinfoTimeBase, rpicamArgs, type FrameFormat } from './args';
import { CaptureError } from './errors';
import { MetadataParser, type MetadataRecord } from './imx500';
import { PtsPairer } from './pts';
import { passthroughArgs, type PassthroughOptions } from './passthrough';
import { createTsDemuxer, STREAM_TYPE_H264, ticks90kToUs } from './ts-demux';
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
  /**
   * Passthrough runs: one of the camera's H.264 access units (Annex-B) with its timestamp on
   * the frames' run-relative clock (both rounded to the 90 kHz clock of the transport stream).
   */
  onUnit?(data: Buffer, ptsUs: number): void;
  /** rpicam with the AI Camera: a frame's metadata record (record k belongs to the run's k-th frame). */
  onMetadata?(record: MetadataRecord): void;
  /** rpicam with the AI Camera: a metadata line was skipped (`CAPTURE_BAD_METADATA`). */
  onMetadataCorrupt?(error: CaptureError): void;
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
  /** Read stdout through a FIFO straight into the frame buffers (default true); false reads an ordinary pipe and copies. */
  readonly directReads?: boolean;
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
  options: RunOptions & { camera?: number; extraArgs?: readonly string[]; aiCamera?: { postProcessFile: string } | null },
  events: RunEvents,
): SourceRun {
  const fifo = openSideFifo(options.logger);
  // The AI Camera's metadata comes through a FIFO of its own, opened like the pts one: without
  // one there are no detections, and the camera still runs (the caller sees no records).
  const metaFifo = options.aiCamera ? openSideFifo(options.logger, 'metadata') : null;
  const pipe = options.directReads === false ? stdoutPipe() : openFramePipe(options.logger);
  let child: ChildHandle;
  try {
    child = spawnChild({
      name: 'camera',
      command: 'rpicam-vid',
      args: rpicamArgs(format, {
        ...options,
        ptsPath: fifo?.path ?? null,
        aiCamera: options.aiCamera && metaFifo ? { postProcessFile: options.aiCamera.postProcessFile, metadataPath: metaFifo.path } : null,
      }),
      stdio: ['ignore', pipe.stdout, 'pipe'],
      logger: options.logger,
    });
  } catch (error) {
    fifo?.close();
    metaFifo?.close();
    pipe.close();
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
  const onFrame = (packed: Buffer | null): void => pairer.pushFrame(packed, monotonicUs());
  pipe.attach(child, { target: () => assembler.readTarget(), commit: (bytes) => assembler.commitRead(bytes, onFrame) });
  if (fifo) {
    readLines(fifo.stream, (line) => {
      const ptsUs = parsePtsLine(line);
      if (ptsUs !== null) pairer.pushPts(ptsUs);
    });
    void child.exited.then(() => setTimeout(() => fifo.close(), 100));
  }
  if (metaFifo) readMetadataFifo(metaFifo, child.exited, events);
  return wrapRun(child, pipe, pairer, classifyRpicamExit, () => assembler.close());
}

/** A named pipe for one of rpicam-vid's side outputs (timestamps, metadata), or null when one cannot be made. */
/**
 * One line of `rpicam-vid --save-pts` (`# timecode format v2`, then one line per frame in
 * milliseconds, e.g. `33.333`) as microseconds; null for the header, a blank or a bad line. Pure.
 */
export function parsePtsLine(line: string): number | null {
  if (!line || line.startsWith('#')) return null;
  const ms = Number(line);
  return Number.isFinite(ms) ? Math.round(ms * 1000) : null;
}

/**
 * Reads `rpicam-vid --metadata` (the AI Camera's records) from its FIFO into `events` until the
 * camera has exited; rpicam-vid flushes the file when it closes it, so what is left is read
 * then, and the FIFO closed.
 */
export function readMetadataFifo(metaFifo: { stream: Readable; close(): void }, exited: Promise<unknown>, events: Pick<RunEvents, 'onMetadata' | 'onMetadataCorrupt'>): void {
  const parser = new MetadataParser(
    (record) => events.onMetadata?.(record),
    (error) => events.onMetadataCorrupt?.(error),
  );
  metaFifo.stream.setEncoding('latin1');
  metaFifo.stream.on('data', (chunk: string) => parser.push(chunk));
  void exited.then(() =>
    setTimeout(() => {
      parser.end();
      metaFifo.close();
    }, 100),
  );
}

export function openSideFifo(logger?: Logger, name = 'pts'): { path: string; stream: Readable; close(): void } | null {
  let dir: string | null = null;
  try {
    dir = mkdtempSync(join(tmpdir(), `preroll-${name}-`));
    const path = join(dir, name);
    execFileSync('mkfifo', ['-m', '600', path]);
    const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
    const stream = new Socket({ fd, readable: true, writable: false });
    stream.on('error', (error) => logger?.debug({ err: error }, `camera: ${name} pipe error`));
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
    logger?.warn({ err: error }, name === 'pts' ? 'cannot make a FIFO for rpicam-vid timestamps; using arrival time' : `cannot make a FIFO for rpicam-vid ${name}`);
    if (dir) rmSync(dir, { recursive: true, force: true });
    return null;
  }
}

/**
 * Starts an ffmpeg that decodes a file, device, URL or the demo scene to raw I420; with
 * `passthrough` (a `url:` source), the same ffmpeg also copies the camera's H.264 to fd 3 as
 * MPEG-TS, handed to `events.onUnit` unit by unit.
 */
export function startFfmpegRun(
  spec: Exclude<SourceSpec, { kind: 'rpicam' }>,
  format: FrameFormat,
  options: RunOptions & { realtime: boolean; loop: boolean; durationS?: number; streamTimestamps: boolean; passthrough?: PassthroughOptions },
  events: RunEvents,
): SourceRun {
  const passthrough = spec.kind === 'url' ? options.passthrough : undefined;
  // The reason the run was ended from here (the camera stopped sending H.264), else null.
  let codecError: CaptureError | null = null;
  let child: ChildHandle;
  let timeBase: [number, number] | null = null;
  let buffers: FrameBuffers | null = null;
  const pairer = new PtsPairer<Buffer | null>((packed, ptsUs, fromStream) => events.onFrame(packed, ptsUs, fromStream), {
    waitMs: options.ptsWaitMs,
    useStream: options.streamTimestamps,
    onFallback: events.onFallback,
    discard: (packed) => packed && buffers?.discard(packed),
  });
  const onFrame = (packed: Buffer | null): void => pairer.pushFrame(packed, monotonicUs());
  const frames = createDeferredFrames((stream) => {
    events.onFormat(stream.width, stream.height, stream.fps);
    buffers = events.frameBuffers();
    return buffers;
  }, onFrame);
  const pipe = options.directReads === false ? stdoutPipe() : openFramePipe(options.logger);
  try {
    child = spawnFfmpeg({
      name: `source(${spec.kind})`,
      args: passthrough && spec.kind === 'url' ? passthroughArgs(spec.url, passthrough) : ffmpegDecodeArgs(spec, format, options),
      stdio: passthrough ? ['pipe', pipe.stdout, 'pipe', 'pipe'] : ['pipe', pipe.stdout, 'pipe'],
      logger: options.logger,
      keepInTail: (line) => !line.includes('showinfo') && !line.startsWith('[Parsed_'),
      onStderrLine: (line) => {
        const pts = parseShowinfoPts(line);
        if (pts !== null) {
          if (!timeBase) return;
          // Passthrough: on the transport stream's 90 kHz clock, so a frame's pts is its unit's pts exactly.
          if (passthrough) pairer.pushPts(ticks90kToUs(Math.round((pts * timeBase[0] * 90_000) / timeBase[1])));
          else pairer.pushPts(Math.round((pts * timeBase[0] * 1_000_000) / timeBase[1]));
          return;
        }
        timeBase ??= parseShowinfoTimeBase(line);
        frames.stderrLine(line);
      },
    });
  } catch (error) {
    pipe.close();
    throw translateSpawnError(error, 'ffmpeg', 'install ffmpeg (sudo apt install ffmpeg)');
  }
  pipe.attach(child, frames.sink);
  let unitsDone: Promise<void> | null = null;
  if (passthrough) {
    unitsDone = readCameraUnits(child, events, options.logger, (error) => {
      if (codecError) return;
      codecError = error;
      options.logger?.error({ code: error.code }, error.message);
      void child.stop({ graceMs: 0, termMs: 1500 });
    });
  }
  return wrapRun(child, pipe, pairer, (exit) => codecError ?? classifyFfmpegExit(spec, exit), () => frames.close(), unitsDone);
}

/**
 * Reads the copied H.264 (MPEG-TS on the child's fd 3) into access units. A stream that turns
 * out not to be H.264 (the camera switched codec) or to have B-frames ends the run through
 * `onCodecError`, and nothing after it is handed on.
 * Resolves when the pipe has ended and every unit was handed on.
 */
function readCameraUnits(child: ChildHandle, events: RunEvents, logger: Logger | undefined, onCodecError: (error: CaptureError) => void): Promise<void> {
  let failed = false;
  const stream = child.process.stdio[3] as Readable | null | undefined;
  if (!stream) return Promise.resolve();
  const demuxer = createTsDemuxer();
  const hand = (packets: ReturnType<typeof demuxer.push>): void => {
    if (failed) return;
    const type = demuxer.info().streamType;
    if (type !== null && type !== STREAM_TYPE_H264) {
      failed = true;
      onCodecError(new CaptureError('CAPTURE_CODEC_CHANGED', `the camera now sends stream type 0x${type.toString(16)}, not H.264: restart the server to decode it`, type));
      return;
    }
    for (const packet of packets) {
      if (packet.reordered) {
        failed = true;
        // The ring, the clips and the live fMP4 keep pictures in decode order with one
        // timestamp each: a stream with B-frames (which the probe may not have seen) cannot be
        // passed through, and restarting would not change that.
        onCodecError(new CaptureError('CAPTURE_PASSTHROUGH_UNSUPPORTED', 'the camera sends B-frames (reordered pictures), which passthrough does not record: set camera.passthrough.mode to never, or turn B-frames off in the camera', packet.pts90k));
        return;
      }
      events.onUnit?.(packet.data, ticks90kToUs(packet.pts90k));
    }
  };
  return pumpTransportStream(stream, (chunk) => hand(demuxer.push(chunk)), () => hand(demuxer.flush()), logger);
}

/**
 * Feeds a unit pipe (MPEG-TS from ffmpeg) chunk by chunk, flushes at its end, and resolves once
 * it ended, closed or failed (a failed pipe is the run's end, reported by its process's exit).
 */
export function pumpTransportStream(stream: Readable, push: (chunk: Buffer) => void, flush: () => void, logger?: Logger): Promise<void> {
  return new Promise<void>((resolve) => {
    stream.on('data', push);
    stream.once('end', () => {
      flush();
      resolve();
    });
    stream.once('close', resolve);
    stream.on('error', (error) => {
      logger?.debug({ err: error }, 'camera: unit pipe error');
      resolve();
    });
  });
}

/** Takes the bytes of each read from the camera pipe: `target()` says where the read goes, `commit(n)` that n bytes arrived there. */
export interface ReadSink {
  target(): Buffer;
  commit(bytes: number): void;
}

/**
 * The source process's stdout, read into buffers the reader chooses. Node's pipe reads
 * allocate a fresh 64 KiB Buffer per read (21 of them for a 720p frame, 30 times a second:
 * most of the garbage the capture made); a socket with `onread` reads into the buffer given by
 * `target()` instead, straight into the frame's place in the pool.
 *
 * The child's stdout is the write end of a FIFO (Node cannot make an anonymous pipe): we open
 * the read end non-blocking, then the write end (blocking: the child must see a normal pipe),
 * hand the write end to the child and close our copy, so the reader sees end-of-file exactly
 * when the child (and anything it spawned) closed it. Where no FIFO can be made, an ordinary
 * stdout pipe is read and its chunks are copied (the old way).
 */
export interface FramePipe {
  /** The child's stdout: the FIFO's write end, or 'pipe'. */
  readonly stdout: number | 'pipe';
  /** Starts reading once the child is spawned. */
  attach(child: ChildHandle, sink: ReadSink): void;
  pause(): void;
  resume(): void;
  /** Resolves when every byte the child wrote was read (end of file) or reading failed. */
  readonly done: Promise<void>;
  /** Closes whatever is still open (after a failed spawn, or at the end). */
  close(): void;
}

/** The frame pipe of a source process (see {@link FramePipe}). */
export function openFramePipe(logger?: Logger): FramePipe {
  let readFd = -1;
  let writeFd = -1;
  let dir: string | null = null;
  try {
    dir = mkdtempSync(join(tmpdir(), 'preroll-frames-'));
    const path = join(dir, 'frames');
    execFileSync('mkfifo', ['-m', '600', path]);
    readFd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    writeFd = openSync(path, constants.O_WRONLY);
  } catch (error) {
    logger?.debug({ err: error }, 'cannot make a FIFO for the frames; reading an ordinary pipe');
    if (readFd >= 0) closeSync(readFd);
    if (writeFd >= 0) closeSync(writeFd);
    return stdoutPipe();
  } finally {
    // The open ends keep the FIFO alive; its name is not needed any more.
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
  let socket: Socket | null = null;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const closeWriteEnd = (): void => {
    if (writeFd < 0) return;
    closeSync(writeFd);
    writeFd = -1;
  };
  return {
    stdout: writeFd,
    attach(_child, sink) {
      closeWriteEnd();
      // `onread` is honoured by the Socket constructor (Node >= 12.2) though the types list it on connect() only.
      const socketOptions: SocketConstructorOpts & { onread: OnReadOpts } = {
        fd: readFd,
        readable: true,
        writable: false,
        onread: {
          buffer: () => sink.target(),
          callback: (bytes: number) => {
            sink.commit(bytes);
            return true; // keep reading (false would pause the socket)
          },
        },
      };
      socket = new Socket(socketOptions);
      socket.once('end', resolveDone);
      socket.once('close', resolveDone);
      socket.on('error', (error) => {
        logger?.debug({ err: error }, 'camera: frame pipe error');
        resolveDone();
      });
    },
    pause: () => socket?.pause(),
    resume: () => socket?.resume(),
    done,
    close() {
      closeWriteEnd();
      if (socket) socket.destroy();
      else if (readFd >= 0) closeSync(readFd);
      readFd = -1;
      resolveDone();
    },
  };
}

/**
 * The frames of an ffmpeg run, whose size is known only once ffmpeg prints its output stream on
 * stderr: reads before then land in a scratch buffer and are kept as copies, then go to the
 * assembler made for that size. The size line may be parsed between a read's target and its
 * commit, so each read remembers where it went.
 */
export interface DeferredFrames {
  /** Feed every stderr line: the output stream's line makes the assembler (once). */
  stderrLine(line: string): void;
  /** The read sink for `FramePipe.attach`. */
  readonly sink: ReadSink;
  /** Closes the assembler, if one was made. */
  close(): void;
}

/** Creates {@link DeferredFrames}; `onStream` hears the size (and rate) and returns the buffers for it. */
export function createDeferredFrames(onStream: (stream: { width: number; height: number; fps: number | null }) => FrameBuffers, onFrame: (packed: Buffer | null) => void): DeferredFrames {
  let afterOutputHeader = false;
  let assembler: FrameAssembler | null = null;
  const early: Buffer[] = [];
  const scratch = Buffer.allocUnsafe(64 * 1024);
  let intoScratch = false;
  return {
    stderrLine(line) {
      if (line.startsWith('Output #0')) afterOutputHeader = true;
      if (!afterOutputHeader || assembler) return;
      const stream = parseOutputStream(line);
      if (!stream) return;
      const made = new FrameAssembler({ width: stream.width, height: stream.height, strideY: stream.width }, onStream(stream));
      assembler = made;
      for (const chunk of early.splice(0)) made.push(chunk, onFrame);
    },
    sink: {
      target: () => {
        intoScratch = assembler === null;
        return assembler ? assembler.readTarget() : scratch;
      },
      commit: (bytes) => {
        if (!intoScratch && assembler) return assembler.commitRead(bytes, onFrame);
        const copy = Buffer.from(scratch.subarray(0, bytes));
        if (assembler) assembler.push(copy, onFrame);
        else early.push(copy);
      },
    },
    close: () => assembler?.close(),
  };
}

/** The fallback: the child's ordinary stdout pipe, its chunks copied into the sink's targets. */
export function stdoutPipe(): FramePipe {
  let stdout: Readable | null = null;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  return {
    stdout: 'pipe',
    attach(child, sink) {
      stdout = child.stdout;
      if (!stdout) return resolveDone();
      stdout.on('data', (chunk: Buffer) => {
        let offset = 0;
        while (offset < chunk.length) {
          const bytes = chunk.copy(sink.target(), 0, offset);
          offset += bytes;
          sink.commit(bytes);
        }
      });
      stdout.once('close', resolveDone);
      stdout.once('error', () => resolveDone());
    },
    pause: () => stdout?.pause(),
    resume: () => stdout?.resume(),
    done,
    close: () => resolveDone(),
  };
}

export function wrapRun(
  child: ChildHandle,
  pipe: FramePipe,
  pairer: PtsPairer<Buffer | null>,
  classify: (exit: ExitInfo) => CaptureError | null,
  closeAssembler: () => void,
  unitsDone: Promise<void> | null = null,
): SourceRun {
  let stopping = false;
  const finished = (async () => {
    const exit = await child.exited;
    // Deliver every byte the process wrote before it died, then the frames still waiting for a pts.
    await pipe.done;
    if (unitsDone) await unitsDone;
    pipe.close();
    pairer.drain();
    pairer.close();
    closeAssembler();
    return { exit, error: stopping ? null : classify(exit) };
  })();
  return {
    child,
    finished,
    pause: () => pipe.pause(),
    resume: () => pipe.resume(),
    async stop() {
      stopping = true;
      pipe.resume();
      // SIGTERM at once: the outputs are pipes with nothing to finalise, and both ffmpeg and
      // rpicam-vid end on it even while blocked opening a camera that never answers (where
      // ffmpeg would not read a `q` until its input opened).
      await child.stop({ graceMs: 0, termMs: 1500 });
    },
  };
}

/** How an `rpicam-vid` that ended is reported: no camera, a busy camera, or any other end. */
export function classifyRpicamExit(exit: ExitInfo): CaptureError {
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

/** A missing binary as the capture's error with an install hint; other errors unchanged. */
export function translateSpawnError(error: unknown, binary: string, hint: string): unknown {
  if (error instanceof ProcessError && error.code === 'PROC_BINARY_NOT_FOUND') {
    return new CaptureError('CAPTURE_BINARY_NOT_FOUND', `${binary} not found: ${hint}`, binary, { cause: error });
  }
  return error;
}

/** Calls `onLine` with each trimmed line of a text stream. */
export function readLines(stream: Readable, onLine: (line: string) => void): void {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) onLine(line.trim());
  });
}
