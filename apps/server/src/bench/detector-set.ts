import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import type { Frame } from '@preroll/capture';
import { createRandom, createSceneRenderer, findBlobs, randomSceneSpec, sceneTruth } from '@preroll/detector';
import { spawnFfmpeg } from '@preroll/process';

/**
 * The labelled set the detector's defaults are chosen on: real footage from Debian's
 * `opencv-doc` package (a street scene with walking people, `vtest.avi`, and a tree swaying in
 * the wind, `tree.avi`), composited and degraded into the classes an outdoor camera meets, plus
 * synthetic scenes. Everything is generated at bench time into memory; nothing large is
 * committed. `apt-get install opencv-doc` provides the footage; without it the real classes
 * are skipped with a message.
 */

/** tree.avi (15 frames/s) shows only leaves in wind up to this frame (22.5 s); then a hand enters. */
const TREE_LEAVES_ONLY_FRAMES = 337;
/** When the hand is in view in tree.avi, seconds (labelled by eye, frame by frame). */
const TREE_HAND = { startS: 23.0, endS: 29.6 };

/** Where Debian's opencv-doc puts its sample videos. */
export const OPENCV_SAMPLES_DIR = '/usr/share/doc/opencv-doc/examples/data';

/** One labelled clip, decoded into luma planes in memory. */
export interface LabeledClip {
  readonly name: string;
  /** The class it is reported under. */
  readonly cls: string;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly frames: readonly Frame[];
  /** When something that should be recorded is in view, seconds from the first frame. */
  readonly motion: readonly { startS: number; endS: number }[];
  /** Frame-wide brightness steps (lights, IR switching, exposure), seconds. */
  readonly brightnessStepsS: readonly number[];
  readonly durationS: number;
  /** Real footage (true) or a synthetic scene (false). */
  readonly real: boolean;
}

/** A cut-out of a real person: luma and an opacity mask. */
interface Sprite {
  readonly width: number;
  readonly height: number;
  readonly luma: Uint8Array;
  readonly alpha: Uint8Array;
}

/** A person crossing the view: which sprite, when, where and how big. */
interface Crossing {
  readonly sprite: number;
  readonly startS: number;
  readonly durationS: number;
  readonly yFrac: number;
  readonly scale: number;
  readonly reverse: boolean;
}

/** How a clip is made from a plate. */
interface Recipe {
  readonly name: string;
  readonly cls: string;
  readonly fps: number;
  readonly durationS: number;
  readonly crossings: readonly Crossing[];
  /** Night look: luma → offset + gain·luma. */
  readonly tone?: { gain: number; offset: number };
  /** Temporal sensor noise σ in luma levels (before compression). */
  readonly noiseSigma: number;
  readonly particles?: 'rain' | 'snow';
  /** Frame-wide steps: from `atS`, multiply by `factor` (ramping over `rampS`); `ir` switches to the night look. */
  readonly steps?: readonly { atS: number; factor: number; rampS: number; ir?: boolean }[];
  /** libx264 constant quality of the round trip (higher = heavier compression). */
  readonly crf: number;
  readonly seed: number;
}

/** Frames as the detector needs them: only the Y plane is read. */
function grayFrame(seq: number, ptsUs: number, width: number, height: number, y: Uint8Array): Frame {
  const data = Buffer.from(y.buffer, y.byteOffset, y.byteLength);
  return { seq, ptsUs, wallMs: 0, width, height, data, y: data, u: data.subarray(0, 0), v: data.subarray(0, 0) } as Frame;
}

/** Decodes a video into luma planes of `width`×`height` at `fps` (ffmpeg's own resampling). */
async function decodeGray(path: string, width: number, height: number, fps?: number): Promise<Uint8Array[]> {
  const filters = [`scale=${width}:${height}`, ...(fps ? [`fps=${fps}`] : [])].join(',');
  const child = spawnFfmpeg({ name: 'bench-decode', args: ['-loglevel', 'error', '-i', path, '-vf', filters, '-pix_fmt', 'gray', '-f', 'rawvideo', '-'], stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  child.stdout!.on('data', (c: Buffer) => chunks.push(c));
  const exit = await child.exited;
  if (exit.code !== 0) throw new Error(`decoding ${path} failed: ${child.stderrTail().join('\n')}`);
  const all = Buffer.concat(chunks);
  const size = width * height;
  const frames: Uint8Array[] = [];
  for (let o = 0; o + size <= all.length; o += size) frames.push(new Uint8Array(all.subarray(o, o + size)));
  return frames;
}

/** H.264 round trip of luma planes (as a camera node or a file delivers them), back into planes. */
async function roundTrip(planes: readonly Uint8Array[], width: number, height: number, fps: number, crf: number, path: string): Promise<Uint8Array[]> {
  const encoder = spawnFfmpeg({
    name: 'bench-encode',
    args: ['-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'gray', '-s', `${width}x${height}`, '-r', String(fps), '-i', '-', '-c:v', 'libx264', '-preset', 'veryfast', '-crf', String(crf), '-g', String(Math.max(1, Math.round(fps * 2))), '-pix_fmt', 'yuv420p', '-y', path],
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  for (const plane of planes) if (!encoder.stdin!.write(plane)) await once(encoder.stdin!, 'drain');
  encoder.stdin!.end();
  const exit = await encoder.exited;
  if (exit.code !== 0) throw new Error(`encoding failed: ${encoder.stderrTail().join('\n')}`);
  return decodeGray(path, width, height);
}

/** Per-pixel temporal median of frames spread over the clip: the street with nobody on it. */
function medianPlate(frames: readonly Uint8Array[], samples: number): Uint8Array {
  const picked = Array.from({ length: samples }, (_, k) => frames[Math.floor((k * (frames.length - 1)) / (samples - 1))]);
  const size = picked[0].length;
  const plate = new Uint8Array(size);
  const column = new Uint8Array(samples);
  for (let i = 0; i < size; i++) {
    for (let k = 0; k < samples; k++) column[k] = picked[k][i];
    column.sort();
    plate[i] = column[samples >> 1];
  }
  return plate;
}

/**
 * Cut-outs of real people: connected regions that differ from the plate, of a person's size
 * and upright shape, from frames spread over the clip.
 */
function cutSprites(frames: readonly Uint8Array[], plate: Uint8Array, width: number, height: number, wanted: number): Sprite[] {
  const sprites: Sprite[] = [];
  const mask = new Uint8Array(width * height);
  for (let f = 20; f < frames.length && sprites.length < wanted; f += 37) {
    const frame = frames[f];
    for (let i = 0; i < mask.length; i++) mask[i] = Math.abs(frame[i] - plate[i]) > 30 ? 1 : 0;
    const blobs = findBlobs(mask, width, height, 120);
    for (const b of blobs) {
      const w = b.maxX - b.minX + 1;
      const h = b.maxY - b.minY + 1;
      // A walking person at this size: taller than wide, not touching the border.
      if (h < 28 || h > 90 || h / w < 1.6 || h / w > 4.5 || b.minX === 0 || b.maxX === width - 1 || b.area < 0.35 * w * h) continue;
      const luma = new Uint8Array(w * h);
      const alpha = new Uint8Array(w * h);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const i = (b.minY + y) * width + b.minX + x;
          luma[y * w + x] = frame[i];
          alpha[y * w + x] = mask[i] ? 255 : 0;
        }
      }
      sprites.push({ width: w, height: h, luma, alpha });
      break;
    }
  }
  return sprites;
}

/** Where a crossing's sprite is at `tS` (left edge x, top y, scaled size), or null when out of view. */
function spriteAt(c: Crossing, sprite: Sprite, tS: number, width: number, height: number): { x: number; y: number; w: number; h: number } | null {
  const p = (tS - c.startS) / c.durationS;
  if (p < 0 || p > 1) return null;
  const w = Math.max(2, Math.round(sprite.width * c.scale));
  const h = Math.max(4, Math.round(sprite.height * c.scale));
  const span = width + w;
  const x = Math.round((c.reverse ? 1 - p : p) * span) - w;
  const y = Math.round(c.yFrac * height - h / 2);
  return { x, y, w, h };
}

/** The interval a crossing is in view: at least a quarter of the person inside the frame. */
function crossingTruth(c: Crossing, sprite: Sprite, width: number): { startS: number; endS: number } {
  const w = sprite.width * c.scale;
  const span = width + w;
  // Visible fraction ≥ 1/4 once the leading edge is w/4 inside: p·span ≥ w/4.
  const enter = w / 4 / span;
  return { startS: c.startS + enter * c.durationS, endS: c.startS + (1 - enter) * c.durationS };
}

/** Standard normal table, indexed at random offsets per frame: cheap, reproducible noise. */
function normalTable(seed: number, size: number): Float32Array {
  const rand = createRandom(seed);
  const table = new Float32Array(size);
  for (let i = 0; i < size; i += 2) {
    const u = Math.max(rand(), 1e-12);
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    table[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < size) table[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return table;
}

/**
 * Renders a recipe over a base: `base(i, tS)` gives the real background plane for frame `i`
 * (the plate, or a frame of swaying leaves), then people are pasted, the tone and steps
 * applied, particles and sensor noise added.
 */
function render(recipe: Recipe, base: (tS: number) => Uint8Array, sprites: readonly Sprite[], width: number, height: number): Uint8Array[] {
  const rand = createRandom(recipe.seed);
  const normals = normalTable(recipe.seed + 1, 1 << 20);
  const count = Math.round(recipe.durationS * recipe.fps);
  const out: Uint8Array[] = [];
  const plane = new Float32Array(width * height);
  const flakes = Array.from({ length: recipe.particles === 'snow' ? 260 : 0 }, () => ({ x: rand() * width, y: rand() * height, vy: 15 + rand() * 25, vx: -6 + rand() * 12, size: 1 + Math.floor(rand() * 3) }));
  for (let i = 0; i < count; i++) {
    const tS = i / recipe.fps;
    const src = base(tS);
    for (let k = 0; k < plane.length; k++) plane[k] = src[k];
    for (const c of recipe.crossings) {
      const sprite = sprites[c.sprite % sprites.length];
      const at = spriteAt(c, sprite, tS, width, height);
      if (!at) continue;
      for (let y = 0; y < at.h; y++) {
        const py = at.y + y;
        if (py < 0 || py >= height) continue;
        const sy = Math.min(sprite.height - 1, Math.floor(y / c.scale));
        for (let x = 0; x < at.w; x++) {
          const px = at.x + x;
          if (px < 0 || px >= width) continue;
          const sx = Math.min(sprite.width - 1, Math.floor(x / c.scale));
          if (sprite.alpha[sy * sprite.width + sx]) plane[py * width + px] = sprite.luma[sy * sprite.width + sx];
        }
      }
    }
    let gain = 1;
    let ir = false;
    for (const s of recipe.steps ?? []) {
      if (tS < s.atS) continue;
      if (s.ir) {
        ir = !ir;
        continue;
      }
      const ramp = s.rampS > 0 ? Math.min(1, (tS - s.atS) / s.rampS) : 1;
      gain *= 1 + (s.factor - 1) * ramp;
    }
    const tone = ir ? { gain: 0.2, offset: 8 } : recipe.tone;
    const sigma = ir ? Math.max(recipe.noiseSigma, 6) : recipe.noiseSigma;
    if (recipe.particles === 'rain') {
      // Fast streaks, new every frame: slanted bright lines 6–14 pixels long.
      for (let d = 0; d < 180; d++) {
        const x0 = rand() * width;
        const y0 = rand() * height;
        const len = 6 + rand() * 8;
        for (let s = 0; s < len; s++) {
          const px = Math.floor(x0 + s * 0.25);
          const py = Math.floor(y0 + s);
          if (px < width && py < height) plane[py * width + px] += 35;
        }
      }
    }
    for (const f of flakes) {
      const fy = (f.y + f.vy * tS) % height;
      const fx = (((f.x + f.vx * tS) % width) + width) % width;
      for (let y = 0; y < f.size; y++) {
        for (let x = 0; x < f.size; x++) {
          const px = Math.floor(fx) + x;
          const py = Math.floor(fy) + y;
          if (px < width && py < height) plane[py * width + px] = 235;
        }
      }
    }
    const offset = Math.floor(rand() * (normals.length - plane.length));
    const frame = new Uint8Array(width * height);
    for (let k = 0; k < plane.length; k++) {
      let v = plane[k] * gain;
      if (tone) v = tone.offset + tone.gain * v;
      v += sigma * normals[offset + k];
      frame[k] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
    }
    out.push(frame);
  }
  return out;
}

/** Options of {@link buildLabeledSet}. */
export interface SetOptions {
  readonly quick: boolean;
  /** A scratch directory for the H.264 round trips. */
  readonly dir: string;
  readonly log: (line: string) => void;
}

const NIGHT = { gain: 0.16, offset: 6 };

/**
 * Builds the set: real-footage classes when `opencv-doc` is installed, and the synthetic class
 * always. Deterministic (seeded).
 */
export async function buildLabeledSet(options: SetOptions): Promise<LabeledClip[]> {
  const clips: LabeledClip[] = [];
  const street = join(OPENCV_SAMPLES_DIR, 'vtest.avi');
  const tree = join(OPENCV_SAMPLES_DIR, 'tree.avi');
  if (!existsSync(street) || !existsSync(tree)) {
    options.log(`(real-footage classes skipped: ${street} or ${tree} missing; install them with \`apt-get install opencv-doc\`)`);
  } else {
    clips.push(...(await realClips(street, tree, options)));
  }
  clips.push(...syntheticClips(options.quick));
  return clips;
}

async function realClips(street: string, tree: string, options: SetOptions): Promise<LabeledClip[]> {
  const W = 384;
  const H = 288;
  const streetFrames = await decodeGray(street, W, H);
  const plate = medianPlate(streetFrames, 61);
  const sprites = cutSprites(streetFrames, plate, W, H, 8);
  if (sprites.length < 3) throw new Error(`only ${sprites.length} person cut-outs found in ${street}`);
  const TW = 320;
  const TH = 240;
  const treeShot = await decodeGray(tree, TW, TH);
  // From 22.9 s a hand reaches into tree.avi: the leaves alone are the first 22.5 s; the whole
  // shot is a clip of its own, with the hand as its truth.
  const treeFrames = treeShot.slice(0, TREE_LEAVES_ONLY_FRAMES);
  // Play the leaves forth and back so a clip can be longer than the footage without a jump.
  const period = treeFrames.length * 2 - 2;
  const treeAt = (tS: number): Uint8Array => {
    // tree.avi runs at 15 frames/s: pick the leaves' state at that time, whatever the clip's rate.
    const k = Math.round(tS * 15) % period;
    return treeFrames[k < treeFrames.length ? k : period - k];
  };
  const walk = (sprite: number, startS: number, extra: Partial<Crossing> = {}): Crossing => ({ sprite, startS, durationS: 8, yFrac: 0.62, scale: 1, reverse: sprite % 2 === 1, ...extra });
  const d = options.quick ? 16 : 24;
  const recipes: (Recipe & { base: 'street' | 'tree' })[] = [
    // Night: luma around 30, heavy temporal noise (high analogue gain), H.264; dim people.
    { base: 'street', name: 'night σ5', cls: 'night noise', fps: 10, durationS: d, crossings: [], tone: NIGHT, noiseSigma: 5, crf: 26, seed: 101 },
    { base: 'street', name: 'night σ8 + IR-cut step', cls: 'night noise', fps: 10, durationS: d, crossings: [], tone: NIGHT, noiseSigma: 8, steps: [{ atS: d / 2, factor: 1.3, rampS: 0 }], crf: 28, seed: 102 },
    { base: 'street', name: 'night σ5 + person', cls: 'night noise', fps: 10, durationS: d, crossings: [walk(0, 6)], tone: NIGHT, noiseSigma: 5, crf: 26, seed: 103 },
    { base: 'street', name: 'night σ8 + person', cls: 'night noise', fps: 10, durationS: d, crossings: [walk(1, 5, { yFrac: 0.45 }), walk(2, 15)], tone: NIGHT, noiseSigma: 8, crf: 28, seed: 104 },
    // Vegetation: real leaves in wind, at 15 and 2.5 frames/s.
    { base: 'tree', name: 'leaves', cls: 'vegetation', fps: 15, durationS: d, crossings: [], noiseSigma: 1.5, crf: 23, seed: 201 },
    { base: 'tree', name: 'leaves @2.5 fps', cls: 'vegetation', fps: 2.5, durationS: d * 1.5, crossings: [], noiseSigma: 1.5, crf: 23, seed: 202 },
    { base: 'tree', name: 'leaves + intruder', cls: 'vegetation', fps: 15, durationS: d, crossings: [walk(3, 8, { scale: 1.8, yFrac: 0.6, durationS: 6 })], noiseSigma: 1.5, crf: 23, seed: 203 },
    { base: 'tree', name: 'leaves @2.5 fps + intruder', cls: 'vegetation', fps: 2.5, durationS: d * 1.5, crossings: [walk(4, 12, { scale: 1.8, yFrac: 0.55, durationS: 7 })], noiseSigma: 1.5, crf: 23, seed: 204 },
    // Lights and IR switching: gain steps, an exposure ramp, day → IR night → day.
    { base: 'street', name: 'lights on/off + exposure ramp', cls: 'lights / IR', fps: 10, durationS: d, crossings: [], noiseSigma: 2, steps: [{ atS: 5, factor: 1.5, rampS: 0 }, { atS: 11, factor: 0.6, rampS: 0 }, { atS: 17, factor: 1.3, rampS: 1 }], crf: 23, seed: 301 },
    { base: 'street', name: 'IR switch day→night→day', cls: 'lights / IR', fps: 10, durationS: d, crossings: [], noiseSigma: 2, steps: [{ atS: 6, factor: 1, rampS: 0, ir: true }, { atS: 15, factor: 1, rampS: 0, ir: true }], crf: 23, seed: 302 },
    { base: 'street', name: 'lights + person', cls: 'lights / IR', fps: 10, durationS: d, crossings: [walk(5, 10)], noiseSigma: 2, steps: [{ atS: 5, factor: 1.5, rampS: 0 }, { atS: 20, factor: 0.7, rampS: 0 }], crf: 23, seed: 303 },
    // Rain and snow particles.
    { base: 'street', name: 'rain', cls: 'rain / snow', fps: 10, durationS: d, crossings: [], noiseSigma: 2, particles: 'rain', crf: 23, seed: 401 },
    { base: 'street', name: 'snow', cls: 'rain / snow', fps: 10, durationS: d, crossings: [], noiseSigma: 2, particles: 'snow', crf: 23, seed: 402 },
    { base: 'street', name: 'rain + person', cls: 'rain / snow', fps: 10, durationS: d, crossings: [walk(6, 8)], noiseSigma: 2, particles: 'rain', crf: 23, seed: 403 },
    { base: 'street', name: 'snow + person', cls: 'rain / snow', fps: 10, durationS: d, crossings: [walk(7, 8, { yFrac: 0.45 })], noiseSigma: 2, particles: 'snow', crf: 23, seed: 404 },
    // Slow cameras.
    { base: 'street', name: 'street @2 fps', cls: '2–5 fps', fps: 2, durationS: d * 1.5, crossings: [], noiseSigma: 3, crf: 23, seed: 501 },
    { base: 'street', name: 'street @2 fps + person', cls: '2–5 fps', fps: 2, durationS: d * 1.5, crossings: [walk(0, 10), walk(3, 22, { yFrac: 0.45 })], noiseSigma: 3, crf: 23, seed: 502 },
    { base: 'street', name: 'street @5 fps + person', cls: '2–5 fps', fps: 5, durationS: d, crossings: [walk(1, 8)], noiseSigma: 3, crf: 23, seed: 503 },
    { base: 'street', name: 'night @3 fps + person', cls: '2–5 fps', fps: 3, durationS: d * 1.5, crossings: [walk(2, 12)], tone: NIGHT, noiseSigma: 6, crf: 28, seed: 504 },
    // Heavy compression: blocks, smeared noise, keyframe pulses.
    { base: 'street', name: 'crf 42', cls: 'heavy compression', fps: 10, durationS: d, crossings: [], noiseSigma: 3, crf: 42, seed: 601 },
    { base: 'street', name: 'crf 46 night', cls: 'heavy compression', fps: 10, durationS: d, crossings: [], tone: NIGHT, noiseSigma: 5, crf: 46, seed: 602 },
    { base: 'street', name: 'crf 42 + person', cls: 'heavy compression', fps: 10, durationS: d, crossings: [walk(4, 8)], noiseSigma: 3, crf: 42, seed: 603 },
    { base: 'street', name: 'crf 46 night + person', cls: 'heavy compression', fps: 10, durationS: d, crossings: [walk(5, 8, { yFrac: 0.45 })], tone: NIGHT, noiseSigma: 5, crf: 46, seed: 604 },
  ];
  const clips: LabeledClip[] = [];
  // The tree shot as it was filmed, at its own rate and at 2.5 frames/s: leaves, then a real hand.
  for (const fps of [15, 2.5]) {
    const planes = fps === 15 ? treeShot : await decodeGray(tree, TW, TH, fps);
    clips.push({
      name: `tree.avi as filmed @${fps} fps (a hand reaches in)`,
      cls: 'vegetation',
      width: TW,
      height: TH,
      fps,
      frames: planes.map((p, i) => grayFrame(i, Math.round((i * 1e6) / fps), TW, TH, p)),
      motion: [TREE_HAND],
      brightnessStepsS: [],
      durationS: planes.length / fps,
      real: true,
    });
  }
  for (const [k, recipe] of recipes.entries()) {
    const [width, height] = recipe.base === 'tree' ? [TW, TH] : [W, H];
    const base = recipe.base === 'tree' ? treeAt : () => plate;
    const planes = await roundTrip(render(recipe, base, sprites, width, height), width, height, recipe.fps, recipe.crf, join(options.dir, `clip-${k}.mp4`));
    const frames = planes.map((p, i) => grayFrame(i, Math.round((i * 1e6) / recipe.fps), width, height, p));
    clips.push({
      name: recipe.name,
      cls: recipe.cls,
      width,
      height,
      fps: recipe.fps,
      frames,
      motion: recipe.crossings.map((c) => crossingTruth(c, sprites[c.sprite % sprites.length], width)),
      brightnessStepsS: (recipe.steps ?? []).map((s) => s.atS),
      durationS: frames.length / recipe.fps,
      real: true,
    });
  }
  return clips;
}

/** The synthetic class: textured scenes with crossings, brightness steps and glitches, straight from memory. */
function syntheticClips(quick: boolean): LabeledClip[] {
  const seeds = quick ? [11, 12] : [11, 12, 13, 14, 15, 16];
  return seeds.map((seed, k) => {
    const spec = randomSceneSpec(seed, { width: 640, height: 360, fps: [15, 10, 25][k % 3], noise: [1.5, 8] });
    const renderer = createSceneRenderer(spec);
    const frames = Array.from({ length: renderer.frameCount }, (_, i) => {
      const data = renderer.frame(i);
      return grayFrame(i, renderer.ptsUs(i), spec.width, spec.height, data.subarray(0, spec.width * spec.height));
    });
    const truth = sceneTruth(spec);
    return {
      name: `synthetic seed ${seed}`,
      cls: 'synthetic',
      width: spec.width,
      height: spec.height,
      fps: spec.fps,
      frames,
      motion: truth.motion,
      brightnessStepsS: truth.brightnessStepsS,
      durationS: spec.durationS,
      real: false,
    };
  });
}
