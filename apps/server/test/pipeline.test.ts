import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createSource } from '@preroll/capture';
import { ffprobeJson, runTool } from '@preroll/process';
import type { RecordedClip } from '@preroll/recorder';
import type { FinishedRecording } from '@preroll/recorder';
import { createPipeline } from '../src/pipeline';

describe('pipeline with a live (not pausable) source', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'preroll-pipeline-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('records a motion clip with pre-roll from a real-time source, accounts for every frame, and calls the store hook', async () => {
    const video = path.join(dir, 'live.mp4');
    // 6 s at 10 fps; a box moves from 3.5 s to 4.5 s.
    await runTool('ffmpeg', [
      '-v', 'error', '-y',
      '-f', 'lavfi', '-i', 'color=c=gray:s=320x240:r=10:d=6',
      '-f', 'lavfi', '-i', 'color=c=white:s=40x40:r=10:d=6',
      '-filter_complex', "[0][1]overlay=x='20+t*40':y=100:enable='between(t,3.5,4.5)',noise=alls=3:allf=t",
      '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '10', '-pix_fmt', 'yuv420p', video,
    ]);
    const source = createSource(`file:${video}`, { realtime: true, restart: false });
    expect(source.pausable).toBe(false);
    const notices: FinishedRecording[] = [];
    const pipeline = createPipeline({
      source,
      dataDir: path.join(dir, 'data'),
      detector: { warmupS: 1 },
      recorder: { preRollMs: 1500, postRollMs: 1000 },
      onRecording: (notice) => {
        notices.push(notice);
      },
    });
    const clips: RecordedClip[] = [];
    pipeline.onClip((clip) => clips.push(clip));
    const starts: number[] = [];
    pipeline.onDetectorEvent((event) => {
      if (event.type === 'start') starts.push(event.ptsUs);
    });
    await pipeline.start();
    await pipeline.finished();
    expect(starts).toHaveLength(1);
    expect(clips).toHaveLength(1);
    expect(notices.map((n) => n.sidecarPath)).toEqual([clips[0].sidecar.files.clip.replace(/\.mp4$/, '.json')]);
    expect(notices[0].origin).toBe('live');
    const stats = pipeline.stats();
    expect(stats.pauses).toBe(0);
    expect(stats.encoder?.state).toBe('stopped');
    expect(stats.frames).toBe(60);
    // Live policy: frames that arrive while ffmpeg starts or is behind are dropped and counted, never queued.
    const enc = stats.encoder!;
    expect(enc.framesIn).toBe(60);
    expect(enc.units + enc.droppedFrames + enc.lostFrames).toBe(60);
    const sidecar = clips[0].sidecar;
    const doc = await ffprobeJson(path.join(dir, 'data', sidecar.files.clip), ['-select_streams', 'v:0', '-show_entries', 'packet=flags,pts_time']);
    const packets = doc.packets as Array<{ flags: string; pts_time: string }>;
    expect(packets[0].flags).toMatch(/^K/);
    expect(packets).toHaveLength(sidecar.frames);
    // The clip starts at the newest keyframe at least 1.5 s before the trigger: no earlier than
    // one keyframe interval more (1 s, longer when a loaded machine made the encoder drop frames).
    const keys = packets.filter((p) => p.flags.startsWith('K')).map((p) => Number(p.pts_time) * 1000);
    const gopMs = Math.max(1000, ...keys.slice(1).map((t, i) => t - keys[i]));
    expect(sidecar.preRollMs).toBeGreaterThanOrEqual(1500);
    expect(sidecar.preRollMs).toBeLessThan(1500 + gopMs + 100);
  });
});

describe('motion detection switched off during an event', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'preroll-pipeline-off-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('ends the event there: the clip stops after the post-roll instead of running on while something still moves', async () => {
    const video = path.join(dir, 'moving.mp4');
    // 10 s at 10 fps; a box moves from 3 s to the end.
    await runTool('ffmpeg', [
      '-v', 'error', '-y',
      '-f', 'lavfi', '-i', 'color=c=gray:s=320x240:r=10:d=10',
      '-f', 'lavfi', '-i', 'color=c=white:s=40x40:r=10:d=10',
      '-filter_complex', "[0][1]overlay=x='20+t*25':y=100:enable='gte(t,3)',noise=alls=3:allf=t",
      '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '10', '-pix_fmt', 'yuv420p', video,
    ]);
    const pipeline = createPipeline({ source: createSource(`file:${video}`, { realtime: false }), dataDir: path.join(dir, 'data'), detector: { warmupS: 1 }, recorder: { preRollMs: 1000, postRollMs: 1000 } });
    const clips: RecordedClip[] = [];
    pipeline.onClip((clip) => clips.push(clip));
    const events: string[] = [];
    pipeline.onDetectorEvent((event) => {
      events.push(event.type);
      if (event.type === 'start') pipeline.setMotionEnabled(false);
    });
    try {
      await pipeline.start();
      await pipeline.finished();
    } finally {
      await pipeline.stop();
    }
    expect(events).toEqual(['start', 'end']);
    expect(clips).toHaveLength(1);
    // Pre-roll (1 s + at most one GOP) + the post-roll; the box moved on for 6 s more.
    expect(clips[0].sidecar.durationS).toBeLessThan(4);
    expect(pipeline.detector.enabled()).toBe(false);
  });
});

describe('analysis rate', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'preroll-pipeline-rate-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('at 5 frames a second the detector sees every 6th frame of a 30 fps source, finds the motion, and every frame is still encoded and recorded', async () => {
    const video = path.join(dir, 'rate.mp4');
    // 5 s at 30 fps; a box moves from 2.5 s to 3.5 s.
    await runTool('ffmpeg', [
      '-v', 'error', '-y',
      '-f', 'lavfi', '-i', 'color=c=gray:s=320x240:r=30:d=5',
      '-f', 'lavfi', '-i', 'color=c=white:s=40x40:r=30:d=5',
      '-filter_complex', "[0][1]overlay=x='20+t*40':y=100:enable='between(t,2.5,3.5)',noise=alls=3:allf=t",
      '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-pix_fmt', 'yuv420p', video,
    ]);
    // A file in fast mode is paused while the encoder is behind: no frame is lost, so counts are exact.
    const pipeline = createPipeline({ source: createSource(`file:${video}`, { realtime: false }), dataDir: path.join(dir, 'data'), detector: { warmupS: 1 }, analysisFps: 5, recorder: { preRollMs: 1000, postRollMs: 500 } });
    const clips: RecordedClip[] = [];
    pipeline.onClip((clip) => clips.push(clip));
    const samples: number[] = [];
    pipeline.onSample((sample) => samples.push(sample.ptsUs));
    const starts: number[] = [];
    pipeline.onDetectorEvent((event) => {
      if (event.type === 'start') starts.push(event.ptsUs);
    });
    try {
      await pipeline.start();
      await pipeline.finished();
    } finally {
      await pipeline.stop();
    }
    const stats = pipeline.stats();
    expect(stats.frames).toBe(150);
    expect(stats.analysedFrames).toBe(25);
    expect(samples).toHaveLength(25);
    // Evenly spaced in time: 200 ms apart (to the frame timestamps' rounding).
    samples.slice(1).forEach((t, i) => expect(Math.abs(t - samples[i] - 200_000)).toBeLessThanOrEqual(1000));
    expect(stats.analysisFps).toBeCloseTo(5, 1);
    expect(stats.encoder?.framesIn).toBe(150);
    expect(starts).toHaveLength(1);
    // The motion starts at 2.5 s: found within one analysed frame of it.
    expect(starts[0] / 1e6).toBeGreaterThanOrEqual(2.4);
    expect(starts[0] / 1e6).toBeLessThanOrEqual(2.75);
    expect(clips).toHaveLength(1);
    // Every frame of the clip's span is in it, not only the analysed ones.
    const sidecar = clips[0].sidecar;
    expect(sidecar.frames).toBeGreaterThanOrEqual(Math.floor(sidecar.durationS * 30) - 1);
  }, 60_000);
});
