/**
 * "Enable notifications on this device" in a real browser: notification permission granted
 * through the browser context, the service worker registered, the server's VAPID key passed to
 * `pushManager.subscribe`, the subscription received by the server; then "Send a test" reaches
 * the device and the page shows each channel's outcome.
 *
 * Chromium here has no push service to register with (it would be Google's FCM, on the
 * internet; it answers "Registration failed - permission denied" offline), so `subscribe()` is
 * the one browser call replaced: it returns a subscription to a local stand-in push service
 * whose keys the test holds, and records the VAPID key the page gave it.
 */

import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { makePushClient, startStandIn, type StandIn } from '@preroll/testkit';
import { request, startTestServer, waitFor } from './server-helpers';

const CHROMIUM = '/usr/bin/chromium';

describe('alerts in the page (real browser)', () => {
  let browser: Browser;
  let http: StandIn;
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: run deploy/setup.sh --test`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'] });
    http = await startStandIn();
  });
  afterAll(async () => {
    await browser?.close();
    await http?.close();
  });

  test('a channel that keeps failing shows in the System panel and in /metrics, without its secret', async () => {
    http.reply = (req) => (req.url === '/failing' ? { status: 401, body: '{"error":"unauthorized"}' } : { status: 200, body: '{"ok":true}' });
    const server = await startTestServer({
      camera: { source: 'demo', width: 320, height: 180, fps: 10 },
      integrations: { notify: { ntfy: { serverUrl: http.url, topic: 'failing', token: 'tk_wrong_token' } } },
      arming: { mode: 'away' },
    });
    const context = await browser.newContext();
    try {
      // The demo's motion event alerts; the server refuses the token (not retried): the channel is failing.
      await waitFor(async () => (server.alerts.notifier?.stats().channels[0].failing ? true : null), 90_000, 'the alert given up');
      expect(http.received.filter((r) => r.url === '/failing')).toHaveLength(1);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toContain('preroll_alerts_failing{channel="ntfy"} 1');
      expect(metrics).toContain('preroll_alerts_failed_total{channel="ntfy"} 1');
      expect(metrics).toContain('preroll_alerts_sent_total{channel="ntfy"} 0');
      const status = (await request(`${server.url}/api/status`, 'GET')).body;
      expect(status.alerts.notify.channels[0]).toMatchObject({ name: 'ntfy', failing: true, failed: 1, lastError: { code: 'NOTIFY_UNAUTHORIZED' } });

      const page = await context.newPage();
      await page.goto(server.url);
      await page.click('#tab-system');
      await page.waitForFunction(() => [...document.querySelectorAll('dd.error')].some((d) => /NOTIFY_UNAUTHORIZED/.test(d.textContent ?? '')), null, { timeout: 20_000 });
      const shown = await page.evaluate(() => [...document.querySelectorAll('dd.error')].map((d) => d.textContent ?? ''));
      expect(shown).toHaveLength(1);
      expect(shown[0]).toMatch(/^failing: NOTIFY_UNAUTHORIZED: ntfy: 127\.0\.0\.1:\d+ answered 401/);
      expect(shown[0]).not.toContain('tk_wrong_token');
    } finally {
      http.reply = () => ({ status: 200, body: '{"ok":true}' });
      await context.close();
      await server.stop();
    }
  }, 180_000);

  test('enable notifications: the server receives the subscription; mode switch; send a test', async () => {
    const server = await startTestServer({
      camera: { source: 'demo', width: 320, height: 180, fps: 10 },
      // Only manual recordings alert here, so the demo's motion event (at about 10 s) cannot add a message to the count.
      integrations: { notify: { ntfy: { serverUrl: http.url, topic: 'page-test', kinds: ['manual'] }, webpush: { subject: 'mailto:admin@example.com', kinds: ['manual'] } } },
    });
    const context = await browser.newContext();
    try {
      await context.grantPermissions(['notifications'], { origin: server.url });
      const device = makePushClient(`${http.url}/push/browser`);
      await context.addInitScript((subscription) => {
        const w = window as unknown as { PushManager?: { prototype: Record<string, unknown> }; pushKeyGiven?: string };
        if (!w.PushManager) return;
        let current: unknown = null;
        w.PushManager.prototype.getSubscription = async () => current;
        w.PushManager.prototype.subscribe = async (options: { applicationServerKey: Uint8Array }) => {
          w.pushKeyGiven = btoa(String.fromCharCode(...new Uint8Array(options.applicationServerKey))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
          current = { endpoint: subscription.endpoint, toJSON: () => subscription, unsubscribe: async () => true };
          return current;
        };
      }, device.subscription);
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(server.url);
      await page.click('#tab-system');
      await page.waitForSelector('#push-enable');
      expect(await page.textContent('#arming-reason')).toMatch(/^away since \d\d:\d\d: set from the configuration/);

      await page.click('#push-enable');
      await page.waitForFunction(() => /Notifications are on|Error|failed|push service/i.test(document.getElementById('alerts-message')?.textContent ?? ''), null, { timeout: 20_000 });
      const message = await page.textContent('#alerts-message');
      expect(message).toBe('Notifications are on for this device.');
      const subscriptions = server.alerts.notifier?.webpush?.list() ?? [];
      expect(subscriptions).toHaveLength(1);
      expect(subscriptions[0].endpoint).toBe(device.subscription.endpoint);
      expect(subscriptions[0].keys).toEqual(device.subscription.keys);
      expect(await page.evaluate(() => (window as unknown as { pushKeyGiven: string }).pushKeyGiven)).toBe(server.alerts.notifier?.webpush?.vapidKeys().publicKey);
      // The page's own service worker (which imports the push handler) carries the subscription.
      expect(await page.evaluate(async () => (await navigator.serviceWorker.getRegistration('/'))?.active?.scriptURL)).toBe(`${server.url}/sw.js`);

      // "Send a test": ntfy and this device get it; the page lists both outcomes.
      await page.click('#alerts-test');
      await page.waitForFunction(() => /webpush: sent/.test(document.getElementById('alerts-message')?.textContent ?? ''), null, { timeout: 10_000 });
      expect(await page.textContent('#alerts-message')).toMatch(/^ntfy: sent \(\d+ ms\)\nwebpush: sent \(\d+ ms\)$/);
      const pushed = http.received.filter((r) => r.url === '/push/browser');
      expect(pushed).toHaveLength(1);
      expect(JSON.parse(device.decrypt(pushed[0].body).toString()).title).toBe('Preroll test (cam)');
      expect(http.received.filter((r) => r.url === '/page-test')).toHaveLength(1);

      await page.click('#arming-home');
      await page.waitForFunction(() => document.getElementById('arming-home')?.getAttribute('aria-pressed') === 'true', null, { timeout: 5000 });
      expect(server.alerts.arming.status().mode).toBe('home');
      expect(await page.textContent('#arming-reason')).toMatch(/^home since \d\d:\d\d: set from the page/);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await server.stop();
    }
  });
});
