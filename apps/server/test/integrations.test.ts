import { createHmac } from 'node:crypto';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'mqtt';
import { spawnChild, type ChildHandle } from '@preroll/process';
import { request, startTestServer, waitFor } from './server-helpers';

async function freePort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

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
      expect(JSON.stringify(readdirSync(remoteDir, { recursive: true }))).toContain(`${photo.id}.jpg`);
      const status = (await request(`${server.url}/api/status`, 'GET')).body;
      expect(status.integrations.mqtt.connected).toBe(true);
    } finally {
      client.end(true);
      await server.stop();
      delete process.env.RCLONE_CONFIG_SRVTEST_TYPE;
    }
  }, 90_000);

  test('an invalid integrations section is refused with its key named', async () => {
    await expect(startTestServer({ integrations: { mqtt: { url: 'mqtt://127.0.0.1:1883', qos: 7 } } })).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/integrations.*qos/) });
  });
});
