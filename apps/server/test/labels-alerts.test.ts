/**
 * Labels put to use, end to end on the demo camera: the early classification of each motion
 * event feeds an alert rule by label (one alert for the person event, none for the "motion
 * only" one), and MQTT / webhooks carry the labels, with the final classification published
 * once more as an update. The detector is a scripted one behind the labels' classifier seam
 * (the real model is exercised in labels.test.ts and labels-early.test.ts); camera, recorder,
 * SQLite, HTTP, MQTT broker and ntfy stand-in are real. Counts are exact.
 */

import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'mqtt';
import type { Classifier, ClassifierStats, Detection, EventClassification, RgbImage } from '@preroll/classify';
import type { EventLabel } from '@preroll/layout';
import { spawnChild, type ChildHandle } from '@preroll/process';
import { freePort, startStandIn, type StandIn } from '@preroll/testkit';
import { request, startTestServer, waitFor } from './server-helpers';

/**
 * A deterministic detector: the n-th early pass sees `early[n]`, the n-th event classification
 * `final[n]`. It records what it was given, so the test can check the early frame and crop.
 */
function scriptedClassifier(script: { early: Detection[][]; final: EventLabel[][] }): Classifier & { inputs: { width: number; height: number; crop: unknown }[] } {
  let detects = 0;
  let events = 0;
  let closed = false;
  const inputs: { width: number; height: number; crop: unknown }[] = [];
  const stats = (): ClassifierStats => ({ loaded: true, backend: 'scripted', loadMs: 0, events, inferences: detects + events, failures: 0, lastEventMs: 1, meanEventMs: 1, meanInferenceMs: 1, queued: 0 });
  return {
    inputs,
    async detect(source, crop) {
      if (closed) throw Object.assign(new Error('closed'), { code: 'CLASSIFY_CLOSED' });
      const image = source as RgbImage;
      inputs.push({ width: image.width, height: image.height, crop: crop ?? null });
      expect(image.data.length).toBe(image.width * image.height * 3);
      return script.early[detects++] ?? [];
    },
    async classifyEvent(): Promise<EventClassification> {
      if (closed) throw Object.assign(new Error('closed'), { code: 'CLASSIFY_CLOSED' });
      return { labels: script.final[events++] ?? [], ms: 1, inferences: 1 };
    },
    stats,
    async close() {
      closed = true;
    },
  };
}

describe('labels in alerts, MQTT and webhooks (demo camera)', () => {
  let broker: ChildHandle;
  let brokerDir: string;
  let brokerPort = 0;
  let hooks: Server;
  let ntfy: StandIn;
  const deliveries: { type: string; body: any; valid: boolean }[] = [];
  const secret = 'a webhook secret of some length';

  beforeAll(async () => {
    brokerDir = mkdtempSync(join(tmpdir(), 'preroll-mosquitto-'));
    brokerPort = await freePort();
    writeFileSync(join(brokerDir, 'm.conf'), `listener ${brokerPort} 127.0.0.1\nallow_anonymous true\npersistence false\n${process.getuid?.() === 0 ? 'user root\n' : ''}`);
    broker = spawnChild({ name: 'mosquitto', command: 'mosquitto', args: ['-c', join(brokerDir, 'm.conf')], stdio: ['ignore', 'ignore', 'pipe'] });
    hooks = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const stamp = String(req.headers['x-preroll-timestamp']);
        const expected = `sha256=${createHmac('sha256', secret).update(`${stamp}.${body}`).digest('hex')}`;
        deliveries.push({ type: String(req.headers['x-preroll-event']), body: JSON.parse(body), valid: req.headers['x-preroll-signature'] === expected });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
    ntfy = await startStandIn();
  });
  afterAll(async () => {
    await broker.stop({ graceMs: 0 });
    await new Promise((r) => hooks.close(r));
    await ntfy.close();
    rmSync(brokerDir, { recursive: true, force: true });
  });

  test('a person event alerts once ("Person at cam"), a motion-only event not at all; MQTT and webhooks carry the labels, the final ones once more', async () => {
    const personBox = { x: 100, y: 60, width: 80, height: 150 };
    const classifier = scriptedClassifier({
      early: [[{ label: 'person', subLabel: 'person', confidence: 0.81, box: personBox }], []],
      final: [[{ label: 'animal', subLabel: 'dog', confidence: 0.55, box: [20, 200, 60, 40] }], []],
    });
    const server = await startTestServer({
      camera: { source: 'demo', width: 480, height: 270, fps: 15 },
      labels: { enabled: true, earlyDelayMs: 1000 },
      arming: { mode: 'away' },
      integrations: {
        notify: { ntfy: { serverUrl: ntfy.url, topic: 'people', labels: ['person'], cooldownS: 0, updateIntervalS: 0, labelWaitMs: 20_000 } },
        mqtt: { url: `mqtt://127.0.0.1:${brokerPort}` },
        webhooks: { urls: [`http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook`], secret, eventKinds: ['motion'] },
      },
      classifier,
    });
    const triggers: number[] = [];
    const detach = server.runtime.onMotion((active, atMs) => {
      if (active) triggers.push(atMs);
    });
    const events: any[] = [];
    const labelOn: string[] = [];
    const client = connect(`mqtt://127.0.0.1:${brokerPort}`);
    try {
      client.on('message', (topic, payload) => {
        if (topic === 'preroll/cam/event') events.push(JSON.parse(payload.toString()));
        if (topic.startsWith('preroll/cam/label/')) labelOn.push(`${topic.slice('preroll/cam/label/'.length)}=${payload.toString()}`);
      });
      // The client retries until the broker started in beforeAll listens.
      await new Promise<void>((r) => client.once('connect', () => r()));
      await new Promise<void>((r) => client.subscribe(['preroll/cam/event', 'preroll/cam/label/#'], () => r()));

      // The demo's object crosses at seconds 10-14 and 30-34: two motion events, both labelled.
      await waitFor(async () => events.filter((e) => e.type === 'recording.labelled').length >= 2, 150_000, 'two motion events labelled');
      await server.alerts.notifier?.idle();
      await waitFor(async () => deliveries.length >= 4, 20_000, 'four webhooks');
      expect(triggers).toHaveLength(2);

      // The early pass read the camera's frame, cropped around the motion boxes.
      expect(classifier.inputs).toHaveLength(2);
      for (const input of classifier.inputs) expect([input.width, input.height]).toEqual([480, 270]);

      // One alert, for the person; the motion-only event skipped by the label rule.
      const alerts = ntfy.received.filter((r) => r.url === '/people');
      expect(alerts).toHaveLength(1);
      expect(alerts[0].headers['x-title']).toBe('Person at cam');
      const channel = (await request(`${server.url}/api/status`, 'GET')).body.alerts.notify.channels[0];
      expect([channel.alerts, channel.skipped.label]).toEqual([1, 1]);
      const latencyMs = alerts[0].arrivedMs - triggers[0];
      const status = (await request(`${server.url}/api/status`, 'GET')).body.labels;
      expect(status.early).toMatchObject({ enabled: true, delayMs: 1000, events: 2, failures: 0 });
      process.stdout.write(`trigger-to-alert latency with a label rule: ${latencyMs} ms (early labels ${status.early.lastMs} / mean ${status.early.meanMs} ms after the trigger, delay 1000 ms)\n`);

      // MQTT: per event the finished summary with the early labels, then the final labels once.
      expect(events.map((e) => [e.type, e.labels.map((l: EventLabel) => l.subLabel)])).toEqual([
        ['recording.finished', ['person']],
        ['recording.labelled', ['person', 'dog']],
        ['recording.finished', []],
        ['recording.labelled', []],
      ]);
      expect(events[1].id).toBe(events[0].id);
      expect(labelOn).toEqual(['person=ON', 'person=ON', 'animal=ON']);
      // Webhooks: the same four, signed, typed in the header.
      expect(deliveries.map((d) => [d.type, d.body.type, d.body.labels.length])).toEqual([
        ['recording.finished', 'recording.finished', 1],
        ['recording.labelled', 'recording.labelled', 2],
        ['recording.finished', 'recording.finished', 0],
        ['recording.labelled', 'recording.labelled', 0],
      ]);
      expect(deliveries.every((d) => d.valid)).toBe(true);

      // The index: the final labels merged with the early ones; `label=none` lists the motion-only event.
      const person = (await request(`${server.url}/api/events?label=person`, 'GET')).body.items;
      expect(person).toHaveLength(1);
      expect(person[0].labels.map((l: EventLabel) => [l.subLabel, l.confidence])).toEqual([
        ['person', 0.81],
        ['dog', 0.55],
      ]);
      expect((await request(`${server.url}/api/events?label=none`, 'GET')).body.items).toHaveLength(1);
    } finally {
      detach();
      client.end(true);
      await server.stop();
    }
  }, 240_000);

  test('with the real model: the alert of a channel with a label rule waits for the early labels; the added latency is measured against a channel without one', async () => {
    const BOT = '123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
    const server = await startTestServer({
      camera: { source: 'demo', width: 480, height: 270, fps: 15 },
      labels: { enabled: true },
      arming: { mode: 'away' },
      integrations: {
        notify: {
          // The demo's moving block is no COCO object: the early labels are [] and "anything but a cat" alerts once they are known.
          ntfy: { serverUrl: ntfy.url, topic: 'not-the-cat', exceptLabels: ['cat'], labelWaitMs: 30_000 },
          telegram: { botToken: BOT, chatId: 7, apiBaseUrl: `${ntfy.url}/tg` },
        },
      },
    });
    const triggers: number[] = [];
    const detach = server.runtime.onMotion((active, atMs) => {
      if (active) triggers.push(atMs);
    });
    try {
      await waitFor(async () => ntfy.received.some((r) => r.url === '/not-the-cat'), 120_000, 'the alert after the early labels');
      await server.alerts.notifier?.idle();
      const labelled = ntfy.received.filter((r) => r.url === '/not-the-cat');
      const plain = ntfy.received.filter((r) => r.url.startsWith('/tg/'));
      expect(labelled).toHaveLength(1);
      expect(plain).toHaveLength(1);
      expect(labelled[0].headers['x-title']).toBe('Motion: cam');
      // On a very loaded machine the wait (30 s at most) may run out first; the early labels still come, once.
      const early = await waitFor(async () => {
        const labels = (await request(`${server.url}/api/status`, 'GET')).body.labels;
        return labels.early.events + labels.early.failures >= 1 ? labels : null;
      }, 120_000, 'the early labels');
      expect(early.early).toMatchObject({ events: 1, failures: 0 });
      const withRule = labelled[0].arrivedMs - triggers[0];
      const without = plain[0].arrivedMs - triggers[0];
      process.stdout.write(
        `trigger-to-alert, real model: ${withRule} ms with a label rule, ${without} ms without (added ${withRule - without} ms); early labels ${early.early.lastMs} ms after the trigger (delay ${early.early.delayMs} ms), one pass ${early.meanInferenceMs} ms, model load ${early.loadMs} ms\n`,
      );
    } finally {
      detach();
      await server.stop();
    }
  }, 240_000);
});
