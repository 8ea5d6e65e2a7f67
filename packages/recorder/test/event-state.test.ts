import fc from 'fast-check';
import { nextEventState, type EventInput, type EventState } from '../src/event-state';

/** Runs inputs from no event; returns the actions taken and the final state. */
function run(inputs: readonly EventInput[], from: EventState | null = null): { actions: string[]; state: EventState | null } {
  let state = from;
  const actions: string[] = [];
  for (const input of inputs) {
    const next = nextEventState(state, input);
    actions.push(next.action);
    state = next.state;
  }
  return { actions, state };
}

const unit = (ptsUs: number, keyframe = false): EventInput => ({ type: 'unit', ptsUs, keyframe });

describe('nextEventState', () => {
  test.each<[string, EventInput[], string[], Partial<EventState> | null]>([
    ['motion opens an event', [{ type: 'motion-start', continued: false }], ['open'], { kind: 'motion', motionHold: true, clipOpen: false }],
    ['a keyframe opens the clip, then units are written', [{ type: 'motion-start', continued: false }, unit(0), unit(1, true), { type: 'clip-opened', lastPtsUs: 1 }, unit(2)], ['open', 'none', 'open-clip', 'none', 'write'], { clipOpen: true }],
    [
      'motion ends after the post-roll, at the first unit past it',
      [{ type: 'motion-start', continued: false }, { type: 'clip-opened', lastPtsUs: 10 }, { type: 'motion-end', endPtsUs: 20, postRollUs: 30, clipLastPtsUs: 20 }, unit(50), unit(51)],
      ['open', 'none', 'none', 'write', 'end'],
      null,
    ],
    [
      'motion during the post-roll extends the event',
      [{ type: 'motion-start', continued: false }, { type: 'clip-opened', lastPtsUs: 10 }, { type: 'motion-end', endPtsUs: 20, postRollUs: 30, clipLastPtsUs: 20 }, unit(40), { type: 'motion-start', continued: false }, unit(60)],
      ['open', 'none', 'none', 'write', 'extend', 'write'],
      { motionHold: true, endPtsUs: null },
    ],
    [
      'a manual hold keeps a motion event open; its stop ends it without post-roll',
      [{ type: 'motion-start', continued: false }, { type: 'clip-opened', lastPtsUs: 10 }, { type: 'manual-start' }, { type: 'motion-end', endPtsUs: 20, postRollUs: 30, clipLastPtsUs: 20 }, unit(100), { type: 'manual-stop', ptsUs: 100, clipLastPtsUs: 100 }],
      ['open', 'none', 'none', 'none', 'write', 'end'],
      null,
    ],
    ['a manual recording opens a manual event', [{ type: 'manual-start' }], ['open'], { kind: 'manual', manualHold: true, motionHold: false }],
    [
      'a continued motion event splits at the next keyframe, not before',
      [{ type: 'motion-start', continued: false }, { type: 'clip-opened', lastPtsUs: 10 }, { type: 'motion-start', continued: true }, unit(11), unit(12, true)],
      ['open', 'none', 'none', 'write', 'split'],
      { kind: 'motion', motionHold: true, rollover: false, clipOpen: true },
    ],
    [
      'a split keeps a manual hold',
      [{ type: 'manual-start' }, { type: 'clip-opened', lastPtsUs: 10 }, { type: 'motion-start', continued: false }, { type: 'motion-start', continued: true }, unit(12, true)],
      ['open', 'none', 'extend', 'none', 'split'],
      { kind: 'motion', manualHold: true },
    ],
    [
      'a continued part that ends before its keyframe stays in the open clip',
      [{ type: 'motion-start', continued: false }, { type: 'clip-opened', lastPtsUs: 10 }, { type: 'motion-start', continued: true }, { type: 'motion-end', endPtsUs: 11, postRollUs: 5, clipLastPtsUs: 11 }, unit(12, true)],
      ['open', 'none', 'none', 'none', 'write'],
      { rollover: false, endPtsUs: 16 },
    ],
    [
      'an end already inside the pre-roll ends the event as soon as its clip opens',
      [{ type: 'manual-start' }, { type: 'manual-stop', ptsUs: 5, clipLastPtsUs: null }, { type: 'clip-opened', lastPtsUs: 9 }],
      ['open', 'none', 'end'],
      null,
    ],
    [
      'a discontinuity interrupts the clip; the held event goes on and opens a new clip at the next keyframe',
      [{ type: 'motion-start', continued: false }, { type: 'clip-opened', lastPtsUs: 10 }, { type: 'discontinuity' }, unit(20, true)],
      ['open', 'none', 'interrupt', 'open-clip'],
      { motionHold: true, clipOpen: false },
    ],
    [
      'a discontinuity during the post-roll ends the event',
      [{ type: 'motion-start', continued: false }, { type: 'clip-opened', lastPtsUs: 10 }, { type: 'motion-end', endPtsUs: 20, postRollUs: 30, clipLastPtsUs: 20 }, { type: 'discontinuity' }],
      ['open', 'none', 'none', 'interrupt'],
      null,
    ],
    ['an end with no event does nothing', [{ type: 'motion-end', endPtsUs: 1, postRollUs: 1, clipLastPtsUs: null }, { type: 'manual-stop', ptsUs: 1, clipLastPtsUs: null }, unit(3, true)], ['none', 'none', 'none'], null],
  ])('%s', (_name, inputs, actions, state) => {
    const result = run(inputs);
    expect(result.actions).toEqual(actions);
    if (state === null) expect(result.state).toBeNull();
    else expect(result.state).toMatchObject(state);
  });

  const inputArb: fc.Arbitrary<EventInput> = fc.oneof(
    fc.record({ type: fc.constant('motion-start' as const), continued: fc.boolean() }),
    fc.record({ type: fc.constant('motion-end' as const), endPtsUs: fc.integer({ min: 0, max: 1000 }), postRollUs: fc.integer({ min: 0, max: 100 }), clipLastPtsUs: fc.option(fc.integer({ min: 0, max: 1000 })) }),
    fc.constant({ type: 'manual-start' as const }),
    fc.record({ type: fc.constant('manual-stop' as const), ptsUs: fc.integer({ min: 0, max: 1000 }), clipLastPtsUs: fc.option(fc.integer({ min: 0, max: 1000 })) }),
    fc.record({ type: fc.constant('unit' as const), ptsUs: fc.integer({ min: 0, max: 1000 }), keyframe: fc.boolean() }),
    fc.record({ type: fc.constant('clip-opened' as const), lastPtsUs: fc.integer({ min: 0, max: 1000 }) }),
    fc.constant({ type: 'discontinuity' as const }),
  );

  test('a held event never ends, an event ends only when nothing holds it, and "end" always leaves no event', () => {
    fc.assert(
      fc.property(fc.array(inputArb, { maxLength: 60 }), (inputs) => {
        let state: EventState | null = null;
        for (const input of inputs) {
          const before: EventState | null = state;
          const { state: after, action } = nextEventState(before, input);
          if (action === 'end') expect(after).toBeNull();
          if (action === 'open') expect(before).toBeNull();
          if (after === null && before !== null && action !== 'interrupt' && action !== 'end') throw new Error(`event vanished on ${action}`);
          // A hold that is still on survives any unit.
          if (input.type === 'unit' && before && (before.motionHold || before.manualHold)) expect(after).not.toBeNull();
          if (after) expect(after.endPtsUs === null || (!after.motionHold && !after.manualHold)).toBe(true);
          if (after?.rollover) expect(after.motionHold && after.clipOpen).toBe(true);
          state = after;
        }
      }),
      { numRuns: 500 },
    );
  });
});
