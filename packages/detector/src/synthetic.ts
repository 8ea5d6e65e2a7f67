/**
 * Labeled synthetic scenes for measuring the detector: a textured still (fractal value noise,
 * like foliage or gravel) under slowly drifting cloud shadows, with sensor noise, objects that
 * cross the view during known intervals, and global brightness steps at known times. Pure and
 * seeded: the same options give the same frames, so evaluations are repeatable, and different
 * seeds give different scenes, so defaults are never tuned to one picture.
 */

/** An object crossing the view from one edge to the other between `startS` and `endS`. */
export interface SceneObject {
  readonly startS: number;
  readonly endS: number;
  /** Object height as a fraction of the frame height. */
  readonly sizeFrac: number;
  /** Luma difference of the object against a mid-grey (signed, e.g. −80 dark, +80 bright). */
  readonly contrast: number;
  /** True to cross right to left. */
  readonly reverse: boolean;
  /** Vertical centre of the path, fraction of the frame height. */
  readonly yFrac: number;
  /**
   * A stop on the way (someone halting for a moment): at `atFrac` of the path the object stands
   * still for `durationS` seconds, in view. Still one event: a gap shorter than this splits it.
   */
  readonly pause?: { readonly atFrac: number; readonly durationS: number };
}

/** A frame-wide multiplicative brightness change (a light switch, an exposure step). */
export interface SceneBrightnessStep {
  readonly atS: number;
  /** Luma multiplier after the step (e.g. 1.4 brighter, 0.6 darker). */
  readonly factor: number;
  /** Frames over which the change ramps in (1 = instant, like a light; 5 = auto-exposure). */
  readonly rampFrames: number;
}

/**
 * Something that flashes for a frame or two and is not motion worth a clip: an insect in front
 * of the lens, a raindrop, a transmission glitch. Labeled as "not an event".
 */
export interface SceneGlitch {
  readonly atS: number;
  readonly frames: number;
  readonly xFrac: number;
  readonly yFrac: number;
  readonly sizeFrac: number;
  readonly contrast: number;
}

/** Everything that defines a scene. */
export interface SceneSpec {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly durationS: number;
  readonly seed: number;
  /** Standard deviation of the per-pixel sensor noise in luma levels. */
  readonly noiseSigma: number;
  /** Depth of the cloud shadows (0 none, 0.3 = up to 30 % darker) and their speed in frame widths per second. */
  readonly cloudDepth: number;
  readonly cloudSpeed: number;
  readonly objects: readonly SceneObject[];
  readonly brightnessSteps: readonly SceneBrightnessStep[];
  readonly glitches?: readonly SceneGlitch[];
}

/** Deterministic 32-bit PRNG (mulberry32). */
export function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A random but well-formed scene: 3–5 crossings of 1.5–6 s separated by 4–8 s of quiet, one
 * brightness step (instant or ramped, ×0.55–0.8 or ×1.3–1.8) in the middle of a quiet
 * stretch, one or two one- or two-frame glitches in other quiet stretches (at a random point
 * of the stretch), a stop of 0.5–2.5 s in 40 % of the crossings, a noise level between
 * `noise[0]` and `noise[1]`, and cloud drift.
 */
export function randomSceneSpec(seed: number, base: { width: number; height: number; fps: number; noise?: [number, number] }): SceneSpec {
  const random = createRandom(seed ^ 0x5eed);
  const [noiseLow, noiseHigh] = base.noise ?? [1.5, 6];
  const objects: SceneObject[] = [];
  const steps: SceneBrightnessStep[] = [];
  const glitches: SceneGlitch[] = [];
  let t = 5 + random() * 2;
  const crossings = 3 + Math.floor(random() * 3);
  for (let k = 0; k < crossings; k++) {
    const length = 1.5 + random() * 4.5;
    const pause = random() < 0.4 ? { atFrac: 0.2 + random() * 0.6, durationS: round3(0.5 + random() * 2) } : undefined;
    objects.push({
      startS: round3(t),
      endS: round3(t + length),
      sizeFrac: 0.12 + random() * 0.2,
      contrast: (random() < 0.5 ? -1 : 1) * (35 + random() * 60),
      reverse: random() < 0.5,
      yFrac: 0.35 + random() * 0.4,
      ...(pause ? { pause } : {}),
    });
    const quiet = 4 + random() * 4;
    if (k === 1) {
      const up = random() < 0.5;
      steps.push({ atS: round3(t + length + quiet / 2), factor: up ? 1.3 + random() * 0.5 : 0.55 + random() * 0.25, rampFrames: random() < 0.5 ? 1 : 5 });
    } else if (k === 0 || k === 2) {
      glitches.push({
        atS: round3(t + length + 0.8 + random() * (quiet - 1.6)),
        frames: random() < 0.5 ? 1 : 2,
        xFrac: 0.1 + random() * 0.8,
        yFrac: 0.1 + random() * 0.8,
        sizeFrac: 0.05 + random() * 0.07,
        contrast: (random() < 0.5 ? -1 : 1) * (60 + random() * 60),
      });
    }
    t += length + quiet;
  }
  return {
    width: base.width,
    height: base.height,
    fps: base.fps,
    durationS: Math.ceil(t),
    seed,
    noiseSigma: noiseLow + random() * (noiseHigh - noiseLow),
    cloudDepth: 0.1 + random() * 0.2,
    cloudSpeed: 0.01 + random() * 0.03,
    objects,
    brightnessSteps: steps,
    glitches,
  };
}

/** A rendered scene: call `frame(i)` for frame i (0-based) as packed I420. */
export interface SceneRenderer {
  readonly spec: SceneSpec;
  readonly frameCount: number;
  /** Presentation time of frame `i` in microseconds. */
  ptsUs(i: number): number;
  /** Packed I420 bytes of frame `i`. Frames must be asked in order for the noise to be reproducible. */
  frame(i: number): Buffer;
}

/** Prepares the renderer (builds the still and the cloud field once). */
export function createSceneRenderer(spec: SceneSpec): SceneRenderer {
  const { width: w, height: h } = spec;
  const random = createRandom(spec.seed);
  const still = stretch(fractalField(w, h, random, [w / 3, w / 9, w / 27, w / 81, 2], [1, 0.6, 0.4, 0.3, 0.12]));
  // Map to a realistic luma range with a brighter top ("sky" band), then add hard-edged
  // structures (walls, posts, windows) as real scenes have.
  const base = new Float32Array(w * h);
  const horizon = Math.round(h * (0.15 + random() * 0.15));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) base[y * w + x] = y < horizon ? 170 + 50 * still[y * w + x] : 25 + 170 * still[y * w + x];
  }
  const structures = 6 + Math.floor(random() * 8);
  for (let k = 0; k < structures; k++) {
    const rw = Math.round(w * (0.02 + random() * 0.25));
    const rh = Math.round(h * (0.05 + random() * 0.4));
    const rx = Math.floor(random() * (w - rw));
    const ry = Math.floor(horizon * 0.5 + random() * (h - rh - horizon * 0.5));
    const tone = 30 + random() * 190;
    for (let y = ry; y < ry + rh; y++) {
      for (let x = rx; x < rx + rw; x++) base[y * w + x] = tone + (still[y * w + x] - 0.5) * 30;
    }
  }
  const cloudW = w * 3;
  const clouds = fractalField(cloudW, h, random, [w / 1.5, w / 4], [1, 0.5]);
  const objectTextures = spec.objects.map(() => fractalField(64, 64, random, [16, 6], [1, 0.5]));
  const frameCount = Math.round(spec.durationS * spec.fps);
  const ySize = w * h;
  const cSize = (w / 2) * (h / 2);
  const noise = createRandom(spec.seed * 7919 + 1);
  // Gaussian noise from a table read at a random offset per frame: each pixel's noise is
  // independent from frame to frame (what the detector sees) and rendering stays fast.
  const noiseTable = new Float32Array(1 << 20);
  for (let k = 0; k < noiseTable.length; k++) noiseTable[k] = gaussian(noise);
  const luma = new Float32Array(ySize);

  function brightnessAt(i: number): number {
    let factor = 1;
    for (const step of spec.brightnessSteps) {
      const stepFrame = Math.round(step.atS * spec.fps);
      if (i < stepFrame) continue;
      const progress = Math.min(1, (i - stepFrame + 1) / Math.max(1, step.rampFrames));
      factor *= 1 + (step.factor - 1) * progress;
    }
    return factor;
  }

  return {
    spec,
    frameCount,
    ptsUs: (i) => Math.round((i * 1e6) / spec.fps),
    frame(i: number): Buffer {
      const tS = i / spec.fps;
      const shift = tS * spec.cloudSpeed * w;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const cx = (x + shift) % cloudW;
          const x0 = Math.floor(cx);
          const fx = cx - x0;
          const c = clouds[y * cloudW + x0] * (1 - fx) + clouds[y * cloudW + ((x0 + 1) % cloudW)] * fx;
          luma[y * w + x] = base[y * w + x] * (1 - spec.cloudDepth * smooth(c));
        }
      }
      spec.objects.forEach((object, k) => {
        if (tS < object.startS || tS > object.endS) return;
        drawObject(luma, w, h, object, objectTextures[k], pathProgress(object, tS));
      });
      for (const glitch of spec.glitches ?? []) {
        const first = Math.round(glitch.atS * spec.fps);
        if (i < first || i >= first + glitch.frames) continue;
        const r = (glitch.sizeFrac * h) / 2;
        const gx = glitch.xFrac * w;
        const gy = glitch.yFrac * h;
        for (let y = Math.max(0, Math.floor(gy - r)); y <= Math.min(h - 1, Math.ceil(gy + r)); y++) {
          for (let x = Math.max(0, Math.floor(gx - r)); x <= Math.min(w - 1, Math.ceil(gx + r)); x++) {
            if ((x - gx) ** 2 + (y - gy) ** 2 <= r * r) luma[y * w + x] = 128 + glitch.contrast;
          }
        }
      }
      const gain = brightnessAt(i);
      const out = Buffer.alloc(ySize + 2 * cSize, 128);
      const offset = Math.floor(noise() * noiseTable.length);
      const mask = noiseTable.length - 1;
      for (let p = 0; p < ySize; p++) {
        const v = luma[p] * gain + noiseTable[(p + offset) & mask] * spec.noiseSigma;
        out[p] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
      }
      return out;
    },
  };
}

/** Ground truth of a scene in seconds: when objects are in view, and when brightness steps happen. */
export function sceneTruth(spec: SceneSpec): { motion: { startS: number; endS: number }[]; brightnessStepsS: number[]; glitchesS: number[] } {
  return {
    motion: spec.objects.map((o) => ({ startS: o.startS, endS: o.endS })),
    brightnessStepsS: spec.brightnessSteps.map((s) => s.atS),
    glitchesS: (spec.glitches ?? []).map((g) => g.atS),
  };
}

/** How detected events compare with the truth. */
export interface EventMatch {
  /** True positives / all detected events (1 when nothing was detected and nothing was true). */
  readonly precision: number;
  /** True intervals found / all true intervals. */
  readonly recall: number;
  readonly truePositives: number;
  /** Detected events that are not a true positive (including extra fragments of one interval). */
  readonly falsePositives: number;
  /** Extra events inside an interval already found (one crossing reported as several events). */
  readonly fragments: number;
  readonly missed: number;
  /** False events starting within 2 s after a brightness step (outside any true interval). */
  readonly eventsFromBrightnessSteps: number;
  /** False events starting within 0.5 s of a glitch. */
  readonly eventsFromGlitches: number;
  /** Seconds from each found interval's true start to its event's start. */
  readonly startDelaysS: number[];
}

/**
 * Matches detected events to true intervals, one to one. An event finds a true interval when
 * it starts inside it (from `toleranceS` before its start to `toleranceS` after its end) and
 * ends no later than `overrunS` after it (an event may run on over a glitch just after the
 * motion; one that swallows the quiet time to the next interval, or never ends because the
 * level is under the noise, does not count). The first such event of an interval is a hit;
 * later ones are fragments (one crossing reported as several clips). Every other event is
 * false, and is put down to a brightness step when it starts within 2 s after one, or to a
 * glitch when it starts within `toleranceS` of one.
 */
export function matchEvents(
  detected: readonly { startS: number; endS: number }[],
  truth: { motion: readonly { startS: number; endS: number }[]; brightnessStepsS: readonly number[]; glitchesS?: readonly number[] },
  toleranceS = 0.5,
  overrunS = 3,
): EventMatch {
  const found = new Set<number>();
  const startDelaysS: number[] = [];
  let truePositives = 0;
  let fragments = 0;
  let eventsFromBrightnessSteps = 0;
  let eventsFromGlitches = 0;
  const sorted = [...detected].sort((a, b) => a.startS - b.startS);
  for (const event of sorted) {
    const k = truth.motion.findIndex((t) => event.startS >= t.startS - toleranceS && event.startS <= t.endS + toleranceS && event.endS <= t.endS + overrunS);
    if (k >= 0 && !found.has(k)) {
      found.add(k);
      truePositives++;
      startDelaysS.push(round3(event.startS - truth.motion[k].startS));
    } else if (k >= 0) {
      fragments++;
    } else if (truth.brightnessStepsS.some((s) => event.startS >= s - toleranceS && event.startS <= s + 2)) {
      eventsFromBrightnessSteps++;
    } else if ((truth.glitchesS ?? []).some((g) => Math.abs(event.startS - g) <= toleranceS)) {
      eventsFromGlitches++;
    }
  }
  const falsePositives = detected.length - truePositives;
  return {
    precision: detected.length ? truePositives / detected.length : truth.motion.length ? 0 : 1,
    recall: truth.motion.length ? found.size / truth.motion.length : 1,
    truePositives,
    falsePositives,
    fragments,
    missed: truth.motion.length - found.size,
    eventsFromBrightnessSteps,
    eventsFromGlitches,
    startDelaysS,
  };
}

/** Fraction of its path an object has covered at `tS`, standing still during its pause. */
export function pathProgress(object: SceneObject, tS: number): number {
  const total = object.endS - object.startS;
  const pauseS = object.pause ? Math.min(object.pause.durationS, total * 0.8) : 0;
  const movingS = total - pauseS;
  const elapsed = tS - object.startS;
  if (!object.pause || pauseS === 0) return Math.min(1, Math.max(0, elapsed / total));
  const pauseAtS = object.pause.atFrac * movingS;
  const moved = elapsed < pauseAtS ? elapsed : elapsed < pauseAtS + pauseS ? pauseAtS : elapsed - pauseS;
  return Math.min(1, Math.max(0, moved / movingS));
}

function drawObject(luma: Float32Array, w: number, h: number, object: SceneObject, texture: Float32Array, progress: number): void {
  const ry = (object.sizeFrac * h) / 2;
  const rx = ry * 0.6;
  const travel = w + 2 * rx;
  const cx = object.reverse ? w + rx - progress * travel : -rx + progress * travel;
  const cy = object.yFrac * h + Math.sin(progress * Math.PI * 4) * ry * 0.15;
  const x0 = Math.max(0, Math.floor(cx - rx));
  const x1 = Math.min(w - 1, Math.ceil(cx + rx));
  const y0 = Math.max(0, Math.floor(cy - ry));
  const y1 = Math.min(h - 1, Math.ceil(cy + ry));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = (x - cx) / rx;
      const dy = (y - cy) / ry;
      const d = dx * dx + dy * dy;
      if (d > 1) continue;
      // Soft edge over the outer 15 % so the object is not a cut-out.
      const alpha = d > 0.7 ? (1 - d) / 0.3 : 1;
      const tx = Math.min(63, Math.max(0, Math.floor(((dx + 1) / 2) * 63)));
      const ty = Math.min(63, Math.max(0, Math.floor(((dy + 1) / 2) * 63)));
      const value = 128 + object.contrast + (texture[ty * 64 + tx] - 0.5) * 40;
      const p = y * w + x;
      luma[p] = luma[p] * (1 - alpha) + value * alpha;
    }
  }
}

/** Sum of octaves of bilinear value noise, normalised to 0..1. */
function fractalField(w: number, h: number, random: () => number, cellSizes: number[], weights: number[]): Float32Array {
  const out = new Float32Array(w * h);
  let total = 0;
  cellSizes.forEach((cellSize, octave) => {
    const cell = Math.max(1, cellSize);
    const gw = Math.ceil(w / cell) + 2;
    const gh = Math.ceil(h / cell) + 2;
    const grid = new Float32Array(gw * gh);
    for (let i = 0; i < grid.length; i++) grid[i] = random();
    const weight = weights[octave];
    total += weight;
    for (let y = 0; y < h; y++) {
      const gy = y / cell;
      const iy = Math.floor(gy);
      const fy = smooth(gy - iy);
      for (let x = 0; x < w; x++) {
        const gx = x / cell;
        const ix = Math.floor(gx);
        const fx = smooth(gx - ix);
        const a = grid[iy * gw + ix];
        const b = grid[iy * gw + ix + 1];
        const c = grid[(iy + 1) * gw + ix];
        const d = grid[(iy + 1) * gw + ix + 1];
        out[y * w + x] += weight * ((a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy);
      }
    }
  });
  for (let i = 0; i < out.length; i++) out[i] /= total;
  return out;
}

/** Stretches a field to span 0..1 exactly. */
function stretch(field: Float32Array): Float32Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of field) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const span = hi - lo || 1;
  for (let i = 0; i < field.length; i++) field[i] = (field[i] - lo) / span;
  return field;
}

function smooth(t: number): number {
  return t * t * (3 - 2 * t);
}

function gaussian(random: () => number): number {
  const u = Math.max(1e-12, random());
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
