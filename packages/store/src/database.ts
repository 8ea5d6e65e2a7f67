import BetterSqlite3 from 'better-sqlite3';
import type { Database } from 'better-sqlite3';
import { existsSync, renameSync } from 'node:fs';
import type { Logger } from 'pino';
import { StoreError } from './errors';
import { migrate, schemaVersion } from './schema';

/** How {@link openDatabase} found the database file. */
export type DatabaseState =
  /** Healthy and at a known schema version. */
  | 'ok'
  /** Missing or empty: a new database was created, and its rows must be rebuilt from the sidecars. */
  | 'created'
  /** Corrupt or truncated: moved aside and replaced by a new one, to be rebuilt from the sidecars. */
  | 'recovered';

/** An open, migrated database and what had to be done to get it. */
export interface OpenedDatabase {
  readonly db: Database;
  readonly state: DatabaseState;
  /** Where the damaged file was moved (`<db>.corrupt-<time>`), when `state` is `recovered`. */
  readonly movedAside: string | null;
  /** Why it was moved aside (the SQLite error or the first `quick_check` line). */
  readonly problem: string | null;
}

/**
 * Opens (or creates) the index database: WAL journal, `synchronous = NORMAL` (a power cut can
 * lose the last transactions but not corrupt the file, and the sidecars restore those), a busy
 * timeout so `preroll reindex` can run beside the server, then `PRAGMA quick_check` and the
 * migrations. A corrupt file (SQLITE_CORRUPT, SQLITE_NOTADB or a failing quick_check) is
 * renamed to `<db>.corrupt-<time>` together with its -wal/-shm files and a new one is created.
 * Other failures (permissions, a newer schema) are thrown as `STORE_DB_OPEN_FAILED` /
 * `STORE_SCHEMA_TOO_NEW`: those files are not damaged and must not be moved.
 */
export function openDatabase(dbPath: string, logger?: Logger, now: () => number = Date.now): OpenedDatabase {
  try {
    const { db, fresh } = openChecked(dbPath);
    return { db, state: fresh ? 'created' : 'ok', movedAside: null, problem: null };
  } catch (error) {
    if (!isCorruption(error)) throw wrapOpenError(dbPath, error);
    const problem = (error as Error).message;
    try {
      const movedAside = moveAside(dbPath, now());
      logger?.warn({ dbPath, movedAside, problem }, 'store: database is damaged; moved aside, rebuilding from sidecars');
      const { db } = openChecked(dbPath);
      return { db, state: 'recovered', movedAside, problem };
    } catch (second) {
      throw wrapOpenError(dbPath, second);
    }
  }
}

/** Thrown inside {@link openChecked} when quick_check reports damage without an SQLite error. */
class QuickCheckFailed extends Error {}

function openChecked(dbPath: string): { db: Database; fresh: boolean } {
  const db = new BetterSqlite3(dbPath);
  try {
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const rows = db.pragma('quick_check') as Array<{ quick_check: string }>;
    if (rows.length !== 1 || rows[0].quick_check !== 'ok') {
      throw new QuickCheckFailed(`quick_check: ${rows.map((r) => r.quick_check).slice(0, 3).join('; ')}`);
    }
    const fresh = schemaVersion(db) === 0;
    migrate(db);
    return { db, fresh };
  } catch (error) {
    db.close();
    throw error;
  }
}

/** True for errors that mean the file's contents are damaged (as opposed to unreadable or newer). */
export function isCorruption(error: unknown): boolean {
  if (error instanceof QuickCheckFailed) return true;
  if (error instanceof StoreError && error.code === 'STORE_MIGRATION_FAILED') return isCorruption(error.cause);
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB');
}

function wrapOpenError(dbPath: string, error: unknown): unknown {
  if (error instanceof StoreError) return error;
  return new StoreError('STORE_DB_OPEN_FAILED', `cannot open database ${dbPath}: ${(error as Error).message}`, dbPath, { cause: error });
}

function moveAside(dbPath: string, nowMs: number): string {
  const stamp = new Date(nowMs).toISOString().replace(/[:.]/g, '-');
  const target = `${dbPath}.corrupt-${stamp}`;
  renameSync(dbPath, target);
  // A WAL left beside a fresh database would be replayed into it: it belongs to the old file.
  for (const suffix of ['-wal', '-shm']) {
    if (existsSync(dbPath + suffix)) renameSync(dbPath + suffix, target + suffix);
  }
  return target;
}
