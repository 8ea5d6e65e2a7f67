import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ListQuery, Store } from '@preroll/store';
import type { EventSidecar, RecordingKind } from '@preroll/layout';
import { openStore, reindex } from '@preroll/store';
import { buildSidecar, recordingId, recordingPaths, writeSidecarAtomic } from '@preroll/layout';
import { fmt, type BenchSuite } from './suite';

const NO_LIMITS = { maxDiskPct: null, maxTotalBytes: null, maxAgeDays: null };
const DAY_MS = 86_400_000;
const START_MS = Date.UTC(2026, 0, 1, 6, 0, 0);

/** Kinds in the proportions a motion camera produces (mostly motion, some segments and manual). */
function kindOf(i: number): RecordingKind {
  const r = i % 100;
  return r < 70 ? 'motion' : r < 85 ? 'segment' : r < 95 ? 'manual' : r < 99 ? 'memory' : 'photo';
}

/** The i-th synthetic recording: `perDay` a day, 2 % favourites. */
function sidecarAt(i: number, perDay: number): EventSidecar {
  const startedAtMs = START_MS + Math.floor(i / perDay) * DAY_MS + (i % perDay) * Math.floor((16 * 3_600_000) / perDay);
  const kind = kindOf(i);
  const id = recordingId(startedAtMs, kind);
  const p = recordingPaths(id);
  const peak = 50 + (i % 400);
  return buildSidecar({
    id,
    camera: 'cam',
    kind,
    firstWallMs: startedAtMs,
    durationUs: 12_000_000,
    frames: 360,
    width: 1280,
    height: 720,
    triggerWallMs: kind === 'segment' ? null : startedAtMs + 5000,
    preRollUs: kind === 'segment' ? 0 : 5_000_000,
    triggerLevel: 40,
    peakScore: peak,
    scores: Array.from({ length: 24 }, (_, k) => ({ tMs: k * 500, score: ((k * 37 + i) % 300) % peak })),
    files: { clip: p.clip, snapshot: p.snapshot, thumbnail: p.thumbnail },
    bytes: 3_000_000,
    favorite: i % 47 === 7,
  });
}

/** Median and 95th percentile of `fn`'s duration in milliseconds over `runs` runs (after 3 warm-ups). */
function timeIt(runs: number, fn: (i: number) => void): { medianMs: number; p95Ms: number } {
  for (let i = 0; i < 3; i++) fn(i);
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    fn(i);
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  samples.sort((a, b) => a - b);
  return { medianMs: samples[Math.floor(runs / 2)], p95Ms: samples[Math.min(runs - 1, Math.floor(runs * 0.95))] };
}

async function elapsedMs<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, value };
}

/**
 * What a file-scanning gallery (motionEye) does for every page: walk the folders, stat every
 * file, sort by modification time, keep 50. The baseline the index is there to beat.
 */
async function scanGalleryPage(dir: string): Promise<string[]> {
  const found: Array<{ rel: string; mtimeMs: number }> = [];
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await fsp.readdir(path.join(dir, rel), { withFileTypes: true })) {
      const child = `${rel}/${entry.name}`;
      if (entry.isDirectory()) await walk(child);
      else if (entry.name.endsWith('.mp4')) found.push({ rel: child, mtimeMs: (await fsp.stat(path.join(dir, child))).mtimeMs });
    }
  };
  await walk('events');
  found.sort((a, b) => b.mtimeMs - a.mtimeMs);
  return found.slice(0, 50).map((f) => f.rel);
}

/** Writes `count` recordings as the recorder lays them out (tiny clip and thumbnail, full sidecar). */
async function writeRecordings(dir: string, count: number, perDay: number): Promise<void> {
  const dirs = new Set<string>();
  for (let i = 0; i < count; i++) {
    const s = sidecarAt(i, perDay);
    const p = recordingPaths(s.id);
    if (!dirs.has(p.dir)) {
      await fsp.mkdir(path.join(dir, p.dir), { recursive: true });
      dirs.add(p.dir);
    }
    // Plain writes: this is set-up, not the measured atomic writer.
    await fsp.writeFile(path.join(dir, p.clip), 'clip');
    await fsp.writeFile(path.join(dir, p.snapshot), 'jpg');
    await fsp.writeFile(path.join(dir, p.thumbnail), 'thumb');
    await fsp.writeFile(path.join(dir, p.sidecar), JSON.stringify(s, null, 2));
  }
}

/** `pnpm bench store`: gallery page latency on a large index, insert rate, rebuild time. */
export const storeBench: BenchSuite = {
  name: 'store',
  summary: 'SQLite index: gallery pages among 100,000 events vs 50 primary-key reads and vs a file-scanning gallery; insert rate; reindex time',
  async run({ quick, log }) {
    const rows = quick ? 10_000 : 100_000;
    const perDay = 500;
    const onDisk = quick ? 1_000 : 10_000;
    const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'preroll-bench-store-'));
    try {
      // 1. A large index: bulk insert rate, then single-row transactions (the live path).
      const bigDir = path.join(root, 'big');
      let store: Store = await openStore({ dataDir: bigDir, retention: NO_LIMITS });
      const all = Array.from({ length: rows }, (_, i) => sidecarAt(i, perDay));
      const bulk = await elapsedMs(async () => {
        for (let i = 0; i < all.length; i += 1000) store.upsert(all.slice(i, i + 1000));
      });
      const singles = Array.from({ length: 2000 }, (_, i) => sidecarAt(rows + i, perDay));
      const single = await elapsedMs(async () => {
        for (const s of singles) store.upsert([s]);
      });
      const total = rows + singles.length;
      log(`rows: ${total} over ${Math.ceil(total / perDay)} days (${perDay}/day), 2 % favourites`);
      log('');
      log('| insert | rows/s | µs/row |');
      log('|---|---:|---:|');
      log(`| batched, 1000 rows per transaction | ${fmt(rows / (bulk.ms / 1000), 0)} | ${fmt((bulk.ms * 1000) / rows, 1)} |`);
      log(`| one row per transaction (WAL, synchronous=NORMAL) | ${fmt(singles.length / (single.ms / 1000), 0)} | ${fmt((single.ms * 1000) / singles.length, 1)} |`);

      // 2. Gallery queries vs the baselines.
      const ids = all.map((s) => s.id);
      const runs = quick ? 50 : 200;
      const baseline = timeIt(runs, (r) => {
        const from = (r * 7919) % (ids.length - 50);
        for (let k = 0; k < 50; k++) store.get(ids[from + k]);
      });
      const midDay = new Date(START_MS + Math.floor(total / perDay / 2) * DAY_MS).toISOString().slice(0, 10);
      const deepCursor = (() => {
        let cursor: string | null = null;
        for (let k = 0; k < 10; k++) cursor = store.list({ limit: 500, cursor }).nextCursor;
        return cursor;
      })();
      const cases: Array<[string, ListQuery]> = [
        ['newest first, page 1', {}],
        ['newest first, page 101 (cursor after 5,000 rows)', { cursor: deepCursor }],
        [`one day (${midDay})`, { day: midDay }],
        ['kind = manual', { kind: 'manual' }],
        ['favourites only', { favorite: true }],
        ['kind = memory, favourites', { kind: 'memory', favorite: true }],
      ];
      log('');
      log(`| query (page of 50 of ${total}) | median ms | p95 ms | × baseline |`);
      log('|---|---:|---:|---:|');
      log(`| baseline: 50 rows by primary key (store.get ×50) | ${fmt(baseline.medianMs, 3)} | ${fmt(baseline.p95Ms, 3)} | 1.00 |`);
      for (const [label, query] of cases) {
        const page = store.list({ ...query, limit: 50 });
        if (page.items.length === 0) throw new Error(`bench query "${label}" returned nothing`);
        const t = timeIt(runs, () => store.list({ ...query, limit: 50 }));
        log(`| ${label} | ${fmt(t.medianMs, 3)} | ${fmt(t.p95Ms, 3)} | ${fmt(t.medianMs / baseline.medianMs)} |`);
      }
      const counts = timeIt(quick ? 10 : 30, () => store.countByDay());
      log(`| counts per day (all ${Math.ceil(total / perDay)} days) | ${fmt(counts.medianMs, 3)} | ${fmt(counts.p95Ms, 3)} | ${fmt(counts.medianMs / baseline.medianMs)} |`);

      // 3. Opening a large index: quick_check + migrations.
      await store.close();
      const reopen = await elapsedMs(() => openStore({ dataDir: bigDir, retention: NO_LIMITS }));
      store = reopen.value;
      const dbBytes = (await fsp.stat(store.dbPath)).size;
      await store.close();
      log('');
      log(`open with PRAGMA quick_check, ${total} rows, ${fmt(dbBytes / 1e6, 1)} MB: ${fmt(reopen.ms, 0)} ms`);

      // 4. Files on disk: the file-scanning gallery, the rebuild, the recorder's write path.
      const diskDir = path.join(root, 'disk');
      await writeRecordings(diskDir, onDisk, Math.min(perDay, 200));
      const scans: number[] = [];
      for (let k = 0; k < 3; k++) scans.push((await elapsedMs(() => scanGalleryPage(diskDir))).ms);
      scans.sort((a, b) => a - b);
      const scanMs = scans[1];
      const rebuilt = await elapsedMs(() => reindex(diskDir));
      if (rebuilt.value.indexed !== onDisk) throw new Error(`reindex indexed ${rebuilt.value.indexed} of ${onDisk}`);
      const diskStore = await openStore({ dataDir: diskDir, retention: NO_LIMITS });
      const page = timeIt(runs, () => diskStore.list({ limit: 50 }));
      await diskStore.close();
      log('');
      log(`| ${onDisk} recordings on disk (4 files each) | ms | × gallery page |`);
      log('|---|---:|---:|');
      log(`| index: newest-first page of 50 | ${fmt(page.medianMs, 3)} | ${fmt(page.medianMs / page.medianMs)} |`);
      log(`| file-scanning gallery page (walk + stat + sort, as motionEye) | ${fmt(scanMs, 1)} | ${fmt(scanMs / page.medianMs, 0)} |`);
      log(`| reindex (read + validate every sidecar, stat files, one transaction) | ${fmt(rebuilt.ms, 0)} | ${fmt(rebuilt.ms / page.medianMs, 0)} |`);
      log(`reindex: ${fmt((rebuilt.ms * 1000) / onDisk, 0)} µs per sidecar = ${fmt(rebuilt.ms / scanMs, 2)} × one directory scan`);

      // 5. The recorder's per-event cost: atomic sidecar write (2 fsyncs) + indexRecording.
      const liveDir = path.join(root, 'live');
      const live = await openStore({ dataDir: liveDir, retention: NO_LIMITS });
      const n = quick ? 50 : 200;
      let writeMs = 0;
      let indexMs = 0;
      for (let i = 0; i < n; i++) {
        const s = sidecarAt(i, perDay);
        const p = recordingPaths(s.id);
        await fsp.mkdir(path.join(liveDir, p.dir), { recursive: true });
        await fsp.writeFile(path.join(liveDir, p.clip), 'clip');
        writeMs += (await elapsedMs(() => writeSidecarAtomic(path.join(liveDir, p.sidecar), s))).ms;
        indexMs += (await elapsedMs(() => live.indexRecording(p.sidecar))).ms;
      }
      await live.close();
      log(`per event: writeSidecarAtomic ${fmt(writeMs / n, 2)} ms, indexRecording ${fmt(indexMs / n, 2)} ms (mean of ${n})`);
    } finally {
      await fsp.rm(root, { recursive: true, force: true });
    }
  },
};
