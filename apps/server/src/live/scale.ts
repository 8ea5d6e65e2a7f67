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

/** Source index of each destination sample along one axis (nearest neighbour, centres aligned). */
function sampleMap(source: number, dest: number): Int32Array {
  const map = new Int32Array(dest);
  for (let i = 0; i < dest; i++) map[i] = Math.min(source - 1, Math.floor(((i + 0.5) * source) / dest));
  return map;
}

/**
 * Scales a packed I420 frame to `width`×`height` and converts it to packed RGB in one pass,
 * into `out` when it is large enough (the live view reuses one buffer for every JPEG), else
 * into a new buffer. The pixels are those of `downscaleI420` then `i420ToRgb` (the same
 * sampling of each plane, BT.601 studio range), without the intermediate picture. Returns the
 * RGB bytes (a view of `out` when it was used).
 */
export function i420ToRgbScaled(frame: Frame | I420Picture, width: number, height: number, out?: Buffer): Buffer {
  const bytes = width * height * 3;
  const rgb = out && out.length >= bytes ? out.subarray(0, bytes) : Buffer.allocUnsafe(bytes);
  const src = frame.data;
  const sw = frame.width;
  const sh = frame.height;
  const scw = sw >> 1;
  const sch = sh >> 1;
  const uOffset = sw * sh;
  const vOffset = uOffset + scw * sch;
  const xs = sampleMap(sw, width);
  const ys = sampleMap(sh, height);
  // Chroma is sampled on its own plane, as downscaleI420 does, then shared by 2×2 output pixels.
  const cxs = sampleMap(scw, width >> 1);
  const cys = sampleMap(sch, height >> 1);
  const lastCx = (width >> 1) - 1;
  const lastCy = (height >> 1) - 1;
  let o = 0;
  for (let y = 0; y < height; y++) {
    const row = ys[y] * sw;
    const cRow = cys[Math.min(y >> 1, lastCy)] * scw;
    for (let x = 0; x < width; x++) {
      const c = 298 * (src[row + xs[x]] - 16);
      const ci = cRow + cxs[Math.min(x >> 1, lastCx)];
      const d = src[uOffset + ci] - 128;
      const e = src[vOffset + ci] - 128;
      const r = (c + 409 * e + 128) >> 8;
      const g = (c - 100 * d - 208 * e + 128) >> 8;
      const b = (c + 516 * d + 128) >> 8;
      rgb[o] = r < 0 ? 0 : r > 255 ? 255 : r;
      rgb[o + 1] = g < 0 ? 0 : g > 255 ? 255 : g;
      rgb[o + 2] = b < 0 ? 0 : b > 255 ? 255 : b;
      o += 3;
    }
  }
  return rgb;
}
