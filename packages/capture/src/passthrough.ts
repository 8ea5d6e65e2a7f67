import type { Logger } from 'pino';
import { describeExit, ffprobeCommand, redactUrl, spawnChild } from '@preroll/process';
import { urlInputArgs } from './args';
import { createParameterSetKeeper, type AccessUnit } from './annexb';
import { CaptureError } from './errors';

/**
 * H.264 passthrough for network cameras that already send H.264: one ffmpeg reads the camera
 * once and writes two outputs,
 *
 *  1. the camera's own access units, `-c:v copy`, as an MPEG transport stream on fd 3, parsed in
 *     Node (see `ts-demux.ts`) into {@link CameraUnit}s with their 90 kHz timestamps: the pre-roll
 *     ring, the clips, the segments and the live fMP4 take these instead of the output of an
 *     encoder of our own (no decode + re-encode for the recording);
 *  2. a reduced raw I420 stream for the detector (scaled to `detectWidthPx`, thinned to about
 *     `detectFps` by `select`, which keeps each kept frame's own timestamp).
 *
 * ffmpeg gives both outputs the same input timestamps (shifted by the same start offset, and
 * with the same correction at a stream discontinuity), so a detector event at a frame's pts is
 * a pts of the ring: the pre-roll counts back on the camera's clock.
 */

/** How the passthrough source decodes for detection. */
export interface PassthroughOptions {
  /** Width of the frames decoded for detection, snapshots and the JPEG live view, pixels (never above the camera's). */
  readonly detectWidthPx: number;
  /** Frames per second decoded for detection (at most the camera's rate). */
  readonly detectFps: number;
}

/** Defaults of {@link PassthroughOptions}: twice the detector's default analysis width, and 5 frames a second. */
export const DEFAULT_PASSTHROUGH: PassthroughOptions = Object.freeze({ detectWidthPx: 640, detectFps: 5 });

/**
 * One access unit of the camera's H.264 stream: the recorder's {@link AccessUnit}, so the ring,
 * the recorder, the segmenter and the live view take it as if it came from the encoder. Every
 * keyframe unit carries SPS and PPS in band (added from the last ones seen when the camera sends
 * them only once); `width`/`height` are the camera's picture size (from the probe; the frames
 * for detection are smaller).
 */
export type CameraUnit = AccessUnit;

/** What ffprobe says about a network stream's first video stream. */
export interface StreamProbe {
  readonly codec: string;
  readonly profile: string | null;
  readonly pixFmt: string | null;
  readonly width: number;
  readonly height: number;
  /** Frames of reordering delay (B-frames); 0 when presentation order is decode order. */
  readonly hasBFrames: number;
  /** The stream's average frame rate, null when ffprobe cannot tell. */
  readonly fps: number | null;
}

/** H.264 profiles every browser's Media Source Extensions and `<video>` play. */
const BROWSER_PROFILES = new Set(['constrained baseline', 'baseline', 'main', 'high']);
/** Pixel formats of those profiles (4:2:0, 8 bits; `yuvj420p` is full-range 4:2:0). */
const BROWSER_PIX_FMTS = new Set(['yuv420p', 'yuvj420p']);

/**
 * Decides whether a probed stream can be recorded as it comes: H.264 in a profile and pixel
 * format browsers play, without B-frames (the ring, the clips and the live fMP4 keep units in
 * decode order with one timestamp each). Pure.
 */
export function passthroughDecision(probe: StreamProbe): { passthrough: boolean; reason: string } {
  if (probe.codec !== 'h264') return { passthrough: false, reason: `the stream is ${probe.codec}, not H.264: decoded and re-encoded` };
  if (!probe.profile || !BROWSER_PROFILES.has(probe.profile.toLowerCase())) {
    return { passthrough: false, reason: `H.264 profile "${probe.profile ?? 'unknown'}" does not play in browsers: decoded and re-encoded` };
  }
  if (!probe.pixFmt || !BROWSER_PIX_FMTS.has(probe.pixFmt)) {
    return { passthrough: false, reason: `pixel format ${probe.pixFmt ?? 'unknown'} does not play in browsers: decoded and re-encoded` };
  }
  if (probe.hasBFrames > 0) return { passthrough: false, reason: 'the stream has B-frames (reordered pictures): decoded and re-encoded' };
  return { passthrough: true, reason: `H.264 ${probe.profile} ${probe.width}x${probe.height}: recorded as the camera sends it` };
}

/** How a `url:` camera is recorded, chosen from its probe: see {@link urlRouteDecision}. */
export type UrlRoute = 'passthrough' | 'mjpeg' | 'encoder';

/**
 * Chooses how a probed `url:` camera is recorded (pure): its own H.264 as it comes
 * (`passthrough`, when {@link passthroughDecision} allows it and `passthrough` is `auto`), its
 * own JPEGs as the pre-roll with the encoder on demand (`mjpeg`, when it sends MJPEG and `mjpeg`
 * is `auto`), else decoded in full and encoded here (`encoder`). With the reason, for the status.
 */
export function urlRouteDecision(probe: StreamProbe, modes: { readonly passthrough: 'auto' | 'never'; readonly mjpeg: 'auto' | 'never' }): { route: UrlRoute; reason: string } {
  if (probe.codec === 'mjpeg') {
    if (modes.mjpeg === 'auto') return { route: 'mjpeg', reason: `MJPEG ${probe.width}x${probe.height}: the camera's JPEGs are the pre-roll and the live view, the encoder runs only while video is needed` };
    return { route: 'encoder', reason: 'camera.mjpeg.mode is never: the MJPEG stream is decoded in full and encoded all the time' };
  }
  if (modes.passthrough === 'never') return { route: 'encoder', reason: 'camera.passthrough.mode is never: decoded and re-encoded' };
  const decision = passthroughDecision(probe);
  return { route: decision.passthrough ? 'passthrough' : 'encoder', reason: decision.reason };
}

/**
 * Asks ffprobe what a network stream carries, bounded in time (`timeoutMs`, default 8000; a
 * camera that accepts and never answers is given up after at most 5 s of silence) and ended at
 * once when `signal` aborts (the server is stopping). Rejects with `CAPTURE_PROBE_FAILED` (the
 * camera did not answer, sent no video, or the probe was aborted).
 */
export async function probeStream(url: string, options: { timeoutMs?: number; signal?: AbortSignal; logger?: Logger } = {}): Promise<StreamProbe> {
  const timeoutMs = options.timeoutMs ?? 8000;
  const silenceUs = Math.min(5000, timeoutMs) * 1000;
  const input = urlInputArgs(url, { keepProbed: true })
    .slice(0, -2)
    .filter((arg) => arg !== '-flags' && arg !== 'low_delay')
    .map((arg, i, all) => (all[i - 1] === '-rw_timeout' ? String(silenceUs) : arg));
  const args = [
    '-hide_banner', '-v', 'error',
    ...input,
    // A live camera is read in real time: analyse one second of it, not ffprobe's default five.
    '-analyzeduration', '1000000',
    '-select_streams', 'v:0',
    '-show_entries', 'stream=codec_name,profile,pix_fmt,has_b_frames,width,height,avg_frame_rate',
    '-of', 'json',
    url,
  ];
  const failed = (why: string, cause?: unknown): CaptureError =>
    new CaptureError('CAPTURE_PROBE_FAILED', `ffprobe could not read ${redactUrl(url)}: ${why}`, redactUrl(url), { cause });
  if (options.signal?.aborted) throw failed('the probe was aborted');
  const child = spawnChild({ name: 'probe', command: ffprobeCommand(), args, stdio: ['ignore', 'pipe', 'pipe'], logger: options.logger });
  const chunks: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk));
  let why: string | null = null;
  const end = (reason: string): void => {
    why ??= reason;
    void child.stop({ graceMs: 0, termMs: 500 });
  };
  const timer = setTimeout(() => end(`no answer within ${timeoutMs} ms`), timeoutMs);
  const onAbort = (): void => end('the probe was aborted');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const exit = await child.exited;
  clearTimeout(timer);
  options.signal?.removeEventListener('abort', onAbort);
  if (why) throw failed(why);
  if (exit.code !== 0) throw failed(describeExit(exit));
  let streams: Array<Record<string, unknown>>;
  try {
    streams = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { streams?: Array<Record<string, unknown>> }).streams ?? [];
  } catch (error) {
    throw failed('no readable answer', error);
  }
  const stream = streams[0];
  if (!stream) throw new CaptureError('CAPTURE_PROBE_FAILED', `${redactUrl(url)} carries no video stream`, redactUrl(url));
  return {
    codec: String(stream.codec_name ?? 'unknown'),
    profile: typeof stream.profile === 'string' ? stream.profile : null,
    pixFmt: typeof stream.pix_fmt === 'string' ? stream.pix_fmt : null,
    width: Number(stream.width ?? 0),
    height: Number(stream.height ?? 0),
    hasBFrames: Number(stream.has_b_frames ?? 0),
    fps: parseRate(stream.avg_frame_rate),
  };
}

function parseRate(value: unknown): number | null {
  const match = typeof value === 'string' ? /^(\d+)\/(\d+)$/.exec(value) : null;
  if (!match || Number(match[2]) === 0 || Number(match[1]) === 0) return null;
  return Number(match[1]) / Number(match[2]);
}

/**
 * argv of the passthrough ffmpeg: output 1 raw I420 on stdout, reduced for detection, each
 * frame's pts printed by `showinfo`; output 2 the camera's H.264, copied, as MPEG-TS on fd 3.
 * `-muxdelay 0` keeps the transport stream's PTS equal to the frames' (the muxer otherwise adds
 * 0.7 s); non-keyframes before the first keyframe are not copied (ffmpeg's default), so the
 * unit stream of every run begins with a keyframe.
 */
export function passthroughArgs(url: string, options: PassthroughOptions): string[] {
  const width = Math.max(32, Math.round(options.detectWidthPx / 2) * 2);
  // `select` keeps a frame when at least 90 % of the wanted interval passed since the last one
  // kept: unlike `fps` it never moves a timestamp, so each frame's pts is also a unit's pts.
  const intervalS = (0.9 / options.detectFps).toFixed(4);
  const filters = [
    `select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,${intervalS})'`,
    // Never larger than the camera's picture; the height follows, even.
    `scale='min(${width}\\,trunc(iw/2)*2)':-2`,
    'format=yuv420p',
    'showinfo=checksum=0',
  ];
  return [
    '-loglevel', 'info',
    ...urlInputArgs(url, { keepProbed: true }),
    '-map', '0:v:0', '-an', '-sn', '-dn',
    '-vf', filters.join(','),
    '-fps_mode', 'passthrough',
    '-pix_fmt', 'yuv420p', '-f', 'rawvideo', 'pipe:1',
    '-map', '0:v:0', '-an', '-sn', '-dn',
    '-c:v', 'copy', '-muxdelay', '0', '-muxpreload', '0',
    '-f', 'mpegts', 'pipe:3',
  ];
}

/**
 * Turns the camera's access units into {@link CameraUnit}s: tells keyframes (IDR) apart, keeps
 * the newest SPS and PPS and puts them in front of a keyframe that lacks them, and holds back
 * every unit until the first keyframe with parameter sets (a clip can only start there). Pure
 * state over Buffers.
 */
export interface CameraUnitBuilder {
  /** The unit for these bytes, or null while no keyframe with parameter sets was seen. */
  build(data: Buffer, ptsUs: number, wallMs: number): CameraUnit | null;
  /** Units held back before the first usable keyframe. */
  skipped(): number;
  /** The camera's stream broke (a restart): the next unit must be a keyframe again. */
  reset(): void;
}

/** Creates a {@link CameraUnitBuilder} for a camera of the given picture size. */
export function createCameraUnitBuilder(size: { width: number; height: number }): CameraUnitBuilder {
  const parameterSets = createParameterSetKeeper();
  let started = false;
  let seq = 0;
  let skipped = 0;
  return {
    build(raw, ptsUs, wallMs) {
      const { data, keyframe, codec } = parameterSets.complete(raw);
      if (!started) {
        // A clip can only start at a keyframe that carries its parameter sets.
        if (!keyframe) {
          skipped++;
          return null;
        }
        started = true;
      }
      return { seq: seq++, ptsUs, wallMs, keyframe, data, codec, width: size.width, height: size.height };
    },
    skipped: () => skipped,
    reset() {
      started = false;
    },
  };
}

