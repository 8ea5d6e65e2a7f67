import sharp from 'sharp';
import { ClassifyError } from './errors';
import { maskBounds, type Rect } from './geometry';
import { MODEL_INPUT } from './model';

/** An image in memory: packed RGB (3 bytes a pixel, no row padding). */
export interface RgbImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** A raw I420 frame as capture delivers it (Y plane `stride`×height, then U and V at half size). */
export interface I420Frame {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  /** Bytes per luma row (rpicam pads rows to 64 or 128); defaults to `width`. */
  readonly stride?: number;
}

/** Largest image side accepted (a 16 MP sensor is 4656 px wide). */
export const MAX_IMAGE_SIDE = 8192;

const checkSize = (width: number, height: number, what: string): void => {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE) {
    throw new ClassifyError('CLASSIFY_BAD_IMAGE', `${what}: size ${width}x${height} is outside 1..${MAX_IMAGE_SIDE}`, { width, height });
  }
};

const checkCrop = (crop: Rect, width: number, height: number): void => {
  const ok = [crop.x, crop.y, crop.width, crop.height].every(Number.isInteger) && crop.x >= 0 && crop.y >= 0 && crop.width >= 1 && crop.height >= 1 && crop.x + crop.width <= width && crop.y + crop.height <= height;
  if (!ok) throw new ClassifyError('CLASSIFY_BAD_IMAGE', `crop ${JSON.stringify(crop)} is not inside the ${width}x${height} image`, crop);
};

/**
 * Converts an I420 frame to packed RGB (BT.601 limited range, as libcamera and ffmpeg produce
 * for these cameras). Allocates one RGB buffer: called once per classified frame, not per
 * captured frame.
 */
export function i420ToRgb(frame: I420Frame): RgbImage {
  const { width, height } = frame;
  checkSize(width, height, 'I420 frame');
  const stride = frame.stride ?? width;
  const cStride = Math.ceil(stride / 2);
  const ySize = stride * height;
  const cSize = cStride * Math.ceil(height / 2);
  if (frame.data.length < ySize + 2 * cSize) {
    throw new ClassifyError('CLASSIFY_BAD_IMAGE', `I420 frame ${width}x${height} (stride ${stride}) needs ${ySize + 2 * cSize} bytes, got ${frame.data.length}`, frame.data.length);
  }
  const out = new Uint8Array(width * height * 3);
  const clamp = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : v);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const c = (y >> 1) * cStride + (x >> 1);
      const Y = 1.164 * (frame.data[y * stride + x] - 16);
      const U = frame.data[ySize + c] - 128;
      const V = frame.data[ySize + cSize + c] - 128;
      const o = (y * width + x) * 3;
      out[o] = clamp(Math.round(Y + 1.596 * V));
      out[o + 1] = clamp(Math.round(Y - 0.392 * U - 0.813 * V));
      out[o + 2] = clamp(Math.round(Y + 2.017 * U));
    }
  }
  return { data: out, width, height };
}

/**
 * The detector's input from part of an image: `crop` (whole image when absent) resized to
 * `MODEL_INPUT`² RGB. `source` is an encoded image (a JPEG or PNG path or buffer) or raw RGB.
 * sharp (libvips) decodes, crops and resizes in native code, so a 12 MP snapshot costs one
 * decode and never a 12 MP JavaScript buffer.
 */
export async function modelInput(source: string | Buffer | RgbImage, crop?: Rect): Promise<{ rgb: Uint8Array; width: number; height: number }> {
  try {
    const isRaw = typeof source === 'object' && !Buffer.isBuffer(source);
    const img = isRaw
      ? sharp(Buffer.from(source.data.buffer, source.data.byteOffset, source.data.byteLength), { raw: { width: source.width, height: source.height, channels: 3 } })
      : sharp(source as string | Buffer, { limitInputPixels: MAX_IMAGE_SIDE * MAX_IMAGE_SIDE });
    const meta = isRaw ? { width: source.width, height: source.height } : await img.metadata();
    const width = meta.width ?? 0;
    const height = meta.height ?? 0;
    checkSize(width, height, typeof source === 'string' ? source : 'image');
    if (crop) checkCrop(crop, width, height);
    const region = crop ? img.extract({ left: crop.x, top: crop.y, width: crop.width, height: crop.height }) : img;
    const { data } = await region
      .removeAlpha()
      .toColourspace('srgb')
      .resize(MODEL_INPUT, MODEL_INPUT, { fit: 'fill' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (data.length !== MODEL_INPUT * MODEL_INPUT * 3) {
      throw new ClassifyError('CLASSIFY_BAD_IMAGE', `decoded ${data.length} bytes where ${MODEL_INPUT * MODEL_INPUT * 3} were expected`, data.length);
    }
    return { rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height };
  } catch (error) {
    if (error instanceof ClassifyError) throw error;
    throw new ClassifyError('CLASSIFY_BAD_IMAGE', `cannot decode ${typeof source === 'string' ? source : 'the image'}: ${(error as Error).message}`, typeof source === 'string' ? source : undefined, { cause: error });
  }
}

/**
 * Where the motion was, from the event's heat-map PNG (alpha is opaque where the scene changed,
 * see the detector's `renderHeatmapPng`): the bounds of the cells at least half as hot as the
 * map's range allows, in frame pixels, or null for an empty map. Read at 64 px wide: coarse
 * is enough for a crop and costs nothing.
 */
export async function motionRegionFromHeatmap(heatmap: string | Buffer, frameWidth: number, frameHeight: number): Promise<Rect | null> {
  try {
    const { data, info } = await sharp(heatmap).ensureAlpha().extractChannel(3).resize({ width: 64 }).raw().toBuffer({ resolveWithObject: true });
    // renderHeatmapPng's alpha is 60 + 160·v for heat v in (0, 1]: 140 is half heat.
    return maskBounds(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), info.width, info.height, 140, frameWidth, frameHeight);
  } catch (error) {
    throw new ClassifyError('CLASSIFY_BAD_IMAGE', `cannot read the heat-map: ${(error as Error).message}`, typeof heatmap === 'string' ? heatmap : undefined, { cause: error });
  }
}
