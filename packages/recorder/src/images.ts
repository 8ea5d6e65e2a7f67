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

/** A region of a picture in fractions of its size (0..1), e.g. a detector's motion box. */
export interface RegionBox {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** A rectangle in pixels of a picture (even offsets and sizes, inside the picture). */
export interface PixelBox {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** How thumbnails are cut: every card has the same shape, whatever the subject. */
export interface ThumbnailShape {
  /** Width of the thumbnail in pixels. Default 320. */
  readonly width?: number;
  /** Width / height of every thumbnail. Default 16 / 9. */
  readonly aspect?: number;
  /** Space added around the union of the boxes, as a fraction of its size on each side. Default 0.25. */
  readonly margin?: number;
  /** The crop is never enlarged more than this many times (a tiny subject stays in context). Default 2. */
  readonly maxUpscale?: number;
}

const DEFAULT_SHAPE = { width: 320, aspect: 16 / 9, margin: 0.25, maxUpscale: 2 };

/** The shape with its defaults (an option given as `undefined` takes the default). */
function resolveShape(shape: ThumbnailShape): typeof DEFAULT_SHAPE {
  return {
    width: shape.width ?? DEFAULT_SHAPE.width,
    aspect: shape.aspect ?? DEFAULT_SHAPE.aspect,
    margin: shape.margin ?? DEFAULT_SHAPE.margin,
    maxUpscale: shape.maxUpscale ?? DEFAULT_SHAPE.maxUpscale,
  };
}

/**
 * The crop of a `frameWidth` x `frameHeight` picture a thumbnail is made from (pure): the union
 * of `boxes` with a margin, widened to the thumbnail's aspect, at least `width / maxUpscale`
 * pixels wide, moved inside the picture. Without boxes: the largest centred crop of that aspect.
 */
export function thumbnailCrop(frameWidth: number, frameHeight: number, boxes: readonly RegionBox[], shape: ThumbnailShape = {}): PixelBox {
  const { width: thumbWidth, aspect, margin, maxUpscale } = resolveShape(shape);
  const valid = boxes.filter((b) => [b.x, b.y, b.width, b.height].every(Number.isFinite) && b.width > 0 && b.height > 0);
  let x0 = 0;
  let y0 = 0;
  let x1 = frameWidth;
  let y1 = frameHeight;
  if (valid.length > 0) {
    x0 = Math.max(0, Math.min(...valid.map((b) => b.x))) * frameWidth;
    y0 = Math.max(0, Math.min(...valid.map((b) => b.y))) * frameHeight;
    x1 = Math.min(1, Math.max(...valid.map((b) => b.x + b.width))) * frameWidth;
    y1 = Math.min(1, Math.max(...valid.map((b) => b.y + b.height))) * frameHeight;
    const mx = (x1 - x0) * margin;
    const my = (y1 - y0) * margin;
    x0 -= mx;
    x1 += mx;
    y0 -= my;
    y1 += my;
  }
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  let w = Math.max(x1 - x0, (y1 - y0) * aspect, thumbWidth / maxUpscale);
  let h = w / aspect;
  if (w > frameWidth) {
    w = frameWidth;
    h = w / aspect;
  }
  if (h > frameHeight) {
    h = frameHeight;
    w = h * aspect;
  }
  const even = (v: number): number => Math.max(2, Math.floor(v / 2) * 2);
  const cw = Math.min(even(w), frameWidth - (frameWidth % 2));
  const ch = Math.min(even(h), frameHeight - (frameHeight % 2));
  const clampEven = (v: number, max: number): number => Math.floor(Math.min(Math.max(0, v), max) / 2) * 2;
  return { x: clampEven(cx - cw / 2, frameWidth - cw), y: clampEven(cy - ch / 2, frameHeight - ch), width: cw, height: ch };
}

/** A thumbnail JPEG of `crop` of an I420 picture, at the shape's size (never enlarged past `maxUpscale`). */
export async function encodeThumbnail(image: I420Image, crop: PixelBox, shape: ThumbnailShape = {}): Promise<Buffer> {
  const { width: thumbWidth, aspect, maxUpscale } = resolveShape(shape);
  const rgb = i420ToRgb(image);
  const width = Math.max(2, Math.round(Math.min(thumbWidth, crop.width * maxUpscale)));
  const height = Math.max(2, Math.round(width / aspect));
  return sharp(rgb, { raw: { width: image.width, height: image.height, channels: 3 } })
    .extract({ left: crop.x, top: crop.y, width: crop.width, height: crop.height })
    .resize({ width, height, fit: 'cover' })
    .jpeg({ quality: 75 })
    .toBuffer();
}

/** JPEG of an I420 picture at full size. */
export async function encodeSnapshot(image: I420Image, options: { quality?: number } = {}): Promise<Buffer> {
  const rgb = i420ToRgb(image);
  return sharp(rgb, { raw: { width: image.width, height: image.height, channels: 3 } }).jpeg({ quality: options.quality ?? 85 }).toBuffer();
}
