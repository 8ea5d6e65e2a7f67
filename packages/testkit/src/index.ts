/**
 * @preroll/testkit: what the test suites share. Every wait is bounded (a failing test fails, it
 * never hangs), and everything a test starts is stopped by a clean-up stack that runs in
 * `afterEach` whatever happened.
 */

import { createServer } from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago (for a server a test starts as a child process). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves after `ms` milliseconds (a timer that is not kept alive past the test). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Options of {@link waitFor}. */
export interface WaitOptions {
  /** Give up after this long. Default 10 000 ms. */
  readonly timeoutMs?: number;
  /** Time between checks. Default 25 ms. */
  readonly intervalMs?: number;
  /** What is awaited, for the error message. */
  readonly what?: string;
}

/**
 * Checks `check` until it returns a truthy value, and resolves with it; rejects after
 * `timeoutMs` with an error naming `what`. `check` may be async.
 */
export async function waitFor<T>(check: () => T | Promise<T>, options: WaitOptions = {}): Promise<Exclude<T, false | null | undefined | 0 | ''>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as Exclude<T, false | null | undefined | 0 | ''>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what ?? 'a condition'}`);
    await sleep(options.intervalMs ?? 25);
  }
}

/** A stack of clean-up steps: what a test starts, it registers here; `run()` undoes it all, newest first. */
export interface CleanupStack {
  /** Registers `step` and returns `value` (so `const server = stack.defer(await start(), (s) => s.stop())` reads in one line). */
  defer<T>(value: T, step: (value: T) => unknown): T;
  /** Runs every step, newest first; a failing step does not stop the others. Rejects with the first failure after all ran. */
  run(): Promise<void>;
}

/** Creates a clean-up stack; call `run()` in `afterEach`/`afterAll` or `finally`. */
export function createCleanupStack(): CleanupStack {
  const steps: Array<() => unknown> = [];
  return {
    defer(value, step) {
      steps.push(() => step(value));
      return value;
    },
    async run() {
      let first: unknown = null;
      while (steps.length) {
        const step = steps.pop() as () => unknown;
        try {
          await step();
        } catch (error) {
          first ??= error;
        }
      }
      if (first) throw first;
    },
  };
}

export { makePushClient, parseForm, startSmtp, startStandIn, verifyVapid } from './alert-stand-ins';
export type { PushClient, Received, SmtpStandIn, StandIn } from './alert-stand-ins';
export { makeJpegs, startMjpegStream } from './mjpeg-stream';
export type { MjpegStream } from './mjpeg-stream';
