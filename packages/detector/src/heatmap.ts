import { DetectorError } from './errors';
import type { HeatMap } from './types';

/**
 * Colours a heat-map into RGBA at its own size: transparent where nothing changed, then blue →
 * yellow → red with rising opacity. Values are scaled to the map's own maximum (at least 32,
 * so a faint map of pure noise stays faint), and the lowest 15 % of that range is transparent.
 */
export function heatmapRgba(map: HeatMap): Uint8Array {
  checkMap(map);
  let max = 0;
  for (let i = 0; i < map.data.length; i++) if (map.data[i] > max) max = map.data[i];
  const top = Math.max(32, max);
  const floor = top * 0.15;
  const rgba = new Uint8Array(map.width * map.height * 4);
  for (let i = 0; i < map.data.length; i++) {
    const t = (map.data[i] - floor) / (top - floor);
    if (t <= 0) continue;
    const v = Math.min(1, t);
    // Blue (0) → yellow (0.5) → red (1).
    const r = v < 0.5 ? Math.round(510 * v) : 255;
    const g = v < 0.5 ? Math.round(510 * v) : Math.round(255 * (2 - 2 * v));
    const b = v < 0.5 ? Math.round(255 * (1 - 2 * v)) : 0;
    const o = i * 4;
    rgba[o] = r;
    rgba[o + 1] = g;
    rgba[o + 2] = b;
    rgba[o + 3] = Math.round(60 + 160 * v);
  }
  return rgba;
}

/**
 * Renders a heat-map as a PNG with alpha, scaled to `width`×`height` (the frame size), to lay
 * over the JPEG snapshot of the trigger frame.
 */
export async function renderHeatmapPng(map: HeatMap, width: number, height: number): Promise<Buffer> {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > 16384 || height > 16384) {
    throw new DetectorError('DETECTOR_BAD_HEATMAP', `heat-map output size must be 1..16384 pixels`, { width, height });
  }
  const rgba = heatmapRgba(map);
  const sharp = (await import('sharp')).default;
  return sharp(Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength), { raw: { width: map.width, height: map.height, channels: 4 } })
    .resize(width, height, { fit: 'fill', kernel: 'cubic' })
    .png({ compressionLevel: 6 })
    .toBuffer();
}

function checkMap(map: HeatMap): void {
  if (!Number.isInteger(map.width) || !Number.isInteger(map.height) || map.width < 1 || map.height < 1 || map.data.length !== map.width * map.height) {
    throw new DetectorError('DETECTOR_BAD_HEATMAP', 'heat-map data must be width*height bytes', { width: map.width, height: map.height, bytes: map.data.length });
  }
}
