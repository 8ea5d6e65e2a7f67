import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { describeExit, spawnChild, spawnFfmpeg, type ChildHandle, type ExitInfo, type StopOptions } from '@preroll/process';
import { parseShowinfoPtsTime, rpicamArgs } from './args';
import { CaptureError } from './errors';
import { classifyRpicamExit, createDeferredFrames, openFramePipe, openSideFifo, parsePtsLine, pumpTransportStream, readLines, readMetadataFifo, stdoutPipe, translateSpawnError, type RunEvents, type SourceRun } from './run';
import { createTsDemuxer, STREAM_TYPE_H264 } from './ts-demux';

/**
 * The split route of a Pi camera: `rpicam-vid`'s raw frames go straight into the encoder
 * ffmpeg (a pipe between the two processes; Node never reads them), and that one ffmpeg writes
 *
 *  1. the H.264 access units, encoded exactly as the pipeline's own encoder encodes (the caller
 *     gives the codec arguments), as an MPEG transport stream on fd 3, demuxed in Node like a
 *     passed-through network camera's (`ts-demux.ts`);
 *  2. a reduced raw I420 stream on stdout (scaled to `detectWidthPx`, thinned to about
 *     `detectFps` by `select`) for the detector and the live view.
 *
 * Timestamps stay the sensor's: ffmpeg's rawvideo input runs on a constant `-framerate F`, so
 * its k-th frame has pts k/F exactly on the encoder's output, and k is the line of `--save-pts`
 * that `rpicam-vid` wrote for that frame. Node reads the pts file as before and hands each unit
 * and each reduced frame the k-th line: a unit's k from its PTS, a reduced frame's from its
 * pts (k/F, which `select` keeps; showinfo's `pts_time`).
 */

/** Frames (or showinfo lines) kept while they wait for their other half. */
const MAX_UNPAIRED = 64;

/** Options of the split route (see {@link startSplitRun}). */
export interface SplitOptions {
  /** Width of the reduced frames for detection, snapshots and the JPEG live view, pixels (never above the camera's). */
  readonly detectWidthPx: number;
  /** Reduced frames per second (at most the camera's rate). */
  readonly detectFps: number;
  /**
   * ffmpeg's output arguments of the encoder at a frame rate (codec, quality or bitrate, keyframe
   * interval, no B-frames; from `-c:v` on, without the output): the composition root builds
   * them with the recorder's own encoder code, so both routes encode the same H.264.
   */
  readonly encoderArgs: (fps: number) => readonly string[];
}

/**
 * argv of the split route's ffmpeg (pure). Input: raw I420 of the padded width (`strideY`; the
 * chroma rows are `strideY / 2`, as `rpicam-vid` lays them out) on stdin at a constant rate,
 * cropped to the picture. Output 1: reduced frames on stdout with `showinfo` reporting each
 * one's pts; output 2: the encoder's H.264 as MPEG-TS on fd 3 (`-muxdelay 0`: its PTS are the
 * frames').
 */
export function splitArgs(format: { width: number; height: number; fps: number }, strideY: number, options: SplitOptions): string[] {
  const width = Math.max(32, Math.round(options.detectWidthPx / 2) * 2);
  const intervalS = (0.9 / Math.min(options.detectFps, format.fps)).toFixed(4);
  const graph = [
    `[0:v]crop=${format.width}:${format.height}:0:0,split=2[enc][det]`,
    // `select` thins on the input's clock k/F. (On the wall clock, `setpts` to RTCTIME, a camera
    // that skips frames would not thin the reduced stream with it, but ffmpeg's CPU then grew
    // with the run's length: about twice the encoder's cost after 30 s.) A kept frame's index k
    // is its pts times F (showinfo's `pts_time`).
    `[det]select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,${intervalS})',scale='min(${width}\\,trunc(iw/2)*2)':-2,format=yuv420p,showinfo=checksum=0[small]`,
  ].join(';');
  return [
    '-loglevel', 'info',
    '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', `${strideY}x${format.height}`, '-framerate', String(format.fps), '-i', 'pipe:0',
    '-filter_complex', graph,
    '-map', '[small]', '-fps_mode', 'passthrough', '-pix_fmt', 'yuv420p', '-f', 'rawvideo', 'pipe:1',
    '-map', '[enc]', '-fps_mode', 'passthrough', ...options.encoderArgs(format.fps),
    '-flush_packets', '1', '-muxdelay', '0', '-muxpreload', '0', '-f', 'mpegts', 'pipe:3',
  ];
}

/** The k-th frame's index from a 90 kHz PTS (the rawvideo input's frame k is at k/F s). Pure. */
export function frameIndexFrom90k(pts90k: number, fps: number): number {
  return Math.round((pts90k * fps) / 90_000);
}

/**
 * The sensor timestamps of a run by frame index (line k of the pts file is frame k), and the
 * items (units, reduced frames) waiting for theirs. Units and frames each come in index order,
 * interleaved; a bounded window of lines is kept. An item that waits longer than `waitMs`, or a
 * run without a pts file, switches to the nominal clock k/F (logged by the caller): the one
 * clock units and frames can still share.
 */
export class IndexedPts {
  private readonly lines: Float64Array;
  private count = 0;
  private readonly waiting: { k: number; give: (ptsUs: number, fromStream: boolean) => void }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private nominal: boolean;

  constructor(
    private readonly options: { fps: number; waitMs: number; useStream: boolean; window?: number; onFallback?: (reason: string) => void },
  ) {
    this.lines = new Float64Array(options.window ?? 1024);
    this.nominal = !options.useStream;
  }

  /** Lines read so far (frames the camera wrote). */
  get lineCount(): number {
    return this.count;
  }

  /** The next line of the pts file, microseconds. */
  push(ptsUs: number): void {
    this.lines[this.count % this.lines.length] = ptsUs;
    this.count++;
    if (this.waiting.length === 0) return;
    for (let i = 0; i < this.waiting.length; ) {
      const item = this.waiting[i];
      if (item.k < this.count) {
        this.waiting.splice(i, 1);
        this.resolve(item.k, item.give);
      } else i++;
    }
    if (this.waiting.length === 0) this.clearTimer();
  }

  /** Gives frame k's timestamp to `give`, now or once its line is read. */
  take(k: number, give: (ptsUs: number, fromStream: boolean) => void): void {
    if (this.nominal || k < this.count) return this.resolve(k, give);
    this.waiting.push({ k, give });
    this.timer ??= setTimeout(() => this.fallback(`no timestamp line within ${this.options.waitMs} ms of frame ${k}`), this.options.waitMs);
  }

  /** Hands every waiting item its timestamp as far as known, nominal otherwise (the run ended). */
  drain(): void {
    this.clearTimer();
    for (const item of this.waiting.splice(0)) this.resolve(item.k, item.give);
  }

  close(): void {
    this.clearTimer();
    this.waiting.length = 0;
  }

  private resolve(k: number, give: (ptsUs: number, fromStream: boolean) => void): void {
    const inWindow = !this.nominal && k < this.count && k >= this.count - this.lines.length;
    if (inWindow) give(this.lines[k % this.lines.length], true);
    else give(Math.round((k * 1e6) / this.options.fps), false);
  }

  private fallback(reason: string): void {
    this.timer = null;
    if (this.nominal) return;
    this.nominal = true;
    this.options.onFallback?.(reason);
    this.drain();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** What a split run reports besides {@link RunEvents}. */
export interface SplitRunEvents extends RunEvents {
  /** Every frame the camera wrote (a line of its pts file), run-relative microseconds: the AI Camera's metadata pairs with these. */
  onSensorFrame?(ptsUs: number): void;
}

/**
 * Starts `rpicam-vid` and the encoder ffmpeg, joined by a pipe (see the module comment). Both
 * are one run: when either ends the other is stopped, and the run's error names the one that
 * ended first.
 */
export function startSplitRun(
  format: { width: number; height: number; fps: number },
  strideY: number,
  options: { logger?: Logger; ptsWaitMs: number; directReads?: boolean; camera?: number; extraArgs?: readonly string[]; split: SplitOptions; aiCamera?: { postProcessFile: string } | null },
  events: SplitRunEvents,
): SourceRun {
  const logger = options.logger;
  const ptsFifo = openSideFifo(logger);
  // The AI Camera's metadata, as on the Node route: record k belongs to line k of the pts file.
  const metaFifo = options.aiCamera ? openSideFifo(logger, 'metadata') : null;
  const link = openLinkPipe();
  const indexed = new IndexedPts({ fps: format.fps, waitMs: options.ptsWaitMs, useStream: ptsFifo !== null, onFallback: events.onFallback });
  let buffersRef: ReturnType<RunEvents['frameBuffers']> | null = null;
  // A reduced frame's bytes (stdout) and its showinfo line (stderr) come on two pipes, in either
  // order: whichever comes first waits for the other (bounded; a frame left over is discarded).
  const waitingFrames: (Buffer | null)[] = [];
  const waitingIndexes: number[] = [];
  const discard = (packed: Buffer | null): void => {
    if (packed) buffersRef?.discard(packed);
  };
  const pair = (k: number, packed: Buffer | null): void => {
    if (k < 0) return discard(packed);
    indexed.take(k, (ptsUs) => events.onFrame(packed, ptsUs, true));
  };
  const onFrame = (packed: Buffer | null): void => {
    const k = waitingIndexes.shift();
    if (k !== undefined) return pair(k, packed);
    waitingFrames.push(packed);
    if (waitingFrames.length > MAX_UNPAIRED) discard(waitingFrames.shift() ?? null);
  };
  const onIndex = (k: number): void => {
    if (waitingFrames.length) return pair(k, waitingFrames.shift() ?? null);
    waitingIndexes.push(k);
    if (waitingIndexes.length > MAX_UNPAIRED) waitingIndexes.shift();
  };
  const frames = createDeferredFrames((stream) => {
    events.onFormat(stream.width, stream.height, Math.min(options.split.detectFps, format.fps));
    buffersRef = events.frameBuffers();
    return buffersRef;
  }, onFrame);
  const pipe = options.directReads === false ? stdoutPipe() : openFramePipe(logger);
  let encoder: ChildHandle;
  try {
    encoder = spawnFfmpeg({
      name: 'camera encoder',
      args: splitArgs(format, strideY, options.split),
      stdio: [link.readFd, pipe.stdout, 'pipe', 'pipe'],
      logger,
      keepInTail: (line) => !line.includes('showinfo') && !line.startsWith('[Parsed_'),
      onStderrLine: (line) => {
        const ptsS = parseShowinfoPtsTime(line);
        if (ptsS !== null) {
          // The rawvideo input's frame k is at k/F, and `select` keeps a frame's own pts.
          onIndex(Math.round(ptsS * format.fps));
          return;
        }
        frames.stderrLine(line);
      },
    });
  } catch (error) {
    link.close();
    ptsFifo?.close();
    metaFifo?.close();
    pipe.close();
    throw translateSpawnError(error, 'ffmpeg', 'install ffmpeg (sudo apt install ffmpeg)');
  }
  let camera: ChildHandle;
  try {
    camera = spawnChild({
      name: 'camera',
      command: 'rpicam-vid',
      args: rpicamArgs(format, {
        camera: options.camera,
        extraArgs: options.extraArgs,
        ptsPath: ptsFifo?.path ?? null,
        aiCamera: options.aiCamera && metaFifo ? { postProcessFile: options.aiCamera.postProcessFile, metadataPath: metaFifo.path } : null,
      }),
      stdio: ['ignore', link.writeFd, 'pipe'],
      logger,
    });
  } catch (error) {
    link.close();
    ptsFifo?.close();
    metaFifo?.close();
    void encoder.stop({ graceMs: 0, termMs: 1500 }).then(() => pipe.close());
    throw translateSpawnError(error, 'rpicam-vid', 'install rpicam-apps (sudo apt install rpicam-apps), or use --source demo');
  }
  // Both children hold their end now: Node keeps neither, so each sees the other's end.
  link.close();
  pipe.attach(encoder, frames.sink);
  if (ptsFifo) {
    readLines(ptsFifo.stream, (line) => {
      const ptsUs = parsePtsLine(line);
      if (ptsUs === null) return;
      indexed.push(ptsUs);
      events.onSensorFrame?.(ptsUs);
    });
    void camera.exited.then(() => setTimeout(() => ptsFifo.close(), 100));
  }
  if (metaFifo) readMetadataFifo(metaFifo, camera.exited, events);
  let codecError: CaptureError | null = null;
  const unitsDone = readSplitUnits(encoder, format.fps, indexed, events, logger, (error) => {
    codecError ??= error;
  });
  let stopping = false;
  // Whichever ends first: the other follows (a camera without its encoder would block on the
  // pipe; an encoder without its camera has nothing more to read).
  const firstExit = Promise.race([camera.exited.then((exit) => ({ who: 'camera' as const, exit })), encoder.exited.then((exit) => ({ who: 'encoder' as const, exit }))]);
  void firstExit.then(({ who }) => {
    const other = who === 'camera' ? encoder : camera;
    // The encoder reads what the camera wrote until its end of file; a camera is stopped at once.
    if (who === 'encoder') void other.stop({ graceMs: 0, termMs: 1500 });
    else setTimeout(() => void other.stop({ graceMs: 0, termMs: 1500 }), 2000).unref();
  });
  const child = combinedChild(camera, encoder);
  const finished = (async () => {
    const first = await firstExit;
    const [cameraExit, encoderExit] = await Promise.all([camera.exited, encoder.exited]);
    await pipe.done;
    await unitsDone;
    pipe.close();
    // Frames whose showinfo line never came have no place on the clock.
    for (const packed of waitingFrames.splice(0)) discard(packed);
    indexed.drain();
    indexed.close();
    frames.close();
    const exit: ExitInfo = { ...(first.who === 'camera' ? cameraExit : encoderExit), stderrTail: child.stderrTail() };
    if (stopping) return { exit, error: null };
    if (codecError) return { exit, error: codecError };
    if (first.who === 'camera') return { exit, error: classifyRpicamExit(cameraExit) };
    return { exit, error: new CaptureError('CAPTURE_SOURCE_EXITED', `the camera's encoder ffmpeg stopped (${describeExit(encoderExit)})`, describeExit(encoderExit)) };
  })();
  return {
    child,
    finished,
    pause: () => pipe.pause(),
    resume: () => pipe.resume(),
    async stop() {
      stopping = true;
      pipe.resume();
      // SIGTERM at once to both: the outputs are pipes with nothing to finalise.
      await Promise.all([camera.stop({ graceMs: 0, termMs: 1500 }), encoder.stop({ graceMs: 0, termMs: 1500 })]);
    },
  };
}

/**
 * The encoder's H.264 (MPEG-TS on fd 3) into access units, each with the sensor timestamp of its
 * frame. A stream that is not H.264 or has reordered pictures (an encoder setting gone wrong)
 * ends the run through `onError`.
 */
function readSplitUnits(
  encoder: ChildHandle,
  fps: number,
  indexed: IndexedPts,
  events: RunEvents,
  logger: Logger | undefined,
  onError: (error: CaptureError) => void,
): Promise<void> {
  const stream = encoder.process.stdio[3] as Readable | null | undefined;
  if (!stream) return Promise.resolve();
  const demuxer = createTsDemuxer();
  let failed = false;
  let origin: number | null = null;
  const hand = (packets: ReturnType<typeof demuxer.push>): void => {
    if (failed) return;
    const type = demuxer.info().streamType;
    if (type !== null && type !== STREAM_TYPE_H264) {
      failed = true;
      onError(new CaptureError('CAPTURE_SOURCE_EXITED', `the camera's encoder wrote stream type 0x${type.toString(16)}, not H.264`, type));
      void encoder.stop({ graceMs: 0, termMs: 1500 });
      return;
    }
    for (const packet of packets) {
      if (packet.reordered) {
        failed = true;
        onError(new CaptureError('CAPTURE_PASSTHROUGH_UNSUPPORTED', "the camera's encoder wrote B-frames (reordered pictures): its arguments must include -bf 0", packet.pts90k));
        void encoder.stop({ graceMs: 0, termMs: 1500 });
        return;
      }
      // The transport stream starts its clock at the first frame (k = 0); any offset the muxer adds is taken off.
      origin ??= packet.pts90k;
      const k = frameIndexFrom90k(packet.pts90k - origin, fps);
      const data = packet.data;
      indexed.take(k, (ptsUs) => events.onUnit?.(data, ptsUs));
    }
  };
  return pumpTransportStream(stream, (chunk) => hand(demuxer.push(chunk)), () => hand(demuxer.flush()), logger);
}

/**
 * The pipe from `rpicam-vid` to ffmpeg, made from a FIFO so both ends are ordinary blocking
 * descriptors: a reader-writer descriptor is opened first (so neither of the next opens waits),
 * then the read end and the write end; the first and the name go at once. The camera gets EPIPE
 * when the encoder dies, and the encoder end of file when the camera dies.
 */
function openLinkPipe(): { readFd: number; writeFd: number; close(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'preroll-split-'));
  let hold = -1;
  let readFd = -1;
  let writeFd = -1;
  try {
    const path = join(dir, 'frames');
    execFileSync('mkfifo', ['-m', '600', path]);
    hold = openSync(path, constants.O_RDWR);
    readFd = openSync(path, constants.O_RDONLY);
    writeFd = openSync(path, constants.O_WRONLY);
  } catch (error) {
    for (const fd of [readFd, writeFd]) if (fd >= 0) closeSync(fd);
    throw new CaptureError('CAPTURE_SOURCE_EXITED', `cannot make the pipe from the camera to its encoder: ${(error as Error).message}`, dir, { cause: error });
  } finally {
    if (hold >= 0) closeSync(hold);
    rmSync(dir, { recursive: true, force: true });
  }
  let open = true;
  return {
    readFd,
    writeFd,
    close() {
      if (!open) return;
      open = false;
      closeSync(readFd);
      closeSync(writeFd);
    },
  };
}

/** The two children as one handle: the camera's process and pid, both stderr tails, both exits. */
function combinedChild(camera: ChildHandle, encoder: ChildHandle): ChildHandle {
  const exited = Promise.all([camera.exited, encoder.exited]).then(([cameraExit, encoderExit]) => ({ ...cameraExit, uptimeMs: Math.max(cameraExit.uptimeMs, encoderExit.uptimeMs), stderrTail: tail() }));
  function tail(): string[] {
    return [...camera.stderrTail().slice(-20).map((line) => `camera: ${line}`), ...encoder.stderrTail().slice(-20).map((line) => `encoder: ${line}`)];
  }
  return {
    process: camera.process,
    pid: camera.pid,
    stdin: null,
    stdout: null,
    stderrTail: tail,
    exited,
    hasExited: () => camera.hasExited() && encoder.hasExited(),
    async stop(options?: StopOptions) {
      await Promise.all([camera.stop(options), encoder.stop(options)]);
      return exited;
    },
  };
}
