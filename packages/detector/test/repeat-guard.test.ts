import fc from 'fast-check';
import { createFrame, type Frame } from '@preroll/capture';
import { analyseChange, createChangeBuffers, REPEAT_MAX_FRESH_FRACTION, repeatsPrevious } from '../src/change';
import { createDetector } from '../src/detector';
import { NOISE_BANDS } from '../src/noise';
import { endEvent, INITIAL_EVENT_STATE, nextEventState, type EventState, type EventStateConfig, type EventTransition } from '../src/state';
import { createRandom } from '../src/synthetic';
import type { DetectorEvent } from '../src/types';

describe('repeatsPrevious (table)', () => {
  test.each([
    [0, 0, false], // nothing changed: nothing to judge
    [100, 0, true], // a keyframe step held by a repeated frame
    [100, 1, true], // one pixel of a hundred is not new evidence
    [100, 2, false], // at the bound: fresh
    [100, 100, false], // a moving object
    [14, 1, false], // a small region with one fresh pixel is fresh (1 ≥ 0.28)
  ])('%d changed, %d fresh → repeat %s', (changed, fresh, expected) => {
    expect(repeatsPrevious(changed, fresh)).toBe(expected);
  });

  test('the bound is a share of the changed pixels', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20_000 }), fc.double({ min: 0, max: 1, noNaN: true }), (changed, share) => {
        const fresh = Math.floor(changed * share);
        expect(repeatsPrevious(changed, fresh)).toBe(fresh < REPEAT_MAX_FRESH_FRACTION * changed);
      }),
    );
  });
});

describe('analyseChange counts fresh pixels', () => {
  const W = 64;
  const H = 48;
  const params = { thresholdSigma: 4, minDeltaLuma: 2.5, activityWeight: 0, minBlobArea: 4 };
  const identity = Float64Array.from({ length: 256 }, (_, p) => p);
  const variances = new Float64Array(NOISE_BANDS).fill(0.25);

  function images(): { ref: Uint8Array; cur: Uint8Array } {
    const ref = new Uint8Array(W * H).fill(40);
    const cur = ref.slice();
    for (let y = 10; y < 26; y++) for (let x = 20; x < 36; x++) cur[y * W + x] = 52;
    return { ref, cur };
  }

  test('a step that the previous frame already showed is all stale; against the reference itself all fresh', () => {
    const { ref, cur } = images();
    const buffers = createChangeBuffers(W, H);
    const held = analyseChange(ref, cur, identity, null, W * H, variances, new Float32Array(W * H), params, buffers, cur.slice());
    expect(held.changedPixels).toBeGreaterThan(100);
    expect(held.freshPixels).toBe(0);
    expect(repeatsPrevious(held.changedPixels, held.freshPixels)).toBe(true);
    const moving = analyseChange(ref, cur, identity, null, W * H, variances, new Float32Array(W * H), params, buffers, ref);
    expect(moving.freshPixels).toBe(moving.changedPixels);
    const unknown = analyseChange(ref, cur, identity, null, W * H, variances, new Float32Array(W * H), params, buffers, null);
    expect(unknown.freshPixels).toBe(unknown.changedPixels);
  });
});

describe('nextEventState with repeated frames', () => {
  const CONFIG: EventStateConfig = { confirmFrames: 2, confirmS: 0.2, gapS: 1, maxEventS: 10 };

  /** '1' above and fresh, 'r' above but a repeat, '0' below; 10 frames/s. */
  function run(pattern: string): EventTransition[] {
    let state: EventState = INITIAL_EVENT_STATE;
    const out: EventTransition[] = [];
    [...pattern].forEach((ch, i) => {
      const step = nextEventState(state, { seq: i, ptsUs: i * 100_000, score: ch === '0' ? 0 : 5, above: ch !== '0', ignored: null, durationUs: 100_000, fresh: ch !== 'r' }, CONFIG);
      state = step.state;
      out.push(...step.transitions);
    });
    const end = endEvent(state, 'flush');
    if (end) out.push(end);
    return out;
  }

  test.each([
    ['1rrrr0000', []], // a keyframe step that holds: one fresh frame, then repeats
    ['rrrrrrrrr', []], // repeats alone never start a run
    ['11', ['start@0/1']], // two fresh frames confirm
    ['1rr1', ['start@0/3']], // repeats neither break nor extend the run
    ['1rr01', []], // a frame below still breaks it
  ])('%s', (pattern, expected) => {
    const starts = run(pattern)
      .filter((t) => t.type === 'start')
      .map((t) => (t.type === 'start' ? `start@${t.ptsUs / 1e5}/${t.triggerPtsUs / 1e5}` : ''));
    expect(starts).toEqual(expected);
  });

  test('a run of repeated frames never starts an event, whatever surrounds them below the level', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('r', '0'), { minLength: 1, maxLength: 200 }), (chars) => {
        expect(run(chars.join(''))).toHaveLength(0);
      }),
    );
  });
});

/**
 * A heavily compressed night scene as the decoder delivers it: a dark textured picture
 * with noise frozen between keyframes (every frame an exact repeat), and at each keyframe
 * (every `keyframeS`) the encoder re-quantises some 16×16 blocks, which then hold.
 */
function compressedNight(fps: number, durationS: number, keyframeS: number, mover?: { startS: number; endS: number }): Frame[] {
  const W = 320;
  const H = 240;
  const rand = createRandom(5);
  const base = Uint8Array.from({ length: W * H }, (_, i) => 28 + Math.round(6 * Math.sin((i % W) / 9) * Math.cos(Math.floor(i / W) / 7) + (rand() - 0.5) * 6));
  const plane = base.slice();
  const frames: Frame[] = [];
  const count = Math.round(durationS * fps);
  let nextKeyS = 0;
  for (let n = 0; n < count; n++) {
    const tS = n / fps;
    if (tS + 1e-9 >= nextKeyS) {
      nextKeyS += keyframeS;
      plane.set(base);
      // Re-quantised blocks: a fifth of them move by 4–8 levels and hold until the next keyframe.
      for (let by = 0; by < H; by += 16) {
        for (let bx = 0; bx < W; bx += 16) {
          if (rand() > 0.2) continue;
          const step = Math.round((rand() < 0.5 ? -1 : 1) * (4 + rand() * 4));
          for (let y = by; y < by + 16; y++) for (let x = bx; x < bx + 16; x++) plane[y * W + x] = Math.max(0, Math.min(255, base[y * W + x] + step));
        }
      }
    }
    const data = Buffer.alloc((W * H * 3) / 2, 128);
    data.set(plane);
    if (mover && tS >= mover.startS && tS <= mover.endS) {
      // A dim person (contrast 12 levels) walking across: changes every frame.
      const side = 40;
      const left = Math.round(((tS - mover.startS) / (mover.endS - mover.startS)) * (W + side) - side);
      for (let y = 120; y < 120 + side * 2 && y < H; y++) for (let x = Math.max(0, left); x < Math.min(W, left + side); x++) data[y * W + x] = Math.min(255, plane[y * W + x] + 12);
    }
    frames.push(createFrame({ seq: n, ptsUs: Math.round((n * 1e6) / fps), wallMs: 0, width: W, height: H, data }));
  }
  return frames;
}

function eventsOf(frames: readonly Frame[]): DetectorEvent[] {
  const detector = createDetector({});
  const events: DetectorEvent[] = [];
  for (const frame of frames) events.push(...detector.push(frame).events);
  events.push(...detector.flush());
  return events;
}

describe('detector on heavily compressed night video', () => {
  test.each([2, 5, 10, 15])('keyframe steps that hold start nothing at %d frames/s', (fps) => {
    expect(eventsOf(compressedNight(fps, 20, 2))).toHaveLength(0);
  });

  test('a dim person walking through the same video is found at once', () => {
    const events = eventsOf(compressedNight(10, 20, 2, { startS: 6, endS: 12 }));
    const starts = events.filter((e) => e.type === 'start');
    expect(starts).toHaveLength(1);
    const start = starts[0];
    expect(start.type === 'start' && start.ptsUs).toBeGreaterThanOrEqual(6e6);
    // Within half a second of the person entering (a quarter of them in view after 0.15 s).
    expect(start.type === 'start' && start.triggerPtsUs).toBeLessThanOrEqual(6.5e6);
  });
});
