/**
 * MQTT against a real mosquitto: discovery documents, state topics, commands (good, bad and
 * retained), event summary with the snapshot bytes, last will on an abrupt disconnect,
 * reconnection, password authentication, discovery removal and the bounded outbox.
 */

import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { createIntegrations, type IntegrationsConfig } from '../src';
import {
  captureLogger,
  freePort,
  makeCertificate,
  makeJpeg,
  makeRecord,
  recordingControl,
  startBroker,
  startProxy,
  subscribe,
  tempDir,
  waitFor,
  type Broker,
  type Subscriber,
} from './helpers';

const PREFIX = 'preroll/cam';

let broker: Broker;
let dir: string;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  broker = await startBroker();
  dir = await tempDir('preroll-mqtt-test-');
});

afterEach(async () => {
  while (cleanups.length) await (cleanups.pop() as () => Promise<unknown>)();
});

afterAll(async () => {
  await broker.stop();
  await fsp.rm(dir, { recursive: true, force: true });
});

async function sub(filters: string[], url = broker.url): Promise<Subscriber> {
  const s = await subscribe(url, filters);
  cleanups.push(() => s.close());
  return s;
}

function integrations(mqtt: IntegrationsConfig['mqtt'], extra: Partial<Parameters<typeof createIntegrations>[0]> = {}) {
  const { control, calls } = recordingControl();
  const log = captureLogger();
  const it = createIntegrations({ config: { mqtt }, dataDir: dir, cameraId: 'cam', control, logger: log.logger, softwareVersion: '1.2.3', ...extra });
  cleanups.push(() => it.stop());
  return { it, calls, log };
}

async function clearRetained(s: Subscriber, topics: string[]): Promise<void> {
  for (const topic of topics) await s.publish(topic, '', { retain: true });
}

describe('MQTT with a real mosquitto', () => {
  test('publishes Home Assistant discovery, availability and the current states on connect', async () => {
    const s = await sub(['homeassistant/#', `${PREFIX}/#`]);
    const { it } = integrations({ url: broker.url, reconnectMinMs: 100 });
    it.settings({ triggerLevel: 6, motionEnabled: true });
    it.recording(false);
    it.motion(false, new Date());
    await it.start();
    await waitFor(() => s.on(`${PREFIX}/availability`).some((m) => m.text === 'online'), 'online');
    await waitFor(() => s.messages.filter((m) => m.topic.startsWith('homeassistant/')).length >= 6, 'six discovery documents');

    const discovery = new Map(s.messages.filter((m) => m.topic.startsWith('homeassistant/')).map((m) => [m.topic, JSON.parse(m.text) as Record<string, any>]));
    expect([...discovery.keys()].sort()).toEqual(
      [
        'homeassistant/binary_sensor/preroll_cam/motion/config',
        'homeassistant/image/preroll_cam/snapshot/config',
        'homeassistant/number/preroll_cam/trigger_level/config',
        'homeassistant/sensor/preroll_cam/score/config',
        'homeassistant/switch/preroll_cam/detection/config',
        'homeassistant/switch/preroll_cam/recording/config',
      ].sort(),
    );
    const docs = [...discovery.values()];
    expect(new Set(docs.map((d) => d.unique_id)).size).toBe(6);
    for (const d of docs) {
      expect(d.device).toEqual({ identifiers: ['preroll_cam'], name: 'Preroll cam', manufacturer: 'Preroll', model: 'Motion recorder (camera cam)', sw_version: '1.2.3' });
      expect(d.availability_topic).toBe(`${PREFIX}/availability`);
    }
    const motion = discovery.get('homeassistant/binary_sensor/preroll_cam/motion/config')!;
    expect(motion).toMatchObject({ device_class: 'motion', state_topic: `${PREFIX}/motion`, payload_on: 'ON', payload_off: 'OFF' });
    expect(discovery.get('homeassistant/number/preroll_cam/trigger_level/config')).toMatchObject({
      command_topic: `${PREFIX}/set/trigger_level`,
      state_topic: `${PREFIX}/trigger_level`,
      min: 0.1,
      max: 100,
      step: 0.1,
    });
    expect(discovery.get('homeassistant/switch/preroll_cam/detection/config')).toMatchObject({ command_topic: `${PREFIX}/set/motion`, state_topic: `${PREFIX}/detection` });
    expect(discovery.get('homeassistant/switch/preroll_cam/recording/config')).toMatchObject({ command_topic: `${PREFIX}/set/record`, state_topic: `${PREFIX}/recording` });
    expect(discovery.get('homeassistant/image/preroll_cam/snapshot/config')).toMatchObject({ image_topic: `${PREFIX}/snapshot`, content_type: 'image/jpeg' });
    expect(discovery.get('homeassistant/sensor/preroll_cam/score/config')).toMatchObject({ state_topic: `${PREFIX}/score`, state_class: 'measurement' });

    // The states set before the connection arrive once connected.
    await waitFor(() => s.last(`${PREFIX}/trigger_level`) !== undefined && s.last(`${PREFIX}/detection`) !== undefined, 'states');
    expect(s.last(`${PREFIX}/trigger_level`)!.text).toBe('6');
    expect(s.last(`${PREFIX}/detection`)!.text).toBe('ON');
    expect(s.last(`${PREFIX}/recording`)!.text).toBe('OFF');
    expect(s.last(`${PREFIX}/motion`)!.text).toBe('OFF');

    // Live changes.
    it.motion(true, new Date());
    it.recording(true);
    await waitFor(() => s.last(`${PREFIX}/motion`)?.text === 'ON' && s.last(`${PREFIX}/recording`)?.text === 'ON', 'motion and recording ON');

    // A burst of per-frame scores becomes one message (throttled to one per second).
    for (let i = 0; i < 200; i++) it.score(i / 10, 6);
    await waitFor(() => s.on(`${PREFIX}/score`).length >= 1, 'a score');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(s.on(`${PREFIX}/score`).map((m) => m.text)).toEqual(['0']);

    // Retained: a subscriber arriving later sees the discovery and the last states.
    const late = await sub(['homeassistant/#', `${PREFIX}/motion`, `${PREFIX}/availability`]);
    await waitFor(() => late.last(`${PREFIX}/availability`) !== undefined, 'retained availability');
    expect(late.messages.filter((m) => m.topic.startsWith('homeassistant/') && m.retain)).toHaveLength(6);
    expect(late.last(`${PREFIX}/motion`)).toMatchObject({ text: 'ON', retain: true });

    await it.stop();
    await waitFor(() => s.last(`${PREFIX}/availability`)?.text === 'offline', 'offline after stop');
    expect(it.stats().mqtt).toMatchObject({ connected: false, connects: 1, dropped: 0 });
  });

  test('commands call the control callbacks; bad and retained payloads are ignored with a code', async () => {
    const s = await sub([`${PREFIX}/#`]);
    // A retained command would be replayed at every reconnect: the bridge receives it (retain
    // flag set) when it subscribes, and refuses it.
    await s.publish(`${PREFIX}/set/record`, 'ON', { retain: true });
    cleanups.push(() => s.publish(`${PREFIX}/set/record`, '', { retain: true }));
    const { it, calls, log } = integrations({ url: broker.url });
    it.settings({ triggerLevel: 6, motionEnabled: true });
    await it.start();
    await waitFor(() => it.stats().mqtt!.connected && s.last(`${PREFIX}/availability`)?.text === 'online', 'connected');

    await s.publish(`${PREFIX}/set/trigger_level`, '12.5');
    await waitFor(() => s.last(`${PREFIX}/trigger_level`)?.text === '12.5', 'trigger level 12.5 published');
    // The control clamps to 50 (a stand-in for the detector's bounds): the state shows what was applied.
    await s.publish(`${PREFIX}/set/trigger_level`, '{"value": 80}');
    await waitFor(() => s.last(`${PREFIX}/trigger_level`)?.text === '50', 'applied level published');
    await s.publish(`${PREFIX}/set/motion`, 'OFF');
    await waitFor(() => s.last(`${PREFIX}/detection`)?.text === 'OFF', 'detection OFF');
    await s.publish(`${PREFIX}/set/record`, 'on');
    await s.publish(`${PREFIX}/set/record`, 'OFF');
    await waitFor(() => calls.length === 5, 'five control calls');
    expect(calls).toEqual([
      ['setTriggerLevel', 12.5],
      ['setTriggerLevel', 80],
      ['setMotionEnabled', false],
      ['startManualRecording', null],
      ['stopManualRecording', null],
    ]);

    const bad: Array<[string, string | Buffer]> = [
      ['set/trigger_level', 'abc'],
      ['set/trigger_level', '1e9'],
      ['set/trigger_level', '-3'],
      ['set/trigger_level', ''],
      ['set/motion', 'MAYBE'],
      ['set/record', 'x'.repeat(100)],
      ['set/record', Buffer.from([0xff, 0xfe, 0x00])],
    ];
    for (const [topic, payload] of bad) await s.publish(`${PREFIX}/${topic}`, payload);
    await waitFor(() => it.stats().mqtt!.rejectedCommands === bad.length + 1, 'all bad commands rejected');
    expect(log.codes().filter((c) => c === 'MQTT_BAD_PAYLOAD')).toHaveLength(bad.length);
    expect(log.codes()).toContain('MQTT_RETAINED_COMMAND');
    expect(calls).toHaveLength(5);

    // Still alive and obeying after the garbage.
    await s.publish(`${PREFIX}/set/motion`, 'ON');
    await waitFor(() => s.last(`${PREFIX}/detection`)?.text === 'ON', 'detection back ON');
    expect(it.stats().mqtt).toMatchObject({ connected: true, commands: 6 });
  });

  test('a control callback that throws is logged and the bridge keeps going', async () => {
    const s = await sub([`${PREFIX}/#`]);
    const log = captureLogger();
    const it = createIntegrations({
      config: { mqtt: { url: broker.url } },
      dataDir: dir,
      cameraId: 'cam',
      logger: log.logger,
      control: {
        setTriggerLevel() {
          throw new Error('detector is gone');
        },
        setMotionEnabled: (on) => on,
        startManualRecording: () => false,
        stopManualRecording: () => undefined,
      },
    });
    cleanups.push(() => it.stop());
    await it.start();
    await waitFor(() => it.stats().mqtt!.connected, 'connected');
    await s.publish(`${PREFIX}/set/trigger_level`, '7');
    await waitFor(() => log.codes().includes('MQTT_COMMAND_FAILED'), 'MQTT_COMMAND_FAILED logged');
    await s.publish(`${PREFIX}/set/motion`, 'OFF');
    await waitFor(() => s.last(`${PREFIX}/detection`)?.text === 'OFF', 'next command works');
  });

  test('a finished recording publishes its summary and the snapshot JPEG bytes', async () => {
    const s = await sub([`${PREFIX}/event`, `${PREFIX}/snapshot`]);
    cleanups.push(() => clearRetained(s, [`${PREFIX}/snapshot`]));
    const jpeg = await makeJpeg(path.join(dir, 'snap.jpg'));
    const { it } = integrations({ url: broker.url });
    await it.start();
    await waitFor(() => it.stats().mqtt!.connected, 'connected');
    const record = makeRecord({ peakScore: 77.25 });
    it.recordingFinished({ record, snapshotPath: path.join(dir, 'snap.jpg'), clipPath: path.join(dir, 'clip.mp4') });
    // A segment is published too (every kind by default) but has no snapshot.
    it.recordingFinished({ record: makeRecord({ id: '2024-05-01_12-01-00-000_segment', kind: 'segment' }), snapshotPath: null, clipPath: path.join(dir, 'seg.mp4') });
    await waitFor(() => s.on(`${PREFIX}/event`).length === 2 && s.on(`${PREFIX}/snapshot`).length === 1, 'two events and one snapshot');
    const summary = JSON.parse(s.on(`${PREFIX}/event`)[0].text);
    expect(summary).toMatchObject({
      type: 'recording.finished',
      id: record.id,
      camera: 'cam',
      kind: 'motion',
      peakScore: 77.25,
      durationS: 8,
      links: { clip: `/api/events/${record.id}/clip`, snapshot: `/api/events/${record.id}/snapshot` },
    });
    expect(s.on(`${PREFIX}/event`)[0].retain).toBe(false);
    expect(JSON.parse(s.on(`${PREFIX}/event`)[1].text).kind).toBe('segment');
    const image = s.on(`${PREFIX}/snapshot`)[0];
    expect(Buffer.compare(image.payload, jpeg)).toBe(0);
    expect(image.payload.subarray(0, 2).toString('hex')).toBe('ffd8');
  });

  test('an abrupt disconnect makes the broker publish the last will; the bridge reconnects and republishes', async () => {
    const proxy = await startProxy(broker.port);
    cleanups.push(() => proxy.close());
    const s = await sub([`${PREFIX}/availability`, `${PREFIX}/motion`, `${PREFIX}/event`]);
    const { it, log } = integrations({ url: proxy.url, reconnectMinMs: 200, reconnectMaxMs: 1000, keepaliveS: 5 });
    await it.start();
    await waitFor(() => s.last(`${PREFIX}/availability`)?.text === 'online', 'online');
    it.motion(true, new Date());
    await waitFor(() => s.last(`${PREFIX}/motion`)?.text === 'ON', 'motion ON');
    const before = s.messages.length;

    proxy.cut();
    await waitFor(() => s.messages.slice(before).some((m) => m.topic === `${PREFIX}/availability` && m.text === 'offline'), 'last will offline');
    // While the connection is down the news still arrives: the event waits in the outbox.
    it.recordingFinished({ record: makeRecord(), snapshotPath: null, clipPath: '/nonexistent.mp4' });
    it.motion(false, new Date());

    await waitFor(() => it.stats().mqtt!.connects === 2, 'reconnected');
    await waitFor(() => s.last(`${PREFIX}/availability`)?.text === 'online', 'online again');
    await waitFor(() => s.last(`${PREFIX}/motion`)?.text === 'OFF' && s.on(`${PREFIX}/event`).length === 1, 'state and event after reconnect');
    expect(log.codes()).toContain('MQTT_CONNECTION_LOST');
  });

  test('password authentication: wrong credentials keep retrying without crashing, right ones connect', async () => {
    const secured = await startBroker({ users: { preroll: 's3cret-pass' } });
    cleanups.push(() => secured.stop());
    const wrong = integrations({ url: secured.url, username: 'preroll', password: 'nope', reconnectMinMs: 100, reconnectMaxMs: 200 });
    await wrong.it.start();
    await waitFor(() => wrong.log.codes().filter((c) => c === 'MQTT_CONNECT_FAILED').length >= 2, 'two refused attempts');
    expect(wrong.it.stats().mqtt).toMatchObject({ connected: false, connects: 0 });
    expect(wrong.it.stats().mqtt!.lastError).toMatch(/MQTT_CONNECT_FAILED.*(Not authorized|Bad username or password)/);
    // The password never reaches the logs.
    expect(JSON.stringify(wrong.log.lines)).not.toContain('nope');
    await wrong.it.stop();

    const s = await subscribe(secured.url, [`${PREFIX}/availability`], { username: 'preroll', password: 's3cret-pass' });
    cleanups.push(() => s.close());
    const right = integrations({ url: secured.url, username: 'preroll', password: 's3cret-pass' });
    await right.it.start();
    await waitFor(() => s.last(`${PREFIX}/availability`)?.text === 'online', 'online with credentials');
  });

  test('mqtts: trusts the broker through caPath, presents a client certificate, refuses an unknown certificate', async () => {
    const certs = await tempDir('preroll-mqtt-tls-');
    cleanups.push(() => fsp.rm(certs, { recursive: true, force: true }));
    const server = await makeCertificate(certs, 'broker');
    const client = await makeCertificate(certs, 'client');
    const secured = await startBroker({ tls: { ...server, clientCaFile: client.certFile } });
    cleanups.push(() => secured.stop());
    expect(secured.url).toMatch(/^mqtts:/);
    const retry = { reconnectMinMs: 100, reconnectMaxMs: 200 };

    // The broker's self-signed certificate is not trusted by default.
    const untrusted = integrations({ url: secured.url, ...retry, tls: { certPath: client.certFile, keyPath: client.keyFile } });
    await untrusted.it.start();
    await waitFor(() => untrusted.log.codes().filter((c) => c === 'MQTT_CONNECT_FAILED').length >= 2, 'refused: unknown CA');
    expect(untrusted.it.stats().mqtt!.lastError).toMatch(/self.signed|certificate/i);
    await untrusted.it.stop();

    // The broker requires a client certificate.
    const anonymous = integrations({ url: secured.url, ...retry, tls: { caPath: server.certFile } });
    await anonymous.it.start();
    await waitFor(() => anonymous.log.codes().includes('MQTT_CONNECT_FAILED'), 'refused: no client certificate');
    expect(anonymous.it.stats().mqtt).toMatchObject({ connected: false, connects: 0 });
    await anonymous.it.stop();

    const right = integrations({ url: secured.url, tls: { caPath: server.certFile, certPath: client.certFile, keyPath: client.keyFile } });
    await right.it.start();
    await waitFor(() => right.it.stats().mqtt!.connected, 'connected over TLS');
    right.it.motion(true, new Date());
    await waitFor(() => right.it.stats().mqtt!.published > 0, 'a publish acknowledged over TLS');
    await right.it.stop();

    // rejectUnauthorized: false skips the check of the broker (a trusted network only).
    const insecure = integrations({ url: secured.url, tls: { certPath: client.certFile, keyPath: client.keyFile, rejectUnauthorized: false } });
    await insecure.it.start();
    await waitFor(() => insecure.it.stats().mqtt!.connected, 'connected without checking the broker');
    await insecure.it.stop();

    // A CA file that cannot be read stops the start, naming the key.
    expect(() => integrations({ url: secured.url, tls: { caPath: path.join(certs, 'missing.pem') } })).toThrow(
      expect.objectContaining({ code: 'INTEGRATIONS_BAD_CONFIG', value: { key: 'mqtt.tls.caPath', value: path.join(certs, 'missing.pem') } }),
    );
  });

  test('turning discovery off removes the entities (empty retained payloads)', async () => {
    const first = integrations({ url: broker.url, topicPrefix: 'preroll/disc', discovery: { nodeId: 'disc_node' } });
    await first.it.start();
    const watcher = await sub(['homeassistant/+/disc_node/#']);
    await waitFor(() => watcher.messages.filter((m) => m.text.length > 0).length >= 6, 'discovery on');
    await first.it.stop();

    const second = integrations({ url: broker.url, topicPrefix: 'preroll/disc', discovery: { enabled: false, nodeId: 'disc_node' } });
    await second.it.start();
    await waitFor(() => watcher.messages.filter((m) => m.text.length === 0).length === 6, 'six removals');
    // A subscriber arriving now gets no retained discovery: the availability filter comes last in
    // the same SUBSCRIBE, so its retained message arrives after any retained discovery would have.
    const late = await sub(['homeassistant/+/disc_node/#', 'preroll/disc/availability']);
    await waitFor(() => late.last('preroll/disc/availability') !== undefined, 'retained availability');
    expect(late.messages.filter((m) => m.topic.startsWith('homeassistant/'))).toEqual([]);
    await clearRetained(late, ['preroll/disc/availability']);
  });

  test('with the broker unreachable every call returns at once and the outbox stays bounded', async () => {
    const closedPort = await freePort();
    const { it, log } = integrations({ url: `mqtt://127.0.0.1:${closedPort}`, queueMax: 3, reconnectMinMs: 100, reconnectMaxMs: 200, connectTimeoutMs: 1000 });
    await it.start();
    // The calls are synchronous and not awaited: none of them can wait for the broker.
    for (let i = 0; i < 10; i++) {
      it.recordingFinished({ record: makeRecord({ id: `2024-05-01_12-00-0${i}-000_motion` }), snapshotPath: null, clipPath: '/x.mp4' });
      it.motion(i % 2 === 0, new Date());
      it.score(i, 6);
    }
    await waitFor(() => it.stats().mqtt!.dropped === 7, 'seven dropped');
    expect(it.stats().mqtt).toMatchObject({ connected: false, queued: 3, dropped: 7 });
    expect(log.codes()).toContain('MQTT_QUEUE_FULL');
    await waitFor(() => log.codes().filter((c) => c === 'MQTT_CONNECT_FAILED').length >= 2, 'retried connecting');
    const stopAt = Date.now();
    await it.stop();
    expect(Date.now() - stopAt).toBeLessThan(3000);
  });
});
