import type { EventLabel, LabelName } from '@preroll/layout';
import { MAX_LABELS } from '@preroll/layout';

/** A rectangle in pixels: left, top, width, height. */
export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** One detection in frame pixels, before merging. */
export interface Detection {
  readonly label: LabelName;
  readonly subLabel: string;
  readonly confidence: number;
  readonly box: Rect;
}

/**
 * The region to crop around a motion rectangle: grown by `marginPct` of its size on each side,
 * then to a square (the detector's input is square, and stretching a tall person into a square
 * halves what the detector recognises), at least `minSide` pixels, shifted and clipped to stay
 * inside the frame. Integer pixels. Pure.
 */
export function cropAround(motion: Rect, frameWidth: number, frameHeight: number, marginPct = 25, minSide = 256): Rect {
  const mx = (motion.width * marginPct) / 100;
  const my = (motion.height * marginPct) / 100;
  const side = Math.max(motion.width + 2 * mx, motion.height + 2 * my, minSide);
  const width = Math.min(frameWidth, side);
  const height = Math.min(frameHeight, side);
  const cx = motion.x + motion.width / 2;
  const cy = motion.y + motion.height / 2;
  const x = Math.min(Math.max(0, cx - width / 2), frameWidth - width);
  const y = Math.min(Math.max(0, cy - height / 2), frameHeight - height);
  const left = Math.floor(x);
  const top = Math.floor(y);
  return { x: left, y: top, width: Math.min(frameWidth - left, Math.ceil(width)), height: Math.min(frameHeight - top, Math.ceil(height)) };
}

/**
 * Labels of an event from every detection of every frame and crop: the strongest sighting of
 * each sub-label (two cats in two frames are one `cat` label), strongest first, boxes rounded
 * to whole pixels, at most `MAX_LABELS`. Pure.
 */
export function mergeDetections(detections: readonly Detection[], minConfidence: number): EventLabel[] {
  const best = new Map<string, Detection>();
  for (const d of detections) {
    if (d.confidence < minConfidence) continue;
    const seen = best.get(d.subLabel);
    if (!seen || d.confidence > seen.confidence) best.set(d.subLabel, d);
  }
  return [...best.values()]
    .sort((a, b) => b.confidence - a.confidence || a.subLabel.localeCompare(b.subLabel))
    .slice(0, MAX_LABELS)
    .map((d) => ({
      label: d.label,
      subLabel: d.subLabel,
      confidence: Math.round(d.confidence * 1000) / 1000,
      box: [Math.round(d.box.x), Math.round(d.box.y), Math.round(d.box.width), Math.round(d.box.height)] as const,
    }));
}

/**
 * Bounding rectangle of the cells of a coarse mask (`width`×`height`, row-major) whose value is
 * at least `threshold`, scaled to a frame of `frameWidth`×`frameHeight`; null when none is.
 * Pure.
 */
export function maskBounds(mask: Uint8Array, width: number, height: number, threshold: number, frameWidth: number, frameHeight: number): Rect | null {
  let minX = width;
  let minY = height;
  let maxX = -1;
  let maxY = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (mask[y * width + x] < threshold) continue;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
    }
  }
  if (maxX < 0) return null;
  const sx = frameWidth / width;
  const sy = frameHeight / height;
  return { x: Math.floor(minX * sx), y: Math.floor(minY * sy), width: Math.ceil((maxX - minX + 1) * sx), height: Math.ceil((maxY - minY + 1) * sy) };
}
