import { readFile } from 'node:fs/promises';
import type { AnalysisGeometry } from './downscale';
import { DetectorError } from './errors';
import type { DetectorMask, MaskImage } from './types';

/**
 * Parses a binary (P5) or plain (P2) PGM image into a {@link MaskImage}. 16-bit images are
 * reduced to 8 bits (most significant byte). Throws `DETECTOR_BAD_MASK` on anything else.
 */
export function parsePgm(bytes: Uint8Array): MaskImage {
  const magic = String.fromCharCode(bytes[0] ?? 0, bytes[1] ?? 0);
  if (magic !== 'P5' && magic !== 'P2') throw new DetectorError('DETECTOR_BAD_MASK', 'not a PGM image (no P5/P2 magic)', { magic });
  // Header: magic, width, height, maxval, separated by whitespace, with # comments to line end.
  const fields: number[] = [];
  let pos = 2;
  while (fields.length < 3) {
    while (pos < bytes.length && isSpace(bytes[pos])) pos++;
    if (bytes[pos] === 0x23) {
      while (pos < bytes.length && bytes[pos] !== 0x0a && bytes[pos] !== 0x0d) pos++;
      continue;
    }
    let value = '';
    while (pos < bytes.length && bytes[pos] >= 0x30 && bytes[pos] <= 0x39) value += String.fromCharCode(bytes[pos++]);
    if (!value) throw new DetectorError('DETECTOR_BAD_MASK', 'PGM header is incomplete', { offset: pos });
    fields.push(Number(value));
  }
  const [width, height, maxval] = fields;
  if (width < 1 || height < 1 || width * height > 64 * 1024 * 1024 || maxval < 1 || maxval > 65535) {
    throw new DetectorError('DETECTOR_BAD_MASK', 'PGM has an impossible size or maxval', { width, height, maxval });
  }
  const data = new Uint8Array(width * height);
  const scale = (v: number): number => Math.round((v * 255) / maxval);
  if (magic === 'P5') {
    pos++; // exactly one whitespace byte separates the header from the raster
    const bytesPerPixel = maxval > 255 ? 2 : 1;
    if (bytes.length - pos < data.length * bytesPerPixel) {
      throw new DetectorError('DETECTOR_BAD_MASK', 'PGM raster is truncated', { expected: data.length * bytesPerPixel, got: bytes.length - pos });
    }
    for (let i = 0; i < data.length; i++) {
      data[i] = bytesPerPixel === 1 ? scale(bytes[pos + i]) : scale(bytes[pos + 2 * i] * 256 + bytes[pos + 2 * i + 1]);
    }
    return { width, height, data };
  }
  const text = new TextDecoder('latin1').decode(bytes.subarray(pos)).replace(/#[^\n\r]*/g, ' ');
  const values = text.split(/\s+/).filter(Boolean);
  if (values.length < data.length) throw new DetectorError('DETECTOR_BAD_MASK', 'PGM raster is truncated', { expected: data.length, got: values.length });
  for (let i = 0; i < data.length; i++) data[i] = scale(Math.min(maxval, Number(values[i]) || 0));
  return { width, height, data };
}

/**
 * Loads a mask file: PGM (P5/P2) parsed here, anything sharp reads (PNG, JPEG, WebP…) through
 * sharp, flattened to grey. Black (< 128) is masked out, white is watched.
 */
export async function loadMaskImage(path: string): Promise<MaskImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new DetectorError('DETECTOR_BAD_MASK', `cannot read mask ${path}: ${(error as Error).message}`, path, { cause: error });
  }
  if (bytes[0] === 0x50 && (bytes[1] === 0x35 || bytes[1] === 0x32)) return parsePgm(bytes);
  try {
    const sharp = (await import('sharp')).default;
    const { data, info } = await sharp(bytes).flatten({ background: '#000000' }).greyscale().raw().toBuffer({ resolveWithObject: true });
    const grey = new Uint8Array(info.width * info.height);
    // greyscale() still yields one channel per pixel; take the first should sharp keep more.
    for (let i = 0; i < grey.length; i++) grey[i] = data[i * info.channels];
    return { width: info.width, height: info.height, data: grey };
  } catch (error) {
    throw new DetectorError('DETECTOR_BAD_MASK', `cannot decode mask ${path}: ${(error as Error).message}`, path, { cause: error });
  }
}

/**
 * The watched pixels of the analysis image for a mask: a 0/1 byte per analysis pixel, or null
 * when nothing is masked. A mask image may be the analysis size (used as is) or any size with
 * the frame's aspect (each analysis pixel is watched when the mean of its area in the mask is
 * white, ≥ 128). A rectangle masks every analysis pixel whose centre lies inside it.
 * Throws `DETECTOR_BAD_MASK` when the image's aspect differs from the frame's by more than 2 %
 * or when nothing would be left to watch.
 */
export function buildAnalysisMask(mask: DetectorMask | undefined, geometry: AnalysisGeometry): Uint8Array | null {
  if (!mask || (!mask.image && !(mask.rects && mask.rects.length))) return null;
  const { width, height, box, frameWidth, frameHeight } = geometry;
  const watched = new Uint8Array(width * height).fill(1);
  const image = mask.image;
  if (image) {
    if (image.width === width && image.height === height) {
      for (let i = 0; i < watched.length; i++) watched[i] = image.data[i] >= 128 ? 1 : 0;
    } else {
      const aspectError = Math.abs((image.width / image.height) / (frameWidth / frameHeight) - 1);
      if (aspectError > 0.02) {
        throw new DetectorError('DETECTOR_BAD_MASK', `mask is ${image.width}x${image.height}, its aspect does not match the ${frameWidth}x${frameHeight} frame`, {
          mask: [image.width, image.height],
          frame: [frameWidth, frameHeight],
        });
      }
      const sx = image.width / frameWidth;
      const sy = image.height / frameHeight;
      for (let ay = 0; ay < height; ay++) {
        const y0 = Math.floor(ay * box * sy);
        const y1 = Math.max(y0 + 1, Math.min(image.height, Math.floor((ay + 1) * box * sy)));
        for (let ax = 0; ax < width; ax++) {
          const x0 = Math.floor(ax * box * sx);
          const x1 = Math.max(x0 + 1, Math.min(image.width, Math.floor((ax + 1) * box * sx)));
          let sum = 0;
          for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) sum += image.data[y * image.width + x];
          watched[ay * width + ax] = sum / ((y1 - y0) * (x1 - x0)) >= 128 ? 1 : 0;
        }
      }
    }
  }
  for (const rect of mask.rects ?? []) {
    for (let ay = 0; ay < height; ay++) {
      const cy = ((ay + 0.5) * box) / frameHeight;
      if (cy < rect.y || cy >= rect.y + rect.height) continue;
      for (let ax = 0; ax < width; ax++) {
        const cx = ((ax + 0.5) * box) / frameWidth;
        if (cx >= rect.x && cx < rect.x + rect.width) watched[ay * width + ax] = 0;
      }
    }
  }
  if (!watched.includes(1)) throw new DetectorError('DETECTOR_BAD_MASK', 'the mask hides the whole frame', { rects: mask.rects?.length ?? 0 });
  return watched;
}

/** Indices of the watched pixels, for the scoring loop. */
export function watchedIndices(watched: Uint8Array): Uint32Array {
  let count = 0;
  for (let i = 0; i < watched.length; i++) count += watched[i];
  const indices = new Uint32Array(count);
  let k = 0;
  for (let i = 0; i < watched.length; i++) if (watched[i]) indices[k++] = i;
  return indices;
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d || byte === 0x0b || byte === 0x0c;
}
