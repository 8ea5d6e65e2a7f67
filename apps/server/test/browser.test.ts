import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { request, startTestServer, tempDataDir, waitFor } from './server-helpers';

/** Where to save screenshots (PREROLL_SCREENSHOTS=docs/screenshots refreshes the README's pictures). */
const SHOTS = process.env.PREROLL_SCREENSHOTS;
const CHROMIUM = '/usr/bin/chromium';

async function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: run deploy/setup.sh --test`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

async function shot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

describe('web page in a real browser (demo source)', () => {
  let browser: Browser;
  const dataDir = tempDataDir();
  beforeAll(async () => {
    browser = await launch();
  });
  afterAll(async () => {
    await browser.close();
  });

  test('live image updates; "+" changes the level and it survives a restart; a demo event appears, plays, seeks and is deleted', async () => {
    let server = await startTestServer({ server: { dataDir, host: '127.0.0.1', port: 0 }, camera: { source: 'demo', width: 480, height: 270, fps: 15 } });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    try {
      await page.goto(server.url);
      // The live image is replaced by new frames.
      const first = await page.waitForFunction(() => (document.getElementById('live') as HTMLImageElement).src.startsWith('blob:'), null, { timeout: 10_000 });
      void first;
      const src1 = await page.getAttribute('#live', 'src');
      await page.waitForFunction((old) => (document.getElementById('live') as HTMLImageElement).src !== old, src1, { timeout: 5000 });
      // The new frame may still be decoding: wait for it, then check its size.
      await page.waitForFunction(() => (document.getElementById('live') as HTMLImageElement).naturalWidth > 0, null, { timeout: 5000 });
      expect(await page.evaluate(() => (document.getElementById('live') as HTMLImageElement).naturalWidth)).toBe(480);

      // "+" raises the trigger level shown on the page.
      const before = Number(await page.textContent('#level'));
      await page.click('#level-up');
      await page.waitForFunction((old) => Number(document.getElementById('level')!.textContent) > old, before, { timeout: 5000 });
      const raised = Number(await page.textContent('#level'));
      expect(raised).toBeGreaterThan(before);
      await page.click('#level-down');
      await page.waitForFunction((old) => Number(document.getElementById('level')!.textContent) < old, raised, { timeout: 5000 });
      await page.click('#level-up');
      await page.waitForFunction((want) => Number(document.getElementById('level')!.textContent) === want, raised, { timeout: 5000 });

      // Restart the server on the same data: the level is still the raised one.
      await page.close();
      await server.stop();
      server = await startTestServer({ server: { dataDir, host: '127.0.0.1', port: 0 }, camera: { source: 'demo', width: 480, height: 270, fps: 15 } });
      const again = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      again.on('pageerror', (error) => errors.push(error.message));
      await again.goto(server.url);
      await again.waitForFunction((want) => Number(document.getElementById('level')!.textContent) === want, raised, { timeout: 10_000 });
      // Put the default back so the demo's crossing object triggers.
      await request(`${server.url}/api/trigger-level`, 'PUT', { value: before });

      // The demo's object crosses from second 10 to 14: an event reaches the gallery.
      await waitFor(async () => (await request(`${server.url}/api/events?kind=motion`, 'GET')).body.items.length > 0, 40_000, 'a motion event');
      await shot(again, 'live-desktop');
      await again.click('#tab-gallery');
      await again.waitForSelector('.event', { timeout: 10_000 });
      await again.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('.event img')].every((img) => img.complete && img.naturalWidth > 0), null, { timeout: 10_000 });
      await shot(again, 'gallery-desktop');
      await again.click('.event');
      await again.waitForFunction(() => (document.getElementById('event-video') as HTMLVideoElement).readyState === 4, null, { timeout: 15_000 });
      const seeked = await again.evaluate(
        () =>
          new Promise<number>((resolve) => {
            const video = document.getElementById('event-video') as HTMLVideoElement;
            video.addEventListener('seeked', () => resolve(video.currentTime), { once: true });
            video.currentTime = Math.min(3, video.duration / 2);
          }),
      );
      expect(seeked).toBeGreaterThan(1);
      await shot(again, 'event-desktop');

      const id = await again.getAttribute('.event', 'data-id');
      again.once('dialog', (dialog) => void dialog.accept());
      await again.click('#event-delete');
      await again.waitForFunction((eventId) => !document.querySelector(`.event[data-id="${eventId}"]`), id, { timeout: 10_000 });
      expect((await request(`${server.url}/api/events/${id}`, 'GET')).status).toBe(404);

      if (SHOTS) {
        const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
        await phone.goto(server.url);
        await phone.waitForFunction(() => (document.getElementById('live') as HTMLImageElement).src.startsWith('blob:'), null, { timeout: 10_000 });
        await phone.waitForTimeout(1500);
        await shot(phone, 'live-phone');
        await (await request(`${server.url}/api/snapshot`, 'POST')).body;
        await phone.click('#tab-gallery');
        await phone.waitForSelector('.event', { timeout: 10_000 });
        await phone.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('.event img')].every((img) => img.complete && img.naturalWidth > 0), null, { timeout: 10_000 });
        await shot(phone, 'gallery-phone');
      }
      expect(errors).toEqual([]);
    } finally {
      await server.stop();
    }
  }, 120_000);

  test('with a password, the page asks to log in and the API answers 401 until then', async () => {
    const server = await startTestServer({ password: 'correct horse battery' });
    try {
      expect((await request(`${server.url}/api/status`, 'GET')).status).toBe(401);
      const page = await browser.newPage();
      await page.goto(server.url);
      expect(page.url()).toMatch(/\/login\.html$/);
      await page.fill('#password', 'wrong password');
      await page.click('button[type=submit]');
      await page.waitForFunction(() => document.getElementById('login-error')!.textContent === 'wrong password');
      await page.fill('#password', 'correct horse battery');
      await page.click('button[type=submit]');
      await page.waitForURL(`${server.url}/`);
      await page.waitForFunction(() => document.getElementById('conn')!.textContent === 'connected', null, { timeout: 10_000 });
      const cookies = await page.context().cookies();
      expect(cookies.find((c) => c.name === 'preroll_session')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    } finally {
      await server.stop();
    }
  }, 60_000);
});
