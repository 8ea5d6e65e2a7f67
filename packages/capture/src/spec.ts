import { redactUrl } from '@preroll/process';
import { CaptureError } from './errors';

/** A parsed `--source` value. */
export type SourceSpec =
  | { readonly kind: 'rpicam'; readonly width?: number; readonly height?: number; readonly fps?: number; readonly camera?: number }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'v4l2'; readonly device: string }
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'demo' };

/** Schemes ffmpeg can read live video from that a `url:` source accepts. */
export const URL_SCHEMES = ['rtsp', 'rtsps', 'rtmp', 'http', 'https', 'srt', 'udp', 'tcp'] as const;

/** Largest frame side accepted anywhere (the Pi HQ camera's full width is 4056). */
export const MAX_SIDE = 4096;

/**
 * Parses a source spec: `rpicam[:WxH[@FPS]][#CAMERA]`, `file:PATH`, `v4l2:/dev/videoN`,
 * `url:URL` or `demo`. Pure; throws CaptureError with a stable code for anything else.
 */
export function parseSourceSpec(text: string): SourceSpec {
  const spec = text.trim();
  if (spec === 'demo') return { kind: 'demo' };
  if (spec === 'rpicam') return { kind: 'rpicam' };
  if (spec.startsWith('rpicam:') || spec.startsWith('rpicam#')) return parseRpicam(spec.slice('rpicam'.length));
  if (spec.startsWith('file:')) {
    const path = spec.slice('file:'.length);
    if (!path) throw new CaptureError('CAPTURE_BAD_SPEC', 'file: needs a path, e.g. file:/home/pi/clip.mp4', text);
    return { kind: 'file', path };
  }
  if (spec.startsWith('v4l2:')) {
    const device = spec.slice('v4l2:'.length);
    if (!/^\/dev\/[A-Za-z0-9_./-]+$/.test(device) || device.includes('..')) {
      throw new CaptureError('CAPTURE_BAD_SPEC', `v4l2: needs a device path such as /dev/video0, got "${device}"`, text);
    }
    return { kind: 'v4l2', device };
  }
  if (spec.startsWith('url:')) return { kind: 'url', url: checkUrl(spec.slice('url:'.length)) };
  throw new CaptureError(
    'CAPTURE_BAD_SPEC',
    `unknown source "${text}": use rpicam[:WxH@FPS], file:PATH, v4l2:/dev/videoN, url:URL or demo`,
    text,
  );
}

function parseRpicam(rest: string): SourceSpec {
  const match = /^(?::(\d+)x(\d+)(?:@(\d+(?:\.\d+)?))?)?(?:#(\d+))?$/.exec(rest);
  if (!match) {
    throw new CaptureError('CAPTURE_BAD_SPEC', `rpicam spec "rpicam${rest}" is not rpicam[:WxH[@FPS]][#CAMERA]`, rest);
  }
  const [, w, h, fps, camera] = match;
  const spec: { kind: 'rpicam'; width?: number; height?: number; fps?: number; camera?: number } = { kind: 'rpicam' };
  if (w && h) {
    const size = checkSize(Number(w), Number(h));
    spec.width = size.width;
    spec.height = size.height;
  }
  if (fps !== undefined) spec.fps = checkFps(Number(fps));
  if (camera !== undefined) spec.camera = Number(camera);
  return spec;
}

/** Validates a frame size: even sides (I420 has 2x2 chroma), 32..MAX_SIDE. */
export function checkSize(width: number, height: number): { width: number; height: number } {
  const ok = (n: number): boolean => Number.isInteger(n) && n >= 32 && n <= MAX_SIDE && n % 2 === 0;
  if (!ok(width) || !ok(height)) {
    throw new CaptureError('CAPTURE_BAD_SIZE', `frame size ${width}x${height} must be even and between 32 and ${MAX_SIDE}`, { width, height });
  }
  return { width, height };
}

/** Validates a frame rate: 0.1 to 120 frames per second. */
export function checkFps(fps: number): number {
  if (!Number.isFinite(fps) || fps < 0.1 || fps > 120) {
    throw new CaptureError('CAPTURE_BAD_SIZE', `frame rate ${fps} must be between 0.1 and 120`, fps);
  }
  return fps;
}

function checkUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (error) {
    throw new CaptureError('CAPTURE_UNSUPPORTED_URL', `"${raw}" is not a URL`, raw, { cause: error });
  }
  const scheme = url.protocol.replace(/:$/, '');
  if (!(URL_SCHEMES as readonly string[]).includes(scheme)) {
    throw new CaptureError('CAPTURE_UNSUPPORTED_URL', `url scheme "${scheme}" is not supported; use one of ${URL_SCHEMES.join(', ')}`, raw);
  }
  return raw;
}

/** The spec as text with credentials hidden, for logs and the status page. */
export function describeSpec(spec: SourceSpec): string {
  switch (spec.kind) {
    case 'rpicam':
      return `rpicam${spec.width ? `:${spec.width}x${spec.height}` : ''}${spec.fps ? `@${spec.fps}` : ''}${spec.camera !== undefined ? `#${spec.camera}` : ''}`;
    case 'file':
      return `file:${spec.path}`;
    case 'v4l2':
      return `v4l2:${spec.device}`;
    case 'url':
      return `url:${redactUrl(spec.url)}`;
    case 'demo':
      return 'demo';
  }
}
