import sharp from 'sharp';
import { createFrame, type Frame } from '@preroll/capture';
import type { JpegItem } from './jpeg-ring';

/**
 * Decodes a camera JPEG to a full-size I420 {@link Frame} (sharp, then BT.601 RGB → YCbCr with
 * 2x2 chroma averaging), for the few pictures an MJPEG camera needs at full size: the
 * snapshot of an event and a photo. Odd sides are cropped to even ones.
 */
export async function decodeJpegFrame(jpeg: JpegItem): Promise<Frame> {
  const { data: rgb, info } = await sharp(jpeg.data).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  const width = info.width & ~1;
  const height = info.height & ~1;
  const stride = info.width * 3;
  const data = Buffer.allocUnsafe(width * height * 1.5);
  const uOffset = width * height;
  const vOffset = uOffset + (width / 2) * (height / 2);
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    for (let x = 0; x < width; x++) {
      const i = row + x * 3;
      data[y * width + x] = clamp(((66 * rgb[i] + 129 * rgb[i + 1] + 25 * rgb[i + 2] + 128) >> 8) + 16);
    }
  }
  for (let y = 0; y < height; y += 2) {
    for (let x = 0; x < width; x += 2) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]] as const) {
        const i = (y + dy) * stride + (x + dx) * 3;
        r += rgb[i];
        g += rgb[i + 1];
        b += rgb[i + 2];
      }
      r /= 4;
      g /= 4;
      b /= 4;
      const c = (y / 2) * (width / 2) + x / 2;
      data[uOffset + c] = clamp(((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128);
      data[vOffset + c] = clamp(((112 * r - 94 * g - 18 * b + 128) >> 8) + 128);
    }
  }
  return createFrame({ seq: jpeg.seq, ptsUs: jpeg.ptsUs, wallMs: jpeg.wallMs, width, height, data });
}

function clamp(value: number): number {
  return value < 0 ? 0 : value > 255 ? 255 : value;
}
