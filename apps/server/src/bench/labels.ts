import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as path from 'node:path';
import sharp from 'sharp';
import { createClassifier, modelInput, type Detection } from '@preroll/classify';
import { fmt, type BenchSuite } from './suite';

/** The labelled photographs shipped for tests and this bench (sources in the manifest). */
const FIXTURES = path.resolve(__dirname, '..', '..', '..', '..', '..', 'test-fixtures', 'labels');
const SCORED = ['person', 'animal', 'vehicle'] as const;
const THRESHOLDS = [0.3, 0.35, 0.4, 0.45, 0.5];

interface Manifest {
  readonly images: ReadonlyArray<{ readonly file: string; readonly truth: readonly string[]; readonly source: string }>;
}

const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};
const mb = (bytes: number): string => fmt(bytes / 1024 / 1024, 1);

/**
 * Accuracy and cost of the event classifier on real photographs: precision and recall per
 * label at several thresholds (an image counts once per label: found or not), model load
 * time, memory added to RSS, and ms per classification against a JPEG decode + resize of the
 * same image by sharp (the baseline, measured in the same run).
 */
export const labelsBench: BenchSuite = {
  name: 'labels',
  summary: 'object labels: precision/recall per label on the shipped photographs, ms per classification vs a JPEG decode',
  async run({ quick, log }) {
    const manifest = JSON.parse(readFileSync(path.join(FIXTURES, 'manifest.json'), 'utf8')) as Manifest;
    const images = quick ? manifest.images.slice(0, 4) : manifest.images;
    const classifier = createClassifier({ minConfidence: 0.05 });
    try {
      global.gc?.();
      const rssBefore = process.memoryUsage().rss;
      // The first pass loads the model; it is timed apart.
      const first = path.join(FIXTURES, images[0].file);
      await classifier.detect(first);
      const stats0 = classifier.stats();
      const rssLoaded = process.memoryUsage().rss;

      // The detector runs in its own thread: the main thread (frames, HTTP) must stay responsive.
      const lag = monitorEventLoopDelay({ resolution: 10 });
      lag.enable();
      const decodeMs: number[] = [];
      const classifyMs: number[] = [];
      const found = new Map<string, Detection[]>();
      // The set three times over: the RSS after each round shows whether memory settles.
      const rounds = quick ? 1 : 3;
      const rssRounds: number[] = [];
      for (let round = 0; round < rounds; round++) {
        for (const image of images) {
          const file = path.join(FIXTURES, image.file);
          const d0 = performance.now();
          await modelInput(file);
          decodeMs.push(performance.now() - d0);
          const c0 = performance.now();
          const detections = await classifier.detect(file);
          classifyMs.push(performance.now() - c0);
          if (round === 0) found.set(image.file, detections);
        }
        rssRounds.push(process.memoryUsage().rss);
      }
      lag.disable();
      const rssAfter = process.memoryUsage().rss;
      const meta = await sharp(first).metadata();

      log(`${images.length} photographs (test-fixtures/labels/manifest.json says where each comes from)`);
      log(`model: MB3-CenterNet 512x512 (TensorFlow.js ${stats0.backend} in a worker thread), load ${stats0.loadMs} ms, first inference ${fmt(stats0.meanInferenceMs ?? NaN, 0)} ms`);
      log(`memory: RSS +${mb(rssLoaded - rssBefore)} MB after loading and one inference; after each round of ${images.length} classifications: ${rssRounds.map((r) => `+${mb(r - rssBefore)}`).join(', ')} MB (end: +${mb(rssAfter - rssBefore)} MB)`);
      const md = median(decodeMs);
      const mc = median(classifyMs);
      log(`ms per classification (one 512x512 pass, median of ${classifyMs.length}): ${fmt(mc, 0)} ms = ${fmt(mc / md, 1)}x a sharp decode+resize of the same JPEG (${fmt(md, 1)} ms, ${meta.width}x${meta.height} and smaller)`);
      log(`main thread while classifying: event-loop delay p99 ${fmt(lag.percentile(99) / 1e6, 0)} ms, max ${fmt(lag.max / 1e6, 0)} ms (an inference in the main thread would block it for the whole ${fmt(mc, 0)} ms)`);
      log('');
      log('| threshold | label | precision | recall | TP | FP | FN |');
      log('| --- | --- | --- | --- | --- | --- | --- |');
      for (const t of THRESHOLDS) {
        for (const label of SCORED) {
          let tp = 0;
          let fp = 0;
          let fn = 0;
          for (const image of images) {
            const predicted = (found.get(image.file) ?? []).some((d) => d.label === label && d.confidence >= t);
            const truth = image.truth.includes(label);
            if (predicted && truth) tp++;
            else if (predicted) fp++;
            else if (truth) fn++;
          }
          log(`| ${fmt(t)} | ${label} | ${tp + fp ? fmt(tp / (tp + fp)) : '-'} | ${tp + fn ? fmt(tp / (tp + fn)) : '-'} | ${tp} | ${fp} | ${fn} |`);
        }
      }
      log('');
      log('per image at 0.40 (truth → found):');
      for (const image of images) {
        const kept = (found.get(image.file) ?? []).filter((d) => d.confidence >= 0.4);
        const best = new Map<string, number>();
        for (const d of kept) best.set(d.subLabel, Math.max(best.get(d.subLabel) ?? 0, d.confidence));
        log(`  ${image.file}: [${image.truth.join(', ')}] → ${[...best].map(([s, c]) => `${s} ${fmt(c)}`).join(', ') || 'nothing'}`);
      }
    } finally {
      await classifier.close();
    }
  },
};
