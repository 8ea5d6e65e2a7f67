import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { StoreError } from '../src/errors';
import { isSafeRelativePath, parseSidecar, readSidecar, recordingId, recordingPaths, writeSidecarAtomic } from '../src/sidecar';
import { makeSidecar, tempDataDir } from './fixtures';

const T0 = Date.parse('2026-03-14T09:26:53.589Z');

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as StoreError).code;
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
    ['not an object', [], 'STORE_SIDECAR_INVALID', '(root)'],
    ['other version', { ...good, version: 2 }, 'STORE_SIDECAR_VERSION', null],
    ['missing version', { ...good, version: undefined }, 'STORE_SIDECAR_INVALID', 'version'],
    ['id with a slash', { ...good, id: '../x' }, 'STORE_SIDECAR_INVALID', 'id'],
    ['empty camera', { ...good, camera: '' }, 'STORE_SIDECAR_INVALID', 'camera'],
    ['unknown kind', { ...good, kind: 'timelapse' }, 'STORE_SIDECAR_INVALID', 'kind'],
    ['bad startedAt', { ...good, startedAt: 'yesterday' }, 'STORE_SIDECAR_INVALID', 'startedAt'],
    ['end before start', { ...good, endedAt: '2000-01-01T00:00:00Z' }, 'STORE_SIDECAR_INVALID', 'endedAt'],
    ['bad triggeredAt', { ...good, triggeredAt: 5 }, 'STORE_SIDECAR_INVALID', 'triggeredAt'],
    ['negative preRollMs', { ...good, preRollMs: -1 }, 'STORE_SIDECAR_INVALID', 'preRollMs'],
    ['NaN-ish durationS', { ...good, durationS: '4' }, 'STORE_SIDECAR_INVALID', 'durationS'],
    ['fractional frames', { ...good, frames: 1.5 }, 'STORE_SIDECAR_INVALID', 'frames'],
    ['negative bytes', { ...good, bytes: -3 }, 'STORE_SIDECAR_INVALID', 'bytes'],
    ['string peakScore', { ...good, peakScore: 'high' }, 'STORE_SIDECAR_INVALID', 'peakScore'],
    ['bad score point', { ...good, scores: [{ tMs: 0 }] }, 'STORE_SIDECAR_INVALID', 'scores[0]'],
    ['absolute clip path', { ...good, files: { clip: '/etc/passwd' } }, 'STORE_SIDECAR_INVALID', 'files.clip'],
    ['escaping clip path', { ...good, files: { clip: 'events/../../x.mp4' } }, 'STORE_SIDECAR_INVALID', 'files.clip'],
    ['bad thumbnail path', { ...good, files: { ...good.files, thumbnail: 'a\\b.jpg' } }, 'STORE_SIDECAR_INVALID', 'files.thumbnail'],
    ['non-boolean favorite', { ...good, favorite: 1 }, 'STORE_SIDECAR_INVALID', 'favorite'],
    ['unknown upload state', { ...good, uploadState: 'maybe' }, 'STORE_SIDECAR_INVALID', 'uploadState'],
    ['offloaded not an object', { ...good, offloaded: 'yes' }, 'STORE_SIDECAR_INVALID', 'offloaded'],
    ['offloaded without a time', { ...good, offloaded: { remote: 'r:x.mp4' } }, 'STORE_SIDECAR_INVALID', 'offloaded.at'],
    ['offloaded with an empty remote', { ...good, offloaded: { at: '2026-01-01T00:00:00Z', remote: '' } }, 'STORE_SIDECAR_INVALID', 'offloaded.remote'],
  ];
  test.each(cases)('rejects %s', (_name, value, code, field) => {
    expect(codeOf(() => parseSidecar(value))).toBe(code);
    if (field) {
      try {
        parseSidecar(value);
      } catch (error) {
        expect((error as StoreError).value).toBe(field);
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
    });
    expect(codeOf(() => recordingPaths('nodate'))).toBe('STORE_BAD_QUERY');
  });
});

describe('readSidecar / writeSidecarAtomic', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDataDir();
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
    await expect(writeSidecarAtomic(path.join(dir, `${sidecar.id}.json`), { ...sidecar, kind: 'x' as never })).rejects.toMatchObject({ code: 'STORE_SIDECAR_INVALID' });
    await expect(writeSidecarAtomic(path.join(dir, 'other.json'), sidecar)).rejects.toMatchObject({ code: 'STORE_SIDECAR_INVALID', value: 'id' });
    expect(await fsp.readdir(dir)).toEqual([]);
  });

  test('reports a write failure with the errno as cause and cleans up', async () => {
    const sidecar = makeSidecar(T0);
    // A regular file where the directory should be: mkdir fails with ENOTDIR/EEXIST.
    await fsp.writeFile(path.join(dir, 'blocked'), 'x');
    const error = await writeSidecarAtomic(path.join(dir, 'blocked', `${sidecar.id}.json`), sidecar).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'STORE_SIDECAR_WRITE_FAILED' });
    expect(((error as StoreError).cause as NodeJS.ErrnoException).code).toMatch(/^(EEXIST|ENOTDIR)$/);
  });

  test('read errors carry clear codes', async () => {
    const sidecar = makeSidecar(T0);
    const file = path.join(dir, `${sidecar.id}.json`);
    await expect(readSidecar(file)).rejects.toMatchObject({ code: 'STORE_SIDECAR_UNREADABLE', value: file });
    await fsp.writeFile(file, JSON.stringify(sidecar).slice(0, 40));
    await expect(readSidecar(file)).rejects.toMatchObject({ code: 'STORE_SIDECAR_BAD_JSON' });
    await fsp.writeFile(file, JSON.stringify({ ...sidecar, version: 9 }));
    await expect(readSidecar(file)).rejects.toMatchObject({ code: 'STORE_SIDECAR_VERSION', value: 9 });
    await fsp.writeFile(path.join(dir, 'renamed.json'), JSON.stringify(sidecar));
    await expect(readSidecar(path.join(dir, 'renamed.json'))).rejects.toMatchObject({ code: 'STORE_SIDECAR_INVALID', value: 'id' });
  });
});
