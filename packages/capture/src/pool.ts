import { CaptureError } from './errors';
import type { Frame } from './frame';

/**
 * A bounded pool of frame buffers with explicit ownership, so the capture loop allocates no
 * frame-sized buffer per frame (a 720p I420 frame is 1.4 MB; allocating 30 of them a second
 * keeps the garbage collector busy on a Pi).
 *
 * Ownership: `acquire()` hands out a buffer with one reference, owned by the capture. The
 * capture fills it, wraps it in a {@link Frame} and calls its listeners synchronously; a
 * listener that keeps the frame beyond that call (the encoder until its pipe write completes,
 * the live view's pending frame, the newest frame kept for photos) takes a reference with
 * {@link retainFrame} and calls the returned release function exactly once. When the capture
 * has released its own reference and every holder has released theirs, the buffer goes back to
 * the pool. A frame that was never pooled (pool disabled, tests that build frames by hand)
 * needs nothing: `retainFrame` returns a release that does nothing.
 *
 * The pool never grows beyond `capacity`: when every buffer is held, `acquire()` returns null
 * and the capture drops the frame, counted with its reason, rather than allocating.
 */
export interface FramePool {
  /** Bytes of each buffer (a packed I420 frame). */
  readonly frameBytes: number;
  /** Most buffers the pool ever holds. */
  readonly capacity: number;
  /** A free buffer with one reference (the caller's), or null when all `capacity` are held. */
  acquire(): Buffer | null;
  /**
   * Wraps a buffer from `acquire()` in a frame that carries its ownership; the caller's
   * reference moves to the frame (release it with {@link releaseFrame} after delivery).
   */
  frame(data: Buffer, meta: { seq: number; ptsUs: number; wallMs: number; width: number; height: number }): Frame;
  /** Returns a buffer from `acquire()` that never became a frame (a torn or cut frame). */
  discard(data: Buffer): void;
  /** True when `data` is one of this pool's buffers and currently held. */
  owns(data: Buffer): boolean;
  stats(): FramePoolStats;
}

/** Counters of a {@link FramePool}. */
export interface FramePoolStats {
  readonly capacity: number;
  /** Buffers allocated so far (lazily, up to `capacity`). */
  readonly allocated: number;
  /** Buffers held right now (by the capture or by consumers). */
  readonly inUse: number;
  /** Most buffers held at once since start. */
  readonly peakInUse: number;
  readonly acquired: number;
  /** Buffers returned to the pool. */
  readonly returned: number;
  /** `acquire()` calls that found every buffer held (each one a dropped frame). */
  readonly exhausted: number;
  /** Bytes the pool holds (allocated buffers), for the memory accounting in the status. */
  readonly bytes: number;
}

/** Options of {@link createFramePool}. */
export interface FramePoolOptions {
  readonly frameBytes: number;
  readonly capacity: number;
  /**
   * Fill returned buffers with this byte (tests): a consumer that reads a frame after releasing
   * it sees the poison instead of plausible pixels.
   */
  readonly poison?: number;
}

/** Releases one reference taken by {@link retainFrame}; a second call throws `CAPTURE_FRAME_DOUBLE_RELEASE`. */
export type FrameRelease = () => void;

interface Slot {
  readonly data: Buffer;
  y: Buffer;
  u: Buffer;
  v: Buffer;
  /** Width the plane views were cut for (0: not yet). */
  viewsWidth: number;
  refs: number;
  /** Bumped every time the slot returns to the pool: a frame of an older generation is dead. */
  generation: number;
  readonly pool: PoolImpl;
}

/** Where a pooled frame keeps its slot; a symbol so frames stay plain data to everyone else. */
const OWNER = Symbol('preroll.frameOwner');

interface PooledFrame extends Frame {
  readonly [OWNER]: { readonly slot: Slot; readonly generation: number };
}

const NOOP_RELEASE: FrameRelease = () => undefined;

/** Creates a frame pool; buffers are allocated on first use, never more than `capacity`. */
export function createFramePool(options: FramePoolOptions): FramePool {
  if (!Number.isInteger(options.frameBytes) || options.frameBytes <= 0) throw new RangeError(`frameBytes must be a positive integer, got ${options.frameBytes}`);
  if (!Number.isInteger(options.capacity) || options.capacity < 1 || options.capacity > 1024) throw new RangeError(`capacity must be an integer in [1, 1024], got ${options.capacity}`);
  return new PoolImpl(options);
}

class PoolImpl implements FramePool {
  readonly frameBytes: number;
  readonly capacity: number;
  private readonly poison: number | undefined;
  private readonly free: Slot[] = [];
  private readonly byBuffer = new Map<Buffer, Slot>();
  private allocated = 0;
  private inUse = 0;
  private peakInUse = 0;
  private acquired = 0;
  private returned = 0;
  private exhausted = 0;

  constructor(options: FramePoolOptions) {
    this.frameBytes = options.frameBytes;
    this.capacity = options.capacity;
    this.poison = options.poison;
  }

  acquire(): Buffer | null {
    let slot = this.free.pop();
    if (!slot) {
      if (this.allocated >= this.capacity) {
        this.exhausted++;
        return null;
      }
      const data = Buffer.alloc(this.frameBytes);
      slot = { data, y: data, u: data, v: data, viewsWidth: 0, refs: 0, generation: 0, pool: this };
      this.byBuffer.set(data, slot);
      this.allocated++;
    }
    slot.refs = 1;
    this.acquired++;
    this.inUse++;
    if (this.inUse > this.peakInUse) this.peakInUse = this.inUse;
    return slot.data;
  }

  frame(data: Buffer, meta: { seq: number; ptsUs: number; wallMs: number; width: number; height: number }): Frame {
    const slot = this.ownedSlot(data);
    const ySize = meta.width * meta.height;
    const cSize = (meta.width / 2) * (meta.height / 2);
    if (ySize + 2 * cSize !== this.frameBytes) throw new RangeError(`I420 ${meta.width}x${meta.height} does not fit a pool of ${this.frameBytes}-byte buffers`);
    // Plane views are made once per buffer and frame width: a frame costs one small object, not four.
    if (slot.viewsWidth !== meta.width) {
      slot.y = data.subarray(0, ySize);
      slot.u = data.subarray(ySize, ySize + cSize);
      slot.v = data.subarray(ySize + cSize, ySize + 2 * cSize);
      slot.viewsWidth = meta.width;
    }
    const { y, u, v } = slot;
    const frame: PooledFrame = { ...meta, data, y, u, v, [OWNER]: { slot, generation: slot.generation } };
    return frame;
  }

  discard(data: Buffer): void {
    this.unref(this.ownedSlot(data));
  }

  owns(data: Buffer): boolean {
    const slot = this.byBuffer.get(data);
    return slot !== undefined && slot.refs > 0;
  }

  stats(): FramePoolStats {
    return {
      capacity: this.capacity,
      allocated: this.allocated,
      inUse: this.inUse,
      peakInUse: this.peakInUse,
      acquired: this.acquired,
      returned: this.returned,
      exhausted: this.exhausted,
      bytes: this.allocated * this.frameBytes,
    };
  }

  /** Drops one reference; the last one returns the slot to the pool. */
  unref(slot: Slot): void {
    if (slot.refs <= 0) throw new CaptureError('CAPTURE_FRAME_DOUBLE_RELEASE', 'a frame buffer was released more often than it was retained');
    slot.refs--;
    if (slot.refs > 0) return;
    slot.generation++;
    if (this.poison !== undefined) slot.data.fill(this.poison);
    this.inUse--;
    this.returned++;
    this.free.push(slot);
  }

  private ownedSlot(data: Buffer): Slot {
    const slot = this.byBuffer.get(data);
    if (!slot || slot.refs <= 0) throw new CaptureError('CAPTURE_FRAME_RELEASED', 'this buffer is not held from this pool');
    return slot;
  }
}

function ownerOf(frame: Frame): { readonly slot: Slot; readonly generation: number } | undefined {
  return (frame as Partial<PooledFrame>)[OWNER];
}

/**
 * Takes a reference to a frame's buffer, for a consumer that keeps the frame beyond the
 * synchronous listener call; the buffer is not reused until the returned function is called.
 * Call it exactly once. Throws `CAPTURE_FRAME_RELEASED` when the frame's buffer has already
 * gone back to the pool (a use after release).
 */
export function retainFrame(frame: Frame): FrameRelease {
  const owner = ownerOf(frame);
  if (!owner) return NOOP_RELEASE;
  const { slot, generation } = owner;
  if (slot.generation !== generation || slot.refs <= 0) {
    throw new CaptureError('CAPTURE_FRAME_RELEASED', `frame ${frame.seq} was used after its buffer went back to the pool`, frame.seq);
  }
  slot.refs++;
  let released = false;
  return () => {
    if (released) throw new CaptureError('CAPTURE_FRAME_DOUBLE_RELEASE', `frame ${frame.seq} was released twice by the same holder`, frame.seq);
    released = true;
    slot.pool.unref(slot);
  };
}

/** One frame kept by reference (the newest frame, a frame waiting for a consumer): see {@link createFrameSlot}. */
export interface FrameSlot {
  /** The frame held, or null. */
  readonly frame: Frame | null;
  /** Holds `frame` (null: nothing), releasing the one held before. */
  hold(frame: Frame | null): void;
  /** Hands the frame held, with its reference, to the caller, who must call `release` once; the slot is then empty. */
  take(): { frame: Frame; release: FrameRelease } | null;
}

/**
 * A place for one frame that a consumer keeps beyond the listener call: holding a new frame
 * takes a reference on it and releases the previous one, so a pooled source never refills a
 * buffer that is still to be read.
 */
export function createFrameSlot(): FrameSlot {
  let frame: Frame | null = null;
  let release: FrameRelease | null = null;
  return {
    get frame() {
      return frame;
    },
    hold(next) {
      const nextRelease = next ? retainFrame(next) : null;
      release?.();
      frame = next;
      release = nextRelease;
    },
    take() {
      if (!frame || !release) return null;
      const taken = { frame, release };
      frame = null;
      release = null;
      return taken;
    },
  };
}

/** Releases the reference the capture holds on a frame it made with `FramePool.frame` (after delivery). */
export function releaseFrame(frame: Frame): void {
  const owner = ownerOf(frame);
  if (!owner) return;
  if (owner.slot.generation !== owner.generation) {
    throw new CaptureError('CAPTURE_FRAME_DOUBLE_RELEASE', `frame ${frame.seq} was released after its buffer went back to the pool`, frame.seq);
  }
  owner.slot.pool.unref(owner.slot);
}

/** True while a frame's buffer is held (always true for a frame that was never pooled). */
export function frameAlive(frame: Frame): boolean {
  const owner = ownerOf(frame);
  return !owner || (owner.slot.generation === owner.generation && owner.slot.refs > 0);
}
