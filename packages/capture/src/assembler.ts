import { i420Bytes } from './frame';

/** Memory layout of one raw I420 frame as a camera writes it (rows padded to a stride). */
export interface RawLayout {
  readonly width: number;
  readonly height: number;
  /** Bytes per luma row in the raw stream (>= width). Chroma rows are `strideY / 2`. */
  readonly strideY: number;
}

/** Bytes of one raw frame: `strideY*H` luma plus two chroma planes of `(strideY/2)*(H/2)`. */
export function rawFrameBytes(layout: RawLayout): number {
  return layout.strideY * layout.height + 2 * (layout.strideY / 2) * (layout.height / 2);
}

/** Rounds `width` up to a multiple of `align` (64 on Pi 0-4, 128 on Pi 5). */
export function alignStride(width: number, align: number): number {
  return Math.ceil(width / align) * align;
}

/**
 * Cuts a byte stream with no delimiters into frames of a fixed raw size, whatever the chunk
 * boundaries, and returns each frame packed (stride padding removed). Holds at most one
 * partial frame. Not thread-safe; one per stream.
 */
export class FrameAssembler {
  private readonly rawBytes: number;
  private readonly packedBytes: number;
  private readonly padded: boolean;
  private current: Buffer;
  private filled = 0;

  constructor(readonly layout: RawLayout) {
    if (layout.strideY < layout.width || layout.strideY % 2 !== 0) {
      throw new RangeError(`stride ${layout.strideY} is below width ${layout.width} or odd`);
    }
    this.rawBytes = rawFrameBytes(layout);
    this.packedBytes = i420Bytes(layout.width, layout.height);
    this.padded = layout.strideY !== layout.width;
    this.current = Buffer.allocUnsafe(this.rawBytes);
  }

  /** Bytes of the frame being filled (0 right after a frame boundary). */
  get pending(): number {
    return this.filled;
  }

  /**
   * Adds a chunk and calls `onFrame` with every frame it completes, packed. The buffer passed
   * to `onFrame` is owned by the receiver.
   */
  push(chunk: Buffer, onFrame: (packed: Buffer) => void): void {
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(this.rawBytes - this.filled, chunk.length - offset);
      chunk.copy(this.current, this.filled, offset, offset + take);
      this.filled += take;
      offset += take;
      if (this.filled === this.rawBytes) {
        onFrame(this.finishFrame());
        this.filled = 0;
      }
    }
  }

  /** Discards a partial frame (after a restart the stream starts on a frame boundary again). */
  reset(): void {
    this.filled = 0;
  }

  private finishFrame(): Buffer {
    if (!this.padded) {
      const whole = this.current;
      this.current = Buffer.allocUnsafe(this.rawBytes);
      return whole;
    }
    return packI420(this.current, this.layout, Buffer.allocUnsafe(this.packedBytes));
  }
}

/** Copies a strided raw I420 frame into `out` with the padding removed; returns `out`. */
export function packI420(raw: Buffer, layout: RawLayout, out: Buffer): Buffer {
  const { width, height, strideY } = layout;
  let src = 0;
  let dst = 0;
  for (let row = 0; row < height; row++) {
    raw.copy(out, dst, src, src + width);
    src += strideY;
    dst += width;
  }
  const cw = width / 2;
  const cs = strideY / 2;
  const rows = height; // two chroma planes of height/2 rows each, laid out one after the other
  for (let row = 0; row < rows; row++) {
    raw.copy(out, dst, src, src + cw);
    src += cs;
    dst += cw;
  }
  return out;
}
