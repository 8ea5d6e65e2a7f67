import { createFrame, type Frame } from '@preroll/capture';
import { createDetector } from '../src/detector';
import { createSceneRenderer, sceneTruth, type SceneSpec } from '../src/synthetic';
import type { Detector, DetectorEndEvent, DetectorEvent, DetectorStartEvent, MotionSample } from '../src/types';

const W = 320;
const H = 180;
const FPS = 10;

/** 14 s: quiet, an object crossing at 4–7 s, quiet, a light switched on (×1.5) at 10 s, quiet. */
const SCENE: SceneSpec = {
  width: W,
  height: H,
  fps: FPS,
  durationS: 14,
  seed: 42,
  noiseSigma: 2,
  cloudDepth: 0.15,
  cloudSpeed: 0.02,
  objects: [{ startS: 4, endS: 7, sizeFrac: 0.25, contrast: -70, reverse: false, yFrac: 0.6 }],
  brightnessSteps: [{ atS: 10, factor: 1.5, rampFrames: 1 }],
};

interface Run {
  samples: MotionSample[];
  events: DetectorEvent[];
}

function framesOf(spec: SceneSpec): Frame[] {
  const renderer = createSceneRenderer(spec);
  return Array.from({ length: renderer.frameCount }, (_, i) =>
    createFrame({ seq: i, ptsUs: renderer.ptsUs(i), wallMs: 1_700_000_000_000 + renderer.ptsUs(i) / 1000, width: spec.width, height: spec.height, data: renderer.frame(i) }),
  );
}

const FRAMES = framesOf(SCENE);

function runOver(detector: Detector, frames: readonly Frame[], hook?: (i: number, detector: Detector, run: Run) => void): Run {
  const run: Run = { samples: [], events: [] };
  frames.forEach((frame, i) => {
    hook?.(i, detector, run);
    const { sample, events } = detector.push(frame);
    run.samples.push(sample);
    run.events.push(...events);
  });
  run.events.push(...detector.flush());
  return run;
}

const starts = (run: Run): DetectorStartEvent[] => run.events.filter((e): e is DetectorStartEvent => e.type === 'start');
const ends = (run: Run): DetectorEndEvent[] => run.events.filter((e): e is DetectorEndEvent => e.type === 'end');

describe('createDetector over a labeled scene', () => {
  test('calibrated on the quiet start, it finds the crossing and ignores the light switch', () => {
    const detector = createDetector({ warmupS: 1 });
    const run = runOver(detector, FRAMES, (i, d) => {
      // At 3.5 s the scene has been quiet since the warm-up: calibrate and apply.
      if (i === 35) {
        const calibration = d.calibrate({ apply: true, windowS: 2.5 });
        expect(calibration.quiet).toBe(true);
        expect(calibration.frames).toBeGreaterThanOrEqual(20);
        expect(calibration.suggestedTriggerLevel).toBeGreaterThan(calibration.noiseFloor);
        expect(d.triggerLevel()).toBe(calibration.suggestedTriggerLevel);
      }
    });
    const truth = sceneTruth(SCENE).motion[0];
    expect(starts(run)).toHaveLength(1);
    const [end] = ends(run);
    expect(end.startPtsUs / 1e6).toBeGreaterThanOrEqual(truth.startS - 0.1);
    expect(end.startPtsUs / 1e6).toBeLessThan(truth.startS + 1);
    expect(end.endPtsUs / 1e6).toBeGreaterThan(truth.endS - 1);
    // Frames are compared with one about referenceS (0.5 s) older, so motion is seen until the
    // reference no longer holds the object: the end can trail the truth by that much.
    expect(end.endPtsUs / 1e6).toBeLessThanOrEqual(truth.endS + 0.5 + 0.2);
    expect(end.reason).toBe('gap');
    // The score series runs from the confirmed run's first frame and holds the peak.
    expect(end.scores[0].ptsUs).toBe(end.startPtsUs);
    expect(end.scores.some((s) => s.ptsUs === end.peakPtsUs && s.score === end.peakScore)).toBe(true);
    expect(Math.max(...end.scores.map((s) => s.score))).toBe(end.peakScore);
    // The light switch was seen and ignored.
    const switchFrame = run.samples[10 * FPS];
    expect(switchFrame.rawScore).toBeGreaterThan(100);
    expect(switchFrame.ignored).toBe('lighting');
    // Warm-up: the first second is ignored.
    expect(run.samples.slice(0, FPS).every((s) => s.ignored === 'warmup')).toBe(true);
    expect(run.samples[FPS + 1].ignored).toBeNull();
  });

  test('the heat-map of the trigger moment is hot where the object is', () => {
    const run = runOver(createDetector({ warmupS: 1, triggerLevel: 4 }), FRAMES);
    const [start] = starts(run);
    const { width, height, data } = start.heatmap;
    expect([width, height]).toEqual([160, 90]);
    // The object's path is the band around 60 % of the height; it enters from the left.
    let hot = 0;
    let hotOnObject = 0;
    let peak = 0;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const v = data[y * width + x];
        if (v <= 30) continue;
        hot++;
        if (Math.abs(y / height - 0.6) < 0.2 && x < width / 3) hotOnObject++;
        peak = Math.max(peak, v);
      }
    }
    expect(peak).toBeGreaterThan(60);
    expect(hot).toBeGreaterThan(20);
    expect(hotOnObject / hot).toBeGreaterThan(0.9);
  });

  test('masking the object path leaves nothing to detect', () => {
    const run = runOver(createDetector({ warmupS: 1, triggerLevel: 4, mask: { rects: [{ x: 0, y: 0.4, width: 1, height: 0.4 }] } }), FRAMES);
    expect(run.events).toEqual([]);
  });

  test('with brightness compensation and switch detection off, the light switch scores above a sensitive level yet starts nothing; with them on it does not score', () => {
    // Even uncompensated, a frame-wide step mostly reads as this frame's own noise (its robust
    // σ is the step), so it scores low (about 0.9 here); at a sensitive level the parts that
    // stand out are enough to score. They appear at once and then stand still, so the frames
    // after the first bring nothing new and no event is confirmed from them.
    const inStep = (run: Run): MotionSample[] => run.samples.filter((s) => s.ptsUs >= 10e6 && s.ptsUs < 10.5e6 && s.above);
    const off = runOver(createDetector({ warmupS: 1, triggerLevel: 0.3, lighting: { compensation: 'none', switchFraction: 1 } }), FRAMES.slice(90));
    expect(inStep(off).length).toBeGreaterThan(0);
    expect(starts(off).filter((s) => s.triggerPtsUs >= 10e6 && s.triggerPtsUs < 10.5e6)).toHaveLength(0);
    const on = runOver(createDetector({ warmupS: 1, triggerLevel: 0.3 }), FRAMES.slice(90));
    expect(inStep(on)).toHaveLength(0);
    expect(on.events).toEqual([]);
  });

  test('switching motion off ends the event; scores keep flowing; switching on resumes', () => {
    const run = runOver(createDetector({ warmupS: 1, triggerLevel: 4 }), FRAMES, (i, d, r) => {
      if (i === 55) r.events.push(...d.setEnabled(false));
      if (i === 56) expect(d.setEnabled(false)).toEqual([]);
      if (i === 62) r.events.push(...d.setEnabled(true));
    });
    const [first, second] = ends(run);
    expect(first.reason).toBe('disabled');
    expect(run.samples[58].ignored).toBe('disabled');
    expect(run.samples[58].score).toBeGreaterThan(0);
    // Motion goes on after switching back on: a new event.
    expect(second.startPtsUs).toBeGreaterThanOrEqual(6.2e6);
  });

  test('trigger level: set, step, clamp', () => {
    const d = createDetector({ triggerLevel: 6 });
    expect(d.stepTriggerLevel(1)).toBe(8);
    expect(d.stepTriggerLevel(-1)).toBe(6);
    expect(d.stepTriggerLevel(-1)).toBe(5);
    expect(d.setTriggerLevel(1e9)).toBe(65025);
    expect(d.setTriggerLevel(7.3)).toBe(7.3);
    expect(d.triggerLevel()).toBe(7.3);
    const { sample } = d.push(FRAMES[0]);
    expect(sample.triggerLevel).toBe(7.3);
  });

  test('a restarted source (time going backwards) or a new frame size is re-baselined with a warm-up', () => {
    const d = createDetector({ warmupS: 0.5, triggerLevel: 4 });
    FRAMES.slice(0, 20).forEach((f) => d.push(f));
    expect(d.push(FRAMES[20]).sample.ignored).toBeNull();
    // Restart: timestamps start again from 0.
    expect(d.push(FRAMES[0]).sample.ignored).toBe('warmup');
    expect(d.push(FRAMES[3]).sample.ignored).toBe('warmup');
    expect(d.push(FRAMES[8]).sample.ignored).toBeNull();
    const big = createFrame({ seq: 99, ptsUs: 2e6, wallMs: 0, width: 640, height: 360, data: Buffer.alloc(640 * 360 * 1.5, 100) });
    const sample = d.push(big).sample;
    expect([sample.ignored, sample.score]).toEqual(['warmup', 0]);
  });

  test('a frame whose luma plane is short is DETECTOR_BAD_FRAME', () => {
    const d = createDetector();
    const bad = { ...FRAMES[0], y: FRAMES[0].y.subarray(0, 100) };
    expect(() => d.push(bad)).toThrow(expect.objectContaining({ code: 'DETECTOR_BAD_FRAME' }));
  });

  test('an event is split at maxEventS and the parts chain without a hole', () => {
    const long: SceneSpec = { ...SCENE, durationS: 9, objects: [{ startS: 1, endS: 9, sizeFrac: 0.3, contrast: 80, reverse: false, yFrac: 0.5 }], brightnessSteps: [] };
    const run = runOver(createDetector({ warmupS: 0.5, triggerLevel: 4, maxEventS: 3, confirmFrames: 2 }), framesOf(long));
    const parts = ends(run);
    expect(parts.length).toBeGreaterThanOrEqual(2);
    expect(parts.slice(0, -1).every((p) => p.reason === 'max-length')).toBe(true);
    for (let k = 1; k < parts.length; k++) expect(parts[k].startPtsUs).toBe(parts[k - 1].endPtsUs);
    expect(starts(run).slice(1).every((s) => s.continued)).toBe(true);
  });
});
