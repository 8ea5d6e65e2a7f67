import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createSource } from '@preroll/capture';
import { ffprobeJson } from '@preroll/process';
import type { RecordedClip } from '@preroll/recorder';
import { createCleanupStack, makeJpegs, sleep, startMjpegStream, waitFor } from '@preroll/testkit';
import sharp from 'sharp';
import { createPipeline } from '../src/pipeline';

const cleanup = createCleanupStack();
afterEach(() => cleanup.run());

const FPS = 10;
/** 20 s at 10 fps: a still, slightly noisy scene; a white box crosses it from 6 s to 8 s. */
const jpegs = makeJpegs({
  width: 320,
  height: 240,
  fps: FPS,
  seconds: 20,
  scene: `color=c=0x606060:s=320x240:r=${FPS}[bg];color=c=white:s=60x60:r=${FPS}[box];[bg][box]overlay=x='20+(t-6)*100':y=90:enable='between(t,6,8)',noise=alls=3:allf=t[out0]`,
});

/** On-demand encoders this test process runs now (ffmpeg reading camera JPEGs on stdin). */
function encoderProcesses(): number {
  const out = execFileSync('ps', ['-o', 'args=', '--ppid', String(process.pid)]).toString();
  return out.split('\n').filter((line) => line.includes('ffmpeg') && line.includes('-f mjpeg -i pipe:0')).length;
}

describe('MJPEG camera over HTTP: the encoder runs on demand', () => {
  test('no encoder while nothing moves; an event starts it, its clip starts the pre-roll before the trigger; it stops again when idle', async () => {
    const dir = cleanup.defer(mkdtempSync(path.join(tmpdir(), 'preroll-mjpeg-')), (d) => rmSync(d, { recursive: true, force: true }));
    const stream = cleanup.defer(await startMjpegStream(jpegs, FPS), (s) => s.close());
    // The first picture, repeated, until the camera has been read long enough for a whole pre-roll.
    stream.play(0, { still: true });
    const source = createSource(`url:${stream.url}`, { mjpeg: { lowres: 1, analysisFps: 5 }, framePool: true });
    const pipeline = cleanup.defer(
      createPipeline({
        source,
        dataDir: path.join(dir, 'data'),
        detector: { warmupS: 1 },
        recorder: { preRollMs: 2000, postRollMs: 1000 },
        onDemand: { idleStopMs: 1500 },
      }),
      (p) => p.stop(),
    );
    const clips: RecordedClip[] = [];
    pipeline.onClip((clip) => clips.push(clip));
    const starts: number[] = [];
    pipeline.onDetectorEvent((event) => {
      if (event.type === 'start') starts.push(event.ptsUs);
    });
    await pipeline.start();
    expect(pipeline.encoder()).toBeNull();
    // Nothing moves: the pre-roll fills with JPEGs, no encoder runs.
    await waitFor(() => (pipeline.onDemand()!.stats().ring.spanMs >= 4000 ? true : null), { timeoutMs: 30_000, what: 'a filled pre-roll' });
    expect(starts).toHaveLength(0);
    expect(encoderProcesses()).toBe(0);
    expect(pipeline.onDemand()!.stats().starts).toBe(0);
    // The scene plays from 5.5 s: the box comes half a second later.
    stream.play(55);
    await waitFor(() => clips.length >= 1, { timeoutMs: 90_000, what: 'the clip' });
    // Freeze the picture: nothing moves any more.
    stream.play(0, { still: true });
    await waitFor(() => pipeline.onDemand()!.stats().stops >= 1, { timeoutMs: 30_000, what: 'the idle stop' });
    for (let i = 0; i < 20; i++) {
      expect(encoderProcesses()).toBe(0);
      await sleep(100);
    }
    const stats = pipeline.onDemand()!.stats();
    expect(stats).toMatchObject({ starts: 1, stops: 1, crashes: 0, state: 'off' });
    expect(stats.lastStartLatencyMs).toBeGreaterThan(0);
    expect(starts).toHaveLength(1);
    expect(clips).toHaveLength(1);
    const clip = clips[0];
    // The pre-roll counts back from the first cue: the clip starts at the newest JPEG at least 2 s before it.
    expect(clip.triggerPtsUs).toBe(starts[0]);
    expect(clip.triggerPtsUs - clip.firstPtsUs).toBeGreaterThanOrEqual(2_000_000);
    expect(clip.triggerPtsUs - clip.firstPtsUs).toBeLessThan(2_000_000 + 300_000);
    const file = path.join(dir, 'data', clip.sidecar.files.clip);
    const doc = await ffprobeJson(file, ['-select_streams', 'v:0', '-show_entries', 'packet=flags,pts_time:stream=width,height,duration']);
    const packets = doc.packets as Array<{ flags: string; pts_time: string }>;
    expect(packets[0].flags).toContain('K');
    expect(doc.streams[0]).toMatchObject({ width: 320, height: 240 });
    const spanS = Number(packets[packets.length - 1].pts_time) - Number(packets[0].pts_time);
    // Exact capture timestamps: the clip spans first to last picture as the recorder saw them.
    expect(Math.abs(spanS * 1e6 - (clip.lastPtsUs - clip.firstPtsUs))).toBeLessThanOrEqual(1000);
    expect(Number(doc.streams[0].duration)).toBeGreaterThan(2 + 1);
    // The snapshot and a photo are the camera's pictures at full size, not the detector's small frames.
    const snapshot = await sharp(path.join(dir, 'data', clip.sidecar.files.snapshot!)).metadata();
    expect({ width: snapshot.width, height: snapshot.height }).toEqual({ width: 320, height: 240 });
    const photo = await pipeline.takePhoto();
    const photoSize = await sharp(path.join(dir, 'data', photo.sidecar.files.snapshot!)).metadata();
    expect({ width: photoSize.width, height: photoSize.height }).toEqual({ width: 320, height: 240 });
  }, 180_000);
});
