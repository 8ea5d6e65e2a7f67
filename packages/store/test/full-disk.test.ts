import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmdirSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { statfsDiskUsage } from '../src/retention';
import type { StoreError } from '../src/errors';
import { recordingPaths } from '@preroll/layout';
import { openStore } from '../src/store';
import { makeSidecar, NO_LIMITS, writeRecording } from './fixtures';

/**
 * A real, small file system: a 4 MiB tmpfs. Mounting needs root (CI and the dev machines run
 * as root); where it is not allowed these tests cannot run, and say so in their name.
 */
function canMountTmpfs(): boolean {
  if (process.platform !== 'linux') return false;
  const probe = mkdtempSync(path.join(os.tmpdir(), 'preroll-mount-probe-'));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe]).status === 0;
  if (mounted) spawnSync('umount', [probe]);
  rmdirSync(probe);
  return mounted;
}

const describeFs = canMountTmpfs() ? describe : describe.skip;
const BASE = new Date(2026, 7, 1, 9, 0, 0).getTime();
const CLIP_BYTES = 200 * 1024;

describeFs('on a real 4 MiB file system (tmpfs; needs permission to mount)', () => {
  let root: string;
  let dir: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'preroll-fs-'));
    dir = path.join(root, 'data');
    require('node:fs').mkdirSync(dir);
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir]);
    if (r.status !== 0) throw new Error(`mount failed: ${r.stderr}`);
  });
  afterEach(async () => {
    spawnSync('umount', [dir]);
    await fsp.rm(root, { recursive: true, force: true });
  });

  const capture = (): { logger: pino.Logger; lines: Array<Record<string, unknown>> } => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _e, done) {
        for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    return { logger: pino({ level: 'info' }, sink), lines };
  };

  test('the default 80 % limit, read with fs.statfs, brings a 90 % full disk under 80 %, oldest first', async () => {
    const ids: string[] = [];
    for (let i = 0; (await statfsDiskUsage(dir)).usedBytes / (await statfsDiskUsage(dir)).sizeBytes < 0.9; i++) {
      ids.push((await writeRecording(dir, makeSidecar(BASE + i * 60_000), CLIP_BYTES)).id);
    }
    const store = await openStore({ dataDir: dir });
    try {
      expect(store.retention.maxDiskPct).toBe(80);
      const result = await store.runRetention();
      const after = await statfsDiskUsage(dir);
      expect(after.usedBytes / after.sizeBytes).toBeLessThanOrEqual(0.8);
      expect(result.deleted.map((d) => d.id)).toEqual(ids.slice(0, result.deleted.length));
      expect(result.deleted.every((d) => d.reason === 'max-disk-pct')).toBe(true);
    } finally {
      await store.close();
    }
  });

  test('after ENOSPC, recoverSpace frees room and the next recording is written and indexed; favourites survive', async () => {
    const { logger, lines } = capture();
    const store = await openStore({ dataDir: dir, retention: NO_LIMITS, logger });
    try {
      const favorite = await writeRecording(dir, makeSidecar(BASE - 60_000), CLIP_BYTES);
      await store.indexRecording(recordingPaths(favorite.id).sidecar);
      await store.setFavorite(favorite.id, true);
      let failure: unknown = null;
      for (let i = 0; i < 100 && !failure; i++) {
        try {
          const s = await writeRecording(dir, makeSidecar(BASE + i * 60_000), CLIP_BYTES);
          await store.indexRecording(recordingPaths(s.id).sidecar);
        } catch (error) {
          failure = error;
        }
      }
      // The clip write fails with ENOSPC, or the sidecar write with ENOSPC as its cause.
      const code = (failure as NodeJS.ErrnoException).code;
      const cause = ((failure as StoreError).cause as NodeJS.ErrnoException | undefined)?.code;
      expect([code, cause]).toContain('ENOSPC');

      const freed = await store.recoverSpace(3 * CLIP_BYTES);
      expect(freed.freedBytes).toBeGreaterThanOrEqual(3 * CLIP_BYTES);
      expect(freed.deleted.every((d) => d.reason === 'free-space')).toBe(true);
      const next = await writeRecording(dir, makeSidecar(BASE + 999 * 60_000), CLIP_BYTES);
      const record = await store.indexRecording(recordingPaths(next.id).sidecar);
      expect(record.id).toBe(next.id);
      expect(lines.some((l) => l.msg === 'store: retention run' && l.trigger === 'enospc')).toBe(true);
      expect(store.get(favorite.id)?.favorite).toBe(true);
      expect(freed.deleted.map((d) => d.id)).not.toContain(favorite.id);
    } finally {
      await store.close();
    }
  });

  test('a database write that fails with SQLITE_FULL runs retention and succeeds on retry', async () => {
    const { logger, lines } = capture();
    const store = await openStore({ dataDir: dir, retention: NO_LIMITS, logger, enospcFreeBytes: 2 * CLIP_BYTES });
    try {
      for (let i = 0; i < 4; i++) {
        const s = await writeRecording(dir, makeSidecar(BASE + i * 60_000), CLIP_BYTES);
        await store.indexRecording(recordingPaths(s.id).sidecar);
      }
      const pending = await writeRecording(dir, makeSidecar(BASE + 50 * 60_000, { scores: Array.from({ length: 3000 }, (_, k) => ({ tMs: k, score: k })) }), 1000);
      // Fill every remaining byte, as another process writing to the card would.
      const filler = await fsp.open(path.join(dir, 'filler.bin'), 'w');
      try {
        for (;;) await filler.write(Buffer.alloc(4096, 1));
      } catch (error) {
        expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
      } finally {
        await filler.close();
      }
      const record = await store.indexRecording(recordingPaths(pending.id).sidecar);
      expect(record.id).toBe(pending.id);
      expect(lines.some((l) => l.msg === 'store: database full (ENOSPC); running retention before retrying')).toBe(true);
    } finally {
      await store.close();
    }
  });
});
