import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import type { Frame } from '@preroll/capture';
import makeImage from 'sharp';
import { readSidecar } from '@preroll/layout';
import { createEncoder, createRecorder, type Encoder, type RecordedClip, type Recorder } from '../src';
import { decodedLumaMeans, irregularTimestamps, lumaOf, makeFrames, probe, tempDir } from './helpers';

const FPS = 10;
const GOP = 10;
const W = 320;
const H = 240;

type Script = (recorder: Recorder, frame: Frame, index: number, encoder: Encoder) => void;

/**
 * Runs frames through the real chain (ffmpeg encoder in `wait` mode → recorder) the way the
 * pipeline does: the script's triggers for frame i happen before frame i is encoded.
 */
async function record(frames: Frame[], dataDir: string, script: Script, options: { preRollMs: number; postRollMs: number }): Promise<RecordedClip[]> {
  const recorder = createRecorder({ dataDir, preRollMs: options.preRollMs, postRollMs: options.postRollMs, fps: FPS, fsync: false });
  const encoder = createEncoder({ width: W, height: H, fps: FPS, gopFrames: GOP, policy: 'wait', backoff: { initialMs: 50, maxMs: 100, factor: 2, resetAfterMs: 60_000 } });
  const clips: RecordedClip[] = [];
  recorder.onClip((clip) => clips.push(clip));
  encoder.onUnit((unit) => recorder.push(unit));
  await encoder.start();
  for (let i = 0; i < frames.length; i++) {
    script(recorder, frames[i], i, encoder);
    encoder.encode(frames[i]);
    if (encoder.busy()) await encoder.drained();
  }
  await encoder.stop();
  await recorder.flush();
  const stats = encoder.stats();
  expect(stats).toMatchObject({ framesIn: frames.length, droppedFrames: 0, unpairedUnits: 0 });
  expect(stats.units + stats.lostFrames).toBe(frames.length);
  // Clips are finalised concurrently and may finish in any order.
  return clips.sort((a, b) => a.firstPtsUs - b.firstPtsUs);
}

/**
 * Checks a clip against the capture timestamps it was made from, with ffprobe only: returns
 * the index range [first, last] of input frames it holds (its pts sequence must equal theirs
 * exactly, rebased to 0) after checking keyframe start, frame count, duration and pictures.
 */
async function checkClip(clip: RecordedClip, pts: readonly number[], gopStart = 0): Promise<{ first: number; last: number }> {
  const file = path.join(clip.dataDir, clip.sidecar.files.clip);
  const p = await probe(file);
  expect(p.codec).toBe('h264');
  expect(p.moovFirst).toBe(true);
  expect(p.packets[0].key).toBe(true);
  expect(p.frames[0].key).toBe(true);
  expect(p.frames[0].pictType).toBe('I');
  expect(p.frames).toHaveLength(p.packets.length);
  expect(p.packets[0].ptsUs).toBe(0);
  // Find the input frame the clip starts at: the one whose following timestamps match exactly.
  const clipPts = p.packets.map((x) => x.ptsUs);
  const candidates = pts.map((_, s) => s).filter((s) => clipPts.every((t, k) => s + k < pts.length && pts[s + k] - pts[s] === t));
  expect(candidates).toHaveLength(1);
  const first = candidates[0];
  const last = first + clipPts.length - 1;
  // The clip starts at a keyframe of the encoded stream (every GOP-th frame since the encoder started).
  expect((first - gopStart) % GOP).toBe(0);
  // Duration = span of the capture timestamps plus the last frame's display time, which the
  // remux sets to the nominal frame duration: within one frame duration of the span.
  const spanS = (pts[last] - pts[first]) / 1e6;
  expect(p.streamDurationS).toBeGreaterThan(spanS);
  expect(p.streamDurationS - spanS).toBeLessThanOrEqual(1 / FPS + 1e-6);
  expect(Math.abs(p.formatDurationS - p.streamDurationS)).toBeLessThan(0.001);
  // The pictures are the frames the timestamps say (1:1 pairing, nothing lost or doubled).
  const means = await decodedLumaMeans(file, W, H);
  expect(means).toHaveLength(clipPts.length);
  means.forEach((m, k) => expect(Math.abs(m - lumaOf(first + k))).toBeLessThan(6));
  // Sidecar agrees with the file.
  const sidecar = await readSidecar(path.join(clip.dataDir, path.dirname(clip.sidecar.files.clip), `${clip.sidecar.id}.json`));
  expect(sidecar.frames).toBe(clipPts.length);
  expect(Math.abs(sidecar.durationS - p.streamDurationS)).toBeLessThan(0.001);
  expect(sidecar.width).toBe(W);
  return { first, last };
}

describe('recorder: clips from the real encoder, checked with ffprobe', () => {
  it('starts at the newest keyframe at least pre-roll before the trigger and ends at the post-roll, with upstream drops and jitter', async () => {
    const { dir, cleanup } = tempDir();
    try {
      // Every 7th frame missing upstream and ±15 ms jitter: variable frame rate on purpose.
      const pts = irregularTimestamps(110, FPS, { dropEvery: 7, jitterUs: 30_000 });
      const frames = makeFrames(pts, W, H);
      const trigger = 47;
      const end = 70;
      // The recorder renders the heat-map it is handed at the snapshot's size, once, when the clip is finished.
      const rendered: Array<[number, number]> = [];
      const heatmap = { render: (w: number, h: number) => (rendered.push([w, h]), makeImage({ create: { width: w, height: h, channels: 3, background: '#c00' } }).png().toBuffer()) };
      const clips = await record(
        frames,
        dir,
        (rec, frame, i) => {
          if (i === trigger) rec.motionStart({ ptsUs: frame.ptsUs, frame, heatmap, triggerLevel: 6, score: 40 });
          if (i > trigger && i <= end) rec.sample(frame.ptsUs, 10 + i);
          if (i === end) rec.motionEnd({ endPtsUs: frame.ptsUs, peakScore: 99 });
        },
        { preRollMs: 2000, postRollMs: 1000 },
      );
      expect(clips).toHaveLength(1);
      const { first, last } = await checkClip(clips[0], pts);
      // Pre-roll: between preRoll and preRoll + one GOP before the trigger.
      const preRollUs = pts[trigger] - pts[first];
      expect(preRollUs).toBeGreaterThanOrEqual(2_000_000);
      expect(preRollUs).toBeLessThan(2_000_000 + (pts[first + GOP] - pts[first]));
      // Post-roll: every frame up to end + 1 s, and not one more.
      const endUs = pts[end] + 1_000_000;
      expect(pts[last]).toBeLessThanOrEqual(endUs);
      expect(pts[last + 1]).toBeGreaterThan(endUs);
      const sidecar = clips[0].sidecar;
      expect(sidecar.kind).toBe('motion');
      expect(sidecar.preRollMs).toBe(Math.round(preRollUs / 1000));
      expect(sidecar.triggerLevel).toBe(6);
      expect(sidecar.peakScore).toBe(99);
      expect(sidecar.scores.length).toBe(end - trigger);
      expect(sidecar.scores[0]).toEqual({ tMs: Math.round((pts[trigger + 1] - pts[first]) / 1000), score: 10 + trigger + 1 });
      expect(new Date(sidecar.triggeredAt as string).getTime()).toBe(Math.round(frames[trigger].wallMs));
      for (const rel of [sidecar.files.snapshot, sidecar.files.thumbnail, sidecar.files.heatmap]) {
        expect(rel).toBeDefined();
        expect(existsSync(path.join(dir, rel as string))).toBe(true);
      }
      const sharp = (await import('sharp')).default;
      const snap = await sharp(path.join(dir, sidecar.files.snapshot as string)).metadata();
      expect([snap.width, snap.height]).toEqual([W, H]);
      const thumb = await sharp(path.join(dir, sidecar.files.thumbnail as string)).metadata();
      expect(thumb.width).toBeLessThanOrEqual(320);
      const heat = await sharp(path.join(dir, sidecar.files.heatmap as string)).metadata();
      expect([heat.format, heat.width, heat.height]).toEqual(['png', W, H]);
      expect(rendered).toEqual([[W, H]]);
      // The snapshot is the trigger frame: its flat level is that frame's.
      const { data } = await sharp(path.join(dir, sidecar.files.snapshot as string)).greyscale().raw().toBuffer({ resolveWithObject: true });
      const mean = data.subarray(32 * W).reduce((a, b) => a + b, 0) / (data.length - 32 * W);
      expect(Math.abs(mean - ((lumaOf(trigger) - 16) * 255) / 219)).toBeLessThan(8);
      // Nothing partial left behind.
      const day = path.join(dir, path.dirname(sidecar.files.clip));
      expect(readdirSync(day).filter((n) => n.includes('.part') || n.endsWith('.tmp'))).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('extends an open event for overlapping triggers, and gives manual recordings the pre-roll too', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const pts = irregularTimestamps(150, FPS, { jitterUs: 10_000 });
      const frames = makeFrames(pts, W, H);
      // Motion 30..40, again at 45 (inside the 1 s post-roll) until 50: one clip.
      // Manual 100..120 later on: a second clip with pre-roll.
      const clips = await record(
        frames,
        dir,
        (rec, frame, i) => {
          if (i === 30 || i === 45) rec.motionStart({ ptsUs: frame.ptsUs, frame });
          if (i === 40 || i === 50) rec.motionEnd({ endPtsUs: frame.ptsUs });
          if (i === 100) rec.manualStart({ frame });
          if (i === 120) rec.manualStop(frame.ptsUs);
        },
        { preRollMs: 1500, postRollMs: 1000 },
      );
      expect(clips.map((c) => c.sidecar.kind)).toEqual(['motion', 'manual']);
      const motion = await checkClip(clips[0], pts);
      expect(pts[30] - pts[motion.first]).toBeGreaterThanOrEqual(1_500_000);
      expect(pts[motion.last]).toBeLessThanOrEqual(pts[50] + 1_000_000);
      expect(pts[motion.last + 1]).toBeGreaterThan(pts[50] + 1_000_000);
      const manual = await checkClip(clips[1], pts);
      expect(pts[100] - pts[manual.first]).toBeGreaterThanOrEqual(1_500_000);
      expect(pts[100] - pts[manual.first]).toBeLessThan(1_500_000 + (pts[manual.first + GOP] - pts[manual.first]));
      // Manual stop ends the clip at the stop, without post-roll.
      expect(manual.last).toBe(120);
    } finally {
      cleanup();
    }
  });

  it('marks a camera restart in the clip being written, in a clip whose pre-roll reaches over it, and where a restart ends a clip', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const pts = irregularTimestamps(160, FPS);
      const frames = makeFrames(pts, W, H);
      const mark = (rec: Recorder, i: number, ended: boolean, keys: string[]): void =>
        rec.markBreak({ wallMs: frames[i].wallMs, ptsUs: frames[i].ptsUs, reason: 'camera-restart', keys, gapMs: ended ? null : 300, ended });
      const clips = await record(
        frames,
        dir,
        (rec, frame, i) => {
          // Clip 1 (manual 20..60) spans a controls restart at 40.
          if (i === 20) rec.manualStart({ frame });
          if (i === 40) mark(rec, i, false, ['camera.controls.awb']);
          if (i === 60) rec.manualStop(frame.ptsUs);
          // A restart at 85, outside any clip; clip 2 (motion at 95, 1.5 s pre-roll) reaches back over it.
          if (i === 85) mark(rec, i, false, ['camera.fps']);
          if (i === 95) rec.motionStart({ ptsUs: frame.ptsUs, frame });
          if (i === 100) rec.motionEnd({ endPtsUs: frame.ptsUs });
          // Clip 3 (manual from 130) is ended by a restart that stops the recorder.
          if (i === 130) rec.manualStart({ frame });
          if (i === 150) mark(rec, i, true, ['camera.width', 'camera.height']);
        },
        { preRollMs: 1500, postRollMs: 500 },
      );
      expect(clips.map((c) => c.sidecar.kind)).toEqual(['manual', 'motion', 'manual']);
      const atMs = (clip: RecordedClip, i: number): number => Math.round((pts[i] - clip.firstPtsUs) / 1000);
      expect(clips[0].sidecar.discontinuities).toEqual([{ atMs: atMs(clips[0], 40), reason: 'camera-restart', keys: ['camera.controls.awb'], gapMs: 300, ended: false }]);
      expect(clips[1].firstPtsUs).toBeLessThan(pts[85]);
      expect(clips[1].sidecar.discontinuities).toEqual([{ atMs: atMs(clips[1], 85), reason: 'camera-restart', keys: ['camera.fps'], gapMs: 300, ended: false }]);
      // The recorder was flushed after frame 159: the ended break sits at the clip's last frame.
      expect(clips[2].sidecar.discontinuities).toEqual([{ atMs: Math.round((clips[2].lastPtsUs - clips[2].firstPtsUs) / 1000), reason: 'camera-restart', keys: ['camera.width', 'camera.height'], gapMs: null, ended: true }]);
      for (const clip of clips) expect((await readSidecar(path.join(dir, clip.sidecarPath))).discontinuities).toEqual(clip.sidecar.discontinuities);
    } finally {
      cleanup();
    }
  });

  it('closes the open clip cleanly when the encoder dies, and continues the event in a new clip from the restarted encoder', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const pts = irregularTimestamps(120, FPS, { jitterUs: 10_000 });
      const frames = makeFrames(pts, W, H);
      let lost = -1;
      const clips = await record(
        frames,
        dir,
        (rec, frame, i, encoder) => {
          if (i === 30) rec.motionStart({ ptsUs: frame.ptsUs, frame });
          if (i === 55) {
            encoder.onDiscontinuity((info) => {
              lost = info.lostFrames;
              rec.discontinuity(info.reason);
            });
            process.kill(encoder.pid() as number, 'SIGKILL');
          }
          if (i === 90) rec.motionEnd({ endPtsUs: frame.ptsUs });
        },
        { preRollMs: 1000, postRollMs: 500 },
      );
      expect(clips).toHaveLength(2);
      expect(clips.map((c) => c.interrupted)).toEqual([true, false]);
      const before = await checkClip(clips[0], pts);
      expect(pts[30] - pts[before.first]).toBeGreaterThanOrEqual(1_000_000);
      expect(pts[30] - pts[before.first]).toBeLessThan(1_000_000 + (pts[before.first + GOP] - pts[before.first]));
      // The restarted encoder's first frame is its first keyframe: the new clip starts there,
      // right after the frames lost inside the dead ffmpeg. Nothing else is missing.
      const after = await checkClip(clips[1], pts, before.last + lost + 1);
      expect(after.first).toBe(before.last + lost + 1);
      expect(lost).toBeGreaterThanOrEqual(0);
      expect(lost).toBeLessThan(10);
      expect(pts[after.last]).toBeLessThanOrEqual(pts[90] + 500_000);
      expect(pts[after.last + 1]).toBeGreaterThan(pts[90] + 500_000);
    } finally {
      cleanup();
    }
  });

  it('splits a long event the detector continued at a keyframe: no frame in both clips, none in neither', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const pts = irregularTimestamps(110, FPS, { dropEvery: 9, jitterUs: 10_000 });
      const frames = makeFrames(pts, W, H);
      const clips = await record(
        frames,
        dir,
        (rec, frame, i) => {
          if (i === 25) rec.motionStart({ ptsUs: frame.ptsUs, frame });
          if (i === 55) {
            rec.motionEnd({ endPtsUs: frame.ptsUs });
            rec.motionStart({ ptsUs: frame.ptsUs, frame, continued: true });
          }
          if (i === 85) rec.motionEnd({ endPtsUs: frame.ptsUs });
        },
        { preRollMs: 1000, postRollMs: 1000 },
      );
      expect(clips).toHaveLength(2);
      const a = await checkClip(clips[0], pts);
      const b = await checkClip(clips[1], pts);
      expect(a.first).toBe(10);
      expect(b.first).toBe(a.last + 1);
      // The first keyframe to arrive after the split (units trail frames by a few frames).
      expect([50, 60]).toContain(b.first);
      expect(clips[1].sidecar.preRollMs).toBe(Math.max(0, Math.round((pts[55] - pts[b.first]) / 1000)));
      expect(pts[b.last + 1]).toBeGreaterThan(pts[85] + 1_000_000);
      expect(pts[b.last]).toBeLessThanOrEqual(pts[85] + 1_000_000);
    } finally {
      cleanup();
    }
  });
});
