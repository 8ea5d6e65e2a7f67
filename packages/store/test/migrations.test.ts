import BetterSqlite3 from 'better-sqlite3';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { openDatabase } from '../src/database';
import type { Migration } from '../src/schema';
import { migrate, MIGRATIONS, SCHEMA_VERSION, schemaVersion } from '../src/schema';
import fc from 'fast-check';
import { rowToRecord, sidecarToRow, type RecordingRow } from '../src/record';
import { RECORDING_KINDS } from '@preroll/layout';
import { openStore } from '../src/store';
import { createWrites } from '../src/writes';
import { makeSidecar, tempDataDir } from './fixtures';

const T0 = new Date(2026, 1, 1, 10, 0, 0).getTime();
const aggregate = (db: BetterSqlite3.Database): unknown =>
  db
    .prepare('SELECT day, camera, kind, favorite, COUNT(*) AS count, SUM(total_bytes) AS bytes FROM recordings GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4')
    .all();
const counts = (db: BetterSqlite3.Database): unknown => db.prepare('SELECT day, camera, kind, favorite, count, bytes FROM day_counts ORDER BY 1, 2, 3, 4').all();

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

  test('version 2 fills day_counts from the rows a version 1 database already has', () => {
    const db = new BetterSqlite3(path.join(dir, 'v1.db'));
    try {
      migrate(db, MIGRATIONS.slice(0, 1));
      expect(schemaVersion(db)).toBe(1);
      const insert = db.prepare(`INSERT INTO recordings (id, camera, kind, day, started_at_ms, ended_at_ms, triggered_at_ms, pre_roll_ms, duration_s, frames, width, height,
        trigger_level, peak_score, clip_path, snapshot_path, thumbnail_path, heatmap_path, sidecar_path, clip_bytes, total_bytes, favorite, upload_state, indexed_at_ms)
        VALUES (@id, @camera, @kind, @day, @started_at_ms, @ended_at_ms, @triggered_at_ms, @pre_roll_ms, @duration_s, @frames, @width, @height,
        @trigger_level, @peak_score, @clip_path, @snapshot_path, @thumbnail_path, @heatmap_path, @sidecar_path, @clip_bytes, @total_bytes, @favorite, @upload_state, @indexed_at_ms)`);
      for (let i = 0; i < 30; i++) {
        const s = makeSidecar(T0 + i * 3_600_000 * 5, { kind: RECORDING_KINDS[i % 3], favorite: i % 4 === 0 });
        insert.run(sidecarToRow(s, `${s.id}.json`, 100 + i, 0));
      }
      expect(migrate(db)).toEqual({ from: 1, to: SCHEMA_VERSION });
      expect(counts(db)).toEqual(aggregate(db));
      expect((counts(db) as unknown[]).length).toBeGreaterThan(3);
    } finally {
      db.close();
    }
  });

  test('version 3 adds the offload columns; rows of a version 2 database read as not offloaded', () => {
    const db = new BetterSqlite3(path.join(dir, 'v2.db'));
    try {
      migrate(db, MIGRATIONS.slice(0, 2));
      const s = makeSidecar(T0);
      const { offloaded_at_ms: _at, offloaded_to: _to, reviewed: _reviewed, labels_json: _labels, cues: _cues, discontinuities_json: _breaks, ...v2row } = sidecarToRow(s, `${s.id}.json`, 500, 0);
      void _labels;
      void _cues;
      void _breaks;
      void _at;
      void _to;
      void _reviewed;
      void _cues;
      void _breaks;
      db.prepare(`INSERT INTO recordings (${Object.keys(v2row).join(', ')}) VALUES (${Object.keys(v2row).map((k) => `@${k}`).join(', ')})`).run(v2row);
      expect(migrate(db)).toEqual({ from: 2, to: SCHEMA_VERSION });
      expect(db.prepare('SELECT offloaded_at_ms, offloaded_to FROM recordings').get()).toEqual({ offloaded_at_ms: null, offloaded_to: null });
      const offloaded = sidecarToRow({ ...s, id: `${s.id}x`, files: { clip: 'events/x.mp4' }, offloaded: { at: new Date(T0).toISOString(), remote: 'r:x.mp4' } }, `${s.id}x.json`, 10, 0);
      createWrites(db).upsert(offloaded);
      expect(db.prepare('SELECT offloaded_at_ms, offloaded_to FROM recordings WHERE id = ?').get(offloaded.id)).toEqual({ offloaded_at_ms: T0, offloaded_to: 'r:x.mp4' });
    } finally {
      db.close();
    }
  });

  test('version 4 adds the reviewed flag; rows of a version 3 database read as not reviewed', () => {
    const db = new BetterSqlite3(path.join(dir, 'v3.db'));
    try {
      migrate(db, MIGRATIONS.slice(0, 3));
      const s = makeSidecar(T0);
      const { reviewed: _reviewed, labels_json: _labels, cues: _cues, discontinuities_json: _breaks, ...v3row } = sidecarToRow(s, `${s.id}.json`, 500, 0);
      void _reviewed;
      void _labels;
      void _cues;
      void _breaks;
      db.prepare(`INSERT INTO recordings (${Object.keys(v3row).join(', ')}) VALUES (${Object.keys(v3row).map((k) => `@${k}`).join(', ')})`).run(v3row);
      expect(migrate(db)).toEqual({ from: 3, to: SCHEMA_VERSION });
      expect(db.prepare('SELECT reviewed FROM recordings').get()).toEqual({ reviewed: 0 });
      const reviewed = sidecarToRow({ ...s, id: `${s.id}r`, files: { clip: 'events/r.mp4' }, reviewed: true }, `${s.id}r.json`, 10, 0);
      createWrites(db).upsert(reviewed);
      expect(db.prepare('SELECT reviewed FROM recordings WHERE id = ?').get(reviewed.id)).toEqual({ reviewed: 1 });
      expect(() => db.prepare('UPDATE recordings SET reviewed = 2').run()).toThrow(/CHECK/);
    } finally {
      db.close();
    }
  });

  test('version 6 adds the cues; rows of a version 5 database read as having none', () => {
    const db = new BetterSqlite3(path.join(dir, 'v5.db'));
    try {
      migrate(db, MIGRATIONS.slice(0, 5));
      const s = makeSidecar(T0);
      const { cues: _cues, discontinuities_json: _breaks, ...v5row } = sidecarToRow(s, `${s.id}.json`, 500, 0);
      void _cues;
      void _breaks;
      db.prepare(`INSERT INTO recordings (${Object.keys(v5row).join(', ')}) VALUES (${Object.keys(v5row).map((k) => `@${k}`).join(', ')})`).run(v5row);
      expect(migrate(db)).toEqual({ from: 5, to: SCHEMA_VERSION });
      expect(db.prepare('SELECT cues FROM recordings').get()).toEqual({ cues: null });
      const cued = sidecarToRow({ ...s, id: `${s.id}c`, files: { clip: 'events/c.mp4' }, cues: ['video', 'pir'] }, `${s.id}c.json`, 10, 0);
      createWrites(db).upsert(cued);
      expect(db.prepare('SELECT cues FROM recordings WHERE id = ?').get(cued.id)).toEqual({ cues: 'video,pir' });
    } finally {
      db.close();
    }
  });

  test('version 7 adds the breaks in the video; rows of a version 6 database read as having none', () => {
    const db = new BetterSqlite3(path.join(dir, 'v6.db'));
    try {
      migrate(db, MIGRATIONS.slice(0, 6));
      const s = makeSidecar(T0);
      const { discontinuities_json: _breaks, ...v6row } = sidecarToRow(s, `${s.id}.json`, 500, 0);
      void _breaks;
      db.prepare(`INSERT INTO recordings (${Object.keys(v6row).join(', ')}) VALUES (${Object.keys(v6row).map((k) => `@${k}`).join(', ')})`).run(v6row);
      expect(migrate(db)).toEqual({ from: 6, to: SCHEMA_VERSION });
      expect(db.prepare('SELECT discontinuities_json FROM recordings').get()).toEqual({ discontinuities_json: null });
      const breaks = [{ atMs: 1200, reason: 'camera-restart' as const, keys: ['camera.fps'], gapMs: 800, ended: false }];
      const cut = sidecarToRow({ ...s, id: `${s.id}d`, files: { clip: 'events/d.mp4' }, discontinuities: breaks }, `${s.id}d.json`, 10, 0);
      createWrites(db).upsert(cut);
      const row = db.prepare('SELECT * FROM recordings WHERE id = ?').get(cut.id) as RecordingRow;
      expect(rowToRecord(row).discontinuities).toEqual(breaks);
      expect(rowToRecord(db.prepare('SELECT * FROM recordings WHERE id = ?').get(s.id) as RecordingRow).discontinuities).toEqual([]);
    } finally {
      db.close();
    }
  });

  test('the day_counts triggers stay equal to a GROUP BY over the rows through any upserts and deletes', () => {
    const db = new BetterSqlite3(path.join(dir, 'p.db'));
    try {
      migrate(db);
      const writes = createWrites(db);
      const op = fc.oneof(
        fc.record({ type: fc.constant('upsert' as const), n: fc.integer({ min: 0, max: 12 }), day: fc.integer({ min: 0, max: 3 }), kind: fc.constantFrom(...RECORDING_KINDS), favorite: fc.boolean(), bytes: fc.integer({ min: 0, max: 1e9 }), camera: fc.constantFrom('cam', 'garden') }),
        fc.record({ type: fc.constant('delete' as const), n: fc.integer({ min: 0, max: 12 }) }),
      );
      fc.assert(
        fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
          db.exec('DELETE FROM recordings');
          for (const o of ops) {
            if (o.type === 'delete') {
              writes.deleteIds([`rec${o.n}`]);
              continue;
            }
            const s = makeSidecar(T0 + o.day * 86_400_000, { id: `rec${o.n}`, kind: o.kind, favorite: o.favorite, camera: o.camera });
            writes.upsert(sidecarToRow(s, `events/misc/rec${o.n}.json`, o.bytes, 0));
          }
          expect(counts(db)).toEqual(aggregate(db));
        }),
        { numRuns: 80 },
      );
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
