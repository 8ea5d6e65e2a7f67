import { chromium, type Browser, type Page } from 'playwright-core';
import { request, startTestServer, tempDataDir, waitFor } from './server-helpers';

/** WCAG contrast ratio of an element's text colour against its background colour. */
async function contrastOf(page: Page, selector: string): Promise<number> {
  return page.evaluate((sel) => {
    const style = getComputedStyle(document.querySelector(sel)!);
    const rgb = (css: string): number[] => css.match(/[\d.]+/g)!.slice(0, 3).map(Number);
    const lum = (c: number[]): number => {
      const [r, g, b] = c.map((v) => {
        const s = v / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const a = lum(rgb(style.color));
    const b = lum(rgb(style.backgroundColor));
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  }, selector);
}

describe('audit of the web app (Chromium, phone 390x844 and desktop 1366x768)', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  });
  afterAll(async () => {
    await browser.close();
  });

  test('a11y names and states, REC contrast, chart history and greying, keys between events, unreviewed badge', async () => {
    const server = await startTestServer({ server: { dataDir: tempDataDir(), host: '127.0.0.1', port: 0 }, camera: { source: 'demo', width: 320, height: 180, fps: 10 } });
    try {
      // Recordings to review: a photo, and a manual clip made while each page is looked at.
      expect((await request(`${server.url}/api/photo`, 'POST', {})).status).toBe(201);
      let clips = 0;
      for (const viewport of [{ width: 390, height: 844 }, { width: 1366, height: 768 }]) {
        const context = await browser.newContext({ viewport, hasTouch: viewport.width < 700 });
        // Counts what the page asks the app badge to show (the call goes on to the browser's own).
        await context.addInitScript(() => {
          const w = window as unknown as { badges: number[] };
          w.badges = [];
          const nav = navigator as Navigator & { setAppBadge?: (n?: number) => Promise<void> };
          const original = nav.setAppBadge?.bind(nav);
          if (original) nav.setAppBadge = (n?: number) => (w.badges.push(n ?? 0), original(n));
        });
        const page = await context.newPage();
        const errors: string[] = [];
        page.on('pageerror', (error) => errors.push(error.message));
        try {
          expect((await request(`${server.url}/api/record/start`, 'POST', {})).status).toBe(200);
          await page.goto(server.url);
          await page.waitForSelector('#rec', { timeout: 15_000 });
          // The REC pill: white on red, measured.
          const rec = await contrastOf(page, '#rec');
          expect(rec).toBeGreaterThanOrEqual(4.5);
          // Tabs, canvases, toggles.
          expect(await page.getAttribute('#tab-live', 'aria-current')).toBe('page');
          expect(await page.getAttribute('#tab-gallery', 'aria-current')).toBeNull();
          const canvases = await page.$$eval('canvas', (list) => list.map((c) => ({ role: c.getAttribute('role'), label: c.getAttribute('aria-label') ?? '' })));
          expect(canvases.length).toBeGreaterThan(0);
          for (const c of canvases) {
            expect(c.role).toBe('img');
            expect(c.label.length).toBeGreaterThan(10);
          }
          for (const id of ['record-toggle', 'motion-toggle', 'boxes-toggle', 'continuous-toggle']) expect(['true', 'false']).toContain(await page.getAttribute(`#${id}`, 'aria-pressed'));
          expect(await page.getAttribute('#record-toggle', 'aria-pressed')).toBe('true');
          // The chart starts with the last minute's history, not empty.
          await page.waitForFunction(() => Number(document.getElementById('chart')!.dataset.spanS) >= 5, null, { timeout: 10_000 });
          // Greyed and labelled so while detection is off.
          await request(`${server.url}/api/motion`, 'POST', { enabled: false });
          await page.waitForFunction(() => /motion detection is off/.test(document.getElementById('chart')!.getAttribute('aria-label') ?? ''), null, { timeout: 10_000 });
          await request(`${server.url}/api/motion`, 'POST', { enabled: true });
          await page.waitForFunction(() => !/motion detection is off/.test(document.getElementById('chart')!.getAttribute('aria-label') ?? ''), null, { timeout: 10_000 });

          expect((await request(`${server.url}/api/record/stop`, 'POST', {})).status).toBe(200);
          clips++;
          await waitFor(async () => (await request(`${server.url}/api/events?kind=manual,motion`, 'GET')).body.items.length >= clips, 90_000, 'the clip');
          if (viewport.width > 700) {
            await page.click('#tab-gallery');
            expect(await page.getAttribute('#tab-gallery', 'aria-current')).toBe('page');
            await page.waitForFunction(() => document.querySelectorAll('.event').length >= 2, null, { timeout: 30_000 });
            const unreviewed = Number(await page.textContent('#unreviewed-badge'));
            expect(unreviewed).toBeGreaterThanOrEqual(2);
            await page.click('.event');
            // A named dialog; the arrow keys move between events.
            const titleId = await page.getAttribute('#event-dialog', 'aria-labelledby');
            const first = await page.textContent(`#${titleId}`);
            expect(first!.length).toBeGreaterThan(5);
            await page.keyboard.press('ArrowRight');
            await page.waitForFunction((t) => document.getElementById('event-title')!.textContent !== t, first, { timeout: 5000 });
            await page.keyboard.press('ArrowLeft');
            await page.waitForFunction((t) => document.getElementById('event-title')!.textContent === t, first, { timeout: 5000 });
            await page.keyboard.press('Escape');
            await page.click('#mark-all-reviewed');
            await page.waitForFunction(() => document.getElementById('unreviewed-badge')!.textContent === '', null, { timeout: 10_000 });
            const hasBadge = await page.evaluate(() => 'setAppBadge' in navigator);
            const badges = await page.evaluate(() => (window as unknown as { badges: number[] }).badges);
            if (hasBadge) expect(badges[badges.length - 1]).toBe(0);
          }
          expect(errors).toEqual([]);
        } finally {
          await context.close();
        }
      }
    } finally {
      await server.stop();
    }
  }, 240_000);
});
