import sharp from 'sharp';
import type { Frame } from '@preroll/capture';
import { jpegSize } from '@preroll/recorder';
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

/**
 * A camera's own JPEG at most `maxWidth` wide (an MJPEG camera, whose frames are decoded small
 * for the detector): the picture as it came when it fits, else resized once by sharp.
 */
export async function cameraJpeg(jpeg: Buffer, maxWidth: number, quality: number): Promise<Buffer> {
  const size = jpegSize(jpeg);
  if (size && size.width <= maxWidth) return jpeg;
  return sharp(jpeg).resize({ width: maxWidth }).jpeg({ quality, mozjpeg: false }).toBuffer();
}
