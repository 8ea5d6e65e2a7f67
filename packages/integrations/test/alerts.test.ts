/**
 * The alert channels against local stand-ins (no internet here): an HTTP server that answers
 * like ntfy, the Telegram Bot API and a push service; a real SMTP server. Counts are exact.
 */

import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { runTool } from '@preroll/process';
import { createArming, createNotifier, resolveNotify, type Arming, type Notifier, type NotifyConfig, type PushPayload } from '../src';
import { makePushClient, parseForm, startSmtp, startStandIn, verifyVapid, type SmtpStandIn, type StandIn } from '@preroll/testkit';
import { tempDir, waitFor } from './helpers';

const BOT = '123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
/** Tuesday 6 January 2026, 02:00 local time. */
const AT_0200 = new Date(2026, 0, 6, 2, 0, 0).getTime();

let jpeg: Buffer;
beforeAll(async () => {
  const result = await runTool('ffmpeg', ['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=1', '-frames:v', '1', '-f', 'mjpeg', '-']);
  jpeg = result.stdout as unknown as Buffer;
  expect(jpeg.subarray(0, 2).toString('hex')).toBe('ffd8');
});

describe('alert channels', () => {
  let dir: string;
  let http: StandIn;
  let smtp: SmtpStandIn;
  let notifier: Notifier | null = null;
  let arming: Arming | null = null;
  let clock = AT_0200;

  beforeEach(async () => {
    dir = await tempDir('preroll-alerts-');
    http = await startStandIn();
    smtp = await startSmtp('cam', 'smtp-secret');
    clock = AT_0200;
  });
  afterEach(async () => {
    await notifier?.stop();
    await arming?.stop();
    notifier = null;
    arming = null;
    await http.close();
    await smtp.close();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  const configOf = (extra: Partial<NotifyConfig> = {}): NotifyConfig => ({
    publicUrl: 'https://cam.example:8443',
    ntfy: { serverUrl: http.url, topic: 'preroll-test', token: 'tk_secret_token', retryInitialMs: 20, retryMaxMs: 50 },
    telegram: { botToken: BOT, chatId: 4242, apiBaseUrl: `${http.url}/tg`, retryInitialMs: 20, retryMaxMs: 50 },
    email: { host: '127.0.0.1', port: smtp.port, security: 'none', username: 'cam', password: 'smtp-secret', from: 'Preroll <cam@example.com>', to: ['me@example.com'], retryInitialMs: 20, retryMaxMs: 50 },
    webpush: { subject: 'mailto:admin@example.com', retryInitialMs: 20, retryMaxMs: 50 },
    ...extra,
  });

  const start = async (config: NotifyConfig, neighbours = ''): Promise<Notifier> => {
    arming = createArming({
      config: { mode: 'away', schedules: { alerts: [], detection: [] }, presence: { devices: [{ name: 'anna', mac: 'aa:bb:cc:dd:ee:01' }], intervalS: 3600, graceS: 600, probePorts: [9], probeTimeoutMs: 200, pauses: 'alerts' } },
      dataDir: dir,
      now: () => clock,
      neighbours: async () => neighbours,
    });
    await arming.start();
    await arming.checkPresence();
    const resolved = resolveNotify(config);
    if (!resolved) throw new Error('no channel');
    const a = arming;
    notifier = createNotifier({ config: resolved, dataDir: dir, arming: (camera, atMs) => a.gate(camera, atMs), now: () => clock });
    await notifier.start();
    return notifier;
  };

  test('a motion event at 02:00, mode away, reaches each channel exactly once with the snapshot', async () => {
    const n = await start(configOf());
    const push = makePushClient(`${http.url}/push/device-1`);
    await n.webpush?.add(push.subscription, 'test browser');

    n.eventStarted({ camera: 'garden', kind: 'motion', atMs: AT_0200, score: 42.5, snapshot: jpeg });
    // The same event goes on for 30 s (progress every frame): no second alert, no update yet.
    for (let s = 1; s <= 30; s++) n.eventProgress('garden', AT_0200 + s * 1000, 50, async () => jpeg);
    n.eventEnded('garden', AT_0200 + 30_000);
    await n.idle();

    const ntfy = http.received.filter((r) => r.url === '/preroll-test');
    const tg = http.received.filter((r) => r.url.startsWith('/tg/'));
    const pushes = http.received.filter((r) => r.url === '/push/device-1');
    expect(ntfy).toHaveLength(1);
    expect(tg).toHaveLength(1);
    expect(pushes).toHaveLength(1);
    expect(smtp.mails).toHaveLength(1);

    // ntfy: PUT with the token, the JPEG as the body, title/message/click in headers.
    expect(ntfy[0].method).toBe('PUT');
    expect(ntfy[0].headers.authorization).toBe('Bearer tk_secret_token');
    expect(ntfy[0].headers['x-title']).toBe('Motion: garden');
    expect(ntfy[0].headers['x-filename']).toBe('snapshot.jpg');
    expect(ntfy[0].headers['x-click']).toBe(`https://cam.example:8443/api/alerts/open?camera=garden&at=${AT_0200}`);
    expect(String(ntfy[0].headers['x-message'])).toContain('peak score 42.5');
    expect(ntfy[0].body.equals(jpeg)).toBe(true);

    // Telegram: sendPhoto, multipart with chat id, caption with the link, the photo bytes.
    expect(tg[0].method).toBe('POST');
    expect(tg[0].url).toBe(`/tg/bot${BOT}/sendPhoto`);
    const form = await parseForm(tg[0]);
    expect(form.get('chat_id')).toBe('4242');
    expect(String(form.get('caption'))).toContain('Motion on garden at 2026-01-06 02:00:00');
    expect(String(form.get('caption'))).toContain('/api/alerts/open?camera=garden');
    const photo = form.get('photo') as File;
    expect(Buffer.from(await photo.arrayBuffer()).equals(jpeg)).toBe(true);

    // E-mail: recipient, subject, the inline image equals the snapshot.
    const mail = smtp.mails[0];
    expect(mail.envelopeTo).toEqual(['me@example.com']);
    expect(mail.mail.subject).toBe('Motion: garden');
    const inline = mail.mail.attachments.find((a) => a.cid === 'snapshot@preroll');
    expect(inline?.content.equals(jpeg)).toBe(true);
    expect(inline?.contentDisposition).toBe('inline');
    expect(inline?.related).toBe(true);

    // Web Push: aes128gcm decrypted with the subscription's keys; the VAPID token verifies.
    expect(pushes[0].headers['content-encoding']).toBe('aes128gcm');
    const payload = JSON.parse(push.decrypt(pushes[0].body).toString()) as PushPayload;
    expect(payload.title).toBe('Motion: garden');
    expect(payload.url).toBe(`https://cam.example:8443/api/alerts/open?camera=garden&at=${AT_0200}`);
    expect(payload.image).toMatch(/^https:\/\/cam\.example:8443\/alerts\/snapshot\/[0-9a-f]{32}\?k=[A-Za-z0-9_-]{22}$/);
    const imageUrl = new URL(payload.image as string);
    expect(n.snapshot(imageUrl.pathname.split('/').pop() as string, imageUrl.searchParams.get('k') as string)?.equals(jpeg)).toBe(true);
    expect(n.snapshot(imageUrl.pathname.split('/').pop() as string, 'wrong-key-wrong-key-xx')).toBeNull();
    const vapid = verifyVapid(String(pushes[0].headers.authorization));
    expect(vapid.claims.aud).toBe(http.url);
    expect(vapid.claims.sub).toBe('mailto:admin@example.com');
    expect(vapid.claims.exp).toBeGreaterThan(Date.now() / 1000);
    expect(vapid.publicKey).toBe(n.webpush?.vapidKeys().publicKey);

    const stats = n.stats();
    expect(stats.channels.map((c) => [c.name, c.alerts, c.updates, c.failed])).toEqual([
      ['ntfy', 1, 0, 0],
      ['telegram', 1, 0, 0],
      ['email', 1, 0, 0],
      ['webpush', 1, 0, 0],
    ]);
  });

  test('the same event with a listed phone present sends nothing', async () => {
    const n = await start(configOf(), '192.168.7.20 dev wlan0 lladdr AA:BB:CC:DD:EE:01 REACHABLE\n');
    await n.webpush?.add(makePushClient(`${http.url}/push/device-1`).subscription, 'test browser');
    expect(arming?.status().effective).toBe('home');
    expect(arming?.status().reason).toMatch(/^home since \d\d:\d\d: anna at home \(alerts paused\)/);
    n.eventStarted({ camera: 'garden', kind: 'motion', atMs: AT_0200, score: 42.5, snapshot: jpeg });
    n.eventEnded('garden', AT_0200 + 5000);
    await n.idle();
    expect(http.received).toHaveLength(0);
    expect(smtp.mails).toHaveLength(0);
    expect(n.stats().channels.map((c) => c.skipped.presence)).toEqual([1, 1, 1, 1]);
  });

  test('a long visit: one alert, then at most one "still moving" update per interval; cooldown merges the next events', async () => {
    const n = await start({ publicUrl: 'https://cam.example', ntfy: { serverUrl: http.url, topic: 't1', cooldownS: 300, updateIntervalS: 120 } });
    n.eventStarted({ camera: 'drive', kind: 'motion', atMs: clock, score: 20, snapshot: jpeg });
    // 5 minutes of motion, one progress call per second.
    for (let s = 1; s <= 300; s++) {
      clock = AT_0200 + s * 1000;
      n.eventProgress('drive', clock, 20 + s / 10, async () => jpeg);
    }
    n.eventEnded('drive', clock);
    // Three more short events within the cooldown: no new alert; one more update once due.
    for (const offsetS of [340, 400, 430]) {
      clock = AT_0200 + offsetS * 1000;
      n.eventStarted({ camera: 'drive', kind: 'motion', atMs: clock, score: 30, snapshot: jpeg });
      n.eventEnded('drive', clock + 2000);
    }
    // After a quiet cooldown, a new visit alerts again.
    clock = AT_0200 + (430 + 301) * 1000;
    n.eventStarted({ camera: 'drive', kind: 'motion', atMs: clock, score: 30, snapshot: jpeg });
    await n.idle();
    // Alerts at 0 s and 731 s; updates at 120 s, 240 s and 400 s (the 340 s event came within 120 s of the last update).
    // (An update waits for its fresh snapshot, so it may leave after a later alert: compare sorted.)
    const messages = http.received.map((r) => `${String(r.headers['x-title'])} | ${String(r.headers['x-message']).replace(/^.* (since|at) [\d-]+ (\d\d:\d\d:\d\d).*$/, '$2')}`);
    expect(messages.sort()).toEqual(['Motion: drive | 02:00:00', 'Motion: drive | 02:12:11', 'Still moving: drive | 02:00:00', 'Still moving: drive | 02:00:00', 'Still moving: drive | 02:06:40']);
    const stats = n.stats().channels[0];
    expect([stats.alerts, stats.updates, stats.skipped.cooldown]).toEqual([2, 3, 2]);
  });

  test('minimum peak score, kinds, cameras and quiet hours', async () => {
    const n = await start({
      ntfy: { serverUrl: http.url, topic: 't2', minPeakScore: 50, cameras: ['front'], kinds: ['motion'], quietHours: { from: '23:00', to: '01:30' } },
    });
    n.eventStarted({ camera: 'back', kind: 'motion', atMs: clock, score: 90, snapshot: null });
    n.eventStarted({ camera: 'front', kind: 'manual', atMs: clock, score: null, snapshot: null, oneShot: true });
    n.eventStarted({ camera: 'front', kind: 'motion', atMs: clock, score: 10, snapshot: jpeg });
    // Below the minimum at the trigger; it alerts once the peak reaches it, with the trigger snapshot.
    n.eventProgress('front', clock + 1000, 30, async () => null);
    n.eventProgress('front', clock + 2000, 55, async () => null);
    n.eventProgress('front', clock + 3000, 80, async () => null);
    n.eventEnded('front', clock + 4000);
    // In the quiet hours (00:30): nothing.
    clock = new Date(2026, 0, 7, 0, 30).getTime();
    n.eventStarted({ camera: 'front', kind: 'motion', atMs: clock, score: 99, snapshot: jpeg });
    await n.idle();
    expect(http.received).toHaveLength(1);
    expect(http.received[0].body.equals(jpeg)).toBe(true);
    expect(String(http.received[0].headers['x-message'])).toContain('peak score 55.0');
    const skipped = n.stats().channels[0].skipped;
    expect([skipped.camera, skipped.kind, skipped.score, skipped['quiet-hours']]).toEqual([1, 1, 1, 1]);
  });

  test('a failing channel retries with backoff, shows in stats, and its alert survives a restart', async () => {
    http.reply = () => ({ status: 503, body: 'down for maintenance' });
    const config: NotifyConfig = { ntfy: { serverUrl: http.url, topic: 't3', retryInitialMs: 60_000, retryMaxMs: 60_000, maxAgeS: 86_400 } };
    let n = await start(config);
    n.eventStarted({ camera: 'cam', kind: 'motion', atMs: clock, score: 9, snapshot: jpeg });
    await waitFor(() => n.stats().channels[0].retries === 1, 'first retry scheduled');
    const failing = n.stats().channels[0];
    expect(failing.lastError?.code).toBe('NOTIFY_HTTP_STATUS');
    expect(failing.lastError?.message).toContain('503');
    expect(failing.queued).toBe(1);
    const files = await fsp.readdir(path.join(dir, 'notify-outbox', 'ntfy'));
    expect(files).toHaveLength(1);
    await n.stop();
    await arming?.stop();

    // The next run sends what the last one left, once.
    http.reply = () => ({ status: 200, body: '{}' });
    n = await start(config);
    await n.idle();
    expect(http.received.filter((r) => r.url === '/t3')).toHaveLength(2);
    expect(http.received[1].body.equals(jpeg)).toBe(true);
    expect(n.stats().channels[0].alerts).toBe(1);
    expect(await fsp.readdir(path.join(dir, 'notify-outbox', 'ntfy'))).toHaveLength(0);
  });

  test('test messages report success or the exact error: 401, DNS, SMTP auth, no push device', async () => {
    http.reply = (req) => (req.url.startsWith('/tg/') ? { status: 401, body: '{"ok":false,"error_code":401,"description":"Unauthorized"}' } : { status: 200, body: '{}' });
    const n = await start({
      ...configOf(),
      email: { host: '127.0.0.1', port: smtp.port, security: 'none', username: 'cam', password: 'wrong-password', from: 'cam@example.com', to: ['me@example.com'] },
    });
    const results = await n.test(undefined, 'garden', jpeg);
    const byName = Object.fromEntries(results.map((r) => [r.channel, r]));
    expect(byName.ntfy.ok).toBe(true);
    expect(byName.telegram).toMatchObject({ ok: false, code: 'NOTIFY_UNAUTHORIZED' });
    expect(byName.telegram.message).toContain('401');
    expect(byName.telegram.message).not.toContain(BOT);
    expect(byName.email).toMatchObject({ ok: false, code: 'NOTIFY_UNAUTHORIZED' });
    expect(byName.email.message).not.toContain('wrong-password');
    expect(byName.webpush).toMatchObject({ ok: false, code: 'NOTIFY_NO_SUBSCRIBERS' });
    await expect(n.test('pager', 'garden', null)).rejects.toMatchObject({ code: 'NOTIFY_UNKNOWN_CHANNEL' });
    await n.stop();

    const dns = await start({ ntfy: { serverUrl: 'http://no-such-host.invalid', topic: 't4' } });
    const [result] = await dns.test('ntfy', 'garden', null);
    expect(result).toMatchObject({ ok: false, code: 'NOTIFY_DNS' });
    expect(result.message).toContain('no-such-host.invalid');
  });

  test('a push subscription that is gone (410) is removed', async () => {
    const n = await start({ webpush: { subject: 'mailto:a@example.com' } });
    http.reply = (req) => (req.url === '/push/gone' ? { status: 410, body: '' } : { status: 201, body: '' });
    await n.webpush?.add(makePushClient(`${http.url}/push/gone`).subscription, 'old phone');
    await n.webpush?.add(makePushClient(`${http.url}/push/live`).subscription, 'new phone');
    n.eventStarted({ camera: 'cam', kind: 'motion', atMs: clock, score: 9, snapshot: null });
    await n.idle();
    expect(http.received.map((r) => r.url)).toEqual(['/push/gone', '/push/live']);
    expect(n.webpush?.list().map((s) => s.label)).toEqual(['new phone']);
    expect(n.stats().channels[0].alerts).toBe(1);
  });
});
