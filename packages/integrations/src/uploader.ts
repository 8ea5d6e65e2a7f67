/**
 * The rclone upload shell: one `rclone copyto` at a time, a bounded queue of recordings, retries
 * with backoff (a recording waiting for its retry does not hold up the ones behind it), and the
 * upload state written through the store's `setUploadState`.
 */

import { promises as fsp } from 'node:fs';
import type { Logger } from 'pino';
import { describeExit, ProcessError, spawnChild, which } from '@preroll/process';
import type { EventRecord } from '@preroll/store';
import type { UploadState } from '@preroll/layout';
import type { ResolvedUploadConfig } from './config';
import { IntegrationsError, type IntegrationsErrorCode } from './errors';
import { rcloneCopyArgs, redactRcloneArgs, uploadPlan, type UploadFile } from './rclone';
import { retryDelayMs } from './retry';

/** The store side of uploads, implemented by the server. */
export interface UploadCallbacks {
  /** Records the upload state of a recording (the store's `setUploadState`). */
  setUploadState(id: string, state: UploadState): Promise<unknown>;
  /**
   * Removes the local clip of an uploaded recording but keeps its index row (required when
   * `deleteLocalAfterUpload` is on); `remote` is where the clip went (secrets redacted). Never
   * called for a recording that was a favourite when queued; the server checks again, since it
   * may have been starred since. Resolves `false` when it kept the clip after all.
   */
  deleteLocal?(record: EventRecord, remote: string): Promise<unknown>;
}

/** Counters of the uploader. */
export interface UploadStats {
  /** Recordings uploaded since start. */
  readonly uploaded: number;
  /** Recordings given up (state `failed`). */
  readonly failed: number;
  /** Failed attempts that were retried. */
  readonly retries: number;
  /** Recordings waiting (including the one uploading). */
  readonly queued: number;
  /** Id of the recording being uploaded now. */
  readonly active: string | null;
  /** Local copies deleted after upload. */
  readonly deletedLocal: number;
  /** Whether the rclone program was found at start (null before start). */
  readonly rcloneFound: boolean | null;
  readonly lastError: string | null;
}

/** Options of {@link createUploader}. */
export interface UploaderOptions {
  readonly config: ResolvedUploadConfig;
  readonly dataDir: string;
  readonly callbacks?: UploadCallbacks;
  readonly logger?: Logger;
}

/** Uploads recordings with rclone, one at a time. */
export interface Uploader {
  /** Looks for rclone (a missing one is logged, not thrown: uploads then fail with `UPLOAD_RCLONE_NOT_FOUND`). */
  start(): void;
  /** Kills the upload in progress; recordings still queued keep the state `pending`. Resolves when the worker has exited. */
  stop(): Promise<void>;
  /**
   * Queues a recording and sets its state to `pending`; resolves once queued (not when
   * uploaded). A recording already queued is not queued twice (on demand, it is moved to run
   * next). Rejects with `UPLOAD_QUEUE_FULL`, or `UPLOAD_STATE_FAILED` when the state cannot be set.
   */
  enqueue(record: EventRecord, clipPath: string, onDemand: boolean): Promise<void>;
  /** Resolves when nothing is queued or uploading. */
  idle(): Promise<void>;
  stats(): UploadStats;
}

interface Job {
  readonly record: EventRecord;
  readonly clipPath: string;
  attempts: number;
  notBeforeMs: number;
}

type AttemptResult = { readonly ok: true } | { readonly ok: false; readonly code: IntegrationsErrorCode; readonly message: string; readonly permanent: boolean };

/** Creates the uploader; nothing runs until something is queued after {@link Uploader.start}. */
export function createUploader(options: UploaderOptions): Uploader {
  const { config, logger, callbacks } = options;
  const jobs = new Map<string, Job>();
  let active: { id: string; stop: (() => void) | null } | null = null;
  let worker: Promise<void> | null = null;
  let wake: (() => void) | null = null;
  let stopped = true;
  let rcloneFound: boolean | null = null;
  let idleWaiters: Array<() => void> = [];
  // Recordings between enqueue() and their entry in `jobs` (their `pending` state is being
  // written): idle() must wait for them too.
  let enqueuing = 0;
  const counters = { uploaded: 0, failed: 0, retries: 0, deletedLocal: 0 };
  let lastError: string | null = null;

  const setState = async (id: string, state: UploadState): Promise<void> => {
    if (!callbacks) return;
    try {
      await callbacks.setUploadState(id, state);
    } catch (error) {
      logger?.warn({ code: 'UPLOAD_STATE_FAILED', id, state, err: (error as Error).message }, `upload: cannot set state ${state} of ${id}`);
    }
  };

  const notifyIdle = (): void => {
    if (jobs.size > 0 || active !== null || enqueuing > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  };

  const runRclone = (file: UploadFile): Promise<AttemptResult> => {
    const args = rcloneCopyArgs(config, file);
    logger?.debug({ argv: [config.rcloneCommand, ...redactRcloneArgs(args)] }, 'upload: rclone');
    let child;
    try {
      child = spawnChild({ name: 'rclone', command: config.rcloneCommand, args, stdio: ['ignore', 'ignore', 'pipe'], stderrLines: 20 });
    } catch (error) {
      const missing = error instanceof ProcessError && error.code === 'PROC_BINARY_NOT_FOUND';
      return Promise.resolve({
        ok: false,
        code: missing ? 'UPLOAD_RCLONE_NOT_FOUND' : 'UPLOAD_ATTEMPT_FAILED',
        message: missing ? `${config.rcloneCommand} not found on PATH (install rclone)` : (error as Error).message,
        permanent: missing,
      });
    }
    let timedOut = false;
    const kill = (): void => void child.stop({ graceMs: 0, termMs: 2000 });
    if (active) active.stop = kill;
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, config.timeoutMs);
    return child.exited.then((info) => {
      clearTimeout(timer);
      if (active) active.stop = null;
      if (info.code === 0) return { ok: true } as const;
      const why = timedOut ? `timed out after ${config.timeoutMs} ms` : describeExit(info, 3);
      return { ok: false, code: 'UPLOAD_ATTEMPT_FAILED', message: `rclone copyto ${file.destination}: ${redactRcloneArgs([why])[0]}`, permanent: false } as const;
    });
  };

  const attempt = async (job: Job): Promise<AttemptResult> => {
    const plan = uploadPlan(config, job.record, job.clipPath, options.dataDir);
    for (const [i, file] of plan.entries()) {
      const exists = await fsp.stat(file.local).then(
        (s) => s.isFile(),
        () => false,
      );
      if (!exists) {
        // The clip is the point of the upload; a missing image or sidecar is only skipped.
        if (i === 0) return { ok: false, code: 'UPLOAD_FILE_MISSING', message: `${file.local} is not on disk`, permanent: true };
        logger?.debug({ id: job.record.id, file: file.local }, 'upload: optional file missing, skipped');
        continue;
      }
      if (stopped) return { ok: false, code: 'UPLOAD_ATTEMPT_FAILED', message: 'stopped', permanent: false };
      const result = await runRclone(file);
      if (!result.ok) return result;
    }
    return { ok: true };
  };

  const finish = async (job: Job, result: AttemptResult): Promise<void> => {
    const id = job.record.id;
    if (result.ok) {
      jobs.delete(id);
      counters.uploaded++;
      logger?.info({ id, attempts: job.attempts }, `upload: ${id} uploaded`);
      await setState(id, 'uploaded');
      if (config.deleteLocalAfterUpload && callbacks?.deleteLocal && !job.record.favorite) {
        try {
          const clip = uploadPlan(config, job.record, job.clipPath, options.dataDir)[0];
          if ((await callbacks.deleteLocal(job.record, redactRcloneArgs([clip.destination])[0])) !== false) counters.deletedLocal++;
        } catch (error) {
          lastError = `UPLOAD_DELETE_LOCAL_FAILED: ${(error as Error).message}`;
          logger?.warn({ code: 'UPLOAD_DELETE_LOCAL_FAILED', id, err: (error as Error).message }, `upload: could not delete local copy of ${id}`);
        }
      }
      return;
    }
    lastError = `${result.code}: ${result.message}`;
    if (result.permanent || job.attempts >= config.maxAttempts) {
      jobs.delete(id);
      counters.failed++;
      // A permanent cause (missing file, no rclone) is the code worth alerting on; otherwise it
      // is the exhausted retries.
      const code = result.permanent ? result.code : 'UPLOAD_GAVE_UP';
      lastError = `${code}: ${result.message}`;
      logger?.warn({ code, reason: result.code, id, attempts: job.attempts, err: result.message }, `upload: gave up on ${id}: ${result.message}`);
      await setState(id, 'failed');
      return;
    }
    counters.retries++;
    const delayMs = retryDelayMs(job.attempts, config);
    job.notBeforeMs = Date.now() + delayMs;
    // To the back of the queue: a failing recording must not hold up the ones behind it.
    jobs.delete(id);
    jobs.set(id, job);
    logger?.info({ code: result.code, id, attempts: job.attempts, delayMs, err: result.message }, `upload: ${id} failed, retry in ${delayMs} ms`);
  };

  const nextReady = (): Job | { waitMs: number } | null => {
    let soonest = Infinity;
    const t = Date.now();
    for (const job of jobs.values()) {
      if (job.notBeforeMs <= t) return job;
      soonest = Math.min(soonest, job.notBeforeMs - t);
    }
    return jobs.size === 0 ? null : { waitMs: soonest };
  };

  const run = async (): Promise<void> => {
    while (!stopped) {
      const next = nextReady();
      if (next === null) break;
      if (!('record' in next)) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            wake = null;
            resolve();
          }, next.waitMs);
          wake = () => {
            clearTimeout(timer);
            wake = null;
            resolve();
          };
        });
        continue;
      }
      active = { id: next.record.id, stop: null };
      next.attempts++;
      const result = await attempt(next);
      if (stopped) break;
      await finish(next, result);
      active = null;
    }
    active = null;
  };

  const ensureWorker = (): void => {
    if (stopped) return;
    if (worker !== null) {
      wake?.();
      return;
    }
    // `worker` is cleared in a later microtask (run() may even finish synchronously), and a job
    // added in between would find a worker that is about to end: look again after clearing.
    worker = run().finally(() => {
      worker = null;
      if (!stopped && jobs.size > 0) ensureWorker();
      else notifyIdle();
    });
  };

  return {
    start() {
      stopped = false;
      rcloneFound = which(config.rcloneCommand) !== null;
      if (!rcloneFound) {
        lastError = `UPLOAD_RCLONE_NOT_FOUND: ${config.rcloneCommand} not found on PATH`;
        logger?.error({ code: 'UPLOAD_RCLONE_NOT_FOUND', command: config.rcloneCommand }, `upload: ${config.rcloneCommand} not found on PATH; uploads will fail (install rclone)`);
      }
      ensureWorker();
    },
    async stop() {
      stopped = true;
      wake?.();
      active?.stop?.();
      await worker;
      if (jobs.size > 0) logger?.info({ queued: jobs.size }, 'upload: stopped with recordings still pending');
      jobs.clear();
      notifyIdle();
    },
    async enqueue(record, clipPath, onDemand) {
      enqueuing++;
      try {
        await add(record, clipPath, onDemand);
      } catch (error) {
        const e = error as IntegrationsError;
        lastError = `${e.code}: ${e.message}`;
        logger?.warn({ code: e.code, id: record.id, err: e.message }, `upload: ${record.id} not queued: ${e.message}`);
        throw error;
      } finally {
        enqueuing--;
        notifyIdle();
      }
    },
    idle() {
      if (jobs.size === 0 && active === null && enqueuing === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    stats() {
      return { ...counters, queued: jobs.size, active: active?.id ?? null, rcloneFound, lastError };
    },
  };

  async function add(record: EventRecord, clipPath: string, onDemand: boolean): Promise<void> {
    const existing = jobs.get(record.id);
    if (existing) {
      if (onDemand) {
        existing.notBeforeMs = 0;
        wake?.();
      }
      return;
    }
    if (jobs.size >= config.queueMax) {
      await setState(record.id, 'failed');
      throw new IntegrationsError('UPLOAD_QUEUE_FULL', `upload queue is full (${config.queueMax} recordings)`, record.id);
    }
    if (callbacks) {
      try {
        await callbacks.setUploadState(record.id, 'pending');
      } catch (error) {
        throw new IntegrationsError('UPLOAD_STATE_FAILED', `cannot mark ${record.id} pending: ${(error as Error).message}`, { id: record.id, state: 'pending' }, { cause: error });
      }
    }
    if (jobs.has(record.id)) return;
    jobs.set(record.id, { record, clipPath, attempts: 0, notBeforeMs: 0 });
    ensureWorker();
  }
}
