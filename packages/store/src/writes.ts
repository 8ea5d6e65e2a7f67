import type { Database } from 'better-sqlite3';
import { StoreError } from './errors';
import type { RecordingRow } from './record';
import type { RetentionCandidate } from './retention';

/** The paths of a row, enough to delete its files. */
export type RowPaths = Pick<RecordingRow, 'id' | 'clip_path' | 'sidecar_path' | 'snapshot_path' | 'thumbnail_path' | 'heatmap_path' | 'total_bytes' | 'started_at_ms' | 'favorite' | 'offloaded_at_ms'>;

/** The store's write statements, each prepared once. All are synchronous and short. */
export interface Writes {
  upsert(row: RecordingRow): void;
  upsertMany(rows: readonly RecordingRow[]): void;
  /** Replaces every row by `rows` in one transaction; returns how many ids were added and removed. */
  replaceAll(rows: readonly RecordingRow[]): { added: number; removed: number };
  deleteIds(ids: readonly string[]): number;
  rowByClip(clipPath: string): RowPaths | undefined;
  rowsUnder(dirPrefix: string): RowPaths[];
  allPaths(options: { includeFavorites: boolean }): RowPaths[];
  /** Non-favourites, oldest first, streamed; `loop` picks the continuous segments (`true`) or every other kind (`false`). */
  candidatesOldestFirst(loop?: boolean): IterableIterator<RetentionCandidate>;
  stats(): { count: number; bytes: number; favorites: number };
}

const COLUMNS = [
  'id', 'camera', 'kind', 'day', 'started_at_ms', 'ended_at_ms', 'triggered_at_ms', 'pre_roll_ms', 'duration_s', 'frames', 'width', 'height',
  'trigger_level', 'peak_score', 'clip_path', 'snapshot_path', 'thumbnail_path', 'heatmap_path', 'sidecar_path', 'clip_bytes', 'total_bytes',
  'favorite', 'upload_state', 'indexed_at_ms', 'offloaded_at_ms', 'offloaded_to', 'reviewed', 'labels_json', 'cues', 'discontinuities_json',
] as const;

const PATH_COLUMNS = 'id, clip_path, sidecar_path, snapshot_path, thumbnail_path, heatmap_path, total_bytes, started_at_ms, favorite, offloaded_at_ms';

/** Prepares the write statements over an open, migrated database. */
export function createWrites(db: Database): Writes {
  const insertSql = `INSERT INTO recordings (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((c) => `@${c}`).join(', ')})`;
  const upsertStmt = db.prepare(
    `${insertSql} ON CONFLICT (id) DO UPDATE SET ${COLUMNS.filter((c) => c !== 'id').map((c) => `${c} = excluded.${c}`).join(', ')}`,
  );
  const insertStmt = db.prepare(insertSql);
  const deleteAllStmt = db.prepare('DELETE FROM recordings');
  const idsStmt = db.prepare<[], { id: string }>('SELECT id FROM recordings').pluck();
  const deleteStmt = db.prepare('DELETE FROM recordings WHERE id = ?');
  const byClipStmt = db.prepare<[string], RowPaths>(`SELECT ${PATH_COLUMNS} FROM recordings WHERE clip_path = ?`);
  const underStmt = db.prepare<[string, string], RowPaths>(`SELECT ${PATH_COLUMNS} FROM recordings WHERE clip_path >= ? AND clip_path < ?`);
  const allStmt = db.prepare<[], RowPaths>(`SELECT ${PATH_COLUMNS} FROM recordings ORDER BY started_at_ms, id`);
  const allNonFavStmt = db.prepare<[], RowPaths>(`SELECT ${PATH_COLUMNS} FROM recordings WHERE favorite = 0 ORDER BY started_at_ms, id`);
  const candidatesStmt = db.prepare<[], { id: string; started_at_ms: number; total_bytes: number }>(
    'SELECT id, started_at_ms, total_bytes FROM recordings WHERE favorite = 0 ORDER BY started_at_ms, id',
  );
  const loopCandidatesStmt = db.prepare<[], { id: string; started_at_ms: number; total_bytes: number }>(
    "SELECT id, started_at_ms, total_bytes FROM recordings WHERE kind = 'segment' AND favorite = 0 ORDER BY started_at_ms, id",
  );
  const otherCandidatesStmt = db.prepare<[], { id: string; started_at_ms: number; total_bytes: number }>(
    "SELECT id, started_at_ms, total_bytes FROM recordings WHERE kind <> 'segment' AND favorite = 0 ORDER BY started_at_ms, id",
  );
  const statsStmt = db.prepare<[], { count: number; bytes: number; favorites: number }>(
    'SELECT COALESCE(SUM(count), 0) AS count, COALESCE(SUM(bytes), 0) AS bytes, COALESCE(SUM(count * favorite), 0) AS favorites FROM day_counts',
  );

  const wrapConstraint = (row: RecordingRow, error: unknown): unknown => {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT')) {
      return new StoreError('STORE_DUPLICATE', `recording ${row.id}: clip ${row.clip_path} or sidecar ${row.sidecar_path} already belongs to another recording`, row.id, { cause: error });
    }
    return error;
  };
  const upsertOne = (row: RecordingRow): void => {
    try {
      upsertStmt.run(row);
    } catch (error) {
      throw wrapConstraint(row, error);
    }
  };
  const upsertManyTx = db.transaction((rows: readonly RecordingRow[]) => {
    for (const row of rows) upsertOne(row);
  });
  const replaceAllTx = db.transaction((rows: readonly RecordingRow[]) => {
    const before = new Set(idsStmt.all() as unknown as string[]);
    deleteAllStmt.run();
    let added = 0;
    for (const row of rows) {
      try {
        insertStmt.run(row);
      } catch (error) {
        throw wrapConstraint(row, error);
      }
      if (!before.delete(row.id)) added++;
    }
    return { added, removed: before.size };
  });
  const deleteTx = db.transaction((ids: readonly string[]) => {
    let n = 0;
    for (const id of ids) n += deleteStmt.run(id).changes;
    return n;
  });

  return {
    upsert: upsertOne,
    upsertMany: (rows) => upsertManyTx(rows),
    replaceAll: (rows) => replaceAllTx(rows),
    deleteIds: (ids) => (ids.length ? deleteTx(ids) : 0),
    rowByClip: (clipPath) => byClipStmt.get(clipPath),
    // Every path under `dir/` sorts between `dir/` and `dir0` ('0' follows '/'), so the UNIQUE index on clip_path serves it.
    rowsUnder: (dir) => underStmt.all(`${dir}/`, `${dir}0`),
    allPaths: ({ includeFavorites }) => (includeFavorites ? allStmt : allNonFavStmt).all(),
    *candidatesOldestFirst(loop) {
      const stmt = loop === undefined ? candidatesStmt : loop ? loopCandidatesStmt : otherCandidatesStmt;
      for (const r of stmt.iterate()) yield { id: r.id, startedAtMs: r.started_at_ms, bytes: r.total_bytes };
    },
    stats: () => statsStmt.get() ?? { count: 0, bytes: 0, favorites: 0 },
  };
}
