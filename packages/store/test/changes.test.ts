import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { parseSidecar, recordingPaths, writeSidecarAtomic } from '@preroll/layout';
import { sleep } from '@preroll/testkit';
import type { Store, StoreChange } from '../src/store';
import { makeSidecar, openWatchedStore, tempDataDir, writeRecording } from './fixtures';

const BASE = new Date(2026, 9, 3, 21, 0, 0).getTime();

/** Long enough for the watcher (150 ms stability, 50 ms batching in these tests) to report and settle. */
const SETTLE_MS = 1200;

/** The changes as `type:id:what`, for exact comparison. */
function named(changes: readonly StoreChange[]): string[] {
  return changes.map((c) => (c.type === 'created' ? `created:${c.record.id}:${c.source}` : c.type === 'updated' ? `updated:${c.record.id}:${c.what}` : `deleted:${c.id}:${c.reason}`));
}

describe('store changes: counted, never repeated by its own writes', () => {
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

  test('a recording indexed by the app is created once; favourites, upload states and touches of its sidecar are updates or nothing', async () => {
    const sidecar = await writeRecording(dir, makeSidecar(BASE));
    const id = sidecar.id;
    await store.indexRecording(recordingPaths(id).sidecar);
    await sleep(SETTLE_MS);
    expect(named(changes)).toEqual([`created:${id}:app`]);

    await store.setFavorite(id, true);
    await store.setUploadState(id, 'pending');
    await store.setUploadState(id, 'uploaded');
    await sleep(SETTLE_MS);
    expect(named(changes)).toEqual([`created:${id}:app`, `updated:${id}:favorite`, `updated:${id}:upload`, `updated:${id}:upload`]);

    // Touched, and rewritten with the same bytes (as a copy over a share would): nothing changed.
    const file = path.join(dir, recordingPaths(id).sidecar);
    const later = new Date(Date.now() + 5000);
    await fsp.utimes(file, later, later);
    await fsp.writeFile(file, await fsp.readFile(file));
    await sleep(SETTLE_MS);
    // Indexed a second time by the app (a retried hook): the row is there, so no second `created`.
    await store.indexRecording(recordingPaths(id).sidecar);
    await store.reconcile();
    expect(named(changes)).toHaveLength(4);

    // Edited outside the app: one update.
    await writeSidecarAtomic(file, { ...parseSidecar(JSON.parse(await fsp.readFile(file, 'utf8'))), favorite: false });
    await sleep(SETTLE_MS);
    expect(named(changes).slice(4)).toEqual([`updated:${id}:sidecar`]);
    expect(store.get(id)?.favorite).toBe(false);
  });

  test('a recording copied in is created once, from disk; deleting it is one deletion', async () => {
    const sidecar = await writeRecording(dir, makeSidecar(BASE + 60_000, { kind: 'manual' }));
    await sleep(SETTLE_MS);
    await store.reconcile();
    await sleep(SETTLE_MS);
    expect(named(changes)).toEqual([`created:${sidecar.id}:disk`]);
    await store.deleteEvent(sidecar.id);
    await sleep(SETTLE_MS);
    expect(named(changes)).toEqual([`created:${sidecar.id}:disk`, `deleted:${sidecar.id}:api`]);
  });
});
