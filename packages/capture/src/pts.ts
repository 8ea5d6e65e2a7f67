/**
 * Pairs frames with timestamps that arrive on a separate channel (rpicam-vid's `--save-pts`
 * pipe, ffmpeg's showinfo lines), one to one and in order, whichever arrives first.
 *
 * If a frame waits longer than `waitMs` for its timestamp, the channel is declared unusable
 * (e.g. an rpicam-vid that buffers the pts file) and every frame from then on, including the
 * waiting ones, is stamped with its arrival time.
 */
export class PtsPairer<T> {
  private readonly frames: { item: T; arrivalUs: number }[] = [];
  private readonly stamps: number[] = [];
  private timer: NodeJS.Timeout | null = null;
  private mode: 'paired' | 'arrival';

  constructor(
    private readonly emit: (item: T, ptsUs: number, fromStream: boolean) => void,
    private readonly options: { waitMs: number; useStream: boolean; onFallback?: (reason: string) => void; discard?: (item: T) => void },
  ) {
    this.mode = options.useStream ? 'paired' : 'arrival';
  }

  /** True while stream timestamps are used. */
  get paired(): boolean {
    return this.mode === 'paired';
  }

  /** A frame arrived at `arrivalUs` (monotonic microseconds). */
  pushFrame(item: T, arrivalUs: number): void {
    if (this.mode === 'arrival') {
      this.emit(item, arrivalUs, false);
      return;
    }
    const stamp = this.stamps.shift();
    if (stamp !== undefined) {
      this.emit(item, stamp, true);
      return;
    }
    this.frames.push({ item, arrivalUs });
    this.timer ??= setTimeout(() => this.fallback(`no timestamp within ${this.options.waitMs} ms of a frame`), this.options.waitMs);
  }

  /** A timestamp arrived on the side channel. */
  pushPts(ptsUs: number): void {
    if (this.mode === 'arrival') return;
    const waiting = this.frames.shift();
    if (!waiting) {
      // Bound the queue: timestamps of frames that never arrive (cut by ffmpeg) must not pile up.
      if (this.stamps.length < 1024) this.stamps.push(ptsUs);
      return;
    }
    if (this.frames.length === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.emit(waiting.item, ptsUs, true);
  }

  /** Stops the timer and forgets everything waiting (the run ended), handing each item to `discard`. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const waiting of this.frames.splice(0)) this.options.discard?.(waiting.item);
    this.stamps.length = 0;
  }

  /** Emits frames still waiting for a timestamp with their arrival time (end of stream). */
  drain(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const waiting of this.frames.splice(0)) this.emit(waiting.item, waiting.arrivalUs, false);
  }

  private fallback(reason: string): void {
    this.timer = null;
    if (this.mode === 'arrival') return;
    this.mode = 'arrival';
    this.stamps.length = 0;
    this.options.onFallback?.(reason);
    for (const waiting of this.frames.splice(0)) this.emit(waiting.item, waiting.arrivalUs, false);
  }
}
