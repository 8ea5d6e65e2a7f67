import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import type { DatabaseState } from './database';
import { openDatabase } from './database';
import { StoreError } from './errors';
import type { RebuildReport } from './store';
import { DB_FILE, rebuildIndex } from './store';

/** What `preroll reindex` found and did. */
export interface ReindexReport extends RebuildReport {
  readonly dataDir: string;
  readonly dbPath: string;
  /** How the database was found before the rebuild (`created` = it was missing or empty). */
  readonly database: DatabaseState;
  /** Where a damaged database was moved. */
  readonly movedAside: string | null;
  /** Why it was moved. */
  readonly problem: string | null;
}

/**
 * Rebuilds `<dataDir>/index.db` from the sidecars on demand: a damaged database is moved aside
 * first, then every row is replaced in one transaction by what the sidecars say. Safe to run
 * while the server runs (WAL; the server sees the old or the new index). The data directory
 * must exist (`STORE_BAD_DATA_DIR` otherwise, so a typo does not create an empty index).
 */
export async function reindex(dataDir: string, options: { logger?: Logger; now?: () => number } = {}): Promise<ReindexReport> {
  const dir = path.resolve(dataDir);
  const stat = await fsp.stat(dir).catch((error: unknown) => {
    throw new StoreError('STORE_BAD_DATA_DIR', `data directory ${dir} does not exist: ${(error as Error).message}`, dir, { cause: error });
  });
  if (!stat.isDirectory()) throw new StoreError('STORE_BAD_DATA_DIR', `data directory ${dir} is not a directory`, dir);
  const dbPath = path.join(dir, DB_FILE);
  const opened = openDatabase(dbPath, options.logger, options.now);
  try {
    const report = await rebuildIndex(opened.db, dir, options.now);
    options.logger?.info({ indexed: report.indexed, skipped: report.skipped.length, orphans: report.orphans.length, database: opened.state }, 'store: reindexed');
    return { dataDir: dir, dbPath, database: opened.state, movedAside: opened.movedAside, problem: opened.problem, ...report };
  } finally {
    opened.db.close();
  }
}
