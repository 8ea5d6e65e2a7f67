import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCleanupStack, waitFor } from '@preroll/testkit';
import {
  CaptureError,
  DetectionPairer,
  MetadataParser,
  PAIRING_WINDOW_FRAMES,
  createSource,
  decodeSsdTensor,
  isAiCameraLine,
  parseRectangle,
  readPostProcessClasses,
  sensorBoxToFrame,
  type FrameDetections,
  type Frame,
  type MetadataRecord,
} from '../src/index';
import { tempDir, useFakeCamera } from './fake-camera';

const cleanup = createCleanupStack();
afterEach(() => cleanup.run());

/** The COCO list of rpicam-apps' IMX500 post-processing file starts like this (index 11 is an unused id, `-`). */
const CLASSES = ['person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat', 'traffic light', 'fire hydrant', '-', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog'];

function postProcessFile(dir: string): string {
  const file = join(dir, 'imx500_mobilenet_ssd.json');
  writeFileSync(file, JSON.stringify({ imx500_object_detection: { max_detections: 5, threshold: 0.6, network_file: '/usr/share/imx500-models/net.rpk', classes: CLASSES } }));
  return file;
}

/** An SSD output tensor with `slots` slots holding `objects` (box as x0, y0, x1, y1). */
function tensor(objects: { cls: number; score: number; box: [number, number, number, number] }[], slots = 10): number[] {
  const planes = Array.from({ length: 6 }, () => new Array<number>(slots).fill(0));
  objects.forEach((o, i) => {
    const [x0, y0, x1, y1] = o.box;
    planes[0][i] = y0;
    planes[1][i] = x0;
    planes[2][i] = y1;
    planes[3][i] = x1;
    planes[4][i] = o.score;
    planes[5][i] = o.cls;
  });
  return [...planes.flat(), objects.length];
}

/** Records in rpicam-vid's `--metadata-format json` layout. */
function metadataText(records: { ts: number; tensor?: number[]; crop?: string; extra?: string }[]): string {
  let text = '[\n';
  records.forEach((r, i) => {
    const fields = [`"SensorTimestamp": ${r.ts}`, `"ScalerCrop": "${r.crop ?? '(0, 0)/4056x3040'}"`, '"ExposureTime": 9983', '"CnnKpiInfo": [ 11823, 2154 ]'];
    if (r.extra) fields.push(r.extra);
    if (r.tensor) fields.push(`"CnnOutputTensor": [ ${r.tensor.map((v) => v.toFixed(6)).join(', ')} ]`);
    text += `${i ? ',\n' : ''}{${fields.map((f, k) => `${k ? ',' : ''}\n    ${f}`).join('')}\n}`;
  });
  return `${text}\n]\n`;
}

function parseAll(text: string, chunk = text.length): { records: MetadataRecord[]; errors: CaptureError[]; parser: MetadataParser } {
  const records: MetadataRecord[] = [];
  const errors: CaptureError[] = [];
  const parser = new MetadataParser((r) => records.push(r), (e) => errors.push(e), 4096);
  for (let i = 0; i < text.length; i += chunk) parser.push(text.slice(i, i + chunk));
  parser.end();
  return { records, errors, parser };
}

describe('AI Camera metadata parsing (pure)', () => {
  const person = tensor([{ cls: 0, score: 0.83, box: [0.25, 0.2, 0.5, 0.8] }]);
  const text = metadataText([{ ts: 1_000_000_000 }, { ts: 1_033_333_333, tensor: person }, { ts: 1_066_666_667, tensor: tensor([]), crop: '(0, 440)/4056x2160' }]);

  test('one record per frame, in order, whatever the chunking', () => {
    for (const chunk of [1, 7, 64, text.length]) {
      const { records, errors } = parseAll(text, chunk);
      expect(errors).toHaveLength(0);
      expect(records.map((r) => r.index)).toEqual([0, 1, 2]);
      expect(records.map((r) => r.sensorTimestampNs)).toEqual([1_000_000_000, 1_033_333_333, 1_066_666_667]);
      expect(records[0].tensor).toBeNull();
      expect(records[1].tensor).toHaveLength(61);
      expect(records[1].tensor![40]).toBeCloseTo(0.83, 6);
      expect(records[2].scalerCrop).toEqual({ x: 0, y: 440, width: 4056, height: 2160 });
    }
    // The stream as rpicam-vid writes it is JSON: the reader agrees with a JSON parser.
    const doc = JSON.parse(text) as { CnnOutputTensor?: number[] }[];
    expect(doc).toHaveLength(3);
    expect(doc[1].CnnOutputTensor).toHaveLength(61);
  });

  test('a corrupt line is skipped with CAPTURE_BAD_METADATA and counted; the record still counts', () => {
    // The middle frame's tensor line is torn half-way (as a crash mid-write would leave it).
    const torn = metadataText([{ ts: 1, tensor: person }, { ts: 2, extra: '"CnnOutputTensor": [ 0.200000, 0.000000, 0.0' }, { ts: 3, tensor: person }]);
    const { records, errors, parser } = parseAll(torn, 13);
    expect(records.map((r) => r.index)).toEqual([0, 1, 2]);
    expect(records.map((r) => r.tensor === null)).toEqual([false, true, false]);
    expect(errors).toHaveLength(1);
    expect(errors[0].code).toBe('CAPTURE_BAD_METADATA');
    expect(parser.stats()).toEqual({ records: 3, tensors: 2, corrupt: 1, unmatched: 0 });
  });

  test('a line over the bound is dropped as it streams in, and the next records parse', () => {
    const huge = `"CnnInputTensor": [ ${new Array(3000).fill('127').join(', ')} ]`;
    const { records, errors } = parseAll(metadataText([{ ts: 1, extra: huge, tensor: person }, { ts: 2, tensor: person }]), 500);
    expect(records).toHaveLength(2);
    expect(records.every((r) => r.tensor?.length === 61)).toBe(true);
    expect(errors).toHaveLength(1);
    expect(errors[0].message).toMatch(/longer than 4096 bytes/);
  });

  test('garbage between records and unquoted values are counted, not fatal', () => {
    const { records, errors } = parseAll('[\n{\n    "SensorTimestamp": 5,\n    "ScalerCrop": (0, 0)/4056x3040\n}\nnot json at all\n,\n{\n    "SensorTimestamp": 6\n}\n]\n');
    expect(records.map((r) => r.sensorTimestampNs)).toEqual([5, 6]);
    expect(records[0].scalerCrop).toEqual({ x: 0, y: 0, width: 4056, height: 3040 });
    expect(errors.map((e) => e.code)).toEqual(['CAPTURE_BAD_METADATA']);
  });

  test('the SSD tensor decodes: planes, count, floor, strongest first; a wrong length is refused', () => {
    const t = tensor([
      { cls: 17, score: 0.55, box: [0.1, 0.1, 0.2, 0.3] },
      { cls: 0, score: 0.91, box: [0.4, 0.2, 0.6, 0.9] },
      { cls: 2, score: 0.3, box: [0, 0, 1, 1] },
    ]);
    const out = decodeSsdTensor(t, 0.5);
    expect(out).toHaveLength(2);
    expect(out[0]).toMatchObject({ classIndex: 0, x0: 0.4, y0: 0.2, x1: 0.6, y1: 0.9 });
    expect(out[0].confidence).toBeCloseTo(0.91, 6);
    expect(out[1].classIndex).toBe(17);
    // Slots past the count are ignored even when they hold a score.
    const stale = tensor([{ cls: 0, score: 0.9, box: [0, 0, 1, 1] }]);
    stale[60] = 0;
    expect(decodeSsdTensor(stale, 0.1)).toHaveLength(0);
    expect(() => decodeSsdTensor([1, 2, 3], 0.5)).toThrow(expect.objectContaining({ code: 'CAPTURE_BAD_METADATA' }));
  });

  test('boxes map from the sensor into the frame through ScalerCrop', () => {
    // The whole sensor: the box is the frame's fractions.
    expect(sensorBoxToFrame({ x0: 0.25, y0: 0.2, x1: 0.5, y1: 0.8 }, null)).toEqual({ x: 0.25, y: 0.2, width: 0.25, height: expect.closeTo(0.6, 9) });
    // A 16:9 crop of the 4:3 sensor: rows 440..2600 of 3040 are shown; a box is clipped to them.
    const box = sensorBoxToFrame({ x0: 0, y0: 0, x1: 0.5, y1: 0.5 }, parseRectangle('"(0, 440)/4056x2160"'))!;
    expect(box.x).toBe(0);
    expect(box.y).toBe(0);
    expect(box.width).toBeCloseTo(0.5, 9);
    expect(box.height).toBeCloseTo((1520 - 440) / 2160, 9);
    expect(sensorBoxToFrame({ x0: 0, y0: 0, x1: 1, y1: 0.1 }, { x: 0, y: 440, width: 4056, height: 2160 })).toBeNull();
    expect(() => parseRectangle('640x480')).toThrow(/not a rectangle/);
  });

  test('the post-processing file names the classes; a missing or foreign one is CAPTURE_BAD_POST_PROCESS', () => {
    const dir = tempDir();
    expect(readPostProcessClasses(postProcessFile(dir))).toEqual(CLASSES);
    expect(() => readPostProcessClasses(join(dir, 'none.json'))).toThrow(expect.objectContaining({ code: 'CAPTURE_BAD_POST_PROCESS' }));
    writeFileSync(join(dir, 'pose.json'), JSON.stringify({ imx500_posenet: {} }));
    expect(() => readPostProcessClasses(join(dir, 'pose.json'))).toThrow(expect.objectContaining({ code: 'CAPTURE_BAD_POST_PROCESS' }));
  });

  test('the AI Camera is the imx500 line of --list-cameras', () => {
    expect(isAiCameraLine('0 : imx500 [4056x3040 10-bit RGGB] (/base/axi/pcie@120000/rp1/i2c@88000/imx500@1a)')).toBe(true);
    expect(isAiCameraLine('0 : imx708 [4608x2592 10-bit RGGB] (/base/soc/i2c0mux/i2c@1/imx708@1a)')).toBe(false);
  });

  test('the pairer gives record k the k-th frame timestamp, early or late, and drops what is out of the window', () => {
    const got: FrameDetections[] = [];
    let unmatched = 0;
    const pairer = new DetectionPairer({ classes: CLASSES, minConfidence: 0.5, emit: (d) => got.push(d), unmatched: () => unmatched++, bad: () => undefined });
    const rec = (index: number): MetadataRecord => ({ index, tensor: tensor([{ cls: 16, score: 0.7, box: [0, 0, 0.5, 0.5] }]), scalerCrop: null, sensorTimestampNs: null });
    pairer.frame(0, 1000);
    pairer.record(rec(0)); // late (the usual case)
    pairer.record(rec(1)); // before its frame: waits
    expect(got).toHaveLength(1);
    pairer.frame(33_333, 1033.333);
    expect(got.map((d) => d.ptsUs)).toEqual([0, 33_333]);
    expect(got[1].objects).toEqual([{ classIndex: 16, className: 'cat', confidence: 0.7, box: { x: 0, y: 0, width: 0.5, height: 0.5 } }]);
    for (let i = 2; i < PAIRING_WINDOW_FRAMES + 10; i++) pairer.frame(i * 33_333, 1000 + i * 33.333);
    pairer.record(rec(2)); // its frame left the window
    expect(unmatched).toBe(1);
    expect(got).toHaveLength(2);
  });
});

describe('AI Camera through the rpicam source (fake rpicam-vid on PATH)', () => {
  let restore: () => void = () => undefined;
  afterEach(() => restore());

  test('a person in frames 10..20 comes with those frames timestamps; a torn line is skipped and counted', async () => {
    const dir = tempDir();
    restore = useFakeCamera({
      FAKE_RPICAM_FRAMES: '40',
      FAKE_RPICAM_IMX500_OBJECTS: JSON.stringify([{ class: 'person', score: 0.83, box: [0.25, 0.2, 0.5, 0.8], from: 10, to: 20 }]),
      FAKE_RPICAM_METADATA_CORRUPT_AT: '15',
      FAKE_RPICAM_ARGV_FILE: join(dir, 'argv'),
    });
    const source = cleanup.defer(createSource('rpicam:128x64@30', { strideAlign: 64, restart: false, aiCamera: { postProcessFile: postProcessFile(dir), minConfidence: 0.5 } }), (s) => s.stop());
    const frames: Frame[] = [];
    const detections: FrameDetections[] = [];
    source.onFrame((f) => frames.push(f));
    source.onDetections!((d) => detections.push(d));
    await source.start();
    await source.ended();
    expect(frames).toHaveLength(40);
    // rpicam-vid flushes the rest of its metadata when it exits; the reader ends it after that.
    await waitFor(() => source.stats().aiCamera!.records === 40, { timeoutMs: 10_000, what: 'the last metadata records' });
    const stats = source.stats().aiCamera!;
    expect(stats).toEqual({ records: 40, tensors: 39, objects: 10, corrupt: 1, unmatched: 0, error: null });
    expect(detections).toHaveLength(39);
    const seen = detections.filter((d) => d.objects.length > 0);
    expect(seen).toHaveLength(10);
    const expected = [10, 11, 12, 13, 14, 16, 17, 18, 19, 20].map((k) => frames[k].ptsUs);
    expect(seen.map((d) => d.ptsUs)).toEqual(expected);
    expect(seen[0].wallMs).toBeCloseTo(frames[10].wallMs, 3);
    expect(seen[0].objects).toHaveLength(1);
    expect(seen[0].objects[0].className).toBe('person');
    expect(seen[0].objects[0].confidence).toBeCloseTo(0.83, 6);
    expect(seen[0].objects[0].box.x).toBeCloseTo(0.25, 6);
    expect(seen[0].objects[0].box.height).toBeCloseTo(0.6, 6);
    const argv = JSON.parse(readFileSync(join(dir, 'argv'), 'utf8').trim()) as string[];
    expect(argv).toEqual(expect.arrayContaining(['--post-process-file', '--metadata', '--metadata-format', 'json']));
  }, 30_000);

  test('an unreadable post-processing file: the camera runs without the detector and says why', async () => {
    const dir = tempDir();
    restore = useFakeCamera({ FAKE_RPICAM_FRAMES: '5', FAKE_RPICAM_ARGV_FILE: join(dir, 'argv') });
    const source = cleanup.defer(createSource('rpicam:128x64@30', { strideAlign: 64, restart: false, aiCamera: { postProcessFile: join(dir, 'missing.json'), minConfidence: 0.5 } }), (s) => s.stop());
    await source.start();
    await source.ended();
    const stats = source.stats().aiCamera!;
    expect(stats.error?.code).toBe('CAPTURE_BAD_POST_PROCESS');
    expect(stats.records).toBe(0);
    const argv = JSON.parse(readFileSync(join(dir, 'argv'), 'utf8').trim()) as string[];
    expect(argv).not.toContain('--metadata');
  }, 30_000);
});
