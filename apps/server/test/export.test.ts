import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { ffprobeJson } from '@preroll/process';
import { missingSpans } from '../src/runtime/exports';
import { request, startTestServer, tempDataDir, waitFor } from './server-helpers';

describe('missingSpans (pure)', () => {
  const range = { fromMs: 1000, toMs: 10_000 };
  test.each<[string, Array<{ fromMs: number; toMs: number }>, Array<{ fromMs: number; toMs: number }>]>([
    ['covered by one span', [{ fromMs: 0, toMs: 20_000 }], []],
    ['covered by spans with small seams', [{ fromMs: 500, toMs: 4000 }, { fromMs: 4100, toMs: 8000 }, { fromMs: 8000, toMs: 12_000 }], []],
    ['nothing', [], [{ fromMs: 1000, toMs: 10_000 }]],
    ['a hole in the middle', [{ fromMs: 0, toMs: 4000 }, { fromMs: 7000, toMs: 12_000 }], [{ fromMs: 4000, toMs: 7000 }]],
    ['the start and the end missing, spans out of order', [{ fromMs: 6000, toMs: 7000 }, { fromMs: 4000, toMs: 6000 }], [{ fromMs: 1000, toMs: 4000 }, { fromMs: 7000, toMs: 10_000 }]],
    ['spans outside the range do not count', [{ fromMs: -5000, toMs: 0 }, { fromMs: 11_000, toMs: 12_000 }], [{ fromMs: 1000, toMs: 10_000 }]],
  ])('%s', (_name, spans, expected) => {
    expect(missingSpans(spans, range)).toEqual(expected);
  });
});

describe('export a time range of continuous recordings (real server, demo camera)', () => {
  test('joins the segments of a range into one MP4 announced once; clear errors for ranges without footage', async () => {
    const dataDir = tempDataDir();
    const server = await startTestServer({
      server: { dataDir, host: '127.0.0.1', port: 0 },
      camera: { source: 'demo', width: 320, height: 240, fps: 10 },
      recording: { continuous: { enabled: true, segmentS: 2 }, lookback: { maxBytes: 0 } },
    });
    try {
      const segments = await waitFor(async () => {
        const items = (await request(`${server.url}/api/events?kind=segment&limit=500`, 'GET')).body.items;
        return items.length >= 4 ? items : null;
      }, 30_000, 'four continuous segments');
      const ordered = [...segments].sort((a: any, b: any) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
      // A range across a seam: from inside the second segment to inside the third.
      const fromMs = Date.parse(ordered[1].startedAt) + 300;
      const toMs = Date.parse(ordered[2].endedAt) - 300;
      const started = await request(`${server.url}/api/exports`, 'POST', { from: new Date(fromMs).toISOString(), to: toMs });
      expect(started.status).toBe(202);
      expect(started.body).toMatchObject({ state: 'running', from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() });
      const job = await waitFor(async () => {
        const polled = (await request(`${server.url}/api/exports/${started.body.id}`, 'GET')).body;
        return polled.state !== 'running' ? polled : null;
      }, 60_000, 'the export');
      expect(job).toMatchObject({ state: 'done', progress: 1, error: null });
      const memories = (await request(`${server.url}/api/events?kind=memory&limit=500`, 'GET')).body.items;
      expect(memories).toHaveLength(1);
      expect(memories[0].id).toBe(job.eventId);
      const sidecar = (await request(`${server.url}${memories[0].urls.sidecar}`, 'GET')).body;
      const file = join(dataDir, sidecar.files.clip);
      const doc = await ffprobeJson(file, ['-select_streams', 'v:0', '-show_entries', 'packet=pts_time,flags:format=duration']);
      expect(doc.packets[0].flags).toMatch(/^K/);
      // Starts at the keyframe at or before `from` (one GOP is 1 s here) and ends at `to`.
      const durationS = Number(doc.format.duration);
      const rangeS = (toMs - fromMs) / 1000;
      expect(durationS).toBeGreaterThanOrEqual(rangeS - 0.1);
      expect(durationS).toBeLessThanOrEqual(rangeS + 1 + 0.1);
      expect(Date.parse(sidecar.startedAt)).toBeLessThanOrEqual(fromMs);
      expect(Date.parse(sidecar.startedAt)).toBeGreaterThan(fromMs - 1100);

      // Partly covered: the part before the first segment is named.
      const before = Date.parse(ordered[0].startedAt) - 10_000;
      const partly = await request(`${server.url}/api/exports`, 'POST', { from: before, to: Date.parse(ordered[1].endedAt) });
      expect(partly.status).toBe(409);
      expect(partly.body.code).toBe('EXPORT_PARTLY_COVERED');
      expect(partly.body.missing).toHaveLength(1);
      expect(partly.body.missing[0].from).toBe(new Date(before).toISOString());
      expect(Math.abs(Date.parse(partly.body.missing[0].to) - Date.parse(ordered[0].startedAt))).toBeLessThanOrEqual(1);
      // Nothing at all two days ago.
      const old = Date.now() - 2 * 86_400_000;
      const none = await request(`${server.url}/api/exports`, 'POST', { from: old, to: old + 60_000 });
      expect(none.status).toBe(404);
      expect(none.body).toMatchObject({ code: 'EXPORT_NO_FOOTAGE', missing: [{ from: new Date(old).toISOString(), to: new Date(old + 60_000).toISOString() }] });
      // Bounded and validated.
      expect((await request(`${server.url}/api/exports`, 'POST', { from: fromMs, to: fromMs + 61 * 60_000 })).body.code).toBe('EXPORT_TOO_LONG');
      expect((await request(`${server.url}/api/exports`, 'POST', { from: toMs, to: fromMs })).body.code).toBe('EXPORT_BAD_RANGE');
      expect((await request(`${server.url}/api/exports`, 'POST', { from: Date.now() + 60_000, to: Date.now() + 120_000 })).body.code).toBe('EXPORT_BAD_RANGE');
      const bad = await request(`${server.url}/api/exports`, 'POST', { from: 'yesterday', to: toMs });
      expect(bad).toMatchObject({ status: 400, body: { code: 'HTTP_BAD_INPUT' } });
      expect((await request(`${server.url}/api/exports`, 'POST', { from: fromMs, to: toMs, path: '/etc' })).status).toBe(400);
      expect((await request(`${server.url}/api/exports/0123456789abcdef`, 'GET')).body.code).toBe('EXPORT_NOT_FOUND');
      expect((await request(`${server.url}/api/exports/../x`, 'GET')).status).toBe(404);
      // Refused ranges made nothing.
      expect((await request(`${server.url}/api/events?kind=memory&limit=500`, 'GET')).body.items).toHaveLength(1);
    } finally {
      await server.stop();
    }
  }, 300_000);
});

describe('export from the day timeline (Chromium)', () => {
  test('zoom to the hour, drag a range, export it, open it and play it', async () => {
    const server = await startTestServer({
      server: { dataDir: tempDataDir(), host: '127.0.0.1', port: 0 },
      camera: { source: 'demo', width: 320, height: 240, fps: 10 },
      recording: { continuous: { enabled: true, segmentS: 2 }, lookback: { maxBytes: 0 } },
    });
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--autoplay-policy=no-user-gesture-required'] });
    const errors: string[] = [];
    try {
      const segments = await waitFor(async () => {
        const items = (await request(`${server.url}/api/events?kind=segment&limit=500`, 'GET')).body.items;
        return items.length >= 4 ? items : null;
      }, 30_000, 'four continuous segments');
      const ordered = [...segments].sort((a: any, b: any) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
      const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(server.url);
      await page.click('#tab-gallery');
      await page.selectOption('#filter-kind', '');
      await page.waitForSelector('.timeline .tl-seg', { timeout: 15_000 });
      // Zoom to the hour of the recordings.
      const first = new Date(ordered[0].startedAt);
      const strip = (await page.locator('.timeline').first().boundingBox())!;
      const minutes = first.getHours() * 60 + first.getMinutes();
      await page.mouse.click(strip.x + ((Math.floor(minutes / 60) + 0.5) / 24) * strip.width, strip.y + 3);
      await page.waitForSelector('#export-from', { timeout: 5000 });
      // Zoomed, a click on the continuous run opens the segment under it at that moment (scrubbing).
      // The click is dispatched on the run itself: an event's mark may lie on top of it.
      const hourStartMs = new Date(first).setMinutes(0, 0, 0);
      // What the strip draws: the day's segments by their own times (as the page has them).
      const day = await page.getAttribute('.timeline', 'data-day');
      const drawn = (await request(`${server.url}/api/timeline?day=${day}`, 'GET')).body.segments as Array<{ id: string; startMs: number; endMs: number }>;
      const target = drawn.find((x) => x.id === ordered[2].id)!;
      const zoomedStrip = (await page.locator('.timeline').first().boundingBox())!;
      // A mouse event's position is in whole pixels (2.7 s each here): the page maps that pixel.
      const scrubX = Math.round(zoomedStrip.x + (((target.startMs + target.endMs) / 2 - hourStartMs) / 3_600_000) * zoomedStrip.width);
      await page.evaluate((x) => {
        const run = [...document.querySelectorAll<HTMLElement>('.timeline .tl-seg')].find((el) => {
          const box = el.getBoundingClientRect();
          return box.left - 1 <= x && x <= box.right + 1;
        })!;
        run.dispatchEvent(new MouseEvent('click', { bubbles: true, clientX: x, clientY: run.getBoundingClientRect().top + 2 }));
      }, scrubX);
      // The page maps the click back to a time the same way; the segment holding it opens there.
      const atMs = hourStartMs + ((scrubX - zoomedStrip.x) / zoomedStrip.width) * 3_600_000;
      const hit = drawn.find((x) => x.startMs <= atMs && atMs <= x.endMs) ?? drawn.find((x) => x.startMs >= atMs)!;
      await page.waitForFunction((id) => document.getElementById('event-video')?.getAttribute('src')?.includes(id) === true, hit.id, { timeout: 15_000 });
      // The player seeks once the metadata is in.
      await page.waitForFunction(() => {
        const video = document.getElementById('event-video') as HTMLVideoElement;
        return video.readyState >= 1 && !video.seeking && video.currentTime > 0;
      }, null, { timeout: 15_000 });
      const scrubbedS = await page.evaluate(() => (document.getElementById('event-video') as HTMLVideoElement).currentTime);
      expect(Math.abs(scrubbedS - Math.max(0, atMs - hit.startMs) / 1000)).toBeLessThan(0.5);
      await page.keyboard.press('Escape');
      await page.waitForSelector('#event-video', { state: 'detached', timeout: 5000 });
      // A drag over the zoomed strip fills both times.
      await page.mouse.move(strip.x + strip.width * 0.2, strip.y + 14);
      await page.mouse.down();
      await page.mouse.move(strip.x + strip.width * 0.3, strip.y + 14, { steps: 5 });
      await page.mouse.up();
      expect(await page.inputValue('#export-from')).toMatch(/^\d{2}:\d{2}:\d{2}$/);
      expect(await page.inputValue('#export-to')).toMatch(/^\d{2}:\d{2}:\d{2}$/);
      expect(await page.locator('.tl-sel').count()).toBe(1);
      // Whole seconds inside the second and fourth segment.
      const clock = (ms: number): string => new Date(ms).toTimeString().slice(0, 8);
      const fromMs = Math.ceil((Date.parse(ordered[1].startedAt) + 1) / 1000) * 1000;
      const toMs = Math.floor((Date.parse(ordered[3].endedAt) - 1) / 1000) * 1000;
      await page.fill('#export-from', clock(fromMs));
      await page.fill('#export-to', clock(toMs));
      await page.click('#export-start');
      await page.waitForSelector('#export-open', { timeout: 60_000 });
      expect(await page.evaluate(() => (document.getElementById('export-progress') as HTMLProgressElement).value)).toBe(1);
      await page.click('#export-open');
      await page.waitForFunction(() => (document.getElementById('event-video') as HTMLVideoElement | null)?.readyState === 4, null, { timeout: 20_000 });
      const duration = await page.evaluate(() => (document.getElementById('event-video') as HTMLVideoElement).duration);
      expect(duration).toBeGreaterThanOrEqual((toMs - fromMs) / 1000 - 0.1);
      expect(duration).toBeLessThanOrEqual((toMs - fromMs) / 1000 + 1.1);
      await page.evaluate(() => {
        const video = document.getElementById('event-video') as HTMLVideoElement;
        video.muted = true;
        video.currentTime = 0;
        return video.play();
      });
      await page.waitForFunction(() => (document.getElementById('event-video') as HTMLVideoElement).currentTime > 0.5, null, { timeout: 15_000 });
      const memories = (await request(`${server.url}/api/events?kind=memory&limit=500`, 'GET')).body.items;
      expect(memories).toHaveLength(1);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
      await server.stop();
    }
  }, 300_000);
});
