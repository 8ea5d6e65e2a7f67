import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { createSource, type Frame } from '@preroll/capture';
import { ffprobeJson } from '@preroll/process';
import type { RecordedClip } from '@preroll/recorder';
import { createCleanupStack } from '@preroll/testkit';
import sharp from 'sharp';
import { createPipeline, splitEncoderArgs } from '../src/pipeline';
import { request, startTestServer, waitFor } from './server-helpers';

const FAKE_BIN = resolve(__dirname, '../../../test-fixtures/bin');

const cleanup = createCleanupStack();
afterEach(() => cleanup.run());

describe('the Pi camera on the split route (fake rpicam-vid, real ffmpeg)', () => {
  const savedEnv = { ...process.env };
  afterEach(() => {
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
  });

  test("one event gives one clip of the camera's full-size H.264: keyframe first, the pre-roll, durations on the sensor clock; the detector sees reduced frames", async () => {
    // A still scene with a block crossing it from 6 s to 8 s of the sensor clock.
    Object.assign(process.env, { PATH: `${FAKE_BIN}${delimiter}${savedEnv.PATH}`, FAKE_RPICAM_MOTION: '6,8' });
    const dir = cleanup.defer(mkdtempSync(join(tmpdir(), 'preroll-split-')), (d) => rmSync(d, { recursive: true, force: true }));
    const source = createSource('rpicam:320x240@15', { strideAlign: 64, framePool: true, split: { detectWidthPx: 160, detectFps: 5, encoderArgs: await splitEncoderArgs() } });
    const pipeline = createPipeline({
      source,
      dataDir: join(dir, 'data'),
      detector: { warmupS: 1 },
      analysisFps: 5,
      recorder: { preRollMs: 2000, postRollMs: 1000, fps: 15, fsync: false },
    });
    cleanup.defer(pipeline, (p) => p.stop());
    const clips: RecordedClip[] = [];
    pipeline.onClip((clip) => clips.push(clip));
    const triggers: number[] = [];
    const detectorFrames: { width: number; height: number }[] = [];
    pipeline.onTrigger((event, frame: Frame | null) => {
      if (event.type !== 'start') return;
      triggers.push(event.ptsUs);
      if (frame) detectorFrames.push({ width: frame.width, height: frame.height });
    });
    await pipeline.start();
    // The clip is finished after the event's end gap and post-roll: a spurious second start would have come by then.
    await waitFor(async () => (clips.length >= 1 ? true : null), 120_000, 'the clip of the motion');
    await pipeline.stop();

    expect(triggers).toHaveLength(1);
    expect(clips).toHaveLength(1);
    // No encoder of the pipeline ran: the units came from the camera's own ffmpeg.
    expect(pipeline.encoder()).toBeNull();
    expect(detectorFrames).toEqual([{ width: 160, height: 120 }]);
    const sidecar = clips[0].sidecar;
    const clip = join(dir, 'data', sidecar.files.clip);
    expect([sidecar.width, sidecar.height]).toEqual([320, 240]);
    const doc = await ffprobeJson(clip, ['-select_streams', 'v:0', '-show_entries', 'packet=flags,pts_time:stream=codec_name,width,height']);
    const packets = doc.packets as Array<{ flags: string; pts_time: string }>;
    expect(packets).toHaveLength(sidecar.frames);
    expect(packets[0].flags).toMatch(/^K/);
    expect(doc.streams[0]).toMatchObject({ codec_name: 'h264', width: 320, height: 240 });
    // The pre-roll, at the 1 s keyframe interval of the pipeline's encoder settings.
    expect(clips[0].triggerPtsUs - clips[0].firstPtsUs).toBeGreaterThanOrEqual(2_000_000);
    expect(sidecar.preRollMs).toBeLessThan(2000 + 1000 + 2000);
    // Timestamps are the sensor's: whole 1/15 s steps (frames the loaded machine made the fake skip are gaps, not squeezed).
    const pts = packets.map((p) => Number(p.pts_time));
    for (let i = 1; i < pts.length; i++) {
      const steps = (pts[i] - pts[i - 1]) * 15;
      expect(steps).toBeGreaterThan(0.5);
      expect(Math.abs(steps - Math.round(steps))).toBeLessThan(1e-3);
    }
    const format = await ffprobeJson(clip, ['-show_entries', 'format=duration']);
    const spanS = (clips[0].lastPtsUs - clips[0].firstPtsUs) / 1e6 + 1 / 15;
    expect(Math.abs(Number(format.format.duration) - spanS)).toBeLessThanOrEqual(1 / 15);
    // The snapshot comes from the reduced frames.
    const snapshot = join(dir, 'data', sidecar.files.snapshot!);
    expect(existsSync(snapshot)).toBe(true);
    expect((await sharp(snapshot).metadata()).width).toBe(160);
  }, 180_000);

  test('the server with camera.rpicamRoute split: status names the route, frames are reduced, a manual clip is full size', async () => {
    Object.assign(process.env, { PATH: `${FAKE_BIN}${delimiter}${savedEnv.PATH}` });
    const server = await startTestServer({ camera: { source: 'rpicam:320x240@15', strideAlign: 64, rpicamRoute: 'split', passthrough: { detectWidthPx: 160 } }, recorder: { preRollMs: 1000 } });
    try {
      const running = await waitFor(async () => {
        const body = (await request(`${server.url}/api/status`, 'GET')).body;
        return body.captureState === 'running' && body.fps > 0 ? body : null;
      }, 60_000, 'the camera to run');
      expect(running.recordingPath.mode).toBe('split');
      expect([running.width, running.height]).toEqual([160, 120]);
      await new Promise((r) => setTimeout(r, 1500));
      expect((await request(`${server.url}/api/record/start`, 'POST')).status).toBe(200);
      await waitFor(async () => ((await request(`${server.url}/api/status`, 'GET')).body.recording ? true : null), 20_000, 'the recording to start');
      await new Promise((r) => setTimeout(r, 1500));
      expect((await request(`${server.url}/api/record/stop`, 'POST')).status).toBe(200);
      const event = await waitFor(async () => (await request(`${server.url}/api/events?kind=manual`, 'GET')).body.items[0], 60_000, 'the manual clip');
      // A photo is the newest keyframe decoded in full, not a reduced frame.
      const photo = await request(`${server.url}/api/photo`, 'POST');
      expect(photo.status).toBe(201);
      const jpeg = Buffer.from(await (await fetch(`${server.url}/api/events/${photo.body.id}/snapshot`)).arrayBuffer());
      expect(await sharp(jpeg).metadata()).toMatchObject({ width: 320, height: 240 });
      const clipResponse = await fetch(`${server.url}/api/events/${event.id}/clip`);
      expect(clipResponse.status).toBe(200);
      const file = join(mkdtempSync(join(tmpdir(), 'preroll-split-clip-')), 'clip.mp4');
      writeFileSync(file, Buffer.from(await clipResponse.arrayBuffer()));
      const doc = await ffprobeJson(file, ['-select_streams', 'v:0', '-show_entries', 'stream=width,height:packet=flags']);
      expect(doc.streams[0]).toMatchObject({ width: 320, height: 240 });
      expect(doc.packets[0].flags).toMatch(/^K/);
    } finally {
      await server.stop();
    }
  }, 180_000);
});
