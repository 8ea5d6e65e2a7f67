/** Pure retry decisions of webhook deliveries and uploads. */

import { backoffDelayMs } from '@preroll/process';

/** Retry bounds shared by webhooks and uploads. */
export interface RetryPolicy {
  /** Attempts in all, including the first. */
  readonly maxAttempts: number;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
}

/** How one webhook attempt ended (other than with a 2xx status). */
export type WebhookOutcome =
  | { readonly kind: 'status'; readonly status: number; readonly retryAfterS?: number | null }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'network'; readonly message: string };

/** True for statuses worth retrying: the receiver is overloaded, restarting or timed out. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/**
 * The delay before the next attempt after `attemptsMade` failed attempts, or `null` to give
 * up: after the last attempt, or on a status that will not change by itself (a 3xx or a 4xx
 * such as 400/401/404, which is the receiver rejecting this request). The delay doubles from
 * `retryInitialMs` up to `retryMaxMs`; a `Retry-After` of 429/503 lengthens it (never past
 * `retryMaxMs`).
 */
export function webhookRetryDelayMs(attemptsMade: number, outcome: WebhookOutcome, policy: RetryPolicy): number | null {
  if (attemptsMade >= policy.maxAttempts) return null;
  if (outcome.kind === 'status' && !isRetryableStatus(outcome.status)) return null;
  const delayMs = retryDelayMs(attemptsMade, policy);
  if (outcome.kind === 'status' && outcome.retryAfterS != null && outcome.retryAfterS > 0) {
    return Math.min(policy.retryMaxMs, Math.max(delayMs, Math.round(outcome.retryAfterS * 1000)));
  }
  return delayMs;
}

/** The delay before attempt `attemptsMade + 1`: `retryInitialMs * 2^(attemptsMade-1)`, capped. */
export function retryDelayMs(attemptsMade: number, policy: RetryPolicy): number {
  return backoffDelayMs(Math.max(0, attemptsMade - 1), { initialMs: policy.retryInitialMs, maxMs: policy.retryMaxMs, factor: 2, resetAfterMs: Infinity });
}

/** Seconds of a `Retry-After` header given as delta-seconds or an HTTP date (relative to `nowMs`); null when absent or unreadable. */
export function parseRetryAfterS(header: string | undefined, nowMs: number): number | null {
  if (header === undefined) return null;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isFinite(at) ? Math.max(0, (at - nowMs) / 1000) : null;
}

/** Waits `ms`, or less when `signal` aborts (a stop must not wait out a retry delay). */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
