import type { Frame } from '@preroll/capture';

/** A packed I420 picture. */
export interface I420Picture {
  readonly width: number;
  readonly height: number;
  readonly data: Buffer;
}

/** The even size a frame is shown at in the live view: `maxWidth` wide at most, aspect kept. Pure. */
export function liveSize(width: number, height: number, maxWidth: number): { width: number; height: number } {
  if (width <= maxWidth) return { width, height };
  const w = Math.max(2, Math.floor(maxWidth / 2) * 2);
  const h = Math.max(2, Math.round((height * w) / width / 2) * 2);
  return { width: w, height: h };
}

/**
 * Scales an I420 frame down with nearest-neighbour sampling on each plane: a few
 * milliseconds for a 1080p frame in plain JS, against tens for a full-size colour conversion.
 * Returns the frame itself when no scaling is needed.
 */
export function downscaleI420(frame: Frame | I420Picture, width: number, height: number): I420Picture {
  if (width === frame.width && height === frame.height) return frame;
  const out = Buffer.allocUnsafe(width * height * 1.5);
  const src = frame.data;
  const sw = frame.width;
  const sh = frame.height;
  samplePlane(src, 0, sw, sh, out, 0, width, height);
  const scw = sw >> 1;
  const sch = sh >> 1;
  const cw = width >> 1;
  const ch = height >> 1;
  samplePlane(src, sw * sh, scw, sch, out, width * height, cw, ch);
  samplePlane(src, sw * sh + scw * sch, scw, sch, out, width * height + cw * ch, cw, ch);
  return { width, height, data: out };
}

function samplePlane(src: Buffer, srcOffset: number, sw: number, sh: number, dst: Buffer, dstOffset: number, dw: number, dh: number): void {
  const xs = new Int32Array(dw);
  for (let x = 0; x < dw; x++) xs[x] = Math.min(sw - 1, Math.floor(((x + 0.5) * sw) / dw));
  for (let y = 0; y < dh; y++) {
    const sy = Math.min(sh - 1, Math.floor(((y + 0.5) * sh) / dh));
    const row = srcOffset + sy * sw;
    const out = dstOffset + y * dw;
    for (let x = 0; x < dw; x++) dst[out + x] = src[row + xs[x]];
  }
}
