import fc from 'fast-check';
import {
  gateTriggerLagMs,
  INITIAL_TRIGGER_GATE_STATE,
  nextTriggerGateState,
  type TriggerGateConfig,
  type TriggerGateInput,
  type TriggerGateMode,
  type TriggerGateOutput,
  type TriggerGateState,
} from '../src/trigger-gate';

const S = 1_000_000;

function run(inputs: readonly TriggerGateInput[], config: TriggerGateConfig): TriggerGateOutput[] {
  let state: TriggerGateState = INITIAL_TRIGGER_GATE_STATE;
  const out: TriggerGateOutput[] = [];
  for (const input of inputs) {
    const step = nextTriggerGateState(state, input, config);
    state = step.state;
    out.push(...step.outputs);
  }
  return out;
}

const cfg = (mode: TriggerGateMode, withinS = 5, maxEventS = 300): TriggerGateConfig => ({ mode, withinS, maxEventS });
const video = (ptsS: number, atS = ptsS + 0.2): TriggerGateInput => ({ type: 'video-start', ptsUs: ptsS * S, atUs: atS * S, continued: false });
const videoEnd = (endS: number, atS = endS + 1): TriggerGateInput => ({ type: 'video-end', endPtsUs: endS * S, atUs: atS * S, split: false });
const on = (name: string, atS: number): TriggerGateInput => ({ type: 'sensor', name, on: true, holdUs: 0, atUs: atS * S });
const off = (name: string, atS: number, holdS = 0): TriggerGateInput => ({ type: 'sensor', name, on: false, holdUs: holdS * S, atUs: atS * S });
const pulse = (name: string, atS: number, holdS: number): TriggerGateInput[] => [on(name, atS), off(name, atS, holdS)];
const tick = (atS: number): TriggerGateInput => ({ type: 'tick', atUs: atS * S });

/** Starts and ends as `[type, seconds, cues]` for readable tables. */
function brief(outputs: readonly TriggerGateOutput[]): Array<[string, number, string]> {
  return outputs.map((o) => (o.type === 'start' ? ['start', o.ptsUs / S, o.cues.join('+')] : [`end:${o.reason}`, o.endPtsUs / S, o.cues.join('+')]));
}

describe('trigger gate (table)', () => {
  test.each<[string, TriggerGateMode, TriggerGateInput[], Array<[string, number, string]>]>([
    ['video mode: a video event passes through', 'video', [video(10), videoEnd(14), tick(30)], [['start', 10, 'video'], ['end:quiet', 14, 'video']]],
    ['video mode: sensors start nothing', 'video', [...pulse('pir', 10, 5), tick(30)], []],
    ['sensor mode: video starts nothing', 'sensor', [video(10), videoEnd(14), tick(30)], []],
    ['sensor mode: a PIR from on to off', 'sensor', [on('pir', 10), off('pir', 12), tick(13)], [['start', 10, 'pir'], ['end:quiet', 12, 'pir']]],
    ['sensor mode: a doorbell without "off" holds for its hold time', 'sensor', [...pulse('bell', 10, 8), tick(30)], [['start', 10, 'bell'], ['end:quiet', 18, 'bell']]],
    ['sensor mode: a second press within the hold extends the event', 'sensor', [...pulse('bell', 10, 8), ...pulse('bell', 15, 8), tick(30)], [['start', 10, 'bell'], ['end:quiet', 23, 'bell']]],
    ['or: the sensor first, video joins and holds the event', 'video-or-sensor', [...pulse('pir', 10, 2), video(11), videoEnd(20), tick(30)], [['start', 10, 'pir'], ['end:quiet', 20, 'pir+video']]],
    ['or: video first, starts at the first frame of its run', 'video-or-sensor', [video(10, 10.5), ...pulse('pir', 11, 2), videoEnd(12), tick(30)], [['start', 10, 'video'], ['end:quiet', 13, 'video+pir']]],
    ['and: video alone records nothing', 'video-and-sensor', [video(10), videoEnd(14), tick(60)], []],
    ['and: a sensor alone records nothing', 'video-and-sensor', [...pulse('pir', 10, 2), tick(60)], []],
    ['and: sensor 4 s after video (within 5): starts at the video cue', 'video-and-sensor', [video(10), ...pulse('pir', 14, 2), videoEnd(15), tick(60)], [['start', 10, 'video+pir'], ['end:quiet', 16, 'video+pir']]],
    ['and: video 3 s after the sensor: starts at the sensor cue', 'video-and-sensor', [...pulse('pir', 10, 1), video(13), videoEnd(15), tick(60)], [['start', 10, 'pir+video'], ['end:quiet', 15, 'pir+video']]],
    ['and: 6 s apart (within 5) records nothing', 'video-and-sensor', [video(10), videoEnd(11), ...pulse('pir', 16, 2), tick(60)], []],
    ['and: exactly within seconds apart still pairs', 'video-and-sensor', [video(10), videoEnd(11), ...pulse('pir', 15, 0), tick(60)], [['start', 10, 'video+pir'], ['end:quiet', 15, 'video+pir']]],
    ['switching off ends the event at once', 'sensor', [on('pir', 10), { type: 'disable', atUs: 12 * S }, tick(30)], [['start', 10, 'pir'], ['end:disabled', 12, 'pir']]],
    ['a detector split is not a new cue', 'video-and-sensor', [video(10), { type: 'video-end', endPtsUs: 12 * S, atUs: 12 * S, split: true }, { type: 'video-start', ptsUs: 12 * S, atUs: 12 * S, continued: true }, ...pulse('pir', 16, 0), tick(60)], []],
  ])('%s', (_name, mode, inputs, expected) => {
    expect(brief(run(inputs, cfg(mode, 5, 300)))).toEqual(expected);
  });

  test('a stuck sensor is split at maxEventS, at the exact limit', () => {
    expect(brief(run([on('pir', 0), tick(25), off('pir', 25), tick(26)], cfg('sensor', 5, 10)))).toEqual([
      ['start', 0, 'pir'],
      ['end:max-length', 10, 'pir'],
      ['start', 10, 'pir'],
      ['end:max-length', 20, 'pir'],
      ['start', 20, 'pir'],
      ['end:quiet', 25, 'pir'],
    ]);
  });

  test('the ring keeps withinS more in video-and-sensor mode only', () => {
    expect(gateTriggerLagMs({ mode: 'video-and-sensor', withinS: 10 }, 2000)).toBe(12_000);
    expect(gateTriggerLagMs({ mode: 'video-or-sensor', withinS: 10 }, 2000)).toBe(2000);
  });
});

/** A random but well-formed input stream: video runs start and end in turn, sensors chatter. */
function streamArb(): fc.Arbitrary<TriggerGateInput[]> {
  const step = fc.record({
    dtMs: fc.integer({ min: 0, max: 4000 }),
    kind: fc.constantFrom('video', 'pulse', 'on', 'off'),
    name: fc.constantFrom('pir', 'bell'),
    lagMs: fc.integer({ min: 0, max: 1500 }),
    holdMs: fc.integer({ min: 0, max: 5000 }),
  });
  return fc.array(step, { maxLength: 40 }).map((steps) => {
    const inputs: TriggerGateInput[] = [];
    let atUs = 1 * S;
    let videoStartUs: number | null = null;
    for (const st of steps) {
      atUs += st.dtMs * 1000;
      if (st.kind === 'video') {
        if (videoStartUs === null) {
          // The detector reports its start a confirmation later than the run began.
          videoStartUs = atUs - st.lagMs * 1000;
          inputs.push({ type: 'video-start', ptsUs: videoStartUs, atUs, continued: false });
        } else {
          inputs.push({ type: 'video-end', endPtsUs: Math.max(videoStartUs, atUs - st.lagMs * 1000), atUs, split: false });
          videoStartUs = null;
        }
      } else if (st.kind === 'pulse') {
        inputs.push({ type: 'sensor', name: st.name, on: true, holdUs: 0, atUs }, { type: 'sensor', name: st.name, on: false, holdUs: st.holdMs * 1000, atUs });
      } else {
        inputs.push({ type: 'sensor', name: st.name, on: st.kind === 'on', holdUs: st.holdMs * 1000, atUs });
      }
    }
    return inputs;
  });
}

/** The same stream with a tick for every frame at `fps` (ticks before an input at the same time). */
function withFrames(inputs: readonly TriggerGateInput[], fps: number, phaseUs: number): TriggerGateInput[] {
  const out: TriggerGateInput[] = [];
  const frameUs = Math.round(S / fps);
  let next = phaseUs;
  for (const input of inputs) {
    while (next <= input.atUs) {
      out.push({ type: 'tick', atUs: next });
      next += frameUs;
    }
    out.push(input);
  }
  return out;
}

const modeArb = fc.constantFrom<TriggerGateMode>('video', 'sensor', 'video-or-sensor', 'video-and-sensor');
const END = 10_000 * S;

describe('trigger gate (properties)', () => {
  test('the frame rate does not change the outcome', () => {
    fc.assert(
      fc.property(streamArb(), modeArb, fc.constantFrom(2, 5, 15, 30), fc.integer({ min: 0, max: 999_999 }), (inputs, mode, fps, phase) => {
        const config = cfg(mode, 3, 20);
        const bare = run([...inputs, { type: 'tick', atUs: END }], config);
        const framed = run([...withFrames(inputs, fps, phase), { type: 'tick', atUs: END }], config);
        expect(framed).toEqual(bare);
      }),
      { numRuns: 120 },
    );
  });

  test('starts and ends alternate; an event never starts before the previous one ended', () => {
    fc.assert(
      fc.property(streamArb(), modeArb, (inputs, mode) => {
        const out = run([...inputs, { type: 'tick', atUs: END }], cfg(mode, 3, 20));
        let openAt: number | null = null;
        let lastEnd = Number.NEGATIVE_INFINITY;
        for (const o of out) {
          if (o.type === 'start') {
            expect(openAt).toBeNull();
            expect(o.ptsUs).toBeGreaterThanOrEqual(lastEnd);
            openAt = o.ptsUs;
          } else {
            expect(openAt).not.toBeNull();
            expect(o.endPtsUs).toBeGreaterThanOrEqual(openAt as number);
            lastEnd = o.endPtsUs;
            openAt = null;
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  test('video-and-sensor: no event without a video cue and a sensor cue within withinS; it starts at the earlier one', () => {
    fc.assert(
      fc.property(streamArb(), fc.integer({ min: 0, max: 6 }), (inputs, withinS) => {
        const out = run([...inputs, { type: 'tick', atUs: END }], cfg('video-and-sensor', withinS, 1000));
        const videoCues = inputs.flatMap((i) => (i.type === 'video-start' ? [i.ptsUs] : []));
        const sensorCues = inputs.flatMap((i) => (i.type === 'sensor' && i.on ? [i.atUs] : []));
        for (const o of out) {
          if (o.type !== 'start' || o.continued) continue;
          expect(o.cues).toHaveLength(2);
          expect(o.cues.filter((c) => c === 'video')).toHaveLength(1);
          // It starts at the earlier cue of a pair at most withinS apart (never before the previous event's end).
          const pairs = videoCues.flatMap((v) => sensorCues.filter((s) => Math.abs(v - s) <= withinS * S).map((s) => [Math.min(v, s), Math.max(v, s)]));
          expect(pairs.some(([first, second]) => first <= o.ptsUs && o.ptsUs <= second)).toBe(true);
          expect(pairs.some(([first]) => first === o.ptsUs) || out.some((e) => e.type === 'end' && e.endPtsUs === o.ptsUs)).toBe(true);
        }
        if (videoCues.length === 0 || sensorCues.length === 0) expect(out).toHaveLength(0);
      }),
      { numRuns: 300 },
    );
  });

  test('single-source modes start at a cue of their own source only (never before the previous end)', () => {
    fc.assert(
      fc.property(streamArb(), (inputs) => {
        const videoCues = inputs.flatMap((i) => (i.type === 'video-start' ? [i.ptsUs] : []));
        const sensorCues = inputs.flatMap((i) => (i.type === 'sensor' && i.on ? [i.atUs] : []));
        // A start is a cue's time, or the previous event's end when the cue lay before it.
        const starts = (out: TriggerGateOutput[], cues: number[]): void => {
          const ends = out.flatMap((o) => (o.type === 'end' ? [o.endPtsUs] : []));
          for (const o of out) if (o.type === 'start') expect([...cues, ...ends]).toContain(o.ptsUs);
        };
        starts(run(inputs, cfg('video', 3, 1000)), videoCues);
        starts(run(inputs, cfg('sensor', 3, 1000)), sensorCues);
      }),
      { numRuns: 200 },
    );
  });
});
