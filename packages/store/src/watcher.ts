import { watch as watchFs, promises as fsp, type Dirent, type FSWatcher, type Stats } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { isErrnoCode } from './errors';
import { idOfFile, isSidecarPath } from './scan';
import { TEMP_MARKER } from '@preroll/layout';

/** File changes collected over one debounce window, as paths relative to the data directory. */
export interface WatchBatch {
  /** Sidecars that appeared or changed, and the sidecars of media files that appeared. */
  readonly sidecars: Set<string>;
  /** Files that disappeared. */
  readonly unlinked: Set<string>;
  /** Folders that disappeared (a whole day deleted over a share). */
  readonly unlinkedDirs: Set<string>;
}

/** Options of {@link watchEvents}. */
export interface WatchOptions {
  readonly dataDir: string;
  /** Folder to watch, relative to the data directory. */
  readonly relDir: string;
  /** A file must keep its size this long before it counts as added (a clip being copied in over Samba). */
  readonly stabilityMs: number;
  /** Changes are collected this long after the first one, then handed over as one batch. */
  readonly debounceMs: number;
  /** Handles one batch; batches are handed over one at a time, never concurrently. */
  readonly onBatch: (batch: WatchBatch) => Promise<void>;
  readonly logger?: Logger;
}

/** A running watcher. */
export interface EventsWatcher {
  /** Resolves once every existing folder is watched. */
  readonly ready: Promise<void>;
  /** Folders watched now (one watch each, whatever the number of files). */
  watchedDirs(): number;
  /** Stops watching and waits for the batch in progress. */
  close(): Promise<void>;
}

/** What is known of a path waiting to settle: its last size and time, and since when they held. */
interface Pending {
  size: number;
  mtimeMs: number;
  sinceMs: number;
}

/**
 * Watches the recordings folder: one `fs.watch` per folder (inotify on Linux), never one per
 * file, so the cost stays flat however many recordings the disk keeps (a watcher per file runs
 * into the kernel's watch limit after a few thousand recordings on a Pi, and costs memory for
 * each). A name that changes in a folder is checked with `stat`: gone (an unlink, or a folder
 * removed), a new folder (watched in turn, with what it already holds), or a file, which counts
 * once its size and time have held for `stabilityMs` (a clip copied in over a share). Events
 * only fill a batch; the batch is handled after a debounce, so a burst of file operations (a day
 * folder deleted, a hundred clips copied in) costs one database transaction and never blocks
 * capture.
 */
export function watchEvents(options: WatchOptions): EventsWatcher {
  const root = path.join(options.dataDir, options.relDir);
  const pollMs = Math.max(10, Math.min(100, Math.floor(options.stabilityMs / 4)));
  const dirs = new Map<string, FSWatcher>();
  const pending = new Map<string, Pending | null>();
  let batch: WatchBatch = { sidecars: new Set(), unlinked: new Set(), unlinkedDirs: new Set() };
  let flushTimer: NodeJS.Timeout | null = null;
  let checkTimer: NodeJS.Timeout | null = null;
  let checking: Promise<void> = Promise.resolve();
  let chain: Promise<void> = Promise.resolve();
  let closed = false;

  const rel = (abs: string): string => path.relative(options.dataDir, abs).split(path.sep).join('/');
  const flush = (): void => {
    flushTimer = null;
    const current = batch;
    batch = { sidecars: new Set(), unlinked: new Set(), unlinkedDirs: new Set() };
    chain = chain.then(() =>
      options.onBatch(current).catch((error: unknown) => {
        options.logger?.error({ err: error }, 'store: failed to apply file changes');
      }),
    );
  };
  const schedule = (): void => {
    if (!flushTimer && !closed) flushTimer = setTimeout(flush, options.debounceMs);
  };

  const consider = (abs: string): void => {
    if (closed || abs.includes(TEMP_MARKER)) return;
    // Any change starts the settling over.
    pending.set(abs, null);
    if (!checkTimer) checkTimer = setTimeout(runChecks, pollMs);
  };

  const unwatchTree = (abs: string): void => {
    for (const [dir, watcher] of dirs) {
      if (dir === abs || dir.startsWith(`${abs}${path.sep}`)) {
        watcher.close();
        dirs.delete(dir);
      }
    }
  };

  const watchDir = async (abs: string, initial: boolean): Promise<void> => {
    if (closed || dirs.has(abs)) return;
    let watcher: FSWatcher;
    try {
      watcher = watchFs(abs, { persistent: true }, (_event, name) => {
        if (name) consider(path.join(abs, name.toString()));
      });
    } catch (error) {
      if (!isErrnoCode(error, 'ENOENT') && !isErrnoCode(error, 'ENOTDIR')) options.logger?.warn({ err: error, dir: abs }, 'store: cannot watch a folder');
      return;
    }
    // A watched folder that is deleted reports an error or nothing; its parent reports the name.
    watcher.on('error', () => consider(abs));
    dirs.set(abs, watcher);
    let entries: Dirent[] = [];
    try {
      entries = await fsp.readdir(abs, { withFileTypes: true });
    } catch (error) {
      void error;
    }
    for (const entry of entries) {
      const child = path.join(abs, entry.name);
      if (entry.isDirectory()) await watchDir(child, initial);
      // Files already there at start are reconcile's business; in a new folder they are news.
      else if (!initial) consider(child);
    }
  };

  const check = async (abs: string, seen: Pending | null, nowMs: number): Promise<void> => {
    let stats: Stats;
    try {
      stats = await fsp.lstat(abs);
    } catch (error) {
      if (!isErrnoCode(error, 'ENOENT') && !isErrnoCode(error, 'ENOTDIR')) throw error;
      pending.delete(abs);
      const r = rel(abs);
      if (dirs.has(abs)) {
        unwatchTree(abs);
        batch.unlinkedDirs.add(r);
      } else {
        batch.unlinked.add(r);
        batch.sidecars.delete(r);
        // A folder made and removed before it was watched looks like any vanished name: its
        // rows are looked up as a folder too (an indexed range query, nothing when it was a file).
        batch.unlinkedDirs.add(r);
      }
      schedule();
      return;
    }
    if (stats.isDirectory()) {
      pending.delete(abs);
      await watchDir(abs, false);
      return;
    }
    if (!stats.isFile()) {
      pending.delete(abs);
      return;
    }
    if (!seen || seen.size !== stats.size || seen.mtimeMs !== stats.mtimeMs) {
      pending.set(abs, { size: stats.size, mtimeMs: stats.mtimeMs, sinceMs: nowMs });
      return;
    }
    if (nowMs - seen.sinceMs < options.stabilityMs) return;
    pending.delete(abs);
    const r = rel(abs);
    batch.sidecars.add(isSidecarPath(r) ? r : `${path.posix.dirname(r)}/${idOfFile(r)}.json`);
    batch.unlinked.delete(r);
    schedule();
  };

  function runChecks(): void {
    checkTimer = null;
    checking = (async () => {
      const nowMs = Date.now();
      for (const [abs, seen] of [...pending]) {
        if (closed) return;
        try {
          await check(abs, seen, nowMs);
        } catch (error) {
          pending.delete(abs);
          options.logger?.warn({ err: error, path: abs }, 'store: cannot look at a changed file');
        }
      }
      if (pending.size && !closed && !checkTimer) checkTimer = setTimeout(runChecks, pollMs);
    })();
  }

  const ready = (async () => {
    await fsp.mkdir(root, { recursive: true });
    await watchDir(root, true);
  })();
  ready.catch((error: unknown) => options.logger?.warn({ err: error, dir: root }, 'store: cannot watch the recordings folder'));

  return {
    ready: ready.catch(() => undefined),
    watchedDirs: () => dirs.size,
    async close() {
      closed = true;
      await ready.catch(() => undefined);
      if (checkTimer) clearTimeout(checkTimer);
      checkTimer = null;
      await checking;
      for (const watcher of dirs.values()) watcher.close();
      dirs.clear();
      pending.clear();
      if (flushTimer) {
        clearTimeout(flushTimer);
        flush();
      }
      await chain;
    },
  };
}
