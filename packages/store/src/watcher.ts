import { watch, type FSWatcher } from 'chokidar';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { idOfFile, isSidecarPath } from './scan';
import { SIDECAR_TEMP_MARKER } from './sidecar';

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
  /** Resolves once chokidar has read the tree and watches it. */
  readonly ready: Promise<void>;
  /** Stops watching and waits for the batch in progress. */
  close(): Promise<void>;
}

/**
 * Watches the recordings folder with chokidar. Events only fill a batch; the batch is handled
 * after a debounce on the event loop, so a burst of file operations (a day folder deleted, a
 * hundred clips copied in) costs one database transaction and never blocks capture.
 */
export function watchEvents(options: WatchOptions): EventsWatcher {
  const root = path.join(options.dataDir, options.relDir);
  let batch: WatchBatch = { sidecars: new Set(), unlinked: new Set(), unlinkedDirs: new Set() };
  let timer: NodeJS.Timeout | null = null;
  let chain: Promise<void> = Promise.resolve();
  let closed = false;

  const rel = (abs: string): string => path.relative(options.dataDir, abs).split(path.sep).join('/');
  const flush = (): void => {
    timer = null;
    const current = batch;
    batch = { sidecars: new Set(), unlinked: new Set(), unlinkedDirs: new Set() };
    chain = chain.then(() =>
      options.onBatch(current).catch((error: unknown) => {
        options.logger?.error({ err: error }, 'store: failed to apply file changes');
      }),
    );
  };
  const schedule = (): void => {
    if (!timer && !closed) timer = setTimeout(flush, options.debounceMs);
  };

  const watcher: FSWatcher = watch(root, {
    ignoreInitial: true,
    // The atomic sidecar writer's temp files come and go; the rename is what matters.
    ignored: (p: string) => p.includes(SIDECAR_TEMP_MARKER),
    awaitWriteFinish: { stabilityThreshold: options.stabilityMs, pollInterval: Math.max(10, Math.min(100, Math.floor(options.stabilityMs / 4))) },
  });
  const onAddOrChange = (abs: string): void => {
    const r = rel(abs);
    batch.sidecars.add(isSidecarPath(r) ? r : `${path.posix.dirname(r)}/${idOfFile(r)}.json`);
    batch.unlinked.delete(r);
    schedule();
  };
  watcher.on('add', onAddOrChange);
  watcher.on('change', onAddOrChange);
  watcher.on('unlink', (abs) => {
    batch.unlinked.add(rel(abs));
    schedule();
  });
  watcher.on('unlinkDir', (abs) => {
    batch.unlinkedDirs.add(rel(abs));
    schedule();
  });
  watcher.on('error', (error) => options.logger?.warn({ err: error }, 'store: file watcher error'));
  const ready = new Promise<void>((resolve) => watcher.once('ready', () => resolve()));

  return {
    ready,
    async close() {
      closed = true;
      await watcher.close();
      if (timer) {
        clearTimeout(timer);
        flush();
      }
      await chain;
    },
  };
}
