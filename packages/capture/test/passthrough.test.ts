import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createCleanupStack, waitFor } from '@preroll/testkit';
import {
  nalUnits,
  CaptureError,
  createCameraUnitBuilder,
  createSource,
  passthroughDecision,
  probeStream,
  urlRouteDecision,
  type CameraUnit,
  type Frame,
  type StreamProbe,
} from '../src/index';
import { tempDir } from './fake-camera';

const cleanup = createCleanupStack();
afterEach(() => cleanup.run());

const dir = tempDir('preroll-passthrough-');

describe('passthroughDecision', () => {
  const base: StreamProbe = { codec: 'h264', profile: 'High', pixFmt: 'yuv420p', width: 1920, height: 1080, hasBFrames: 0, fps: 25 };
  test.each([
    [{}, true],
    [{ profile: 'Main' }, true],
    [{ profile: 'Constrained Baseline' }, true],
    [{ pixFmt: 'yuvj420p' }, true],
    [{ codec: 'hevc' }, false],
    [{ codec: 'mjpeg', profile: 'Baseline', pixFmt: 'yuvj422p' }, false],
    [{ profile: 'High 10' }, false],
    [{ profile: 'High 4:2:2' }, false],
    [{ pixFmt: 'yuv422p' }, false],
    [{ profile: null }, false],
    [{ hasBFrames: 2 }, false],
  ] as Array<[Partial<StreamProbe>, boolean]>)('%j → passthrough %s', (change, expected) => {
    const decision = passthroughDecision({ ...base, ...change });
    expect(decision.passthrough).toBe(expected);
    expect(decision.reason.length).toBeGreaterThan(10);
  });
});

describe('urlRouteDecision', () => {
  const h264: StreamProbe = { codec: 'h264', profile: 'High', pixFmt: 'yuv420p', width: 1280, height: 720, hasBFrames: 0, fps: 15 };
  const mjpeg: StreamProbe = { codec: 'mjpeg', profile: 'Baseline', pixFmt: 'yuvj422p', width: 640, height: 480, hasBFrames: 0, fps: 15 };
  test.each([
    [h264, 'auto', 'auto', 'passthrough'],
    [h264, 'never', 'auto', 'encoder'],
    [{ ...h264, hasBFrames: 2 }, 'auto', 'auto', 'encoder'],
    [mjpeg, 'auto', 'auto', 'mjpeg'],
    [mjpeg, 'never', 'auto', 'mjpeg'],
    [mjpeg, 'auto', 'never', 'encoder'],
    [{ ...h264, codec: 'hevc', profile: 'Main' }, 'auto', 'auto', 'encoder'],
  ] as Array<[StreamProbe, 'auto' | 'never', 'auto' | 'never', string]>)('%j, passthrough %s, mjpeg %s → %s', (probe, passthrough, mjpegMode, route) => {
    const decision = urlRouteDecision(probe, { passthrough, mjpeg: mjpegMode });
    expect(decision.route).toBe(route);
    expect(decision.reason.length).toBeGreaterThan(10);
  });
});

describe('createCameraUnitBuilder', () => {
  const nal = (header: number, fill: number, size = 8): Buffer => Buffer.concat([Buffer.from([0, 0, 0, 1, header]), Buffer.alloc(size, fill)]);
  const AUD = Buffer.from([0, 0, 0, 1, 0x09, 0xf0]);
  const sps = Buffer.concat([Buffer.from([0, 0, 0, 1, 0x67, 0x64, 0x00, 0x28]), Buffer.alloc(6, 0xac)]);
  const pps = nal(0x68, 0xee, 3);

  test('holds units back until a keyframe with parameter sets; puts SPS/PPS in front of a keyframe that lacks them', () => {
    const builder = createCameraUnitBuilder({ width: 1920, height: 1080 });
    expect(builder.build(Buffer.concat([AUD, nal(0x41, 1)]), 0, 0)).toBeNull();
    expect(builder.build(Buffer.concat([AUD, nal(0x65, 2)]), 1, 0)).toBeNull(); // no SPS/PPS seen yet
    const first = builder.build(Buffer.concat([AUD, sps, pps, nal(0x65, 3)]), 2, 0)!;
    expect(first.keyframe).toBe(true);
    expect(first.codec).toBe('avc1.640028');
    expect([first.width, first.height, first.seq]).toEqual([1920, 1080, 0]);
    const p = builder.build(Buffer.concat([AUD, nal(0x41, 4)]), 3, 0)!;
    expect(p.keyframe).toBe(false);
    expect(nalUnits(p.data).map((n) => n.type)).toEqual([9, 1]);
    const bare = builder.build(Buffer.concat([AUD, nal(0x65, 5)]), 4, 0)!;
    expect(bare.keyframe).toBe(true);
    expect(nalUnits(bare.data).map((n) => n.type)).toEqual([9, 7, 8, 5]);
    expect(bare.data.subarray(nalUnits(bare.data)[1].start, nalUnits(bare.data)[1].end)).toEqual(sps.subarray(4));
    expect(builder.skipped()).toBe(2);
    builder.reset();
    expect(builder.build(Buffer.concat([AUD, nal(0x41, 6)]), 5, 0)).toBeNull();
    expect(builder.build(Buffer.concat([AUD, nal(0x65, 7)]), 6, 0)?.seq).toBe(3);
  });
});

/** A real H.264 transport stream (3 s at 10 fps by default, keyframe every 10 frames, High profile). */
function makeTs(name: string, seconds = 3): string {
  const path = join(dir, name);
  execFileSync('ffmpeg', [
    '-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=s=160x120:r=10:d=${seconds}`,
    '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-g', '10', '-bf', '0', '-pix_fmt', 'yuv420p', '-f', 'mpegts', path,
  ]);
  return path;
}

/**
 * Serves the file at /cam.ts, whole and at once, to every connection: then hangs up, or with
 * `hang` keeps the connection open and sends nothing more (a camera that froze).
 */
async function serve(file: string, options: { hang?: boolean } = {}): Promise<{ url: string; connections(): number }> {
  const data = readFileSync(file);
  let connections = 0;
  const server: Server = createServer((req, res) => {
    connections++;
    res.writeHead(200, { 'Content-Type': 'video/mp2t' });
    if (options.hang) res.write(data);
    else res.end(data);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.defer(server, (s) => new Promise<void>((resolve) => s.close(() => resolve())));
  cleanup.defer(server, async (s) => void s.closeAllConnections());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/cam.ts`, connections: () => connections };
}

describe('probeStream', () => {
  test('reads codec, profile, pixel format, size and rate of an HTTP stream', async () => {
    const { url } = await serve(makeTs('probe.ts'));
    const probe = await probeStream(url, { timeoutMs: 20_000 });
    expect(probe).toEqual({ codec: 'h264', profile: 'High', pixFmt: 'yuv420p', width: 160, height: 120, hasBFrames: 0, fps: 10 });
    expect(passthroughDecision(probe).passthrough).toBe(true);
  });

  test('a camera that refuses the connection: CAPTURE_PROBE_FAILED, within the bound', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const started = Date.now();
    const error = await probeStream(`http://127.0.0.1:${port}/cam.ts`, { timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CaptureError);
    expect((error as CaptureError).code).toBe('CAPTURE_PROBE_FAILED');
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});

describe('a passthrough url: source', () => {
  test('delivers the camera units (copied, keyframe first, 90 kHz timestamps) and reduced frames on the same clock', async () => {
    const ts = makeTs('cam.ts');
    const { url } = await serve(ts);
    const source = cleanup.defer(createSource(`url:${url}`, { restart: false, passthrough: { detectWidthPx: 96, detectFps: 5, width: 160, height: 120 } }), (s) => s.stop());
    expect(source.passthrough).toBe(true);
    const frames: Frame[] = [];
    const units: CameraUnit[] = [];
    source.onFrame((frame) => frames.push(frame));
    source.onUnit!((unit) => units.push(unit));
    await source.start();
    await source.ended();
    // All 30 pictures, byte for byte what the file holds (a copy, not a re-encode).
    expect(units).toHaveLength(30);
    expect(units[0].keyframe).toBe(true);
    expect(units.filter((u) => u.keyframe)).toHaveLength(3);
    expect(units.map((u) => u.ptsUs)).toEqual(Array.from({ length: 30 }, (_, n) => Math.round((n * 9000 * 1000) / 90)));
    const probed = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=size', '-of', 'json', ts]).toString()) as { packets: Array<{ size: string }> };
    expect(units.map((u) => u.data.length)).toEqual(probed.packets.map((p) => Number(p.size)));
    expect(units[0].codec).toMatch(/^avc1\.64/);
    expect([units[0].width, units[0].height]).toEqual([160, 120]);
    // Detection gets 5 frames a second, scaled down, each on a unit's timestamp.
    expect(frames).toHaveLength(15);
    expect([frames[0].width, frames[0].height]).toEqual([96, 72]);
    const unitPts = new Set(units.map((u) => u.ptsUs));
    expect(frames.filter((f) => !unitPts.has(f.ptsUs))).toHaveLength(0);
    expect(frames.map((f) => f.ptsUs)).toEqual(Array.from({ length: 15 }, (_, n) => n * 200_000));
    expect(source.fps).toBe(5);
    expect(source.stats().droppedFrames).toBe(0);
  });

  test('a camera that freezes is restarted as a url: source is (CAPTURE_STALLED); units stay increasing and start again at a keyframe', async () => {
    // Longer than ffmpeg's stream analysis (5 s), which would otherwise wait for more data.
    const { url, connections } = await serve(makeTs('again.ts', 8), { hang: true });
    const source = cleanup.defer(
      createSource(`url:${url}`, {
        passthrough: { detectWidthPx: 96, detectFps: 5, width: 160, height: 120 },
        stallTimeoutMs: 1500,
        backoff: { initialMs: 200, maxMs: 500, factor: 2, resetAfterMs: 30_000 },
      }),
      (s) => s.stop(),
    );
    const units: CameraUnit[] = [];
    source.onUnit!((unit) => units.push(unit));
    const states: string[] = [];
    source.onState((state) => states.push(state));
    await source.start();
    // Within a run units are 100 ms apart; a run's first unit comes after the stall (1.5 s and more).
    const runStartsOf = (list: readonly CameraUnit[]): number[] => list.map((u, i) => (i > 0 && u.ptsUs - list[i - 1].ptsUs > 1_000_000 ? i : -1)).filter((i) => i > 0);
    await waitFor(() => runStartsOf(units).length >= 2, { timeoutMs: 120_000, what: 'units from three connections' });
    await source.stop();
    expect(connections()).toBeGreaterThanOrEqual(3);
    expect(source.stats().restarts).toBeGreaterThanOrEqual(2);
    expect(states).toContain('restarting');
    expect(source.stats().lastError?.code).toBe('CAPTURE_STALLED');
    for (let i = 1; i < units.length; i++) expect(units[i].ptsUs).toBeGreaterThan(units[i - 1].ptsUs);
    // Each run's first unit is a keyframe that carries its parameter sets.
    const runStarts = runStartsOf(units);
    for (const i of runStarts) {
      expect(units[i].keyframe).toBe(true);
      expect(nalUnits(units[i].data).some((n) => n.type === 7)).toBe(true);
    }
    // Of the 80 pictures a connection sent, only the last few stay inside ffmpeg when the camera
    // freezes (its demuxer and parser end a picture when the next one begins).
    expect(runStarts[1] - runStarts[0]).toBeGreaterThanOrEqual(75);
    expect(units.map((u) => u.seq)).toEqual(units.map((_, i) => i));
  }, 150_000);

  test('a camera that switches codec (MPEG-2 after a reconnection): CAPTURE_CODEC_CHANGED, restarted like any camera failure, nothing of the new codec handed on', async () => {
    const h264 = readFileSync(makeTs('before.ts', 8));
    const mpeg2Path = join(dir, 'after.ts');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=s=160x120:r=10:d=8', '-c:v', 'mpeg2video', '-f', 'mpegts', mpeg2Path]);
    const mpeg2 = readFileSync(mpeg2Path);
    let connections = 0;
    // The first connection sends H.264 and then freezes; every later one sends MPEG-2.
    const server: Server = createServer((req, res) => {
      connections++;
      res.writeHead(200, { 'Content-Type': 'video/mp2t' });
      res.write(connections === 1 ? h264 : mpeg2);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.defer(server, (s) => new Promise<void>((resolve) => s.close(() => resolve())));
    cleanup.defer(server, async (s) => void s.closeAllConnections());
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cam.ts`;
    const source = cleanup.defer(
      createSource(`url:${url}`, {
        passthrough: { detectWidthPx: 96, detectFps: 5, width: 160, height: 120 },
        stallTimeoutMs: 1500,
        backoff: { initialMs: 200, maxMs: 500, factor: 2, resetAfterMs: 30_000 },
      }),
      (s) => s.stop(),
    );
    const units: CameraUnit[] = [];
    source.onUnit!((unit) => units.push(unit));
    await source.start();
    await waitFor(() => source.stats().lastError?.code === 'CAPTURE_CODEC_CHANGED', { timeoutMs: 90_000, what: 'the codec change to be seen' });
    const seen = units.length;
    // Restarted with backoff, as after any failure: it connects again.
    await waitFor(() => connections >= 3, { timeoutMs: 60_000, what: 'a reconnection after the codec change' });
    await source.stop();
    expect(source.stats().restarts).toBeGreaterThanOrEqual(2);
    // Only the H.264 of the first connection was handed on.
    expect(seen).toBeGreaterThanOrEqual(75);
    expect(seen).toBeLessThanOrEqual(80);
    expect(units).toHaveLength(seen);
    expect(units.every((u) => u.codec.startsWith('avc1.'))).toBe(true);
  }, 180_000);

  test('a camera with B-frames (which a short probe may miss) fails with CAPTURE_PASSTHROUGH_UNSUPPORTED instead of recording reordered pictures', async () => {
    const path = join(dir, 'bframes.ts');
    execFileSync('ffmpeg', [
      '-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=s=160x120:r=10:d=3',
      '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-g', '10', '-bf', '2', '-pix_fmt', 'yuv420p', '-f', 'mpegts', path,
    ]);
    const { url } = await serve(path);
    const source = cleanup.defer(createSource(`url:${url}`, { passthrough: { detectWidthPx: 96, detectFps: 5, width: 160, height: 120 } }), (s) => s.stop());
    const units: CameraUnit[] = [];
    source.onUnit!((unit) => units.push(unit));
    await source.start().catch((error: unknown) => expect((error as CaptureError).code).toBe('CAPTURE_PASSTHROUGH_UNSUPPORTED'));
    await waitFor(() => source.state() === 'failed', { timeoutMs: 30_000, what: 'the source to fail' });
    expect(source.stats().lastError?.code).toBe('CAPTURE_PASSTHROUGH_UNSUPPORTED');
    expect(source.stats().restarts).toBe(0);
    // Only the pictures before the first reordered one (the first keyframe, whose DTS is its PTS) went out.
    expect(units.length).toBeLessThanOrEqual(1);
  });

  test('passthrough is refused for a source that is not url:', () => {
    expect(() => createSource('demo', { passthrough: { detectWidthPx: 320, detectFps: 5, width: 640, height: 360 } })).toThrow(
      expect.objectContaining({ code: 'CAPTURE_BAD_SPEC' }),
    );
  });
});
