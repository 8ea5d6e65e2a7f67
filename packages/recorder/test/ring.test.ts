import fc from 'fast-check';
import pino from 'pino';
import { Writable } from 'node:stream';
import { clipStart, createRing, RecorderError, type AccessUnit } from '../src';

function unit(seq: number, ptsUs: number, keyframe: boolean, bytes = 100): AccessUnit {
  return { seq, ptsUs, wallMs: ptsUs / 1000, keyframe, data: Buffer.alloc(bytes), codec: 'avc1.42c01e', width: 320, height: 240 };
}

/** Units from (interval, keyframe, size) steps, timestamps strictly increasing. */
const stepsArb = fc.array(
  fc.record({ dtUs: fc.integer({ min: 1, max: 400_000 }), keyframe: fc.boolean(), bytes: fc.integer({ min: 1, max: 5000 }) }),
  { minLength: 1, maxLength: 200 },
);

function build(steps: Array<{ dtUs: number; keyframe: boolean; bytes: number }>): AccessUnit[] {
  let pts = 1_000_000;
  return steps.map((s, i) => unit(i, (pts += s.dtUs), s.keyframe, s.bytes));
}

/** The obvious definition of clip start over a plain array: filter keyframes, take the newest early enough. */
function modelClipStart(units: readonly AccessUnit[], triggerPtsUs: number, preRollMs: number): number {
  const keys = units.map((u, i) => (u.keyframe ? i : -1)).filter((i) => i >= 0);
  if (keys.length === 0) return -1;
  const early = keys.filter((i) => units[i].ptsUs <= triggerPtsUs - preRollMs * 1000);
  return early.length ? early[early.length - 1] : keys[0];
}

describe('clipStart', () => {
  const gop = (startSeq: number, startUs: number): AccessUnit[] => Array.from({ length: 10 }, (_, i) => unit(startSeq + i, startUs + i * 100_000, i === 0));
  // Keyframes at 0 s, 1 s, 2 s, … 5 s (10 fps, GOP 1 s).
  const units = Array.from({ length: 6 }, (_, g) => gop(g * 10, g * 1_000_000)).flat();

  it.each([
    ['trigger 5.5 s, pre-roll 2 s: keyframe at 3 s', 5_500_000, 2000, 30],
    ['trigger 5.0 s, pre-roll 2 s: exactly 3 s back', 5_000_000, 2000, 30],
    ['trigger 4.99 s, pre-roll 2 s: keyframe at 2 s', 4_990_000, 2000, 20],
    ['pre-roll 0: the keyframe at or before the trigger', 3_400_000, 0, 30],
    ['ring shorter than the pre-roll: the oldest keyframe', 1_500_000, 5000, 0],
    ['trigger after the newest unit', 9_000_000, 2000, 50],
  ])('%s', (_name, trigger, preRollMs, expected) => {
    expect(clipStart(units, trigger, preRollMs)).toBe(expected);
  });

  it('is -1 without keyframes', () => {
    expect(clipStart([unit(0, 0, false), unit(1, 1, false)], 10, 0)).toBe(-1);
    expect(clipStart([], 10, 0)).toBe(-1);
  });

  it('agrees with the array model (property)', () => {
    fc.assert(
      fc.property(stepsArb, fc.integer({ min: -2_000_000, max: 80_000_000 }), fc.integer({ min: 0, max: 10_000 }), (steps, offsetUs, preRollMs) => {
        const list = build(steps);
        const trigger = list[0].ptsUs + offsetUs;
        expect(clipStart(list, trigger, preRollMs)).toBe(modelClipStart(list, trigger, preRollMs));
      }),
      { numRuns: 500 },
    );
  });
});

describe('pre-roll ring', () => {
  it('serves every allowed trigger exactly like the unbounded history would (property)', () => {
    fc.assert(
      fc.property(stepsArb, fc.integer({ min: 0, max: 6000 }), fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 1000 }), (steps, preRollMs, lagMs, triggerBackMs) => {
        const ring = createRing({ preRollMs, maxTriggerLagMs: lagMs });
        const history: AccessUnit[] = [];
        for (const u of build(steps)) {
          ring.push(u);
          history.push(u);
          const held = ring.units();
          const firstKey = history.findIndex((h) => h.keyframe);
          if (firstKey < 0) {
            expect(held).toEqual([]);
            continue;
          }
          // A contiguous suffix of the history, starting at a keyframe, ending with the newest unit.
          expect(held[0].keyframe).toBe(true);
          expect(held[held.length - 1]).toBe(u);
          const offset = history.indexOf(held[0]);
          expect(held).toEqual(history.slice(offset));
          // Any trigger no older than the allowed lag finds the same clip start as in the full history.
          const trigger = u.ptsUs - Math.min(lagMs, triggerBackMs) * 1000;
          const fromHistory = modelClipStart(history.slice(firstKey), trigger, preRollMs) + firstKey;
          expect(clipStart(held, trigger, preRollMs) + offset).toBe(fromHistory);
          // Minimal: the second keyframe is newer than the retention window.
          const keys = ring.keyframeIndexes();
          expect(keys).toEqual(held.map((h, i) => (h.keyframe ? i : -1)).filter((i) => i >= 0));
          if (keys.length >= 2) expect(held[keys[1]].ptsUs).toBeGreaterThan(u.ptsUs - (preRollMs + lagMs) * 1000);
          const stats = ring.stats();
          expect(stats.bytes).toBe(held.reduce((n, h) => n + h.data.length, 0));
          expect(stats.units + stats.agedOutUnits + stats.cappedUnits + stats.orphanUnits).toBe(history.length);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('stays under its byte cap by dropping whole GOPs, but always keeps the newest GOP (property)', () => {
    fc.assert(
      fc.property(stepsArb, fc.integer({ min: 1024, max: 40_000 }), (steps, maxBytes) => {
        const ring = createRing({ preRollMs: 600_000, maxTriggerLagMs: 0, maxBytes });
        for (const u of build(steps)) {
          ring.push(u);
          const keys = ring.keyframeIndexes();
          const stats = ring.stats();
          if (stats.units === 0) continue; // nothing yet: no keyframe has come
          expect(stats.bytes <= maxBytes || keys.length === 1).toBe(true);
          expect(ring.units()[0].keyframe).toBe(true);
          expect(ring.newest()).toBe(u);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('logs with numbers what it dropped for the byte cap, and what clear() discarded', () => {
    const lines: any[] = [];
    const logger = pino({ level: 'debug' }, new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk))), done()) }));
    const ring = createRing({ preRollMs: 10_000, maxTriggerLagMs: 0, maxBytes: 2500, logger });
    for (let i = 0; i < 30; i++) ring.push(unit(i, i * 100_000, i % 10 === 0, 100));
    const capped = lines.find((l) => l.msg.includes('byte cap'));
    expect(capped).toMatchObject({ droppedUnits: 10, droppedBytes: 1000, droppedMs: 1000, maxBytes: 2500 });
    expect(ring.stats()).toMatchObject({ units: 20, bytes: 2000, cappedUnits: 10, cappedBytes: 1000 });
    ring.clear('encoder restarted');
    expect(lines.find((l) => l.msg.includes('cleared'))).toMatchObject({ reason: 'encoder restarted', droppedUnits: 20, droppedBytes: 2000, droppedMs: 1900 });
    expect(ring.stats()).toMatchObject({ units: 0, bytes: 0, clearedUnits: 20 });
    expect(ring.newest()).toBeNull();
  });

  it('ages out GOPs it no longer needs: memory stays at pre-roll + lag + one GOP', () => {
    const ring = createRing({ preRollMs: 5000, maxTriggerLagMs: 1000 });
    // 30 fps, keyframe every 30 frames, 60 s.
    for (let i = 0; i < 1800; i++) ring.push(unit(i, Math.round((i * 1e6) / 30), i % 30 === 0, 1000));
    const stats = ring.stats();
    expect(stats.spanMs).toBeGreaterThanOrEqual(6000 - 34);
    expect(stats.spanMs).toBeLessThan(7000);
    expect(stats.keyframes).toBe(7);
  });

  it('drops units that no keyframe precedes', () => {
    const ring = createRing();
    ring.push(unit(0, 0, false));
    ring.push(unit(1, 1, false));
    ring.push(unit(2, 2, true));
    expect(ring.units().map((u) => u.seq)).toEqual([2]);
    expect(ring.stats().orphanUnits).toBe(2);
  });

  it.each([
    [{ preRollMs: -1 }],
    [{ maxTriggerLagMs: Number.NaN }],
    [{ maxBytes: 10 }],
  ])('rejects bad options %j with RECORDER_BAD_OPTIONS', (options) => {
    expect(() => createRing(options)).toThrow(RecorderError);
    try {
      createRing(options);
    } catch (error) {
      expect((error as RecorderError).code).toBe('RECORDER_BAD_OPTIONS');
    }
  });
});
