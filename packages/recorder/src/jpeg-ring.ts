import type { Logger } from 'pino';

/** A camera JPEG as the pre-roll keeps it (structurally `CameraJpeg` of the capture). */
export interface JpegItem {
  readonly seq: number;
  readonly ptsUs: number;
  readonly wallMs: number;
  readonly data: Buffer;
}

/** Options of {@link createJpegRing}. */
export interface JpegRingOptions {
  /** Time kept behind the newest picture, milliseconds (the pre-roll plus the trigger lag, with slack). */
  readonly windowMs: number;
  /** Byte cap; the oldest pictures go first when it is passed (default 64 MiB). */
  readonly maxBytes?: number;
  readonly logger?: Logger;
}

/** What the ring holds, for `/api/status` (`pipeline.preRoll`) and tests. */
export interface JpegRingStats {
  readonly frames: number;
  readonly bytes: number;
  /** Time between the oldest and the newest picture, milliseconds. */
  readonly spanMs: number;
  /** Pictures dropped by the byte cap before their time was up. */
  readonly droppedForBytes: number;
}

/**
 * The pre-roll of an MJPEG camera: the camera's own JPEGs, bounded by age and by bytes. Every
 * picture is a keyframe, so any of them can start a clip; nothing is decoded or encoded until
 * an event needs it.
 */
export interface JpegRing {
  push(jpeg: JpegItem): void;
  /** Pictures from the newest one at or before `ptsUs` (or the oldest, if none is that old) to the newest, oldest first. */
  from(ptsUs: number): JpegItem[];
  newest(): JpegItem | null;
  /** Pictures per second over the ring, or null with fewer than two. */
  rate(): number | null;
  stats(): JpegRingStats;
}

/** Creates an empty {@link JpegRing}. */
export function createJpegRing(options: JpegRingOptions): JpegRing {
  const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  const items: JpegItem[] = [];
  let head = 0;
  let bytes = 0;
  let droppedForBytes = 0;
  let loggedAtMs = -Infinity;
  const size = (): number => items.length - head;
  const spanMs = (): number => (size() > 1 ? Math.round((items[items.length - 1].ptsUs - items[head].ptsUs) / 1000) : 0);
  const dropOldest = (): void => {
    bytes -= items[head].data.length;
    head++;
    // Compact now and then instead of shifting on every push.
    if (head > 256 && head * 2 > items.length) {
      items.splice(0, head);
      head = 0;
    }
  };
  return {
    push(jpeg) {
      items.push(jpeg);
      bytes += jpeg.data.length;
      const oldestKept = jpeg.ptsUs - options.windowMs * 1000;
      while (size() > 1 && items[head].ptsUs < oldestKept) dropOldest();
      let dropped = 0;
      while (size() > 1 && bytes > maxBytes) {
        dropOldest();
        dropped++;
      }
      if (dropped > 0) {
        droppedForBytes += dropped;
        const now = Date.now();
        if (now - loggedAtMs > 10_000) {
          loggedAtMs = now;
          options.logger?.warn({ dropped: droppedForBytes, bytes, maxBytes, spanMs: spanMs(), windowMs: options.windowMs }, 'pre-roll: JPEGs dropped by the byte cap before their time was up');
        }
      }
    },
    from(ptsUs) {
      let start = head;
      for (let i = items.length - 1; i >= head; i--) {
        if (items[i].ptsUs <= ptsUs) {
          start = i;
          break;
        }
      }
      return items.slice(start);
    },
    newest: () => (size() > 0 ? items[items.length - 1] : null),
    rate() {
      if (size() < 2) return null;
      const spanUs = items[items.length - 1].ptsUs - items[head].ptsUs;
      return spanUs > 0 ? ((size() - 1) * 1e6) / spanUs : null;
    },
    stats: () => ({
      frames: size(),
      bytes,
      spanMs: spanMs(),
      droppedForBytes,
    }),
  };
}

/** The size in a JPEG's frame header (SOFn), or null when there is none (pure). */
export function jpegSize(jpeg: Buffer): { width: number; height: number } | null {
  let i = 2;
  while (i + 4 <= jpeg.length) {
    if (jpeg[i] !== 0xff) return null;
    const marker = jpeg[i + 1];
    if (marker === 0xff) {
      i++;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return null;
    const length = jpeg.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (i + 9 > jpeg.length) return null;
      return { height: jpeg.readUInt16BE(i + 5), width: jpeg.readUInt16BE(i + 7) };
    }
    i += 2 + length;
  }
  return null;
}
