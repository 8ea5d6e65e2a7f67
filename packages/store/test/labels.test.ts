import BetterSqlite3 from 'better-sqlite3';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { readSidecar, recordingPaths, type EventLabel } from '@preroll/layout';
import { sleep } from '@preroll/testkit';
import { migrate, MIGRATIONS, SCHEMA_VERSION } from '../src/schema';
import { sidecarToRow } from '../src/record';
import { createWrites } from '../src/writes';
import { openStore, type Store } from '../src/store';
import { reindex } from '../src/reindex';
import { makeSidecar, NO_LIMITS, openWatchedStore, tempDataDir, writeRecording } from './fixtures';

const BASE = new Date(2026, 9, 3, 21, 0, 0).getTime();
const PERSON: EventLabel = { label: 'person', subLabel: 'person', confidence: 0.61, box: [10, 20, 100, 200] };
const CAT: EventLabel = { label: 'animal', subLabel: 'cat', confidence: 0.47, box: [5, 5, 50, 40] };
const labelRows = (db: BetterSqlite3.Database): unknown => db.prepare('SELECT label, recording_id FROM recording_labels ORDER BY recording_id, label').all();

describe('labels in the index', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDataDir();
  });
  afterEach(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  test('version 5 adds labels to a version 4 database: old rows read as not classified; the label index follows upserts and deletes', () => {
    const db = new BetterSqlite3(path.join(dir, 'v4.db'));
    try {
      migrate(db, MIGRATIONS.slice(0, 4));
      const s = makeSidecar(BASE);
      const { labels_json: _labels, cues: _cues, discontinuities_json: _breaks, ...v4row } = sidecarToRow(s, `${s.id}.json`, 500, 0);
      void _labels;
      void _cues;
      void _breaks;
      db.prepare(`INSERT INTO recordings (${Object.keys(v4row).join(', ')}) VALUES (${Object.keys(v4row).map((k) => `@${k}`).join(', ')})`).run(v4row);
      expect(migrate(db)).toEqual({ from: 4, to: SCHEMA_VERSION });
      expect(db.prepare('SELECT labels_json FROM recordings').get()).toEqual({ labels_json: null });
      expect(labelRows(db)).toEqual([]);

      const writes = createWrites(db);
      writes.upsert(sidecarToRow({ ...s, labels: [PERSON, CAT] }, `${s.id}.json`, 500, 0));
      expect(labelRows(db)).toEqual([
        { label: 'animal', recording_id: s.id },
        { label: 'cat', recording_id: s.id },
        { label: 'person', recording_id: s.id },
      ]);
      writes.upsert(sidecarToRow({ ...s, labels: [] }, `${s.id}.json`, 500, 0));
      expect(labelRows(db)).toEqual([]);
      writes.upsert(sidecarToRow({ ...s, labels: [CAT] }, `${s.id}.json`, 500, 0));
      expect(labelRows(db)).toHaveLength(2);
      writes.deleteIds([s.id]);
      expect(labelRows(db)).toEqual([]);
    } finally {
      db.close();
    }
  });

  test('setLabels writes the sidecar, the row and one `updated` change; the list filters by label, sub-label and none', async () => {
    const { store, changes } = await openWatchedStore(dir);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        const sidecar = await writeRecording(dir, makeSidecar(BASE + i * 60_000));
        await store.indexRecording(recordingPaths(sidecar.id).sidecar);
        ids.push(sidecar.id);
      }
      const [person, cat, empty, unclassified] = ids;
      const before = changes.length;
      const record = await store.setLabels(person, [PERSON]);
      expect(record.labels).toEqual([PERSON]);
      await store.setLabels(cat, [CAT]);
      await store.setLabels(empty, []);
      // The watcher sees the rewritten sidecars too; it must not report them a second time.
      await sleep(1200);
      const updates = changes.slice(before);
      expect(updates.map((c) => (c.type === 'updated' ? `${c.record.id}:${c.what}` : c.type))).toEqual([`${person}:labels`, `${cat}:labels`, `${empty}:labels`]);

      const sidecar = await readSidecar(path.join(dir, recordingPaths(person).sidecar));
      expect(sidecar.labels).toEqual([PERSON]);
      expect(store.get(unclassified)?.labels).toBeNull();
      expect(store.get(empty)?.labels).toEqual([]);

      const idsOf = (query: Parameters<Store['list']>[0]): string[] => store.list(query).items.map((r) => r.id);
      expect(idsOf({ label: 'person' })).toEqual([person]);
      expect(idsOf({ label: 'animal' })).toEqual([cat]);
      expect(idsOf({ label: 'cat' })).toEqual([cat]);
      expect(idsOf({ label: 'vehicle' })).toHaveLength(0);
      expect(idsOf({ label: 'none' })).toEqual([empty]);
      expect(idsOf({ hideUnlabelled: true })).toEqual([unclassified, cat, person]);
      expect(idsOf({})).toHaveLength(4);
      // The gallery's buttons: one count per taxonomy label and "motion only", zeros included; a person with a cat counts once each.
      await store.setLabels(person, [PERSON, CAT]);
      const counts = (query?: Parameters<Store['countByLabel']>[0]): [string, number][] => store.countByLabel(query).map((c) => [c.label, c.count]);
      expect(counts()).toEqual([
        ['person', 1],
        ['animal', 2],
        ['vehicle', 0],
        ['other', 0],
        ['none', 1],
      ]);
      expect(counts({ kind: 'manual' }).every(([, n]) => n === 0)).toBe(true);
      expect(counts({ camera: 'cam', day: store.get(person)!.day }).map(([, n]) => n)).toEqual([1, 2, 0, 0, 1]);
      expect(() => store.countByLabel({ day: 'yesterday' })).toThrow(expect.objectContaining({ code: 'STORE_BAD_QUERY' }));
      expect(() => store.list({ label: "x' OR 1=1 --" })).toThrow(expect.objectContaining({ code: 'STORE_BAD_QUERY' }));
      await expect(store.setLabels('nope', [])).rejects.toMatchObject({ code: 'STORE_NOT_FOUND' });
    } finally {
      await store.close();
    }
  });

  test('labels survive a rebuild of the index from the sidecars', async () => {
    const a = await writeRecording(dir, makeSidecar(BASE, { labels: [CAT] }));
    const b = await writeRecording(dir, makeSidecar(BASE + 60_000));
    const report = await reindex(dir);
    expect(report.indexed).toBe(2);
    const store = await openStore({ dataDir: dir, retention: NO_LIMITS });
    try {
      expect(store.get(a.id)?.labels).toEqual([CAT]);
      expect(store.get(b.id)?.labels).toBeNull();
      expect(store.list({ label: 'cat' }).items.map((r) => r.id)).toEqual([a.id]);
    } finally {
      await store.close();
    }
  });
});
