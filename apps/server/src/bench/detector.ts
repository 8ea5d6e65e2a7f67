import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFrame, type Frame } from '@preroll/capture';
import {
  analysisGeometry,
  boxDownscale,
  createDetector,
  createSceneRenderer,
  DEFAULT_DETECTOR_CONFIG,
  matchEvents,
  randomSceneSpec,
  sceneTruth,
  type DetectorOptions,
  type DetectorStartEvent,
  type SceneSpec,
} from '@preroll/detector';
import { buildLabeledSet, type LabeledClip } from './detector-set';
import { fmt, type BenchSuite } from './suite';

/**
 * `pnpm bench detector`: the detector's cost per frame against the cost of reading the luma
 * plane once (the floor), per class of the labelled set (real footage composited and degraded,
 * plus synthetic scenes): precision, recall, false events per hour of quiet scene and start
 * delay at the defaults; the sweep the defaults were chosen by; and the same scene at several
 * frame rates.
 */
export const detectorBench: BenchSuite = {
  name: 'detector',
  summary: 'per-frame cost vs one read of the Y plane; per-class accuracy on a labelled set from real footage; default sweep; frame-rate independence',
  async run({ quick, log }) {
    speed(quick, log);
    await accuracy(quick, log);
    frameRates(log);
  },
};

// ---------------------------------------------------------------- speed

function speed(quick: boolean, log: (line: string) => void): void {
  const iterations = quick ? 21 : 700;
  log('');
  log(`### Cost per frame (best of ${ROUNDS} rounds of ${Math.floor(iterations / ROUNDS)} frames each, ms of CPU time of one core; ratios against the two floors measured in the same run)`);
  log('');
  log('| input | floor: sum every Y byte | floor: sum Y as 32-bit words | box downscale | detector.push (aligned) | detector.push (unaligned Buffer) | push / byte floor | push / word floor |');
  log('|---|---|---|---|---|---|---|---|');
  let sink = 0;
  for (const [width, height] of [
    [1280, 720],
    [1920, 1080],
  ]) {
    const frames = sceneFrames(width, height, 6);
    const unaligned = frames.map((f) => {
      const copy = Buffer.alloc(f.data.length + 1).subarray(1);
      f.data.copy(copy);
      return createFrame({ seq: f.seq, ptsUs: f.ptsUs, wallMs: f.wallMs, width, height, data: copy });
    });
    const byteFloor = timePerFrame(iterations, frames, (f) => {
      const y = f.y;
      let s = 0;
      for (let i = 0; i < y.length; i++) s += y[i];
      sink += s;
    });
    const wordFloor = timePerFrame(iterations, frames, (f) => {
      const words = new Uint32Array(f.y.buffer, f.y.byteOffset, f.y.length >>> 2);
      let s = 0;
      for (let i = 0; i < words.length; i++) s += (words[i] & 0x00ff00ff) + ((words[i] >>> 8) & 0x00ff00ff);
      sink += s;
    });
    const geometry = analysisGeometry(width, height, DEFAULT_DETECTOR_CONFIG.analysisWidth);
    const out = new Uint8Array(geometry.width * geometry.height);
    const downscale = timePerFrame(iterations, frames, (f) => boxDownscale(f.y, geometry, out));
    const push = timePerFrame(iterations, frames, withDetector());
    const pushUnaligned = timePerFrame(iterations, unaligned, withDetector());
    log(
      `| ${width}x${height} | ${fmt(byteFloor, 3)} | ${fmt(wordFloor, 3)} | ${fmt(downscale, 3)} | ${fmt(push, 3)} | ${fmt(pushUnaligned, 3)} | ${fmt(push / byteFloor)}x (unaligned ${fmt(pushUnaligned / byteFloor)}x) | ${fmt(push / wordFloor)}x (unaligned ${fmt(pushUnaligned / wordFloor)}x) |`,
    );
  }
  // Printing the sums keeps the floor loops from being optimised away.
  log('');
  log(`(floor checksum ${sink % 1_000_003})`);
}

/** A fresh detector with its timestamps advancing, as a live pipeline drives it. */
function withDetector(): (frame: Frame, i: number) => void {
  const detector = createDetector({ warmupS: 0 });
  return (frame, i) => {
    detector.push({ ...frame, seq: i, ptsUs: i * 66_667 });
  };
}

/** Timing rounds per measurement; the best one counts. */
const ROUNDS = 7;

/**
 * ms per call: the best of `ROUNDS` rounds of `iterations / ROUNDS` calls each, after a
 * warm-up, in CPU time of this process (`process.cpuUsage`), not wall time: on a machine
 * loaded by other work, wall time counts the time this process waited for a core. The best
 * round is the one least disturbed (caches, frequency); floors and the detector are measured
 * the same way in the same run, so their ratio stays fair.
 */
function timePerFrame(iterations: number, frames: readonly Frame[], fn: (frame: Frame, i: number) => void): number {
  for (let i = 0; i < Math.min(30, iterations); i++) fn(frames[i % frames.length], i);
  const perRound = Math.max(1, Math.floor(iterations / ROUNDS));
  let best = Number.POSITIVE_INFINITY;
  let n = 30;
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.cpuUsage();
    for (let i = 0; i < perRound; i++, n++) fn(frames[n % frames.length], n);
    const used = process.cpuUsage(start);
    best = Math.min(best, (used.user + used.system) / 1e3 / perRound);
  }
  return best;
}

function sceneFrames(width: number, height: number, count: number): Frame[] {
  const spec = randomSceneSpec(7, { width, height, fps: 15 });
  const renderer = createSceneRenderer({ ...spec, durationS: count / spec.fps + 1 });
  return Array.from({ length: count }, (_, i) => createFrame({ seq: i, ptsUs: renderer.ptsUs(i), wallMs: 0, width, height, data: renderer.frame(i) }));
}

// ---------------------------------------------------------------- accuracy

/** One detected event, seconds from the clip's first frame. */
interface Found {
  readonly startS: number;
  readonly endS: number;
  /** When the event was confirmed (the decision moment). */
  readonly triggerS: number;
}

/** Runs a fresh detector over a clip's frames and lists its events. */
function runClip(clip: LabeledClip, options: DetectorOptions): Found[] {
  const detector = createDetector(options);
  const found: Found[] = [];
  let trigger = 0;
  const collect = (events: ReturnType<typeof detector.flush>): void => {
    for (const e of events) {
      if (e.type === 'start') trigger = (e as DetectorStartEvent).triggerPtsUs;
      else found.push({ startS: e.startPtsUs / 1e6, endS: e.endPtsUs / 1e6, triggerS: trigger / 1e6 });
    }
  };
  for (const frame of clip.frames) collect(detector.push(frame).events);
  collect(detector.flush());
  return found;
}

/** Per-class figures. */
interface ClassTotals {
  readonly clips: number;
  readonly truth: number;
  readonly found: number;
  readonly falseEvents: number;
  /** False events on the clips without anybody in them. */
  readonly falseOnQuiet: number;
  readonly quietS: number;
  readonly precision: number;
  readonly recall: number;
  readonly startDelaysS: number[];
  readonly triggerDelaysS: number[];
}

function evaluate(clips: readonly LabeledClip[], options: DetectorOptions): Map<string, ClassTotals> {
  const byClass = new Map<string, ClassTotals>();
  for (const clip of clips) {
    const events = runClip(clip, options);
    const match = matchEvents(events, { motion: clip.motion, brightnessStepsS: clip.brightnessStepsS });
    const triggerDelays: number[] = [];
    for (const t of clip.motion) {
      const hit = events.find((e) => e.startS >= t.startS - 0.5 && e.startS <= t.endS + 0.5);
      if (hit) triggerDelays.push(hit.triggerS - t.startS);
    }
    // Quiet time: the clip minus the warm-up and each crossing with the 3 s an event may run on.
    const busyS = clip.motion.reduce((s, t) => s + (t.endS - t.startS) + 3, 0);
    const quietS = Math.max(0, clip.durationS - DEFAULT_DETECTOR_CONFIG.warmupS - busyS);
    const old = byClass.get(clip.cls);
    const merged = {
      clips: (old?.clips ?? 0) + 1,
      truth: (old?.truth ?? 0) + clip.motion.length,
      found: (old?.found ?? 0) + match.truePositives,
      falseEvents: (old?.falseEvents ?? 0) + match.falsePositives,
      falseOnQuiet: (old?.falseOnQuiet ?? 0) + (clip.motion.length === 0 ? match.falsePositives : 0),
      quietS: (old?.quietS ?? 0) + quietS,
      startDelaysS: [...(old?.startDelaysS ?? []), ...match.startDelaysS],
      triggerDelaysS: [...(old?.triggerDelaysS ?? []), ...triggerDelays],
    };
    const detected = merged.found + merged.falseEvents;
    byClass.set(clip.cls, {
      ...merged,
      precision: detected ? merged.found / detected : 1,
      recall: merged.truth ? merged.found / merged.truth : 1,
    });
  }
  return byClass;
}

function median(values: readonly number[]): number {
  if (!values.length) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

function overall(byClass: Map<string, ClassTotals>): { minRecall: number; recall: number; falseEvents: number; triggerDelayS: number; worstStartDelayS: number } {
  const all = [...byClass.values()];
  const truth = all.reduce((n, c) => n + c.truth, 0);
  const found = all.reduce((n, c) => n + c.found, 0);
  const starts = all.filter((c) => c.startDelaysS.length > 0).map((c) => median(c.startDelaysS));
  return {
    minRecall: Math.min(...all.map((c) => c.recall)),
    recall: truth ? found / truth : 1,
    falseEvents: all.reduce((n, c) => n + c.falseEvents, 0),
    triggerDelayS: median(all.flatMap((c) => c.triggerDelaysS)),
    worstStartDelayS: starts.length ? Math.max(...starts) : 0,
  };
}

function classTable(byClass: Map<string, ClassTotals>, log: (line: string) => void): void {
  log('| class | clips | people crossing | precision | recall | false events | false events per hour of quiet scene | median start delay s (event start) | median decision delay s (confirmation) |');
  log('|---|---|---|---|---|---|---|---|---|');
  for (const [cls, c] of byClass) {
    const perHour = c.quietS > 0 ? (c.falseOnQuiet / c.quietS) * 3600 : 0;
    log(
      `| ${cls} | ${c.clips} | ${c.truth} | ${fmt(c.precision, 3)} | ${fmt(c.recall, 3)} | ${c.falseEvents} | ${fmt(perHour, 1)} (${c.falseOnQuiet} in ${fmt(c.quietS / 60, 1)} min) | ${fmt(median(c.startDelaysS))} | ${fmt(median(c.triggerDelaysS))} |`,
    );
  }
}

/** The start-delay target of the defaults (median decision delay, seconds). */
const DELAY_TARGET_S = 0.3;
/** No class may find its people later than this (median event start after the truth, seconds). */
const CLASS_START_TARGET_S = 0.5;
/** Delays closer than this count as equal (half a frame at 10 frames/s). */
const DELAY_STEP_S = 0.05;

/**
 * The rule the defaults are chosen by, over the whole set (never per clip): among the swept
 * settings whose median decision delay meets the target (0.3 s) and whose every class finds its
 * people within 0.5 s (median event start), fewest false events over every clip; then the
 * highest recall of the worst class; then the highest overall recall; then the shortest median
 * decision delay, in steps of 0.05 s; then the least sensitive setting (higher σ multiple,
 * larger minimum area, higher level: the most margin for footage noisier than this set).
 */
function pickDefaults<R extends { score: ReturnType<typeof overall>; strictness: number }>(rows: readonly R[]): R {
  const timely = rows.filter((r) => r.score.triggerDelayS <= DELAY_TARGET_S && r.score.worstStartDelayS <= CLASS_START_TARGET_S);
  const step = (s: number): number => Math.round(s / DELAY_STEP_S);
  return [...(timely.length ? timely : rows)].sort(
    (a, b) =>
      a.score.falseEvents - b.score.falseEvents ||
      b.score.minRecall - a.score.minRecall ||
      b.score.recall - a.score.recall ||
      step(a.score.triggerDelayS) - step(b.score.triggerDelayS) ||
      b.strictness - a.strictness,
  )[0];
}

async function accuracy(quick: boolean, log: (line: string) => void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'preroll-bench-detector-'));
  let clips: LabeledClip[];
  try {
    clips = await buildLabeledSet({ quick, dir, log });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const real = clips.filter((c) => c.real);
  const frames = clips.reduce((n, c) => n + c.frames.length, 0);
  log('');
  log(
    `### Per class at the defaults (${clips.length} clips, ${real.length} from real footage, ${frames} frames, ${fmt(clips.reduce((s, c) => s + c.durationS, 0) / 60, 1)} min; ${clips.reduce((n, c) => n + c.motion.length, 0)} people crossing)`,
  );
  log('');
  const d = DEFAULT_DETECTOR_CONFIG;
  log(
    `Defaults: ${d.triggerMode} level from ${d.triggerLevel} (×${d.night.levelFactor} at night), threshold ${d.noise.thresholdSigma} σ (at least ${d.noise.minDeltaLuma} levels), regions of at least ${d.regions.minAreaFraction * 100} % of the image, reference ${d.referenceS} s old, confirm ${d.confirmS} s and ${d.confirmFrames} fresh frames, gap ${d.gapS} s.`,
  );
  log('');
  classTable(evaluate(clips, {}), log);
  // A focused grid around the defaults (the earlier full grid settled the area at 0.1 % and
  // the threshold at 4 σ): the level and the night factor; then one step of σ, of area and of
  // confirmation at the defaults' other values.
  const levels = quick ? [0.5, 1] : [0.5, 1, 2];
  const sigmas = [d.noise.thresholdSigma];
  const areas = [d.regions.minAreaFraction];
  const factors = quick ? [0.1] : [0.1, 0.2, 0.5];
  const rows: { key: DetectorOptions; label: string; score: ReturnType<typeof overall>; strictness: number; byClass: Map<string, ClassTotals> }[] = [];
  const add = (level: number, sigma: number, area: number, levelFactor: number, confirmS: number): void => {
    const key: DetectorOptions = { triggerLevel: level, confirmS, noise: { thresholdSigma: sigma }, regions: { minAreaFraction: area }, night: { thresholdSigma: sigma, minAreaFraction: area, levelFactor } };
    const byClass = evaluate(clips, key);
    rows.push({
      key,
      label: `level ${level} (night ×${levelFactor}), ${sigma} σ, area ${fmt(area * 100, 2)} %, confirm ${confirmS} s`,
      score: overall(byClass),
      strictness: sigma * 1e6 + area * 1e8 + level * 10 + confirmS + levelFactor / 10,
      byClass,
    });
  };
  // The grid at confirm 0.2 s, then 0.5 σ less, twice the area and 0.3 s at the defaults' other
  // values: on this set each step of confirmation adds its duration to the start delay, which
  // the rule bounds.
  for (const level of levels) for (const sigma of sigmas) for (const area of areas) for (const levelFactor of factors) add(level, sigma, area, levelFactor, 0.2);
  if (!quick) {
    add(d.triggerLevel, d.noise.thresholdSigma - 0.5, d.regions.minAreaFraction, d.night.levelFactor, d.confirmS);
    add(d.triggerLevel, d.noise.thresholdSigma, d.regions.minAreaFraction * 2, d.night.levelFactor, d.confirmS);
    add(d.triggerLevel, d.noise.thresholdSigma, d.regions.minAreaFraction, d.night.levelFactor, 0.3);
  }
  const pick = pickDefaults(rows);
  const classes = [...new Set(clips.map((c) => c.cls))];
  log('');
  log(`### Sweep over the whole set (${rows.length} settings; recall per class, false events over all clips)`);
  log('');
  log(`| setting | false events | worst-class recall | recall | median decision delay s | worst class's median start delay s | ${classes.join(' | ')} |`);
  log(`|---|---|---|---|---|---|${classes.map(() => '---').join('|')}|`);
  for (const r of rows) {
    const mark = r === pick ? ' (pick)' : '';
    log(
      `| ${r.label}${mark} | ${r.score.falseEvents} | ${fmt(r.score.minRecall, 3)} | ${fmt(r.score.recall, 3)} | ${fmt(r.score.triggerDelayS)} | ${fmt(r.score.worstStartDelayS)} | ${classes.map((c) => `${fmt(r.byClass.get(c)?.recall ?? 1, 2)}/${r.byClass.get(c)?.falseEvents ?? 0}`).join(' | ')} |`,
    );
  }
  log('');
  log(
    `Pick by the rule (median decision delay ≤ ${DELAY_TARGET_S} s and every class's median start delay ≤ ${CLASS_START_TARGET_S} s; then fewest false events, worst-class recall, recall, delay in ${DELAY_STEP_S} s steps, then the least sensitive): ${pick.label}.`,
  );
  const isDefault =
    pick.key.triggerLevel === d.triggerLevel &&
    pick.key.confirmS === d.confirmS &&
    pick.key.noise?.thresholdSigma === d.noise.thresholdSigma &&
    pick.key.regions?.minAreaFraction === d.regions.minAreaFraction &&
    pick.key.night?.levelFactor === d.night.levelFactor;
  if (!isDefault) {
    log('');
    log('The pick is not the defaults in force; per class at the pick:');
    log('');
    classTable(pick.byClass, log);
  }
}

// ---------------------------------------------------------------- frame rates

/**
 * The same synthetic scene rendered at 2, 5, 15 and 30 frames/s: the events should be the
 * same (the reference is a time ago, confirmation and gaps are durations).
 */
function frameRates(log: (line: string) => void): void {
  log('');
  log('### The same scene at several frame rates (events as start–end s; truth from the scene)');
  log('');
  log('| scene | truth | 2 fps | 5 fps | 15 fps | 30 fps |');
  log('|---|---|---|---|---|---|');
  for (const seed of [3, 5, 8]) {
    const base = randomSceneSpec(seed, { width: 320, height: 180, fps: 15, noise: [2, 6] });
    const cells = [2, 5, 15, 30].map((fps) => {
      const spec: SceneSpec = { ...base, fps };
      const renderer = createSceneRenderer(spec);
      const detector = createDetector();
      const events: string[] = [];
      const note = (list: ReturnType<typeof detector.flush>): void => {
        for (const e of list) if (e.type === 'end') events.push(`${fmt(e.startPtsUs / 1e6, 1)}–${fmt(e.endPtsUs / 1e6, 1)}`);
      };
      for (let i = 0; i < renderer.frameCount; i++) {
        note(detector.push(createFrame({ seq: i, ptsUs: renderer.ptsUs(i), wallMs: 0, width: spec.width, height: spec.height, data: renderer.frame(i) })).events);
      }
      note(detector.flush());
      return events.join(', ') || '—';
    });
    const truth = sceneTruth(base).motion.map((t) => `${fmt(t.startS, 1)}–${fmt(t.endS, 1)}`).join(', ');
    log(`| seed ${seed} | ${truth} | ${cells.join(' | ')} |`);
  }
}
