import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { nalUnits, createSource } from '@preroll/capture';
import { ffprobeJson, runTool } from '@preroll/process';
import type { RecordedClip } from '@preroll/recorder';
import { createCleanupStack } from '@preroll/testkit';
import sharp from 'sharp';
import { createPipeline } from '../src/pipeline';
import { makeH264Scene, startTsServer } from '../src/bench/ts-stream';
import { request, startTestServer, waitFor } from './server-helpers';

const cleanup = createCleanupStack();
afterEach(() => cleanup.run());

/** The coded slices (NAL types 1 and 5) of an H.264 file as hashes, in order, read by ffmpeg as Annex-B. */
async function sliceHashes(file: string): Promise<string[]> {
  const bsf = file.endsWith('.mp4') ? ['-bsf:v', 'h264_mp4toannexb'] : [];
  const { stdout } = await runTool('ffmpeg', ['-v', 'error', '-i', file, '-map', '0:v:0', '-c:v', 'copy', ...bsf, '-f', 'h264', 'pipe:1']);
  return nalUnits(stdout)
    .filter((nal) => nal.type === 1 || nal.type === 5)
    .map((nal) => createHash('sha1').update(stdout.subarray(nal.start, nal.end)).digest('hex'));
}

/** The SPS of an H.264 file (first one), as hex. */
async function firstSps(file: string): Promise<string> {
  const bsf = file.endsWith('.mp4') ? ['-bsf:v', 'h264_mp4toannexb'] : [];
  const { stdout } = await runTool('ffmpeg', ['-v', 'error', '-i', file, '-map', '0:v:0', '-c:v', 'copy', ...bsf, '-frames:v', '1', '-f', 'h264', 'pipe:1']);
  const sps = nalUnits(stdout).find((nal) => nal.type === 7)!;
  return stdout.subarray(sps.start, sps.end).toString('hex');
}

describe('a network camera that sends H.264, recorded by passthrough', () => {
  it('records a motion event with the camera\'s own H.264: same SPS and slices, keyframe first, the pre-roll before the trigger, exact timestamps', async () => {
    const dir = cleanup.defer(mkdtempSync(path.join(tmpdir(), 'preroll-passthrough-')), (d) => rmSync(d, { recursive: true, force: true }));
    const scene = path.join(dir, 'camera.ts');
    // 14 s at 15 fps, a keyframe every second; a block crosses from 7 s to 9 s.
    makeH264Scene(scene, { seconds: 14, width: 640, height: 360, fps: 15, gopFrames: 15, motionAtS: 7, motionForS: 2 });
    // Paced in real time from the first connection, and ended with the file (the camera goes away).
    const camera = cleanup.defer(await startTsServer(scene, { loop: false, startOnConnect: true }), (s) => s.close());
    const source = createSource(`url:${camera.url}`, { restart: false, passthrough: { detectWidthPx: 320, detectFps: 5, width: 640, height: 360 } });
    const pipeline = createPipeline({
      source,
      dataDir: path.join(dir, 'data'),
      detector: { warmupS: 1 },
      // The camera's rate, as the runtime passes it from the probe: the last picture lasts one camera frame.
      recorder: { preRollMs: 2000, postRollMs: 1000, fps: 15 },
    });
    cleanup.defer(pipeline, (p) => p.stop());
    const clips: RecordedClip[] = [];
    pipeline.onClip((clip) => clips.push(clip));
    const triggers: number[] = [];
    pipeline.onTrigger((event) => {
      if (event.type === 'start') triggers.push(event.ptsUs);
    });
    await pipeline.start();
    await pipeline.finished();

    expect(triggers).toHaveLength(1);
    expect(clips).toHaveLength(1);
    // No encoder of ours ran: the units came from the camera.
    expect(pipeline.encoder()).toBeNull();
    expect(pipeline.stats().frames).toBeLessThanOrEqual(14 * 5 + 1);
    const sidecar = clips[0].sidecar;
    const clip = path.join(dir, 'data', sidecar.files.clip);
    expect([sidecar.width, sidecar.height]).toEqual([640, 360]);

    // The camera's own stream: the same SPS, and the clip's slices are a contiguous run of the camera's, byte for byte.
    expect(await firstSps(clip)).toBe(await firstSps(scene));
    const sourceSlices = await sliceHashes(scene);
    const clipSlices = await sliceHashes(clip);
    expect(clipSlices.length).toBe(sidecar.frames);
    const at = sourceSlices.indexOf(clipSlices[0]);
    expect(at).toBeGreaterThanOrEqual(0);
    expect(sourceSlices.slice(at, at + clipSlices.length)).toEqual(clipSlices);

    // Keyframe first, covering the pre-roll with the camera's GOP (1 s) as the granularity.
    const doc = await ffprobeJson(clip, ['-select_streams', 'v:0', '-show_entries', 'packet=flags,pts_time:stream=codec_name,profile,width,height']);
    const packets = doc.packets as Array<{ flags: string; pts_time: string }>;
    expect(packets).toHaveLength(sidecar.frames);
    expect(packets[0].flags).toMatch(/^K/);
    expect(doc.streams[0]).toMatchObject({ codec_name: 'h264', profile: 'High', width: 640, height: 360 });
    expect(sidecar.preRollMs).toBeGreaterThanOrEqual(2000);
    expect(sidecar.preRollMs).toBeLessThan(2000 + 1000 + 10);
    // The camera's keyframes are at whole seconds of its clock (index % 15 == 0).
    expect(at % 15).toBe(0);

    // Timestamps: increasing, one frame (1/15 s) apart, as the camera stamped them (1 µs track clock).
    const pts = packets.map((p) => Number(p.pts_time));
    for (let i = 1; i < pts.length; i++) expect(Math.abs(pts[i] - pts[i - 1] - 1 / 15)).toBeLessThan(2e-6);
    const format = await ffprobeJson(clip, ['-show_entries', 'format=duration']);
    expect(Math.abs(Number(format.format.duration) - sidecar.frames / 15)).toBeLessThan(1 / 15);

    // Snapshot and thumbnail come from the decoded (reduced) frames.
    expect(sidecar.files.snapshot).toBeDefined();
    const snapshot = path.join(dir, 'data', sidecar.files.snapshot!);
    expect(existsSync(snapshot)).toBe(true);
    expect((await sharp(snapshot).metadata()).width).toBe(320);
  }, 120_000);
});

describe('the server with a url: camera', () => {
  /** Reads `/stream.mp4` until `bytes` arrived, then ends the request. */
  async function liveBytes(url: string, bytes: number): Promise<Buffer> {
    const controller = new AbortController();
    const response = await fetch(`${url}/stream.mp4`, { signal: controller.signal });
    const chunks: Buffer[] = [];
    let total = 0;
    const reader = response.body!.getReader();
    try {
      while (total < bytes) {
        const { value, done } = await reader.read();
        if (done) break;
        chunks.push(Buffer.from(value));
        total += value.length;
      }
    } finally {
      controller.abort();
    }
    return Buffer.concat(chunks);
  }

  it('probes it, records its H.264 as it comes (status says so), and the live fMP4 carries the camera\'s codec; `never` re-encodes', async () => {
    const dir = cleanup.defer(mkdtempSync(path.join(tmpdir(), 'preroll-passthrough-server-')), (d) => rmSync(d, { recursive: true, force: true }));
    const scene = path.join(dir, 'camera.ts');
    makeH264Scene(scene, { seconds: 10, width: 640, height: 360, fps: 15, gopFrames: 30, motionAtS: 100, motionForS: 1, profile: 'main' });
    const camera = cleanup.defer(await startTsServer(scene), (s) => s.close());

    const server = cleanup.defer(await startTestServer({ camera: { source: `url:${camera.url}`, passthrough: { detectWidthPx: 320 } }, detector: { analysisFps: 5 } }), (s) => s.stop());
    const status = await waitFor(async () => {
      const body = (await request(`${server.url}/api/status`, 'GET')).body;
      return body.fps > 0 && body.recordingPath.gopMs !== null ? body : null;
    }, 60_000, 'frames and two keyframes from the camera');
    expect(status.recordingPath.mode).toBe('passthrough');
    expect(status.recordingPath.reason).toMatch(/H\.264 Main 640x360/);
    // The camera's keyframe interval, from its units' timestamps: 30 frames at 15 fps.
    expect(status.recordingPath.gopMs).toBe(2000);
    expect([status.width, status.height]).toEqual([320, 180]);
    // The live view's init segment names the camera's own codec: Main profile (4d), as it sends it.
    const live = await liveBytes(server.url, 64 * 1024);
    expect(live.indexOf(Buffer.from('avcC'))).toBeGreaterThan(0);
    const avcC = live.subarray(live.indexOf(Buffer.from('avcC')) + 4);
    expect(avcC[1]).toBe(0x4d);
    await server.stop();

    const reencoded = cleanup.defer(await startTestServer({ camera: { source: `url:${camera.url}`, passthrough: { mode: 'never' } } }), (s) => s.stop());
    const after = await waitFor(async () => {
      const body = (await request(`${reencoded.url}/api/status`, 'GET')).body;
      return body.fps > 0 ? body : null;
    }, 60_000, 'frames from the camera, decoded');
    expect(after.recordingPath).toEqual({ mode: 'encoder', reason: 'camera.passthrough.mode is never: decoded and re-encoded', gopMs: null });
    expect([after.width, after.height]).toEqual([640, 360]);
  }, 180_000);
});
