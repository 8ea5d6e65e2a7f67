/**
 * A one-item mailbox for live consumers that may fall behind (JPEG encoding for viewers, a
 * detector in a worker): `put` replaces whatever was not taken yet and counts it as dropped,
 * so memory stays bounded and the consumer always works on the newest frame.
 */
export interface LatestSlot<T> {
  /** Stores a value, replacing (and counting as dropped) one not taken yet. */
  put(value: T): void;
  /** Takes the stored value, or null when there is none. */
  take(): T | null;
  /** Resolves with the next value: at once if one is stored, else when `put` is called. Rejects after `close()`. */
  next(): Promise<T>;
  /** Values replaced before anyone took them. */
  readonly dropped: number;
  /** Rejects a pending `next()` and ignores further puts. */
  close(): void;
}

/** Creates a {@link LatestSlot}. */
export function createLatestSlot<T>(): LatestSlot<T> {
  let stored: { value: T } | null = null;
  let waiter: { resolve: (value: T) => void; reject: (error: Error) => void } | null = null;
  let dropped = 0;
  let closed = false;
  return {
    put(value) {
      if (closed) return;
      if (waiter) {
        const w = waiter;
        waiter = null;
        w.resolve(value);
        return;
      }
      if (stored) dropped++;
      stored = { value };
    },
    take() {
      const value = stored ? stored.value : null;
      stored = null;
      return value;
    },
    next() {
      if (closed) return Promise.reject(new Error('slot closed'));
      if (stored) {
        const value = stored.value;
        stored = null;
        return Promise.resolve(value);
      }
      return new Promise<T>((resolve, reject) => {
        waiter?.reject(new Error('superseded by a newer next()'));
        waiter = { resolve, reject };
      });
    },
    get dropped() {
      return dropped;
    },
    close() {
      closed = true;
      stored = null;
      waiter?.reject(new Error('slot closed'));
      waiter = null;
    },
  };
}
