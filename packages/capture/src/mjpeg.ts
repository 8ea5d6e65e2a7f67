import type { Readable } from 'node:stream';
import { describeExit, spawnFfmpeg, type ChildHandle } from '@preroll/process';
import type { FrameBuffers } from './assembler';
import { CaptureError } from './errors';
import { PtsPairer } from './pts';
import { createDeferredFrames, monotonicUs, openFramePipe, stdoutPipe, translateSpawnError, wrapRun, type RunEvents, type RunOptions, type SourceRun } from './run';

/**
 * MJPEG cameras (most USB webcams, older IP cameras) already send every picture compressed.
 * An MJPEG `url:` source reads the camera once with one ffmpeg that has two outputs:
 *
 *   camera ──► ffmpeg ─┬─ copy ──────────────────────────► camera JPEGs (pipe 3) ──► pre-roll, live view, on-demand encoder
 *                      └─ decode at 1/2^lowres, ≤ analysisFps ─► raw I420 (pipe 1) ──► detector
 *
 * The decode for detection is done in the DCT domain at reduced size (`-lowres`: the IDCT,
 * colour conversion and pipe are 4-64x cheaper) and only the pictures the detector looks at
 * are converted and sent; the copied JPEGs are the camera's own bytes, stamped on the same
 * clock as the frames.
 */

/** A picture as the camera sent it (a complete JPEG), stamped on the source's clock. */
export interface CameraJpeg {
  /** Counts every JPEG delivered since start (also across restarts). */
  readonly seq: number;
  /** Arrival timestamp, microseconds on the same clock as the source's frames. */
  readonly ptsUs: number;
  /** Wall-clock time of the arrival, milliseconds since the epoch. */
  readonly wallMs: number;
  /** The JPEG, SOI to EOI (a buffer of its own: keep it as long as needed). */
  readonly data: Buffer;
}

/** Listener for camera JPEGs; called synchronously on the read path, so it must not block. */
export type JpegListener = (jpeg: CameraJpeg) => void;

/** Settings of an MJPEG `url:` source (see {@link startMjpegRun}). */
export interface MjpegOptions {
  /** Detection decodes at 1/2^lowres of the camera's size: 0 full, 1 half, 2 quarter (default: 640x480 → 160x120, the detector's own analysis width), 3 eighth. */
  readonly lowres?: 0 | 1 | 2 | 3;
  /** Most frames per second given to the detector (default 5); the JPEGs keep the camera's rate. */
  readonly analysisFps?: number;
  /** Largest JPEG accepted, bytes (default 8 MiB): a stream without an end of image is cut there. */
  readonly maxJpegBytes?: number;
}

/** What the splitter has seen, for status and tests. */
export interface JpegSplitterStats {
  readonly jpegs: number;
  /** Pictures dropped as malformed (torn, no frame header or scan, oversize, bad segment length). */
  readonly corrupt: number;
  /** Bytes outside any picture (between pictures, or of dropped ones). */
  readonly discardedBytes: number;
}

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;

/**
 * Cuts a byte stream of concatenated JPEGs into whole pictures (pure; no decode). It follows
 * the marker segments by their lengths up to the scan, then scans the entropy-coded data for
 * the end of image (byte stuffing makes 0xFF00 and the restart markers the only 0xFF pairs
 * there), so a thumbnail inside an EXIF segment or 0xFFD9 bytes in a comment do not cut a
 * picture short. A picture torn by a new start of image, one with a bad segment length,
 * without frame header or scan, or longer than `maxBytes`, is dropped and counted.
 */
export class JpegSplitter {
  private pending: Buffer = Buffer.alloc(0);
  /** Offset of the open picture's SOI in `pending`, or -1 while between pictures. */
  private start = -1;
  /** Where parsing resumes in `pending`. */
  private cursor = 0;
  private inScan = false;
  private sawFrame = false;
  private sawScan = false;
  private counters = { jpegs: 0, corrupt: 0, discardedBytes: 0 };

  constructor(private readonly maxBytes = 8 * 1024 * 1024) {}

  /** Adds bytes; returns the pictures they completed, in order. */
  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: Buffer[] = [];
    for (;;) {
      if (this.start < 0 && !this.findStart()) break;
      const step = this.advance();
      if (step === 'more') {
        if (this.cursor - this.start > this.maxBytes) this.drop(this.pending.length);
        break;
      }
      if (step === 'done') {
        const end = this.cursor;
        if (this.sawFrame && this.sawScan) {
          out.push(Buffer.from(this.pending.subarray(this.start, end)));
          this.counters.jpegs++;
        } else {
          this.counters.corrupt++;
          this.counters.discardedBytes += end - this.start;
        }
        this.reset(end);
      }
    }
    this.compact();
    return out;
  }

  stats(): JpegSplitterStats {
    return { ...this.counters };
  }

  /** Looks for the next SOI from the cursor; discards what lies before it. */
  private findStart(): boolean {
    const buf = this.pending;
    let i = buf.indexOf(0xff, this.cursor);
    while (i >= 0 && i + 1 < buf.length) {
      if (buf[i + 1] === SOI) {
        this.counters.discardedBytes += i - this.cursor;
        this.start = i;
        this.cursor = i + 2;
        this.inScan = false;
        this.sawFrame = false;
        this.sawScan = false;
        return true;
      }
      i = buf.indexOf(0xff, i + 1);
    }
    // Keep a trailing 0xFF: it may be the first half of the next SOI.
    const keep = buf.length > 0 && buf[buf.length - 1] === 0xff ? buf.length - 1 : buf.length;
    this.counters.discardedBytes += keep - this.cursor;
    this.cursor = keep;
    return false;
  }

  /** Parses the open picture from the cursor: 'done' at its EOI (cursor past it), 'more' when bytes are missing, 'next' after dropping it. */
  private advance(): 'done' | 'more' | 'next' {
    const buf = this.pending;
    for (;;) {
      if (this.inScan) {
        const i = buf.indexOf(0xff, this.cursor);
        if (i < 0 || i + 1 >= buf.length) {
          this.cursor = i < 0 ? buf.length : i;
          return 'more';
        }
        const next = buf[i + 1];
        if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) {
          this.cursor = i + 2;
          continue;
        }
        if (next === 0xff) {
          this.cursor = i + 1;
          continue;
        }
        this.inScan = false;
        this.cursor = i;
      }
      if (this.cursor + 2 > buf.length) return 'more';
      if (buf[this.cursor] !== 0xff) return this.tear(this.cursor);
      const marker = buf[this.cursor + 1];
      if (marker === 0xff) {
        this.cursor++; // fill byte
        continue;
      }
      if (marker === EOI) {
        this.cursor += 2;
        return 'done';
      }
      if (marker === SOI) return this.tear(this.cursor);
      if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
        this.cursor += 2;
        continue;
      }
      if (this.cursor + 4 > buf.length) return 'more';
      const length = buf.readUInt16BE(this.cursor + 2);
      if (length < 2) return this.tear(this.cursor + 2);
      if (this.cursor + 2 + length > buf.length) return 'more';
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) this.sawFrame = true;
      this.cursor += 2 + length;
      if (marker === SOS) {
        this.sawScan = true;
        this.inScan = true;
      }
    }
  }

  /** The open picture is malformed: drop it and look for the next SOI from `resumeAt`. */
  private tear(resumeAt: number): 'next' {
    this.counters.corrupt++;
    this.counters.discardedBytes += resumeAt - this.start;
    this.reset(resumeAt);
    return 'next';
  }

  private drop(upTo: number): void {
    this.counters.corrupt++;
    this.counters.discardedBytes += upTo - this.start;
    this.reset(upTo);
  }

  private reset(at: number): void {
    this.start = -1;
    this.cursor = at;
    this.inScan = false;
  }

  /** Forgets the bytes nobody needs any more. */
  private compact(): void {
    const from = this.start >= 0 ? this.start : this.cursor;
    if (from === 0) return;
    this.pending = this.pending.subarray(from);
    this.cursor -= from;
    if (this.start >= 0) this.start = 0;
  }
}

/** Default analysis rate of an MJPEG source, frames per second. */
export const DEFAULT_ANALYSIS_FPS = 5;

/**
 * argv of the one ffmpeg of an MJPEG `url:` source (pure): output 0 decodes for detection at
 * 1/2^lowres size, at most `analysisFps` pictures a second (chosen on arrival time, so a
 * camera's bogus stream timestamps cannot skew it), raw I420 on stdout with showinfo lines;
 * output 1 copies the camera's JPEGs unchanged to pipe 3.
 */
export function mjpegSourceArgs(url: string, options: MjpegOptions = {}): string[] {
  const lowres = options.lowres ?? 2;
  const fps = options.analysisFps ?? DEFAULT_ANALYSIS_FPS;
  // 10 % slack: a camera's jitter must not make a 15 fps stream analysed at 5 fps skip to 3.75.
  const gapS = (0.9 / fps).toFixed(4);
  const input = ['-rw_timeout', '10000000', '-fflags', 'nobuffer', '-flags', 'low_delay', '-use_wallclock_as_timestamps', '1'];
  if (url.startsWith('rtsp:') || url.startsWith('rtsps:')) input.unshift('-rtsp_transport', 'tcp');
  return [
    '-loglevel', 'info',
    ...input,
    '-lowres', String(lowres),
    '-i', url,
    '-map', '0:v:0', '-an', '-sn', '-dn',
    '-vf', `select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,${gapS})',scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p`,
    '-fps_mode', 'passthrough',
    '-pix_fmt', 'yuv420p', '-f', 'rawvideo', 'pipe:1',
    '-map', '0:v:0', '-an', '-sn', '-dn', '-c:v', 'copy', '-f', 'mjpeg', 'pipe:3',
  ];
}

/** What an MJPEG run reports besides frames. */
export interface MjpegRunEvents extends RunEvents {
  /** A whole camera JPEG and its arrival time (the clock of the frames' arrival times). */
  onJpeg(data: Buffer, arrivalUs: number): void;
  /** A picture the splitter dropped as malformed. */
  onCorruptJpeg(stats: JpegSplitterStats): void;
}

/**
 * Starts the ffmpeg of an MJPEG `url:` source (see {@link mjpegSourceArgs}): frames for the
 * detector on stdout (arrival time), the camera's JPEGs on pipe 3, cut by {@link JpegSplitter}.
 */
export function startMjpegRun(url: string, options: RunOptions & MjpegOptions, events: MjpegRunEvents): SourceRun {
  let child: ChildHandle;
  let buffers: FrameBuffers | null = null;
  // Frames of a network camera are stamped with their arrival: the pairer passes them through.
  const pairer = new PtsPairer<Buffer | null>((packed, ptsUs, fromStream) => events.onFrame(packed, ptsUs, fromStream), {
    waitMs: options.ptsWaitMs,
    useStream: false,
    discard: (packed) => packed && buffers?.discard(packed),
  });
  const onFrame = (packed: Buffer | null): void => pairer.pushFrame(packed, monotonicUs());
  const frames = createDeferredFrames((stream) => {
    events.onFormat(stream.width, stream.height, null);
    buffers = events.frameBuffers();
    return buffers;
  }, onFrame);
  const pipe = options.directReads === false ? stdoutPipe() : openFramePipe(options.logger);
  const splitter = new JpegSplitter(options.maxJpegBytes);
  try {
    child = spawnFfmpeg({
      name: 'source(mjpeg)',
      args: mjpegSourceArgs(url, options),
      stdio: ['pipe', pipe.stdout, 'pipe', 'pipe'],
      logger: options.logger,
      onStderrLine: (line) => frames.stderrLine(line),
    });
  } catch (error) {
    pipe.close();
    throw translateSpawnError(error, 'ffmpeg', 'install ffmpeg (sudo apt install ffmpeg)');
  }
  const jpegPipe = child.process.stdio[3] as Readable | null;
  let corrupt = 0;
  jpegPipe?.on('data', (chunk: Buffer) => {
    const arrivalUs = monotonicUs();
    for (const jpeg of splitter.push(chunk)) events.onJpeg(jpeg, arrivalUs);
    const stats = splitter.stats();
    if (stats.corrupt !== corrupt) {
      corrupt = stats.corrupt;
      events.onCorruptJpeg(stats);
    }
  });
  jpegPipe?.on('error', (error) => options.logger?.debug({ err: error }, 'camera: JPEG pipe error'));
  pipe.attach(child, frames.sink);
  return wrapRun(
    child,
    pipe,
    pairer,
    // A live camera never ends: a stream that closed, even cleanly, is an outage to restart from.
    (exit) => new CaptureError('CAPTURE_SOURCE_EXITED', `ffmpeg (MJPEG url source) stopped (${describeExit(exit)})`, describeExit(exit)),
    () => frames.close(),
  );
}
