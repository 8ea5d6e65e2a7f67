import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'mqtt';
import { spawnChild, type ChildHandle } from '@preroll/process';
import { freePort } from '@preroll/testkit';
import { recordingPaths } from '@preroll/layout';
import { request, startTestServer, waitFor } from './server-helpers';


describe('integrations wired into the server', () => {
  let broker: ChildHandle;
  let brokerPort = 0;
  let hooks: Server;
  const deliveries: { body: any; valid: boolean }[] = [];
  const secret = 'a webhook secret of some length';

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'preroll-mosquitto-'));
    brokerPort = await freePort();
    writeFileSync(join(dir, 'm.conf'), `listener ${brokerPort} 127.0.0.1\nallow_anonymous true\npersistence false\n${process.getuid?.() === 0 ? 'user root\n' : ''}`);
    broker = spawnChild({ name: 'mosquitto', command: 'mosquitto', args: ['-c', join(dir, 'm.conf')], stdio: ['ignore', 'ignore', 'pipe'] });
    hooks = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const stamp = String(req.headers['x-preroll-timestamp']);
        const expected = `sha256=${createHmac('sha256', secret).update(`${stamp}.${body}`).digest('hex')}`;
        deliveries.push({ body: JSON.parse(body), valid: req.headers['x-preroll-signature'] === expected });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
    await new Promise((r) => setTimeout(r, 300));
  });
  afterAll(async () => {
    await broker.stop({ graceMs: 0 });
    await new Promise((r) => hooks.close(r));
  });

  test('MQTT states and commands, Home Assistant discovery, a signed webhook and an rclone upload for a new recording', async () => {
    const remoteDir = mkdtempSync(join(tmpdir(), 'preroll-remote-'));
    process.env.RCLONE_CONFIG_SRVTEST_TYPE = 'local';
    const server = await startTestServer({
      integrations: {
        mqtt: { url: `mqtt://127.0.0.1:${brokerPort}`, scoreIntervalMs: 200 },
        webhooks: { urls: [`http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook`], secret },
        upload: { remote: `srvtest:${remoteDir}`, kinds: ['photo', 'manual'] },
      },
    });
    const seen = new Map<string, string>();
    const client = connect(`mqtt://127.0.0.1:${brokerPort}`);
    try {
      client.on('message', (topic, payload) => seen.set(topic, payload.toString()));
      await new Promise<void>((r) => client.once('connect', () => r()));
      client.subscribe(['preroll/cam/#', 'homeassistant/#']);
      await waitFor(async () => seen.get('preroll/cam/availability') === 'online', 10_000, 'availability online');
      await waitFor(async () => [...seen.keys()].some((t) => t.startsWith('homeassistant/') && t.endsWith('/config')), 10_000, 'discovery');

      // A command from Home Assistant reaches the detector.
      client.publish('preroll/cam/set/trigger_level', '42');
      await waitFor(async () => (await request(`${server.url}/api/status`, 'GET')).body.triggerLevel === 42, 10_000, 'the trigger level set over MQTT');

      // A new recording: summary on MQTT, a signed webhook, an upload to the remote.
      await waitFor(async () => (await request(`${server.url}/api/status`, 'GET')).body.fps > 0, 10_000, 'frames');
      const photo = (await request(`${server.url}/api/snapshot`, 'POST')).body;
      await waitFor(async () => deliveries.some((d) => JSON.stringify(d.body).includes(photo.id)), 15_000, 'the webhook');
      expect(deliveries.every((d) => d.valid)).toBe(true);
      await waitFor(async () => (await request(`${server.url}/api/events/${photo.id}`, 'GET')).body.uploadState === 'uploaded', 20_000, 'the upload');
      // The upload rewrote the sidecar twice and the watcher saw it: still one delivery.
      await new Promise((r) => setTimeout(r, 3000));
      expect(deliveries.filter((d) => d.body.id === photo.id)).toHaveLength(1);
      expect(JSON.stringify(readdirSync(remoteDir, { recursive: true }))).toContain(`${photo.id}.jpg`);
      const status = (await request(`${server.url}/api/status`, 'GET')).body;
      expect(status.integrations.mqtt.connected).toBe(true);
    } finally {
      client.end(true);
      await server.stop();
      delete process.env.RCLONE_CONFIG_SRVTEST_TYPE;
    }
  }, 90_000);

  test('delete-local-after-upload: the clip goes to the remote, the recording stays in the gallery, also after a restart', async () => {
    const remoteDir = mkdtempSync(join(tmpdir(), 'preroll-remote-'));
    const dataDir = mkdtempSync(join(tmpdir(), 'preroll-offload-'));
    process.env.RCLONE_CONFIG_SRVTEST_TYPE = 'local';
    const config = {
      server: { dataDir },
      integrations: { upload: { remote: `srvtest:${remoteDir}`, kinds: ['photo' as const], deleteLocalAfterUpload: true } },
    };
    let server = await startTestServer(config);
    try {
      await waitFor(async () => (await request(`${server.url}/api/status`, 'GET')).body.fps > 0, 10_000, 'frames');
      const photo = (await request(`${server.url}/api/snapshot`, 'POST')).body;
      const event = await waitFor(async () => {
        const e = (await request(`${server.url}/api/events/${photo.id}`, 'GET')).body;
        return e.offloaded ? e : null;
      }, 20_000, 'the upload and the local delete');
      expect(event).toMatchObject({ uploadState: 'uploaded', offloaded: { remote: expect.stringMatching(new RegExp(`^srvtest:.*${photo.id}\\.jpg$`)) } });
      expect(event.urls).toMatchObject({ clip: null, snapshot: null, thumbnail: expect.any(String) });
      // On the remote, gone here; the thumbnail stays for the gallery.
      expect(JSON.stringify(readdirSync(remoteDir, { recursive: true }))).toContain(`${photo.id}.jpg`);
      expect(existsSync(join(dataDir, recordingPaths(photo.id).snapshot))).toBe(false);
      expect(existsSync(join(dataDir, recordingPaths(photo.id).sidecar))).toBe(true);
      const gone = await request(`${server.url}/api/events/${photo.id}/snapshot`, 'GET');
      expect(gone).toMatchObject({ status: 410, body: { code: 'CLIP_OFFLOADED' } });
      expect((await fetch(`${server.url}${event.urls.thumbnail}`)).status).toBe(200);
      expect(await request(`${server.url}/api/events/${photo.id}/upload`, 'POST')).toMatchObject({ status: 409, body: { code: 'UPLOAD_NOT_LOCAL' } });

      // A restart reconciles the index with the disk: the row without its clip stays.
      await server.stop();
      server = await startTestServer(config);
      await new Promise((r) => setTimeout(r, 1000));
      const again = (await request(`${server.url}/api/events/${photo.id}`, 'GET')).body;
      expect(again).toMatchObject({ id: photo.id, offloaded: event.offloaded });
      expect((await request(`${server.url}/api/events?kind=photo`, 'GET')).body.items.map((e: { id: string }) => e.id)).toContain(photo.id);
    } finally {
      await server.stop();
      delete process.env.RCLONE_CONFIG_SRVTEST_TYPE;
    }
  }, 90_000);

  test('an invalid integrations section is refused with its key named', async () => {
    await expect(startTestServer({ integrations: { mqtt: { url: 'mqtt://127.0.0.1:1883', qos: 7 } } })).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/integrations.*qos/) });
  });
});
