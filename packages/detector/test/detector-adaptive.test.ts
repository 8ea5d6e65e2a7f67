import fc from 'fast-check';
import { createFrame, type Frame } from '@preroll/capture';
import { createDetector } from '../src/detector';
import { createRandom } from '../src/synthetic';
import type { Detector, DetectorEvent, DetectorStartEvent, MotionSample } from '../src/types';
import type { DetectorOptions } from '../src/config';

/** A small test scene: a fixed texture at a chosen brightness, sensor noise, moving blocks, a swaying patch, brightness steps. */
interface Scene {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly durationS: number;
  /** Mean luma of the background. */
  readonly luma: number;
  /** Temporal noise σ in luma levels. */
  readonly noise: number;
  /** Blocks crossing left to right (`y`, `size` in fractions of the height). */
  readonly objects?: readonly { startS: number; endS: number; y: number; size: number; contrast: number }[];
  /** A patch whose pixels change strongly every frame (leaves in wind), in fractions of the frame. */
  readonly sway?: { x: number; y: number; w: number; h: number; amplitude: number };
  /** From `atS` on, the whole picture is multiplied by `factor` (a light, an IR switch). */
  readonly steps?: readonly { atS: number; factor: number }[];
  readonly seed: number;
}

/** Standard normal values, drawn once: each frame reads them from a random offset (cheap, seeded). */
const NORMALS = (() => {
  const rand = createRandom(77);
  return Float32Array.from({ length: 1 << 17 }, () => Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand()));
})();

function frames(scene: Scene): Frame[] {
  const { width, height, fps } = scene;
  const size = width * height;
  const rand = createRandom(scene.seed);
  const texture = Float32Array.from({ length: size }, (_, i) => {
    const x = i % width;
    const y = Math.floor(i / width);
    return scene.luma * (0.75 + 0.25 * Math.sin(x / 7) * Math.cos(y / 5)) + (rand() - 0.5) * scene.luma * 0.2;
  });
  const count = Math.round(scene.durationS * fps);
  const out: Frame[] = [];
  const plane = new Float32Array(size);
  for (let n = 0; n < count; n++) {
    const tS = n / fps;
    plane.set(texture);
    const sw = scene.sway;
    if (sw) {
      const offset = Math.floor(rand() * (NORMALS.length - size));
      for (let y = Math.round(sw.y * height); y < Math.round((sw.y + sw.h) * height); y++) {
        for (let x = Math.round(sw.x * width); x < Math.round((sw.x + sw.w) * width); x++) plane[y * width + x] += sw.amplitude * NORMALS[offset + y * width + x];
      }
    }
    for (const o of scene.objects ?? []) {
      if (tS < o.startS || tS > o.endS) continue;
      const side = o.size * height;
      const left = ((tS - o.startS) / (o.endS - o.startS)) * (width + side) - side;
      for (let y = Math.max(0, Math.ceil(o.y * height - side / 2)); y < Math.min(height, o.y * height + side / 2); y++) {
        for (let x = Math.max(0, Math.ceil(left)); x < Math.min(width, left + side); x++) plane[y * width + x] = texture[y * width + x] + o.contrast;
      }
    }
    const factor = (scene.steps ?? []).filter((st) => tS >= st.atS).reduce((f, st) => f * st.factor, 1);
    const offset = Math.floor(rand() * (NORMALS.length - size));
    const data = Buffer.alloc(size * 1.5, 128);
    for (let i = 0; i < size; i++) {
      const v = plane[i] * factor + scene.noise * NORMALS[offset + i];
      data[i] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
    }
    out.push(createFrame({ seq: n, ptsUs: Math.round(tS * 1e6), wallMs: 0, width, height, data }));
  }
  return out;
}

interface Run {
  samples: MotionSample[];
  events: DetectorEvent[];
}

function run(detector: Detector, list: readonly Frame[], hook?: (i: number, d: Detector, r: Run) => void): Run {
  const r: Run = { samples: [], events: [] };
  list.forEach((f, i) => {
    hook?.(i, detector, r);
    const { sample, events } = detector.push(f);
    r.samples.push(sample);
    r.events.push(...events);
  });
  r.events.push(...detector.flush());
  return r;
}

const starts = (r: Run): DetectorStartEvent[] => r.events.filter((e): e is DetectorStartEvent => e.type === 'start');
const base: Omit<Scene, 'luma' | 'noise' | 'seed'> = { width: 192, height: 108, fps: 10, durationS: 8 };

describe('noise-adaptive score', () => {
  test('a still scene scores 0 after the warm-up at any brightness and gain, and starts nothing', () => {
    fc.assert(
      fc.property(fc.integer({ min: 20, max: 200 }), fc.double({ min: 0.5, max: 12, noNaN: true }), fc.integer({ min: 1, max: 1000 }), (luma, noise, seed) => {
        const r = run(createDetector(), frames({ ...base, luma, noise, seed }));
        const judged = r.samples.filter((s) => s.ignored === null);
        expect(judged.length).toBeGreaterThan(50);
        // The plain MSE grows with the noise; the score does not.
        expect(judged.filter((s) => s.score > 0).length).toBeLessThanOrEqual(1);
        expect(r.events).toEqual([]);
      }),
      { numRuns: 8 },
    );
  });

  test('a dim person-sized block crossing a grainy night scene is found, with a box around it', () => {
    // Luma 30 and σ 3 at the analysis size (σ 6 before a 2×2 box average; a Pi camera at high
    // analogue gain): the noise alone has a plain MSE well above the block's.
    const scene: Scene = { ...base, durationS: 10, luma: 30, noise: 3, seed: 3, objects: [{ startS: 4, endS: 9, y: 0.6, size: 0.22, contrast: 12 }] };
    const r = run(createDetector(), frames(scene));
    const [start, ...more] = starts(r);
    expect(more).toEqual([]);
    expect(start.triggerPtsUs / 1e6).toBeGreaterThan(4);
    expect(start.triggerPtsUs / 1e6).toBeLessThan(5);
    const quiet = r.samples.filter((s) => s.ignored === null && s.ptsUs < 4e6);
    const frameMse = quiet.reduce((a, s) => a + s.frameScore, 0) / quiet.length;
    expect(frameMse).toBeGreaterThan(start.score);
    // The box sits on the block's row (60 % of the height), in the left part of the frame.
    const box = start.boxes[0];
    expect(box.y).toBeLessThan(0.6);
    expect(box.y + box.height).toBeGreaterThan(0.6);
    expect(box.x).toBeLessThan(0.3);
    expect(r.samples.every((s) => s.profile === 'night' || s.ignored === 'warmup')).toBe(true);
  });
});

describe('frame-rate independence', () => {
  test('the same crossings at 2, 5, 15 and 30 frames/s give the same events', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.double({ min: 3, max: 6, noNaN: true }), (seed, startS) => {
        const scene = (fps: number): Scene => ({
          ...base,
          fps,
          durationS: 16,
          luma: 110,
          noise: 3,
          seed,
          objects: [
            { startS, endS: startS + 3, y: 0.5, size: 0.3, contrast: -50 },
            { startS: startS + 7, endS: startS + 9, y: 0.3, size: 0.25, contrast: 40 },
          ],
        });
        const results = [2, 5, 15, 30].map((fps) => starts(run(createDetector(), frames(scene(fps)))).map((s) => s.ptsUs / 1e6));
        for (const events of results) {
          expect(events).toHaveLength(2);
          // Within one frame at 2 frames/s of the 30 frames/s result.
          events.forEach((t, k) => expect(Math.abs(t - results[3][k])).toBeLessThanOrEqual(0.55));
        }
      }),
      { numRuns: 3 },
    );
  });
});

describe('persistent local motion', () => {
  test('a patch that sways all the time is learned and starts nothing, and a block entering it is caught within 0.5 s', () => {
    const sway = { x: 0.3, y: 0.2, w: 0.4, h: 0.6, amplitude: 30 };
    const enter = 14;
    const scene: Scene = { ...base, durationS: 18, luma: 120, noise: 2, seed: 9, sway, objects: [{ startS: enter, endS: 18, y: 0.5, size: 0.3, contrast: -70 }] };
    const r = run(createDetector(), frames(scene));
    const list = starts(r);
    // Nothing but the block; the block's event starts once it reaches the patch (30 % of the width in).
    expect(list).toHaveLength(1);
    const reachS = enter + ((0.3 * base.width + 0.3 * base.height) / (base.width + 0.3 * base.height)) * (18 - enter);
    expect(list[0].triggerPtsUs / 1e6).toBeLessThan(reachS + 0.5);
    const swaying = run(createDetector(), frames({ ...scene, objects: [] }));
    expect(swaying.events).toEqual([]);
  });
});

describe('day and night', () => {
  test('an IR switch to a dark, noisy picture and back changes the profile and starts no event', () => {
    const scene: Scene = { ...base, durationS: 14, luma: 120, noise: 2, seed: 4, steps: [{ atS: 5, factor: 0.22 }, { atS: 10, factor: 1 / 0.22 }] };
    const r = run(createDetector(), frames(scene));
    expect(r.events).toEqual([]);
    expect(r.samples[40].profile).toBe('day');
    expect(r.samples[80].profile).toBe('night');
    expect(r.samples[130].profile).toBe('day');
  });
});

describe('trigger level: auto, offset, calibration, cues', () => {
  const quiet: Scene = { ...base, durationS: 6, luma: 100, noise: 2, seed: 5, objects: [{ startS: 4, endS: 6, y: 0.5, size: 0.3, contrast: 60 }] };
  const list = frames(quiet);

  test('auto is the default; the steps move an offset over the auto level; setting a value switches to manual', () => {
    const d = createDetector();
    expect(d.triggerMode()).toBe('auto');
    const sample = d.push(list[0]).sample;
    expect([sample.triggerMode, sample.autoLevel, sample.triggerOffset]).toEqual(['auto', 1, 0]);
    expect(d.stepTriggerLevel(1)).toBe(1.2);
    expect(d.autoLevel()).toEqual({ level: 1, offset: 1 });
    expect(d.push(list[1]).sample.triggerOffset).toBe(1);
    expect(d.stepTriggerLevel(-1)).toBe(1);
    expect(d.setTriggerLevel(3)).toBe(3);
    expect(d.triggerMode()).toBe('manual');
    expect(d.push(list[2]).sample.autoLevel).toBeNull();
    expect(d.stepTriggerLevel(1)).toBe(4);
    expect(d.setTriggerMode('auto')).toBe('auto');
    expect(d.triggerLevel()).toBe(1);
  });

  test('calibrating while something moves never applies; on a quiet scene it applies and reports the level it replaced', () => {
    const d = createDetector();
    let moving: ReturnType<Detector['calibrate']> | null = null;
    let still: ReturnType<Detector['calibrate']> | null = null;
    run(d, list, (i, det) => {
      if (i === 38) still = det.calibrate({ apply: true, windowS: 1.5 });
      if (i === 38) det.setTriggerLevel(1);
      if (i === 50) moving = det.calibrate({ apply: true, windowS: 1 });
    });
    expect(still).toMatchObject({ quiet: true, applied: true, previousTriggerLevel: 1, notAppliedReason: null });
    expect(moving).toMatchObject({ quiet: false, applied: false, previousTriggerLevel: 1, triggerLevel: 1, notAppliedReason: 'not-quiet' });
    expect(d.triggerLevel()).toBe(1);
    expect(createDetector().calibrate({ apply: true })).toMatchObject({ applied: false, notAppliedReason: 'too-few-frames' });
  });

  test('an external cue starts an event at once, with the pre-roll anchored at the cue', () => {
    const d = createDetector();
    for (const f of list.slice(0, 25)) d.push(f);
    const [start] = d.cue(2.55e6, 'pir');
    expect(start).toMatchObject({ type: 'start', ptsUs: 2.55e6, cue: 'pir' });
    expect(d.active()).toBe(true);
    expect(d.cue(2.6e6, 'pir')).toEqual([]);
    const disabled = createDetector();
    disabled.setEnabled(false);
    expect(disabled.cue(1e6, 'pir')).toEqual([]);
  });
});
