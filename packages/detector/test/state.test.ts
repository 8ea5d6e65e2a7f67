import fc from 'fast-check';
import { endEvent, INITIAL_EVENT_STATE, nextEventState, type EventState, type EventStateConfig, type EventTransition, type StateSample } from '../src/state';

const CONFIG: EventStateConfig = { confirmFrames: 3, gapS: 1, maxEventS: 10 };
const FPS = 10;

/** Runs the machine over a 0/1 string at 10 fps ('1' above, '0' below, 'x' ignored lighting, 'd' disabled). */
function run(pattern: string, config: EventStateConfig = CONFIG): EventTransition[] {
  let state: EventState = INITIAL_EVENT_STATE;
  const out: EventTransition[] = [];
  [...pattern].forEach((ch, i) => {
    const sample: StateSample = {
      seq: i,
      ptsUs: Math.round((i * 1e6) / FPS),
      score: ch === '1' ? 10 + (i % 7) : 1,
      above: ch === '1',
      ignored: ch === 'x' ? 'lighting' : ch === 'd' ? 'disabled' : null,
    };
    const step = nextEventState(state, sample, config);
    state = step.state;
    out.push(...step.transitions);
  });
  const end = endEvent(state, 'flush');
  if (end) out.push(end);
  return out;
}

const brief = (t: EventTransition): string =>
  t.type === 'start' ? `start@${t.ptsUs / 1e5}/${t.triggerPtsUs / 1e5}` : `end@${t.startPtsUs / 1e5}-${t.endPtsUs / 1e5}:${t.reason}`;

describe('nextEventState (table)', () => {
  test.each([
    ['nothing', '0000000000', []],
    ['two frames above is not enough', '0110000000000', []],
    ['three frames start an event at the first of them', '0111000000000000', ['start@1/3', 'end@1-3:gap']],
    ['a lighting frame breaks the run', '011x1100000000000', []],
    ['a short dip does not end the event', '011101110000000000000', ['start@1/3', 'end@1-7:gap']],
    ['a quiet gap of exactly gapS ends it, at the last motion frame', '1110000000000', ['start@0/2', 'end@0-2:gap']],
    ['still running at the end: flushed', '0111111', ['start@1/3', 'end@1-6:flush']],
    ['disabled ends it at once', '01111d0000', ['start@1/3', 'end@1-4:disabled']],
    ['two events separated by more than the gap', '1110000000000001110000000000', ['start@0/2', 'end@0-2:gap', 'start@15/17', 'end@15-17:gap']],
  ])('%s', (_name, pattern, expected) => {
    expect(run(pattern).map(brief)).toEqual(expected);
  });

  test('max length splits a long event at a motion frame, and the new part continues from it', () => {
    const transitions = run('1'.repeat(25), { confirmFrames: 2, gapS: 1, maxEventS: 1 });
    expect(transitions.map(brief)).toEqual(['start@0/1', 'end@0-10:max-length', 'start@10/10', 'end@10-20:max-length', 'start@20/20', 'end@20-24:flush']);
    expect(transitions.filter((t) => t.type === 'start').map((t) => (t as { continued: boolean }).continued)).toEqual([false, true, true]);
  });

  test('the peak is the highest score of the event', () => {
    const end = run('0111111000000000000').find((t) => t.type === 'end');
    expect(end && end.type === 'end' && end.peak).toEqual({ score: 16, seq: 6, ptsUs: 600_000 });
  });
});

describe('nextEventState (properties)', () => {
  const configArb = fc.record({
    confirmFrames: fc.integer({ min: 1, max: 6 }),
    gapS: fc.double({ min: 0.2, max: 3, noNaN: true }),
    maxEventS: fc.double({ min: 1, max: 20, noNaN: true }),
  });
  // Irregular frame intervals (10–200 ms), as with dropped frames or variable frame rate.
  const samplesArb = fc.array(
    fc.record({ dtMs: fc.integer({ min: 10, max: 200 }), above: fc.boolean(), score: fc.double({ min: 0, max: 1000, noNaN: true }), ignored: fc.constantFrom(null, null, null, 'lighting' as const) }),
    { maxLength: 400 },
  );

  function simulate(config: EventStateConfig, raw: { dtMs: number; above: boolean; score: number; ignored: null | 'lighting' }[]) {
    let state: EventState = INITIAL_EVENT_STATE;
    let pts = 0;
    const samples: StateSample[] = [];
    const transitions: EventTransition[] = [];
    raw.forEach((r, seq) => {
      pts += r.dtMs * 1000;
      const sample: StateSample = { seq, ptsUs: pts, score: r.score, above: r.above && r.ignored === null, ignored: r.ignored };
      samples.push(sample);
      const step = nextEventState(state, sample, config);
      state = step.state;
      transitions.push(...step.transitions);
    });
    const end = endEvent(state, 'flush');
    if (end) transitions.push(end);
    return { samples, transitions };
  }

  test('starts and ends alternate, every event has start ≤ end, and starts follow confirmFrames frames above', () => {
    fc.assert(
      fc.property(configArb, samplesArb, (config, raw) => {
        const { samples, transitions } = simulate(config, raw);
        let open: EventTransition | null = null;
        for (const t of transitions) {
          if (t.type === 'start') {
            expect(open).toBeNull();
            open = t;
            if (!t.continued) {
              // The confirming frame and the confirmFrames − 1 before it are all above.
              const k = samples.findIndex((s) => s.ptsUs === t.triggerPtsUs);
              expect(k).toBeGreaterThanOrEqual(config.confirmFrames - 1);
              for (let j = k - config.confirmFrames + 1; j <= k; j++) expect(samples[j].above).toBe(true);
              expect(samples[k - config.confirmFrames + 1].ptsUs).toBe(t.ptsUs);
            }
          } else {
            expect(open).not.toBeNull();
            expect(t.startPtsUs).toBeLessThanOrEqual(t.endPtsUs);
            expect(t.startPtsUs).toBe(open!.type === 'start' ? open!.ptsUs : NaN);
            // A confirmed event spans at least its confirming run; a continued part may be one frame.
            if (config.confirmFrames >= 2 && open!.type === 'start' && !open!.continued) expect(t.startPtsUs).toBeLessThan(t.endPtsUs);
            open = null;
          }
        }
        expect(open).toBeNull();
      }),
      { numRuns: 300 },
    );
  });

  test('an event never starts from a single noisy frame (confirmFrames ≥ 2)', () => {
    fc.assert(
      fc.property(configArb.filter((c) => c.confirmFrames >= 2), fc.array(fc.integer({ min: 2, max: 30 }), { maxLength: 40 }), (config, quietRuns) => {
        // Isolated frames above the level, separated by quiet runs.
        const raw = quietRuns.flatMap((q) => [{ dtMs: 66, above: true, score: 500, ignored: null }, ...Array.from({ length: q }, () => ({ dtMs: 66, above: false, score: 1, ignored: null }))]);
        expect(simulate(config, raw).transitions).toEqual([]);
      }),
    );
  });

  test('an event never ends inside motion whose pauses are shorter than the gap', () => {
    fc.assert(
      fc.property(configArb, fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 30 }), (config, pausesMs) => {
        const noSplit = { ...config, maxEventS: 1e6 };
        const gapMs = noSplit.gapS * 1000;
        const start = Array.from({ length: noSplit.confirmFrames }, () => ({ dtMs: 20, above: true, score: 50, ignored: null }));
        // Each pause is shorter than the gap: below frames up to (gap − 1 ms) after the last motion.
        const rest = pausesMs.flatMap((p) => {
          const quiet = Math.max(0, Math.floor(((p / 50) * (gapMs - 30)) / 20));
          return [...Array.from({ length: quiet }, () => ({ dtMs: 20, above: false, score: 1, ignored: null })), { dtMs: 20, above: true, score: 50, ignored: null }];
        });
        const { transitions } = simulate(noSplit, [...start, ...rest]);
        expect(transitions.map((t) => (t.type === 'end' ? t.reason : t.type))).toEqual(['start', 'flush']);
      }),
    );
  });

  test('no event is longer than maxEventS + gapS (a split waits for a frame with motion)', () => {
    fc.assert(
      fc.property(configArb, samplesArb, (config, raw) => {
        const { transitions } = simulate(config, raw);
        for (const t of transitions) {
          if (t.type === 'end') expect(t.endPtsUs - t.startPtsUs).toBeLessThanOrEqual((config.maxEventS + config.gapS) * 1e6 + 200_000);
        }
      }),
    );
  });
});
