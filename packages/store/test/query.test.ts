import fc from 'fast-check';
import { promises as fsp } from 'node:fs';
import type { RecordingKind } from '@preroll/layout';
import { RECORDING_KINDS } from '@preroll/layout';
import { decodeCursor, encodeCursor } from '../src/query';
import { localDay } from '../src/record';
import type { Store } from '../src/store';
import { openStore } from '../src/store';
import { makeSidecar, NO_LIMITS, tempDataDir } from './fixtures';

const DAY_MS = 86_400_000;
const BASE = new Date(2026, 0, 10, 12, 0, 0).getTime();

describe('queries', () => {
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

  /** 3 days × 8 recordings, kinds cycling, every third a favourite. */
  const seed = (): void => {
    const sidecars = [];
    for (let d = 0; d < 3; d++) {
      for (let i = 0; i < 8; i++) {
        const kind = RECORDING_KINDS[i % 4];
        sidecars.push(makeSidecar(BASE + d * DAY_MS + i * 60_000, { kind, favorite: i % 3 === 0 }));
      }
    }
    store.upsert(sidecars);
  };

  test('get returns the API shape with paths relative to the data directory', () => {
    const sidecar = makeSidecar(BASE, { kind: 'manual', peakScore: 321, triggerLevel: 55 });
    store.upsert([{ sidecar, totalBytes: 4321 }]);
    expect(store.get(sidecar.id)).toEqual({
      id: sidecar.id,
      camera: 'cam',
      kind: 'manual',
      day: localDay(BASE),
      startedAt: new Date(BASE).toISOString(),
      endedAt: new Date(BASE + 4000).toISOString(),
      triggeredAt: new Date(BASE + 1000).toISOString(),
      preRollMs: 1000,
      durationS: 4,
      frames: 40,
      width: 320,
      height: 240,
      triggerLevel: 55,
      peakScore: 321,
      favorite: false,
      cues: [],
      discontinuities: [],
      reviewed: false,
      uploadState: 'none',
      offloaded: null,
      files: { clip: sidecar.files.clip, snapshot: sidecar.files.snapshot, thumbnail: sidecar.files.thumbnail, heatmap: null, sidecar: sidecar.files.clip.replace('.mp4', '.json') },
      clipBytes: 1000,
      totalBytes: 4321,
      labels: null,
    });
    expect(store.get('nope')).toBeUndefined();
  });

  test('the cues of a sidecar come back in order', () => {
    const sidecar = { ...makeSidecar(BASE + 7000), cues: ['pir', 'video'] };
    store.upsert([sidecar]);
    expect(store.get(sidecar.id)?.cues).toEqual(['pir', 'video']);
  });

  test('upsert replaces the row of the same id', () => {
    const sidecar = makeSidecar(BASE);
    store.upsert([sidecar]);
    store.upsert([{ ...sidecar, peakScore: 999, favorite: true }]);
    expect(store.stats().count).toBe(1);
    expect(store.get(sidecar.id)).toMatchObject({ peakScore: 999, favorite: true });
  });

  test('two ids claiming one clip are refused with STORE_DUPLICATE', () => {
    const a = makeSidecar(BASE);
    store.upsert([a]);
    expect(() => store.upsert([{ ...a, id: 'other-id' }])).toThrow(expect.objectContaining({ code: 'STORE_DUPLICATE' }));
  });

  test('list is newest first and filters by day, kind, favourite and camera', () => {
    seed();
    store.upsert([makeSidecar(BASE + 5000, { camera: 'garden' })]);
    const all = store.list({ limit: 500 }).items;
    expect(all).toHaveLength(25);
    const starts = all.map((r) => Date.parse(r.startedAt));
    expect(starts).toEqual([...starts].sort((a, b) => b - a));

    const day1 = localDay(BASE + DAY_MS);
    const byDay = store.list({ day: day1, limit: 500 }).items;
    expect(byDay).toHaveLength(8);
    expect(byDay.every((r) => r.day === day1)).toBe(true);

    const manual = store.list({ kind: 'manual', limit: 500 }).items;
    expect(manual).toHaveLength(6);
    expect(manual.every((r) => r.kind === 'manual')).toBe(true);
    const two = store.list({ kind: ['manual', 'segment'], limit: 500 }).items;
    expect(new Set(two.map((r) => r.kind))).toEqual(new Set(['manual', 'segment']));
    expect(two).toHaveLength(12);

    const favs = store.list({ favorite: true, limit: 500 }).items;
    expect(favs).toHaveLength(9);
    expect(favs.every((r) => r.favorite)).toBe(true);
    expect(store.list({ favorite: false, limit: 500 }).items).toHaveLength(16);

    expect(store.list({ camera: 'garden' }).items.map((r) => r.camera)).toEqual(['garden']);
    expect(store.list({ day: day1, kind: 'motion', favorite: true }).items).toHaveLength(1);
  });

  test('countByDay gives counts and bytes per day, newest day first, with the same filters', () => {
    seed();
    const counts = store.countByDay();
    expect(counts.map((c) => c.day)).toEqual([localDay(BASE + 2 * DAY_MS), localDay(BASE + DAY_MS), localDay(BASE)]);
    expect(counts.every((c) => c.count === 8 && c.bytes === 8000)).toBe(true);
    expect(store.countByDay({ favorite: true }).map((c) => c.count)).toEqual([3, 3, 3]);
    expect(store.countByDay({ kind: 'memory' }).map((c) => c.count)).toEqual([2, 2, 2]);
  });

  test('bad arguments carry stable codes', () => {
    expect(() => store.list({ limit: 0 })).toThrow(expect.objectContaining({ code: 'STORE_BAD_QUERY' }));
    expect(() => store.list({ limit: 501 })).toThrow(expect.objectContaining({ code: 'STORE_BAD_QUERY' }));
    expect(() => store.list({ day: '2026-1-1' })).toThrow(expect.objectContaining({ code: 'STORE_BAD_QUERY' }));
    expect(() => store.list({ kind: 'x' as RecordingKind })).toThrow(expect.objectContaining({ code: 'STORE_BAD_QUERY' }));
    expect(() => store.list({ kind: [] })).toThrow(expect.objectContaining({ code: 'STORE_BAD_QUERY' }));
    expect(() => store.list({ cursor: 'garbage!' })).toThrow(expect.objectContaining({ code: 'STORE_BAD_CURSOR' }));
    expect(() => store.list({ cursor: Buffer.from('{"a":1}').toString('base64url') })).toThrow(expect.objectContaining({ code: 'STORE_BAD_CURSOR' }));
  });

  test('cursors round-trip and are opaque strings', () => {
    const c = encodeCursor({ startedAtMs: BASE, id: 'x_y-z' });
    expect(c).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(c)).toEqual({ startedAtMs: BASE, id: 'x_y-z' });
  });

  test('a page query uses an index, never a full sort', () => {
    seed();
    // Reach into the same database file with a second connection to read the plan.
    const Database = require('better-sqlite3') as typeof import('better-sqlite3');
    const db = new Database(store.dbPath, { readonly: true });
    try {
      const plan = (sql: string): string =>
        db
          .prepare(`EXPLAIN QUERY PLAN ${sql}`)
          .all()
          .map((r) => (r as { detail: string }).detail)
          .join(' | ');
      const order = 'ORDER BY started_at_ms DESC, id DESC LIMIT 51';
      for (const where of ['', "WHERE day = '2026-01-10'", "WHERE kind = 'motion'", 'WHERE favorite = 1', 'WHERE (started_at_ms, id) < (1, \'a\')', "WHERE day = '2026-01-10' AND (started_at_ms, id) < (1, 'a')"]) {
        const detail = plan(`SELECT * FROM recordings ${where} ${order}`);
        expect(detail).toMatch(/USING (COVERING )?INDEX recordings_by_/);
        expect(detail).not.toMatch(/TEMP B-TREE/);
      }
    } finally {
      db.close();
    }
  });
});

describe('cursor pagination (property)', () => {
  test('paging through with any page size and filter yields every matching row once, newest first', async () => {
    const dir = await tempDataDir();
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          // Few distinct start times so many rows share one: the id must break the ties.
          fc.array(fc.record({ slot: fc.integer({ min: 0, max: 15 }), kind: fc.constantFrom(...RECORDING_KINDS), favorite: fc.boolean(), n: fc.integer({ min: 0, max: 999 }) }), { maxLength: 60 }),
          fc.integer({ min: 1, max: 25 }),
          fc.constantFrom<'none' | 'kind' | 'favorite' | 'day'>('none', 'kind', 'favorite', 'day'),
          async (specs, pageSize, filter) => {
            const store = await openStore({ dataDir: `${dir}/run-${run++}`, retention: NO_LIMITS });
            try {
              const sidecars = new Map<string, ReturnType<typeof makeSidecar>>();
              for (const s of specs) {
                const startedAtMs = BASE + Math.floor(s.slot / 4) * DAY_MS + (s.slot % 4) * 1000;
                const sidecar = makeSidecar(startedAtMs, { id: `r${s.n}_${s.kind}`, kind: s.kind, favorite: s.favorite });
                sidecars.set(sidecar.id, sidecar);
              }
              store.upsert([...sidecars.values()]);
              const query = filter === 'kind' ? { kind: 'motion' as const } : filter === 'favorite' ? { favorite: true } : filter === 'day' ? { day: localDay(BASE) } : {};
              const seen: string[] = [];
              let cursor: string | null = null;
              let pages = 0;
              do {
                const page = store.list({ ...query, limit: pageSize, cursor });
                expect(page.items.length).toBeLessThanOrEqual(pageSize);
                if (page.nextCursor) expect(page.items).toHaveLength(pageSize);
                seen.push(...page.items.map((r) => r.id));
                cursor = page.nextCursor;
                pages++;
              } while (cursor && pages < 1000);
              const expected = [...sidecars.values()]
                .filter((s) => (filter === 'kind' ? s.kind === 'motion' : filter === 'favorite' ? s.favorite === true : filter === 'day' ? localDay(Date.parse(s.startedAt)) === localDay(BASE) : true))
                .sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
                .map((s) => s.id);
              expect(seen).toEqual(expected);
            } finally {
              await store.close();
            }
          },
        ),
        { numRuns: 60 },
      );
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});
