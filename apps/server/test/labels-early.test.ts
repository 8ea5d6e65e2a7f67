/**
 * The early classification with the real model: a camera's frames (real photographs converted
 * to I420 by ffmpeg) go through the labels' watcher as the runtime delivers them, and the
 * labels come once per event, from the best frame cropped around its motion boxes. Also the
 * pure helpers of the merge and the crop.
 */

import { join } from 'node:path';
import pino from 'pino';
import { createFrame, type Frame } from '@preroll/capture';
import type { MotionSample } from '@preroll/detector';
import type { Classifier } from '@preroll/classify';
import { createEmitter, runTool } from '@preroll/process';
import { sleep } from '@preroll/testkit';
import { parseConfig } from '../src/config';
import { attachLabels, boxesRegion, mergeLabels, type EarlyLabels, type Labels } from '../src/labels';
import { waitFor } from './server-helpers';

const FIXTURES = join(__dirname, '..', '..', '..', 'test-fixtures', 'labels');
const silent = pino({ level: process.env.PREROLL_TEST_LOG ?? 'silent' });

/** A real photograph as the I420 frame a camera would deliver (even size, packed planes). */
async function photoFrame(file: string, wallMs: number): Promise<Frame> {
  const probe = await runTool('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', join(FIXTURES, file)]);
  const [w, h] = String(probe.stdout).trim().split(',').map(Number);
  const width = w - (w % 2);
  const height = h - (h % 2);
  const raw = await runTool('ffmpeg', ['-v', 'error', '-i', join(FIXTURES, file), '-vf', `crop=${width}:${height}:0:0`, '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-']);
  return createFrame({ seq: 1, ptsUs: wallMs * 1000, wallMs, width, height, data: raw.stdout as unknown as Buffer });
}

/** What the runtime offers the watcher, driven by hand. */
function fakeCamera() {
  const motion = createEmitter<[boolean, number]>('motion');
  const samples = createEmitter<[MotionSample, Frame | null]>('samples');
  const starts = createEmitter<[{ kind: string; atMs: number }]>('starts');
  return { camera: { id: 'cam', onMotion: motion.on, onSample: samples.on, onEventStart: starts.on }, motion, samples, starts };
}

const sample = (score: number, boxes: MotionSample['boxes']): MotionSample => ({ score, boxes }) as unknown as MotionSample;

describe('pure helpers', () => {
  test('mergeLabels keeps the strongest sighting of each class and removes none', () => {
    const a = { label: 'person' as const, subLabel: 'person', confidence: 0.5, box: [0, 0, 1, 1] as const };
    const b = { label: 'person' as const, subLabel: 'person', confidence: 0.7, box: [5, 5, 1, 1] as const };
    const c = { label: 'animal' as const, subLabel: 'cat', confidence: 0.6, box: [1, 1, 1, 1] as const };
    expect(mergeLabels([a], null, [c, b])).toEqual([b, c]);
    expect(mergeLabels(undefined, [])).toEqual([]);
  });
  test('boxesRegion is the union of the boxes in frame pixels', () => {
    expect(boxesRegion([], 640, 480)).toBeNull();
    expect(boxesRegion([{ x: 0.1, y: 0.2, width: 0.1, height: 0.1 }, { x: 0.5, y: 0.25, width: 0.25, height: 0.5 }], 640, 480)).toEqual({ x: 64, y: 96, width: 416, height: 264 });
    expect(boxesRegion([{ x: 0.9, y: 0.9, width: 0.2, height: 0.2 }], 100, 100)).toEqual({ x: 90, y: 90, width: 10, height: 10 });
  });
});

describe('early labels on a loaded machine (a scripted detector)', () => {
  test('a trigger reported after the delay is over: the first frame with motion boxes is classified, once', async () => {
    const seen: number[] = [];
    const classifier: Classifier = {
      async detect(source) {
        seen.push((source as { width: number }).width);
        return [{ label: 'animal', subLabel: 'cat', confidence: 0.9, box: { x: 1, y: 1, width: 10, height: 10 } }];
      },
      classifyEvent: async () => ({ labels: [], ms: 0, inferences: 0 }),
      stats: () => ({ loaded: true, backend: 'scripted', loadMs: 0, events: 0, inferences: 0, failures: 0, lastEventMs: null, meanEventMs: null, meanInferenceMs: null, queued: 0 }),
      close: async () => undefined,
    };
    const config = parseConfig({ labels: { enabled: true, earlyDelayMs: 1500 } });
    const labels = attachLabels({ announcer: { subscribe: () => () => undefined }, store: () => { throw new Error('no store needed'); }, config, logger: silent, classifier });
    try {
      const got: EarlyLabels[] = [];
      labels.onEarly((e) => got.push(e));
      const cam = fakeCamera();
      labels.watchCamera(cam.camera);
      // The detector saw the trigger frame 5 s late: the delay is already over when it says so.
      const t0 = Date.now() - 5000;
      const frame = createFrame({ seq: 1, ptsUs: 1, wallMs: t0, width: 64, height: 48, data: Buffer.alloc(64 * 48 * 1.5, 128) });
      cam.motion.emit(true, t0);
      cam.starts.emit({ kind: 'motion', atMs: t0 });
      // The timer (due at once) runs before the first sample: it must wait for a frame, not give up.
      await sleep(50);
      expect(got).toHaveLength(0);
      cam.samples.emit(sample(30, [{ x: 0.25, y: 0.25, width: 0.5, height: 0.5, area: 0.25, score: 1 }]), frame);
      cam.samples.emit(sample(60, [{ x: 0.25, y: 0.25, width: 0.5, height: 0.5, area: 0.25, score: 1 }]), frame);
      cam.motion.emit(false, t0 + 6000);
      await waitFor(async () => got.length >= 1, 10_000, 'the early labels');
      expect(got).toHaveLength(1);
      expect(got[0].labels?.map((l) => l.subLabel)).toEqual(['cat']);
      expect(seen).toEqual([64]);
      // Matched with its recording, the boxes come in the recording's pixels (an MJPEG camera detects on smaller frames).
      const record = { camera: 'cam', startedAt: new Date(t0 - 1000).toISOString(), endedAt: new Date(t0 + 8000).toISOString(), triggeredAt: new Date(t0).toISOString(), width: 128, height: 96 };
      expect(labels.earlyFor(record as Parameters<typeof labels.earlyFor>[0])?.map((l) => l.box)).toEqual([[2, 2, 20, 20]]);
    } finally {
      await labels.stop();
    }
  });
});

describe('early labels with the real model', () => {
  let labels: Labels | null = null;
  afterEach(async () => {
    await labels?.stop();
    labels = null;
  });

  test('a person is named from the best frame of the event; an empty scene is "motion only"; a continued event is not classified again', async () => {
    const config = parseConfig({ labels: { enabled: true, earlyDelayMs: 10_000 } });
    labels = attachLabels({ announcer: { subscribe: () => () => undefined }, store: () => { throw new Error('no store needed'); }, config, logger: silent });
    const got: EarlyLabels[] = [];
    labels.onEarly((e) => got.push(e));
    const cam = fakeCamera();
    labels.watchCamera(cam.camera);

    const t0 = Date.now();
    const person = await photoFrame('cameraman.jpg', t0);
    const grass = await photoFrame('grass.jpg', t0 + 20_000);
    // Event 1: a weak frame of grass, then the best frame, the person (its boxes around him); the event ends before the delay.
    cam.motion.emit(true, t0);
    cam.starts.emit({ kind: 'motion', atMs: t0 });
    cam.samples.emit(sample(20, [{ x: 0.1, y: 0.1, width: 0.1, height: 0.1, area: 0.01, score: 1 }]), grass);
    cam.samples.emit(sample(90, [{ x: 0.3, y: 0.05, width: 0.45, height: 0.9, area: 0.3, score: 1 }]), person);
    // A sample without a frame or boxes does not replace it.
    cam.samples.emit(sample(200, []), grass);
    cam.motion.emit(false, t0 + 3000);
    // A continuation (no event-start notice) is not classified.
    cam.motion.emit(true, t0 + 3100);
    cam.motion.emit(false, t0 + 3200);
    // Event 2: the empty scene.
    cam.motion.emit(true, t0 + 20_000);
    cam.starts.emit({ kind: 'motion', atMs: t0 + 20_000 });
    cam.samples.emit(sample(50, [{ x: 0.2, y: 0.2, width: 0.5, height: 0.5, area: 0.2, score: 1 }]), grass);
    cam.motion.emit(false, t0 + 21_000);

    await waitFor(async () => got.length >= 2, 120_000, 'two early classifications');
    await labels.stop();
    expect(got).toHaveLength(2);
    expect(got[0].startedAtMs).toBe(t0);
    expect(got[0].labels?.[0]).toMatchObject({ label: 'person', subLabel: 'person' });
    expect(got[1]).toMatchObject({ startedAtMs: t0 + 20_000, labels: [] });
    expect(labels.earlyAt('cam', t0)).toBe(got[0]);
    const status = labels.status();
    expect(status.early).toMatchObject({ enabled: true, events: 2, failures: 0 });
    expect(status.inferences).toBe(2);
    process.stdout.write(`early classification, real model: ${status.meanInferenceMs} ms per pass, model load ${status.loadMs} ms\n`);
  }, 180_000);
});
