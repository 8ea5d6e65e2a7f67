import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { DiskUsageReader, RetentionCandidate, RetentionInput } from '../src/retention';
import { DEFAULT_RETENTION, planRetention } from '../src/retention';
import { recordingPaths } from '@preroll/layout';
import type { Store, StoreOptions } from '../src/store';
import { openStore } from '../src/store';
import { exists, makeSidecar, NO_LIMITS, tempDataDir, waitFor, writeRecording } from './fixtures';

const DAY = 86_400_000;
const NOW = Date.parse('2026-06-30T12:00:00Z');

describe('planRetention', () => {
  const c = (id: string, ageDays: number, bytes: number): RetentionCandidate => ({ id, startedAtMs: NOW - ageDays * DAY, bytes });
  const candidates = [c('a', 40, 100), c('b', 20, 100), c('c', 10, 100), c('d', 1, 100)];
  const input = (over: Partial<RetentionInput> = {}): RetentionInput => ({
    nowMs: NOW,
    limits: NO_LIMITS,
    indexedBytes: 400,
    disk: { sizeBytes: 1000, usedBytes: 500, availableBytes: 500 },
    ...over,
  });
  const ids = (i: RetentionInput): string => planRetention(i, candidates).deletions.map((d) => `${d.id}:${d.reason}`).join(' ');

  test.each<[string, Partial<RetentionInput>, string, boolean]>([
    ['no limits', {}, '', true],
    ['limits that hold', { limits: { maxDiskPct: 80, maxTotalBytes: 1000, maxAgeDays: 60 } }, '', true],
    ['age 15 days', { limits: { ...NO_LIMITS, maxAgeDays: 15 } }, 'a:max-age b:max-age', true],
    ['age exactly at the edge is kept', { limits: { ...NO_LIMITS, maxAgeDays: 10 } }, 'a:max-age b:max-age', true],
    ['total bytes 250', { limits: { ...NO_LIMITS, maxTotalBytes: 250 } }, 'a:max-total-bytes b:max-total-bytes', true],
    ['total bytes with favourites counted', { limits: { ...NO_LIMITS, maxTotalBytes: 250 }, indexedBytes: 550 }, 'a:max-total-bytes b:max-total-bytes c:max-total-bytes', true],
    ['disk 30 %', { limits: { ...NO_LIMITS, maxDiskPct: 30 } }, 'a:max-disk-pct b:max-disk-pct', true],
    ['disk 80 % but disk unreadable', { limits: { ...NO_LIMITS, maxDiskPct: 30 }, disk: null }, '', true],
    ['age first, then bytes', { limits: { ...NO_LIMITS, maxAgeDays: 30, maxTotalBytes: 150 } }, 'a:max-age b:max-total-bytes c:max-total-bytes', true],
    ['free 150 bytes', { freeBytes: 150 }, 'a:free-space b:free-space', true],
    ['impossible disk target', { limits: { ...NO_LIMITS, maxDiskPct: 5 } }, 'a:max-disk-pct b:max-disk-pct c:max-disk-pct d:max-disk-pct', false],
  ])('%s', (_name, over, expected, satisfied) => {
    expect(ids(input(over))).toBe(expected);
    expect(planRetention(input(over), candidates).satisfied).toBe(satisfied);
  });

  test('consumes candidates lazily and stops once the limits hold', () => {
    let pulled = 0;
    function* stream(): Generator<RetentionCandidate> {
      for (const x of candidates) {
        pulled++;
        yield x;
      }
    }
    const plan = planRetention(input({ limits: { ...NO_LIMITS, maxTotalBytes: 300 } }), stream());
    expect(plan.deletions.map((d) => d.id)).toEqual(['a']);
    expect(pulled).toBe(2);
  });

  describe('with a loop recording (continuous segments go first)', () => {
    const segments = [c('s1', 30, 100), c('s2', 5, 100), c('s3', 1, 100)];
    const events = [c('e1', 40, 100), c('e2', 20, 100)];
    const loopIds = (over: Partial<RetentionInput>): string =>
      planRetention(input({ indexedBytes: 500, ...over }), events, segments)
        .deletions.map((d) => `${d.id}:${d.reason}`)
        .join(' ');

    test.each<[string, Partial<RetentionInput>, string, boolean]>([
      ['no limits', {}, '', true],
      ['bytes: the segments go before an older event', { limits: { ...NO_LIMITS, maxTotalBytes: 300 } }, 's1:max-total-bytes s2:max-total-bytes', true],
      ['bytes: events only once every segment is gone', { limits: { ...NO_LIMITS, maxTotalBytes: 150 } }, 's1:max-total-bytes s2:max-total-bytes s3:max-total-bytes e1:max-total-bytes', true],
      ['disk: segments first', { limits: { ...NO_LIMITS, maxDiskPct: 45 } }, 's1:max-disk-pct', true],
      ['free space: segments first', { freeBytes: 250 }, 's1:free-space s2:free-space s3:free-space', true],
      ['age applies to every kind alike', { limits: { ...NO_LIMITS, maxAgeDays: 25 } }, 's1:max-age e1:max-age', true],
      ['age, then bytes from the segments left', { limits: { ...NO_LIMITS, maxAgeDays: 25, maxTotalBytes: 250 } }, 's1:max-age e1:max-age s2:max-total-bytes', true],
      ['impossible target (favourites count) empties the loop, then the rest', { limits: { ...NO_LIMITS, maxTotalBytes: 50 }, indexedBytes: 600 }, 's1:max-total-bytes s2:max-total-bytes s3:max-total-bytes e1:max-total-bytes e2:max-total-bytes', false],
    ])('%s', (_name, over, expected, satisfied) => {
      expect(loopIds(over)).toBe(expected);
      expect(planRetention(input({ indexedBytes: 500, ...over }), events, segments).satisfied).toBe(satisfied);
    });

    test('pulls lazily and closes what it started', () => {
      const pulled = { loop: 0, rest: 0 };
      const closed = { loop: false, rest: false };
      function* stream(items: RetentionCandidate[], name: 'loop' | 'rest'): Generator<RetentionCandidate> {
        try {
          for (const x of items) {
            pulled[name]++;
            yield x;
          }
        } finally {
          closed[name] = true;
        }
      }
      const plan = planRetention(input({ indexedBytes: 500, limits: { ...NO_LIMITS, maxTotalBytes: 400 } }), stream(events, 'rest'), stream(segments, 'loop'));
      expect(plan.deletions.map((d) => d.id)).toEqual(['s1']);
      expect(pulled).toEqual({ loop: 1, rest: 0 });
      // The loop stream was left half-read and is closed; the other was never started (no statement ran).
      expect(closed).toEqual({ loop: true, rest: false });
    });
  });

  test('the default keeps disk usage at 80 %', () => {
    expect(DEFAULT_RETENTION).toEqual({ maxDiskPct: 80, maxTotalBytes: null, maxAgeDays: null });
  });
});

describe('retention in the store', () => {
  let dir: string;
  let store: Store | null = null;
  let logs: Array<Record<string, unknown>>;
  const logger = (): pino.Logger => {
    logs = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    return pino({ level: 'debug' }, sink);
  };

  /** A 100 kB "file system" whose used bytes are `otherBytes` plus the real size of everything under events/. */
  const smallDisk = (otherBytes: number): DiskUsageReader => async (dataDir) => {
    let used = otherBytes;
    const walk = async (d: string): Promise<void> => {
      for (const e of await fsp.readdir(d, { withFileTypes: true })) {
        if (e.isDirectory()) await walk(path.join(d, e.name));
        else used += (await fsp.stat(path.join(d, e.name))).size;
      }
    };
    await walk(path.join(dataDir, 'events'));
    return { sizeBytes: 100_000, usedBytes: used, availableBytes: 100_000 - used };
  };

  beforeEach(async () => {
    dir = await tempDataDir();
  });
  afterEach(async () => {
    await store?.close();
    store = null;
    await fsp.rm(dir, { recursive: true, force: true });
  });

  /** Ten 5 kB recordings, one per day ending yesterday; returns ids oldest first. */
  const populate = async (): Promise<string[]> => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await writeRecording(dir, makeSidecar(NOW - (10 - i) * DAY), 5000)).id);
    return ids;
  };
  const open = async (options: Partial<StoreOptions>): Promise<Store> => {
    store = await openStore({ dataDir: dir, logger: logger(), now: () => NOW, retention: NO_LIMITS, ...options });
    return store;
  };
  const remaining = (s: Store): string[] =>
    s
      .list({ limit: 100 })
      .items.map((r) => r.id)
      .reverse();

  test('max age deletes what started too long ago, files and rows, and logs why', async () => {
    const ids = await populate();
    const s = await open({ retention: { ...NO_LIMITS, maxAgeDays: 4.5 } });
    const result = await s.runRetention();
    expect(result.deleted.map((d) => d.id)).toEqual(ids.slice(0, 6));
    expect(result.deleted.every((d) => d.reason === 'max-age')).toBe(true);
    expect(remaining(s)).toEqual(ids.slice(6));
    for (const id of ids.slice(0, 6)) {
      for (const rel of Object.values(recordingPaths(id)).filter((p) => p.includes('.'))) expect(await exists(path.join(dir, rel))).toBe(false);
    }
    expect(await exists(path.join(dir, recordingPaths(ids[6]).clip))).toBe(true);
    const lines = logs.filter((l) => l.msg === 'store: retention deleted recording');
    expect(lines.map((l) => [l.id, l.reason])).toEqual(ids.slice(0, 6).map((id) => [id, 'max-age']));
  });

  test('max total bytes deletes the oldest until the sum fits', async () => {
    const ids = await populate();
    const s = await open({ retention: { ...NO_LIMITS, maxTotalBytes: 30_000 } });
    const before = s.stats().bytes;
    const result = await s.runRetention();
    expect(result.satisfied).toBe(true);
    expect(result.deleted.every((d) => d.reason === 'max-total-bytes')).toBe(true);
    expect(s.stats().bytes).toBeLessThanOrEqual(30_000);
    expect(s.stats().bytes + result.freedBytes).toBe(before);
    expect(remaining(s)).toEqual(ids.slice(ids.length - s.stats().count));
  });

  test('max disk percentage deletes the oldest until the file system is under the limit', async () => {
    const ids = await populate();
    const disk = smallDisk(40_000);
    const s = await open({ retention: { ...NO_LIMITS, maxDiskPct: 70 }, diskUsage: disk });
    expect((await disk(dir)).usedBytes).toBeGreaterThan(70_000);
    const result = await s.runRetention();
    expect(result.deleted.length).toBeGreaterThan(0);
    expect(result.deleted.every((d) => d.reason === 'max-disk-pct')).toBe(true);
    const after = await disk(dir);
    expect(after.usedBytes / after.sizeBytes).toBeLessThanOrEqual(0.7);
    expect(remaining(s)).toEqual(ids.slice(result.deleted.length));
    // Deleting one less would not have been enough: retention did not over-delete.
    expect((after.usedBytes + result.deleted[result.deleted.length - 1].bytes) / after.sizeBytes).toBeGreaterThan(0.7);
  });

  test('a loop recording: the oldest segments go before an older motion event', async () => {
    const event = (await writeRecording(dir, makeSidecar(NOW - 9 * DAY), 5000)).id;
    const segs: string[] = [];
    for (let i = 0; i < 6; i++) segs.push((await writeRecording(dir, makeSidecar(NOW - (6 - i) * 3_600_000, { kind: 'segment' }), 5000)).id);
    // Room for the event and the three newest segments (sizes as the store measured them).
    const measure = await open({});
    const bytesOf = (id: string): number => measure.get(id)?.totalBytes ?? Number.NaN;
    const limit = bytesOf(event) + segs.slice(3).reduce((sum, id) => sum + bytesOf(id), 0);
    await measure.close();
    const s = await open({ retention: { ...NO_LIMITS, maxTotalBytes: limit } });
    const result = await s.runRetention();
    expect(result.satisfied).toBe(true);
    expect(result.deleted.map((d) => d.id)).toEqual(segs.slice(0, 3));
    expect(remaining(s)).toEqual([event, ...segs.slice(3)]);
  });

  test('favourites are never deleted automatically, whatever the limits', async () => {
    const ids = await populate();
    const s = await open({ retention: { maxDiskPct: 1, maxTotalBytes: 0, maxAgeDays: 0 }, diskUsage: smallDisk(99_000) });
    await s.setFavorite(ids[0], true);
    await s.setFavorite(ids[5], true);
    const result = await s.runRetention();
    expect(result.satisfied).toBe(false);
    expect(remaining(s)).toEqual([ids[0], ids[5]]);
    expect(await exists(path.join(dir, recordingPaths(ids[0]).clip))).toBe(true);
    expect(logs.some((l) => l.msg === 'store: retention run' && l.satisfied === false)).toBe(true);
    expect((await s.runRetention()).deleted).toEqual([]);
  });

  test('recoverSpace after ENOSPC frees at least the bytes asked for, oldest first', async () => {
    const ids = await populate();
    const s = await open({});
    const result = await s.recoverSpace(12_000);
    expect(result.freedBytes).toBeGreaterThanOrEqual(12_000);
    expect(result.deleted.map((d) => [d.id, d.reason])).toEqual(ids.slice(0, 3).map((id) => [id, 'free-space']));
    expect(logs.some((l) => l.msg === 'store: retention run' && l.trigger === 'enospc')).toBe(true);
  });

  test('retention runs by itself after a recording is indexed', async () => {
    const ids = await populate();
    const s = await open({ retention: { ...NO_LIMITS, maxAgeDays: 2.5 } });
    const fresh = await writeRecording(dir, makeSidecar(NOW - 60_000));
    await s.indexRecording(recordingPaths(fresh.id).sidecar);
    expect(await waitFor(() => s.stats().count === 3, 5000)).toBe(true);
    expect(remaining(s)).toEqual([ids[8], ids[9], fresh.id]);
  });

  test('retention runs on its timer once started', async () => {
    await populate();
    const s = await open({ retention: { ...NO_LIMITS, maxTotalBytes: 1_000_000 }, retentionIntervalMs: 1000 });
    await s.start({ watch: false });
    // Let the run that start() schedules finish first, so only the timer can see the import.
    expect(await waitFor(() => logs.some((l) => l.msg === 'store: retention run' && l.trigger === 'start'), 4000)).toBe(true);
    // Bulk-import rows that break the limit without triggering a run: only the timer can catch them.
    const old = Array.from({ length: 5 }, (_, i) => makeSidecar(NOW - (100 + i) * DAY, { bytes: 400_000 }));
    for (const o of old) await writeRecording(dir, o, 10);
    s.upsert(old.map((sidecar) => ({ sidecar, totalBytes: 400_000 })));
    expect(s.stats().bytes).toBeGreaterThan(1_000_000);
    expect(await waitFor(() => s.stats().bytes <= 1_000_000, 4000)).toBe(true);
    expect(logs.some((l) => l.msg === 'store: retention run' && l.trigger === 'timer')).toBe(true);
  });

  test('limits changed on an open store apply at once; bad ones are refused and the old ones kept', async () => {
    const ids = await populate();
    const s = await open({ retention: NO_LIMITS });
    expect(s.stats().count).toBe(10);
    expect(() => s.setRetention({ maxDiskPct: 0 })).toThrow(expect.objectContaining({ code: 'STORE_BAD_OPTIONS' }));
    expect(s.retention).toEqual(NO_LIMITS);
    expect(s.setRetention({ maxAgeDays: 2.5 })).toEqual({ ...NO_LIMITS, maxAgeDays: 2.5 });
    expect(await waitFor(() => s.stats().count === 2, 5000)).toBe(true);
    expect(remaining(s)).toEqual([ids[8], ids[9]]);
    expect(logs.some((l) => l.msg === 'store: retention run' && l.trigger === 'limits changed')).toBe(true);
  });

  test('bad limits are refused with STORE_BAD_OPTIONS', async () => {
    await expect(openStore({ dataDir: dir, retention: { maxDiskPct: 0 } })).rejects.toMatchObject({ code: 'STORE_BAD_OPTIONS', value: 'maxDiskPct' });
    await expect(openStore({ dataDir: dir, retention: { maxAgeDays: -1 } })).rejects.toMatchObject({ code: 'STORE_BAD_OPTIONS', value: 'maxAgeDays' });
  });
});
