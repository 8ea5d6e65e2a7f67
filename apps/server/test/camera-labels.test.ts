import { readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import type { LabelsStatus } from '../src/labels';
import { applyProfile, parseConfig, PROFILES } from '../src/config';
import { aggregateSightings, chooseLabelSource, combineLabelsStatus, type CameraLabelsStatus, type Sighting } from '../src/camera-labels';
import { request, startTestServer, tempDataDir, waitFor } from './server-helpers';

const FAKE_BIN = resolve(__dirname, '../../../test-fixtures/bin');
const AI_CAMERA_LINE = '0 : imx500 [4056x3040 10-bit RGGB] (/base/axi/pcie@120000/rp1/i2c@88000/imx500@1a)';
const CAMERA_MODULE_3 = '0 : imx708 [4608x2592 10-bit RGGB] (/base/soc/i2c0mux/i2c@1/imx708@1a)';

describe('choosing the label source (pure)', () => {
  test.each([
    ['auto', 'rpicam', [AI_CAMERA_LINE], 'camera'],
    ['auto', 'auto', [AI_CAMERA_LINE], 'camera'],
    ['auto', 'rpicam', [CAMERA_MODULE_3], 'cpu'],
    ['auto', 'rpicam:1', [AI_CAMERA_LINE, CAMERA_MODULE_3.replace(/^0/, '1')], 'cpu'],
    ['auto', 'rpicam', null, 'cpu'],
    ['auto', 'demo', [AI_CAMERA_LINE], 'cpu'],
    ['cpu', 'rpicam', [AI_CAMERA_LINE], 'cpu'],
    ['camera', 'rpicam:1280x720@30', null, 'camera'],
    ['camera', 'file:/tmp/a.mp4', null, 'none'],
  ] as const)('labels.source %s with camera.source %s and cameras %j → %s', (setting, source, cameras, expected) => {
    expect(chooseLabelSource(setting, source, cameras).source).toBe(expected);
  });
});

test('a Pi Zero 2 W: the profile turns the CPU classifier off, and with an AI Camera labels are on all the same', () => {
  const zero = parseConfig(applyProfile({}, PROFILES['pi-zero-2-w']).config);
  expect(zero.labels).toMatchObject({ enabled: false, source: 'auto' });
  expect(chooseLabelSource(zero.labels.source, zero.camera.source, [AI_CAMERA_LINE]).source).toBe('camera');
  expect(chooseLabelSource(zero.labels.source, zero.camera.source, [CAMERA_MODULE_3]).source).toBe('cpu');
});

describe('aggregating the camera sightings of an event (pure)', () => {
  const person = (confidence: number, x = 0.25) => ({ classIndex: 0, className: 'person', confidence, box: { x, y: 0.2, width: 0.25, height: 0.6 } });
  const dog = (confidence: number) => ({ classIndex: 17, className: 'dog', confidence, box: { x: 0.5, y: 0.5, width: 0.1, height: 0.1 } });
  const cup = { classIndex: 46, className: 'cup', confidence: 0.99, box: { x: 0, y: 0, width: 0.1, height: 0.1 } };
  const sightings: Sighting[] = [
    { wallMs: 900, objects: [person(0.95, 0.1)] }, // before the event: not counted
    { wallMs: 1000, objects: [person(0.6), cup] },
    { wallMs: 1100, objects: [person(0.83, 0.3), person(0.5), dog(0.9)] }, // two people in one frame: one frame
    { wallMs: 1200, objects: [person(0.7)] },
    { wallMs: 1300, objects: [dog(0.3)] }, // under the floor
  ];
  const options = { fromMs: 1000, toMs: 1300, minFrames: 3, minConfidence: 0.4, width: 640, height: 480 };

  test('per sub-label: frames counted once per frame, the best confidence and its box; too few frames and scene classes are left out', () => {
    expect(aggregateSightings(sightings, options)).toEqual([{ label: 'person', subLabel: 'person', confidence: 0.83, box: [192, 96, 160, 288], frames: 3 }]);
    expect(aggregateSightings(sightings, { ...options, minFrames: 1 }).map((l) => [l.subLabel, l.label, l.frames])).toEqual([
      ['dog', 'animal', 1],
      ['person', 'person', 3],
    ]);
    expect(aggregateSightings(sightings, { ...options, fromMs: 0, minFrames: 4 }).map((l) => [l.subLabel, l.confidence, l.frames])).toEqual([['person', 0.95, 4]]);
    expect(aggregateSightings([], options)).toEqual([]);
  });

  test('the status of an AI Camera-only server: source camera, cost 0 ms, the CPU model not loaded', () => {
    const cpu: LabelsStatus = { loaded: false, backend: null, loadMs: null, events: 0, inferences: 0, failures: 0, lastEventMs: null, meanEventMs: null, meanInferenceMs: null, queued: 0, enabled: false, minConfidence: 0.4, skipped: 0, early: { enabled: false, delayMs: 1500, events: 0, failures: 0, lastMs: null, meanMs: null } };
    const camera: CameraLabelsStatus = { camera: 'cam', events: 2, sightings: 10, lastEarly: null, metadata: null };
    expect(combineLabelsStatus(cpu, [camera], 0)).toMatchObject({ source: 'camera', enabled: true, loaded: false, events: 2, lastEventMs: 0, meanEventMs: 0 });
    expect(combineLabelsStatus(cpu, [camera], 1)).toMatchObject({ source: 'mixed', enabled: false, events: 0 });
    expect(combineLabelsStatus(cpu, [], 1)).toMatchObject({ source: 'cpu', aiCameras: [] });
  });
});

describe('labels from the AI Camera on a real server (fake rpicam-vid with IMX500 metadata)', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  });

  /** rpicam-apps' post-processing file names the network's classes; this one starts the same COCO list. */
  function postProcessFile(dir: string): string {
    const file = join(dir, 'imx500_mobilenet_ssd.json');
    const classes = ['person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat', 'traffic light', 'fire hydrant', '-', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog'];
    writeFileSync(file, JSON.stringify({ imx500_object_detection: { max_detections: 5, threshold: 0.6, network_file: '/usr/share/imx500-models/net.rpk', classes } }));
    return file;
  }

  test('auto finds the AI Camera: a sensor-triggered event gets the person the camera saw (confidence and box), a cat under the confidence floor does not count, a torn metadata line is skipped and counted, and the CPU model is never loaded', async () => {
    const dir = tempDataDir();
    const argvFile = join(dir, 'argv');
    Object.assign(process.env, {
      PATH: `${FAKE_BIN}${delimiter}${saved.PATH}`,
      FAKE_RPICAM_SENSOR: 'imx500',
      FAKE_RPICAM_ARGV_FILE: argvFile,
      // The person is in view from frame 30 on, and so is a cat the detector scores under
      // labels.minConfidence. (Which frames fall in the event's window is the clock's to say on
      // a loaded machine: the window and minFrames are tested on the aggregation above.)
      FAKE_RPICAM_IMX500_OBJECTS: JSON.stringify([
        { class: 'person', score: 0.83, box: [0.25, 0.2, 0.5, 0.8], from: 30, to: 1_000_000 },
        { class: 'cat', score: 0.3, box: [0.6, 0.6, 0.7, 0.7], from: 30, to: 1_000_000 },
      ]),
      FAKE_RPICAM_METADATA_CORRUPT_AT: '40',
    });
    const server = await startTestServer({
      server: { dataDir: dir, host: '127.0.0.1', port: 0 },
      camera: { source: 'rpicam', width: 320, height: 240, fps: 15, strideAlign: 64, triggers: { mode: 'sensor', sensors: [{ name: 'bell', kind: 'http', holdS: 1, minIntervalMs: 60_000 }] } },
      recorder: { preRollMs: 1000, postRollMs: 500 },
      // The CPU classifier is on by configuration: the AI Camera replaces it for this camera.
      labels: { enabled: true, source: 'auto', aiCamera: { postProcessFile: postProcessFile(dir), minFrames: 3, earlyAfterMs: 1000 } },
    });
    try {
      const url = server.url;
      // The person is in view (from frame 30) and the pre-roll ring is full.
      await waitFor(async () => {
        const status = (await request(`${url}/api/status`, 'GET')).body;
        return status.captureState === 'running' && status.pipeline.preRoll.spanMs >= status.pipeline.preRoll.wantedMs && status.labels.aiCameras[0].sightings >= 10;
      }, 90_000, 'the camera to see the person, with a full pre-roll');
      expect((await request(`${url}/api/sensors/bell`, 'POST')).status).toBe(202);
      const event = await waitFor(async () => {
        const items = (await request(`${url}/api/events?kind=motion&limit=10`, 'GET')).body.items as any[];
        return items.length && items[0].labels !== null ? items[0] : null;
      }, 60_000, 'the event and its camera labels');
      expect(event.labels).toEqual([{ label: 'person', subLabel: 'person', confidence: 0.83, box: [80, 48, 80, 144] }]);
      // The same labels are in the sidecar, the one source of truth the index rebuilds from.
      const sidecar = (await request(`${url}${event.urls.sidecar}`, 'GET')).body;
      expect(sidecar.labels).toEqual(event.labels);
      const labelled = await request(`${url}/api/events?label=person`, 'GET');
      expect(labelled.body.items).toHaveLength(1);

      const status = (await request(`${url}/api/status`, 'GET')).body.labels;
      expect(status).toMatchObject({ source: 'camera', enabled: true, loaded: false, backend: null, inferences: 0, events: 1, lastEventMs: 0, meanEventMs: 0 });
      expect(status.aiCameras).toHaveLength(1);
      expect(status.aiCameras[0].metadata).toMatchObject({ corrupt: 1, error: null, unmatched: 0 });
      expect(status.aiCameras[0].metadata.records).toBeGreaterThan(40);
      // Early report: the person was already known a second after the trigger.
      expect(status.aiCameras[0].lastEarly.labels.map((l: { subLabel: string }) => l.subLabel)).toEqual(['person']);
      const argv = JSON.parse(readFileSync(argvFile, 'utf8').trim().split('\n')[0]) as string[];
      expect(argv).toEqual(expect.arrayContaining(['--post-process-file', join(dir, 'imx500_mobilenet_ssd.json'), '--metadata-format', 'json']));

      // The System panel says where the labels come from and what they cost.
      const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
      try {
        const page = await browser.newPage();
        await page.addInitScript(() => localStorage.setItem('preroll.quality', JSON.stringify('jpeg')));
        await page.goto(url);
        await page.click('#tab-system');
        const row = await page.waitForFunction(() => [...document.querySelectorAll('#system-view dt')].find((dt) => dt.textContent === 'Labels')?.nextElementSibling?.textContent ?? null, null, { timeout: 20_000 });
        expect(await row.jsonValue()).toBe('AI Camera (on the sensor), 0 ms per event, 1 event; 1 camera metadata line skipped');
      } finally {
        await browser.close();
      }
    } finally {
      await server.stop();
    }
  }, 150_000);

  test('auto with a camera that is not the AI Camera: the CPU source, and rpicam-vid runs without the detector', async () => {
    const dir = tempDataDir();
    const argvFile = join(dir, 'argv');
    Object.assign(process.env, { PATH: `${FAKE_BIN}${delimiter}${saved.PATH}`, FAKE_RPICAM_ARGV_FILE: argvFile });
    const server = await startTestServer({
      server: { dataDir: dir, host: '127.0.0.1', port: 0 },
      camera: { source: 'rpicam', width: 320, height: 240, fps: 15, strideAlign: 64 },
      labels: { enabled: false, source: 'auto' },
    });
    try {
      await waitFor(async () => (await request(`${server.url}/api/status`, 'GET')).body.fps > 0, 30_000, 'frames');
      const status = (await request(`${server.url}/api/status`, 'GET')).body.labels;
      expect(status).toMatchObject({ source: 'cpu', enabled: false, aiCameras: [] });
      const argv = JSON.parse(readFileSync(argvFile, 'utf8').trim().split('\n')[0]) as string[];
      expect(argv).not.toContain('--metadata');
      expect(argv).not.toContain('--post-process-file');
    } finally {
      await server.stop();
    }
  }, 60_000);
});
