import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { createFrame, type Frame } from '@preroll/capture';
import {
  analysisGeometry,
  boxDownscale,
  calibrateFromScores,
  createDetector,
  createSceneRenderer,
  DEFAULT_DETECTOR_CONFIG,
  endEvent,
  INITIAL_EVENT_STATE,
  matchEvents,
  nextEventState,
  randomSceneSpec,
  sceneTruth,
  type DetectorOptions,
  type EventState,
  type MotionSample,
  type SceneSpec,
} from '@preroll/detector';
import { spawnFfmpeg } from '@preroll/process';
import { detectFile } from '../commands/detect';
import { fmt, type BenchSuite } from './suite';

/**
 * `pnpm bench detector`: the detector's cost per frame against the cost of reading the luma
 * plane once (the floor), and its precision/recall on labeled synthetic clips (several seeds
 * and resolutions, straight from memory as a camera delivers them, and through an H.264 file
 * as `preroll detect` reads them), plus the sweep that chose the defaults.
 */
export const detectorBench: BenchSuite = {
  name: 'detector',
  summary: 'per-frame cost vs one read of the Y plane; precision/recall on labeled clips; default sweep',
  async run({ quick, log }) {
    speed(quick, log);
    await accuracy(quick, log);
  },
};

// ---------------------------------------------------------------- speed

function speed(quick: boolean, log: (line: string) => void): void {
  const iterations = quick ? 20 : 400;
  log('');
  log(`### Cost per frame (${iterations} frames each, ms of one core; ratios against the two floors measured in the same run)`);
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

function timePerFrame(iterations: number, frames: readonly Frame[], fn: (frame: Frame, i: number) => void): number {
  // Warm the JIT, then measure.
  for (let i = 0; i < Math.min(30, iterations); i++) fn(frames[i % frames.length], i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn(frames[i % frames.length], 30 + i);
  return Number(process.hrtime.bigint() - start) / 1e6 / iterations;
}

function sceneFrames(width: number, height: number, count: number): Frame[] {
  const spec = randomSceneSpec(7, { width, height, fps: 15 });
  const renderer = createSceneRenderer({ ...spec, durationS: count / spec.fps + 1 });
  return Array.from({ length: count }, (_, i) => createFrame({ seq: i, ptsUs: renderer.ptsUs(i), wallMs: 0, width, height, data: renderer.frame(i) }));
}

// ---------------------------------------------------------------- accuracy

interface Clip {
  readonly spec: SceneSpec;
  /** Samples straight from memory, per compensation variant. */
  readonly raw: Record<string, MotionSample[]>;
  /** Samples from the H.264 file through `detectFile` (default config). */
  readonly encoded: MotionSample[] | null;
  readonly encodedEvents: { startS: number; endS: number }[] | null;
}

const VARIANTS: Record<string, DetectorOptions> = {
  'tone (default)': {},
  'gain-offset': { lighting: { compensation: 'gain-offset' } },
  offset: { lighting: { compensation: 'offset' } },
  'none, no switch detection': { lighting: { compensation: 'none', switchFraction: 1 } },
};

async function accuracy(quick: boolean, log: (line: string) => void): Promise<void> {
  const formats = quick
    ? [{ width: 320, height: 180, fps: 10, seeds: [1, 2] }]
    : [
        { width: 1280, height: 720, fps: 15, seeds: [11, 12, 13, 14, 15, 16] },
        { width: 640, height: 360, fps: 15, seeds: [21, 22, 23, 24, 25, 26] },
        { width: 640, height: 360, fps: 25, seeds: [31, 32, 33] },
        { width: 1280, height: 720, fps: 10, seeds: [41, 42, 43] },
      ];
  const dir = await mkdtemp(join(tmpdir(), 'preroll-bench-detector-'));
  const clips: Clip[] = [];
  try {
    for (const format of formats) {
      for (const seed of format.seeds) {
        const spec = randomSceneSpec(seed, { ...format, noise: [1.5, 8] });
        clips.push(await evaluateClip(spec, join(dir, `scene-${seed}.mp4`), !quick || seed === format.seeds[0]));
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const totalTruth = clips.reduce((n, c) => n + c.spec.objects.length, 0);
  const totalSteps = clips.reduce((n, c) => n + c.spec.brightnessSteps.length, 0);
  const totalGlitches = clips.reduce((n, c) => n + (c.spec.glitches?.length ?? 0), 0);
  log('');
  log(
    `### Event detection on ${clips.length} labeled clips (${totalTruth} crossings, ${totalSteps} brightness steps, ${totalGlitches} one/two-frame glitches; formats ${formats.map((f) => `${f.width}x${f.height}@${f.fps} ×${f.seeds.length}`).join(', ')}; sensor noise σ 1.5–8)`,
  );
  log('');
  log(`Defaults: trigger level ${DEFAULT_DETECTOR_CONFIG.triggerLevel}, confirm ${DEFAULT_DETECTOR_CONFIG.confirmFrames} frames, gap ${DEFAULT_DETECTOR_CONFIG.gapS} s.`);
  log('');
  log('| path | lighting | precision | recall | false events | of which fragments of a crossing | from brightness steps | from glitches | median start delay s |');
  log('|---|---|---|---|---|---|---|---|---|');
  for (const variant of Object.keys(VARIANTS)) {
    const totals = replayAll(clips.map((c) => ({ spec: c.spec, samples: c.raw[variant] })), DEFAULT_DETECTOR_CONFIG);
    log(
      `| memory (camera) | ${variant} | ${fmt(totals.precision, 3)} | ${fmt(totals.recall, 3)} | ${totals.falsePositives} | ${totals.fragments} | ${totals.fromSteps} | ${totals.fromGlitches} | ${fmt(totals.medianDelayS)} |`,
    );
  }
  const encodedClips = clips.filter((c) => c.encoded);
  if (encodedClips.length) {
    const replayed = replayAll(encodedClips.map((c) => ({ spec: c.spec, samples: c.encoded! })), DEFAULT_DETECTOR_CONFIG);
    // The CLI path's own events must agree with the replay of its samples.
    const direct = encodedClips.map((c) => matchEvents(c.encodedEvents!, sceneTruth(c.spec)));
    const tp = direct.reduce((n, m) => n + m.truePositives, 0);
    const fp = direct.reduce((n, m) => n + m.falsePositives, 0);
    const found = direct.reduce((n, m) => n + m.truePositives, 0);
    const truth = encodedClips.reduce((n, c) => n + c.spec.objects.length, 0);
    log(
      `| H.264 file via preroll detect (${encodedClips.length} clips) | tone (default) | ${fmt(tp / Math.max(1, tp + fp), 3)} | ${fmt(found / truth, 3)} | ${fp} | ${replayed.fragments} | ${replayed.fromSteps} | ${replayed.fromGlitches} | ${fmt(replayed.medianDelayS)} |`,
    );
  }
  log('');
  log('Per format at the defaults (memory path): the score is per analysis pixel, so the noise floor falls with the box size (σ²·2/box²).');
  log('');
  log('| format | clips | noise floor (p95 of quiet frames, min–max) | precision | recall | false events |');
  log('|---|---|---|---|---|---|');
  for (const format of formats) {
    const own = clips.filter((c) => c.spec.width === format.width && c.spec.fps === format.fps);
    const totals = replayAll(own.map((c) => ({ spec: c.spec, samples: c.raw['tone (default)'] })), DEFAULT_DETECTOR_CONFIG);
    const floors = own.map((c) => {
      const quietFirstS = c.spec.objects[0]?.startS ?? Infinity;
      return calibrateFromScores(c.raw['tone (default)'].filter((x) => x.ignored === null && x.ptsUs / 1e6 < quietFirstS - 0.2).map((x) => x.score), DEFAULT_DETECTOR_CONFIG).noiseFloor;
    });
    log(`| ${format.width}x${format.height}@${format.fps} | ${own.length} | ${fmt(Math.min(...floors))}–${fmt(Math.max(...floors))} | ${fmt(totals.precision, 3)} | ${fmt(totals.recall, 3)} | ${totals.falsePositives} |`);
  }
  sweep(clips, log, quick);
  calibrationSweep(clips, log);
}

/**
 * How good is auto-calibration? Each clip is calibrated on its quiet start (from the end of the
 * warm-up to the first crossing, as a user would press "calibrate" on a quiet scene), then
 * replayed at the suggested level, for several margins: the one the defaults use is chosen
 * from this table.
 */
function calibrationSweep(clips: readonly Clip[], log: (line: string) => void): void {
  const pools = clips.flatMap((c) => [{ spec: c.spec, samples: c.raw['tone (default)'], path: 'memory' }, ...(c.encoded ? [{ spec: c.spec, samples: c.encoded, path: 'h264' }] : [])]);
  log('');
  log(`### Auto-calibration on each clip's quiet start, then detection at the suggested level (${pools.length} runs)`);
  log('');
  log('| margin × noise floor (and ≥ 1.25 × quiet peak) | precision | recall | F1 | false events | missed | suggested levels (min–max) |');
  log('|---|---|---|---|---|---|---|');
  for (const margin of [1.5, 2, 3, 4, 6, 10]) {
    let tp = 0;
    let fp = 0;
    let found = 0;
    let truth = 0;
    const levels: number[] = [];
    for (const pool of pools) {
      const firstS = pool.spec.objects[0]?.startS ?? Infinity;
      const first = pool.samples[0]?.ptsUs ?? 0;
      const quiet = pool.samples.filter((s) => s.ignored === null && (s.ptsUs - first) / 1e6 < firstS - 0.2).map((s) => s.score);
      const { suggestedTriggerLevel } = calibrateFromScores(quiet, DEFAULT_DETECTOR_CONFIG, { margin });
      levels.push(suggestedTriggerLevel);
      const match = matchEvents(replay(pool.samples, suggestedTriggerLevel, DEFAULT_DETECTOR_CONFIG), sceneTruth(pool.spec));
      tp += match.truePositives;
      fp += match.falsePositives;
      found += match.truePositives;
      truth += pool.spec.objects.length;
    }
    const precision = tp + fp ? tp / (tp + fp) : 1;
    const recall = truth ? found / truth : 1;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    log(`| ${margin} | ${fmt(precision, 3)} | ${fmt(recall, 3)} | ${fmt(f1, 3)} | ${fp} | ${truth - found} | ${Math.min(...levels)}–${Math.max(...levels)} |`);
  }
}

async function evaluateClip(spec: SceneSpec, path: string, encode: boolean): Promise<Clip> {
  const renderer = createSceneRenderer(spec);
  const detectors = Object.fromEntries(Object.entries(VARIANTS).map(([name, options]) => [name, createDetector(options)]));
  const raw: Record<string, MotionSample[]> = Object.fromEntries(Object.keys(VARIANTS).map((name) => [name, []]));
  const encoder = encode
    ? spawnFfmpeg({
        name: 'bench-encoder',
        args: ['-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', `${spec.width}x${spec.height}`, '-r', String(spec.fps), '-i', '-', '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', '-g', String(spec.fps * 2), '-pix_fmt', 'yuv420p', '-y', path],
        stdio: ['pipe', 'ignore', 'pipe'],
      })
    : null;
  for (let i = 0; i < renderer.frameCount; i++) {
    const data = renderer.frame(i);
    const frame = createFrame({ seq: i, ptsUs: renderer.ptsUs(i), wallMs: 0, width: spec.width, height: spec.height, data });
    for (const [name, detector] of Object.entries(detectors)) raw[name].push(detector.push(frame).sample);
    if (encoder?.stdin && !encoder.stdin.write(data)) await once(encoder.stdin, 'drain');
  }
  if (!encoder) return { spec, raw, encoded: null, encodedEvents: null };
  encoder.stdin?.end();
  const exit = await encoder.exited;
  if (exit.code !== 0) throw new Error(`encoder failed: ${exit.stderrTail.join('\n')}`);
  const result = await detectFile(path, { keepSamples: true });
  return { spec, raw, encoded: result.samples ?? [], encodedEvents: result.events };
}

interface Totals {
  precision: number;
  recall: number;
  f1: number;
  truePositives: number;
  falsePositives: number;
  missed: number;
  fromSteps: number;
  fromGlitches: number;
  fragments: number;
  medianDelayS: number;
}

/** Replays recorded samples through the pure state machine with another level/confirm/gap. */
function replay(samples: readonly MotionSample[], level: number, config: { confirmFrames: number; gapS: number; maxEventS: number }): { startS: number; endS: number }[] {
  let state: EventState = INITIAL_EVENT_STATE;
  const events: { startS: number; endS: number }[] = [];
  const first = samples[0]?.ptsUs ?? 0;
  for (const s of samples) {
    const step = nextEventState(state, { ...s, above: s.ignored === null && s.score > level }, config);
    state = step.state;
    for (const t of step.transitions) if (t.type === 'end') events.push({ startS: (t.startPtsUs - first) / 1e6, endS: (t.endPtsUs - first) / 1e6 });
  }
  const end = endEvent(state, 'flush');
  if (end) events.push({ startS: (end.startPtsUs - first) / 1e6, endS: (end.endPtsUs - first) / 1e6 });
  return events;
}

function replayAll(clips: readonly { spec: SceneSpec; samples: readonly MotionSample[] }[], config: { triggerLevel: number; confirmFrames: number; gapS: number; maxEventS: number }): Totals {
  let tp = 0;
  let fp = 0;
  let missed = 0;
  let found = 0;
  let truth = 0;
  let fromSteps = 0;
  let fromGlitches = 0;
  let fragments = 0;
  const delays: number[] = [];
  for (const clip of clips) {
    const match = matchEvents(replay(clip.samples, config.triggerLevel, config), sceneTruth(clip.spec));
    tp += match.truePositives;
    fp += match.falsePositives;
    missed += match.missed;
    found += match.truePositives;
    truth += clip.spec.objects.length;
    fromSteps += match.eventsFromBrightnessSteps;
    fromGlitches += match.eventsFromGlitches;
    fragments += match.fragments;
    delays.push(...match.startDelaysS);
  }
  const precision = tp + fp ? tp / (tp + fp) : 1;
  const recall = truth ? found / truth : 1;
  delays.sort((a, b) => a - b);
  return {
    precision,
    recall,
    f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0,
    truePositives: tp,
    falsePositives: fp,
    missed,
    fromSteps,
    fromGlitches,
    fragments,
    medianDelayS: delays.length ? delays[Math.floor(delays.length / 2)] : NaN,
  };
}

/**
 * The sweep behind the defaults: every (level, confirm frames, gap) over every clip's recorded
 * samples, both paths pooled. The pick, printed with the table: among the (confirm, gap) pairs
 * whose best F1 is within 0.01 of the overall best, the one with the widest range of levels
 * within 0.02 of the best (the most forgiving when a camera is noisier than these clips),
 * fewer confirm frames first on a tie (lower latency); its level is the ladder rung nearest
 * the geometric centre of that range.
 */
function sweep(clips: readonly Clip[], log: (line: string) => void, quick: boolean): void {
  const pools = clips.flatMap((c) => [{ spec: c.spec, samples: c.raw['tone (default)'] }, ...(c.encoded ? [{ spec: c.spec, samples: c.encoded }] : [])]);
  const levels = [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40];
  const confirms = quick ? [2, 3] : [1, 2, 3, 4, 5];
  const gaps = quick ? [2] : [1, 2, 3, 4];
  const rows: { level: number; confirmFrames: number; gapS: number; totals: Totals }[] = [];
  for (const level of levels) {
    for (const confirmFrames of confirms) {
      for (const gapS of gaps) {
        rows.push({ level, confirmFrames, gapS, totals: replayAll(pools, { triggerLevel: level, confirmFrames, gapS, maxEventS: DEFAULT_DETECTOR_CONFIG.maxEventS }) });
      }
    }
  }
  const best = Math.max(...rows.map((r) => r.totals.f1));
  const pairs = confirms.flatMap((confirmFrames) => gaps.map((gapS) => ({ confirmFrames, gapS })));
  const plateaus = pairs
    .map((pair) => {
      const own = rows.filter((r) => r.confirmFrames === pair.confirmFrames && r.gapS === pair.gapS);
      const good = own.filter((r) => r.totals.f1 >= best - 0.02).map((r) => r.level);
      return { ...pair, ownBest: Math.max(...own.map((r) => r.totals.f1)), low: Math.min(...good), high: Math.max(...good), width: good.length };
    })
    .filter((p) => p.ownBest >= best - 0.01 && p.width > 0)
    .sort((a, b) => b.width - a.width || a.confirmFrames - b.confirmFrames || a.gapS - b.gapS);
  const pick = plateaus[0];
  const centre = Math.sqrt(pick.low * pick.high);
  const pickLevel = levels.reduce((a, b) => (Math.abs(Math.log(b / centre)) < Math.abs(Math.log(a / centre)) ? b : a));
  log('');
  log(`### Sweep (${pools.length} runs: every clip from memory${pools.length > clips.length ? ' and through H.264' : ''}); best F1 ${fmt(best, 3)}`);
  log('');
  log('F1 by trigger level for each (confirm frames, gap s); * marks levels within 0.02 of the best:');
  log('');
  log(`| confirm | gap s | ${levels.join(' | ')} |`);
  log(`|---|---|${levels.map(() => '---').join('|')}|`);
  for (const pair of pairs) {
    const cells = levels.map((level) => {
      const r = rows.find((x) => x.level === level && x.confirmFrames === pair.confirmFrames && x.gapS === pair.gapS)!;
      return `${fmt(r.totals.f1, 3)}${r.totals.f1 >= best - 0.02 ? '*' : ''}`;
    });
    log(`| ${pair.confirmFrames} | ${pair.gapS} | ${cells.join(' | ')} |`);
  }
  log('');
  log(
    `Pick: confirm ${pick.confirmFrames} frames, gap ${pick.gapS} s (good levels ${pick.low}–${pick.high}), trigger level ${pickLevel} (rung nearest the geometric centre ${fmt(centre, 1)}).`,
  );
  log('');
  log('| level | confirm frames | gap s | precision | recall | F1 | false events | fragments | from brightness steps | from glitches | median delay s |');
  log('|---|---|---|---|---|---|---|---|---|---|---|');
  const show = (r: (typeof rows)[number], mark = ''): void =>
    log(
      `| ${r.level}${mark} | ${r.confirmFrames} | ${r.gapS} | ${fmt(r.totals.precision, 3)} | ${fmt(r.totals.recall, 3)} | ${fmt(r.totals.f1, 3)} | ${r.totals.falsePositives} | ${r.totals.fragments} | ${r.totals.fromSteps} | ${r.totals.fromGlitches} | ${fmt(r.totals.medianDelayS)} |`,
    );
  const picked = rows.find((r) => r.level === pickLevel && r.confirmFrames === pick.confirmFrames && r.gapS === pick.gapS);
  if (picked) show(picked, ' (pick)');
  const current = rows.find((r) => r.level === DEFAULT_DETECTOR_CONFIG.triggerLevel && r.confirmFrames === DEFAULT_DETECTOR_CONFIG.confirmFrames && r.gapS === DEFAULT_DETECTOR_CONFIG.gapS);
  if (current && current !== picked) show(current, ' (current defaults)');
  for (const confirmFrames of confirms) {
    const r = rows.find((x) => x.level === pickLevel && x.confirmFrames === confirmFrames && x.gapS === pick.gapS);
    if (r && r !== picked) show(r);
  }
}

