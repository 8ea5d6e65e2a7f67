import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { reindex } from '../src/reindex';
import { recordingPaths, writeSidecarAtomic } from '@preroll/layout';
import { openStore } from '../src/store';
import { makeSidecar, NO_LIMITS, tempDataDir, writeRecording } from './fixtures';

const BASE = new Date(2026, 4, 1, 8, 0, 0).getTime();

describe('rebuild from sidecars', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDataDir();
  });
  afterEach(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  /** Writes n recordings over two days, returns their ids; the third one becomes a favourite through the store. */
  const populate = async (n: number): Promise<string[]> => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const s = await writeRecording(dir, makeSidecar(BASE + i * 3_600_000 * 7, { kind: i % 2 ? 'manual' : 'motion', peakScore: i * 10 }), 500 + i);
      ids.push(s.id);
    }
    return ids;
  };

  const snapshot = (store: Awaited<ReturnType<typeof openStore>>): unknown => store.list({ limit: 500 }).items;

  test('a first open indexes the recordings already on disk', async () => {
    const ids = await populate(5);
    const store = await openStore({ dataDir: dir, retention: NO_LIMITS });
    try {
      expect(store.openReport.state).toBe('created');
      expect(store.openReport.rebuild).toMatchObject({ indexed: 5, added: 5, removed: 0, skipped: [], orphans: [] });
      expect(store.list({ limit: 10 }).items.map((r) => r.id)).toEqual([...ids].reverse());
      const first = store.get(ids[0]);
      // clip + snapshot (100) + thumbnail (50) + the sidecar file itself
      const sidecarBytes = (await fsp.stat(path.join(dir, recordingPaths(ids[0]).sidecar))).size;
      expect(first?.totalBytes).toBe(500 + 100 + 50 + sidecarBytes);
      expect(first?.clipBytes).toBe(500);
    } finally {
      await store.close();
    }
  });

  test('after the database is deleted, reopening rebuilds every row, favourites included', async () => {
    const ids = await populate(6);
    const store = await openStore({ dataDir: dir, retention: NO_LIMITS });
    await store.setFavorite(ids[2], true);
    await store.setUploadState(ids[3], 'uploaded');
    await store.setReviewed(ids[4], true);
    expect(store.unreviewedCount()).toBe(5);
    const before = snapshot(store);
    await store.close();

    for (const name of await fsp.readdir(dir)) if (name.startsWith('index.db')) await fsp.rm(path.join(dir, name));
    const again = await openStore({ dataDir: dir, retention: NO_LIMITS });
    try {
      expect(again.openReport.state).toBe('created');
      expect(again.openReport.rebuild?.indexed).toBe(6);
      expect(snapshot(again)).toEqual(before);
      expect(again.get(ids[2])?.favorite).toBe(true);
      expect(again.get(ids[3])?.uploadState).toBe('uploaded');
      expect(again.get(ids[4])?.reviewed).toBe(true);
      expect(again.unreviewedCount()).toBe(5);
      expect(again.list({ reviewed: false }).items.map((e) => e.id).sort()).toEqual(ids.filter((id) => id !== ids[4]).sort());
      expect(await again.markAllReviewed()).toBe(5);
      expect(again.unreviewedCount()).toBe(0);
    } finally {
      await again.close();
    }
  });

  test.each([
    ['truncated to half', async (file: string) => fsp.truncate(file, Math.floor((await fsp.stat(file)).size / 2))],
    ['truncated to 100 bytes', async (file: string) => fsp.truncate(file, 100)],
    ['header overwritten', async (file: string) => {
      const h = await fsp.open(file, 'r+');
      await h.write(Buffer.alloc(100, 0x41), 0, 100, 0);
      await h.close();
    }],
    ['an index page overwritten', async (file: string) => {
      const h = await fsp.open(file, 'r+');
      await h.write(Buffer.alloc(4096, 0x5a), 0, 4096, 4096 * 2);
      await h.close();
    }],
  ])('a damaged database (%s) is moved aside and rebuilt, losing nothing', async (_name, damage) => {
    const ids = await populate(40);
    const store = await openStore({ dataDir: dir, retention: NO_LIMITS });
    await store.setFavorite(ids[7], true);
    const before = snapshot(store);
    await store.close();
    const file = path.join(dir, 'index.db');
    await damage(file);

    const again = await openStore({ dataDir: dir, retention: NO_LIMITS, now: () => Date.parse('2026-05-02T03:04:05.678Z') });
    try {
      expect(again.openReport.state).toBe('recovered');
      expect(again.openReport.movedAside).toBe(`${file}.corrupt-2026-05-02T03-04-05-678Z`);
      expect(again.openReport.problem).toEqual(expect.any(String));
      expect(snapshot(again)).toEqual(before);
      const names = await fsp.readdir(dir);
      expect(names).toContain('index.db.corrupt-2026-05-02T03-04-05-678Z');
    } finally {
      await again.close();
    }
  });

  test('an empty database file counts as missing and is rebuilt', async () => {
    await populate(3);
    await fsp.writeFile(path.join(dir, 'index.db'), '');
    const store = await openStore({ dataDir: dir, retention: NO_LIMITS });
    try {
      expect(store.openReport.state).toBe('created');
      expect(store.stats().count).toBe(3);
    } finally {
      await store.close();
    }
  });

  test('reindex reports what it indexed, what it skipped and why, and the orphans', async () => {
    const ids = await populate(4);
    const store = await openStore({ dataDir: dir, retention: NO_LIMITS });
    await store.close();

    const day = path.join(dir, 'events', '2026-05-01');
    // Bad JSON (a sidecar torn by hand), an invalid field, a sidecar whose clip is gone,
    // a clip without sidecar, a leftover temp file, a duplicate id in another folder.
    await fsp.writeFile(path.join(day, '2026-05-01_23-00-00-000_motion.json'), '{"version":1,"id":');
    const invalid = makeSidecar(BASE + 60_000, { id: '2026-05-01_08-01-00-000_motion' });
    await fsp.writeFile(path.join(day, `${invalid.id}.json`), JSON.stringify({ ...invalid, kind: 'timelapse' }));
    await fsp.rm(path.join(dir, recordingPaths(ids[1]).clip));
    await fsp.writeFile(path.join(day, 'stray.mp4'), Buffer.alloc(10));
    await fsp.writeFile(path.join(day, `${ids[0]}.json.tmp-123-abcd`), '{');
    const dupDir = path.join(dir, 'events', 'copy');
    await fsp.mkdir(dupDir);
    await fsp.copyFile(path.join(dir, recordingPaths(ids[2]).sidecar), path.join(dupDir, `${ids[2]}.json`));

    const report = await reindex(dir);
    expect(report.database).toBe('ok');
    expect(report.indexed).toBe(3);
    expect(report.removed).toBe(1);
    expect(report.added).toBe(0);
    const skipped = Object.fromEntries(report.skipped.map((s) => [s.path, s.code]));
    expect(skipped).toEqual({
      'events/2026-05-01/2026-05-01_23-00-00-000_motion.json': 'LAYOUT_SIDECAR_BAD_JSON',
      [`events/2026-05-01/${invalid.id}.json`]: 'LAYOUT_SIDECAR_INVALID',
      [recordingPaths(ids[1]).sidecar]: 'STORE_CLIP_MISSING',
      [`events/copy/${ids[2]}.json`]: 'STORE_DUPLICATE',
    });
    const orphans = Object.fromEntries(report.orphans.map((o) => [o.path, o.kind]));
    expect(orphans).toEqual({
      'events/2026-05-01/stray.mp4': 'clip-without-sidecar',
      [`events/2026-05-01/${ids[0]}.json.tmp-123-abcd`]: 'temp-file',
    });

    const reopened = await openStore({ dataDir: dir, retention: NO_LIMITS });
    try {
      expect(reopened.openReport.state).toBe('ok');
      expect(reopened.list().items.map((r) => r.id).sort()).toEqual([ids[0], ids[2], ids[3]].sort());
    } finally {
      await reopened.close();
    }
  });

  test('reindex after the database was deleted recreates it; a missing data directory is an error', async () => {
    await populate(2);
    const report = await reindex(dir);
    expect(report).toMatchObject({ database: 'created', indexed: 2, added: 2 });
    await expect(reindex(path.join(dir, 'nope'))).rejects.toMatchObject({ code: 'STORE_BAD_DATA_DIR' });
  });

  test('reconcile indexes sidecars written while the store was not watching and drops rows whose clip vanished', async () => {
    const ids = await populate(3);
    const store = await openStore({ dataDir: dir, retention: NO_LIMITS });
    try {
      const late = await writeRecording(dir, makeSidecar(BASE + 99 * 3_600_000));
      await fsp.rm(path.join(dir, recordingPaths(ids[0]).clip));
      const report = await store.reconcile();
      expect(report).toMatchObject({ indexed: 1, removed: 1 });
      expect(store.get(late.id)).toBeDefined();
      expect(store.get(ids[0])).toBeUndefined();
      // The rest of the deleted clip's recording went with it.
      expect(await fsp.readdir(path.join(dir, recordingPaths(ids[0]).dir))).not.toContain(`${ids[0]}.json`);
    } finally {
      await store.close();
    }
  });

  test('indexRecording reads the sidecar from disk and refuses one whose clip is missing', async () => {
    const store = await openStore({ dataDir: dir, retention: NO_LIMITS });
    try {
      const s = await writeRecording(dir, makeSidecar(BASE));
      const record = await store.indexRecording(recordingPaths(s.id).sidecar);
      expect(record.id).toBe(s.id);
      const lonely = makeSidecar(BASE + 1000);
      await writeSidecarAtomic(path.join(dir, recordingPaths(lonely.id).sidecar), lonely);
      await expect(store.indexRecording(path.join(dir, recordingPaths(lonely.id).sidecar))).rejects.toMatchObject({ code: 'STORE_CLIP_MISSING' });
      await expect(store.indexRecording('../outside.json')).rejects.toMatchObject({ code: 'STORE_BAD_QUERY' });
    } finally {
      await store.close();
    }
  });
});
