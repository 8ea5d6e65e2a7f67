import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { recordingId, recordingPaths, writeSidecarAtomic, type EventSidecar } from '@preroll/layout';
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
