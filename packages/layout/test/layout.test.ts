import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { buildSidecar, isSafeRelativePath, LayoutError, parseSidecar, readSidecar, recordingId, recordingPaths, writeSidecarAtomic, type EventSidecar, type RecordingFacts } from '../src';
import { memoryId, parseRecordingId } from '../src/ids';

const T0 = Date.parse('2026-03-14T09:26:53.589Z');

/** Facts of a 4 s motion clip starting at `startedAtMs`, with `overrides`. */
function facts(startedAtMs: number, overrides: Partial<RecordingFacts> = {}): RecordingFacts {
  const kind = overrides.kind ?? 'motion';
  const id = overrides.id ?? recordingId(startedAtMs, kind, overrides.camera);
  const paths = recordingPaths(id);
  return {
    id,
    camera: 'cam',
    kind,
    firstWallMs: startedAtMs,
    durationUs: 4_000_000,
    frames: 40,
    width: 320,
    height: 240,
    triggerWallMs: startedAtMs + 1000,
    preRollUs: 1_000_000,
    triggerLevel: 40,
    peakScore: 123.5,
    scores: [{ tMs: 0, score: 1 }, { tMs: 100, score: 123.5 }],
    files: { clip: paths.clip, snapshot: paths.snapshot, thumbnail: paths.thumbnail },
    bytes: 1000,
    ...overrides,
  };
}

function makeSidecar(startedAtMs: number, overrides: Partial<EventSidecar> = {}): EventSidecar {
  return { ...buildSidecar(facts(startedAtMs)), ...overrides };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as LayoutError).code;
  }
  return undefined;
}

describe('parseSidecar', () => {
  const good = makeSidecar(T0);
  test('accepts a valid sidecar and keeps unknown extra fields', () => {
    const withExtra = { ...good, futureField: { a: 1 } };
    expect(parseSidecar(JSON.parse(JSON.stringify(withExtra)))).toEqual(withExtra);
  });

  const cases: Array<[string, unknown, string, string | null]> = [
    ['not an object', [], 'LAYOUT_SIDECAR_INVALID', '(root)'],
    ['other version', { ...good, version: 2 }, 'LAYOUT_SIDECAR_VERSION', null],
    ['missing version', { ...good, version: undefined }, 'LAYOUT_SIDECAR_INVALID', 'version'],
    ['id with a slash', { ...good, id: '../x' }, 'LAYOUT_SIDECAR_INVALID', 'id'],
    ['empty camera', { ...good, camera: '' }, 'LAYOUT_SIDECAR_INVALID', 'camera'],
    ['unknown kind', { ...good, kind: 'timelapse' }, 'LAYOUT_SIDECAR_INVALID', 'kind'],
    ['bad startedAt', { ...good, startedAt: 'yesterday' }, 'LAYOUT_SIDECAR_INVALID', 'startedAt'],
    ['end before start', { ...good, endedAt: '2000-01-01T00:00:00Z' }, 'LAYOUT_SIDECAR_INVALID', 'endedAt'],
    ['bad triggeredAt', { ...good, triggeredAt: 5 }, 'LAYOUT_SIDECAR_INVALID', 'triggeredAt'],
    ['negative preRollMs', { ...good, preRollMs: -1 }, 'LAYOUT_SIDECAR_INVALID', 'preRollMs'],
    ['NaN-ish durationS', { ...good, durationS: '4' }, 'LAYOUT_SIDECAR_INVALID', 'durationS'],
    ['fractional frames', { ...good, frames: 1.5 }, 'LAYOUT_SIDECAR_INVALID', 'frames'],
    ['negative bytes', { ...good, bytes: -3 }, 'LAYOUT_SIDECAR_INVALID', 'bytes'],
    ['string peakScore', { ...good, peakScore: 'high' }, 'LAYOUT_SIDECAR_INVALID', 'peakScore'],
    ['bad score point', { ...good, scores: [{ tMs: 0 }] }, 'LAYOUT_SIDECAR_INVALID', 'scores[0]'],
    ['absolute clip path', { ...good, files: { clip: '/etc/passwd' } }, 'LAYOUT_SIDECAR_INVALID', 'files.clip'],
    ['escaping clip path', { ...good, files: { clip: 'events/../../x.mp4' } }, 'LAYOUT_SIDECAR_INVALID', 'files.clip'],
    ['bad thumbnail path', { ...good, files: { ...good.files, thumbnail: 'a\\b.jpg' } }, 'LAYOUT_SIDECAR_INVALID', 'files.thumbnail'],
    ['non-boolean favorite', { ...good, favorite: 1 }, 'LAYOUT_SIDECAR_INVALID', 'favorite'],
    ['cues not an array', { ...good, cues: 'video' }, 'LAYOUT_SIDECAR_INVALID', 'cues'],
    ['a cue name with a comma', { ...good, cues: ['video,pir'] }, 'LAYOUT_SIDECAR_INVALID', 'cues'],
    ['too many cues', { ...good, cues: Array.from({ length: 17 }, (_, i) => `s${i}`) }, 'LAYOUT_SIDECAR_INVALID', 'cues'],
    ['unknown upload state', { ...good, uploadState: 'maybe' }, 'LAYOUT_SIDECAR_INVALID', 'uploadState'],
    ['offloaded not an object', { ...good, offloaded: 'yes' }, 'LAYOUT_SIDECAR_INVALID', 'offloaded'],
    ['offloaded without a time', { ...good, offloaded: { remote: 'r:x.mp4' } }, 'LAYOUT_SIDECAR_INVALID', 'offloaded.at'],
    ['thumbnailFrom without a time', { ...good, thumbnailFrom: { crop: { x: 0, y: 0, width: 2, height: 2 } } }, 'LAYOUT_SIDECAR_INVALID', 'thumbnailFrom'],
    ['thumbnailFrom with a fractional crop', { ...good, thumbnailFrom: { tMs: 5, crop: { x: 0.5, y: 0, width: 2, height: 2 } } }, 'LAYOUT_SIDECAR_INVALID', 'thumbnailFrom.crop'],
    ['offloaded with an empty remote', { ...good, offloaded: { at: '2026-01-01T00:00:00Z', remote: '' } }, 'LAYOUT_SIDECAR_INVALID', 'offloaded.remote'],
    ['labels not an array', { ...good, labels: 'person' }, 'LAYOUT_SIDECAR_INVALID', 'labels'],
    ['unknown label', { ...good, labels: [{ label: 'ghost', subLabel: 'ghost', confidence: 0.5, box: [0, 0, 1, 1] }] }, 'LAYOUT_SIDECAR_INVALID', 'labels[0].label'],
    ['label confidence above 1', { ...good, labels: [{ label: 'person', subLabel: 'person', confidence: 2, box: [0, 0, 1, 1] }] }, 'LAYOUT_SIDECAR_INVALID', 'labels[0].confidence'],
    ['label sub-label with markup', { ...good, labels: [{ label: 'animal', subLabel: '<b>cat</b>', confidence: 0.5, box: [0, 0, 1, 1] }] }, 'LAYOUT_SIDECAR_INVALID', 'labels[0].subLabel'],
    ['label box of three numbers', { ...good, labels: [{ label: 'animal', subLabel: 'cat', confidence: 0.5, box: [0, 0, 1] }] }, 'LAYOUT_SIDECAR_INVALID', 'labels[0].box'],
  ];
  test('reads a sidecar written before thumbnails followed the peak, and one with the thumbnail source', () => {
    const old = JSON.parse(JSON.stringify(good));
    delete old.thumbnailFrom;
    expect(parseSidecar(old).thumbnailFrom).toBeUndefined();
    const from = { tMs: 1500, crop: { x: 64, y: 20, width: 160, height: 90 } };
    const built = buildSidecar(facts(T0, { thumbnailFrom: from }));
    expect(parseSidecar(JSON.parse(JSON.stringify(built))).thumbnailFrom).toEqual(from);
    // Without a thumbnail file there is nothing to describe.
    expect(buildSidecar(facts(T0, { thumbnailFrom: from, files: { clip: recordingPaths(good.id).clip } })).thumbnailFrom).toBeUndefined();
  });

  test('reads a sidecar written before labels existed, and one with labels or an empty list', () => {
    const old = JSON.parse(JSON.stringify(good)) as Record<string, unknown>;
    expect('labels' in old).toBe(false);
    expect(parseSidecar(old).labels).toBeUndefined();
    const labels = [{ label: 'animal', subLabel: 'cat', confidence: 0.47, box: [10, 20, 100, 80] }];
    expect(parseSidecar({ ...old, labels }).labels).toEqual(labels);
    expect(parseSidecar({ ...old, labels: [] }).labels).toHaveLength(0);
  });

  test.each(cases)('rejects %s', (_name, value, code, field) => {
    expect(codeOf(() => parseSidecar(value))).toBe(code);
    if (field) {
      try {
        parseSidecar(value);
      } catch (error) {
        expect((error as LayoutError).value).toBe(field);
      }
    }
  });
});

describe('isSafeRelativePath', () => {
  test.each([
    ['events/2026-01-01/a.mp4', true],
    ['a', true],
    ['', false],
    ['/abs', false],
    ['C:/x', false],
    ['a//b', false],
    ['a/./b', false],
    ['a/../b', false],
    ['a\\b', false],
  ])('%s -> %s', (value, expected) => {
    expect(isSafeRelativePath(value)).toBe(expected);
  });
});

describe('recordingId and recordingPaths', () => {
  test('id is the local start time plus kind, and a suffix for non-default cameras', () => {
    const local = new Date(2026, 2, 14, 9, 5, 7, 42).getTime();
    expect(recordingId(local, 'motion')).toBe('2026-03-14_09-05-07-042_motion');
    expect(recordingId(local, 'manual', 'garden')).toBe('2026-03-14_09-05-07-042_manual_garden');
    expect(recordingPaths('2026-03-14_09-05-07-042_motion')).toEqual({
      dir: 'events/2026-03-14',
      clip: 'events/2026-03-14/2026-03-14_09-05-07-042_motion.mp4',
      snapshot: 'events/2026-03-14/2026-03-14_09-05-07-042_motion.jpg',
      thumbnail: 'events/2026-03-14/2026-03-14_09-05-07-042_motion.thumb.jpg',
      heatmap: 'events/2026-03-14/2026-03-14_09-05-07-042_motion.heat.png',
      sidecar: 'events/2026-03-14/2026-03-14_09-05-07-042_motion.json',
      partClip: 'events/2026-03-14/2026-03-14_09-05-07-042_motion.part.mp4',
      partInfo: 'events/2026-03-14/2026-03-14_09-05-07-042_motion.part.meta',
    });
    expect(codeOf(() => recordingPaths('nodate'))).toBe('LAYOUT_BAD_ID');
  });
});

describe('readSidecar / writeSidecarAtomic', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'preroll-layout-'));
  });
  afterEach(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  test('round-trips through the file and leaves no temporary file', async () => {
    const sidecar = makeSidecar(T0, { favorite: true, uploadState: 'pending' });
    const file = path.join(dir, recordingPaths(sidecar.id).sidecar);
    await writeSidecarAtomic(file, sidecar);
    expect(await readSidecar(file)).toEqual(sidecar);
    expect(await fsp.readdir(path.dirname(file))).toEqual([`${sidecar.id}.json`]);
  });

  test('replaces an existing sidecar whole', async () => {
    const sidecar = makeSidecar(T0);
    const file = path.join(dir, `${sidecar.id}.json`);
    await writeSidecarAtomic(file, sidecar);
    await writeSidecarAtomic(file, { ...sidecar, favorite: true });
    expect((await readSidecar(file)).favorite).toBe(true);
  });

  test('refuses an invalid sidecar or a wrong file name before touching the disk', async () => {
    const sidecar = makeSidecar(T0);
    await expect(writeSidecarAtomic(path.join(dir, `${sidecar.id}.json`), { ...sidecar, kind: 'x' as never })).rejects.toMatchObject({ code: 'LAYOUT_SIDECAR_INVALID' });
    await expect(writeSidecarAtomic(path.join(dir, 'other.json'), sidecar)).rejects.toMatchObject({ code: 'LAYOUT_SIDECAR_INVALID', value: 'id' });
    expect(await fsp.readdir(dir)).toEqual([]);
  });

  test('reports a write failure with the errno as cause and cleans up', async () => {
    const sidecar = makeSidecar(T0);
    // A regular file where the directory should be: mkdir fails with ENOTDIR/EEXIST.
    await fsp.writeFile(path.join(dir, 'blocked'), 'x');
    const error = await writeSidecarAtomic(path.join(dir, 'blocked', `${sidecar.id}.json`), sidecar).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'LAYOUT_WRITE_FAILED' });
    expect(((error as LayoutError).cause as NodeJS.ErrnoException).code).toMatch(/^(EEXIST|ENOTDIR)$/);
  });

  test('read errors carry clear codes', async () => {
    const sidecar = makeSidecar(T0);
    const file = path.join(dir, `${sidecar.id}.json`);
    await expect(readSidecar(file)).rejects.toMatchObject({ code: 'LAYOUT_SIDECAR_UNREADABLE', value: file });
    await fsp.writeFile(file, JSON.stringify(sidecar).slice(0, 40));
    await expect(readSidecar(file)).rejects.toMatchObject({ code: 'LAYOUT_SIDECAR_BAD_JSON' });
    await fsp.writeFile(file, JSON.stringify({ ...sidecar, version: 9 }));
    await expect(readSidecar(file)).rejects.toMatchObject({ code: 'LAYOUT_SIDECAR_VERSION', value: 9 });
    await fsp.writeFile(path.join(dir, 'renamed.json'), JSON.stringify(sidecar));
    await expect(readSidecar(path.join(dir, 'renamed.json'))).rejects.toMatchObject({ code: 'LAYOUT_SIDECAR_INVALID', value: 'id' });
  });
});

describe('buildSidecar', () => {
  const base = facts(T0);
  const cases: Array<[string, Partial<RecordingFacts>, Partial<EventSidecar>]> = [
    ['a motion clip', {}, { startedAt: '2026-03-14T09:26:53.589Z', endedAt: '2026-03-14T09:26:57.589Z', triggeredAt: '2026-03-14T09:26:54.589Z', preRollMs: 1000, durationS: 4, peakScore: 123.5 }],
    ['a trigger before the first frame is clamped to it', { triggerWallMs: T0 - 500 }, { triggeredAt: '2026-03-14T09:26:53.589Z' }],
    ['a segment has no trigger', { kind: 'segment', triggerWallMs: null, preRollUs: 0, peakScore: null, scores: [], triggerLevel: null }, { triggeredAt: null, peakScore: null, preRollMs: 0 }],
    ['a pre-roll longer than the clip is clamped', { preRollUs: 9_000_000 }, { preRollMs: 4000 }],
    ['a negative pre-roll is 0', { preRollUs: -5 }, { preRollMs: 0 }],
    ['durations round to the millisecond', { durationUs: 3_033_367 }, { durationS: 3.033, endedAt: '2026-03-14T09:26:56.622Z' }],
    ['scores past the end are dropped', { scores: [{ tMs: 0, score: 2 }, { tMs: 4000, score: 3 }, { tMs: 4001, score: 999 }] }, { scores: [{ tMs: 0, score: 2 }, { tMs: 4000, score: 3 }], peakScore: 123.5 }],
    ['the series peak wins when higher', { peakScore: 10, scores: [{ tMs: 5, score: 55 }] }, { peakScore: 55 }],
    ['no detector peak and no series: null', { peakScore: null, scores: [] }, { peakScore: null }],
    ['a memory is a favourite', { kind: 'memory', id: memoryId(T0) }, { favorite: true }],
    ['the cues that started it are kept, in order', { cues: ['pir', 'video'] }, { cues: ['pir', 'video'] }],
    ['a photo lasts 0 s', { kind: 'photo', durationUs: 0, frames: 1, preRollUs: 0, triggerWallMs: T0, scores: [], peakScore: null, triggerLevel: null }, { startedAt: '2026-03-14T09:26:53.589Z', endedAt: '2026-03-14T09:26:53.589Z', triggeredAt: '2026-03-14T09:26:53.589Z', durationS: 0 }],
  ];
  test.each(cases)('%s', (_name, overrides, expected) => {
    const sidecar = buildSidecar({ ...base, ...overrides });
    expect(sidecar).toMatchObject(expected);
    // Whatever it builds, the parser accepts.
    expect(parseSidecar(JSON.parse(JSON.stringify(sidecar)))).toEqual(sidecar);
  });

  test('only a memory or an explicit favourite is starred', () => {
    expect(buildSidecar(base).favorite).toBeUndefined();
    expect(buildSidecar({ ...base, favorite: true }).favorite).toBe(true);
  });

  test.each([
    ['negative duration', { durationUs: -1 }, 'durationUs'],
    ['fractional frames', { frames: 2.5 }, 'frames'],
    ['NaN start', { firstWallMs: Number.NaN }, 'firstWallMs'],
    ['negative bytes', { bytes: -1 }, 'bytes'],
  ] as Array<[string, Partial<RecordingFacts>, string]>)('refuses %s', (_name, overrides, field) => {
    expect(() => buildSidecar({ ...base, ...overrides })).toThrow(expect.objectContaining({ code: 'LAYOUT_BAD_FACTS', value: field }));
  });
});

describe('ids', () => {
  test('memory ids and recording ids read back', () => {
    const local = new Date(2026, 2, 14, 9, 5, 7, 42).getTime();
    expect(memoryId(local)).toBe('2026-03-14_09-05-07-MEMORY');
    expect(memoryId(local, 'garden', 3)).toBe('2026-03-14_09-05-07-MEMORY-3_garden');
    expect(parseRecordingId(memoryId(local, 'garden', 3))).toEqual({ startedAtMs: local - 42, kind: 'memory', camera: 'garden' });
    expect(parseRecordingId(recordingId(local, 'manual', 'garden'))).toEqual({ startedAtMs: local, kind: 'manual', camera: 'garden' });
    expect(parseRecordingId(recordingId(local, 'photo'))).toEqual({ startedAtMs: local, kind: 'photo', camera: 'cam' });
    expect(codeOf(() => parseRecordingId('2026-03-14_09-05-07-042_timelapse'))).toBe('LAYOUT_BAD_ID');
    expect(codeOf(() => parseRecordingId('../etc'))).toBe('LAYOUT_BAD_ID');
    expect(codeOf(() => recordingId(local, 'motion', 'bad/camera'))).toBe('LAYOUT_BAD_ID');
  });
});

describe('discontinuities (breaks in the video)', () => {
  const T0 = Date.UTC(2024, 4, 1, 10, 0, 0);
  const gap = { atMs: 1500.4, reason: 'camera-restart' as const, keys: ['camera.controls.awb', 'camera.fps'], gapMs: 700, ended: false };

  test('built into the sidecar rounded, a break past the end put at the end, none left out when absent', () => {
    const built = buildSidecar(facts(T0, { discontinuities: [gap, { ...gap, atMs: 9000, gapMs: null, ended: true, keys: ['camera.width'] }] }));
    expect(built.discontinuities).toEqual([
      { ...gap, atMs: 1500 },
      { atMs: 4000, reason: 'camera-restart', keys: ['camera.width'], gapMs: null, ended: true },
    ]);
    expect(parseSidecar(JSON.parse(JSON.stringify(built)))).toEqual(built);
    expect('discontinuities' in buildSidecar(facts(T0))).toBe(false);
  });

  test.each([
    ['not an array', 'x', 'discontinuities'],
    ['a negative time', [{ ...gap, atMs: -1 }], 'discontinuities[0].atMs'],
    ['an unknown reason', [{ ...gap, reason: 'gremlins' }], 'discontinuities[0].reason'],
    ['a key that is not a configuration key', [{ ...gap, keys: ['a b'] }], 'discontinuities[0].keys'],
    ['a negative gap', [{ ...gap, gapMs: -5 }], 'discontinuities[0].gapMs'],
    ['no ended flag', [{ atMs: 1, reason: 'camera-restart', keys: [], gapMs: null }], 'discontinuities[0].ended'],
    ['too many', Array.from({ length: 65 }, () => gap), 'discontinuities'],
  ])('a sidecar with %s is refused, naming the field', (_why, value, field) => {
    const doc = { ...makeSidecar(T0), discontinuities: value };
    expect(() => parseSidecar(doc)).toThrow(expect.objectContaining({ code: 'LAYOUT_SIDECAR_INVALID', value: field }));
  });
});
