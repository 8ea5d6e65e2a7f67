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

/** Reads land here when they cannot go straight into a frame (the size of a pipe's buffer). */
const SCRATCH_BYTES = 64 * 1024;

/**
 * Where an assembler gets the buffers it fills: a {@link FramePool} (no allocation per frame)
 * or plain allocation. `acquire()` may return null (the pool is exhausted): the frame's bytes
 * are then skipped and the frame is reported as `null`, so its timestamp is still consumed.
 */
export interface FrameBuffers {
  acquire(): Buffer | null;
  /** Takes back a buffer that never became a frame (a partial frame at the end of a run). */
  discard(buffer: Buffer): void;
}

/** Plain allocation: a new buffer per frame, owned by whoever receives it. */
export function allocatingBuffers(bytes: number): FrameBuffers {
  return { acquire: () => Buffer.allocUnsafe(bytes), discard: () => undefined };
}

/**
 * Cuts a byte stream with no delimiters into frames of a fixed raw size, whatever the chunk
 * boundaries, and returns each frame packed (stride padding removed). Bytes are copied once,
 * straight from the chunk to their place in the packed frame; padding is skipped on the way.
 * Holds at most one partial frame. One per stream.
 */
export class FrameAssembler {
  private readonly rawBytes: number;
  private readonly packedBytes: number;
  private readonly lumaRawBytes: number;
  private readonly padded: boolean;
  private readonly buffers: FrameBuffers;
  /** The buffer being filled; null between frames and while a frame is skipped. */
  private current: Buffer | null = null;
  private skipping = false;
  private filled = 0;
  private scratch: Buffer | null = null;

  constructor(
    readonly layout: RawLayout,
    buffers?: FrameBuffers,
  ) {
    if (layout.strideY < layout.width || layout.strideY % 2 !== 0) {
      throw new RangeError(`stride ${layout.strideY} is below width ${layout.width} or odd`);
    }
    this.rawBytes = rawFrameBytes(layout);
    this.packedBytes = i420Bytes(layout.width, layout.height);
    this.lumaRawBytes = layout.strideY * layout.height;
    this.padded = layout.strideY !== layout.width;
    this.buffers = buffers ?? allocatingBuffers(this.packedBytes);
  }

  /** Raw bytes of the frame being filled (0 right after a frame boundary). */
  get pending(): number {
    return this.filled;
  }

  /**
   * Adds a chunk and calls `onFrame` with every frame it completes, packed, or with null for a
   * frame skipped because no buffer was free. The buffer passed to `onFrame` (and its
   * reference, for a pool) is owned by the receiver.
   */
  push(chunk: Buffer, onFrame: (packed: Buffer | null) => void): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.filled === 0 && this.current === null && !this.skipping) {
        this.current = this.buffers.acquire();
        this.skipping = this.current === null;
      }
      if (this.skipping) offset += this.skipSpan(chunk, offset);
      else offset += this.padded ? this.copyRowPart(chunk, offset) : this.copySpan(chunk, offset);
      if (this.filled === this.rawBytes) {
        const done = this.current;
        this.current = null;
        this.skipping = false;
        this.filled = 0;
        onFrame(done);
      }
    }
  }

  /** Discards a partial frame (after a restart the stream starts on a frame boundary again). */
  reset(): void {
    this.filled = 0;
    this.skipping = false;
  }

  /**
   * Where the next read from the camera pipe should land, for readers that choose their buffer
   * (a socket with `onread`): with no stride padding, straight into the frame being filled (no
   * copy, no allocation); with padding, or while a frame is skipped, a reusable scratch buffer.
   * Follow each read with {@link commitRead}.
   */
  readTarget(): Buffer {
    if (this.filled === 0 && this.current === null && !this.skipping) {
      this.current = this.buffers.acquire();
      this.skipping = this.current === null;
    }
    if (this.padded) return this.scratchBuffer();
    if (this.skipping) return this.scratchBuffer().subarray(0, Math.min(SCRATCH_BYTES, this.rawBytes - this.filled));
    return this.current!.subarray(this.filled, this.rawBytes);
  }

  /** `bytes` were read into the buffer {@link readTarget} returned; completes frames like {@link push}. */
  commitRead(bytes: number, onFrame: (packed: Buffer | null) => void): void {
    if (this.padded) {
      this.push(this.scratchBuffer().subarray(0, bytes), onFrame);
      return;
    }
    this.filled += bytes;
    if (this.filled === this.rawBytes) {
      const done = this.current;
      this.current = null;
      this.skipping = false;
      this.filled = 0;
      onFrame(done);
    }
  }

  /** Gives the buffer of a partial frame back (the run ended). The assembler can still be used. */
  close(): void {
    const held = this.current;
    this.current = null;
    this.reset();
    if (held) this.buffers.discard(held);
  }

  private scratchBuffer(): Buffer {
    this.scratch ??= Buffer.allocUnsafe(SCRATCH_BYTES);
    return this.scratch;
  }

  /** No buffer for this frame: its bytes are consumed and dropped. */
  private skipSpan(chunk: Buffer, offset: number): number {
    const take = Math.min(this.rawBytes - this.filled, chunk.length - offset);
    this.filled += take;
    return take;
  }

  /** No padding: raw and packed offsets are the same. */
  private copySpan(chunk: Buffer, offset: number): number {
    const take = Math.min(this.rawBytes - this.filled, chunk.length - offset);
    chunk.copy(this.current!, this.filled, offset, offset + take);
    this.filled += take;
    return take;
  }

  /** Padded rows: copies what is left of the current row (its visible part) and skips the padding. */
  private copyRowPart(chunk: Buffer, offset: number): number {
    const { width, strideY } = this.layout;
    let stride: number;
    let visible: number;
    let row: number;
    let col: number;
    let packedRowStart: number;
    if (this.filled < this.lumaRawBytes) {
      stride = strideY;
      visible = width;
      row = Math.floor(this.filled / stride);
      col = this.filled - row * stride;
      packedRowStart = row * width;
    } else {
      // Both chroma planes: rows of strideY/2 bytes, width/2 visible, one plane after the other.
      const rel = this.filled - this.lumaRawBytes;
      stride = strideY / 2;
      visible = width / 2;
      row = Math.floor(rel / stride);
      col = rel - row * stride;
      packedRowStart = width * this.layout.height + row * visible;
    }
    const take = Math.min(stride - col, chunk.length - offset);
    const copy = Math.min(take, visible - col);
    if (copy > 0) chunk.copy(this.current!, packedRowStart + col, offset, offset + copy);
    this.filled += take;
    return take;
  }
}
