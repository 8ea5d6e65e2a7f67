import sharp from 'sharp';
import type { Frame } from '@preroll/capture';
import { i420ToRgbScaled, liveSize } from './scale';

/**
 * A JPEG of one frame at most `maxWidth` wide (the alerts' snapshot of the trigger moment).
 * The frame is scaled and converted into a new buffer before anything awaits, so a pooled frame buffer
 * may be reused by the capture as soon as this returns its promise.
 */
export function frameJpeg(frame: Frame, maxWidth: number, quality: number): Promise<Buffer> {
  const size = liveSize(frame.width, frame.height, maxWidth);
  const rgb = i420ToRgbScaled(frame, size.width, size.height);
  return sharp(rgb, { raw: { width: size.width, height: size.height, channels: 3 } }).jpeg({ quality, mozjpeg: false }).toBuffer();
}
