import { DetectionPairer, MetadataParser, type FrameDetections } from '@preroll/capture';
import { cpuMs, fmt, type BenchSuite } from './suite';

/** The COCO list of rpicam-apps' IMX500 post-processing file, as far as the bench's objects need it. */
const CLASSES = ['person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat', 'traffic light', 'fire hydrant', '-', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog'];

/**
 * One frame's metadata as rpicam-vid writes it with the AI Camera: the usual controls, the
 * 708-byte `CnnOutputTensorInfo` (network name, tensor count, 16 tensor descriptions) and a
 * 10-slot SSD output with two objects. About 4 kB of text, the size the real stream has.
 */
function record(n: number): string {
  const info = Array.from({ length: 708 }, (_, i) => (i * 37 + n) % 256);
  const planes = Array.from({ length: 6 }, () => new Array<number>(10).fill(0));
  const objects = [
    [0, 0.83, 0.2, 0.25, 0.8, 0.5],
    [17, 0.61, 0.6, 0.6, 0.7, 0.7],
  ];
  objects.forEach(([cls, score, y0, x0, y1, x1], i) => {
    planes[0][i] = y0;
    planes[1][i] = x0;
    planes[2][i] = y1;
    planes[3][i] = x1;
    planes[4][i] = score;
    planes[5][i] = cls;
  });
  const fields: [string, string][] = [
    ['SensorTimestamp', String(1_000_000_000 + n * 33_333_333)],
    ['ScalerCrop', '"(0, 440)/4056x2160"'],
    ['ExposureTime', '9983'],
    ['AnalogueGain', '1.000000'],
    ['DigitalGain', '1.002938'],
    ['ColourGains', '[ 2.510905, 1.656681 ]'],
    ['ColourTemperature', '4812'],
    ['Lux', '412.036621'],
    ['FrameDuration', '33333'],
    ['SensorBlackLevels', '[ 4096, 4096, 4096, 4096 ]'],
    ['ColourCorrectionMatrix', '[ 2.157550, -1.103964, -0.053596, -0.345759, 1.612293, -0.266545, -0.028138, -0.700911, 1.729049 ]'],
    ['AeLocked', 'true'],
    ['SensorTemperature', '41.000000'],
    ['FrameWallClock', String(1_733_400_000_000_000 + n * 33_333)],
    ['CnnKpiInfo', '[ 11823, 2154 ]'],
    ['CnnOutputTensorInfo', `[ ${info.join(', ')} ]`],
    ['CnnOutputTensor', `[ ${[...planes.flat(), objects.length].map((v) => v.toFixed(6)).join(', ')} ]`],
  ];
  return `${n ? ',\n' : ''}{${fields.map(([k, v], i) => `${i ? ',' : ''}\n    "${k}": ${v}`).join('')}\n}`;
}

/** CPU ms per record of `work` over `rounds` rounds, the best round (the least disturbed by other load). */
function bestOf(rounds: number, records: number, work: () => void): number {
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = cpuMs();
    work();
    best = Math.min(best, (cpuMs() - t0) / records);
  }
  return best;
}

/**
 * What reading the AI Camera's detections costs the Pi: the metadata stream parsed line by line
 * and the SSD output decoded and paired with its frame, per frame, against `JSON.parse` of the
 * same text (the least a reader of that stream could do) and against a 30 fps frame's time.
 */
export const aiCameraBench: BenchSuite = {
  name: 'aicamera',
  summary: 'AI Camera (IMX500) metadata: CPU per frame to read the detections rpicam-vid reports',
  async run({ quick, log }) {
    const count = quick ? 300 : 3000;
    const rounds = quick ? 2 : 7;
    const texts = Array.from({ length: count }, (_, n) => record(n));
    const stream = `[\n${texts.join('')}\n]\n`;
    // rpicam-vid's metadata file is a buffered ofstream: the reader gets it in blocks of about 8 KiB.
    const chunks: string[] = [];
    for (let i = 0; i < stream.length; i += 8192) chunks.push(stream.slice(i, i + 8192));
    let objects = 0;
    const ours = bestOf(rounds, count, () => {
      const pairer = new DetectionPairer({ classes: CLASSES, minConfidence: 0.4, emit: (d: FrameDetections) => (objects += d.objects.length), unmatched: () => undefined, bad: () => undefined });
      // Each frame arrives just before its record (in a camera, a few frames before).
      let frames = 0;
      const parser = new MetadataParser((r) => {
        for (; frames <= r.index; frames++) pairer.frame(frames * 33_333, frames * 33.333);
        pairer.record(r);
      }, () => undefined);
      for (const chunk of chunks) parser.push(chunk);
      parser.end();
    });
    const bodies = texts.map((t) => t.replace(/^,\n/, ''));
    let parsed = 0;
    const baseline = bestOf(rounds, count, () => {
      for (const body of bodies) parsed += Object.keys(JSON.parse(body) as object).length;
    });
    const frameMs = 1000 / 30;
    log(`records: ${count} of ${fmt(stream.length / count / 1024, 1)} KiB (17 controls, a 708-byte CnnOutputTensorInfo, 10 SSD slots with 2 objects), best of ${rounds} rounds`);
    log('');
    log('| step | CPU per frame | ratio to JSON.parse | share of a 30 fps frame |');
    log('| --- | --- | --- | --- |');
    log(`| JSON.parse of the record (baseline) | ${fmt(baseline * 1000, 1)} µs | 1.00 | ${fmt((baseline / frameMs) * 100, 3)} % |`);
    log(`| Preroll: lines → record → decode → pair → objects | ${fmt(ours * 1000, 1)} µs | ${fmt(ours / baseline)} | ${fmt((ours / frameMs) * 100, 3)} % |`);
    log('');
    log(`objects decoded per frame: ${fmt(objects / rounds / count)}; keys parsed per frame by the baseline: ${fmt(parsed / rounds / count)}`);
  },
};
