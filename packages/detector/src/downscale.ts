import { DetectorError } from './errors';

/**
 * Geometry of the analysis image: square `box`×`box` pixel blocks of the frame, each averaged
 * into one analysis pixel. Square integer boxes keep the aspect exactly and let the downscale
 * run as a tight integer loop; the right and bottom remainders (fewer than `box` pixels) are
 * not analysed.
 */
export interface AnalysisGeometry {
  readonly frameWidth: number;
  readonly frameHeight: number;
  /** Side of the square block of frame pixels behind one analysis pixel. */
  readonly box: number;
  /**
   * Every `rowStep`-th row of a block is read (1 below box 8, else 2): from box 8 up a block
   * holds 64+ pixels, and half of them average sensor noise down plenty (32–72 pixels), for
   * half the memory traffic — at 1080p reading the plane is most of the detector's cost.
   */
  readonly rowStep: number;
  readonly width: number;
  readonly height: number;
}

/**
 * Chooses the analysis size for a frame: the box side is the frame width over the wanted
 * analysis width, rounded, so a 1920x1080 frame gives 160x90 (box 12), 1280x720 gives 160x90
 * (box 8), 2028x1520 gives 156x116 (box 13) and 640x480 gives 160x120 (box 4).
 */
export function analysisGeometry(frameWidth: number, frameHeight: number, analysisWidth: number): AnalysisGeometry {
  if (!Number.isInteger(frameWidth) || !Number.isInteger(frameHeight) || frameWidth < 1 || frameHeight < 1) {
    throw new DetectorError('DETECTOR_BAD_FRAME', `frame size must be positive integers`, { width: frameWidth, height: frameHeight });
  }
  const box = Math.max(1, Math.round(frameWidth / Math.max(1, analysisWidth)));
  const width = Math.max(1, Math.floor(frameWidth / box));
  const height = Math.max(1, Math.floor(frameHeight / box));
  // A frame smaller than one box in height (very wide strips) still yields one row.
  const side = Math.min(box, frameHeight, frameWidth);
  return { frameWidth, frameHeight, box: side, width, height, rowStep: side >= ROW_STEP_FROM_BOX ? 2 : 1 };
}

/** From this box side on, every other row of a block is read (see `rowStep`). */
export const ROW_STEP_FROM_BOX = 8;

const LANES = 0x00ff00ff;

/**
 * Box-downscales a packed luma plane (`frameWidth` bytes per row, no padding) into `out`
 * (`width*height` bytes), each output pixel the rounded mean of its `box`×`box` block (of
 * every `rowStep`-th row of it: rows 0, 2, 4… from box 8 up).
 *
 * Speed is the point: at 1080p this reads 2 MB per frame. When the box is a multiple of 4 and
 * the plane is 4-byte aligned, it reads 32-bit words and adds two bytes per 16-bit lane at once
 * (SWAR); a 20x20 box at most sums 100 words per lane, 100·510 < 65536, so lanes never carry.
 * A plane that is not 4-byte aligned is first copied into `scratch.aligned` (kept by the caller
 * between frames). Other boxes run a plain byte loop.
 */
export function boxDownscale(plane: Uint8Array, geometry: AnalysisGeometry, out: Uint8Array, scratch?: { aligned?: Uint8Array }): Uint8Array {
  const { frameWidth, frameHeight, box, width, height, rowStep } = geometry;
  if (plane.length < frameWidth * frameHeight) {
    throw new DetectorError('DETECTOR_BAD_FRAME', `luma plane has ${plane.length} bytes, ${frameWidth}x${frameHeight} needs ${frameWidth * frameHeight}`, {
      bytes: plane.length,
    });
  }
  if (out.length < width * height) throw new RangeError(`output needs ${width * height} bytes`);
  if (box === 1) {
    // Already at the analysis size (an MJPEG camera decoded at a reduced size): each output
    // pixel is its own block's mean, so copying the rows gives the same bytes.
    for (let y = 0; y < height; y++) out.set(plane.subarray(y * frameWidth, y * frameWidth + width), y * width);
    return out;
  }
  const area = box * Math.ceil(box / rowStep);
  const half = area >>> 1;
  if (box % 4 === 0 && box <= 20 && frameWidth % 4 === 0) {
    let source = plane;
    if (plane.byteOffset % 4 !== 0) {
      // Pooled Buffers start anywhere; copying the rows read into an aligned copy still beats the byte loop.
      const bytes = frameWidth * frameHeight;
      if (!scratch) scratch = {};
      if (!scratch.aligned || scratch.aligned.length < bytes) scratch.aligned = new Uint8Array(bytes);
      const aligned = scratch.aligned;
      for (let row = 0; row < height * box; row++) {
        if ((row % box) % rowStep === 0) aligned.set(plane.subarray(row * frameWidth, (row + 1) * frameWidth), row * frameWidth);
      }
      source = aligned;
    }
    downscaleWords(new Int32Array(source.buffer, source.byteOffset, (frameWidth * frameHeight) >>> 2), frameWidth >>> 2, box, rowStep, width, height, area, half, out);
    return out;
  }
  const acc = new Uint32Array(width);
  for (let oy = 0; oy < height; oy++) {
    acc.fill(0);
    for (let r = 0; r < box; r += rowStep) {
      let i = (oy * box + r) * frameWidth;
      for (let ox = 0; ox < width; ox++) {
        let s = 0;
        for (let j = 0; j < box; j++) s += plane[i + j];
        i += box;
        acc[ox] += s;
      }
    }
    const o = oy * width;
    for (let ox = 0; ox < width; ox++) out[o + ox] = ((acc[ox] + half) / area) | 0;
  }
  return out;
}

function downscaleWords(
  words: Int32Array,
  wordsPerRow: number,
  box: number,
  rowStep: number,
  width: number,
  height: number,
  area: number,
  half: number,
  out: Uint8Array,
): void {
  const wordsPerBox = box >>> 2;
  if (box <= 16) {
    downscaleWordsInt32(words, wordsPerRow, box, rowStep, wordsPerBox, width, height, area, half, out);
    return;
  }
  // Two 16-bit lanes per output pixel, kept in a double so lane sums beyond 2^31 stay exact.
  const acc = new Float64Array(width);
  for (let oy = 0; oy < height; oy++) {
    acc.fill(0);
    for (let r = 0; r < box; r += rowStep) {
      let i = (oy * box + r) * wordsPerRow;
      for (let ox = 0; ox < width; ox++) {
        let s = 0;
        for (let j = 0; j < wordsPerBox; j++) {
          const a = words[i + j];
          s += (a & LANES) + ((a >> 8) & LANES);
        }
        i += wordsPerBox;
        acc[ox] += s;
      }
    }
    const o = oy * width;
    for (let ox = 0; ox < width; ox++) {
      const lanes = acc[ox];
      const sum = (lanes % 65536) + Math.floor(lanes / 65536);
      out[o + ox] = ((sum + half) / area) | 0;
    }
  }
}

/**
 * The common boxes (4, 8, 12, 16): the two lanes of a block fit one int32 accumulator. A lane
 * sums box²/2 bytes, at most 128·255 = 32640 < 32768 for box 16, so the high lane never reaches
 * the sign bit and the whole loop stays in int32 arithmetic (V8's fastest): loads through an
 * Int32Array view (a Uint32Array's values above 2^31 would become doubles), `>>` instead of
 * `>>>` (the mask drops the sign bits anyway).
 */
function downscaleWordsInt32(
  words: Int32Array,
  wordsPerRow: number,
  box: number,
  rowStep: number,
  wordsPerBox: number,
  width: number,
  height: number,
  area: number,
  half: number,
  out: Uint8Array,
): void {
  const acc = new Int32Array(width);
  for (let oy = 0; oy < height; oy++) {
    acc.fill(0);
    for (let r = 0; r < box; r += rowStep) {
      let i = (oy * box + r) * wordsPerRow;
      if (wordsPerBox === 3) {
        for (let ox = 0; ox < width; ox++) {
          const a = words[i];
          const b = words[i + 1];
          const c = words[i + 2];
          i += 3;
          acc[ox] = (acc[ox] + (a & LANES) + ((a >> 8) & LANES) + (b & LANES) + ((b >> 8) & LANES) + (c & LANES) + ((c >> 8) & LANES)) | 0;
        }
      } else if (wordsPerBox === 2) {
        for (let ox = 0; ox < width; ox++) {
          const a = words[i];
          const b = words[i + 1];
          i += 2;
          acc[ox] = (acc[ox] + (a & LANES) + ((a >> 8) & LANES) + (b & LANES) + ((b >> 8) & LANES)) | 0;
        }
      } else {
        for (let ox = 0; ox < width; ox++) {
          let s = 0;
          for (let j = 0; j < wordsPerBox; j++) {
            const a = words[i + j];
            s += (a & LANES) + ((a >> 8) & LANES);
          }
          i += wordsPerBox;
          acc[ox] = (acc[ox] + s) | 0;
        }
      }
    }
    const o = oy * width;
    for (let ox = 0; ox < width; ox++) {
      const lanes = acc[ox];
      out[o + ox] = (((lanes & 0xffff) + (lanes >>> 16) + half) / area) | 0;
    }
  }
}
