import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ffmpegDecodeArgs } from '../src/args';
import { createSource, DEMO_MOTION, type Frame, type FrameSource } from '../src/index';
import { tempDir } from './fake-camera';
import { createCleanupStack } from '@preroll/testkit';

// Every source a test creates is stopped after it, passed or failed (a running capture would keep jest alive).
const cleanup = createCleanupStack();
afterEach(() => cleanup.run());
const track = <T extends { stop(): Promise<void> }>(source: T): T => cleanup.defer(source, (s) => s.stop());

const dir = tempDir('preroll-sources-');

/** Encodes a small real test clip with ffmpeg (10 fps, 3 s) and returns its path. */
function makeClip(name: string, filter = 'null'): string {
  const path = join(dir, name);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=s=160x120:r=10:d=3', '-vf', filter, '-fps_mode', 'passthrough', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', path]);
  return path;
}

/** Runs a finite source to its end and returns every frame. */
async function readAll(source: FrameSource): Promise<Frame[]> {
  const frames: Frame[] = [];
  source.onFrame((frame) => frames.push(frame));
  await source.start();
  await source.ended();
  await source.stop();
  return frames;
}

describe('file: source', () => {
  const clip = makeClip('cfr.mp4');

  test('fast mode delivers every frame with the file timestamps', async () => {
    const source = track(createSource(`file:${clip}`, { realtime: false }));
    expect(source.pausable).toBe(true);
    const frames = await readAll(source);
    // Fast mode is ffmpeg unpaced (no `-re`): the file is read as fast as it decodes (the time
    // it takes is the capture bench's figure, not asserted here).
    expect(ffmpegDecodeArgs({ kind: 'file', path: clip }, {}, { realtime: false, loop: false })).not.toContain('-re');
    expect(ffmpegDecodeArgs({ kind: 'file', path: clip }, {}, { realtime: true, loop: false })).toContain('-re');
    expect(frames).toHaveLength(30);
    expect(source.width).toBe(160);
    expect(source.height).toBe(120);
    expect(source.fps).toBe(10);
    frames.forEach((frame, n) => {
      expect(frame.ptsUs).toBe(n * 100_000);
      expect(frame.data.length).toBe(160 * 120 * 1.5);
    });
    expect(source.state()).toBe('stopped');
  });

  test('variable frame rate: gaps in the file stay gaps in the timestamps', async () => {
    const vfr = makeClip('vfr.mp4', "select='not(eq(mod(n\\,3)\\,2))'");
    const frames = await readAll(track(createSource(`file:${vfr}`, { realtime: false })));
    const expected = Array.from({ length: 30 }, (_, n) => n).filter((n) => n % 3 !== 2).map((n) => n * 100_000);
    expect(frames.map((f) => f.ptsUs)).toEqual(expected);
  });

  test('pause() holds frames back without losing any', async () => {
    const source = track(createSource(`file:${clip}`, { realtime: false }));
    const frames: Frame[] = [];
    source.onFrame((frame) => {
      frames.push(frame);
      if (frames.length === 5) {
        source.pause();
        setTimeout(() => source.resume(), 300);
      }
    });
    await source.start();
    await source.ended();
    expect(frames.map((f) => f.seq)).toEqual(Array.from({ length: 30 }, (_, n) => n));
  });

  test('real-time mode plays at the file pace', async () => {
    const started = Date.now();
    const frames = await readAll(track(createSource(`file:${clip}`, { durationS: 2 })));
    expect(frames.length).toBe(20);
    // ffmpeg 6.1+ sends the first 0.5 s at once (-readrate_initial_burst); the rest is paced.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1300);
  });

  test('a scaled source delivers the asked size', async () => {
    const frames = await readAll(track(createSource(`file:${clip}`, { realtime: false, width: 64, height: 48, durationS: 0.5 })));
    expect(frames[0].width).toBe(64);
    expect(frames[0].y.length).toBe(64 * 48);
  });

  test('missing file: CAPTURE_FILE_NOT_FOUND before anything is spawned', async () => {
    await expect(createSource(`file:${join(dir, 'nope.mp4')}`).start()).rejects.toMatchObject({ code: 'CAPTURE_FILE_NOT_FOUND' });
  });

  test('corrupt file: a clear error with the ffmpeg reason', async () => {
    const bad = join(dir, 'corrupt.mp4');
    writeFileSync(bad, Buffer.from('this is not a video at all'.repeat(100)));
    const error = await createSource(`file:${bad}`, { realtime: false }).start().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'CAPTURE_SOURCE_EXITED' });
    expect(String((error as Error).message)).toMatch(/Invalid data|could not find|moov/i);
  });

  test('missing USB camera: CAPTURE_DEVICE_NOT_FOUND', async () => {
    await expect(createSource('v4l2:/dev/video99').start()).rejects.toMatchObject({ code: 'CAPTURE_DEVICE_NOT_FOUND' });
  });
});

describe('demo source', () => {
  test('an ffmpeg-generated scene at the asked size, with sensor noise between frames', async () => {
    const frames = await readAll(track(createSource('demo', { width: 160, height: 96, fps: 10, durationS: 1 })));
    expect(frames).toHaveLength(10);
    expect(frames[9].ptsUs).toBe(900_000);
    let differing = 0;
    for (let i = 0; i < frames[0].y.length; i++) if (frames[0].y[i] !== frames[1].y[i]) differing++;
    expect(differing / frames[0].y.length).toBeGreaterThan(0.2);
    expect(DEMO_MOTION.startS + DEMO_MOTION.moveS).toBeLessThanOrEqual(DEMO_MOTION.periodS);
  });
});

describe('url: source (HTTP MJPEG, as served by another Preroll)', () => {
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    const jpegs = ['0x282828', '0x787878', '0xc8c8c8'].map((color) =>
      execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `color=c=${color}:s=96x64`, '-frames:v', '1', '-c:v', 'mjpeg', '-f', 'image2pipe', '-']),
    );
    server = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'multipart/x-mixed-replace; boundary=frame' });
      let n = 0;
      const timer = setInterval(() => {
        const jpeg = jpegs[n++ % jpegs.length];
        res.write(`--frame\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`);
        res.write(jpeg);
        res.write('\r\n');
        if (n >= 200) {
          clearInterval(timer);
          res.end();
        }
      }, 50);
      req.on('close', () => clearInterval(timer));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('decodes the stream into frames stamped with arrival time', async () => {
    const source = track(createSource(`url:http://127.0.0.1:${port}/stream.mjpg`));
    const frames: Frame[] = [];
    const five = new Promise<void>((resolve) =>
      source.onFrame((frame) => {
        frames.push(frame);
        if (frames.length === 5) resolve();
      }),
    );
    await source.start();
    await five;
    await source.stop();
    expect(frames[0].width).toBe(96);
    expect(frames[0].height).toBe(64);
    const means = frames.map((f) => f.y.reduce((a, b) => a + b, 0) / f.y.length);
    expect(Math.max(...means) - Math.min(...means)).toBeGreaterThan(50);
    for (let i = 1; i < frames.length; i++) expect(frames[i].ptsUs).toBeGreaterThan(frames[i - 1].ptsUs);
  });
});
