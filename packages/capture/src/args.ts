import type { SourceSpec } from './spec';

/** Size and rate asked of a source; absent values mean "as the source delivers". */
export interface FrameFormat {
  readonly width?: number;
  readonly height?: number;
  readonly fps?: number;
}

/** Defaults for sources that need a size (the camera, the demo scene). */
export const DEFAULT_CAMERA_FORMAT = { width: 1280, height: 720, fps: 15 } as const;
export const DEFAULT_DEMO_FORMAT = { width: 640, height: 360, fps: 15 } as const;

/** The demo scene: an object crosses the frame for `moveS` seconds every `periodS`, starting at `startS`. */
export const DEMO_MOTION = { periodS: 20, startS: 10, moveS: 4 } as const;

/**
 * argv of `rpicam-vid` for raw YUV420 on stdout and, when `ptsPath` is given, timestamps
 * written to that FIFO. `--flush` makes it write (and flush the pts file) after every frame,
 * so neither stream lags. With `aiCamera`, the AI Camera's object detection runs on the sensor
 * (`--post-process-file`) and each frame's metadata, which carries the detector's output, is
 * written as JSON to `aiCamera.metadataPath` (see imx500.ts).
 */
export function rpicamArgs(
  format: { width: number; height: number; fps: number },
  options: { camera?: number; extraArgs?: readonly string[]; ptsPath?: string | null; aiCamera?: { postProcessFile: string; metadataPath: string } | null } = {},
): string[] {
  const args = ['-n', '-t', '0', '--codec', 'yuv420', '--width', String(format.width), '--height', String(format.height)];
  args.push('--framerate', String(format.fps), '--flush');
  if (options.ptsPath) args.push('--save-pts', options.ptsPath);
  if (options.aiCamera) {
    args.push('--post-process-file', options.aiCamera.postProcessFile, '--metadata', options.aiCamera.metadataPath, '--metadata-format', 'json');
  }
  if (options.camera !== undefined) args.push('--camera', String(options.camera));
  args.push(...(options.extraArgs ?? []), '-o', '-');
  return args;
}

/**
 * argv of an ffmpeg that decodes any other source to raw I420 on stdout. The `showinfo`
 * filter, last in the chain, prints each frame's pts on stderr (paired with the frames in
 * order); `-fps_mode passthrough` keeps ffmpeg from duplicating or dropping frames after it.
 */
export function ffmpegDecodeArgs(
  spec: Exclude<SourceSpec, { kind: 'rpicam' }>,
  format: FrameFormat,
  options: { realtime: boolean; loop: boolean; durationS?: number },
): string[] {
  const input: string[] = [];
  switch (spec.kind) {
    case 'file':
      if (options.realtime) input.push('-re');
      if (options.loop) input.push('-stream_loop', '-1');
      if (options.durationS !== undefined) input.push('-t', String(options.durationS));
      input.push('-i', spec.path);
      break;
    case 'demo': {
      const { width, height, fps } = { ...DEFAULT_DEMO_FORMAT, ...definedOnly(format) };
      input.push('-re', '-f', 'lavfi');
      if (options.durationS !== undefined) input.push('-t', String(options.durationS));
      input.push('-i', demoGraph(width, height, fps));
      break;
    }
    case 'v4l2':
      input.push('-f', 'v4l2');
      if (format.fps) input.push('-framerate', String(format.fps));
      if (format.width && format.height) input.push('-video_size', `${format.width}x${format.height}`);
      input.push('-i', spec.device);
      break;
    case 'url':
      input.push(...urlInputArgs(spec.url));
      break;
  }
  const filters: string[] = [];
  if (format.fps && spec.kind !== 'demo' && spec.kind !== 'v4l2') filters.push(`fps=${format.fps}`);
  filters.push(format.width && format.height ? `scale=${format.width}:${format.height}` : 'scale=trunc(iw/2)*2:trunc(ih/2)*2');
  filters.push('format=yuv420p', 'showinfo=checksum=0');
  return [
    '-loglevel', 'info',
    ...input,
    '-map', '0:v:0', '-an', '-sn', '-dn',
    '-vf', filters.join(','),
    '-fps_mode', 'passthrough',
    '-pix_fmt', 'yuv420p', '-f', 'rawvideo', '-',
  ];
}

/**
 * ffmpeg's input arguments for a network stream (`url:` sources). `keepProbed` keeps the
 * packets ffmpeg read while it analysed the stream (passthrough: the first keyframe is among
 * them, and every unit counts for the pre-roll); without it they are dropped for a lower
 * start-up delay (`-fflags nobuffer`).
 */
export function urlInputArgs(url: string, options: { keepProbed?: boolean } = {}): string[] {
  const input: string[] = [];
  const scheme = url.slice(0, url.indexOf(':'));
  if (scheme === 'rtsp' || scheme === 'rtsps') input.push('-rtsp_transport', 'tcp');
  // Give up on a silent network peer after 10 s instead of hanging forever.
  input.push('-rw_timeout', '10000000');
  if (!options.keepProbed) input.push('-fflags', 'nobuffer');
  input.push('-flags', 'low_delay', '-i', url);
  return input;
}

/**
 * The demo scene: a textured garden-like background with temporal sensor noise, and a
 * block that crosses it during DEMO_MOTION's window of every period.
 */
export function demoGraph(width: number, height: number, fps: number): string {
  const { periodS, startS, moveS } = DEMO_MOTION;
  const objW = Math.max(8, Math.round(width / 10 / 2) * 2);
  const objH = Math.max(8, Math.round(height / 4 / 2) * 2);
  const phase = `(mod(t,${periodS})-${startS})`;
  const x = `if(between(${phase},0,${moveS}),${phase}/${moveS}*(W+w)-w,-w-10)`;
  return [
    `color=c=0x4a6b3c:s=${width}x${height}:r=${fps}[sky]`,
    `[sky]drawgrid=w=${Math.round(width / 8)}:h=${Math.round(height / 6)}:t=2:c=0x2f4a28@0.8,` +
      `drawbox=x=0:y=${Math.round(height * 0.7)}:w=${width}:h=${height - Math.round(height * 0.7)}:c=0x6b5a3c:t=fill,` +
      `noise=alls=8:allf=t[bg]`,
    `color=c=0xd8c8a8:s=${objW}x${objH}:r=${fps}[obj]`,
    `[bg][obj]overlay=x='${x}':y=${Math.round(height * 0.45)}:eval=frame,format=yuv420p`,
  ].join(';');
}

function definedOnly(format: FrameFormat): FrameFormat {
  return Object.fromEntries(Object.entries(format).filter(([, v]) => v !== undefined));
}

/** Parses a showinfo frame line; returns its pts in time-base units, or null for other lines. */
export function parseShowinfoPts(line: string): number | null {
  const match = /showinfo.*\bn:\s*\d+\s+pts:\s*(-?\d+)\s/.exec(line);
  return match ? Number(match[1]) : null;
}

/**
 * The `pts_time` (seconds) of a showinfo frame line, or null for other lines. (Its byte
 * position `pos` is no help: ffmpeg 7 no longer prints it.)
 */
export function parseShowinfoPtsTime(line: string): number | null {
  const match = /showinfo.*\bn:\s*\d+\s+pts:\s*-?\d+\s+pts_time:\s*(-?[\d.]+)/.exec(line);
  return match ? Number(match[1]) : null;
}

/** Parses showinfo's `config in time_base: 1/15` line; returns [num, den] or null. */
export function parseShowinfoTimeBase(line: string): [number, number] | null {
  const match = /showinfo.*config in time_base:\s*(\d+)\/(\d+)/.exec(line);
  return match && Number(match[2]) > 0 ? [Number(match[1]), Number(match[2])] : null;
}

/** Parses ffmpeg's output stream line (`Stream #0:0: Video: rawvideo ..., 640x360 ..., 15 fps`). */
export function parseOutputStream(line: string): { width: number; height: number; fps: number | null } | null {
  const match = /Stream #\d+:\d+.*: Video: rawvideo.*?, (\d+)x(\d+)/.exec(line);
  if (!match) return null;
  const fps = /, ([\d.]+) fps/.exec(line);
  return { width: Number(match[1]), height: Number(match[2]), fps: fps ? Number(fps[1]) : null };
}
