import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { readSidecar, recordingPaths } from '@preroll/layout';
import type { Store, StoreChange } from '../src/store';
import { openStore } from '../src/store';
import { exists, makeSidecar, NO_LIMITS, openWatchedStore, tempDataDir, waitFor, writeRecording } from './fixtures';

const BASE = new Date(2026, 8, 12, 7, 15, 0).getTime();
const REMOTE = 'backup:preroll/cam/2026-09-12/clip.mp4';

describe('a clip removed after upload keeps its recording', () => {
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

  const uploaded = async (startMs: number): Promise<string> => {
    const sidecar = await writeRecording(dir, makeSidecar(startMs), 4000);
    await store.indexRecording(recordingPaths(sidecar.id).sidecar);
    await store.setUploadState(sidecar.id, 'uploaded');
    return sidecar.id;
  };

  test('the clip goes, the images, sidecar and row stay, and the sizes say what is left', async () => {
    const id = await uploaded(BASE);
    const before = store.get(id)!;
    const record = await store.offloadClip(id, REMOTE);
    const paths = recordingPaths(id);
    expect(await exists(path.join(dir, paths.clip))).toBe(false);
    expect(await exists(path.join(dir, paths.snapshot))).toBe(true);
    expect(await exists(path.join(dir, paths.sidecar))).toBe(true);
    expect(record.offloaded).toEqual({ at: expect.any(String), remote: REMOTE });
    expect(record.uploadState).toBe('uploaded');
    // The clip's own size is kept (what was recorded); the total is what is left on disk.
    expect(record.clipBytes).toBe(4000);
    // snapshot (100) + thumbnail (50) + the rewritten sidecar
    expect(record.totalBytes).toBe(100 + 50 + (await fsp.stat(path.join(dir, paths.sidecar))).size);
    expect(before.totalBytes - record.totalBytes).toBeGreaterThan(3800);
    expect((await readSidecar(path.join(dir, paths.sidecar))).offloaded?.remote).toBe(REMOTE);
    expect(store.stats().bytes).toBe(record.totalBytes);
    expect(changes).toContainEqual({ type: 'updated', record, what: 'offload' });
    // A second call changes nothing.
    expect((await store.offloadClip(id, 'other:x.mp4')).offloaded).toEqual(record.offloaded);
  });

  test('the watcher and reconcile keep the row although its clip is gone', async () => {
    const id = await uploaded(BASE + 60_000);
    await store.offloadClip(id, REMOTE);
    // Long enough for the watcher to see the unlink (stability 150 ms, debounce 50 ms).
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(store.get(id)?.offloaded?.remote).toBe(REMOTE);
    const report = await store.reconcile();
    expect(report.removed).toBe(0);
    expect(store.get(id)).toBeDefined();
    expect(changes.some((c) => c.type === 'deleted')).toBe(false);
  });

  test('a rebuild from the sidecars brings the offloaded recording back', async () => {
    const id = await uploaded(BASE + 120_000);
    const other = await uploaded(BASE + 180_000);
    const record = await store.offloadClip(id, REMOTE);
    await store.close();
    for (const name of await fsp.readdir(dir)) if (name.startsWith('index.db')) await fsp.rm(path.join(dir, name));
    store = await openStore({ dataDir: dir, retention: NO_LIMITS });
    expect(store.openReport.rebuild).toMatchObject({ indexed: 2, skipped: [] });
    expect(store.get(id)).toEqual({ ...record, offloaded: record.offloaded });
    expect(store.get(other)?.offloaded).toBeNull();
  });

  test('deleting an offloaded recording removes what is left', async () => {
    const id = await uploaded(BASE + 240_000);
    await store.offloadClip(id, REMOTE);
    const result = await store.deleteEvent(id);
    expect(result.files).toEqual(expect.arrayContaining([recordingPaths(id).sidecar, recordingPaths(id).snapshot]));
    expect(result.files).not.toContain(recordingPaths(id).clip);
    expect(store.get(id)).toBeUndefined();
  });

  test('a recording that is not uploaded keeps its clip', async () => {
    const sidecar = await writeRecording(dir, makeSidecar(BASE + 300_000), 1000);
    await store.indexRecording(recordingPaths(sidecar.id).sidecar);
    await expect(store.offloadClip(sidecar.id, REMOTE)).rejects.toMatchObject({ code: 'STORE_BAD_QUERY' });
    await store.setUploadState(sidecar.id, 'pending');
    await expect(store.offloadClip(sidecar.id, REMOTE)).rejects.toMatchObject({ code: 'STORE_BAD_QUERY' });
    expect(await exists(path.join(dir, sidecar.files.clip))).toBe(true);
    await expect(store.offloadClip('nope', REMOTE)).rejects.toMatchObject({ code: 'STORE_NOT_FOUND' });
  });

  test('a clip deleted outside the app without an upload still removes its row', async () => {
    const sidecar = await writeRecording(dir, makeSidecar(BASE + 360_000));
    await store.indexRecording(recordingPaths(sidecar.id).sidecar);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await fsp.rm(path.join(dir, sidecar.files.clip));
    expect(await waitFor(() => store.get(sidecar.id) === undefined, 5000)).toBe(true);
  });
});
