import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { readSidecar, recordingPaths } from '@preroll/layout';
import type { Store, StoreChange } from '../src/store';
import { openStore } from '../src/store';
import { exists, makeSidecar, NO_LIMITS, openWatchedStore, tempDataDir, waitFor, writeRecording } from './fixtures';

const BASE = new Date(2026, 6, 4, 18, 30, 0).getTime();

describe('files kept in step (folder watcher)', () => {
  let dir: string;
  let store: Store;
  let changes: StoreChange[];
  beforeEach(async () => {
    dir = await tempDataDir();
    ({ store, changes } = await openWatchedStore(dir));
  });
  afterEach(async () => {
    await store.close();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  test('a clip and sidecar dropped into the folder are indexed', async () => {
    // As a copy over a share would: clip first, sidecar last, written by something other than the store.
    const sidecar = makeSidecar(BASE, { kind: 'manual' });
    const paths = recordingPaths(sidecar.id);
    await fsp.mkdir(path.join(dir, paths.dir), { recursive: true });
    await fsp.writeFile(path.join(dir, paths.clip), Buffer.alloc(2048, 7));
    await fsp.writeFile(path.join(dir, paths.sidecar), JSON.stringify({ ...sidecar, bytes: 2048 }));
    expect(await waitFor(() => store.get(sidecar.id) !== undefined, 5000)).toBe(true);
    expect(store.get(sidecar.id)).toMatchObject({ kind: 'manual', clipBytes: 2048 });
    expect(changes.some((c) => c.type === 'created' && c.record.id === sidecar.id)).toBe(true);
  });

  test('a sidecar that arrives before its clip is indexed once the clip lands', async () => {
    const sidecar = makeSidecar(BASE + 1000);
    const paths = recordingPaths(sidecar.id);
    await fsp.mkdir(path.join(dir, paths.dir), { recursive: true });
    await fsp.writeFile(path.join(dir, paths.sidecar), JSON.stringify(sidecar));
    // Give the watcher time to see the lonely sidecar and skip it.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(store.get(sidecar.id)).toBeUndefined();
    await fsp.writeFile(path.join(dir, paths.clip), Buffer.alloc(1000, 1));
    expect(await waitFor(() => store.get(sidecar.id) !== undefined, 5000)).toBe(true);
  });

  test('a clip deleted outside the app removes its row and the rest of its files', async () => {
    const keep = await writeRecording(dir, makeSidecar(BASE));
    const gone = await writeRecording(dir, makeSidecar(BASE + 60_000));
    await store.indexRecording(recordingPaths(keep.id).sidecar);
    await store.indexRecording(recordingPaths(gone.id).sidecar);
    // Deleted over a share some time after the recording was made.
    await new Promise((resolve) => setTimeout(resolve, 400));
    await fsp.rm(path.join(dir, gone.files.clip));
    expect(await waitFor(() => store.get(gone.id) === undefined, 5000)).toBe(true);
    expect(store.get(keep.id)).toBeDefined();
    expect(changes).toContainEqual({ type: 'deleted', id: gone.id, reason: 'external' });
    // Companion files go right after the row, sidecar first, thumbnail last.
    expect(await waitFor(async () => !(await exists(path.join(dir, recordingPaths(gone.id).thumbnail))), 2000)).toBe(true);
    expect(await exists(path.join(dir, recordingPaths(gone.id).sidecar))).toBe(false);
    expect(await exists(path.join(dir, recordingPaths(keep.id).thumbnail))).toBe(true);
  });

  test('a clip deleted while the watcher is still waiting for its files to settle still loses its row', async () => {
    const gone = await writeRecording(dir, makeSidecar(BASE + 5000));
    await store.indexRecording(recordingPaths(gone.id).sidecar);
    await fsp.rm(path.join(dir, gone.files.clip));
    expect(await waitFor(() => store.get(gone.id) === undefined, 5000)).toBe(true);
  });

  test('a whole day folder deleted removes all its rows', async () => {
    const other = await writeRecording(dir, makeSidecar(BASE - 86_400_000 * 2));
    await store.indexRecording(recordingPaths(other.id).sidecar);
    for (let i = 0; i < 5; i++) {
      const s = await writeRecording(dir, makeSidecar(BASE + i * 1000));
      await store.indexRecording(recordingPaths(s.id).sidecar);
    }
    expect(store.stats().count).toBe(6);
    await fsp.rm(path.join(dir, recordingPaths(store.list({ limit: 1 }).items[0].id).dir), { recursive: true });
    expect(await waitFor(() => store.stats().count === 1, 5000)).toBe(true);
    expect(store.get(other.id)).toBeDefined();
  });

  test('rewriting a sidecar (favourite) keeps the row and the watcher does not undo it', async () => {
    const s = await writeRecording(dir, makeSidecar(BASE));
    await store.indexRecording(recordingPaths(s.id).sidecar);
    await store.setFavorite(s.id, true);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(store.get(s.id)?.favorite).toBe(true);
    expect((await readSidecar(path.join(dir, recordingPaths(s.id).sidecar))).favorite).toBe(true);
  });
});

describe('delete', () => {
  let dir: string;
  let store: Store;
  beforeEach(async () => {
    dir = await tempDataDir();
    store = await openStore({ dataDir: dir, retention: NO_LIMITS });
  });
  afterEach(async () => {
    await store.close();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  const add = async (offsetMs: number, extra: Parameters<typeof makeSidecar>[1] = {}): Promise<string> => {
    const s = await writeRecording(dir, makeSidecar(BASE + offsetMs, extra));
    await store.indexRecording(recordingPaths(s.id).sidecar);
    return s.id;
  };

  test('deleteEvent removes every file and the row, favourites included', async () => {
    const id = await add(0, { favorite: true });
    const record = store.get(id);
    expect(record?.favorite).toBe(true);
    const result = await store.deleteEvent(id);
    expect(result.files.sort()).toEqual([record?.files.clip, record?.files.snapshot, record?.files.thumbnail, record?.files.sidecar].sort());
    expect(result.freedBytes).toBe(record?.totalBytes);
    for (const rel of result.files) expect(await exists(path.join(dir, rel))).toBe(false);
    expect(store.get(id)).toBeUndefined();
    await expect(store.deleteEvent(id)).rejects.toMatchObject({ code: 'STORE_NOT_FOUND', value: id });
  });

  test('deleteEvent tolerates files already gone', async () => {
    const id = await add(0);
    await fsp.rm(path.join(dir, recordingPaths(id).thumbnail));
    const result = await store.deleteEvent(id);
    expect(result.files).not.toContain(recordingPaths(id).thumbnail);
    expect(store.get(id)).toBeUndefined();
  });

  test('deleteAll keeps favourites unless asked, and removes the files of what it deletes', async () => {
    const ids = [await add(0), await add(1000), await add(2000), await add(3000)];
    await store.setFavorite(ids[1], true);
    const result = await store.deleteAll();
    expect(result).toMatchObject({ deleted: 3, keptFavorites: 1, failed: [] });
    expect(store.list().items.map((r) => r.id)).toEqual([ids[1]]);
    expect(await exists(path.join(dir, recordingPaths(ids[0]).clip))).toBe(false);
    expect(await exists(path.join(dir, recordingPaths(ids[1]).clip))).toBe(true);
    const all = await store.deleteAll({ includeFavorites: true });
    expect(all).toMatchObject({ deleted: 1, keptFavorites: 0 });
    expect(store.stats().count).toBe(0);
  });

  test('setFavorite on an unknown id is STORE_NOT_FOUND; a closed store says STORE_CLOSED', async () => {
    await expect(store.setFavorite('nope', true)).rejects.toMatchObject({ code: 'STORE_NOT_FOUND' });
    await store.close();
    expect(() => store.list()).toThrow(expect.objectContaining({ code: 'STORE_CLOSED' }));
  });
});
