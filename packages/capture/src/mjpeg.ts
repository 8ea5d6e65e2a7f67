import { describeExit, spawnFfmpeg, type ChildHandle } from '@preroll/process';
import { parseShowinfoPtsTime } from './args';
import type { FrameBuffers } from './assembler';
import { CaptureError } from './errors';
import { PtsPairer } from './pts';
import { createDeferredFrames, monotonicUs, openFramePipe, stdoutPipe, translateSpawnError, type RunEvents, type RunOptions, type SourceRun } from './run';

/**
 * MJPEG cameras (most USB webcams, older IP cameras) already send every picture compressed.
 * An MJPEG `url:` source reads the camera with one ffmpeg that only copies its JPEGs, and
 * decodes in a second ffmpeg only the pictures the detector looks at:
 *
 *   camera ──► ffmpeg (copy) ──► camera JPEGs (stdout) ──► Node ─┬─► pre-roll, live view, on-demand encoder (every JPEG)
 *                                                               └─► ≤ analysisFps JPEGs ──► ffmpeg (decode at 1/2^lowres) ──► raw I420 ──► detector
 *
 * The decode for detection is done in the DCT domain at reduced size (`-lowres`: the IDCT,
 * colour conversion and pipe are 4-64x cheaper), and the Huffman decode, which no reduced size
 * saves, only for the analysed pictures; the copied JPEGs are the camera's own bytes, and each
 * analysed frame carries its JPEG's timestamp.
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
 * argv of the camera's ffmpeg of an MJPEG `url:` source (pure): it reads the camera and copies
 * its JPEGs unchanged to stdout, decoding nothing (Node picks the pictures to analyse).
 */
export function mjpegSourceArgs(url: string): string[] {
  const input = ['-rw_timeout', '10000000', '-fflags', 'nobuffer', '-flags', 'low_delay', '-use_wallclock_as_timestamps', '1'];
  if (url.startsWith('rtsp:') || url.startsWith('rtsps:')) input.unshift('-rtsp_transport', 'tcp');
  return ['-loglevel', 'error', ...input, '-i', url, '-map', '0:v:0', '-an', '-sn', '-dn', '-c:v', 'copy', '-f', 'mjpeg', 'pipe:1'];
}

/**
 * The reduction for the detection decoder of an MJPEG camera `cameraWidth` pixels wide (pure):
 * the largest `lowres` (0-3) whose decoded width (ffmpeg rounds up) is still at least the
 * detector's `analysisWidth`, so the decoder never throws away detail the detector would use
 * and never decodes more than it needs (640 → 2: 160 px; 480 → 1: 240 px; 1920 → 3: 240 px).
 */
export function mjpegLowresFor(cameraWidth: number, analysisWidth: number): 0 | 1 | 2 | 3 {
  for (const lowres of [3, 2, 1] as const) {
    if (Math.ceil(cameraWidth / 2 ** lowres) >= analysisWidth) return lowres;
  }
  return 0;
}

/**
 * argv of the detection decoder of an MJPEG source (pure): the pictures Node picked, as a
 * multipart stream on stdin, decoded at 1/2^lowres size to raw I420 on stdout, with a showinfo
 * line per picture. Multipart with `Content-Length` because ffmpeg's raw `mjpeg` input cuts a
 * picture only when the next one starts (one analysed picture, 200 ms at 5 fps, of delay);
 * the multipart reader hands each part on as soon as its bytes are in. One showinfo line per
 * decoded picture, in the order they were written: the frame of the oldest picture in hand.
 */
export function mjpegDecoderArgs(lowres: 0 | 1 | 2 | 3 = 2): string[] {
  return [
    '-loglevel', 'info',
    '-probesize', '32', '-analyzeduration', '0',
    '-lowres', String(lowres),
    '-f', 'mpjpeg', '-i', 'pipe:0',
    '-map', '0:v:0', '-an', '-sn', '-dn',
    '-vf', 'scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p,showinfo=checksum=0',
    '-fps_mode', 'passthrough',
    '-pix_fmt', 'yuv420p', '-f', 'rawvideo', 'pipe:1',
  ];
}

/** True for ffmpeg's line about a picture it could not decode (ffmpeg 5: "Error while decoding stream", 7: "Error submitting packet to decoder"). Pure. */
export function isDecodeErrorLine(line: string): boolean {
  return /Error (while decoding stream|submitting packet to decoder)/.test(line);
}

/**
 * Chooses the camera pictures the detector analyses (pure): at most `fps` a second, by arrival
 * time. 10 % slack: a camera's jitter must not make a 15 fps stream analysed at 5 fps skip to
 * 3.75. A picture not taken (the decoder still busy) leaves the next one eligible.
 */
export class AnalysisPicker {
  private lastUs: number | null = null;
  private readonly gapUs: number;

  constructor(fps: number) {
    this.gapUs = (0.9 / fps) * 1e6;
  }

  /** True when a picture arriving at `arrivalUs` is due for analysis. */
  due(arrivalUs: number): boolean {
    return this.lastUs === null || arrivalUs - this.lastUs >= this.gapUs || arrivalUs < this.lastUs;
  }

  /** The picture arriving at `arrivalUs` was handed to the decoder. */
  taken(arrivalUs: number): void {
    this.lastUs = arrivalUs;
  }
}

const PART_END = Buffer.from('\r\n', 'latin1');

/** Pictures handed to the decoder and not yet back, beyond which a due picture is skipped (a live edge: the detector wants the newest). */
const MAX_DECODING = 3;

/** What an MJPEG run reports besides frames. */
export interface MjpegRunEvents extends RunEvents {
  /**
   * A whole camera JPEG and its arrival time (the clock of the frames' timestamps); `analysed`
   * when it was handed to the detection decoder (its frame then carries this same time).
   */
  onJpeg(data: Buffer, arrivalUs: number, analysed: boolean): void;
  /** A picture the splitter dropped as malformed. */
  onCorruptJpeg(stats: JpegSplitterStats): void;
  /** A picture due for analysis was skipped: the decoder still had `MAX_DECODING` pictures. */
  onDecoderBusy?(): void;
}

/**
 * Starts an MJPEG `url:` source: the camera's ffmpeg copies its JPEGs to stdout (see
 * {@link mjpegSourceArgs}), {@link JpegSplitter} cuts them, and only the pictures the detector
 * analyses ({@link AnalysisPicker}) go to a second ffmpeg that decodes them at reduced size
 * ({@link mjpegDecoderArgs}): the Huffman decode, the one cost a reduced-size decode cannot
 * shrink, is paid for the analysed pictures only. Each frame is stamped with its JPEG's
 * arrival time. The run ends when either process ends; the other is then stopped.
 */
export function startMjpegRun(url: string, options: RunOptions & MjpegOptions, events: MjpegRunEvents): SourceRun {
  let buffers: FrameBuffers | null = null;
  let stopping = false;
  // Arrival times of the pictures in the decoder, in the order they were written to it.
  const decoding: { arrivalUs: number }[] = [];
  const pairer = new PtsPairer<Buffer | null>((packed, ptsUs) => events.onFrame(packed, ptsUs, false), {
    waitMs: options.ptsWaitMs,
    useStream: true,
    onFallback: events.onFallback,
    discard: (packed) => packed && buffers?.discard(packed),
  });
  const frames = createDeferredFrames(
    (stream) => {
      events.onFormat(stream.width, stream.height, null);
      buffers = events.frameBuffers();
      return buffers;
    },
    (packed) => pairer.pushFrame(packed, monotonicUs()),
  );
  const onDecoderLine = (line: string): void => {
    if (parseShowinfoPtsTime(line) !== null) {
      // The decoder keeps the order it was given: this frame is the oldest picture in hand.
      const entry = decoding.shift();
      pairer.pushPts(entry ? entry.arrivalUs : monotonicUs());
      return;
    }
    // A picture the decoder rejected (the splitter lets through only whole JPEGs with a frame
    // header and a scan, so only damaged tables get here) gives no frame: its entry goes. The
    // oldest one is that picture when ffmpeg logs in order (ffmpeg 5); ffmpeg 7 decodes and
    // filters in threads of their own and may log it before the frames of earlier pictures,
    // which then carry the next picture's time (at most the pictures in hand, one analysis
    // interval late).
    if (isDecodeErrorLine(line)) decoding.shift();
    frames.stderrLine(line);
  };
  const pipe = options.directReads === false ? stdoutPipe() : openFramePipe(options.logger);
  let decoder: ChildHandle;
  let camera: ChildHandle;
  try {
    decoder = spawnFfmpeg({
      name: 'source(mjpeg decoder)',
      args: mjpegDecoderArgs(options.lowres ?? 2),
      stdio: ['pipe', pipe.stdout, 'pipe'],
      logger: options.logger,
      keepInTail: (line) => !line.includes('showinfo') && !line.startsWith('[Parsed_'),
      onStderrLine: onDecoderLine,
    });
  } catch (error) {
    pipe.close();
    throw translateSpawnError(error, 'ffmpeg', 'install ffmpeg (sudo apt install ffmpeg)');
  }
  try {
    camera = spawnFfmpeg({ name: 'source(mjpeg)', args: mjpegSourceArgs(url), stdio: ['pipe', 'pipe', 'pipe'], logger: options.logger });
  } catch (error) {
    void decoder.stop({ graceMs: 0, termMs: 1500 });
    pipe.close();
    throw translateSpawnError(error, 'ffmpeg', 'install ffmpeg (sudo apt install ffmpeg)');
  }
  pipe.attach(decoder, frames.sink);
  const decoderIn = decoder.stdin;
  decoderIn?.on('error', (error) => options.logger?.debug({ err: error }, 'camera: decoder input error'));
  const picker = new AnalysisPicker(options.analysisFps ?? DEFAULT_ANALYSIS_FPS);
  const splitter = new JpegSplitter(options.maxJpegBytes);
  let corrupt = 0;
  const analyse = (jpeg: Buffer, arrivalUs: number): boolean => {
    if (!decoderIn || decoderIn.destroyed || decoderIn.writableEnded || !picker.due(arrivalUs)) return false;
    if (decoding.length >= MAX_DECODING) {
      events.onDecoderBusy?.();
      return false;
    }
    picker.taken(arrivalUs);
    const head = Buffer.from(`--frame\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`, 'latin1');
    decoding.push({ arrivalUs });
    // One writev for the three parts: a write to a pipe is a system call and a wake-up of ffmpeg.
    decoderIn.cork();
    decoderIn.write(head);
    decoderIn.write(jpeg);
    decoderIn.write(PART_END);
    decoderIn.uncork();
    return true;
  };
  camera.stdout?.on('data', (chunk: Buffer) => {
    const arrivalUs = monotonicUs();
    for (const jpeg of splitter.push(chunk)) events.onJpeg(jpeg, arrivalUs, analyse(jpeg, arrivalUs));
    const stats = splitter.stats();
    if (stats.corrupt !== corrupt) {
      corrupt = stats.corrupt;
      events.onCorruptJpeg(stats);
    }
  });
  camera.stdout?.on('error', (error) => options.logger?.debug({ err: error }, 'camera: JPEG pipe error'));
  const finished = (async () => {
    // Whichever ends first ends the run: a decoder without pictures, or pictures without a decoder, is no camera.
    const first = await Promise.race([camera.exited.then((exit) => ({ who: 'camera' as const, exit })), decoder.exited.then((exit) => ({ who: 'decoder' as const, exit }))]);
    // The decoder finishes what it was given and ends at the end of its input (killed if it has not within 3 s).
    const stopped = await Promise.all([camera.stop({ graceMs: 0, termMs: 1500 }), decoder.stop({ graceMs: 3000, termMs: 1500 })]);
    await pipe.done;
    pipe.close();
    pairer.drain();
    pairer.close();
    frames.close();
    const exit = first.who === 'camera' ? first.exit : stopped[0];
    if (stopping) return { exit, error: null };
    const which = first.who === 'camera' ? 'ffmpeg (MJPEG url source)' : 'ffmpeg (MJPEG detection decoder)';
    // A live camera never ends: a stream that closed, even cleanly, is an outage to restart from.
    const error = new CaptureError('CAPTURE_SOURCE_EXITED', `${which} stopped (${describeExit(first.exit)})`, describeExit(first.exit));
    return { exit, error };
  })();
  return {
    child: camera,
    finished,
    pause: () => pipe.pause(),
    resume: () => pipe.resume(),
    async stop() {
      stopping = true;
      pipe.resume();
      // SIGTERM at once (see wrapRun); the decoder ends with its input, so its last frames still come out.
      await Promise.all([camera.stop({ graceMs: 0, termMs: 1500 }), decoder.stop({ graceMs: 3000, termMs: 1500 })]);
    },
  };
}
