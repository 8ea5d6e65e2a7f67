import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import sharp from 'sharp';
import { readSidecar, recordingId, recordingPaths, writeSidecarAtomic, type EventLabel, type EventSidecar } from '@preroll/layout';
import { openStore, type Store, type StoreChange } from '@preroll/store';
import { sleep } from '@preroll/testkit';
import { createAnnouncer, type Announcement } from '../src/announcer';
import { parseConfig } from '../src/config';
import { attachLabels, type Labels } from '../src/labels';
import { request, startTestServer, tempDataDir, waitFor } from './server-helpers';

const FIXTURES = join(__dirname, '..', '..', '..', 'test-fixtures', 'labels');
const NO_LIMITS = { maxDiskPct: null, maxTotalBytes: null, maxAgeDays: null } as const;
const silent = pino({ level: process.env.PREROLL_TEST_LOG ?? 'silent' });

/** Writes a recording the way the finisher lays it out, with a real photo as its snapshot; returns its sidecar. */
async function writeRecording(dataDir: string, startedAtMs: number, photo: string, options: { kind?: 'motion' | 'manual'; heatmap?: Buffer; labels?: EventLabel[] } = {}): Promise<EventSidecar> {
  const kind = options.kind ?? 'motion';
  const id = recordingId(startedAtMs, kind);
  const paths = recordingPaths(id);
  const meta = await sharp(join(FIXTURES, photo)).metadata();
  mkdirSync(join(dataDir, paths.clip, '..'), { recursive: true });
  writeFileSync(join(dataDir, paths.clip), Buffer.alloc(2000, 1));
  copyFileSync(join(FIXTURES, photo), join(dataDir, paths.snapshot));
  copyFileSync(join(FIXTURES, photo), join(dataDir, paths.thumbnail));
  if (options.heatmap) writeFileSync(join(dataDir, paths.heatmap), options.heatmap);
  const sidecar: EventSidecar = {
    version: 1,
    id,
    camera: 'cam',
    kind,
    startedAt: new Date(startedAtMs).toISOString(),
    endedAt: new Date(startedAtMs + 4000).toISOString(),
    triggeredAt: new Date(startedAtMs + 1000).toISOString(),
    preRollMs: 1000,
    durationS: 4,
    frames: 40,
    width: meta.width!,
    height: meta.height!,
    triggerLevel: 40,
    peakScore: 120,
    scores: [],
    files: { clip: paths.clip, snapshot: paths.snapshot, thumbnail: paths.thumbnail, ...(options.heatmap ? { heatmap: paths.heatmap } : {}) },
    bytes: 2000,
    ...(options.labels ? { labels: options.labels } : {}),
  };
  await writeSidecarAtomic(join(dataDir, paths.sidecar), sidecar);
  return sidecar;
}

/** A heat-map PNG (frame size, alpha hot inside `hot`) like the finisher's. */
function heatmapPng(width: number, height: number, hot: { x: number; y: number; width: number; height: number }): Promise<Buffer> {
  const rgba = Buffer.alloc(width * height * 4);
  for (let y = hot.y; y < hot.y + hot.height; y++) {
    for (let x = hot.x; x < hot.x + hot.width; x++) {
      const o = (y * width + x) * 4;
      rgba[o] = 255;
      rgba[o + 3] = 220;
    }
  }
  return sharp(rgba, { raw: { width, height, channels: 4 } }).png().toBuffer();
}

describe('labels after the announcement', () => {
  let dir: string;
  let store: Store;
  let labels: Labels | null = null;
  beforeEach(async () => {
    dir = tempDataDir();
    store = await openStore({ dataDir: dir, retention: NO_LIMITS, watchStabilityMs: 150, watchDebounceMs: 50 });
    await store.start({ retentionTimer: false });
  });
  afterEach(async () => {
    await labels?.stop();
    labels = null;
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('each motion event is announced once, then labelled once through one `updated` change; manual recordings are not classified', async () => {
    const announcer = createAnnouncer({ store: () => store, logger: silent });
    const announced: Announcement[] = [];
    announcer.subscribe((a) => announced.push(a));
    const changes: StoreChange[] = [];
    store.onChange((c) => changes.push(c));
    labels = attachLabels({ announcer, store: () => store, config: parseConfig({ server: { dataDir: dir } }), logger: silent });
    announcer.open();

    const t0 = new Date(2026, 2, 1, 12, 0, 0).getTime();
    const building = await sharp(join(FIXTURES, 'building.jpg')).metadata();
    const person = await writeRecording(dir, t0, 'astronaut.jpg');
    // The motion was where the small parked car is: the cropped pass finds it.
    const car = await writeRecording(dir, t0 + 60_000, 'building.jpg', { heatmap: await heatmapPng(building.width!, building.height!, { x: 230, y: 310, width: 100, height: 60 }) });
    const empty = await writeRecording(dir, t0 + 120_000, 'grass.jpg');
    const manual = await writeRecording(dir, t0 + 180_000, 'astronaut.jpg', { kind: 'manual' });
    for (const s of [person, car, empty, manual]) await announcer.finished({ sidecar: s, sidecarPath: recordingPaths(s.id).sidecar, origin: 'live' });

    await waitFor(async () => labels!.status().events + labels!.status().failures >= 3, 180_000, 'three events classified');
    await waitFor(async () => store.get(empty.id)?.labels !== null, 30_000, 'labels indexed');
    // A window for anything extra (a second report from the watcher seeing the rewritten sidecars).
    await sleep(1500);

    expect(announced).toHaveLength(4);
    expect(changes.filter((c) => c.type === 'created')).toHaveLength(4);
    const updates = changes.filter((c): c is Extract<StoreChange, { type: 'updated' }> => c.type === 'updated');
    expect(updates.map((c) => `${c.record.id}:${c.what}`).sort()).toEqual([person.id, car.id, empty.id].map((id) => `${id}:labels`).sort());

    expect(store.get(person.id)?.labels?.[0]).toMatchObject({ label: 'person', subLabel: 'person' });
    expect(store.get(person.id)!.labels![0].confidence).toBeGreaterThanOrEqual(0.4);
    expect(store.get(car.id)?.labels?.map((l) => l.subLabel)).toContain('car');
    expect(store.get(empty.id)?.labels).toEqual([]);
    expect(store.get(manual.id)?.labels).toBeNull();
    // The sidecar holds them, so a rebuilt index keeps them.
    expect((await readSidecar(join(dir, recordingPaths(person.id).sidecar))).labels).toEqual(store.get(person.id)?.labels);

    const status = labels.status();
    expect(status).toMatchObject({ enabled: true, loaded: true, backend: 'wasm', events: 3, failures: 0, skipped: 0 });
    expect(status.meanEventMs).toBeGreaterThan(0);
  });

  test('at start, the unclassified motion events of the last 24 hours are classified; older ones and labelled ones are left', async () => {
    const now = Date.now();
    const recent = await writeRecording(dir, now - 3_600_000, 'astronaut.jpg');
    const old = await writeRecording(dir, now - 2 * 86_400_000, 'astronaut.jpg');
    const done = await writeRecording(dir, now - 7_200_000, 'grass.jpg', { labels: [] });
    for (const s of [recent, old, done]) await store.indexRecording(recordingPaths(s.id).sidecar);
    const changes: StoreChange[] = [];
    store.onChange((c) => changes.push(c));
    const announcer = createAnnouncer({ store: () => store, logger: silent });
    labels = attachLabels({ announcer, store: () => store, config: parseConfig({ server: { dataDir: dir } }), logger: silent });
    expect(await labels.catchUp(now)).toBe(1);
    expect(store.get(recent.id)?.labels?.[0]).toMatchObject({ label: 'person' });
    expect(store.get(old.id)?.labels).toBeNull();
    expect(store.get(done.id)?.labels).toEqual([]);
    expect(changes.map((c) => (c.type === 'updated' ? `${c.record.id}:${c.what}` : c.type))).toEqual([`${recent.id}:labels`]);
    // Nothing left to do the second time.
    expect(await labels.catchUp(now)).toBe(0);
  });

  test('with labels.enabled false nothing is classified and the model is never loaded', async () => {
    const announcer = createAnnouncer({ store: () => store, logger: silent });
    labels = attachLabels({ announcer, store: () => store, config: parseConfig({ server: { dataDir: dir }, labels: { enabled: false } }), logger: silent });
    announcer.open();
    const s = await writeRecording(dir, new Date(2026, 2, 1, 12, 0, 0).getTime(), 'astronaut.jpg');
    await announcer.finished({ sidecar: s, sidecarPath: recordingPaths(s.id).sidecar, origin: 'live' });
    await sleep(500);
    expect(store.get(s.id)?.labels).toBeNull();
    expect(labels.status()).toMatchObject({ enabled: false, loaded: false, events: 0 });
  });
});

describe('GET /api/events?label=', () => {
  test('filters by label, sub-label and none; labels are on each event; hideUnlabelled (or unlabelled=) hides "motion only"; /api/labels counts; a bad label is a 400', async () => {
    const dataDir = tempDataDir();
    // A day long past, so the demo camera's own events never fall in the filtered list.
    const t0 = new Date(2025, 0, 2, 9, 0, 0).getTime();
    const cat: EventLabel = { label: 'animal', subLabel: 'cat', confidence: 0.5, box: [1, 2, 30, 40] };
    const person: EventLabel = { label: 'person', subLabel: 'person', confidence: 0.6, box: [5, 5, 100, 200] };
    const a = await writeRecording(dataDir, t0, 'chelsea.jpg', { labels: [cat] });
    const b = await writeRecording(dataDir, t0 + 60_000, 'astronaut.jpg', { labels: [person] });
    const c = await writeRecording(dataDir, t0 + 120_000, 'grass.jpg', { labels: [] });
    const d = await writeRecording(dataDir, t0 + 180_000, 'grass.jpg');
    const server = await startTestServer({ server: { dataDir }, labels: { hideUnlabelled: true, enabled: false } });
    try {
      const list = async (query: string): Promise<{ status: number; body: any }> => request(`${server.url}/api/events?day=2025-01-02&${query}`, 'GET');
      const ids = async (query: string): Promise<string[]> => ((await list(query)).body.items as Array<{ id: string }>).map((e) => e.id);
      expect(await ids('label=person')).toEqual([b.id]);
      expect(await ids('label=animal')).toEqual([a.id]);
      expect(await ids('label=cat')).toEqual([a.id]);
      expect(await ids('label=vehicle')).toHaveLength(0);
      expect(await ids('label=none')).toEqual([c.id]);
      // hideUnlabelled: the plain list leaves out the event classified with nothing found.
      expect(await ids('')).toEqual([d.id, b.id, a.id]);
      // The gallery's remembered choice overrides the configured default either way.
      expect(await ids('unlabelled=show')).toEqual([d.id, c.id, b.id, a.id]);
      expect(await ids('unlabelled=hide')).toEqual([d.id, b.id, a.id]);
      expect((await list('unlabelled=maybe')).status).toBe(400);
      // The counts behind the gallery's buttons.
      const counts = (await request(`${server.url}/api/labels?day=2025-01-02`, 'GET')).body;
      expect(counts).toEqual({
        labels: [
          { label: 'person', count: 1 },
          { label: 'animal', count: 1 },
          { label: 'vehicle', count: 0 },
          { label: 'other', count: 0 },
          { label: 'none', count: 1 },
        ],
        hideUnlabelled: true,
      });
      expect((await request(`${server.url}/api/labels?label=person`, 'GET')).status).toBe(400);
      const one = (await list('label=cat')).body.items[0];
      expect(one.labels).toEqual([cat]);
      expect((await request(`${server.url}/api/events/${d.id}`, 'GET')).body.labels).toBeNull();
      const bad = await list('label=%3Cscript%3E');
      expect(bad.status).toBe(400);
      expect(bad.body.code).toBe('HTTP_BAD_INPUT');
      const status = (await request(`${server.url}/api/status`, 'GET')).body;
      expect(status.labels).toMatchObject({ enabled: false, loaded: false });
    } finally {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('the composition root', () => {
  test('a live motion event of the demo camera is labelled after its announcement, and the status shows the cost', async () => {
    const server = await startTestServer({ camera: { source: 'demo', width: 320, height: 180, fps: 15 }, labels: { enabled: true } });
    try {
      // The demo scene moves from 10 s after start, for 4 s: one motion clip, then its labels.
      const event = await waitFor(
        async () => {
          const items = (await request(`${server.url}/api/events?kind=motion`, 'GET')).body.items as Array<{ id: string; labels: unknown }>;
          return items.find((e) => e.labels !== null) ?? null;
        },
        180_000,
        'a labelled motion event',
      );
      // The demo's moving shapes are no COCO object: classified, nothing found.
      expect(event.labels).toEqual([]);
      expect((await request(`${server.url}/api/events?label=none`, 'GET')).body.items.map((e: { id: string }) => e.id)).toContain(event.id);
      const status = (await request(`${server.url}/api/status`, 'GET')).body;
      expect(status.labels).toMatchObject({ enabled: true, loaded: true, backend: 'wasm', failures: 0 });
      expect(status.labels.events).toBeGreaterThanOrEqual(1);
      expect(status.labels.lastEventMs).toBeGreaterThan(0);
    } finally {
      await server.stop();
    }
  });
});
