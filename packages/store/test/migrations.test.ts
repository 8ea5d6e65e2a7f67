import BetterSqlite3 from 'better-sqlite3';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { openDatabase } from '../src/database';
import type { Migration } from '../src/schema';
import { migrate, MIGRATIONS, SCHEMA_VERSION, schemaVersion } from '../src/schema';
import { openStore } from '../src/store';
import { tempDataDir } from './fixtures';

describe('schema migrations', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDataDir();
  });
  afterEach(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  test('a new database is migrated to the latest version, in WAL mode, with the gallery indexes', () => {
    const opened = openDatabase(path.join(dir, 'index.db'));
    try {
      expect(opened.state).toBe('created');
      expect(schemaVersion(opened.db)).toBe(SCHEMA_VERSION);
      expect(opened.db.pragma('journal_mode', { simple: true })).toBe('wal');
      const indexes = opened.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'recordings' AND name NOT LIKE 'sqlite_%'").pluck().all();
      expect(indexes).toEqual(expect.arrayContaining(['recordings_by_start', 'recordings_by_day', 'recordings_by_kind', 'recordings_by_favorite']));
    } finally {
      opened.db.close();
    }
    const again = openDatabase(path.join(dir, 'index.db'));
    try {
      expect(again.state).toBe('ok');
      expect(migrate(again.db)).toEqual({ from: SCHEMA_VERSION, to: SCHEMA_VERSION });
    } finally {
      again.db.close();
    }
  });

  test('steps run in order, each in its own transaction; a failing step leaves the previous version', () => {
    const db = new BetterSqlite3(path.join(dir, 'm.db'));
    try {
      const steps: Migration[] = [
        ...MIGRATIONS,
        { version: SCHEMA_VERSION + 1, description: 'add a column', up: (d) => d.exec('ALTER TABLE recordings ADD COLUMN note TEXT') },
        {
          version: SCHEMA_VERSION + 2,
          description: 'broken step',
          up: (d) => {
            d.exec('CREATE TABLE half_done (x)');
            d.exec('THIS IS NOT SQL');
          },
        },
      ];
      const error = (() => {
        try {
          migrate(db, steps);
        } catch (e) {
          return e;
        }
        return null;
      })();
      expect(error).toMatchObject({ code: 'STORE_MIGRATION_FAILED', value: SCHEMA_VERSION + 2 });
      expect(schemaVersion(db)).toBe(SCHEMA_VERSION + 1);
      const columns = db.prepare("SELECT name FROM pragma_table_info('recordings')").pluck().all();
      expect(columns).toContain('note');
      expect(db.prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 'half_done'").pluck().get()).toBe(0);
    } finally {
      db.close();
    }
  });

  test('a database from a newer build is refused, not moved aside', async () => {
    const file = path.join(dir, 'index.db');
    const db = new BetterSqlite3(file);
    db.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
    db.close();
    await expect(openStore({ dataDir: dir })).rejects.toMatchObject({ code: 'STORE_SCHEMA_TOO_NEW', value: SCHEMA_VERSION + 5 });
    expect((await fsp.readdir(dir)).filter((n) => n.includes('corrupt'))).toEqual([]);
  });
});
