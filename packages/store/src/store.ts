import type { Database } from 'better-sqlite3';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { createEmitter } from '@preroll/process';
import type { DatabaseState } from './database';
import { openDatabase } from './database';
import { isErrnoCode, isRecordingError, StoreError } from './errors';
import type { CountQuery, DayCount, EventPage, LabelCount, ListQuery, Timeline } from './query';
import { createQueries } from './query';
import type { EventRecord, RecordingRow } from './record';
import { rowFiles, sidecarToRow } from './record';
import type { DiskUsage, DiskUsageReader, RetentionDecision, RetentionLimits } from './retention';
import { DEFAULT_RETENTION, planRetention, statfsDiskUsage, validateRetentionLimits } from './retention';
import type { Orphan, SkippedSidecar } from './scan';
import { isSidecarPath, listEventFiles, measureRecording, scanDataDir } from './scan';
import type { EventLabel, EventSidecar, UploadState } from '@preroll/layout';
import { EVENTS_DIR, isSafeRelativePath, readSidecar, UPLOAD_STATES, writeSidecarAtomic } from '@preroll/layout';
import type { EventsWatcher, WatchBatch } from './watcher';
import { watchEvents } from './watcher';
import type { RowPaths } from './writes';
import { createWrites } from './writes';

/** The database file name inside the data directory. */
export const DB_FILE = 'index.db';

/** Options of {@link openStore}. */
export interface StoreOptions {
  /** The data directory: `index.db` and `events/` live here; created when missing. */
  readonly dataDir: string;
  readonly logger?: Logger;
  /** Retention limits; missing keys take {@link DEFAULT_RETENTION}. */
  readonly retention?: Partial<RetentionLimits>;
  /** How often the retention timer runs once {@link Store.start} was called. Default 10 minutes. */
  readonly retentionIntervalMs?: number;
  /** Disk usage reader for the percentage limit; default `fs.statfs`. */
  readonly diskUsage?: DiskUsageReader;
  /** A file must keep its size this long before the watcher indexes it. Default 2000 ms. */
  readonly watchStabilityMs?: number;
  /** The watcher's batching window. Default 250 ms. */
  readonly watchDebounceMs?: number;
  /** Wall clock, for the age limit. Default `Date.now`. */
  readonly now?: () => number;
  /** How much retention frees when a write fails with ENOSPC / SQLITE_FULL. Default 128 MiB. */
  readonly enospcFreeBytes?: number;
}

/** What a full rebuild from the sidecars found (at open, or by {@link reindex}). */
export interface RebuildReport {
  readonly indexed: number;
  /** Rows that are new compared with the database before the rebuild. */
  readonly added: number;
  /** Rows of the database before the rebuild that no sidecar backs any more. */
  readonly removed: number;
  readonly skipped: SkippedSidecar[];
  readonly orphans: Orphan[];
  /** Files seen under `events/`. */
  readonly files: number;
  readonly durationMs: number;
}

/** How the store found its database when it opened. */
export interface OpenReport {
  readonly state: DatabaseState;
  readonly movedAside: string | null;
  readonly problem: string | null;
  /** The rebuild from the sidecars, when the database was missing, empty or damaged. */
  readonly rebuild: RebuildReport | null;
}

/** A change the gallery may want to push to browsers. */
export type StoreChange =
  /**
   * A recording new to the index. `source`: `app` when the app indexed what it finished itself
   * (`indexRecording`), `disk` when the watcher or a reconcile found it on disk (copied in over
   * a share, restored from a backup). Never emitted twice for one id while the row exists.
   */
  | { readonly type: 'created'; readonly record: EventRecord; readonly source: 'app' | 'disk' }
  /** A known recording changed: starred, its upload state, its clip offloaded, labelled, or its sidecar edited on disk. */
  | { readonly type: 'updated'; readonly record: EventRecord; readonly what: UpdateKind }
  /** A recording left the index (its files are gone). */
  | { readonly type: 'deleted'; readonly id: string; readonly reason: DeleteReason };

/** What changed in an `updated` {@link StoreChange}. */
export type UpdateKind = 'favorite' | 'reviewed' | 'upload' | 'offload' | 'labels' | 'sidecar';

/** Why a row went away. */
export type DeleteReason = 'api' | 'delete-all' | 'retention' | 'external';

/** Result of deleting one recording. */
export interface DeleteResult {
  readonly id: string;
  readonly freedBytes: number;
  /** Files that were removed (paths relative to the data directory). */
  readonly files: string[];
}

/** Result of {@link Store.deleteAll}. */
export interface DeleteAllResult {
  readonly deleted: number;
  readonly freedBytes: number;
  /** Favourites left in place (0 when `includeFavorites`). */
  readonly keptFavorites: number;
  /** Recordings whose files could not be removed; their rows are kept. */
  readonly failed: Array<{ id: string; message: string }>;
}

/** Result of one retention run. */
export interface RetentionResult {
  readonly deleted: RetentionDecision[];
  readonly freedBytes: number;
  /** False when the limits still do not hold (only favourites or other data are left to blame). */
  readonly satisfied: boolean;
  /** Disk usage before the run, when it was read. */
  readonly disk: DiskUsage | null;
  readonly failed: Array<{ id: string; message: string }>;
}

/** Options of one retention run. */
export interface RetentionRunOptions {
  /** Free at least this many bytes even when every limit holds (after ENOSPC). */
  readonly freeBytes?: number;
  /** Why the run happened, for the log (`timer`, `after-event`, `enospc`, ...). */
  readonly trigger?: string;
}

/** What {@link Store.reconcile} changed. */
export interface ReconcileReport {
  readonly indexed: number;
  readonly removed: number;
  readonly skipped: SkippedSidecar[];
}

/** Summary figures of the index. */
export interface StoreStats {
  readonly count: number;
  readonly bytes: number;
  readonly favorites: number;
}

/**
 * The event store: an SQLite index of the recordings under `<dataDir>/events`, rebuildable
 * from their sidecars at any time. Reads are synchronous; anything touching files is async.
 */
export interface Store {
  readonly dataDir: string;
  readonly dbPath: string;
  readonly openReport: OpenReport;
  readonly retention: RetentionLimits;
  get(id: string): EventRecord | undefined;
  /** A page of recordings, newest first; pass `nextCursor` back for the next page. */
  list(query?: ListQuery): EventPage;
  countByDay(query?: CountQuery): DayCount[];
  /** Recordings per label (`person`, `animal`, `vehicle`, `other`) and "motion only" (`none`), for the gallery's filter. */
  countByLabel(query?: CountQuery & { day?: string }): LabelCount[];
  /** One day of recordings (of one camera, or all) for the gallery's timeline strip. Throws `STORE_BAD_QUERY` for a malformed day. */
  timeline(day: string, camera?: string): Timeline;
  stats(): StoreStats;
  /**
   * Indexes the sidecar at `sidecarPath` (relative to the data directory, or absolute inside
   * it): reads it from disk, checks the clip is there, measures the files, upserts the row,
   * then schedules a retention run. The recorder calls this after `writeSidecarAtomic`.
   */
  indexRecording(sidecarPath: string): Promise<EventRecord>;
  /**
   * Upserts rows straight from sidecars the caller vouches are on disk, in one transaction
   * (bulk import, benchmarks). `sidecarPath` defaults to `<clip folder>/<id>.json` and
   * `totalBytes` to the sidecar's `bytes`.
   */
  upsert(sidecars: ReadonlyArray<EventSidecar | { sidecar: EventSidecar; sidecarPath?: string; totalBytes?: number }>): void;
  /** Sets the favourite flag in the sidecar first (so a rebuild keeps it), then in the row. */
  setFavorite(id: string, favorite: boolean): Promise<EventRecord>;
  /** Sets the reviewed flag in the sidecar first (so a rebuild keeps it), then in the row. */
  setReviewed(id: string, reviewed: boolean): Promise<EventRecord>;
  /** Marks every unreviewed recording reviewed (sidecars first); resolves with how many changed. */
  markAllReviewed(): Promise<number>;
  /** Recordings nobody has reviewed yet (segments are not counted), of one camera or all. */
  unreviewedCount(camera?: string): number;
  /** Sets the upload state in the sidecar, then in the row. */
  setUploadState(id: string, state: UploadState): Promise<EventRecord>;
  /**
   * Records what the object detector found (`[]`: nothing): written to the sidecar first (a
   * rebuilt index keeps it), then to the row and its label index; reported once as `updated`
   * with `what: 'labels'`. Throws `STORE_NOT_FOUND` for an unknown id.
   */
  setLabels(id: string, labels: readonly EventLabel[]): Promise<EventRecord>;
  /**
   * Removes the clip of an uploaded recording from this device but keeps the recording: the
   * sidecar (rewritten first, with `offloaded`), the images and the row stay, and reconcile,
   * the watcher and a rebuild keep the row although its clip is gone. `remote` says where the
   * clip is now (shown in the gallery). Refuses (`STORE_BAD_QUERY`) unless the upload state is
   * `uploaded`. Calling it again is harmless.
   */
  offloadClip(id: string, remote: string): Promise<EventRecord>;
  /** Deletes one recording: its files (sidecar first), then its row. Favourites too: the caller asked. */
  deleteEvent(id: string): Promise<DeleteResult>;
  /** Deletes every recording except favourites (unless `includeFavorites`). The API asks for confirmation first. */
  deleteAll(options?: { includeFavorites?: boolean }): Promise<DeleteAllResult>;
  /**
   * Changes the retention limits of the open store (a configuration applied live) and runs
   * retention with them. Throws `STORE_BAD_OPTIONS` for a limit out of range, keeping the old ones.
   */
  setRetention(limits: Partial<RetentionLimits>): RetentionLimits;
  /** Applies the retention limits now (runs are serialised; a call during a run queues one more). */
  runRetention(options?: RetentionRunOptions): Promise<RetentionResult>;
  /** After ENOSPC: deletes the oldest non-favourites until `bytes` are freed and the limits hold. */
  recoverSpace(bytes: number): Promise<RetentionResult>;
  /** Brings the index in step with the files: indexes new sidecars, drops rows whose clip is gone. Cheap: lists names, reads only new sidecars. */
  reconcile(): Promise<ReconcileReport>;
  /** Starts the file watcher (resolves when it is ready), the retention timer, and a first reconcile + retention in the background. */
  start(options?: { watch?: boolean; retentionTimer?: boolean }): Promise<void>;
  /** Subscribes to changes; returns the unsubscribe function. */
  onChange(listener: (change: StoreChange) => void): () => void;
  /** Stops the watcher and timer, waits for work in progress, closes the database. */
  close(): Promise<void>;
}

/**
 * Opens the store over `dataDir`: creates the folder, opens and checks `index.db` (moving a
 * damaged one aside), and when the database was missing, empty or damaged rebuilds it from the
 * sidecars before returning. Nothing is watched or scheduled until {@link Store.start}.
 */
export async function openStore(options: StoreOptions): Promise<Store> {
  const dataDir = path.resolve(options.dataDir);
  // The composition root hands in a child logger for this component; the messages say 'store:' too.
  const logger = options.logger;
  const now = options.now ?? Date.now;
  const retention = validateRetentionLimits({ ...DEFAULT_RETENTION, ...options.retention });
  const retentionIntervalMs = options.retentionIntervalMs ?? 10 * 60_000;
  const diskUsage = options.diskUsage ?? statfsDiskUsage;
  if (!Number.isSafeInteger(retentionIntervalMs) || retentionIntervalMs < 1000) {
    throw new StoreError('STORE_BAD_OPTIONS', `retentionIntervalMs must be an integer >= 1000, got ${retentionIntervalMs}`, 'retentionIntervalMs');
  }
  try {
    await fsp.mkdir(path.join(dataDir, EVENTS_DIR), { recursive: true });
  } catch (error) {
    throw new StoreError('STORE_BAD_DATA_DIR', `cannot create data directory ${dataDir}: ${(error as Error).message}`, dataDir, { cause: error });
  }
  const dbPath = path.join(dataDir, DB_FILE);
  const opened = openDatabase(dbPath, logger, now);
  const db = opened.db;
  let rebuild: RebuildReport | null = null;
  try {
    if (opened.state !== 'ok') {
      rebuild = await rebuildIndex(db, dataDir, now);
      logger?.info(summariseRebuild(rebuild), `store: index ${opened.state === 'created' ? 'created' : 'recovered'} from sidecars`);
    }
  } catch (error) {
    db.close();
    throw error;
  }
  return createStore({ db, dataDir, dbPath, logger, now, retention, retentionIntervalMs, diskUsage, opened, rebuild, options });
}

/**
 * Rebuilds every row from the sidecars under `events/` in one transaction (readers see the
 * old index or the new one, never half of it). Used at open and by `reindex`.
 */
export async function rebuildIndex(db: Database, dataDir: string, now: () => number = Date.now): Promise<RebuildReport> {
  const started = process.hrtime.bigint();
  const scan = await scanDataDir(dataDir);
  const indexedAt = now();
  const rows = scan.recordings.map((r) => sidecarToRow(r.sidecar, r.sidecarPath, r.totalBytes, indexedAt));
  const { added, removed } = createWrites(db).replaceAll(rows);
  return {
    indexed: rows.length,
    added,
    removed,
    skipped: scan.skipped,
    orphans: scan.orphans,
    files: scan.files,
    durationMs: Number(process.hrtime.bigint() - started) / 1e6,
  };
}

function summariseRebuild(r: RebuildReport): Record<string, unknown> {
  return { indexed: r.indexed, added: r.added, removed: r.removed, skipped: r.skipped.length, orphans: r.orphans.length, durationMs: Math.round(r.durationMs) };
}

interface StoreParts {
  db: Database;
  dataDir: string;
  dbPath: string;
  logger: Logger | undefined;
  now: () => number;
  retention: RetentionLimits;
  retentionIntervalMs: number;
  diskUsage: DiskUsageReader;
  opened: ReturnType<typeof openDatabase>;
  rebuild: RebuildReport | null;
  options: StoreOptions;
}

function createStore(parts: StoreParts): Store {
  const { db, dataDir, logger, now, diskUsage } = parts;
  let retention = parts.retention;
  const enospcFreeBytes = parts.options.enospcFreeBytes ?? 128 * 1024 * 1024;
  const queries = createQueries(db);
  const writes = createWrites(db);
  const changes = createEmitter<[StoreChange]>('store changes', logger);
  /** Clip paths the store itself is deleting, so the watcher does not treat them as external deletions. */
  const deleting = new Set<string>();
  let closed = false;
  /** Set when close() begins: no new background work is scheduled from then on. */
  let closing = false;
  let watcher: EventsWatcher | null = null;
  let timer: NodeJS.Timeout | null = null;
  let retentionRunning: Promise<RetentionResult> | null = null;
  let retentionQueued: { promise: Promise<RetentionResult>; options: RetentionRunOptions } | null = null;
  const background = new Set<Promise<unknown>>();

  const abs = (rel: string): string => path.join(dataDir, rel);
  const assertOpen = (): void => {
    if (closed) throw new StoreError('STORE_CLOSED', 'the store is closed');
  };
  const emit = (change: StoreChange): void => changes.emit(change);
  const track = <T>(promise: Promise<T>): void => {
    const p = promise.catch((error: unknown) => logger?.error({ err: error }, 'store: background task failed'));
    background.add(p);
    void p.finally(() => background.delete(p));
  };
  const toRel = (p: string): string => {
    const rel = path.isAbsolute(p) ? path.relative(dataDir, p).split(path.sep).join('/') : p;
    if (!isSafeRelativePath(rel)) throw new StoreError('STORE_BAD_QUERY', `path ${p} is not inside the data directory`, p);
    return rel;
  };
  const requireRow = (id: string): RecordingRow => {
    assertOpen();
    const row = queries.getRow(id);
    if (!row) throw new StoreError('STORE_NOT_FOUND', `no recording with id ${id}`, id);
    return row;
  };

  /** Removes a recording's files, sidecar first; a file already gone is fine. Returns the paths removed. */
  const removeFiles = async (row: RowPaths): Promise<string[]> => {
    const removed: string[] = [];
    for (const rel of rowFiles(row)) {
      try {
        await fsp.unlink(abs(rel));
        removed.push(rel);
      } catch (error) {
        if (isErrnoCode(error, 'ENOENT')) continue;
        throw new StoreError('STORE_DELETE_FAILED', `cannot delete ${rel} of recording ${row.id}: ${(error as Error).message}`, rel, { cause: error });
      }
    }
    return removed;
  };

  /** Deletes files then rows for many recordings; rows whose files could not be removed stay. */
  const deleteRecordings = async (rows: readonly RowPaths[], reason: DeleteReason): Promise<{ done: RowPaths[]; failed: Array<{ id: string; message: string }> }> => {
    const done: RowPaths[] = [];
    const failed: Array<{ id: string; message: string }> = [];
    for (const row of rows) deleting.add(row.clip_path);
    try {
      for (const row of rows) {
        try {
          await removeFiles(row);
          done.push(row);
        } catch (error) {
          failed.push({ id: row.id, message: (error as Error).message });
          logger?.error({ err: error, id: row.id }, 'store: could not delete recording files');
        }
        // Short transactions: rows go in chunks so readers are never held up for long.
        if (done.length >= 256) flushRows(done.splice(0), reason);
      }
      flushRows(done.splice(0), reason);
    } finally {
      for (const row of rows) deleting.delete(row.clip_path);
    }
    const failedIds = new Set(failed.map((f) => f.id));
    return { done: rows.filter((r) => !failedIds.has(r.id)), failed };
  };
  const flushRows = (rows: RowPaths[], reason: DeleteReason): void => {
    if (!rows.length || closed) return;
    writes.deleteIds(rows.map((r) => r.id));
    for (const row of rows) {
      forget(row.sidecar_path);
      emit({ type: 'deleted', id: row.id, reason });
    }
  };

  /**
   * Stamps (size and mtime) of the sidecars as the store last read or wrote them: a watcher
   * report of a sidecar whose stamp is unchanged is the store's own write (or a touch that
   * changed nothing) and is ignored, so nothing is announced twice.
   */
  const stamps = new Map<string, string>();
  const stampOf = async (rel: string): Promise<string | null> => {
    try {
      const st = await fsp.stat(abs(rel));
      return `${st.size}:${st.mtimeMs}`;
    } catch (error) {
      if (isErrnoCode(error, 'ENOENT')) return null;
      throw error;
    }
  };
  const remember = async (rel: string): Promise<void> => {
    const stamp = await stampOf(rel);
    if (stamp === null) stamps.delete(rel);
    else stamps.set(rel, stamp);
  };
  const forget = (rel: string): void => {
    stamps.delete(rel);
  };

  /**
   * Writes a row and reports it: `created` only for an id the index did not hold; otherwise
   * `updated` with `what` (`sidecar` changes that leave the row as it was are not reported).
   */
  const indexRow = (row: RecordingRow, cause: { source: 'app' | 'disk'; what: UpdateKind }): EventRecord => {
    const before = queries.getRow(row.id);
    writes.upsert(row);
    const record = queries.get(row.id) as EventRecord;
    if (!before) emit({ type: 'created', record, source: cause.source });
    else if (cause.what !== 'sidecar' || !sameRow(before, row)) emit({ type: 'updated', record, what: cause.what });
    return record;
  };

  const readAndMeasure = async (rel: string): Promise<RecordingRow> => {
    // The stamp is taken before the read: a write landing in between changes the stamp again,
    // so the next watcher report is read rather than ignored.
    const stamp = await stampOf(rel);
    const sidecar = await readSidecar(abs(rel));
    const totalBytes = await measureRecording(dataDir, rel, sidecar);
    if (stamp !== null) stamps.set(rel, stamp);
    return sidecarToRow(sidecar, rel, totalBytes, now());
  };

  /**
   * Changes a sidecar field on disk first (a rebuild must keep it), then re-indexes the row from
   * the rewritten file, which also refreshes its measured size.
   */
  const rewriteSidecar = async (id: string, patch: Pick<EventSidecar, 'favorite'> | Pick<EventSidecar, 'reviewed'> | Pick<EventSidecar, 'uploadState'> | Pick<EventSidecar, 'labels'>, what: UpdateKind): Promise<EventRecord> => {
    const row = requireRow(id);
    const file = abs(row.sidecar_path);
    const sidecar = await readSidecar(file);
    await writeSidecarAtomic(file, { ...sidecar, ...patch });
    const updated = await readAndMeasure(row.sidecar_path);
    assertOpen();
    return indexRow(updated, { source: 'app', what });
  };

  const scheduleRetention = (trigger: string): void => {
    if (!closing) track(runRetention({ trigger }));
  };

  const retentionOnce = async (options: RetentionRunOptions): Promise<RetentionResult> => {
    let disk: DiskUsage | null = null;
    if (retention.maxDiskPct !== null || options.freeBytes !== undefined) {
      try {
        disk = await diskUsage(dataDir);
      } catch (error) {
        logger?.warn({ err: error }, 'store: cannot read disk usage; the percentage limit is skipped this run');
      }
    }
    if (closed) return { deleted: [], freedBytes: 0, satisfied: false, disk, failed: [] };
    // Continuous segments (a loop recording) go before any other recording when space is short.
    const plan = planRetention(
      { nowMs: now(), limits: retention, indexedBytes: writes.stats().bytes, disk, freeBytes: options.freeBytes },
      writes.candidatesOldestFirst(false),
      writes.candidatesOldestFirst(true),
    );
    if (!plan.deletions.length) {
      if (!plan.satisfied) logger?.warn({ disk, limits: retention, trigger: options.trigger }, 'store: retention limits exceeded but nothing is deletable (favourites are kept)');
      else logger?.debug({ disk, trigger: options.trigger }, 'store: retention run');
      return { deleted: [], freedBytes: 0, satisfied: plan.satisfied, disk, failed: [] };
    }
    const reasons = new Map(plan.deletions.map((d) => [d.id, d]));
    const rows = plan.deletions.map((d) => queries.getRow(d.id)).filter((r): r is RecordingRow => r !== undefined && r.favorite === 0);
    const { done, failed } = await deleteRecordings(rows, 'retention');
    const deleted = done.map((r) => reasons.get(r.id) as RetentionDecision);
    for (const d of deleted) {
      logger?.info({ id: d.id, reason: d.reason, bytes: d.bytes, startedAt: new Date(d.startedAtMs).toISOString(), trigger: options.trigger }, 'store: retention deleted recording');
    }
    const freedBytes = deleted.reduce((sum, d) => sum + d.bytes, 0);
    logger?.info({ deleted: deleted.length, freedBytes, satisfied: plan.satisfied && failed.length === 0, limits: retention, disk, trigger: options.trigger }, 'store: retention run');
    return { deleted, freedBytes, satisfied: plan.satisfied && failed.length === 0, disk, failed };
  };

  const runRetention = (options: RetentionRunOptions = {}): Promise<RetentionResult> => {
    assertOpen();
    if (!retentionRunning) {
      retentionRunning = retentionOnce(options).finally(() => {
        retentionRunning = null;
      });
      return retentionRunning;
    }
    // One run is in progress; coalesce every request made meanwhile into a single next run
    // (with the largest freeBytes asked for).
    if (retentionQueued) {
      const asked = Math.max(retentionQueued.options.freeBytes ?? 0, options.freeBytes ?? 0);
      retentionQueued.options = { trigger: retentionQueued.options.trigger, freeBytes: asked || undefined };
      return retentionQueued.promise;
    }
    const queued: { promise: Promise<RetentionResult>; options: RetentionRunOptions } = { options, promise: Promise.resolve() as unknown as Promise<RetentionResult> };
    queued.promise = retentionRunning
      .catch(() => undefined)
      .then(() => {
        retentionQueued = null;
        return runRetention(queued.options);
      });
    retentionQueued = queued;
    return queued.promise;
  };

  /** Applies a batch of file changes: one transaction for the rows, then companion files. */
  const applyBatch = async (batch: WatchBatch, source: 'watcher' | 'reconcile'): Promise<ReconcileReport> => {
    if (closed) return { indexed: 0, removed: 0, skipped: [] };
    const gone: RowPaths[] = [];
    const consider = async (row: RowPaths | undefined): Promise<void> => {
      if (!row || deleting.has(row.clip_path) || gone.some((g) => g.id === row.id)) return;
      // An offloaded recording has no local clip on purpose.
      if (row.offloaded_at_ms !== null) return;
      // A clip replaced by rename shows up as unlink + add: only a clip that is really absent counts.
      const present = await fsp.access(abs(row.clip_path)).then(
        () => true,
        () => false,
      );
      if (!present) gone.push(row);
    };
    for (const rel of batch.unlinked) await consider(writes.rowByClip(rel));
    for (const dir of batch.unlinkedDirs) for (const row of writes.rowsUnder(dir)) await consider(row);

    const rows: RecordingRow[] = [];
    const skipped: SkippedSidecar[] = [];
    for (const rel of batch.sidecars) {
      try {
        // The store's own sidecar writes (and touches that change nothing) come back from the watcher: skip them.
        const known = stamps.get(rel);
        if (known !== undefined && known === (await stampOf(rel))) {
          // Unchanged, but its clip may have gone while the report was settling.
          await consider(queries.getRow(path.posix.basename(rel, '.json')));
          continue;
        }
        rows.push(await readAndMeasure(rel));
      } catch (error) {
        if (!isRecordingError(error)) throw error;
        // A media file whose sidecar is not there (yet) is normal while files are copied in.
        if (error.code === 'LAYOUT_SIDECAR_UNREADABLE' && isErrnoCode(error.cause, 'ENOENT')) continue;
        if (error.code === 'STORE_CLIP_MISSING' && typeof error.value === 'string') {
          // The clip vanished while its add was still settling (the watcher then reports neither
          // the add nor the unlink): an indexed row for it must go all the same.
          const row = writes.rowByClip(error.value);
          if (row) {
            await consider(row);
            continue;
          }
        }
        skipped.push({ path: rel, code: error.code, message: error.message });
        logger?.warn({ path: rel, code: error.code, reason: error.message }, 'store: sidecar not indexed');
      }
    }
    if (closed) return { indexed: 0, removed: 0, skipped };
    const indexed: Array<{ row: RecordingRow; before: RecordingRow | undefined }> = [];
    db.transaction(() => {
      writes.deleteIds(gone.map((r) => r.id));
      for (const row of rows) {
        try {
          const before = queries.getRow(row.id);
          writes.upsert(row);
          indexed.push({ row, before });
        } catch (error) {
          if (!isRecordingError(error)) throw error;
          skipped.push({ path: row.sidecar_path, code: error.code, message: error.message });
          logger?.warn({ path: row.sidecar_path, code: error.code, reason: error.message }, 'store: sidecar not indexed');
        }
      }
    })();
    for (const row of gone) {
      logger?.info({ id: row.id, clip: row.clip_path, source }, 'store: clip deleted outside the app; removed its row and remaining files');
      forget(row.sidecar_path);
      emit({ type: 'deleted', id: row.id, reason: 'external' });
      // The user removed the clip: the rest of the recording (sidecar, images) goes with it,
      // otherwise a rebuild would find the sidecar again and retention would never reclaim the images.
      try {
        await removeFiles(row);
      } catch (error) {
        logger?.warn({ err: error, id: row.id }, 'store: could not remove the files left by a deleted clip');
      }
    }
    let added = 0;
    for (const { row, before } of indexed) {
      const record = queries.get(row.id);
      if (!record) continue;
      if (!before) {
        added++;
        emit({ type: 'created', record, source: 'disk' });
      } else if (!sameRow(before, row)) emit({ type: 'updated', record, what: 'sidecar' });
    }
    if (added) logger?.info({ count: added, source }, 'store: indexed recordings found on disk');
    if (added && source === 'watcher') scheduleRetention('files-added');
    return { indexed: added, removed: gone.length, skipped };
  };

  const store: Store = {
    dataDir,
    dbPath: parts.dbPath,
    openReport: { state: parts.opened.state, movedAside: parts.opened.movedAside, problem: parts.opened.problem, rebuild: parts.rebuild },
    get retention() {
      return retention;
    },
    setRetention(limits) {
      retention = validateRetentionLimits({ ...retention, ...limits });
      logger?.info({ limits: retention }, 'store: retention limits changed');
      scheduleRetention('limits changed');
      return retention;
    },
    get(id) {
      assertOpen();
      return queries.get(id);
    },
    list(query) {
      assertOpen();
      return queries.list(query);
    },
    countByDay(query) {
      assertOpen();
      return queries.countByDay(query);
    },
    countByLabel(query) {
      assertOpen();
      return queries.countByLabel(query);
    },
    timeline(day, camera) {
      assertOpen();
      return queries.timeline(day, camera);
    },
    stats() {
      assertOpen();
      return writes.stats();
    },
    async indexRecording(sidecarPath) {
      assertOpen();
      const rel = toRel(sidecarPath);
      const row = await readAndMeasure(rel);
      assertOpen();
      let record: EventRecord;
      try {
        record = indexRow(row, { source: 'app', what: 'sidecar' });
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'SQLITE_FULL') throw error;
        // The disk filled before retention caught up: free space now and try once more.
        logger?.warn({ id: row.id }, 'store: database full (ENOSPC); running retention before retrying');
        await runRetention({ freeBytes: enospcFreeBytes, trigger: 'enospc' });
        assertOpen();
        record = indexRow(row, { source: 'app', what: 'sidecar' });
      }
      scheduleRetention('after-event');
      return record;
    },
    upsert(items) {
      assertOpen();
      const indexedAt = now();
      const rows = items.map((item) => {
        const { sidecar, sidecarPath, totalBytes } = 'version' in item ? { sidecar: item, sidecarPath: undefined, totalBytes: undefined } : item;
        const rel = sidecarPath ?? `${path.posix.dirname(sidecar.files.clip)}/${sidecar.id}.json`;
        return sidecarToRow(sidecar, rel, totalBytes ?? sidecar.bytes, indexedAt);
      });
      writes.upsertMany(rows);
    },
    async setFavorite(id, favorite) {
      return rewriteSidecar(id, { favorite }, 'favorite');
    },
    async setReviewed(id, reviewed) {
      return rewriteSidecar(id, { reviewed }, 'reviewed');
    },
    async markAllReviewed() {
      assertOpen();
      let marked = 0;
      // One sidecar at a time: a few hundred small files; a row deleted meanwhile is skipped.
      for (const id of queries.unreviewedIds()) {
        if (!queries.getRow(id)) continue;
        await rewriteSidecar(id, { reviewed: true }, 'reviewed');
        marked++;
      }
      return marked;
    },
    unreviewedCount(camera) {
      assertOpen();
      return queries.unreviewedCount(camera);
    },
    async setLabels(id, labels) {
      return rewriteSidecar(id, { labels: [...labels] }, 'labels');
    },
    async setUploadState(id, state) {
      if (!UPLOAD_STATES.includes(state)) throw new StoreError('STORE_BAD_QUERY', `upload state must be one of ${UPLOAD_STATES.join(', ')}`, state);
      return rewriteSidecar(id, { uploadState: state }, 'upload');
    },
    async offloadClip(id, remote) {
      const row = requireRow(id);
      if (row.upload_state !== 'uploaded') throw new StoreError('STORE_BAD_QUERY', `recording ${id} is not uploaded (upload state ${row.upload_state}); its clip stays on this device`, id);
      if (typeof remote !== 'string' || remote.length === 0) throw new StoreError('STORE_BAD_QUERY', 'offloadClip needs the remote the clip went to', remote);
      deleting.add(row.clip_path);
      try {
        const file = abs(row.sidecar_path);
        const sidecar = await readSidecar(file);
        // The sidecar first: a crash before the unlink leaves a playable clip marked as
        // offloaded (still served), never a row that reconcile would drop.
        if (!sidecar.offloaded) await writeSidecarAtomic(file, { ...sidecar, offloaded: { at: new Date(now()).toISOString(), remote } });
        try {
          await fsp.unlink(abs(row.clip_path));
        } catch (error) {
          if (!isErrnoCode(error, 'ENOENT')) throw new StoreError('STORE_DELETE_FAILED', `cannot delete ${row.clip_path} of recording ${id}: ${(error as Error).message}`, row.clip_path, { cause: error });
        }
        const updated = await readAndMeasure(row.sidecar_path);
        assertOpen();
        logger?.info({ id, remote, freedBytes: row.total_bytes - updated.total_bytes }, 'store: clip removed from this device after upload');
        return indexRow(updated, { source: 'app', what: 'offload' });
      } finally {
        deleting.delete(row.clip_path);
      }
    },
    async deleteEvent(id) {
      const row = requireRow(id);
      deleting.add(row.clip_path);
      try {
        const files = await removeFiles(row);
        if (!closed) writes.deleteIds([id]);
        forget(row.sidecar_path);
        logger?.info({ id, files: files.length, bytes: row.total_bytes }, 'store: recording deleted');
        emit({ type: 'deleted', id, reason: 'api' });
        return { id, freedBytes: row.total_bytes, files };
      } finally {
        deleting.delete(row.clip_path);
      }
    },
    async deleteAll(options = {}) {
      assertOpen();
      const includeFavorites = options.includeFavorites ?? false;
      const rows = writes.allPaths({ includeFavorites });
      const { done, failed } = await deleteRecordings(rows, 'delete-all');
      const freedBytes = done.reduce((sum, r) => sum + r.total_bytes, 0);
      const keptFavorites = includeFavorites ? 0 : closed ? 0 : writes.stats().favorites;
      logger?.info({ deleted: done.length, freedBytes, keptFavorites, failed: failed.length }, 'store: delete-all');
      return { deleted: done.length, freedBytes, keptFavorites, failed };
    },
    runRetention,
    recoverSpace(bytes) {
      if (!Number.isSafeInteger(bytes) || bytes < 0) throw new StoreError('STORE_BAD_QUERY', `bytes must be an integer >= 0, got ${bytes}`, bytes);
      return runRetention({ freeBytes: bytes, trigger: 'enospc' });
    },
    async reconcile() {
      assertOpen();
      const files = await listEventFiles(dataDir, false);
      const names = new Set(files.map((f) => f.rel));
      const rows = writes.allPaths({ includeFavorites: true });
      const knownSidecars = new Set(rows.map((r) => r.sidecar_path));
      const sidecars = new Set(files.map((f) => f.rel).filter((rel) => isSidecarPath(rel) && !knownSidecars.has(rel)));
      const unlinked = new Set<string>();
      if (files.length === 0 && rows.length > 0) {
        // An empty events folder with a full index looks like storage that is not mounted:
        // keep the rows rather than forget every recording.
        logger?.warn({ rows: rows.length, dir: path.join(dataDir, EVENTS_DIR) }, 'store: events folder is empty but the index is not; not removing rows (storage not mounted?)');
      } else {
        for (const row of rows) if (!names.has(row.clip_path)) unlinked.add(row.clip_path);
      }
      return applyBatch({ sidecars, unlinked, unlinkedDirs: new Set() }, 'reconcile');
    },
    async start(options = {}) {
      assertOpen();
      if (options.watch ?? true) {
        if (!watcher) {
          watcher = watchEvents({
            dataDir,
            relDir: EVENTS_DIR,
            stabilityMs: parts.options.watchStabilityMs ?? 2000,
            debounceMs: parts.options.watchDebounceMs ?? 250,
            onBatch: async (batch) => {
              await applyBatch(batch, 'watcher');
            },
            logger,
          });
          await watcher.ready;
        }
      }
      if ((options.retentionTimer ?? true) && !timer) {
        timer = setInterval(() => scheduleRetention('timer'), parts.retentionIntervalMs);
        timer.unref();
      }
      track(
        store.reconcile().then((report) => {
          if (report.indexed || report.removed) logger?.info({ indexed: report.indexed, removed: report.removed }, 'store: reconciled index with files on disk');
          scheduleRetention('start');
        }),
      );
    },
    onChange: changes.on,
    async close() {
      if (closing) return;
      closing = true;
      if (timer) clearInterval(timer);
      timer = null;
      if (watcher) await watcher.close();
      watcher = null;
      while (background.size) await Promise.all([...background]);
      if (retentionRunning) await retentionRunning.catch(() => undefined);
      closed = true;
      changes.clear();
      db.close();
    },
  };
  return store;
}

/** True when two rows of one recording hold the same facts (the time it was indexed aside). */
function sameRow(a: RecordingRow, b: RecordingRow): boolean {
  for (const key of Object.keys(b) as Array<keyof RecordingRow>) {
    if (key !== 'indexed_at_ms' && a[key] !== b[key]) return false;
  }
  return true;
}
