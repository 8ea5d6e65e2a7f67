import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request, startTestServer, tempDataDir, waitFor } from './server-helpers';

describe('detector mask from the configuration', () => {
  test('a mask image that hides the moving part keeps its motion out of the score', async () => {
    // Binary PGM at the demo's size: black (ignored) everywhere except the top band, where the
    // demo scene never moves; its crossing object is in the middle.
    const dir = tempDataDir();
    const width = 320;
    const height = 180;
    const pixels = Buffer.alloc(width * height, 0);
    pixels.fill(255, 0, width * 20);
    const mask = join(dir, 'mask.pgm');
    writeFileSync(mask, Buffer.concat([Buffer.from(`P5\n${width} ${height}\n255\n`), pixels]));
    const server = await startTestServer({ camera: { source: 'demo', width, height }, detector: { mask: { imagePath: mask } }, server: { dataDir: join(dir, 'data'), host: '127.0.0.1', port: 0 } });
    try {
      // The crossing is at 10-14 s; sample the score through it.
      const scores: number[] = [];
      await waitFor(async () => {
        const status = (await request(`${server.url}/api/status`, 'GET')).body;
        scores.push(status.score);
        return status.uptimeS >= 15;
      }, 30_000, 'the crossing to pass');
      expect(Math.max(...scores)).toBeLessThan(8);
      expect((await request(`${server.url}/api/events?kind=motion`, 'GET')).body.items).toHaveLength(0);
    } finally {
      await server.stop();
    }
  }, 60_000);

  test('an unreadable mask stops the start with DETECTOR_BAD_MASK', async () => {
    const dir = tempDataDir();
    await expect(startTestServer({ detector: { mask: { imagePath: join(dir, 'missing.png') } }, server: { dataDir: dir, host: '127.0.0.1', port: 0 } })).rejects.toMatchObject({ code: 'DETECTOR_BAD_MASK' });
  });
});
