/**
 * rclone upload with the real rclone binary and a local-filesystem remote configured through
 * the environment (`RCLONE_CONFIG_<NAME>_TYPE=local`), against a real store (SQLite index and
 * sidecars) whose `setUploadState` records the state.
 */

import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { runTool } from '@preroll/process';
import { openStore, type EventRecord, type Store } from '@preroll/store';
import { readSidecar, recordingPaths, writeSidecarAtomic, type RecordingKind, type UploadState } from '@preroll/layout';
import { createIntegrations, type Integrations, type UploadConfig } from '../src';
import { captureLogger, makeJpeg, recordingControl, tempDir, waitFor } from './helpers';

const REMOTE_NAME = 'prerolltest';

let root: string;
let clipFixture: string;
let jpegFixture: string;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  process.env[`RCLONE_CONFIG_${REMOTE_NAME.toUpperCase()}_TYPE`] = 'local';
  root = await tempDir('preroll-upload-test-');
  clipFixture = path.join(root, 'fixture.mp4');
  await runTool('ffmpeg', ['-y', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-t', '1', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', clipFixture]);
  jpegFixture = path.join(root, 'fixture.jpg');
  await makeJpeg(jpegFixture);
});

afterEach(async () => {
  while (cleanups.length) await (cleanups.pop() as () => Promise<unknown>)();
});

afterAll(async () => {
  delete process.env[`RCLONE_CONFIG_${REMOTE_NAME.toUpperCase()}_TYPE`];
  await fsp.rm(root, { recursive: true, force: true });
});

interface Setup {
  readonly dataDir: string;
  readonly remoteDir: string;
  readonly store: Store;
  readonly it: Integrations;
  /** Every setUploadState call, in order. */
  readonly states: Array<[string, UploadState]>;
  readonly deleted: string[];
  readonly codes: () => string[];
  add(kind: RecordingKind, second: number, options?: { favorite?: boolean }): Promise<EventRecord>;
  finished(record: EventRecord): void;
}

let counter = 0;
async function setup(upload: Partial<UploadConfig>, options: { deleteLocal?: boolean } = {}): Promise<Setup> {
  const base = path.join(root, `case-${counter++}`);
  const dataDir = path.join(base, 'data');
  const remoteDir = path.join(base, 'remote');
  await fsp.mkdir(remoteDir, { recursive: true });
  const store = await openStore({ dataDir, retention: { maxDiskPct: null } });
  cleanups.push(() => store.close());
  const states: Array<[string, UploadState]> = [];
  const deleted: string[] = [];
  const log = captureLogger();
  const it = createIntegrations({
    config: { upload: { remote: `${REMOTE_NAME}:${remoteDir}`, pathTemplate: '{camera}/{day}', retryInitialMs: 100, retryMaxMs: 400, ...upload } },
    dataDir,
    cameraId: 'cam',
    control: recordingControl().control,
    logger: log.logger,
    uploads: {
      async setUploadState(id, state) {
        states.push([id, state]);
        return store.setUploadState(id, state);
      },
      deleteLocal: options.deleteLocal
        ? async (record, remote) => {
            // What the server does: the store removes the clip and keeps the sidecar, images and row.
            deleted.push(`${record.id} ${remote}`);
            return store.offloadClip(record.id, remote);
          }
        : undefined,
    },
  });
  cleanups.push(() => it.stop());
  await it.start();
  return {
    dataDir,
    remoteDir,
    store,
    it,
    states,
    deleted,
    codes: log.codes,
    async add(kind, second, opts = {}) {
      const startedAtMs = new Date(2024, 4, 1, 12, 0, second).getTime();
      const id = `2024-05-01_12-00-${String(second).padStart(2, '0')}-000_${kind}`;
      const paths = recordingPaths(id);
      await fsp.mkdir(path.join(dataDir, paths.dir), { recursive: true });
      await fsp.copyFile(clipFixture, path.join(dataDir, paths.clip));
      await fsp.copyFile(jpegFixture, path.join(dataDir, paths.snapshot));
      const bytes = (await fsp.stat(path.join(dataDir, paths.clip))).size;
      await writeSidecarAtomic(path.join(dataDir, paths.sidecar), {
        version: 1,
        id,
        camera: 'cam',
        kind,
        startedAt: new Date(startedAtMs).toISOString(),
        endedAt: new Date(startedAtMs + 1000).toISOString(),
        triggeredAt: kind === 'segment' ? null : new Date(startedAtMs).toISOString(),
        preRollMs: 0,
        durationS: 1,
        frames: 10,
        width: 160,
        height: 120,
        triggerLevel: 6,
        peakScore: 20,
        scores: [],
        files: { clip: paths.clip, snapshot: paths.snapshot },
        bytes,
        favorite: opts.favorite ?? false,
      });
      return store.indexRecording(paths.sidecar);
    },
    finished(record) {
      it.recordingFinished({ record, clipPath: path.join(dataDir, record.files.clip), snapshotPath: record.files.snapshot && path.join(dataDir, record.files.snapshot) });
    },
  };
}

async function same(a: string, b: string): Promise<boolean> {
  return Buffer.compare(await fsp.readFile(a), await fsp.readFile(b)) === 0;
}

async function exists(file: string): Promise<boolean> {
  return fsp.stat(file).then(
    () => true,
    () => false,
  );
}

describe('upload with a real rclone and a local remote', () => {
  test('a finished motion event uploads automatically (clip, snapshot, sidecar); a segment only on demand', async () => {
    const s = await setup({});
    const motion = await s.add('motion', 1);
    const segment = await s.add('segment', 2);
    s.finished(motion);
    s.finished(segment);
    await waitFor(() => s.states.length >= 1, 'pending');
    await s.it.uploadsIdle();

    const folder = path.join(s.remoteDir, 'cam', '2024-05-01');
    expect((await fsp.readdir(folder)).sort()).toEqual([`${motion.id}.jpg`, `${motion.id}.json`, `${motion.id}.mp4`]);
    expect(await same(path.join(folder, `${motion.id}.mp4`), path.join(s.dataDir, motion.files.clip))).toBe(true);
    expect(await same(path.join(folder, `${motion.id}.jpg`), path.join(s.dataDir, motion.files.snapshot!))).toBe(true);
    expect(s.states).toEqual([
      [motion.id, 'pending'],
      [motion.id, 'uploaded'],
    ]);
    // The store holds the state in the row and in the sidecar (so a rebuild keeps it).
    expect(s.store.get(motion.id)!.uploadState).toBe('uploaded');
    expect((await readSidecar(path.join(s.dataDir, motion.files.sidecar))).uploadState).toBe('uploaded');
    expect(s.store.get(segment.id)!.uploadState).toBe('none');

    await s.it.upload(segment, path.join(s.dataDir, segment.files.clip));
    expect(s.store.get(segment.id)!.uploadState).toBe('pending');
    await s.it.uploadsIdle();
    expect(s.store.get(segment.id)!.uploadState).toBe('uploaded');
    expect(await exists(path.join(folder, `${segment.id}.mp4`))).toBe(true);
    expect(s.it.stats().upload).toMatchObject({ uploaded: 2, failed: 0, retries: 0, queued: 0, active: null, rcloneFound: true });
  });

  test('a remote path that is not writable at first is retried with backoff until it works', async () => {
    const s = await setup({ maxAttempts: 10 });
    // A file where the camera folder must go: rclone cannot create the folder under it.
    const blocker = path.join(s.remoteDir, 'cam');
    await fsp.writeFile(blocker, 'not a folder');
    const record = await s.add('manual', 3);
    s.finished(record);
    await waitFor(() => s.it.stats().upload!.retries >= 1, 'a failed attempt');
    expect(s.store.get(record.id)!.uploadState).toBe('pending');
    expect(s.it.stats().upload!.lastError).toMatch(/UPLOAD_ATTEMPT_FAILED: rclone copyto/);
    await fsp.rm(blocker);
    await s.it.uploadsIdle();
    expect(s.store.get(record.id)!.uploadState).toBe('uploaded');
    expect(await exists(path.join(s.remoteDir, 'cam', '2024-05-01', `${record.id}.mp4`))).toBe(true);
    expect(s.states.map(([, state]) => state)).toEqual(['pending', 'uploaded']);
    expect(s.codes()).toContain('UPLOAD_ATTEMPT_FAILED');
  });

  test('after the bounded attempts the state is failed; an on-demand retry later succeeds', async () => {
    const s = await setup({ maxAttempts: 2 });
    const blocker = path.join(s.remoteDir, 'cam');
    await fsp.writeFile(blocker, 'not a folder');
    const record = await s.add('memory', 4);
    s.finished(record);
    await waitFor(() => s.states.length >= 1, 'pending');
    await s.it.uploadsIdle();
    expect(s.store.get(record.id)!.uploadState).toBe('failed');
    expect(s.it.stats().upload).toMatchObject({ failed: 1, retries: 1 });
    expect(s.codes()).toContain('UPLOAD_GAVE_UP');

    await fsp.rm(blocker);
    await s.it.upload(s.store.get(record.id)!, path.join(s.dataDir, record.files.clip));
    await s.it.uploadsIdle();
    expect(s.states.map(([, state]) => state)).toEqual(['pending', 'failed', 'pending', 'uploaded']);
  });

  test('delete-local-after-upload removes the local media through the callback, keeps the row, spares favourites', async () => {
    const s = await setup({ deleteLocalAfterUpload: true }, { deleteLocal: true });
    const plain = await s.add('motion', 5);
    const favourite = await s.add('motion', 6, { favorite: true });
    s.finished(plain);
    s.finished(favourite);
    await waitFor(() => s.states.length >= 2, 'both pending');
    await s.it.uploadsIdle();
    const remoteClip = path.join(s.remoteDir, 'cam', '2024-05-01', `${plain.id}.mp4`);
    expect(s.deleted).toEqual([`${plain.id} ${REMOTE_NAME}:${remoteClip}`]);
    expect(await exists(path.join(s.dataDir, plain.files.clip))).toBe(false);
    expect(await exists(path.join(s.dataDir, plain.files.snapshot!))).toBe(true);
    expect(await exists(path.join(s.dataDir, favourite.files.clip))).toBe(true);
    expect(await exists(path.join(s.remoteDir, 'cam', '2024-05-01', `${plain.id}.mp4`))).toBe(true);
    expect(s.store.get(plain.id)).toMatchObject({ id: plain.id, uploadState: 'uploaded', offloaded: { remote: `${REMOTE_NAME}:${remoteClip}` } });
    expect(s.store.get(favourite.id)).toMatchObject({ uploadState: 'uploaded', offloaded: null });
    expect(s.it.stats().upload).toMatchObject({ uploaded: 2, deletedLocal: 1 });
  });

  test('a missing clip fails at once without retries; a missing rclone fails with its own code', async () => {
    const s = await setup({});
    const record = await s.add('motion', 7);
    await s.it.upload(record, path.join(s.dataDir, 'events', 'gone.mp4'));
    await s.it.uploadsIdle();
    expect(s.store.get(record.id)!.uploadState).toBe('failed');
    expect(s.it.stats().upload).toMatchObject({ failed: 1, retries: 0 });
    expect(s.codes()).toContain('UPLOAD_FILE_MISSING');

    // When the store refuses the state (here: the clip is gone, so it will not rewrite the
    // row), the recording is not queued and the refusal is logged with a code.
    await fsp.rm(path.join(s.dataDir, record.files.clip));
    s.finished(record);
    await s.it.uploadsIdle();
    expect(s.codes()).toContain('UPLOAD_STATE_FAILED');
    await expect(s.it.upload(record, path.join(s.dataDir, record.files.clip))).rejects.toMatchObject({ code: 'UPLOAD_STATE_FAILED' });
    expect(s.it.stats().upload).toMatchObject({ failed: 1, queued: 0 });

    const noRclone = await setup({ rcloneCommand: 'rclone-not-installed-here' });
    expect(noRclone.codes()).toContain('UPLOAD_RCLONE_NOT_FOUND');
    const other = await noRclone.add('motion', 8);
    noRclone.finished(other);
    await waitFor(() => noRclone.states.length >= 1, 'pending');
    await noRclone.it.uploadsIdle();
    expect(noRclone.store.get(other.id)!.uploadState).toBe('failed');
    expect(noRclone.it.stats().upload).toMatchObject({ failed: 1, retries: 0, rcloneFound: false });
  });

  test('an rclone run longer than the timeout is killed and counted as a failed attempt', async () => {
    // 10 kB/s makes the 1 MB clip take ~100 s; the 1 s timeout stops it.
    const s = await setup({ timeoutMs: 1000, maxAttempts: 1, extraArgs: ['--bwlimit', '10k'] });
    const record = await s.add('motion', 9);
    await fsp.writeFile(path.join(s.dataDir, record.files.clip), Buffer.alloc(1024 * 1024, 7));
    const t0 = Date.now();
    s.finished(record);
    await waitFor(() => s.states.length >= 1, 'pending');
    await s.it.uploadsIdle();
    // Killed by the 1 s timeout: long before the ~100 s the transfer would take.
    expect(Date.now() - t0).toBeLessThan(50_000);
    expect(s.store.get(record.id)!.uploadState).toBe('failed');
    expect(s.it.stats().upload!.lastError).toMatch(/timed out after 1000 ms/);
  });

  test('upload() without an upload section rejects with UPLOAD_DISABLED; delete-local without the callback is a config error', async () => {
    const it = createIntegrations({ config: {}, dataDir: root, cameraId: 'cam', control: recordingControl().control });
    const record = { id: 'x' } as EventRecord;
    await expect(it.upload(record, '/x.mp4')).rejects.toMatchObject({ code: 'UPLOAD_DISABLED' });
    expect(() =>
      createIntegrations({ config: { upload: { remote: 'r:', deleteLocalAfterUpload: true } }, dataDir: root, cameraId: 'cam', control: recordingControl().control }),
    ).toThrow(expect.objectContaining({ code: 'INTEGRATIONS_BAD_CONFIG', value: { key: 'upload.deleteLocalAfterUpload', value: true } }));
  });
});
