import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { request, startTestServer, tempDataDir, waitFor } from './server-helpers';

/** Where to save screenshots (PREROLL_SCREENSHOTS=docs/screenshots refreshes the README's pictures). */
const SHOTS = process.env.PREROLL_SCREENSHOTS;
const CHROMIUM = '/usr/bin/chromium';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
const DEMO = { source: 'demo', width: 480, height: 270, fps: 15 } as const;

async function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: run deploy/setup.sh --test`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
  });
}

async function shot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

/** Collects script errors of a page (the test expects none). */
function watchErrors(page: Page, errors: string[]): Page {
  page.on('pageerror', (error) => errors.push(error.message));
  return page;
}

/** Chooses the live quality before the page's scripts run. */
async function withQuality(page: Page, quality: 'video' | 'jpeg' | 'saver'): Promise<Page> {
  await page.addInitScript((q) => localStorage.setItem('preroll.quality', JSON.stringify(q)), quality);
  return page;
}

const connected = (page: Page): Promise<unknown> => page.waitForFunction(() => document.getElementById('conn')?.textContent === 'connected', null, { timeout: 15_000 });

describe('web page in a real browser (demo source)', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launch();
  });
  afterAll(async () => {
    await browser.close();
  });

  test('H.264 live plays at most 1 s behind; without MSE the page falls back to JPEG pictures', async () => {
    const server = await startTestServer({ server: { dataDir: tempDataDir(), host: '127.0.0.1', port: 0 }, camera: DEMO });
    const errors: string[] = [];
    const context = await browser.newContext({ viewport: PHONE });
    try {
      const page = watchErrors(await context.newPage(), errors);
      await page.goto(server.url);
      await page.waitForFunction(() => (document.getElementById('live-video') as HTMLVideoElement).currentTime > 0.5, null, { timeout: 15_000 });
      // Sample for 5 s: the playhead advances and stays within 1 s of the newest picture buffered.
      const samples: { t: number; behind: number }[] = [];
      for (let i = 0; i < 10; i++) {
        samples.push(
          await page.evaluate(() => {
            const video = document.getElementById('live-video') as HTMLVideoElement;
            return { t: video.currentTime, behind: video.buffered.end(video.buffered.length - 1) - video.currentTime };
          }),
        );
        await page.waitForTimeout(500);
      }
      expect(samples[samples.length - 1].t - samples[0].t).toBeGreaterThan(3);
      expect(Math.max(...samples.map((s) => s.behind))).toBeLessThanOrEqual(1);
      expect(await page.evaluate(() => (document.getElementById('live') as HTMLImageElement).hidden)).toBe(true);
      await page.waitForFunction(() => /H\.264 video · [\d.]+ MB\/h now/.test(document.getElementById('live-info')!.textContent ?? ''), null, { timeout: 10_000 });
      await shot(page, 'live-phone');

      // A browser without Media Source Extensions gets the JPEG pictures, and is told why.
      const old = watchErrors(await context.newPage(), errors);
      await old.addInitScript(() => {
        Object.defineProperty(window, 'MediaSource', { value: undefined });
        Object.defineProperty(window, 'ManagedMediaSource', { value: undefined });
      });
      await old.goto(server.url);
      await old.waitForFunction(() => (document.getElementById('live') as HTMLImageElement).src.startsWith('blob:'), null, { timeout: 10_000 });
      const src1 = await old.getAttribute('#live', 'src');
      await old.waitForFunction((before) => (document.getElementById('live') as HTMLImageElement).src !== before, src1, { timeout: 5000 });
      await old.waitForFunction(() => (document.getElementById('live') as HTMLImageElement).naturalWidth > 0, null, { timeout: 5000 });
      expect(await old.evaluate(() => (document.getElementById('live') as HTMLImageElement).naturalWidth)).toBe(480);
      expect(await old.textContent('#live-info')).toContain('cannot play H.264 live');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await server.stop();
    }
  }, 90_000);

  test('"+" changes the level and it survives a restart; a demo event arrives live, is reviewed, plays, seeks from the chart and is deleted with undo', async () => {
    const dataDir = tempDataDir();
    let server = await startTestServer({ server: { dataDir, host: '127.0.0.1', port: 0 }, camera: DEMO });
    const errors: string[] = [];
    const context = await browser.newContext({ viewport: DESKTOP });
    try {
      const page = watchErrors(await context.newPage(), errors);
      await page.goto(server.url);
      await connected(page);
      if (SHOTS) {
        await page.waitForFunction(() => (document.getElementById('live-video') as HTMLVideoElement).currentTime > 1 && document.getElementById('live-info')!.textContent!.includes('MB/h'), null, { timeout: 15_000 });
        await shot(page, 'live-desktop');
      }
      const before = Number(await page.textContent('#level'));
      await page.click('#level-up');
      await page.waitForFunction((old) => Number(document.getElementById('level')!.textContent) > old, before, { timeout: 5000 });
      const raised = Number(await page.textContent('#level'));
      await page.click('#level-down');
      await page.waitForFunction((old) => Number(document.getElementById('level')!.textContent) < old, raised, { timeout: 5000 });
      await page.click('#level-up');
      await page.waitForFunction((want) => Number(document.getElementById('level')!.textContent) === want, raised, { timeout: 5000 });
      // The chart is full at once after a reload: the last minute comes from /api/scores.
      await page.close();
      await server.stop();
      server = await startTestServer({ server: { dataDir, host: '127.0.0.1', port: 0 }, camera: DEMO });
      await request(`${server.url}/api/trigger-level`, 'PUT', { value: raised });
      await waitFor(async () => (await request(`${server.url}/api/scores`, 'GET')).body.scores.length > 30, 10_000, 'score history');
      const again = watchErrors(await context.newPage(), errors);
      await again.goto(server.url);
      await again.waitForFunction((want) => Number(document.getElementById('level')!.textContent) === want, raised, { timeout: 10_000 });
      await request(`${server.url}/api/trigger-level`, 'PUT', { value: before });

      // Open the Events tab before anything is recorded: the demo's event (second 10 to 14) arrives live.
      await again.click('#tab-gallery');
      expect(await again.getAttribute('#tab-gallery', 'aria-current')).toBe('page');
      await again.waitForSelector('.event.unreviewed', { timeout: 40_000 });
      await again.waitForFunction(() => Number(document.getElementById('unreviewed-badge')!.textContent) >= 1, null, { timeout: 10_000 });
      const id = (await again.getAttribute('.event', 'data-id')) as string;
      await again.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('.event img')].every((img) => img.complete && img.naturalWidth > 0), null, { timeout: 10_000 });
      await shot(again, 'gallery-desktop');

      // Opening it marks it reviewed (index and sidecar).
      await again.click(`.event[data-id="${id}"]`);
      await again.waitForFunction(() => (document.getElementById('event-video') as HTMLVideoElement | null)?.readyState === 4, null, { timeout: 15_000 });
      await waitFor(async () => (await request(`${server.url}/api/events/${id}`, 'GET')).body.reviewed === true, 5000, 'reviewed');
      expect((await request(`${server.url}/api/events/${id}/sidecar`, 'GET')).body.reviewed).toBe(true);
      await again.waitForSelector('#event-reviewed[aria-pressed="true"]', { timeout: 5000 });
      // A click on the chart seeks the clip there, and the playhead follows.
      await again.waitForSelector('#event-chart', { timeout: 5000 });
      const box = (await again.locator('#event-chart').boundingBox())!;
      const duration = await again.evaluate(() => (document.getElementById('event-video') as HTMLVideoElement).duration);
      const seeked = again.evaluate(() => new Promise<number>((resolve) => document.getElementById('event-video')!.addEventListener('seeked', () => resolve((document.getElementById('event-video') as HTMLVideoElement).currentTime), { once: true })));
      // The plot spans x from 38 px (the y labels) to 8 px from the right edge.
      await again.mouse.click(box.x + 38 + (box.width - 46) * 0.5, box.y + box.height / 2);
      const at = await seeked;
      expect(Math.abs(at - duration / 2)).toBeLessThan(0.5);
      // The actions are visible without scrolling the dialog.
      const actions = (await again.locator('.player-actions').boundingBox())!;
      expect(actions.y + actions.height).toBeLessThanOrEqual(DESKTOP.height);
      await shot(again, 'event-desktop');

      // Delete, undo, delete again: the card goes at once, the recording after the undo window.
      await again.click('#event-delete');
      await again.waitForFunction((eventId) => !document.querySelector(`.event[data-id="${eventId}"]`), id, { timeout: 5000 });
      await again.click('#undo');
      await again.waitForSelector(`.event[data-id="${id}"]`, { timeout: 5000 });
      await again.waitForTimeout(6500);
      expect((await request(`${server.url}/api/events/${id}`, 'GET')).status).toBe(200);
      // The player moved on to another event (or closed): open this one again and delete it for good.
      if (await again.evaluate(() => (document.getElementById('event-dialog') as HTMLDialogElement).open)) await again.click('#event-dialog [aria-label="close"]');
      await again.click(`.event[data-id="${id}"]`);
      await again.waitForFunction((eventId) => document.getElementById('event-title') !== null && (document.getElementById('event-video') as HTMLVideoElement | null)?.src.includes(eventId), id, { timeout: 5000 });
      await again.click('#event-delete');
      await again.waitForFunction((eventId) => !document.querySelector(`.event[data-id="${eventId}"]`), id, { timeout: 5000 });
      await waitFor(async () => (await request(`${server.url}/api/events/${id}`, 'GET')).status === 404, 10_000, 'the delete after the undo window');
      // The day's timeline forgets it too.
      await again.waitForFunction((eventId) => !document.querySelector(`.tl-ev[data-id="${eventId}"]`), id, { timeout: 5000 });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await server.stop();
    }
  }, 150_000);

  test('phone: no layout shift over two recordings (CLS < 0.1), touch targets of 44 px, Record/Photo/Motion without scrolling', async () => {
    const server = await startTestServer({ server: { dataDir: tempDataDir(), host: '127.0.0.1', port: 0 }, camera: DEMO });
    const errors: string[] = [];
    const context = await browser.newContext({ viewport: PHONE, deviceScaleFactor: 2, hasTouch: true, isMobile: true });
    try {
      const page = watchErrors(await context.newPage(), errors);
      await page.addInitScript(() => {
        const w = window as unknown as { cls: number };
        w.cls = 0;
        new PerformanceObserver((list) => {
          for (const entry of list.getEntries() as unknown as { value: number; hadRecentInput: boolean }[]) if (!entry.hadRecentInput) w.cls += entry.value;
        }).observe({ type: 'layout-shift', buffered: true });
      });
      await page.goto(server.url);
      await connected(page);
      for (let i = 0; i < 2; i++) {
        await request(`${server.url}/api/record/start`, 'POST');
        await page.waitForSelector('#rec', { timeout: 5000 });
        await page.waitForTimeout(2500);
        await request(`${server.url}/api/record/stop`, 'POST');
        await page.waitForSelector('#rec', { state: 'detached', timeout: 15_000 });
        await page.waitForTimeout(1000);
      }
      // Two recordings (a manual start during the demo's own motion event joins that recording).
      await waitFor(async () => (await request(`${server.url}/api/events?kind=motion,manual`, 'GET')).body.items.length >= 2, 30_000, 'two recordings');
      await page.waitForFunction(() => Number(document.getElementById('unreviewed-badge')!.textContent) >= 2, null, { timeout: 10_000 });
      const cls = await page.evaluate(() => (window as unknown as { cls: number }).cls);
      expect(cls).toBeLessThan(0.1);

      const tabbar = (await page.locator('nav.tabs').boundingBox())!;
      for (const id of ['record-toggle', 'snapshot', 'motion-toggle']) {
        const b = (await page.locator(`#${id}`).boundingBox())!;
        expect(b.y + b.height).toBeLessThanOrEqual(tabbar.y);
      }
      const small = await page.evaluate(() =>
        [...document.querySelectorAll<HTMLElement>('button, a.button, select, input[type=number]')]
          .filter((el) => el.offsetParent !== null && !el.closest('.timeline'))
          .map((el) => ({ id: el.id || el.textContent, box: el.getBoundingClientRect() }))
          .filter(({ box }) => box.height < 44 || box.width < 44)
          .map(({ id }) => id),
      );
      expect(small).toEqual([]);
      expect(await page.getAttribute('#motion-toggle', 'aria-pressed')).toBe('true');
      expect(await page.getAttribute('#chart', 'role')).toBe('img');
      // Under the chart, how often a frame is scored: the analysed rate (at most 5 of the demo's 15 a second).
      await page.waitForFunction(() => Number(document.getElementById('analysis-fps')?.textContent) > 0, null, { timeout: 10_000 });
      expect(Number(await page.textContent('#analysis-fps'))).toBeLessThanOrEqual(5.5);

      // Detection off: a banner on the picture and a greyed chart label; back on, it goes.
      await request(`${server.url}/api/motion`, 'POST', { enabled: false });
      await page.waitForSelector('#motion-off-banner', { timeout: 5000 });
      await page.click('#motion-off-banner button');
      await page.waitForSelector('#motion-off-banner', { state: 'detached', timeout: 5000 });
      await page.click('#tab-gallery');
      await page.waitForSelector('.event', { timeout: 10_000 });
      await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('.event img')].every((img) => img.complete && img.naturalWidth > 0), null, { timeout: 10_000 });
      await shot(page, 'gallery-phone');
      await page.click('#mark-all-reviewed');
      await page.waitForFunction(() => document.getElementById('unreviewed-badge')!.textContent === '' && !document.querySelector('.event.unreviewed'), null, { timeout: 10_000 });
      expect((await request(`${server.url}/api/review`, 'GET')).body.unreviewed).toBe(0);
      // A tap on the day's strip zooms it to that hour (labels every 10 min); "Whole day" zooms out.
      const strip = (await page.locator('.timeline').first().boundingBox())!;
      // An hour with no recording, so the tap lands on the strip, not on an event's mark.
      const hour = (new Date().getHours() + 12) % 24;
      await page.mouse.click(strip.x + strip.width * ((hour + 0.5) / 24), strip.y + 2);
      await page.waitForSelector('.tl-unzoom', { timeout: 5000 });
      expect(await page.locator('.tl-labels').first().textContent()).toContain(`${String(hour).padStart(2, '0')}:30`);
      await page.click('.tl-unzoom');
      await page.waitForSelector('.tl-unzoom', { state: 'detached', timeout: 5000 });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await server.stop();
    }
  }, 120_000);

  test('connection lost: an overlay says since when, controls are disabled; it recovers when the recorder is back', async () => {
    const dataDir = tempDataDir();
    let server = await startTestServer({ server: { dataDir, host: '127.0.0.1', port: 0 }, camera: DEMO });
    const port = server.port;
    const context = await browser.newContext({ viewport: PHONE });
    const errors: string[] = [];
    try {
      const page = watchErrors(await withQuality(await context.newPage(), 'jpeg'), errors);
      await page.goto(server.url);
      await connected(page);
      expect(await page.isEnabled('#record-toggle')).toBe(true);
      await server.stop();
      await page.waitForFunction(() => /^No connection since .+, retrying…$/.test(document.querySelector('#conn-overlay p')?.textContent ?? ''), null, { timeout: 10_000 });
      expect(await page.isDisabled('#record-toggle')).toBe(true);
      expect(await page.isDisabled('#snapshot')).toBe(true);
      expect(await page.textContent('#conn')).toBe('no connection');
      await shot(page, 'connection-lost-phone');
      server = await startTestServer({ server: { dataDir, host: '127.0.0.1', port }, camera: DEMO });
      await connected(page);
      await page.waitForSelector('#conn-overlay', { state: 'detached', timeout: 5000 });
      expect(await page.isEnabled('#record-toggle')).toBe(true);
      const src = await page.getAttribute('#live', 'src');
      await page.waitForFunction((before) => (document.getElementById('live') as HTMLImageElement).src !== before, src, { timeout: 10_000 });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await server.stop();
    }
  }, 90_000);

  test('with a password: login, then a lost session on the API or the WebSocket leads back to the login page', async () => {
    const dataDir = tempDataDir();
    let server = await startTestServer({ password: 'correct horse battery', server: { dataDir, host: '127.0.0.1', port: 0 } });
    const port = server.port;
    const context = await browser.newContext();
    try {
      expect((await request(`${server.url}/api/status`, 'GET')).status).toBe(401);
      // Pictures, not video: the video stream would notice the lost session first (it leads to the login page too).
      const page = await withQuality(await context.newPage(), 'jpeg');
      await page.goto(server.url);
      expect(page.url()).toMatch(/\/login\.html$/);
      await page.fill('#password', 'wrong password');
      await page.click('button[type=submit]');
      await page.waitForFunction(() => document.getElementById('login-error')!.textContent === 'wrong password');
      const login = async (): Promise<void> => {
        await page.fill('#password', 'correct horse battery');
        await page.click('button[type=submit]');
        await page.waitForURL(`${server.url}/`);
        await connected(page);
      };
      await login();
      const cookies = await context.cookies();
      expect(cookies.find((c) => c.name === 'preroll_session')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
      // The stream token is in a link on the System tab, never printed.
      await page.click('#tab-system');
      await page.waitForSelector('#stream-link[href*="token="]');
      const token = new URL((await page.getAttribute('#stream-link', 'href')) as string, server.url).searchParams.get('token') as string;
      expect(await page.evaluate((t) => document.body.innerText.includes(t), token)).toBe(false);

      // The session goes (an expired cookie looks the same): the next API call leads to the login page.
      await context.clearCookies();
      await page.click('#tab-live');
      await page.click('#snapshot');
      await page.waitForURL(/\/login\.html$/, { timeout: 10_000 });

      // And when only the WebSocket notices (the recorder restarts), too.
      await login();
      await context.clearCookies();
      await server.stop();
      server = await startTestServer({ password: 'correct horse battery', server: { dataDir, host: '127.0.0.1', port } });
      await page.waitForURL(/\/login\.html$/, { timeout: 15_000 });
    } finally {
      await context.close();
      await server.stop();
    }
  }, 90_000);

  test('installable: manifest with icons, a service worker that keeps the shell and never API answers or media', async () => {
    const server = await startTestServer({ server: { dataDir: tempDataDir(), host: '127.0.0.1', port: 0 }, camera: DEMO });
    const context = await browser.newContext({ viewport: PHONE });
    try {
      const page = await withQuality(await context.newPage(), 'jpeg');
      await page.goto(server.url);
      await connected(page);
      await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
      await page.reload();
      await connected(page);
      await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 10_000 });
      // Media and API requests through the worker.
      await page.evaluate(() => fetch('/api/status').then((r) => r.json()));
      await page.click('#snapshot');
      await waitFor(async () => (await request(`${server.url}/api/events?kind=photo`, 'GET')).body.items.length === 1, 5000, 'a photo');
      const photo = (await request(`${server.url}/api/events?kind=photo`, 'GET')).body.items[0];
      await page.evaluate((url) => fetch(url).then((r) => r.blob()), photo.urls.snapshot);
      const cached = await page.evaluate(async () => {
        const urls: string[] = [];
        for (const key of await caches.keys()) for (const req of await (await caches.open(key)).keys()) urls.push(new URL(req.url).pathname);
        return urls;
      });
      expect(cached).toContain('/');
      expect(cached.filter((p) => p !== '/' && !p.startsWith('/assets/'))).toEqual([]);
      const manifest = await (await fetch(`${server.url}/manifest.webmanifest`)).json();
      expect(manifest).toMatchObject({ name: 'Preroll', display: 'standalone', start_url: '/' });
      for (const icon of manifest.icons as { src: string; sizes: string }[]) {
        const response = await fetch(`${server.url}${icon.src}`);
        expect(response.status).toBe(200);
        expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      }
      expect(manifest.icons.some((i: { sizes: string }) => i.sizes === '512x512')).toBe(true);
    } finally {
      await context.close();
      await server.stop();
    }
  }, 60_000);
});
