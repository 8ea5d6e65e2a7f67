import sharp from 'sharp';

/** A packed I420 picture (planes back to back, no padding), e.g. a copy of a `Frame`'s data. */
export interface I420Image {
  readonly width: number;
  readonly height: number;
  readonly data: Buffer;
}

/**
 * Converts packed I420 (BT.601, limited range: what cameras and ffmpeg's `yuv420p` give) to
 * packed RGB, with integer arithmetic. Pure.
 */
export function i420ToRgb(image: I420Image): Buffer {
  const { width, height, data } = image;
  const cw = width >> 1;
  const ySize = width * height;
  const cSize = cw * (height >> 1);
  const rgb = Buffer.allocUnsafe(ySize * 3);
  for (let row = 0; row < height; row++) {
    const cRow = (row >> 1) * cw;
    for (let col = 0; col < width; col++) {
      const c = 298 * (data[row * width + col] - 16);
      const ci = cRow + (col >> 1);
      const d = data[ySize + ci] - 128;
      const e = data[ySize + cSize + ci] - 128;
      const o = (row * width + col) * 3;
      rgb[o] = clamp8((c + 409 * e + 128) >> 8);
      rgb[o + 1] = clamp8((c - 100 * d - 208 * e + 128) >> 8);
      rgb[o + 2] = clamp8((c + 516 * d + 128) >> 8);
    }
  }
  return rgb;
}

function clamp8(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** JPEG of an I420 picture at full size and a thumbnail `thumbWidth` wide (aspect kept). */
export async function encodeSnapshot(image: I420Image, options: { quality?: number; thumbWidth?: number } = {}): Promise<{ jpeg: Buffer; thumbnail: Buffer }> {
  const rgb = i420ToRgb(image);
  const raw = { raw: { width: image.width, height: image.height, channels: 3 as const } };
  const jpeg = await sharp(rgb, raw).jpeg({ quality: options.quality ?? 85 }).toBuffer();
  const thumbWidth = Math.min(options.thumbWidth ?? 320, image.width);
  const thumbnail = await sharp(rgb, raw).resize({ width: thumbWidth }).jpeg({ quality: 75 }).toBuffer();
  return { jpeg, thumbnail };
}
