import * as path from 'node:path';
import { existsSync } from 'node:fs';
import sharp from 'sharp';
import { ClassifyError, createClassifier, cropAround, defaultModelDir, i420ToRgb, maskBounds, mergeDetections, taxonomyOf, type Classifier, type Detection } from '../src';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'test-fixtures', 'labels');
const fixture = (name: string): string => path.join(FIXTURES, name);

function modelInstalled(): boolean {
  try {
    return existsSync(path.join(defaultModelDir(), 'centernet.bin'));
  } catch (error) {
    return (error as ClassifyError).code !== 'CLASSIFY_MODEL_MISSING';
  }
}

describe('taxonomy', () => {
  test.each([
    ['person', 'person'],
    ['bird', 'animal'],
    ['cat', 'animal'],
    ['giraffe', 'animal'],
    ['car', 'vehicle'],
    ['bicycle', 'vehicle'],
    ['sports ball', 'other'],
    ['cup', null],
    ['bench', null],
    ['potted plant', null],
  ])('%s → %s', (coco, label) => {
    expect(taxonomyOf(coco)).toBe(label);
  });
});

describe('geometry', () => {
  test('a crop around a small motion region is square, has the margin, and stays inside the frame', () => {
    expect(cropAround({ x: 600, y: 300, width: 100, height: 200 }, 1280, 720, 25, 256)).toEqual({ x: 500, y: 250, width: 300, height: 300 });
    // In a corner it shifts inward instead of leaving the frame.
    expect(cropAround({ x: 0, y: 0, width: 40, height: 40 }, 1280, 720, 25, 256)).toEqual({ x: 0, y: 0, width: 256, height: 256 });
    // Never larger than the frame.
    expect(cropAround({ x: 0, y: 0, width: 1280, height: 720 }, 1280, 720)).toEqual({ x: 0, y: 0, width: 1280, height: 720 });
  });

  test('merging keeps the strongest sighting of each sub-label above the threshold, strongest first', () => {
    const d = (subLabel: string, confidence: number, x = 0): Detection => ({ label: taxonomyOf(subLabel)!, subLabel, confidence, box: { x, y: 1.4, width: 10.6, height: 20 } });
    const labels = mergeDetections([d('cat', 0.4, 1), d('cat', 0.6, 2), d('person', 0.5), d('dog', 0.2)], 0.35);
    expect(labels).toEqual([
      { label: 'animal', subLabel: 'cat', confidence: 0.6, box: [2, 1, 11, 20] },
      { label: 'person', subLabel: 'person', confidence: 0.5, box: [0, 1, 11, 20] },
    ]);
  });

  test('mask bounds scale the hot cells to frame pixels', () => {
    const mask = new Uint8Array(16);
    mask[5] = 200; // (1,1)
    mask[10] = 150; // (2,2)
    expect(maskBounds(mask, 4, 4, 140, 400, 400)).toEqual({ x: 100, y: 100, width: 200, height: 200 });
    expect(maskBounds(new Uint8Array(16), 4, 4, 140, 400, 400)).toBeNull();
  });

  test('I420 grey converts to the same grey in RGB', () => {
    const w = 4;
    const h = 2;
    const data = new Uint8Array(w * h * 1.5).fill(128);
    data.fill(126, 0, w * h);
    const rgb = i420ToRgb({ data, width: w, height: h });
    expect(rgb.data).toHaveLength(w * h * 3);
    expect([...rgb.data.slice(0, 3)]).toEqual([128, 128, 128]);
    expect(() => i420ToRgb({ data: new Uint8Array(3), width: w, height: h })).toThrow(expect.objectContaining({ code: 'CLASSIFY_BAD_IMAGE' }));
  });
});

const withModel = modelInstalled() ? describe : describe.skip;
if (!modelInstalled()) {
  console.warn('classify: skipping real-inference tests: the detector model package @vladmandic/human is not installed (run pnpm install)');
}

withModel('real inference on photographs', () => {
  let classifier: Classifier;
  beforeAll(() => {
    classifier = createClassifier({ minConfidence: 0.4 });
  });
  afterAll(async () => {
    await classifier.close();
  });

  test('a person photo gives person above the threshold, with a box inside the frame', async () => {
    const result = await classifier.classifyEvent({ images: [fixture('astronaut.jpg')] });
    const person = result.labels.find((l) => l.label === 'person');
    expect(person?.confidence).toBeGreaterThanOrEqual(0.4);
    const [x, y, w, h] = person!.box;
    expect(x + w).toBeLessThanOrEqual(512);
    expect(y + h).toBeLessThanOrEqual(512);
    expect(w).toBeGreaterThan(100);
    expect(result.inferences).toBe(1);
    const stats = classifier.stats();
    expect(stats.loaded).toBe(true);
    expect(stats.backend).toBe('wasm');
    expect(stats.events).toBe(1);
  });

  test('a cat is an animal (the model calls this one a dog: the sub-label is the detector\'s guess)', async () => {
    const result = await classifier.classifyEvent({ images: [fixture('chelsea.jpg')] });
    expect(result.labels.map((l) => l.label)).toEqual(['animal']);
    expect(['cat', 'dog']).toContain(result.labels[0].subLabel);
  });

  test('an empty garden gives nothing', async () => {
    const result = await classifier.classifyEvent({ images: [fixture('grass.jpg')] });
    expect(result.labels).toHaveLength(0);
  });

  test('a crop around the motion finds a small car the whole frame misses, boxed in frame pixels', async () => {
    // building.jpg: one small parked car near the bottom left of the frame.
    const meta = await sharp(fixture('building.jpg')).metadata();
    const result = await classifier.classifyEvent({ images: [fixture('building.jpg')], motion: { x: 220, y: 300, width: 120, height: 80 } });
    expect(result.inferences).toBe(2);
    const car = result.labels.find((l) => l.subLabel === 'car');
    expect(car?.label).toBe('vehicle');
    const [x, y, w, h] = car!.box;
    expect(x + w).toBeLessThanOrEqual(meta.width!);
    expect(y + h).toBeLessThanOrEqual(meta.height!);
  });

  test('an unreadable image is a CLASSIFY_BAD_IMAGE error and the classifier keeps working', async () => {
    await expect(classifier.classifyEvent({ images: [Buffer.from('not a jpeg')] })).rejects.toMatchObject({ code: 'CLASSIFY_BAD_IMAGE' });
    expect(classifier.stats().failures).toBe(1);
    const result = await classifier.classifyEvent({ images: [fixture('messi.jpg')] });
    expect(result.labels.some((l) => l.label === 'person')).toBe(true);
  });
});

test('a model folder without the model is CLASSIFY_MODEL_MISSING', async () => {
  const classifier = createClassifier({ modelDir: FIXTURES });
  try {
    await expect(classifier.classifyEvent({ images: [fixture('grass.jpg')] })).rejects.toMatchObject({ code: 'CLASSIFY_MODEL_MISSING' });
    expect(classifier.stats().loaded).toBe(false);
  } finally {
    await classifier.close();
  }
});

test('closing during the model load ends it: the waiting classification fails with CLASSIFY_CLOSED', async () => {
  if (!modelInstalled()) return;
  const classifier = createClassifier();
  const pending = classifier.classifyEvent({ images: [fixture('astronaut.jpg')] });
  const settled = pending.then(
    () => 'classified',
    (error: ClassifyError) => error.code,
  );
  await classifier.close();
  expect(await settled).toBe('CLASSIFY_CLOSED');
  expect(classifier.stats()).toMatchObject({ loaded: false, events: 0 });
});

test('a closed classifier refuses work with CLASSIFY_CLOSED and never loaded the model', async () => {
  const classifier = createClassifier();
  await classifier.close();
  await expect(classifier.classifyEvent({ images: [fixture('grass.jpg')] })).rejects.toMatchObject({ code: 'CLASSIFY_CLOSED' });
  expect(classifier.stats().loaded).toBe(false);
});
