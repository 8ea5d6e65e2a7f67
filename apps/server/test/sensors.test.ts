import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { gateTriggerLagMs } from '@preroll/detector';
import { ffprobeJson, spawnChild, type ChildHandle } from '@preroll/process';
import { clipStart, createRing } from '@preroll/recorder';
import { freePort } from '@preroll/testkit';
import { parseConfig } from '../src/config';
import { createApiToken } from '../src/http/auth';
import { parseSensorPayload } from '../src/runtime/sensors';
import { request, startTestServer, tempDataDir, waitFor } from './server-helpers';

const FPS = 10;
const CAMERA = { source: 'demo', width: 320, height: 240, fps: FPS };
const PRE_ROLL_MS = 2000;
/** One frame of slack between the cue's wall time and the frames' clock. */
const FRAME_MS = 1000 / FPS;
const WITHIN_S = 4;

type Server = Awaited<ReturnType<typeof startTestServer>>;

async function motionEvents(url: string, headers: Record<string, string> = {}): Promise<any[]> {
  return (await request(`${url}/api/events?kind=motion&limit=500`, 'GET', undefined, headers)).body.items;
}

/** Waits until the pre-roll ring holds a full pre-roll of encoded video. */
async function warmedUp(url: string, headers: Record<string, string> = {}): Promise<void> {
  await waitFor(async () => {
    const status = (await request(`${url}/api/status`, 'GET', undefined, headers)).body;
    return status.captureState === 'running' && status.pipeline.preRoll.spanMs >= PRE_ROLL_MS + 500;
  }, 60_000, 'the pre-roll ring to fill');
}

/** Waits until nothing is being recorded any more and every clip is indexed. */
async function settled(url: string, headers: Record<string, string> = {}): Promise<void> {
  await waitFor(async () => {
    const status = (await request(`${url}/api/status`, 'GET', undefined, headers)).body;
    return !status.recording && !status.motion;
  }, 60_000, 'the recording to finish');
}

/**
 * Checks one recorded clip: it starts with a keyframe, the cue lies at least the pre-roll after
 * its first frame on the capture clock (the sidecar's `triggeredAt`; on a loaded machine the
 * frames' clock may lag the wall clock), ffprobe finds video from the first frame up to past
 * the cue, and the cue is the one the test gave (not before it was given, nor much later).
 */
async function expectPreRoll(dataDir: string, url: string, event: any, cueWallMs: number, headers: Record<string, string> = {}): Promise<void> {
  const sidecar = (await request(`${url}${event.urls.sidecar}`, 'GET', undefined, headers)).body;
  const file = join(dataDir, sidecar.files.clip);
  const doc = await ffprobeJson(file, ['-select_streams', 'v:0', '-show_entries', 'packet=pts_time,flags']);
  const packets = (doc.packets as Array<{ pts_time: string; flags: string }>).map((p) => ({ t: Number(p.pts_time), key: p.flags.startsWith('K') })).sort((a, b) => a.t - b.t);
  expect(packets[0].key).toBe(true);
  const cueInClipMs = Date.parse(sidecar.triggeredAt) - Date.parse(sidecar.startedAt);
  expect(cueInClipMs).toBeGreaterThanOrEqual(PRE_ROLL_MS - FRAME_MS);
  expect(sidecar.preRollMs).toBeGreaterThanOrEqual(PRE_ROLL_MS - FRAME_MS);
  expect((packets[packets.length - 1].t - packets[0].t) * 1000).toBeGreaterThanOrEqual(cueInClipMs);
  expect(Date.parse(sidecar.triggeredAt)).toBeLessThanOrEqual(cueWallMs + 1000);
  expect(Date.parse(sidecar.triggeredAt)).toBeGreaterThanOrEqual(cueWallMs - 30_000);
}

describe('sensor payloads (pure)', () => {
  const plain = { onPayload: 'ON', offPayload: 'OFF' };
  test.each<[string, object, string, 'on' | 'off' | null]>([
    ['plain on', plain, 'ON', 'on'],
    ['plain off', plain, 'OFF', 'off'],
    ['plain, whitespace around', plain, ' ON\n', 'on'],
    ['plain, something else', plain, 'maybe', null],
    ['no off payload', { onPayload: '1', offPayload: null }, 'OFF', null],
    ['JSON true', { ...plain, jsonPath: 'occupancy' }, '{"occupancy":true,"battery":90}', 'on'],
    ['JSON false', { ...plain, jsonPath: 'occupancy' }, '{"occupancy":false}', 'off'],
    ['JSON nested string', { ...plain, jsonPath: 'state.pir' }, '{"state":{"pir":"ON"}}', 'on'],
    ['JSON number', { onPayload: '1', offPayload: '0', jsonPath: 'v' }, '{"v":1}', 'on'],
    ['JSON key missing', { ...plain, jsonPath: 'occupancy' }, '{"battery":90}', null],
    ['JSON broken', { ...plain, jsonPath: 'occupancy' }, '{"occupancy":', null],
    ['JSON inherited key is not read', { ...plain, jsonPath: 'constructor' }, '{}', null],
  ])('%s', (_name, sensor, payload, meaning) => {
    expect(parseSensorPayload(sensor as Parameters<typeof parseSensorPayload>[0], Buffer.from(payload))).toBe(meaning);
  });
});

describe('pre-roll ring sizing for video-and-sensor', () => {
  /** Fills a ring for 30 s at 10 frames/s (a keyframe a second) and starts a clip withinS before the newest frame. */
  const preRollFor = (maxTriggerLagMs: number, withinS: number): number => {
    const ring = createRing({ preRollMs: PRE_ROLL_MS, maxTriggerLagMs });
    for (let i = 0; i < 300; i++) {
      ring.push({ seq: i, ptsUs: i * 100_000, wallMs: i * 100, keyframe: i % 10 === 0, data: Buffer.alloc(100), codec: 'avc1.42c01f', width: 320, height: 240 });
    }
    const units = ring.units();
    const triggerUs = units[units.length - 1].ptsUs - withinS * 1e6;
    const start = clipStart(units, triggerUs, PRE_ROLL_MS);
    return start < 0 ? 0 : (triggerUs - units[start].ptsUs) / 1000;
  };

  test('the first cue may lie withinS behind the newest frame: the ring still holds its whole pre-roll', () => {
    const withinS = 8;
    expect(preRollFor(gateTriggerLagMs({ mode: 'video-and-sensor', withinS }, 2000), withinS)).toBeGreaterThanOrEqual(PRE_ROLL_MS);
    // Sized for the other modes, the same late confirmation would lose most of the pre-roll.
    expect(preRollFor(gateTriggerLagMs({ mode: 'video-or-sensor', withinS }, 2000), withinS)).toBeLessThan(PRE_ROLL_MS);
  });
});

describe('sensor trigger configuration', () => {
  test.each<[string, object, RegExp]>([
    ['a mode other than video needs a sensor', { camera: { triggers: { mode: 'sensor' } } }, /at least one sensor/],
    ['names must differ', { camera: { triggers: { sensors: [{ name: 'a', kind: 'http' }, { name: 'a', kind: 'http' }] } } }, /must differ/],
    ['"video" is taken', { camera: { triggers: { sensors: [{ name: 'video', kind: 'http' }] } } }, /video/],
    ['an MQTT sensor needs the broker', { camera: { triggers: { sensors: [{ name: 'hall', kind: 'mqtt', topic: 'z/hall' }] } } }, /integrations\.mqtt/],
    ['no wildcards in a topic', { camera: { triggers: { sensors: [{ name: 'hall', kind: 'mqtt', topic: 'z/#' }] } }, integrations: { mqtt: { url: 'mqtt://127.0.0.1:1' } } }, /topic/],
    ['withinS is bounded', { camera: { triggers: { mode: 'video-and-sensor', withinS: 61, sensors: [{ name: 'a', kind: 'http' }] } } }, /withinS/],
    ['a gpio sensor needs its line', { camera: { triggers: { sensors: [{ name: 'pir', kind: 'gpio' }] } } }, /line/],
    ['unknown keys are refused', { camera: { triggers: { sensors: [{ name: 'a', kind: 'http', topic: 'x' }] } } }, /topic|unrecognized/i],
  ])('%s', (_name, input, message) => {
    expect(() => parseConfig(input as never)).toThrow(message);
  });

  test('defaults: video mode, no sensors', () => {
    expect(parseConfig({}).camera.triggers).toEqual({ mode: 'video', withinS: 10, sensors: [] });
  });
});

describe('sensor triggers on a real server (demo camera)', () => {
  test('HTTP: a POST starts exactly one recording, with the full pre-roll before the call; too soon is 429; a read token is refused', async () => {
    const dataDir = tempDataDir();
    const password = 'a long enough password';
    const control = createApiToken(dataDir, 'doorbell', 'control').token;
    const read = createApiToken(dataDir, 'viewer', 'read').token;
    const auth = { Authorization: `Bearer ${control}` };
    let server: Server | null = null;
    try {
      server = await startTestServer({
        password,
        server: { dataDir, host: '127.0.0.1', port: 0 },
        camera: { ...CAMERA, triggers: { mode: 'sensor', sensors: [{ name: 'bell', kind: 'http', holdS: 1, minIntervalMs: 60_000 }] } },
        recorder: { preRollMs: PRE_ROLL_MS, postRollMs: 500 },
      });
      const url = server.url;
      await warmedUp(url, auth);
      expect((await request(`${url}/api/sensors/bell`, 'POST', undefined, { Authorization: `Bearer ${read}` })).status).toBe(403);
      expect((await request(`${url}/api/sensors/bell`, 'POST')).status).toBe(401);
      expect((await request(`${url}/api/sensors/nope`, 'POST', undefined, auth)).body).toMatchObject({ code: 'SENSOR_UNKNOWN' });

      // As a doorbell (or curl) calls it: a bare POST, no body, no Origin.
      const cueWallMs = Date.now();
      const fired = await fetch(`${url}/api/sensors/bell`, { method: 'POST', headers: auth });
      expect(fired.status).toBe(202);
      expect(await fired.json()).toEqual({ sensor: 'bell', state: 'pulse', taken: true });
      const again = await request(`${url}/api/sensors/bell`, 'POST', {}, auth);
      expect(again.status).toBe(429);
      expect(again.body.code).toBe('SENSOR_RATE_LIMITED');
      expect(Number(again.headers.get('retry-after'))).toBeGreaterThan(0);

      await waitFor(async () => (await motionEvents(url, auth)).length > 0, 60_000, 'the recording of the doorbell');
      await settled(url, auth);
      const recorded = await motionEvents(url, auth);
      expect(recorded).toHaveLength(1);
      expect(recorded[0].cues).toEqual(['bell']);
      await expectPreRoll(dataDir, url, recorded[0], cueWallMs, auth);

      const status = (await request(`${url}/api/status`, 'GET', undefined, auth)).body;
      expect(status.triggers.mode).toBe('sensor');
      expect(status.triggers.sensors).toHaveLength(1);
      expect(status.triggers.sensors[0]).toMatchObject({ name: 'bell', kind: 'http', cues: 1, ignored: 1 });
      expect(Date.parse(status.triggers.sensors[0].lastCueAt)).toBeGreaterThanOrEqual(cueWallMs - 1000);
      const metrics = (await request(`${url}/metrics`, 'GET', undefined, auth)).body as string;
      expect(metrics).toContain('preroll_sensor_cues_total{camera="cam",sensor="bell"} 1');
    } finally {
      await server?.stop();
    }
  }, 150_000);

  test('GPIO: a stand-in gpiomon on PATH fires (with chatter), then dies: exactly one recording, the reader is restarted with GPIO_EXITED', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'preroll-pir-'));
    const go = join(bin, 'go');
    const cueFile = join(bin, 'cue');
    const runs = join(bin, 'runs');
    // The stand-in plays a PIR on a v1 gpiomon: when the test says go, the line rises (with
    // contact chatter inside the debounce time), falls a second later, and gpiomon dies with
    // an error. Restarted, it reports nothing more.
    writeFileSync(
      join(bin, 'gpiomon'),
      [
        '#!/bin/sh',
        'if [ "$1" = "--version" ]; then echo "gpiomon (libgpiod) v1.6.3"; exit 0; fi',
        `echo run >> ${runs}`,
        `if [ -f ${cueFile} ]; then exec sleep 600; fi`,
        `while [ ! -f ${go} ]; do sleep 0.1; done`,
        `date +%s%3N > ${cueFile}`,
        // One write: the chatter arrives within the debounce time however loaded the machine is.
        "printf '1\\n0\\n1\\n'",
        'sleep 1; echo 0',
        'sleep 0.5',
        'echo "gpiomon: unable to request line: Device or resource busy" >&2',
        'exit 1',
      ].join('\n'),
    );
    chmodSync(join(bin, 'gpiomon'), 0o755);
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath}`;
    const dataDir = tempDataDir();
    let server: Server | null = null;
    try {
      server = await startTestServer({
        server: { dataDir, host: '127.0.0.1', port: 0 },
        camera: { ...CAMERA, triggers: { mode: 'sensor', sensors: [{ name: 'pir', kind: 'gpio', line: 27, debounceMs: 200, holdS: 1 }] } },
        recorder: { preRollMs: PRE_ROLL_MS, postRollMs: 500 },
      });
      const url = server.url;
      await warmedUp(url);
      writeFileSync(go, '');
      await waitFor(async () => existsSync(cueFile) && readFileSync(cueFile, 'utf8').trim().length > 0, 30_000, 'the stand-in to fire');
      const cueWallMs = Number(readFileSync(cueFile, 'utf8').trim());
      const status = await waitFor(async () => {
        const s = (await request(`${url}/api/status`, 'GET')).body;
        const pir = s.triggers.sensors[0];
        return pir.reader.restarts >= 1 && pir.reader.state === 'running' ? s : null;
      }, 60_000, 'gpiomon to die and be restarted');
      const pir = status.triggers.sensors[0];
      expect(pir).toMatchObject({ name: 'pir', kind: 'gpio', cues: 1, state: 'off' });
      expect(pir.reader.lastErrorCode).toBe('GPIO_EXITED');
      expect(pir.reader.lastError).toMatch(/Device or resource busy/);

      await waitFor(async () => (await motionEvents(url)).length > 0, 60_000, 'the recording of the PIR');
      await settled(url);
      const recorded = await motionEvents(url);
      expect(recorded).toHaveLength(1);
      expect(recorded[0].cues).toEqual(['pir']);
      await expectPreRoll(dataDir, url, recorded[0], cueWallMs);
      // The clip holds the second the line was high plus the hold and the post-roll.
      expect(recorded[0].durationS).toBeGreaterThanOrEqual((PRE_ROLL_MS + 1000 + 1000) / 1000 - 0.2);
      expect(readFileSync(runs, 'utf8').trim().split('\n').length).toBeGreaterThanOrEqual(2);
    } finally {
      process.env.PATH = savedPath;
      await server?.stop();
    }
  }, 150_000);

  describe('MQTT (real mosquitto on loopback)', () => {
    let broker: ChildHandle;
    let brokerPort = 0;

    beforeAll(async () => {
      const dir = mkdtempSync(join(tmpdir(), 'preroll-mosquitto-'));
      brokerPort = await freePort();
      writeFileSync(join(dir, 'm.conf'), `listener ${brokerPort} 127.0.0.1\nallow_anonymous true\npersistence false\n${process.getuid?.() === 0 ? 'user root\n' : ''}`);
      broker = spawnChild({ name: 'mosquitto', command: 'mosquitto', args: ['-c', join(dir, 'm.conf')], stdio: ['ignore', 'ignore', 'pipe'] });
    });
    afterAll(async () => {
      await broker.stop({ graceMs: 0 });
    });

    test('video-and-sensor: a retained "on" is ignored, video alone records nothing; a live "on" within withinS records once, from the pre-roll before the first cue; the event summary carries the cues', async () => {
      const client: MqttClient = await waitFor(
        () =>
          new Promise<MqttClient | null>((resolve) => {
            const c = connect(`mqtt://127.0.0.1:${brokerPort}`, { reconnectPeriod: 0 });
            c.once('connect', () => resolve(c));
            c.once('error', () => {
              c.end(true);
              resolve(null);
            });
          }),
        20_000,
        'the broker to accept connections',
      );
      const summaries: any[] = [];
      let server: Server | null = null;
      const dataDir = tempDataDir();
      try {
        // A stale "on" left on the broker: it must not start anything at the connect.
        await new Promise<void>((resolve, reject) => client.publish('zigbee/hall', JSON.stringify({ occupancy: true }), { retain: true, qos: 1 }, (e) => (e ? reject(e) : resolve())));
        client.subscribe('preroll/cam/event');
        client.on('message', (topic, payload) => {
          if (topic === 'preroll/cam/event') summaries.push(JSON.parse(payload.toString()));
        });
        server = await startTestServer({
          server: { dataDir, host: '127.0.0.1', port: 0 },
          camera: {
            ...CAMERA,
            triggers: { mode: 'video-and-sensor', withinS: WITHIN_S, sensors: [{ name: 'hall', kind: 'mqtt', topic: 'zigbee/hall', jsonPath: 'occupancy', holdS: 0.5 }] },
          },
          recorder: { preRollMs: PRE_ROLL_MS, postRollMs: 500 },
          integrations: { mqtt: { url: `mqtt://127.0.0.1:${brokerPort}` } },
        });
        const url = server.url;
        await waitFor(async () => (await request(`${url}/api/status`, 'GET')).body.triggers.sensors[0].ignored >= 1, 30_000, 'the retained message to arrive (and be ignored)');
        // The demo scene's block crosses it from second 10 to 14 of every 20 s: a video cue
        // that alone records nothing, then, a period later, one the sensor confirms.
        const videoMotion = async (): Promise<number | null> => {
          const status = (await request(`${url}/api/status`, 'GET')).body;
          return status.score > status.triggerLevel ? Date.now() : null;
        };
        const firstMotion = await waitFor(videoMotion, 60_000, 'motion in the demo scene');
        await waitFor(async () => Date.now() > firstMotion + (WITHIN_S + 3) * 1000, 30_000, 'the first motion to be past withinS');
        expect(await motionEvents(url)).toHaveLength(0);
        expect((await request(`${url}/api/status`, 'GET')).body.recording).toBe(false);
        await waitFor(videoMotion, 60_000, 'the next motion in the demo scene');

        // Now the sensor, live, while the block crosses again.
        const cueWallMs = Date.now();
        await new Promise<void>((resolve, reject) => client.publish('zigbee/hall', JSON.stringify({ occupancy: true }), { qos: 1 }, (e) => (e ? reject(e) : resolve())));
        await new Promise<void>((resolve, reject) => client.publish('zigbee/hall', JSON.stringify({ occupancy: false }), { qos: 1 }, (e) => (e ? reject(e) : resolve())));
        await waitFor(async () => (await motionEvents(url)).length > 0, 60_000, 'the recording of motion confirmed by the sensor');
        await settled(url);
        const recorded = await motionEvents(url);
        expect(recorded).toHaveLength(1);
        expect([...recorded[0].cues].sort()).toEqual(['hall', 'video']);
        // The event starts at the first cue (whichever it was); the pre-roll counts back from it.
        const sidecar = (await request(`${url}${recorded[0].urls.sidecar}`, 'GET')).body;
        const firstCueWallMs = Date.parse(sidecar.triggeredAt);
        // The video cue came first: the gate says so (cues in order). Its wall time is the
        // confirming frame's, which may come a little after the score first showed above the level
        // (and so after the sensor message left here, though before it reached the gate): only a
        // loose bound against the wall clock, which a loaded machine's frames lag.
        expect(recorded[0].cues[0]).toBe('video');
        expect(firstCueWallMs).toBeLessThanOrEqual(cueWallMs + 2000);
        await expectPreRoll(dataDir, url, recorded[0], firstCueWallMs);
        await waitFor(async () => summaries.length >= 1, 30_000, 'the event summary on MQTT');
        expect(summaries).toHaveLength(1);
        expect([...summaries[0].cues].sort()).toEqual(['hall', 'video']);
        const status = (await request(`${url}/api/status`, 'GET')).body;
        expect(status.triggers.sensors[0]).toMatchObject({ name: 'hall', kind: 'mqtt', state: 'off', cues: 1 });
      } finally {
        await server?.stop();
        client.end(true);
      }
    }, 180_000);
  });
});
