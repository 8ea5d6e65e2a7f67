import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import { DEMO_MOTION } from '@preroll/capture';
import { startPreroll, type Preroll } from '../src/app';
import { loadConfig } from '../src/config';
import { request, waitFor } from './server-helpers';

const CHROMIUM = '/usr/bin/chromium';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
// The exclusion over the band the demo's object crosses (y 0.45 .. 0.7 of the picture), tapped
// near the borders: the editor snaps those points onto them, so the object entering is masked too.
const BAND: [number, number][] = [[0.01, 0.3], [0.99, 0.3], [0.99, 0.9], [0.01, 0.9]];
const SNAPPED: [number, number][] = [[0, 0.3], [1, 0.3], [1, 0.9], [0, 0.9]];

async function startFromFile(doc: unknown): Promise<Preroll & { url: string; file: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'preroll-mask-browser-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(doc));
  const { config, layers } = loadConfig({ file, env: { PREROLL_DATA: join(dir, 'data'), PREROLL_HOST: '127.0.0.1', PREROLL_PORT: '0' } });
  const preroll = await startPreroll({ config, configFile: file, layers, logger: pino({ level: process.env.PREROLL_TEST_LOG ?? 'silent' }), password: null, onExit: () => undefined });
  return Object.assign(preroll, { url: `http://127.0.0.1:${preroll.port}`, file });
}

/** The page position of a point of the picture given in fractions (the picture scrolled into view first). */
async function at(page: Page, [x, y]: [number, number]): Promise<{ x: number; y: number }> {
  await page.evaluate(() => {
    const svg = document.getElementById('mask-svg')!;
    if (svg.getBoundingClientRect().top < 0 || svg.getBoundingClientRect().bottom > innerHeight) svg.scrollIntoView({ block: 'center' });
  });
  const box = (await page.locator('#mask-svg').boundingBox())!;
  return { x: box.x + x * box.width, y: box.y + y * box.height };
}

async function openEditor(page: Page, url: string): Promise<void> {
  await page.goto(`${url}/#camera-settings`);
  await page.waitForFunction(() => (document.getElementById('mask-picture') as HTMLImageElement | null)?.naturalWidth! > 0, null, { timeout: 30_000 });
}

/** Waits for the demo object to cross (the score rises, then falls back to 0); resolves with its peak. */
async function crossing(server: { url: string }): Promise<number> {
  let peak = 0;
  await waitFor(async () => {
    peak = Math.max(peak, (await request(`${server.url}/api/status`, 'GET')).body.score);
    return peak > 5;
  }, 90_000, 'the object to cross');
  await waitFor(async () => {
    const score = (await request(`${server.url}/api/status`, 'GET')).body.score;
    peak = Math.max(peak, score);
    return score === 0;
  }, 60_000, 'the crossing to end');
  return peak;
}

/** The highest score over `ms` of wall time. */
async function peakOver(server: { url: string }, ms: number): Promise<number> {
  const until = Date.now() + ms;
  let peak = 0;
  await waitFor(async () => {
    peak = Math.max(peak, (await request(`${server.url}/api/status`, 'GET')).body.score);
    return Date.now() >= until;
  }, ms + 30_000, 'the window to pass');
  return peak;
}

describe('mask editor in a real browser (demo source)', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  });
  afterAll(async () => {
    await browser.close();
  });

  test('phone: a polygon drawn by touch masks the crossing; the masked score drops before saving', async () => {
    const server = await startFromFile({ camera: { source: 'demo', width: 320, height: 180, fps: 10 }, detector: { triggerMode: 'manual', triggerLevel: 5 } });
    const context = await browser.newContext({ viewport: PHONE, deviceScaleFactor: 2, hasTouch: true, isMobile: true });
    const errors: string[] = [];
    try {
      const page = await context.newPage();
      page.on('pageerror', (error) => errors.push(error.message));
      await openEditor(page, server.url);
      const unmasked = await crossing(server);
      expect(unmasked).toBeGreaterThan(5);
      const cdp = await context.newCDPSession(page);
      const tap = async (point: { x: number; y: number }): Promise<void> => {
        await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [{ x: point.x, y: point.y }] });
        await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
      };
      await tap(await (async () => {
        const box = (await page.locator('#mask-draw').boundingBox())!;
        return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
      })());
      await page.waitForSelector('#mask-finish');
      for (const point of BAND) await tap(await at(page, point));
      // Tapping the first point again closes the polygon.
      await tap(await at(page, BAND[0]));
      await waitFor(async () => server.runtime.detectorMask()?.polygons?.length === 1, 20_000, 'the preview on the detector');
      const drawn = server.runtime.detectorMask()!.polygons![0];
      expect(drawn.kind).toBe('exclude');
      drawn.points.forEach(([x, y], i) => {
        expect(Math.abs(x - SNAPPED[i][0])).toBeLessThan(0.01);
        expect(Math.abs(y - SNAPPED[i][1])).toBeLessThan(0.01);
      });
      await page.waitForFunction(() => /previewing/.test(document.getElementById('mask-score')?.textContent ?? ''), null, { timeout: 10_000 });
      // Not saved yet, and the next crossing (one period after the first) scores nothing inside the mask.
      expect(JSON.parse(readFileSync(server.file, 'utf8')).detector.mask).toBeUndefined();
      const masked = await peakOver(server, (DEMO_MOTION.periodS + 2) * 1000);
      expect(masked).toBeLessThan(unmasked / 4);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await server.stop();
    }
  }, 180_000);

  test('desktop: draw with the mouse, move and reshape by dragging, delete, save', async () => {
    const server = await startFromFile({ camera: { source: 'demo', width: 320, height: 180, fps: 10 } });
    const context = await browser.newContext({ viewport: DESKTOP });
    const errors: string[] = [];
    try {
      const page = await context.newPage();
      page.on('pageerror', (error) => errors.push(error.message));
      await openEditor(page, server.url);
      const draw = async (points: [number, number][], kind: 'exclude' | 'include'): Promise<void> => {
        await page.selectOption('#mask-kind', kind);
        await page.click('#mask-draw');
        for (const point of points) {
          const p = await at(page, point);
          await page.mouse.click(p.x, p.y);
        }
        await page.click('#mask-finish');
      };
      await draw([[0.1, 0.1], [0.3, 0.1], [0.2, 0.3]], 'exclude');
      await draw([[0.5, 0.5], [0.9, 0.5], [0.9, 0.9], [0.5, 0.9]], 'include');
      await waitFor(async () => server.runtime.detectorMask()?.polygons?.length === 2, 20_000, 'two polygons previewed');
      // Drag the zone (selected last) by +0.05 in x: every point moves.
      const from = await at(page, [0.7, 0.7]);
      const to = await at(page, [0.75, 0.7]);
      await page.mouse.move(from.x, from.y);
      await page.mouse.down();
      await page.mouse.move(to.x, to.y, { steps: 5 });
      await page.mouse.up();
      await waitFor(async () => Math.abs((server.runtime.detectorMask()?.polygons?.[1]?.points[0][0] ?? 0) - 0.55) < 0.01, 20_000, 'the zone moved');
      // Select the triangle and delete it.
      const inside = await at(page, [0.2, 0.17]);
      await page.mouse.click(inside.x, inside.y);
      await page.click('#mask-delete');
      await waitFor(async () => server.runtime.detectorMask()?.polygons?.length === 1, 20_000, 'the triangle gone');
      await page.click('#mask-save');
      await waitFor(async () => JSON.parse(readFileSync(server.file, 'utf8')).detector?.mask?.polygons?.length === 1, 20_000, 'the saved file');
      const saved = JSON.parse(readFileSync(server.file, 'utf8')).detector.mask.polygons[0];
      expect(saved.kind).toBe('include');
      expect(saved.points.map((p: number[]) => Math.round(p[0] * 100))).toEqual([55, 95, 95, 55]);
      // Saving ends the live preview lease; the file is written just before, so wait for the release.
      await waitFor(async () => (await request(`${server.url}/api/mask`, 'GET')).body.preview === null, 20_000, 'the preview lease released after the save');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await server.stop();
    }
  }, 120_000);
});
