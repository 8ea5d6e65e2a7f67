import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import sharp from 'sharp';
import { createSceneRenderer } from '@preroll/detector';
import { runTool } from '@preroll/process';
import { main } from '../src/cli';

/**
 * End to end through the CLI (`preroll detect`): a clip made by ffmpeg at test time, decoded by
 * the capture package's file source.
 */

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await main(args, { stdout, stderr });
  return { code, stdout: out, stderr: err };
}

let dir: string;
let clip: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'preroll-detect-cli-'));
  // A textured still (the synthetic scene's background, no objects), written as PNG.
  const renderer = createSceneRenderer({
    width: 320,
    height: 180,
    fps: 10,
    durationS: 1,
    seed: 5,
    noiseSigma: 0,
    cloudDepth: 0,
    cloudSpeed: 0,
    objects: [],
    brightnessSteps: [],
  });
  const still = join(dir, 'still.png');
  await sharp(renderer.frame(0).subarray(0, 320 * 180), { raw: { width: 320, height: 180, channels: 1 } }).png().toFile(still);
  // ffmpeg adds the rest: a dark box crossing at 4–7 s, the light switched ×1.4 from 9.5 s on,
  // and temporal sensor noise, then encodes H.264.
  clip = join(dir, 'clip.mp4');
  await runTool(
    'ffmpeg',
    [
      '-loglevel', 'error',
      '-loop', '1', '-framerate', '10', '-t', '12', '-i', still,
      '-f', 'lavfi', '-i', 'color=c=0x303030:s=36x60:r=10',
      '-filter_complex',
      "[0:v][1:v]overlay=x='if(between(t,4,7),-36+(t-4)*119,-100)':y=80:shortest=1," +
        "colorlevels=rimax=0.714:gimax=0.714:bimax=0.714:enable='gte(t,9.5)',noise=alls=6:allf=t,format=yuv420p",
      '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', '-g', '20', '-y', clip,
    ],
    { timeoutMs: 60_000 },
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('--json: the crossing is one event, the light switch none, and the summary suggests a level', async () => {
  // First pass at a high level: learn the file's noise floor, as a user would from the summary.
  const first = await cli(['detect', clip, '--json', '--trigger-level', '1000']);
  expect(first.code).toBe(0);
  const firstLines = first.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const summary = firstLines[firstLines.length - 1];
  expect(summary).toMatchObject({ type: 'summary', frames: 120, events: 0, triggerLevel: 1000 });
  expect(summary.durationS).toBeCloseTo(12, 1);
  // The score counts only change that stands out of the measured noise: a still stretch scores 0.
  expect(summary.noiseFloor).toBeGreaterThanOrEqual(0);
  expect(summary.suggestedTriggerLevel).toBeGreaterThan(summary.noiseFloor);

  const second = await cli(['detect', clip, '--json', '--trigger-level', String(summary.suggestedTriggerLevel)]);
  expect(second.code).toBe(0);
  const lines = second.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const events = lines.filter((l) => l.type === 'event');
  expect(events).toHaveLength(1);
  const [event] = events;
  expect(Object.keys(event).sort()).toEqual(['endS', 'peakScore', 'startS', 'type']);
  expect(event.startS).toBeGreaterThanOrEqual(3.9);
  expect(event.startS).toBeLessThan(4.8);
  expect(event.endS).toBeGreaterThan(6.2);
  expect(event.endS).toBeLessThanOrEqual(7.2);
  expect(event.peakScore).toBeGreaterThan(summary.suggestedTriggerLevel);
  expect(lines[lines.length - 1]).toMatchObject({ type: 'summary', frames: 120, events: 1 });
});

test('without --json: a readable table and a summary sentence', async () => {
  const { code, stdout } = await cli(['detect', clip, '--trigger-level', '1000']);
  expect(code).toBe(0);
  expect(stdout).toMatch(/start s\s+end s\s+length s\s+peak/);
  expect(stdout).toMatch(/0 event\(s\) in 120 frames \(12\.00 s\) at trigger level 1000; noise floor [\d.]+, suggested trigger level [\d.]+/);
});

test.each([
  [['detect'], /missing the video file/],
  [['detect', 'x.mp4', 'y.mp4'], /exactly one video file/],
  [['detect', '__CLIP__', '--trigger-level', 'abc'], /--trigger-level must be a number/],
  [['detect', '__CLIP__', '--trigger-level', '0'], /--trigger-level must be a number from 0.1/],
  [['detect', '__CLIP__', '--confirm-frames', '2.5'], /--confirm-frames must be an integer/],
  [['detect', '__CLIP__', '--bogus'], /Unknown option/],
])('usage error %j exits 2', async (args, message) => {
  const { code, stderr } = await cli(args.map((a) => (a === '__CLIP__' ? clip : a)));
  expect(code).toBe(2);
  expect(stderr).toMatch(message);
});

test('a missing file is not a usage error: CAPTURE_FILE_NOT_FOUND, exit 1', async () => {
  const { code, stderr } = await cli(['detect', '/nonexistent/clip.mp4']);
  expect(code).toBe(1);
  expect(stderr).toMatch(/^preroll detect: CAPTURE_FILE_NOT_FOUND: no such file/);
});

test('a file that is not a video fails with the capture error, exit 1', async () => {
  const { code, stderr } = await cli(['detect', join(dir, 'still.png.missing-video').replace('.missing-video', ''), '--json']);
  // A PNG decodes as a one-frame video: that is fine, one frame and no events.
  expect(code).toBe(0);
  const junk = join(dir, 'junk.mp4');
  await require('node:fs/promises').writeFile(junk, 'not a video at all');
  const bad = await cli(['detect', junk]);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/preroll detect: [A-Z_]+: /);
  expect(stderr).toBe('');
});
