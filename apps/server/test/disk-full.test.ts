import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, writeSync, rmSync, statfsSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request, waitFor } from './server-helpers';

const CLI = resolve(__dirname, '../dist/src/cli.js');

/** True when this process may mount a tmpfs (root in most CI containers). */
function canMount(): boolean {
  const probe = mkdtempSync(join(tmpdir(), 'preroll-mount-probe-'));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe]).status === 0;
  if (mounted) spawnSync('umount', [probe]);
  rmdirSync(probe);
  return mounted;
}

const describeFs = canMount() ? describe : describe.skip;

describeFs('a full disk (real 32 MiB tmpfs; skipped where mounting is not allowed)', () => {
  test('recording fails without crashing while the disk is full, and resumes when space is freed', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'preroll-full-'));
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', dataDir]).status).toBe(0);
    const port = 20000 + Math.floor(Math.random() * 20000);
    const url = `http://127.0.0.1:${port}`;
    const child = spawn(process.execPath, [CLI, 'serve', '--source', 'demo', '--port', String(port), '--host', '127.0.0.1', '--data', dataDir], {
      env: { ...process.env, PREROLL_LOG_LEVEL: 'fatal', PREROLL_DETECTOR__TRIGGER_LEVEL: '60000', PREROLL_RETENTION__MAX_DISK_PCT: '99' },
      stdio: 'ignore',
    });
    let exited = false;
    child.once('exit', () => (exited = true));
    try {
      await waitFor(async () => (await request(`${url}/api/status`, 'GET').catch(() => null))?.body?.fps > 0, 20_000, 'the server');
      // Fill the file system with a ballast file, leaving almost nothing.
      const ballast = join(dataDir, 'ballast.bin');
      const fd = openSync(ballast, 'w');
      const block = Buffer.alloc(256 * 1024, 1);
      try {
        for (;;) writeSync(fd, block);
      } catch (error) {
        expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
      } finally {
        closeSync(fd);
      }
      expect(statfsSync(dataDir).bavail).toBeLessThan(64);
      await request(`${url}/api/record/start`, 'POST');
      await new Promise((r) => setTimeout(r, 3000));
      await request(`${url}/api/record/stop`, 'POST');
      await new Promise((r) => setTimeout(r, 2000));
      expect(exited).toBe(false);
      expect((await request(`${url}/healthz`, 'GET')).status).toBe(200);

      // Space comes back: the next recording is written and indexed.
      rmSync(ballast);
      await request(`${url}/api/record/start`, 'POST');
      await new Promise((r) => setTimeout(r, 2500));
      await request(`${url}/api/record/stop`, 'POST');
      const event = await waitFor(async () => (await request(`${url}/api/events?kind=manual`, 'GET')).body.items[0], 20_000, 'a recording after the disk was freed');
      expect(event.durationS).toBeGreaterThan(1);
      expect((await fetch(`${url}${event.urls.clip}`)).status).toBe(200);
      expect(exited).toBe(false);
    } finally {
      child.kill('SIGTERM');
      if (!exited) await new Promise((r) => child.once('exit', r));
      spawnSync('umount', [dataDir]);
      rmdirSync(dataDir);
    }
  }, 90_000);
});
