import { existsSync, readFileSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { addUser } from '../src/http/auth';
import { startFromFile } from './config-helpers';
import { request, startTestServer, waitFor } from './server-helpers';

const CHROMIUM = '/usr/bin/chromium';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

async function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: run deploy/setup.sh --test`);
  return chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
}

/** Collects script errors of a page (the test expects none). */
function watchErrors(page: Page, errors: string[]): Page {
  page.on('pageerror', (error) => errors.push(error.message));
  return page;
}

async function openSettings(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById('conn')?.textContent === 'connected', null, { timeout: 20_000 });
  await page.click('#tab-settings');
  await page.waitForSelector('#setting-detector-gapS', { timeout: 15_000 });
}

describe('settings page in a real browser', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launch();
  });
  afterAll(async () => {
    await browser.close();
  });

  test('saved on a desktop page (list of changes, server error next to its field, reset to default), seen at once on a phone page', async () => {
    const server = await startFromFile({ detector: { gapS: 4 } });
    const errors: string[] = [];
    const desktop = await browser.newContext({ viewport: DESKTOP });
    const phone = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true });
    try {
      const a = watchErrors(await desktop.newPage(), errors);
      const b = watchErrors(await phone.newPage(), errors);
      await openSettings(a, server.url);
      await openSettings(b, server.url);
      expect(await b.inputValue('#setting-detector-gapS')).toBe('4');

      // A key from a flag is marked and cannot be edited.
      await a.click('#group-system summary');
      expect(await a.isDisabled('#setting-server-port')).toBe(true);
      expect(await a.textContent('[data-key="server.port"] .apply')).toContain('Set by a command-line flag');
      // Units and descriptions come from the schema.
      expect(await a.textContent('[data-key="detector.gapS"]')).toContain('(s)');
      expect(await a.textContent('[data-key="detector.gapS"] .setting-help')).toContain('Quiet seconds that end an event');

      // Out of bounds: refused in the page before anything is sent.
      await a.fill('#setting-detector-gapS', '99999');
      await a.waitForSelector('[data-key="detector.gapS"] .setting-error');
      expect(await a.isDisabled('#settings-review')).toBe(true);

      // A change, reviewed, saved.
      await a.fill('#setting-detector-gapS', '7');
      await a.click('#settings-review');
      const diff = await a.textContent('#settings-diff');
      expect(diff).toContain('detector.gapS');
      expect(diff).toContain('4');
      expect(diff).toContain('7');
      await a.click('#settings-save');
      await a.waitForSelector('#settings-result', { timeout: 20_000 });
      expect(await a.textContent('#settings-result')).toContain('Applied: detector.gapS');
      expect(JSON.parse(readFileSync(server.file, 'utf8')).detector.gapS).toBe(7);

      // The phone page shows it without a reload.
      await b.waitForFunction(() => (document.getElementById('setting-detector-gapS') as HTMLInputElement).value === '7', null, { timeout: 15_000 });

      // What only the server knows (exit above enter) comes back next to the field.
      await a.fill('#setting-detector-night-exitLuma', '10');
      await a.click('#settings-review');
      await a.click('#settings-save');
      await a.waitForSelector('[data-key="detector.night.exitLuma"] .setting-error', { timeout: 15_000 });
      expect(await a.textContent('[data-key="detector.night.exitLuma"] .setting-error')).toContain('exitLuma');
      expect(JSON.parse(readFileSync(server.file, 'utf8')).detector.night).toBeUndefined();
      await a.click('#settings-discard');

      // Back to the default: the key leaves the file.
      await a.click('[data-key="detector.gapS"] .reset');
      await a.click('#settings-review');
      expect(await a.textContent('#settings-diff')).toContain('default');
      await a.click('#settings-save');
      await waitFor(async () => JSON.parse(readFileSync(server.file, 'utf8')).detector === undefined, 15_000, 'the key removed from the file');
      const defaultGap = (await request(`${server.url}/api/config`, 'GET')).body.config.detector.gapS;
      await b.waitForFunction((v) => (document.getElementById('setting-detector-gapS') as HTMLInputElement).value === String(v), defaultGap, { timeout: 15_000 });
      expect(errors).toEqual([]);
    } finally {
      await desktop.close();
      await phone.close();
      await server.stop();
    }
  }, 180_000);

  test('a viewer sees no settings tab nor dangerous buttons, and the API refuses the settings', async () => {
    const server = await startTestServer({ password: 'the admin password' });
    await addUser(server.runtime.store().dataDir, 'vera', 'viewer', 'the viewer password');
    const errors: string[] = [];
    const context = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true });
    try {
      const page = watchErrors(await context.newPage(), errors);
      await page.goto(`${server.url}/login.html`);
      await page.fill('#user', 'vera');
      await page.fill('#password', 'the viewer password');
      await page.click('button[type="submit"]');
      await page.waitForFunction(() => document.getElementById('conn')?.textContent === 'connected', null, { timeout: 20_000 });
      await page.click('#tab-system');
      await page.waitForSelector('#viewer-note', { timeout: 15_000 });
      expect(await page.$('#tab-settings')).toBeNull();
      expect(await page.$('#delete-all')).toBeNull();
      // The live view offers a viewer what a viewer may do: watch (quality, boxes), not control.
      await page.click('#tab-live');
      await page.waitForSelector('#boxes-toggle', { state: 'visible', timeout: 15_000 });
      expect(await page.$('#record-toggle')).toBeNull();
      expect(await page.isVisible('#level-up')).toBe(false);
      expect(await page.isVisible('#calibrate')).toBe(false);
      expect(await page.isVisible('#memory')).toBe(false);
      expect(await page.isVisible('#continuous-toggle')).toBe(false);
      expect(await page.isVisible('#quality-video')).toBe(true);
      const answer = await page.evaluate(async () => {
        const response = await fetch('/api/config');
        return { status: response.status, body: await response.json() };
      });
      expect(answer).toMatchObject({ status: 403, body: { code: 'AUTH_ROLE' } });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await server.stop();
    }
  }, 120_000);
});
