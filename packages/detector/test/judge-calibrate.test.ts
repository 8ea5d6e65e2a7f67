import { calibrateFromScores, estimateNoiseFloor, percentile, quietestWindow, CALIBRATION_MARGIN, CALIBRATION_PEAK_MARGIN } from '../src/calibrate';
import { DEFAULT_DETECTOR_CONFIG } from '../src/config';
import { judgeFrame } from '../src/judge';
import type { FrameScore } from '../src/score';

const score = (value: number, sameDirection = 0): FrameScore =>
  ({ score: value, rawScore: value, meanDelta: 0, changedFraction: sameDirection, sameDirectionFraction: sameDirection, fit: null }) as unknown as FrameScore;

describe('judgeFrame', () => {
  const base = { ptsUs: 10_000_000, enabled: true, warmupUntilUs: 2_000_000, lightingHoldUntilUs: 0, triggerLevel: 6 };
  test.each([
    ['above the level', { score: score(7) }, { above: true, ignored: null, lightingSwitch: false }],
    ['at the level is not above', { score: score(6) }, { above: false, ignored: null, lightingSwitch: false }],
    ['first frame: nothing to compare', { score: null }, { above: false, ignored: 'warmup', lightingSwitch: false }],
    ['during warm-up', { score: score(100), ptsUs: 1_000_000 }, { above: false, ignored: 'warmup', lightingSwitch: false }],
    ['motion off beats everything', { score: score(100, 0.9), enabled: false }, { above: false, ignored: 'disabled', lightingSwitch: true }],
    ['most pixels changed one way: light switch', { score: score(500, 0.6) }, { above: false, ignored: 'lighting', lightingSwitch: true }],
    ['inside the hold after a switch', { score: score(50, 0.1), lightingHoldUntilUs: 10_500_000 }, { above: false, ignored: 'lighting', lightingSwitch: false }],
    ['just under the switch fraction counts as motion', { score: score(50, 0.49) }, { above: true, ignored: null, lightingSwitch: false }],
  ])('%s', (_name, input, expected) => {
    expect(judgeFrame({ ...base, ...input }, DEFAULT_DETECTOR_CONFIG.lighting)).toEqual(expected);
  });
});

describe('calibration', () => {
  test.each([
    [[], 0.95, 0],
    [[5], 0.95, 5],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.5, 5],
    [[10, 9, 8, 7, 6, 5, 4, 3, 2, 1], 0.95, 10],
    [[3, 1, 2], 0, 1],
  ])('percentile(%j, %d) = %d', (values, q, expected) => {
    expect(percentile(values, q)).toBe(expected);
  });

  test('the noise floor ignores a rare spike', () => {
    const scores = Array.from({ length: 100 }, (_, i) => 2 + (i % 10) / 10);
    scores[50] = 400;
    expect(estimateNoiseFloor(scores)).toBeCloseTo(2.9);
  });

  const bounds = { minTriggerLevel: 0.1, maxTriggerLevel: 65025 };

  test('the suggestion sits the margin above the floor, on the ladder', () => {
    const scores = Array.from({ length: 50 }, (_, i) => 2.8 + (i % 5) * 0.05);
    const { noiseFloor, suggestedTriggerLevel } = calibrateFromScores(scores, bounds);
    expect(noiseFloor).toBeCloseTo(3);
    expect(suggestedTriggerLevel).toBeGreaterThanOrEqual(3 * CALIBRATION_MARGIN);
    expect(suggestedTriggerLevel).toBeLessThanOrEqual(3 * CALIBRATION_MARGIN * 1.34);
  });

  test('a periodic spike (an H.264 keyframe) lifts the suggestion above it', () => {
    const scores = Array.from({ length: 60 }, (_, i) => (i % 20 === 0 ? 2.2 : 0.15));
    const { noiseFloor, quietPeak, suggestedTriggerLevel } = calibrateFromScores(scores, bounds);
    expect(noiseFloor).toBeCloseTo(0.15);
    expect(quietPeak).toBeCloseTo(2.2);
    expect(suggestedTriggerLevel).toBeGreaterThanOrEqual(2.2 * CALIBRATION_PEAK_MARGIN);
  });

  test('never below the minimum, never above the bounds', () => {
    // Never below the default level: a still scene scores 0.
    expect(calibrateFromScores([], bounds).suggestedTriggerLevel).toBe(1);
    expect(calibrateFromScores([0, 0, 0], bounds).suggestedTriggerLevel).toBe(1);
    expect(calibrateFromScores([1e6], bounds).suggestedTriggerLevel).toBe(65025);
  });

  test('quietestWindow finds the quiet part of a file whatever the level', () => {
    // 30 s at 10 fps: motion (scores 50–150) everywhere except 12–18 s (scores ≈ 1).
    const samples = Array.from({ length: 300 }, (_, i) => ({ ptsUs: i * 100_000, score: i >= 120 && i < 180 ? 1 + (i % 3) * 0.1 : 50 + (i % 11) * 10 }));
    const quiet = quietestWindow(samples, 5);
    expect(quiet.length).toBe(50);
    expect(Math.max(...quiet)).toBeLessThan(2);
    expect(quietestWindow(samples.slice(0, 5), 5)).toEqual([]);
  });
});

describe('labeled scenes', () => {
  const { matchEvents, pathProgress, randomSceneSpec } = require('../src/synthetic') as typeof import('../src/synthetic');

  test('an object stands still during its pause and covers its whole path', () => {
    const object = { startS: 10, endS: 14, sizeFrac: 0.2, contrast: 50, reverse: false, yFrac: 0.5, pause: { atFrac: 0.5, durationS: 2 } };
    expect(pathProgress(object, 10)).toBe(0);
    expect(pathProgress(object, 11)).toBeCloseTo(0.5);
    expect(pathProgress(object, 12.5)).toBeCloseTo(0.5);
    expect(pathProgress(object, 14)).toBe(1);
  });

  test('random scenes differ by seed and keep quiet stretches longer than the default gap', () => {
    const a = randomSceneSpec(1, { width: 320, height: 180, fps: 10 });
    const b = randomSceneSpec(2, { width: 320, height: 180, fps: 10 });
    expect(a).not.toEqual(b);
    for (const spec of [a, b]) {
      for (let k = 1; k < spec.objects.length; k++) expect(spec.objects[k].startS - spec.objects[k - 1].endS).toBeGreaterThanOrEqual(4);
    }
  });

  test.each([
    ['one exact event', [{ startS: 4.1, endS: 6.9 }], { precision: 1, recall: 1, falsePositives: 0, fragments: 0 }],
    ['nothing found', [], { precision: 0, recall: 0, missed: 1 }],
    ['a split crossing: one hit and a fragment', [{ startS: 4.1, endS: 5 }, { startS: 5.5, endS: 7 }], { truePositives: 1, fragments: 1, falsePositives: 1, recall: 1 }],
    ['one endless event is not a hit', [{ startS: 0, endS: 20 }], { truePositives: 0, falsePositives: 1, recall: 0 }],
    ['running on 2 s over a glitch after the motion is still a hit', [{ startS: 4.2, endS: 9 }], { truePositives: 1, recall: 1 }],
    ['starting early on noise is not a hit', [{ startS: 3, endS: 7 }], { truePositives: 0, recall: 0 }],
    ['an event at the light switch', [{ startS: 10.1, endS: 10.5 }], { eventsFromBrightnessSteps: 1 }],
    ['an event at a glitch', [{ startS: 16, endS: 16.2 }], { eventsFromGlitches: 1 }],
  ])('matchEvents: %s', (_name, detected, expected) => {
    expect(matchEvents(detected, { motion: [{ startS: 4, endS: 7 }], brightnessStepsS: [10], glitchesS: [16] })).toMatchObject(expected);
  });
});

test('quietestWindow does not take a window that clips the last frame of a crossing for quiet', () => {
  // 10 fps: motion until 7.0 s (its last frame scores 40), quiet after with a keyframe spike of 2 every 2 s.
  const samples = Array.from({ length: 100 }, (_, i) => ({
    ptsUs: 2_000_000 + i * 100_000,
    score: i <= 50 ? (i === 50 ? 40 : 60) : i % 20 === 0 ? 2 : 0.2,
  }));
  const quiet = quietestWindow(samples, 5);
  expect(Math.max(...quiet)).toBeLessThanOrEqual(2);
  expect(calibrateFromScores(quiet, { minTriggerLevel: 0.1, maxTriggerLevel: 65025 }).suggestedTriggerLevel).toBe(2.5);
});
