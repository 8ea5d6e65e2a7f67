import { createFrame } from '@preroll/capture';
import { createDetector, createSceneRenderer, randomSceneSpec, sceneTruth, type DetectorEvent } from '@preroll/detector';
import { createAnalysedRateMeter, INITIAL_ANALYSIS_RATE_STATE, nextAnalysisRate, type AnalysisRateState } from '../src/analysis-rate';

/** The timestamps (ms) the selector analyses out of `ptsMs` at `fps`. */
function picked(ptsMs: readonly number[], fps: number): number[] {
  let state: AnalysisRateState = INITIAL_ANALYSIS_RATE_STATE;
  const out: number[] = [];
  for (const t of ptsMs) {
    const step = nextAnalysisRate(state, t * 1000, fps);
    state = step.state;
    if (step.analyse) out.push(t);
  }
  return out;
}

/** `count` frames `intervalMs` apart from `fromMs`. */
const even = (count: number, intervalMs: number, fromMs = 0): number[] => Array.from({ length: count }, (_, i) => fromMs + i * intervalMs);

describe('analysis rate: which frames the detector sees (pure)', () => {
  test.each([
    // [case, frame times ms, analysisFps, analysed frame times ms]
    ['30 fps camera at 5 fps: every 6th frame, 200 ms apart', even(13, 100 / 3).map((t) => Math.round(t)), 5, [0, 200, 400]],
    ['30 fps camera at 10 fps: every 3rd frame', even(10, 100 / 3).map((t) => Math.round(t)), 10, [0, 100, 200, 300]],
    ['15 fps camera at 5 fps: every 3rd frame', even(10, 200 / 3).map((t) => Math.round(t)), 5, [0, 200, 400, 600]],
    ['camera slower than the rate: every frame', even(5, 250), 5, [0, 250, 500, 750, 1000]],
    ['camera at exactly the rate: every frame', even(5, 200), 5, [0, 200, 400, 600, 800]],
    ['Infinity: every frame', even(4, 10), Infinity, [0, 10, 20, 30]],
    // The frame nearest the grid time wins, whether it comes a little early or late.
    ['jitter: an early frame nearer the due time is taken', [0, 33, 66, 100, 133, 166, 190, 233, 266, 300, 333, 366, 401], 5, [0, 190, 401]],
    ['jitter: a late frame is taken, and the grid holds', [0, 33, 66, 100, 133, 166, 215, 233, 266, 300, 333, 366, 400], 5, [0, 215, 400]],
    // Dropped frames: the grid waits for the next frame after the hole, then goes on from it.
    ['a hole of 1 s in the frames: the grid restarts after it', [0, 33, 66, 1066, 1100, 1133, 1166, 1200, 1233, 1266], 5, [0, 1066, 1266]],
    // A restarted source's clock starts again: a new grid from its first frame.
    ['timestamps going backwards: a new grid', [5000, 5033, 5066, 5100, 5133, 5166, 5200, 0, 33, 66, 100, 133, 166, 200], 5, [5000, 5200, 0, 200]],
  ])('%s', (_name, frames, fps, expected) => {
    expect(picked(frames, fps)).toEqual(expected);
  });

  test('a jittery 30 fps camera is analysed evenly in time: every gap within one frame of 200 ms', () => {
    // Deterministic jitter of up to ±12 ms around a 30 fps grid, over a minute.
    const frames = Array.from({ length: 1800 }, (_, i) => (i * 1000) / 30 + 12 * Math.sin(i * 2.7));
    const times = picked(frames, 5);
    expect(times.length).toBeGreaterThanOrEqual(299);
    expect(times.length).toBeLessThanOrEqual(301);
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    for (const gap of gaps) {
      expect(gap).toBeGreaterThan(200 - 1000 / 30 - 24);
      expect(gap).toBeLessThan(200 + 1000 / 30 + 24);
    }
    // Every 6th frame would drift with the jitter; the grid does not: the mean gap is 200 ms.
    expect((times[times.length - 1] - times[0]) / (times.length - 1)).toBeCloseTo(200, 0);
  });

  test('the measured rate follows the analysed timestamps and restarts with the clock', () => {
    const meter = createAnalysedRateMeter(16);
    expect(meter.fps()).toBe(0);
    for (let i = 0; i < 40; i++) meter.add(i * 200_000);
    expect(meter.fps()).toBeCloseTo(5, 6);
    meter.add(0);
    expect(meter.fps()).toBe(0);
    meter.add(100_000);
    expect(meter.fps()).toBeCloseTo(10, 6);
  });
});

describe('analysis rate: at 5 analysed frames a second the detector finds every crossing within 0.5 s', () => {
  // The scenes of the frame-rate table in docs/benchmarks.md, rendered at 30 fps; only the frames
  // the selector picks are rendered and analysed. 4 and 3 frames a second fail here (a decision
  // 0.81 s after the crossing began in seed 5, a crossing cut short in seed 3): 5 is the default.
  test.each([3, 5, 8])('scene seed %i: one event per crossing, starting with it, decided within 0.5 s', (seed) => {
    const spec = { ...randomSceneSpec(seed, { width: 320, height: 180, fps: 15, noise: [2, 6] }), fps: 30 };
    const renderer = createSceneRenderer(spec);
    const detector = createDetector();
    const found: { startS: number; endS: number; decidedS: number }[] = [];
    let decidedS = NaN;
    const note = (list: readonly DetectorEvent[]): void => {
      for (const e of list) {
        if (e.type === 'start') decidedS = e.triggerPtsUs / 1e6;
        else found.push({ startS: e.startPtsUs / 1e6, endS: e.endPtsUs / 1e6, decidedS });
      }
    };
    let state: AnalysisRateState = INITIAL_ANALYSIS_RATE_STATE;
    let analysed = 0;
    for (let i = 0; i < renderer.frameCount; i++) {
      const ptsUs = renderer.ptsUs(i);
      const step = nextAnalysisRate(state, ptsUs, 5);
      state = step.state;
      if (!step.analyse) continue;
      analysed++;
      note(detector.push(createFrame({ seq: i, ptsUs, wallMs: 0, width: spec.width, height: spec.height, data: renderer.frame(i) })).events);
    }
    note(detector.flush());
    expect(analysed).toBe(Math.ceil(renderer.frameCount / 6));
    const truth = sceneTruth(spec).motion;
    expect(found).toHaveLength(truth.length);
    found.forEach((event, i) => {
      expect(Math.abs(event.startS - truth[i].startS)).toBeLessThanOrEqual(0.25);
      expect(event.decidedS - truth[i].startS).toBeLessThanOrEqual(0.5);
      // Ends trail the crossing by up to the reference age and a pause merged into it.
      expect(event.endS).toBeGreaterThanOrEqual(truth[i].endS - 0.3);
      expect(event.endS).toBeLessThanOrEqual(truth[i].endS + 2.5);
    });
  }, 60_000);
});
