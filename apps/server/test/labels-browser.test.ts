import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { recordingId, recordingPaths, writeSidecarAtomic, type EventLabel, type EventSidecar } from '@preroll/layout';
import { startTestServer, tempDataDir } from './server-helpers';

const CHROMIUM = '/usr/bin/chromium';
const FIXTURES = join(__dirname, '..', '..', '..', 'test-fixtures', 'labels');

test('the gallery shows an event\'s labels as chips and names them to screen readers', async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: run deploy/setup.sh --test`);
  const dataDir = tempDataDir();
  const id = recordingId(new Date(2025, 0, 2, 9, 0, 0).getTime(), 'motion');
  const paths = recordingPaths(id);
  mkdirSync(join(dataDir, paths.clip, '..'), { recursive: true });
  writeFileSync(join(dataDir, paths.clip), Buffer.alloc(2000, 1));
  copyFileSync(join(FIXTURES, 'astronaut.jpg'), join(dataDir, paths.snapshot));
  copyFileSync(join(FIXTURES, 'astronaut.jpg'), join(dataDir, paths.thumbnail));
  const sidecar: EventSidecar = {
    version: 1,
    id,
    camera: 'cam',
    kind: 'motion',
    startedAt: new Date(2025, 0, 2, 9, 0, 0).toISOString(),
    endedAt: new Date(2025, 0, 2, 9, 0, 4).toISOString(),
    triggeredAt: new Date(2025, 0, 2, 9, 0, 1).toISOString(),
    preRollMs: 1000,
    durationS: 4,
    frames: 40,
    width: 512,
    height: 512,
    triggerLevel: 40,
    peakScore: 120,
    scores: [],
    files: { clip: paths.clip, snapshot: paths.snapshot, thumbnail: paths.thumbnail },
    bytes: 2000,
    labels: [
      { label: 'person', subLabel: 'person', confidence: 0.61, box: [60, 40, 380, 470] },
      { label: 'animal', subLabel: 'cat', confidence: 0.45, box: [0, 0, 50, 50] },
    ],
  };
  await writeSidecarAtomic(join(dataDir, paths.sidecar), sidecar);
  const server = await startTestServer({ server: { dataDir }, camera: { source: 'demo', width: 320, height: 180, fps: 15 }, labels: { enabled: false } });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  try {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(server.url);
    await page.click('#tab-gallery');
    const card = `.event[data-id="${id}"]`;
    await page.waitForSelector(`${card} .chip`, { timeout: 20_000 });
    expect(await page.locator(`${card} .chip`).allTextContents()).toEqual(['person', 'cat']);
    expect(await page.getAttribute(`${card} .chip-person`, 'title')).toBe('person, 61 %');
    expect(await page.getAttribute(card, 'aria-label')).toContain(', person, cat');
    expect(errors).toEqual([]);
  } finally {
    await browser.close();
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});

/** A motion recording with a real photograph as its snapshot and thumbnail, and the given labels. */
async function writeLabelled(dataDir: string, at: Date, photo: string, size: number, labels: EventLabel[]): Promise<string> {
  const id = recordingId(at.getTime(), 'motion');
  const paths = recordingPaths(id);
  mkdirSync(join(dataDir, paths.clip, '..'), { recursive: true });
  writeFileSync(join(dataDir, paths.clip), Buffer.alloc(2000, 1));
  copyFileSync(join(FIXTURES, photo), join(dataDir, paths.snapshot));
  copyFileSync(join(FIXTURES, photo), join(dataDir, paths.thumbnail));
  await writeSidecarAtomic(join(dataDir, paths.sidecar), {
    version: 1,
    id,
    camera: 'cam',
    kind: 'motion',
    startedAt: at.toISOString(),
    endedAt: new Date(at.getTime() + 4000).toISOString(),
    triggeredAt: new Date(at.getTime() + 1000).toISOString(),
    preRollMs: 1000,
    durationS: 4,
    frames: 40,
    width: size,
    height: size,
    triggerLevel: 40,
    peakScore: 120,
    scores: [],
    files: { clip: paths.clip, snapshot: paths.snapshot, thumbnail: paths.thumbnail },
    bytes: 2000,
    labels,
  });
  return id;
}

test.each([
  ['phone', { width: 390, height: 844 }],
  ['desktop', { width: 1280, height: 800 }],
])('on a %s: the label filter with counts, the label on the thumbnail, "motion only" hidden and remembered, boxes scaled over the snapshot, the cost in the System panel', async (_name, viewport) => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: run deploy/setup.sh --test`);
  const dataDir = tempDataDir();
  const person = await writeLabelled(dataDir, new Date(2025, 0, 2, 9, 0, 0), 'astronaut.jpg', 512, [{ label: 'person', subLabel: 'person', confidence: 0.81, box: [64, 32, 256, 448] }]);
  const cat = await writeLabelled(dataDir, new Date(2025, 0, 2, 9, 5, 0), 'chelsea.jpg', 512, [{ label: 'animal', subLabel: 'cat', confidence: 0.7, box: [100, 100, 200, 200] }]);
  const still = await writeLabelled(dataDir, new Date(2025, 0, 2, 9, 10, 0), 'grass.jpg', 512, []);
  const server = await startTestServer({ server: { dataDir }, camera: { source: 'demo', width: 320, height: 180, fps: 15 } });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  try {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(server.url);
    await page.click('#tab-gallery');
    const cards = async (): Promise<string[]> => page.locator('#gallery .event').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.id as string));
    // The fixtures' day only: the demo camera records events of its own today.
    const fixturesDay = async (): Promise<void> => {
      await page.waitForSelector('#filter-day option[value="2025-01-02"]', { state: 'attached', timeout: 20_000 });
      await page.selectOption('#filter-day', '2025-01-02');
    };
    await fixturesDay();
    await page.waitForSelector(`.event[data-id="${still}"]`, { timeout: 20_000 });
    await page.waitForFunction(() => document.querySelectorAll('#gallery .event').length === 3);
    expect(await cards()).toEqual([still, cat, person]);

    // The buttons count what each would show; the thumbnail carries the strongest label.
    const button = (label: string) => `#label-filter [data-label="${label}"]`;
    const counts = async (): Promise<string[]> => page.locator('#label-filter .chip').allTextContents();
    expect((await counts()).map((t) => t.replace(/\s+/g, ' ').trim())).toEqual(['All', 'People 1', 'Animals 1', 'Vehicles 0', 'Other 0', 'Motion only 1']);
    expect(await page.locator(`.event[data-id="${person}"] .thumb-label`).textContent()).toBe('person');
    expect(await page.locator(`.event[data-id="${still}"] .thumb-label`).textContent()).toBe('motion only');

    await page.click(button('person'));
    await page.waitForFunction((id) => document.querySelectorAll('#gallery .event').length === 1 && document.querySelector(`.event[data-id="${id}"]`) !== null, person);
    expect(await page.getAttribute(button('person'), 'aria-pressed')).toBe('true');
    await page.click(button('none'));
    await page.waitForFunction((id) => document.querySelectorAll('#gallery .event').length === 1 && document.querySelector(`.event[data-id="${id}"]`) !== null, still);
    await page.click(button(''));
    await page.waitForFunction(() => document.querySelectorAll('#gallery .event').length === 3);

    // "Motion only" hidden, and still hidden after a reload (remembered in this browser), never deleted.
    await page.check('#filter-motion-only');
    await page.waitForFunction(() => document.querySelectorAll('#gallery .event').length === 2);
    await page.reload();
    await page.click('#tab-gallery');
    await fixturesDay();
    await page.waitForSelector(`.event[data-id="${cat}"]`, { timeout: 20_000 });
    await page.waitForFunction(() => document.querySelectorAll('#gallery .event').length === 2);
    expect(await cards()).toEqual([cat, person]);
    expect(await page.isChecked('#filter-motion-only')).toBe(true);
    const listed = await (await fetch(`${server.url}/api/events?label=none`)).json();
    expect(listed.items).toHaveLength(1);

    // The player draws the stored box over the snapshot, scaled to the picture as shown.
    await page.click(`.event[data-id="${person}"]`);
    await page.waitForSelector('#event-boxes [data-label="person"] rect', { state: 'attached', timeout: 20_000 });
    await page.waitForFunction(() => (document.querySelector('#event-snapshot') as HTMLImageElement | null)?.complete === true);
    const geometry = await page.evaluate(() => {
      const img = (document.querySelector('#event-snapshot') as HTMLElement).getBoundingClientRect();
      const rect = (document.querySelector('#event-boxes [data-label="person"] rect') as SVGGraphicsElement).getBoundingClientRect();
      return { left: (rect.left - img.left) / img.width, top: (rect.top - img.top) / img.height, width: rect.width / img.width, height: rect.height / img.height, shown: img.width };
    });
    expect(geometry.shown).toBeGreaterThan(100);
    expect(geometry.left).toBeCloseTo(64 / 512, 1);
    expect(geometry.top).toBeCloseTo(32 / 512, 1);
    expect(geometry.width).toBeCloseTo(256 / 512, 1);
    expect(geometry.height).toBeCloseTo(448 / 512, 1);
    expect(await page.locator('#event-meta').textContent()).toContain('seen: person 81 %');
    await page.keyboard.press('Escape');

    // The System panel says what labelling costs (off in this server).
    await page.click('#tab-system');
    await page.waitForSelector('#system dt', { timeout: 20_000 });
    const row = await page.locator('#system dt').evaluateAll((dts) => dts.filter((dt) => dt.textContent === 'Labels').map((dt) => dt.nextElementSibling?.textContent));
    expect(row).toEqual(['off']);
    expect(errors).toEqual([]);
    await context.close();
  } finally {
    await browser.close();
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}, 120_000);
