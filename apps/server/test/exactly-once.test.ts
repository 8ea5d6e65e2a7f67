import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import WebSocket from 'ws';
import { spawnChild, type ChildHandle } from '@preroll/process';
import { createCleanupStack, freePort, sleep, waitFor } from '@preroll/testkit';
import { main } from '../src/cli';
import { memoryIo } from './io';
import { request, startTestServer, tempDataDir } from './server-helpers';

/**
 * One recording, one announcement: every finished recording of every kind (motion, manual,
 * segment, memory, photo, a clip recovered after SIGKILL) gives exactly one signed webhook
 * delivery, one MQTT event message and one rclone upload, with real mosquitto, a real HTTP
 * receiver and real rclone (a local remote) — and none more after a favourite toggle, uploads,
 * an offload, `preroll reindex`, sidecars touched and rewritten as over a share, the watcher's
 * rescans and a server restart. Counted, never sampled.
 */

const FAKE_BIN = resolve(__dirname, '../../../test-fixtures/bin');
const CLI = resolve(__dirname, '../dist/src/cli.js');
const SECRET = 'a webhook secret of some length';
const ALL_KINDS = ['motion', 'manual', 'segment', 'memory', 'photo'] as const;


/** How often each id appears in a list. */
function tally(ids: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

describe('one recording, one announcement', () => {
  const cleanup = createCleanupStack();
  afterAll(() => cleanup.run());
  const savedPath = process.env.PATH;

  test('every kind of recording is posted, published and uploaded exactly once, through edits, rescans, reindex and restarts', async () => {
    // The broker, the webhook receiver and the rclone remote live for the whole test.
    const brokerDir = mkdtempSync(join(tmpdir(), 'preroll-mosquitto-'));
    const brokerPort = await freePort();
    writeFileSync(join(brokerDir, 'm.conf'), `listener ${brokerPort} 127.0.0.1\nallow_anonymous true\npersistence false\n${process.getuid?.() === 0 ? 'user root\n' : ''}`);
    const broker: ChildHandle = cleanup.defer(spawnChild({ name: 'mosquitto', command: 'mosquitto', args: ['-c', join(brokerDir, 'm.conf')], stdio: ['ignore', 'ignore', 'pipe'] }), (b) => b.stop({ graceMs: 0 }));
    const posted: Array<{ id: string; event: string; valid: boolean }> = [];
    const hooks: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const stamp = String(req.headers['x-preroll-timestamp']);
        const expected = `sha256=${createHmac('sha256', SECRET).update(`${stamp}.${body}`).digest('hex')}`;
        posted.push({ id: JSON.parse(body).id, event: String(req.headers['x-preroll-event']), valid: req.headers['x-preroll-signature'] === expected });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
    cleanup.defer(hooks, (h) => new Promise((r) => h.close(r)));
    const remoteDir = mkdtempSync(join(tmpdir(), 'preroll-remote-'));
    const rcloneLog = join(mkdtempSync(join(tmpdir(), 'preroll-rclone-')), 'rclone.log');
    process.env.RCLONE_CONFIG_ONCE_TYPE = 'local';
    cleanup.defer(null, () => {
      delete process.env.RCLONE_CONFIG_ONCE_TYPE;
      process.env.PATH = savedPath;
    });
    expect(broker.pid).toBeGreaterThan(0);

    const published: string[] = [];
    await waitFor(async () => {
      const client: MqttClient = connect(`mqtt://127.0.0.1:${brokerPort}`, { reconnectPeriod: 0, connectTimeout: 2000 });
      const ok = await new Promise<boolean>((r) => {
        client.once('connect', () => r(true));
        client.once('error', () => r(false));
        client.once('close', () => r(false));
      });
      if (!ok) {
        client.end(true);
        return false;
      }
      client.on('message', (_topic, payload) => published.push(JSON.parse(payload.toString()).id));
      client.subscribe('preroll/cam/event');
      cleanup.defer(client, (c) => c.end(true));
      return true;
    }, { timeoutMs: 10_000, intervalMs: 200, what: 'the broker' });

    const dataDir = tempDataDir();
    const integrations = {
      mqtt: { url: `mqtt://127.0.0.1:${brokerPort}`, publishSnapshot: false },
      webhooks: { urls: [`http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook`], secret: SECRET, eventKinds: [...ALL_KINDS] },
      upload: { remote: `once:${remoteDir}`, kinds: [...ALL_KINDS], files: [], extraArgs: ['--log-file', rcloneLog, '--log-level', 'INFO'] },
    };
    const recording = { continuous: { enabled: true, segmentS: 3 }, memory: { windowS: 0.5 } };
    const api = (url: string, method: string, body?: unknown) => request(url, method, body);

    // 1. A running server: every kind of recording, then edits and rescans.
    let server = await startTestServer({ server: { dataDir }, integrations, recording });
    // The page hears of each new recording once too.
    const pushed: string[] = [];
    const ws = cleanup.defer(new WebSocket(`${server.url.replace('http', 'ws')}/ws`, { origin: server.url }), (socket) => socket.terminate());
    ws.on('message', (data, binary) => {
      const message = binary ? null : JSON.parse(data.toString());
      if (message?.type === 'recording') pushed.push(message.event.id);
    });
    try {
      await waitFor(async () => (await api(`${server.url}/api/status`, 'GET')).body.fps > 0, { timeoutMs: 20_000, intervalMs: 250, what: 'frames' });
      expect(ws.readyState).toBe(WebSocket.OPEN);
      expect((await api(`${server.url}/api/record/start`, 'POST')).status).toBe(200);
      await sleep(2000);
      expect((await api(`${server.url}/api/record/stop`, 'POST')).status).toBe(200);
      const photo = (await api(`${server.url}/api/snapshot`, 'POST')).body;
      expect(photo.id).toMatch(/_photo$/);
      // The demo scene moves from 10 s after start, for 4 s: one motion clip.
      const motion = await waitFor(async () => (await api(`${server.url}/api/events?kind=motion`, 'GET')).body.items[0], { timeoutMs: 90_000, intervalMs: 500, what: 'a motion clip' });
      expect((await api(`${server.url}/api/memories`, 'POST', { seconds: 6 })).status).toBe(202);
      await waitFor(async () => (await api(`${server.url}/api/events?kind=memory`, 'GET')).body.items[0], { timeoutMs: 90_000, intervalMs: 500, what: 'a memory' });
      // Edits that are not new recordings.
      expect((await api(`${server.url}/api/events/${motion.id}`, 'PATCH', { favorite: true })).status).toBe(200);
      expect((await api(`${server.url}/api/events/${motion.id}`, 'PATCH', { favorite: false })).status).toBe(200);
      const sidecar = join(dataDir, server.runtime.store().get(photo.id)!.files.sidecar);
      utimesSync(sidecar, new Date(), new Date());
      writeFileSync(sidecar, readFileSync(sidecar));
      // Detection off (kept in settings.json, so the servers below record only what they are
      // asked to); segments off, so the last one closes while everything is still running; then let the
      // uploads finish and the watcher rescan several times.
      expect((await api(`${server.url}/api/motion`, 'POST', { enabled: false })).status).toBe(200);
      expect((await api(`${server.url}/api/continuous`, 'POST', { enabled: false })).status).toBe(200);
      await waitFor(async () => {
        const status = (await api(`${server.url}/api/status`, 'GET')).body;
        return status.integrations.upload.queued === 0 && status.integrations.webhooks.queued === 0 && !status.recording;
      }, { timeoutMs: 180_000, intervalMs: 500, what: 'uploads and deliveries to settle' });
      await sleep(6000);
      const indexed = (await api(`${server.url}/api/events?limit=500&kind=motion,manual,segment,memory,photo`, 'GET')).body.items.map((e: { id: string }) => e.id).sort();
      expect([...tally(pushed).entries()].sort()).toEqual(indexed.map((id: string) => [id, 1]));
    } finally {
      await server.stop();
    }

    // 2. Offline: a rebuild of the index, and a server killed with SIGKILL mid-recording.
    const io = memoryIo();
    expect(await main(['reindex', '--data', dataDir], io)).toBe(0);
    process.env.PATH = `${FAKE_BIN}${delimiter}${savedPath}`;
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'serve', '--source', 'rpicam:320x240@15', '--port', String(port), '--host', '127.0.0.1', '--data', dataDir], { env: { ...process.env, PREROLL_LOG_LEVEL: 'warn' }, stdio: 'ignore' });
    try {
      const url = `http://127.0.0.1:${port}`;
      await waitFor(async () => (await api(`${url}/api/status`, 'GET').catch(() => null))?.body?.fps > 0, { timeoutMs: 20_000, intervalMs: 250, what: 'the second server' });
      await sleep(1500);
      expect((await api(`${url}/api/record/start`, 'POST')).status).toBe(200);
      await waitFor(() => readdirSync(join(dataDir, 'events'), { recursive: true }).some((f) => String(f).endsWith('.part.mp4')), { timeoutMs: 10_000, what: 'a partial clip' });
      await sleep(2500);
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }

    // 3. Restart with offload on: the recovered clip is announced once, a new photo is uploaded
    // once and its local copy removed; nothing that was announced before goes out again.
    server = await startTestServer({ server: { dataDir }, camera: { source: 'rpicam:320x240@15' }, integrations: { ...integrations, upload: { ...integrations.upload, deleteLocalAfterUpload: true } }, recording: { memory: { windowS: 0.5 } } });
    try {
      await waitFor(async () => (await api(`${server.url}/api/status`, 'GET')).body.fps > 0, { timeoutMs: 20_000, intervalMs: 250, what: 'frames after the restart' });
      const photo = (await api(`${server.url}/api/snapshot`, 'POST')).body;
      await waitFor(async () => (await api(`${server.url}/api/events/${photo.id}`, 'GET')).body.offloaded, { timeoutMs: 30_000, intervalMs: 500, what: 'the offload' });
      await waitFor(async () => {
        const status = (await api(`${server.url}/api/status`, 'GET')).body;
        return status.integrations.upload.queued === 0 && status.integrations.webhooks.queued === 0;
      }, { timeoutMs: 180_000, intervalMs: 500, what: 'uploads and deliveries to settle after the restart' });
      await sleep(6000);
    } finally {
      await server.stop();
    }

    // Count: every recording in the index, exactly once everywhere; nothing else.
    const index = (await import('@preroll/store')).openStore;
    const store = await index({ dataDir, retention: { maxDiskPct: null, maxTotalBytes: null, maxAgeDays: null } });
    const all = store.list({ limit: 500 }).items;
    await store.close();
    const kinds = new Set(all.map((r) => r.kind));
    for (const kind of ALL_KINDS) expect(kinds).toContain(kind);
    const recovered = all.filter((r) => r.kind === 'manual').length;
    expect(recovered).toBe(2);
    const ids = all.map((r) => r.id).sort();
    expect(posted.every((p) => p.valid && p.event === 'recording.finished')).toBe(true);
    const hooksById = tally(posted.map((p) => p.id));
    const mqttById = tally(published);
    const log = existsSync(rcloneLog) ? readFileSync(rcloneLog, 'utf8') : '';
    const copies = log.split('\n').filter((line) => /: Copied \(/.test(line));
    for (const record of all) {
      const file = record.files.clip.split('/').pop() as string;
      expect({ id: record.id, hooks: hooksById.get(record.id) ?? 0, mqtt: mqttById.get(record.id) ?? 0, uploads: copies.filter((line) => line.includes(file)).length }).toEqual({ id: record.id, hooks: 1, mqtt: 1, uploads: 1 });
    }
    expect([...hooksById.keys()].sort()).toEqual(ids);
    expect([...mqttById.keys()].sort()).toEqual(ids);
    expect(copies).toHaveLength(ids.length);
  }, 600_000);
});
