/**
 * What alerts remember: the e-mail follow-up with the finished clip in the alert's thread
 * (a real SMTP server receives it), and the visits and pending follow-ups kept across a
 * restart in `notify-state.json` (an injected clock; the notifier really stops and starts
 * again on the same data directory). Counts are exact.
 */

import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { runTool } from '@preroll/process';
import { createArming, createNotifier, resolveNotify, STATE_MAX_VISITS, type Arming, type Notifier, type NotifyConfig, type RecordingNotice } from '../src';
import { startSmtp, startStandIn, type SmtpStandIn, type StandIn } from '@preroll/testkit';
import { captureLogger, freePort, tempDir, waitFor } from './helpers';

/** Tuesday 6 January 2026, 02:00 local time. */
const AT_0200 = new Date(2026, 0, 6, 2, 0, 0).getTime();

let jpeg: Buffer;
let clipDir: string;
let clip: string;
beforeAll(async () => {
  const frame = await runTool('ffmpeg', ['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=1', '-frames:v', '1', '-f', 'mjpeg', '-']);
  jpeg = frame.stdout as unknown as Buffer;
  clipDir = await tempDir('preroll-followup-clip-');
  clip = path.join(clipDir, 'garden-20260106-020000.mp4');
  await runTool('ffmpeg', ['-y', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-t', '2', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', clip]);
});
afterAll(async () => {
  await fsp.rm(clipDir, { recursive: true, force: true });
});

describe('alert follow-ups and remembered state', () => {
  let dir: string;
  let http: StandIn;
  let smtp: SmtpStandIn;
  let notifier: Notifier | null = null;
  let arming: Arming | null = null;
  let clock = AT_0200;

  beforeEach(async () => {
    dir = await tempDir('preroll-followups-');
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

  const emailOf = (extra: Record<string, unknown> = {}, port = smtp.port): NotifyConfig['email'] => ({
    host: '127.0.0.1',
    port,
    security: 'none',
    username: 'cam',
    password: 'smtp-secret',
    from: 'Preroll <cam@example.com>',
    to: ['me@example.com'],
    retryInitialMs: 20,
    retryMaxMs: 50,
    ...extra,
  });

  /** Starts arming and the notifier on `dir`; a listed phone is home when `phoneHome`. */
  const start = async (config: NotifyConfig, options: { phoneHome?: boolean; logger?: ReturnType<typeof captureLogger>['logger'] } = {}): Promise<Notifier> => {
    arming = createArming({
      config: { mode: 'away', schedules: { alerts: [], detection: [] }, presence: { devices: [{ name: 'anna', mac: 'aa:bb:cc:dd:ee:01' }], intervalS: 3600, graceS: 600, probePorts: [9], probeTimeoutMs: 200, pauses: 'alerts' } },
      dataDir: dir,
      now: () => clock,
      neighbours: async () => (options.phoneHome ? '192.168.7.20 dev wlan0 lladdr AA:BB:CC:DD:EE:01 REACHABLE\n' : ''),
    });
    await arming.start();
    await arming.checkPresence();
    const resolved = resolveNotify(config);
    if (!resolved) throw new Error('no channel');
    const a = arming;
    notifier = createNotifier({ config: resolved, dataDir: dir, arming: (camera, atMs) => a.gate(camera, atMs), now: () => clock, logger: options.logger });
    await notifier.start();
    return notifier;
  };
  const stop = async (): Promise<void> => {
    await notifier?.stop();
    await arming?.stop();
    notifier = null;
    arming = null;
  };

  /** A finished recording whose clip (the fixture MP4) is in the data directory, as the store names it. */
  const recordingOf = async (overrides: Partial<RecordingNotice> = {}): Promise<RecordingNotice> => {
    const rel = 'events/2026-01-06/garden-20260106-015955.mp4';
    await fsp.mkdir(path.join(dir, 'events/2026-01-06'), { recursive: true });
    await fsp.copyFile(clip, path.join(dir, rel));
    return {
      id: 'garden-20260106-015955',
      camera: 'garden',
      kind: 'motion',
      startedAtMs: AT_0200 - 5000,
      endedAtMs: AT_0200 + 9000,
      clip: rel,
      clipBytes: (await fsp.stat(clip)).size,
      durationS: 14,
      peakScore: 61.5,
      ...overrides,
    };
  };

  test('the finished clip follows the alert once, in its thread, attached under the limit; ntfy gets no second message', async () => {
    const n = await start({ publicUrl: 'https://cam.example:8443', email: emailOf(), ntfy: { serverUrl: http.url, topic: 'followups' } });
    n.eventStarted({ camera: 'garden', kind: 'motion', atMs: AT_0200, score: 42.5, snapshot: jpeg });
    n.eventEnded('garden', AT_0200 + 8000);
    const recording = await recordingOf();
    // Other recordings cover no alerted trigger: another camera, a later one of the same camera.
    n.recordingFinished({ ...recording, id: 'porch-1', camera: 'porch' });
    n.recordingFinished({ ...recording, id: 'garden-later', startedAtMs: AT_0200 + 60_000, endedAtMs: AT_0200 + 70_000 });
    n.recordingFinished(recording);
    // The same recording announced again (it must not be): still one follow-up.
    n.recordingFinished(recording);
    await n.idle();

    expect(smtp.mails).toHaveLength(2);
    const [alert, followUp] = smtp.mails.map((m) => m.mail);
    expect(alert.subject).toBe('Motion: garden');
    expect(alert.messageId).toMatch(/^<[0-9a-f]{32}@example\.com>$/);
    expect(followUp.subject).toBe('Re: Motion: garden');
    expect(followUp.inReplyTo).toBe(alert.messageId);
    expect([followUp.references].flat()).toEqual([alert.messageId]);
    const mp4 = followUp.attachments.filter((a) => a.contentType === 'video/mp4');
    expect(mp4).toHaveLength(1);
    expect(mp4[0].filename).toBe('garden-20260106-015955.mp4');
    expect(mp4[0].content.equals(await fsp.readFile(clip))).toBe(true);
    expect(mp4[0].content.subarray(4, 8).toString()).toBe('ftyp');
    expect(followUp.text).toContain('The clip (14.0 s, ');
    expect(followUp.text).toContain('is attached.');
    expect(followUp.html).toContain('https://cam.example:8443/#event=garden-20260106-015955');

    expect(http.received).toHaveLength(1);
    const stats = n.stats().channels;
    expect(stats.map((c) => [c.name, c.alerts, c.clips])).toEqual([
      ['ntfy', 1, 0],
      ['email', 1, 1],
    ]);
    expect(await fsp.readdir(path.join(dir, 'notify-outbox', 'email'))).toHaveLength(0);
  });

  test('over the size limit the follow-up links the event; a clip deleted meanwhile is said to be gone; no file outside the data directory is attached', async () => {
    let n = await start({ publicUrl: 'https://cam.example:8443', email: emailOf({ clipMaxBytes: 1000 }) });
    n.eventStarted({ camera: 'garden', kind: 'motion', atMs: AT_0200, score: 42.5, snapshot: jpeg });
    n.recordingFinished(await recordingOf());
    clock = AT_0200 + 3600_000;
    n.eventStarted({ camera: 'garden', kind: 'motion', atMs: clock, score: 30, snapshot: jpeg });
    n.recordingFinished(await recordingOf({ id: 'garden-gone', startedAtMs: clock - 5000, endedAtMs: clock + 5000, clip: 'events/2026-01-06/deleted.mp4' }));
    await n.idle();
    await stop();
    // A clip named outside the data directory (an outbox file edited by hand) is never read, whatever the limit.
    n = await start({ publicUrl: 'https://cam.example:8443', email: emailOf() });
    clock = AT_0200 + 7200_000;
    n.eventStarted({ camera: 'garden', kind: 'motion', atMs: clock, score: 30, snapshot: jpeg });
    n.recordingFinished(await recordingOf({ id: 'garden-outside', startedAtMs: clock - 5000, endedAtMs: clock + 5000, clip: path.relative(dir, clip) }));
    await n.idle();
    expect(smtp.mails).toHaveLength(6);
    const followUps = smtp.mails.map((m) => m.mail).filter((m) => m.subject?.startsWith('Re: '));
    expect(followUps).toHaveLength(3);
    for (const mail of followUps) expect(mail.attachments).toHaveLength(0);
    expect(followUps[2].text).toContain('The clip is no longer on the camera. The event: https://cam.example:8443/#event=garden-outside');
    expect(followUps[0].text).toMatch(/The clip \(14\.0 s, \d+ kB\) is larger than 1 kB, the limit for mail; open it here: https:\/\/cam\.example:8443\/#event=garden-20260106-015955\./);
    expect(followUps[1].text).toContain('The clip is no longer on the camera. The event: https://cam.example:8443/#event=garden-gone');
  });

  test('an event whose alert was suppressed gets no follow-up; nor does a kind the channel leaves out', async () => {
    let n = await start({ email: emailOf({ kinds: ['motion'] }) }, { phoneHome: true });
    n.eventStarted({ camera: 'garden', kind: 'motion', atMs: AT_0200, score: 42.5, snapshot: jpeg });
    n.recordingFinished(await recordingOf());
    await n.idle();
    expect(n.stats().channels[0].skipped.presence).toBe(1);
    await stop();

    n = await start({ email: emailOf({ kinds: ['motion'] }) });
    n.eventStarted({ camera: 'garden', kind: 'manual', atMs: AT_0200, score: null, snapshot: jpeg, oneShot: true });
    n.recordingFinished(await recordingOf({ kind: 'manual' }));
    await n.idle();
    expect(smtp.mails).toHaveLength(0);
    expect(n.stats().channels[0].skipped.kind).toBe(1);
  });

  test('a follow-up waiting behind an alert the SMTP server has not taken yet survives a restart: one alert, one follow-up', async () => {
    const closed = await freePort();
    const down = { email: emailOf({ retryInitialMs: 60_000, retryMaxMs: 60_000, maxAgeS: 86_400 }, closed) };
    let n = await start(down);
    n.eventStarted({ camera: 'garden', kind: 'motion', atMs: AT_0200, score: 42.5, snapshot: jpeg });
    n.recordingFinished(await recordingOf());
    await waitFor(() => n.stats().channels[0].retries === 1, 'the alert waits for a retry', 30_000);
    expect(n.stats().channels[0].lastError?.code).toBe('NOTIFY_NETWORK');
    await waitFor(() => n.stats().channels[0].queued === 2, 'the follow-up queued behind it', 30_000);
    await stop();
    expect(await fsp.readdir(path.join(dir, 'notify-outbox', 'email'))).toHaveLength(2);

    // The next run (the server reachable now) sends both, in order, once.
    n = await start({ email: emailOf() });
    await n.idle();
    expect(smtp.mails).toHaveLength(2);
    const [alert, followUp] = smtp.mails.map((m) => m.mail);
    expect(alert.subject).toBe('Motion: garden');
    expect(followUp.inReplyTo).toBe(alert.messageId);
    expect(followUp.attachments.filter((a) => a.contentType === 'video/mp4')).toHaveLength(1);
    expect(await fsp.readdir(path.join(dir, 'notify-outbox', 'email'))).toHaveLength(0);
  });

  test('an alert whose recording finishes after a restart still gets its one follow-up', async () => {
    let n = await start({ email: emailOf() });
    n.eventStarted({ camera: 'garden', kind: 'motion', atMs: AT_0200, score: 42.5, snapshot: jpeg });
    await n.idle();
    await stop();
    const state = JSON.parse(await fsp.readFile(path.join(dir, 'notify-state.json'), 'utf8'));
    expect(state.threads).toHaveLength(1);

    n = await start({ email: emailOf() });
    // Recovered after the restart and announced once.
    n.recordingFinished(await recordingOf());
    n.recordingFinished(await recordingOf());
    await n.idle();
    expect(smtp.mails).toHaveLength(2);
    expect(smtp.mails[1].mail.inReplyTo).toBe(smtp.mails[0].mail.messageId);
    expect(JSON.parse(await fsp.readFile(path.join(dir, 'notify-state.json'), 'utf8')).threads).toHaveLength(0);
  });

  test('e-mail updates of a visit reply to its alert, also after a restart; the clip follows in the same thread', async () => {
    const config: NotifyConfig = { email: emailOf({ cooldownS: 300, updateIntervalS: 60 }) };
    let n = await start(config);
    n.eventStarted({ camera: 'garden', kind: 'motion', atMs: AT_0200, score: 42.5, snapshot: jpeg });
    for (let s = 1; s <= 70; s++) n.eventProgress('garden', AT_0200 + s * 1000, 50, async () => jpeg);
    n.eventEnded('garden', AT_0200 + 70_000);
    await n.idle();
    await stop();
    // After the restart: a later event of the same visit, going on for 40 s.
    n = await start(config);
    clock = AT_0200 + 100_000;
    n.eventStarted({ camera: 'garden', kind: 'motion', atMs: clock, score: 30, snapshot: jpeg });
    for (let s = 1; s <= 40; s++) n.eventProgress('garden', clock + s * 1000, 35, async () => jpeg);
    n.recordingFinished(await recordingOf({ endedAtMs: AT_0200 + 72_000 }));
    await n.idle();
    expect(smtp.mails).toHaveLength(4);
    const [alert, ...replies] = smtp.mails.map((m) => m.mail);
    expect(alert.subject).toBe('Motion: garden');
    expect(alert.inReplyTo).toBeUndefined();
    expect(replies.map((m) => [m.subject, m.inReplyTo])).toEqual([
      ['Re: Motion: garden', alert.messageId],
      ['Re: Motion: garden', alert.messageId],
      ['Re: Motion: garden', alert.messageId],
    ]);
    expect(replies.filter((m) => m.text?.startsWith('Motion on garden since'))).toHaveLength(2);
    expect(replies.filter((m) => m.attachments.some((a) => a.contentType === 'video/mp4'))).toHaveLength(1);
    expect(n.stats().channels[0].updates).toBe(1);
  });

  test('a restart during a long visit sends no new first alert; after a quiet cooldown the next visit alerts', async () => {
    const config: NotifyConfig = { ntfy: { serverUrl: http.url, topic: 'visits', cooldownS: 300, updateIntervalS: 0 } };
    let n = await start(config);
    n.eventStarted({ camera: 'drive', kind: 'motion', atMs: clock, score: 20, snapshot: jpeg });
    for (let s = 1; s <= 120; s++) n.eventProgress('drive', AT_0200 + s * 1000, 25, async () => jpeg);
    await n.idle();
    await stop();

    // The visit goes on after the restart: motion 4 min after the last (within the cooldown).
    clock = AT_0200 + 120_000 + 240_000;
    n = await start(config);
    n.eventStarted({ camera: 'drive', kind: 'motion', atMs: clock, score: 20, snapshot: jpeg });
    n.eventEnded('drive', clock + 5000);
    await n.idle();
    expect(http.received).toHaveLength(1);
    expect(n.stats().channels[0].skipped.cooldown).toBe(1);
    await stop();

    // Quiet for longer than the cooldown, across another restart: a new visit, a new alert.
    clock += 301_000;
    n = await start(config);
    n.eventStarted({ camera: 'drive', kind: 'motion', atMs: clock, score: 20, snapshot: jpeg });
    await n.idle();
    expect(http.received).toHaveLength(2);
    expect(http.received.map((r) => r.headers['x-title'])).toEqual(['Motion: drive', 'Motion: drive']);
  });

  test('the visit is on disk as soon as the alert is decided: a crash (no clean stop) does not repeat the first alert', async () => {
    const config: NotifyConfig = { ntfy: { serverUrl: http.url, topic: 'crash', cooldownS: 300, updateIntervalS: 0 } };
    const crashed = await start(config);
    const crashedArming = arming;
    try {
      crashed.eventStarted({ camera: 'drive', kind: 'motion', atMs: clock, score: 20, snapshot: jpeg });
      await waitFor(() => http.received.length === 1, 'the alert', 30_000);
      const file = path.join(dir, 'notify-state.json');
      await waitFor(() => existsSync(file) && readFileSync(file, 'utf8').includes('"drive"'), 'the visit on disk', 30_000);
      // A second process on the same data directory, as after a crash (the first never stopped).
      clock = AT_0200 + 60_000;
      const next = await start(config);
      next.eventStarted({ camera: 'drive', kind: 'motion', atMs: clock, score: 20, snapshot: jpeg });
      await next.idle();
      expect(http.received).toHaveLength(1);
      expect(next.stats().channels[0].skipped.cooldown).toBe(1);
    } finally {
      await crashed.stop();
      await crashedArming?.stop();
    }
  });

  test('a corrupt state file is set aside with a logged code and the alerts go on; the file stays bounded', async () => {
    await fsp.writeFile(path.join(dir, 'notify-state.json'), '{"version":1,"visits":{"ntfy":{"drive":{"lastSentMs":');
    const log = captureLogger();
    const n = await start({ ntfy: { serverUrl: http.url, topic: 'corrupt', cooldownS: 3600, queueMax: 200 } }, { logger: log.logger });
    expect(log.codes()).toContain('NOTIFY_STATE_FAILED');
    expect(String(log.lines.find((l) => l.code === 'NOTIFY_STATE_FAILED')?.err)).toContain('not JSON');
    expect(await fsp.readFile(path.join(dir, 'notify-state.json.corrupt'), 'utf8')).toContain('"drive"');

    // More cameras than are remembered: one alert each, the file keeps the newest.
    const cameras = STATE_MAX_VISITS + 6;
    for (let i = 0; i < cameras; i++) n.eventStarted({ camera: `cam${i}`, kind: 'motion', atMs: AT_0200 + i, score: 9, snapshot: null });
    await n.idle();
    expect(http.received).toHaveLength(cameras);
    const state = JSON.parse(await fsp.readFile(path.join(dir, 'notify-state.json'), 'utf8'));
    expect(Object.keys(state.visits.ntfy)).toHaveLength(STATE_MAX_VISITS);
    expect(state.visits.ntfy[`cam${cameras - 1}`]).toEqual({ lastSentMs: AT_0200 + cameras - 1, lastActivityMs: AT_0200 + cameras - 1 });
    expect(state.visits.ntfy.cam0).toBeUndefined();

    // A state that is JSON but not a state is set aside too.
    await stop();
    await fsp.writeFile(path.join(dir, 'notify-state.json'), '{"version":1,"visits":{"ntfy":{"../x":{"lastSentMs":1,"lastActivityMs":1}}},"threads":[]}');
    const again = captureLogger();
    await start({ ntfy: { serverUrl: http.url, topic: 'corrupt' } }, { logger: again.logger });
    expect(again.codes()).toEqual(['NOTIFY_STATE_FAILED']);
  });
});
