import { chromium, type Browser, type CDPSession, type Page } from 'playwright-core';
import { request, startTestServer, tempDataDir, waitFor } from './server-helpers';

/** The scale and offset of an element's CSS transform (identity when it has none). */
async function transformOf(page: Page, selector: string): Promise<{ scale: number; x: number; y: number }> {
  return page.evaluate((sel) => {
    const m = new DOMMatrixReadOnly(getComputedStyle(document.querySelector(sel)!).transform === 'none' ? undefined : getComputedStyle(document.querySelector(sel)!).transform);
    return { scale: m.a, x: m.e, y: m.f };
  }, selector);
}

/**
 * Touches through the DevTools protocol: what a phone's screen sends. Events carry their own
 * timestamps (16 ms apart), and every drag rests 200 ms at its end before lifting, so Chromium
 * sees no fling (it would swallow the next tap as the one that stops the fling).
 */
function touchscreen(cdp: CDPSession) {
  let clockS = Date.now() / 1000;
  const send = (type: 'touchStart' | 'touchMove' | 'touchEnd', points: Array<[number, number]>, afterMs = 16) => {
    // Never behind the real clock (Chromium drops stale touches), always `afterMs` after the last one.
    clockS = Math.max(clockS + afterMs / 1000, Date.now() / 1000);
    return cdp.send('Input.dispatchTouchEvent', { type, timestamp: clockS, touchPoints: points.map(([x, y], id) => ({ x, y, id })) });
  };
  return {
    /** Fingers from `from` to `to` (same count) in `steps` moves, then lifted. */
    async drag(from: Array<[number, number]>, to: Array<[number, number]>, steps = 6): Promise<void> {
      await send('touchStart', from);
      for (let i = 1; i <= steps; i++) {
        await send('touchMove', from.map(([x, y], k) => [x + ((to[k][0] - x) * i) / steps, y + ((to[k][1] - y) * i) / steps]));
      }
      await send('touchMove', to, 200);
      await send('touchEnd', []);
    },
    /** Two quick taps. */
    async doubleTap(x: number, y: number): Promise<void> {
      await send('touchStart', [[x, y]], 300);
      await send('touchEnd', [], 40);
      await send('touchStart', [[x, y]], 80);
      await send('touchEnd', [], 40);
    },
  };
}

describe('pinch-zoom and pan (Chromium, touch through CDP, phone 390x844)', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  });
  afterAll(async () => {
    await browser.close();
  });

  test('two fingers zoom around their midpoint, one pans, a double tap resets, the scale stays in 1–6x, the page never zooms', async () => {
    const server = await startTestServer({ server: { dataDir: tempDataDir(), host: '127.0.0.1', port: 0 }, camera: { source: 'demo', width: 320, height: 180, fps: 10 } });
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, deviceScaleFactor: 1 });
    const errors: string[] = [];
    try {
      const page = await context.newPage();
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(server.url);
      await page.waitForSelector('.live-frame[data-zoom="1"]', { timeout: 15_000 });
      const cdp = await context.newCDPSession(page);
      const touch = touchscreen(cdp);
      const box = (await page.locator('.live-frame').boundingBox())!;
      const cx = box.x + box.width / 2;
      const cy = box.y + box.height / 2;

      // Fingers 60 px apart spread to 150 px around the centre: 2.5x, the centre stays put.
      await touch.drag([[cx - 30, cy], [cx + 30, cy]], [[cx - 75, cy], [cx + 75, cy]]);
      let t = await transformOf(page, '#live-zoom');
      expect(t.scale).toBeCloseTo(2.5, 1);
      const local = { x: box.width / 2, y: box.height / 2 };
      // The picture point under the midpoint is the same before and after.
      expect((local.x - t.x) / t.scale).toBeCloseTo(local.x, 0);
      expect((local.y - t.y) / t.scale).toBeCloseTo(local.y, 0);
      expect(await page.getAttribute('.live-frame', 'data-zoom')).toBe('2.5');

      // One finger pans the zoomed picture.
      const before = t;
      await touch.drag([[cx, cy]], [[cx + 30, cy - 20]]);
      t = await transformOf(page, '#live-zoom');
      expect(t.scale).toBeCloseTo(before.scale, 3);
      expect(t.x - before.x).toBeCloseTo(30, 0);
      expect(t.y - before.y).toBeCloseTo(-20, 0);

      // Spreading far beyond stops at 6x; the picture still covers the frame.
      await touch.drag([[cx - 10, cy], [cx + 10, cy]], [[box.x + 2, cy], [box.x + box.width - 2, cy]], 10);
      t = await transformOf(page, '#live-zoom');
      expect(t.scale).toBe(6);
      expect(t.x).toBeLessThanOrEqual(0);
      expect(t.x).toBeGreaterThanOrEqual(box.width - box.width * 6 - 0.5);

      // Pinching in stops at 1x.
      await touch.drag([[box.x + 10, cy], [box.x + box.width - 10, cy]], [[cx - 5, cy], [cx + 5, cy]], 10);
      expect((await transformOf(page, '#live-zoom')).scale).toBe(1);

      // Zoom again, then a double tap resets.
      await touch.drag([[cx - 30, cy], [cx + 30, cy]], [[cx - 90, cy], [cx + 90, cy]]);
      expect((await transformOf(page, '#live-zoom')).scale).toBeGreaterThan(2);
      await touch.doubleTap(cx, cy);
      await page.waitForSelector('.live-frame[data-zoom="1"]', { timeout: 2000 });
      expect(await transformOf(page, '#live-zoom')).toEqual({ scale: 1, x: 0, y: 0 });
      // The browser's own zoom never took the gestures.
      expect(await page.evaluate(() => window.visualViewport!.scale)).toBe(1);

      // The player: a clip, opened from the gallery, zooms the same way; a pinch is not a swipe.
      // A photo first: it is newer than the clip (which starts with its pre-roll), so the clip has
      // a previous event that a swipe to the right would go to.
      expect((await request(`${server.url}/api/photo`, 'POST', {})).status).toBe(201);
      expect((await request(`${server.url}/api/record/start`, 'POST', {})).status).toBe(200);
      await waitFor(async () => (await request(`${server.url}/api/status`, 'GET')).body.recording, 10_000, 'recording');
      expect((await request(`${server.url}/api/record/stop`, 'POST', {})).status).toBe(200);
      // The clip is manual, or motion when the demo scene moved meanwhile: either has video.
      const [clip] = await waitFor(async () => {
        const items = (await request(`${server.url}/api/events?kind=manual,motion`, 'GET')).body.items;
        return items.length > 0 ? items : null;
      }, 90_000, 'a clip');
      await page.click('#tab-gallery');
      await page.click(`.event[data-id="${clip.id}"]`);
      await page.waitForFunction(() => (document.getElementById('event-video') as HTMLVideoElement | null)?.readyState! >= 1, null, { timeout: 15_000 });
      const title = await page.textContent('#event-title');
      // The dialog settled: its zoom is attached and the score chart (loaded after it) is laid out.
      await page.waitForSelector('#event-zoom[data-zoom="1"]', { timeout: 10_000 });
      await page.waitForSelector('#event-chart', { timeout: 15_000 });
      const v = (await page.locator('#event-zoom').boundingBox())!;
      const vx = v.x + v.width / 2;
      const vy = v.y + v.height / 2;
      // The player's video uses the same gestures. Touches sent through CDP do not reach the
      // video inside the modal dialog (Chromium drops their start), so the player is driven here by
      // the laptop's pinch (Ctrl + wheel); the touch path is the live view's above.
      await page.mouse.move(vx, vy);
      await page.keyboard.down('Control');
      await page.mouse.wheel(0, -200 * Math.log(3));
      await page.keyboard.up('Control');
      await page.waitForFunction(() => Number((document.getElementById('event-zoom') as HTMLElement).dataset.zoom) > 2.5, null, { timeout: 5000 });
      t = await transformOf(page, '#event-video');
      expect(t.scale).toBeCloseTo(3, 1);
      // Scaled around the pointer: the point under it stays put.
      expect(t.x + t.scale * (vx - v.x)).toBeCloseTo(vx - v.x, 0);
      // Zooming out far stops at 1x, where the picture fills its frame again.
      await page.keyboard.down('Control');
      await page.mouse.wheel(0, 2000);
      await page.keyboard.up('Control');
      await page.waitForSelector('#event-zoom[data-zoom="1"]', { timeout: 5000 });
      expect(await transformOf(page, '#event-video')).toEqual({ scale: 1, x: 0, y: 0 });
      expect(await page.textContent('#event-title')).toBe(title);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await server.stop();
    }
  }, 180_000);
});
