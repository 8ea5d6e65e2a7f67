import fc from 'fast-check';
import { createFrame } from '@preroll/capture';
import { analyseChange, bringsNothingNew, createChangeBuffers, holdsChange, MOVED_MIN_FRACTION, NOVEL_MIN_FRACTION } from '../src/change';
import { INITIAL_EVENT_STATE, nextEventState, type EventState } from '../src/state';
import { createDetector } from '../src/detector';
import { NOISE_BANDS } from '../src/noise';
import { createSceneRenderer, randomSceneSpec, type SceneSpec } from '../src/synthetic';
import type { DetectorEvent } from '../src/types';

describe('bringsNothingNew (table)', () => {
  test.each([
    [0, 0, 0, false], // nothing changed: nothing to judge
    [100, 100, 100, false], // a moving object: new against the reference's past and the run's first frame
    [100, 50, 30, false], // its trailing half is the echo; its leading edge moved
    [100, 9, 100, true], // the picture is back to what it was before the reference: an echo
    [100, 10, 100, false], // at the echo bound
    [100, 100, 1, true], // a glitch standing still since the first frame of its run
    [100, 100, 2, false], // at the still bound
    [1000, 1000, 19, true], // the still bound is a share of large regions
    [1000, 1000, 20, false],
  ])('%d changed, %d not echo, %d moved → nothing new %s', (changed, novel, moved, expected) => {
    expect(bringsNothingNew(changed, novel, moved)).toBe(expected);
  });

  test('the bounds are shares of the changed pixels', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20_000 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (changed, a, b) => {
        const novel = Math.floor(changed * a);
        const moved = Math.floor(changed * b);
        const expected = novel < NOVEL_MIN_FRACTION * changed || moved < Math.max(2, MOVED_MIN_FRACTION * changed);
        expect(bringsNothingNew(changed, novel, moved)).toBe(expected);
      }),
    );
  });
});

describe('analyseChange tells echoes and still changes apart', () => {
  const W = 64;
  const H = 48;
  const params = { thresholdSigma: 4, minDeltaLuma: 2.5, activityWeight: 0, minBlobArea: 4 };
  const identity = Float64Array.from({ length: 256 }, (_, p) => p);
  const variances = new Float64Array(NOISE_BANDS).fill(0.25);
  const blank = (): Uint8Array => new Uint8Array(W * H).fill(60);
  const withBlock = (x0: number, y0: number, luma: number): Uint8Array => {
    const img = blank();
    for (let y = y0; y < y0 + 10; y++) for (let x = x0; x < x0 + 10; x++) img[y * W + x] = luma;
    return img;
  };

  test('a block that left the picture (the reference showed it, the image before did not) is all echo, wherever and however bright', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: W - 10 }), fc.integer({ min: 0, max: H - 10 }), fc.integer({ min: 80, max: 255 }), (x, y, luma) => {
        const ref = withBlock(x, y, luma);
        const cur = blank();
        const r = analyseChange(ref, cur, identity, null, W * H, variances, new Float32Array(W * H), params, createChangeBuffers(W, H), ref, blank());
        expect(r.changedPixels).toBeGreaterThan(10);
        expect(r.novelPixels).toBe(0);
        expect(bringsNothingNew(r.changedPixels, r.novelPixels, r.movedPixels)).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  test('a block that stands where it appeared has not moved; one that moved on has, and its leading edge is no echo', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: W - 20 }), fc.integer({ min: 0, max: H - 10 }), fc.integer({ min: 3, max: 10 }), (x, y, step) => {
        const before = blank();
        const first = withBlock(x, y, 200);
        const still = analyseChange(before, first, identity, null, W * H, variances, new Float32Array(W * H), params, createChangeBuffers(W, H), first, before, first);
        expect(still.movedPixels).toBe(0);
        expect(bringsNothingNew(still.changedPixels, still.novelPixels, still.movedPixels)).toBe(true);
        const moved = withBlock(x + step, y, 200);
        const moving = analyseChange(before, moved, identity, null, W * H, variances, new Float32Array(W * H), params, createChangeBuffers(W, H), first, before, first);
        expect(moving.movedPixels).toBeGreaterThanOrEqual(10);
        expect(moving.novelPixels).toBe(moving.changedPixels);
        expect(bringsNothingNew(moving.changedPixels, moving.novelPixels, moving.movedPixels)).toBe(false);
      }),
      { numRuns: 50 },
    );
  });
});

describe('holdsChange and the run it keeps', () => {
  const W = 40;
  const H = 30;
  const thresholds = new Float64Array(NOISE_BANDS).fill(6.25);
  const image = (blockLuma: number | null, x0 = 10, y0 = 10): Uint8Array => {
    const img = new Uint8Array(W * H).fill(60);
    if (blockLuma !== null) for (let y = y0; y < y0 + 8; y++) for (let x = x0; x < x0 + 8; x++) img[y * W + x] = blockLuma;
    return img;
  };
  const firstChanged = (): Uint8Array => {
    const mask = new Uint8Array(W * H);
    for (let y = 10; y < 18; y++) for (let x = 10; x < 18; x++) mask[y * W + x] = 1;
    return mask;
  };

  test('a block still standing where the run began holds against the image before the reference; once gone, or when the image before already showed it, it does not', () => {
    fc.assert(
      fc.property(fc.integer({ min: 80, max: 255 }), (luma) => {
        const before = image(null);
        expect(holdsChange(firstChanged(), image(luma), before, image(luma), thresholds, W, H)).toBe(true);
        expect(holdsChange(firstChanged(), image(null), before, image(luma), thresholds, W, H)).toBe(false);
        expect(holdsChange(firstChanged(), image(luma), image(luma), image(luma), thresholds, W, H)).toBe(false);
        expect(holdsChange(new Uint8Array(W * H), image(luma), before, image(luma), thresholds, W, H)).toBe(false);
      }),
      { numRuns: 30 },
    );
  });

  test('a frame below the level that holds neither extends nor breaks a run; any other breaks it; an event needs fresh frames spanning the confirmation', () => {
    const config = { confirmFrames: 2, confirmS: 0.2, gapS: 2, maxEventS: 300 };
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 6 }), (holds) => {
        let state: EventState = INITIAL_EVENT_STATE;
        const step = (i: number, above: boolean, hold: boolean) => {
          const r = nextEventState(state, { seq: i, ptsUs: i * 500_000, score: above ? 5 : 0, above, ignored: null, durationUs: 500_000, holds: hold }, config);
          state = r.state;
          return r.transitions;
        };
        expect(step(0, true, false)).toHaveLength(0);
        holds.forEach((h, k) => step(k + 1, false, h));
        const transitions = step(holds.length + 1, true, false);
        const kept = holds.every((h) => h);
        expect(transitions).toHaveLength(kept ? 1 : 0);
        if (kept) expect(transitions[0]).toMatchObject({ type: 'start', ptsUs: 0 });
      }),
    );
  });
});

describe('glitches and their echoes against the reference', () => {
  /** A quiet textured scene with only glitches in it, at `fps`. */
  function glitchScene(seed: number, fps: number, frames: number): SceneSpec {
    const spec = randomSceneSpec(seed, { width: 320, height: 180, fps, noise: [2, 4] });
    return {
      ...spec,
      fps,
      durationS: 14,
      objects: [],
      brightnessSteps: [],
      glitches: [
        { atS: 5, frames, xFrac: 0.3, yFrac: 0.5, sizeFrac: 0.08, contrast: 90 },
        { atS: 10, frames, xFrac: 0.7, yFrac: 0.4, sizeFrac: 0.1, contrast: -90 },
      ],
    };
  }

  function events(spec: SceneSpec): DetectorEvent[] {
    const renderer = createSceneRenderer(spec);
    const detector = createDetector();
    const out: DetectorEvent[] = [];
    for (let i = 0; i < renderer.frameCount; i++) {
      out.push(...detector.push(createFrame({ seq: i, ptsUs: renderer.ptsUs(i), wallMs: 0, width: spec.width, height: spec.height, data: renderer.frame(i) })).events);
    }
    return [...out, ...detector.flush()];
  }

  test.each([
    [2, 1], // one frame at 2 frames/s, then its echo one frame later
    [10, 2], // two frames at 10 frames/s last the confirmation time; the second repeats the first
    [30, 2],
  ])('at %d frames/s a glitch of %d frame(s) starts no event', (fps, frames) => {
    for (const seed of [8]) expect(events(glitchScene(seed, fps, frames))).toHaveLength(0);
  });
});
