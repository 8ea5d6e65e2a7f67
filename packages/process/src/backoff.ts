/** Settings of an exponential backoff, in milliseconds. */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
  /** After running this long without failing, the next delay starts from `initialMs` again. */
  readonly resetAfterMs: number;
}

/** Defaults used by the camera and encoder supervisors. */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000, factor: 2, resetAfterMs: 30_000 };

/**
 * The delay before restart number `attempt` (0-based): initial * factor^attempt, capped. Pure.
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF): number {
  return Math.min(options.maxMs, Math.round(options.initialMs * Math.pow(options.factor, Math.max(0, attempt))));
}

/**
 * Keeps the attempt counter of a supervisor: `next(uptimeMs)` returns the delay to wait before
 * the next restart, given how long the process ran before it failed.
 */
export function createBackoff(options: BackoffOptions = DEFAULT_BACKOFF): {
  next(uptimeMs: number): number;
  readonly attempts: number;
  reset(): void;
} {
  let attempt = 0;
  return {
    next(uptimeMs: number): number {
      if (uptimeMs >= options.resetAfterMs) attempt = 0;
      return backoffDelayMs(attempt++, options);
    },
    get attempts() {
      return attempt;
    },
    reset() {
      attempt = 0;
    },
  };
}
