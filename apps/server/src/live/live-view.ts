import type { Logger } from 'pino';
import sharp from 'sharp';
import { createFrameSlot, type Frame } from '@preroll/capture';
import { jpegSize } from '@preroll/recorder';
import { createSizeMeter } from './rates';
import { i420ToRgbScaled, liveSize } from './scale';

/** One JPEG of the live view, shared by every viewer. */
export interface LiveFrame {
  readonly jpeg: Buffer;
  readonly seq: number;
  readonly ptsUs: number;
  readonly wallMs: number;
  readonly width: number;
  readonly height: number;
}

/** Counters for the status page and the benchmark. */
export interface LiveStats {
  readonly viewers: number;
  /** JPEGs encoded since start (one per shown frame, whatever the number of viewers). */
  readonly encodes: number;
  /** Mean encode time, milliseconds. */
  readonly encodeMsAvg: number;
  /** Frames offered while someone watched that were not encoded (rate cap or encoder busy). */
  readonly skipped: number;
  /** Running average size of the JPEGs, bytes (null before the first). */
  readonly jpegBytesAvg: number | null;
  /** Camera JPEGs shown as they came (an MJPEG camera whose size fits the live width): no decode, no encode. */
  readonly passedThrough: number;
}

/** A JPEG as the camera sent it (an MJPEG camera), on the frames' clock. */
export interface CameraJpegLike {
  readonly seq: number;
  readonly ptsUs: number;
  readonly wallMs: number;
  readonly data: Buffer;
}

/**
 * The live view: turns frames into JPEGs once, at the live size and at most `maxFps`, only
 * while someone watches, and hands the same JPEG to every viewer. Frames arriving while a
 * JPEG is being made replace each other (latest only), so a slow encoder never queues.
 */
export interface LiveView {
  /** Offers a frame (called for every captured frame; cheap when nobody watches). */
  offer(frame: Frame): void;
  /**
   * Offers a camera JPEG instead (an MJPEG camera, whose frames are decoded small for the
   * detector only): shown as it is when it is no wider than the live width, else resized once
   * (latest only, like frames).
   */
  offerJpeg(jpeg: CameraJpegLike): void;
  /** Adds a viewer; returns a function that removes it. */
  subscribe(listener: (frame: LiveFrame) => void): () => void;
  /** The newest JPEG, if any was made in the last moments. */
  latest(): LiveFrame | null;
  stats(): LiveStats;
  /** Stops encoding and drops every viewer. */
  close(): void;
  /** Changes the size, rate and quality (a configuration applied live); the next JPEG uses them. */
  configure(next: Pick<LiveViewOptions, 'width' | 'maxFps' | 'jpegQuality'>): void;
}

/** Options of {@link createLiveView}. */
export interface LiveViewOptions {
  readonly width: number;
  readonly maxFps: number;
  readonly jpegQuality: number;
  readonly logger?: Logger;
}

/** Creates the live view (starts nothing; encoding begins with the first viewer). */
export function createLiveView(initial: LiveViewOptions): LiveView {
  let options = initial;
  const viewers = new Set<(frame: LiveFrame) => void>();
  let minGapUs = 1e6 / options.maxFps;
  // The frame waiting for the encoder, with a reference on its buffer (a pooled source would
  // otherwise reuse it); the frame being encoded needs none: it is scaled into a buffer of its
  // own before the first await.
  const pending = createFrameSlot();
  let busy = false;
  let closed = false;
  let lastPtsUs = -Infinity;
  let latest: LiveFrame | null = null;
  let encodes = 0;
  let encodeMsTotal = 0;
  let skipped = 0;
  let passedThrough = 0;
  const sizes = createSizeMeter();
  // The RGB picture sharp encodes from, reused for every JPEG: one encode runs at a time, and
  // sharp has read it when its promise settles. A new buffer per shown frame (690 kB at 640 px)
  // was garbage the allocator kept as resident memory.
  let rgbScratch: Buffer | undefined;

  const show = (frame: LiveFrame): void => {
    sizes.add(frame.jpeg.length);
    latest = frame;
    for (const viewer of viewers) viewer(frame);
  };

  /** A camera JPEG wider than the live view: one resize by sharp (decoded with shrink-on-load). */
  const resizeJpeg = async (jpeg: CameraJpegLike, width: number): Promise<void> => {
    busy = true;
    const started = performance.now();
    try {
      const { data, info } = await sharp(jpeg.data).resize({ width }).jpeg({ quality: options.jpegQuality, mozjpeg: false }).toBuffer({ resolveWithObject: true });
      encodes++;
      encodeMsTotal += performance.now() - started;
      show({ jpeg: data, seq: jpeg.seq, ptsUs: jpeg.ptsUs, wallMs: jpeg.wallMs, width: info.width, height: info.height });
    } catch (error) {
      options.logger?.error({ err: error }, 'live JPEG resize failed');
    } finally {
      busy = false;
    }
  };

  const encode = async (frame: Frame): Promise<void> => {
    busy = true;
    const started = performance.now();
    try {
      const size = liveSize(frame.width, frame.height, options.width);
      const rgb = i420ToRgbScaled(frame, size.width, size.height, rgbScratch);
      if (rgb.buffer !== rgbScratch?.buffer) rgbScratch = rgb;
      const jpeg = await sharp(rgb, { raw: { width: size.width, height: size.height, channels: 3 } })
        .jpeg({ quality: options.jpegQuality, mozjpeg: false })
        .toBuffer();
      encodes++;
      sizes.add(jpeg.length);
      encodeMsTotal += performance.now() - started;
      latest = { jpeg, seq: frame.seq, ptsUs: frame.ptsUs, wallMs: frame.wallMs, width: size.width, height: size.height };
      for (const viewer of viewers) viewer(latest);
    } catch (error) {
      options.logger?.error({ err: error }, 'live JPEG encoding failed');
    } finally {
      busy = false;
    }
    if (closed || viewers.size === 0) {
      pending.hold(null);
      return;
    }
    const next = pending.take();
    if (!next) return;
    if (next.frame.ptsUs - lastPtsUs >= minGapUs * 0.9) {
      lastPtsUs = next.frame.ptsUs;
      // encode() copies the frame before its first await: the reference can go when it returns.
      void encode(next.frame);
    }
    next.release();
  };

  return {
    offer(frame) {
      if (closed || viewers.size === 0) return;
      if (frame.ptsUs < lastPtsUs) lastPtsUs = -Infinity; // the source's clock was reset
      if (frame.ptsUs - lastPtsUs < minGapUs * 0.9) {
        skipped++;
        return;
      }
      if (busy) {
        if (pending.frame) skipped++;
        pending.hold(frame);
        return;
      }
      lastPtsUs = frame.ptsUs;
      void encode(frame);
    },
    offerJpeg(jpeg) {
      if (closed || viewers.size === 0) return;
      if (jpeg.ptsUs < lastPtsUs) lastPtsUs = -Infinity;
      if (jpeg.ptsUs - lastPtsUs < minGapUs * 0.9 || busy) {
        skipped++;
        return;
      }
      const size = jpegSize(jpeg.data);
      if (!size) {
        skipped++;
        return;
      }
      lastPtsUs = jpeg.ptsUs;
      if (size.width <= options.width) {
        passedThrough++;
        show({ jpeg: jpeg.data, seq: jpeg.seq, ptsUs: jpeg.ptsUs, wallMs: jpeg.wallMs, width: size.width, height: size.height });
        return;
      }
      void resizeJpeg(jpeg, options.width);
    },
    subscribe(listener) {
      viewers.add(listener);
      if (latest && Date.now() - latest.wallMs < 5000) listener(latest);
      return () => {
        viewers.delete(listener);
      };
    },
    latest: () => latest,
    stats: () => ({ viewers: viewers.size, encodes, encodeMsAvg: encodes ? encodeMsTotal / encodes : 0, skipped, jpegBytesAvg: sizes.mean(), passedThrough }),
    close() {
      closed = true;
      viewers.clear();
      pending.hold(null);
    },
    configure(next) {
      options = { ...options, ...next };
      minGapUs = 1e6 / options.maxFps;
    },
  };
}
