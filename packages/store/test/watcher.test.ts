import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { watchEvents, type WatchBatch } from '../src/watcher';
import { tempDataDir, waitFor } from './fixtures';

describe('the folder watcher', () => {
  test('one watch per folder however many files; new folders and files copied in are seen once they settle', async () => {
    const dir = await tempDataDir();
    await fsp.mkdir(path.join(dir, 'events', '2026-03-01'), { recursive: true });
    const batches: WatchBatch[] = [];
    const watcher = watchEvents({ dataDir: dir, relDir: 'events', stabilityMs: 150, debounceMs: 50, onBatch: async (b) => void batches.push(b) });
    try {
      await watcher.ready;
      expect(watcher.watchedDirs()).toBe(2);
      // 40 recordings over two day folders, one of them new: 120 files.
      for (let i = 0; i < 40; i++) {
        const day = path.join(dir, 'events', i % 2 ? '2026-03-01' : '2026-03-02');
        await fsp.mkdir(day, { recursive: true });
        await fsp.writeFile(path.join(day, `rec${i}.mp4`), Buffer.alloc(1000));
        await fsp.writeFile(path.join(day, `rec${i}.jpg`), Buffer.alloc(100));
        await fsp.writeFile(path.join(day, `rec${i}.json`), '{}');
      }
      const sidecars = (): Set<string> => new Set(batches.flatMap((b) => [...b.sidecars]));
      expect(await waitFor(() => sidecars().size === 40, 5000)).toBe(true);
      expect(sidecars()).toContain('events/2026-03-02/rec0.json');
      expect(watcher.watchedDirs()).toBe(3);

      // A file still growing is not news until it stops.
      const growing = path.join(dir, 'events', '2026-03-01', 'big.mp4');
      const handle = await fsp.open(growing, 'w');
      for (let i = 0; i < 6; i++) {
        await handle.write(Buffer.alloc(4096));
        await new Promise((r) => setTimeout(r, 60));
        expect(sidecars()).not.toContain('events/2026-03-01/big.json');
      }
      await handle.close();
      expect(await waitFor(() => sidecars().has('events/2026-03-01/big.json'), 5000)).toBe(true);

      // A removed file and a removed folder.
      await fsp.rm(path.join(dir, 'events', '2026-03-01', 'rec1.mp4'));
      await fsp.rm(path.join(dir, 'events', '2026-03-02'), { recursive: true });
      const unlinked = (): string[] => batches.flatMap((b) => [...b.unlinked]);
      expect(await waitFor(() => batches.some((b) => b.unlinkedDirs.has('events/2026-03-02')), 5000)).toBe(true);
      expect(unlinked()).toContain('events/2026-03-01/rec1.mp4');
      expect(watcher.watchedDirs()).toBe(2);
    } finally {
      await watcher.close();
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});
