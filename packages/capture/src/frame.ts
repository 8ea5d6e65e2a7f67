/**
 * A decoded camera frame in planar I420 (YUV 4:2:0) with the stride padding removed.
 *
 * `data` holds the three planes back to back (`width*height` luma bytes, then two chroma
 * planes of `(width/2)*(height/2)` bytes); `y`, `u` and `v` are views into it, not copies.
 * Frames are immutable by convention: consumers that keep one beyond the callback must not
 * write into it.
 */
export interface Frame {
  /** Sequence number given by the capture, counting every frame delivered since start (also across restarts). */
  readonly seq: number;
  /** Capture timestamp in microseconds on the source's monotonic clock (never a frame counter). */
  readonly ptsUs: number;
  /** Wall-clock time of the capture in milliseconds since the epoch (for file names and the gallery). */
  readonly wallMs: number;
  readonly width: number;
  readonly height: number;
  /** The whole I420 image, planes packed with no padding. */
  readonly data: Buffer;
  /** Luma plane, `width*height` bytes, row after row with no padding. */
  readonly y: Buffer;
  /** Cb plane, `(width/2)*(height/2)` bytes. */
  readonly u: Buffer;
  /** Cr plane, `(width/2)*(height/2)` bytes. */
  readonly v: Buffer;
}

/** Bytes of a packed I420 image of the given size (even width and height). */
export function i420Bytes(width: number, height: number): number {
  return width * height + 2 * (width / 2) * (height / 2);
}

/** Builds a {@link Frame} around a packed I420 buffer, creating the plane views. */
export function createFrame(init: {
  seq: number;
  ptsUs: number;
  wallMs: number;
  width: number;
  height: number;
  data: Buffer;
}): Frame {
  const { width, height, data } = init;
  const ySize = width * height;
  const cSize = (width / 2) * (height / 2);
  if (data.length !== ySize + 2 * cSize) {
    throw new RangeError(`I420 ${width}x${height} needs ${ySize + 2 * cSize} bytes, got ${data.length}`);
  }
  return {
    ...init,
    y: data.subarray(0, ySize),
    u: data.subarray(ySize, ySize + cSize),
    v: data.subarray(ySize + cSize, ySize + 2 * cSize),
  };
}
