import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { startFromFile } from './config-helpers';
import { request, waitFor } from './server-helpers';

const CHROMIUM = '/usr/bin/chromium';
const VIEWPORTS = [
  ['phone', { width: 390, height: 844 }],
  ['desktop', { width: 1280, height: 800 }],
] as const;

describe('the player shows where a camera restart cut a clip (demo source, real browser)', () => {
  let browser: Browser;
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: run deploy/setup.sh --test`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  });
  afterAll(async () => {
    await browser?.close();
  });

  test('a manual clip ended by a change of the frame rate lists the break under its chart, on a phone and a desktop', async () => {
    const server = await startFromFile({ camera: { source: 'demo', width: 320, height: 180, fps: 15 } });
    try {
      const url = server.url;
      // No motion event around the manual recording: its clip is then of kind `manual`.
      await request(`${url}/api/motion`, 'POST', { enabled: false });
      await waitFor(async () => (await request(`${url}/api/status`, 'GET')).body.fps > 0, 30_000, 'frames');
      expect((await request(`${url}/api/record/start`, 'POST')).status).toBe(200);
      await waitFor(async () => (await request(`${url}/api/status`, 'GET')).body.recording, 20_000, 'the recording');
      await new Promise((r) => setTimeout(r, 1500));
      const version = (await request(`${url}/api/config`, 'GET')).body.version;
      const changed = await request(`${url}/api/config`, 'PATCH', { camera: { fps: 10 } }, { 'If-Match': `"${version}"` });
      expect(changed.body.applied).toEqual(['camera.fps']);
      const clip = await waitFor(async () => (await request(`${url}/api/events?kind=manual`, 'GET')).body.items[0], 60_000, 'the cut clip');
      await request(`${url}/api/record/stop`, 'POST');
      expect(clip.discontinuities).toEqual([{ atMs: expect.any(Number), reason: 'camera-restart', keys: ['camera.fps'], gapMs: null, ended: true }]);
      for (const [, viewport] of VIEWPORTS) {
        const context = await browser.newContext({ viewport });
        try {
          const page = await context.newPage();
          const errors: string[] = [];
          page.on('pageerror', (error) => errors.push(error.message));
          await page.goto(url);
          await page.click('#tab-gallery');
          await page.click(`.event[data-id="${clip.id}"]`, { timeout: 30_000 });
          await page.waitForSelector('#event-breaks', { timeout: 30_000 });
          const items = await page.locator('#event-breaks .event-break').allTextContents();
          expect(items).toHaveLength(1);
          expect(items[0]).toBe(`The camera restarted with new settings (camera.fps) at ${(clip.discontinuities[0].atMs / 1000).toFixed(1)} s: the recording goes on in a new clip.`);
          expect(await page.locator('#event-breaks').isVisible()).toBe(true);
          expect(errors).toEqual([]);
        } finally {
          await context.close();
        }
      }
    } finally {
      await server.stop();
    }
  }, 150_000);
});
