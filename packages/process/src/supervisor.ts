import { createBackoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff';

/** Options of {@link createRestartSupervisor}. */
export interface SupervisorOptions {
  readonly backoff?: BackoffOptions;
  /** Give up after this many restarts in a row without a healthy run (default: never). */
  readonly maxConsecutive?: number;
  /** Do not keep the process alive for a scheduled restart alone (default false). */
  readonly unref?: boolean;
}

/**
 * The one restart policy of everything Preroll keeps running (the camera, the encoder, the
 * MQTT connection): after a failure, wait the backoff delay, then restart; a run that lasted
 * `backoff.resetAfterMs` counts as healthy and starts the delays over; after `maxConsecutive`
 * failed restarts in a row, give up. One pending restart at a time; `cancel()` on stop.
 */
export interface RestartSupervisor {
  /**
   * A run failed after `uptimeMs`: schedules `restart` and returns the delay, or returns null
   * when it gives up (nothing is scheduled). A restart already pending is kept (and its delay returned).
   */
  failed(uptimeMs: number, restart: () => void): number | null;
  /** The run is healthy again (e.g. connected): the next failure starts from the first delay. */
  reset(): void;
  /** Cancels the pending restart, if any. */
  cancel(): void;
  /** Restarts scheduled so far. */
  readonly restarts: number;
  /** A restart is waiting for its delay. */
  readonly pending: boolean;
}

/** Creates a restart supervisor (no timer runs until the first failure). */
export function createRestartSupervisor(options: SupervisorOptions = {}): RestartSupervisor {
  const backoffOptions = options.backoff ?? DEFAULT_BACKOFF;
  const backoff = createBackoff(backoffOptions);
  const maxConsecutive = options.maxConsecutive ?? Number.POSITIVE_INFINITY;
  let consecutive = 0;
  let restarts = 0;
  let timer: NodeJS.Timeout | null = null;
  let pendingDelayMs = 0;
  return {
    failed(uptimeMs, restart) {
      if (timer) return pendingDelayMs;
      if (uptimeMs >= backoffOptions.resetAfterMs) consecutive = 0;
      if (consecutive >= maxConsecutive) return null;
      consecutive++;
      restarts++;
      pendingDelayMs = backoff.next(uptimeMs);
      timer = setTimeout(() => {
        timer = null;
        restart();
      }, pendingDelayMs);
      if (options.unref) timer.unref();
      return pendingDelayMs;
    },
    reset() {
      consecutive = 0;
      backoff.reset();
    },
    cancel() {
      if (timer) clearTimeout(timer);
      timer = null;
    },
    get restarts() {
      return restarts;
    },
    get pending() {
      return timer !== null;
    },
  };
}
