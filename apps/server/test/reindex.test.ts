import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { runTool } from '@preroll/process';
import { main } from '../src/cli';
import { memoryIo } from './io';

describe('preroll reindex', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'preroll-reindex-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('rebuilds a deleted index from the recordings on disk and reports bad sidecars and orphans', async () => {
    // Two motion events recorded by the real pipeline.
    const video = path.join(dir, 'two-events.mp4');
    await runTool('ffmpeg', [
      '-v', 'error', '-y',
      '-f', 'lavfi', '-i', 'color=c=gray:s=320x240:r=10:d=24',
      '-f', 'lavfi', '-i', 'color=c=white:s=40x40:r=10:d=24',
      '-filter_complex', "[0][1]overlay=x='20+mod(t,10)*25':y=100:enable='between(t,5,7)+between(t,16,18)',noise=alls=3:allf=t",
      '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '10', '-pix_fmt', 'yuv420p', video,
    ]);
    const data = path.join(dir, 'data');
    const recorded = memoryIo();
    expect(await main(['record', video, '--data', data, '--json'], recorded)).toBe(0);
    const events = recorded.jsonLines().filter((l) => l.type === 'event');
    expect(events).toHaveLength(2);

    // Lose the index, break one more sidecar, leave an orphan clip.
    for (const name of readdirSync(data)) if (name.startsWith('index.db')) rmSync(path.join(data, name));
    const day = path.dirname(path.join(data, events[0].clip));
    writeFileSync(path.join(day, '2026-01-01_00-00-00-000_motion.json'), '{"version":1,"id":');
    writeFileSync(path.join(day, 'stray.mp4'), Buffer.alloc(1000));

    const io = memoryIo();
    expect(await main(['reindex', '--data', data, '--json'], io)).toBe(0);
    const lines = io.jsonLines();
    const summary = lines[lines.length - 1];
    expect(summary).toMatchObject({ type: 'summary', database: 'created', indexed: 2, skipped: 1 });
    expect(lines.find((l) => l.type === 'skipped')).toMatchObject({ code: 'LAYOUT_SIDECAR_BAD_JSON' });
    expect(lines.filter((l) => l.type === 'orphan').map((l) => path.basename(l.path))).toContain('stray.mp4');
    expect(existsSync(path.join(data, 'index.db'))).toBe(true);

    const human = memoryIo();
    expect(await main(['reindex', '--data', data], human)).toBe(0);
    expect(human.out()).toMatch(/indexed 2 recordings/);
  });

  test('usage errors and a missing directory have clear exits', async () => {
    const io = memoryIo();
    expect(await main(['reindex'], io)).toBe(2);
    expect(io.err()).toMatch(/--data DIR is required/);
    const missing = memoryIo();
    expect(await main(['reindex', '--data', path.join(dir, 'nope')], missing)).toBe(1);
    expect(missing.err()).toMatch(/^preroll reindex: STORE_/);
  });
});
