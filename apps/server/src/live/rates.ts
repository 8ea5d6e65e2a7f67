/**
 * What live viewing costs on this camera, measured: a running average of the bytes each live
 * quality sends, so the page's quality buttons show this camera's real cost (a noisy scene
 * costs H.264 several times what a calm one does) rather than a guess.
 */

/** A running average of a byte rate, over one-second buckets. */
export interface RateMeter {
  /** Counts `bytes` sent at `atMs` (wall time). */
  add(bytes: number, atMs: number): void;
  /** Bytes per second (running average), or null before a full second was measured. */
  bytesPerS(): number | null;
}

/**
 * One step of an exponential moving average with time constant `tauS`, over a bucket of `dtS`
 * seconds, after `seenS` seconds already averaged: until `tauS` seconds are seen it is the
 * plain mean (a young average must not lean on its first bucket). Pure.
 */
export function ewma(previous: number | null, sample: number, dtS: number, tauS: number, seenS = Infinity): number {
  if (previous === null) return sample;
  const alpha = Math.max(1 - Math.exp(-dtS / tauS), dtS / (seenS + dtS));
  return previous + alpha * (sample - previous);
}

/** Creates a rate meter with a time constant of `tauS` seconds (default 30). */
export function createRateMeter(tauS = 30): RateMeter {
  let bucketStartMs: number | null = null;
  let bucketBytes = 0;
  let rate: number | null = null;
  let seenS = 0;
  // The first second after a (re)start is partial (the encoder warming up): not counted.
  let warm = false;
  return {
    add(bytes, atMs) {
      if (bucketStartMs === null || atMs < bucketStartMs) {
        bucketStartMs = atMs;
        bucketBytes = 0;
        warm = false;
      }
      const elapsedMs = atMs - bucketStartMs;
      if (elapsedMs >= 1000) {
        // A long silence (no frames) is not a rate of zero for the next viewer: 5 s at most.
        const dtS = Math.min(elapsedMs / 1000, 5);
        if (warm) {
          rate = ewma(rate, (bucketBytes * 1000) / elapsedMs, dtS, tauS, seenS);
          seenS += dtS;
        }
        warm = true;
        bucketStartMs = atMs;
        bucketBytes = 0;
      }
      bucketBytes += bytes;
    },
    bytesPerS: () => rate,
  };
}

/** A running average of a size (e.g. bytes per JPEG). */
export interface SizeMeter {
  add(bytes: number): void;
  /** The average size, or null before the first. */
  mean(): number | null;
}

/** Creates a size meter weighting the last about `count` values. */
export function createSizeMeter(count = 50): SizeMeter {
  let mean: number | null = null;
  let seen = 0;
  return {
    add(bytes) {
      mean = ewma(mean, bytes, 1, count, seen);
      seen++;
    },
    mean: () => mean,
  };
}
