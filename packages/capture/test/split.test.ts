import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ffprobeJson } from '@preroll/process';
import { createCleanupStack, waitFor } from '@preroll/testkit';
import { createSource, frameIndexFrom90k, IndexedPts, parseShowinfoPtsTime, splitArgs, type CameraUnit, type CaptureError, type Frame, type SplitOptions } from '../src/index';
import { tempDir, useFakeCamera } from './fake-camera';

const cleanup = createCleanupStack();
afterEach(() => cleanup.run());
const track = <T extends { stop(): Promise<void> }>(source: T): T => cleanup.defer(source, (s) => s.stop());

const quickBackoff = { initialMs: 50, maxMs: 200, factor: 2, resetAfterMs: 60_000 };

/** The pipeline encoder's libx264 arguments (the server builds them with the recorder's code). */
const split: SplitOptions = {
  detectWidthPx: 64,
  detectFps: 5,
  encoderArgs: (fps) => ['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-crf', '23', '-x264-params', 'aud=1:repeat-headers=1', '-g', String(Math.round(fps)), '-keyint_min', String(Math.round(fps)), '-sc_threshold', '0', '-bf', '0', '-pix_fmt', 'yuv420p'],
};

describe('split route: pure parts', () => {
  test('ffmpeg reads the padded rows at a constant rate and crops them; the reduced output is thinned by select', () => {
    const args = splitArgs({ width: 100, height: 40, fps: 30 }, 128, split);
    expect(args.slice(args.indexOf('-s'), args.indexOf('-s') + 4)).toEqual(['-s', '128x40', '-framerate', '30']);
    const graph = args[args.indexOf('-filter_complex') + 1];
    expect(graph).toContain('crop=100:40:0:0');
    expect(graph).toContain('[det]select=');
    expect(graph).not.toMatch(/\bfps=/);
    expect(args).toContain('-bf');
    expect(args.slice(-2)).toEqual(['mpegts', 'pipe:3']);
  });

  test("showinfo's pts_time (ffmpeg 5 and 7) names a reduced frame's input frame", () => {
    expect(parseShowinfoPtsTime('[Parsed_showinfo_5 @ 0x55f066f41380] n:   1 pts:      6 pts_time:0.2     pos:  8294400 fmt:yuv420p sar:0/1 s:640x360 i:P iskey:1 type:I ')).toBe(0.2);
    expect(parseShowinfoPtsTime('[Parsed_showinfo_5 @ 0x1] n:   1 pts:      6 pts_time:0.2     duration:      1 duration_time:0.0333333 fmt:yuv420p cl:unspecified sar:0/1 s:640x360')).toBe(0.2);
    expect(parseShowinfoPtsTime('[Parsed_showinfo_5 @ 0x1] config in time_base: 1/30, frame_rate: 30/1')).toBeNull();
  });

  test('a 90 kHz PTS names its frame of a constant-rate input', () => {
    expect(frameIndexFrom90k(0, 30)).toBe(0);
    expect(frameIndexFrom90k(3000, 30)).toBe(1);
    expect(frameIndexFrom90k(12857, 7)).toBe(1);
    expect(frameIndexFrom90k(Math.round((1000 * 90_000 * 1001) / 30_000), 30_000 / 1001)).toBe(1000);
  });

  test('IndexedPts hands line k to the k-th frame, waiting for lines not yet read', () => {
    const indexed = new IndexedPts({ fps: 30, waitMs: 60_000, useStream: true, window: 4 });
    const got: [string, number, boolean][] = [];
    indexed.push(0);
    indexed.push(40_000);
    indexed.take(1, (pts, stream) => got.push(['unit1', pts, stream]));
    indexed.take(2, (pts, stream) => got.push(['unit2', pts, stream]));
    indexed.take(2, (pts, stream) => got.push(['frame2', pts, stream]));
    expect(got).toEqual([['unit1', 40_000, true]]);
    indexed.push(66_667);
    expect(got).toEqual([
      ['unit1', 40_000, true],
      ['unit2', 66_667, true],
      ['frame2', 66_667, true],
    ]);
    for (let i = 0; i < 4; i++) indexed.push(100_000 + i);
    // Line 1 left the window of 4: the nominal clock, flagged as such.
    indexed.take(1, (pts, stream) => got.push(['old', pts, stream]));
    expect(got[3]).toEqual(['old', 33_333, false]);
    indexed.close();
  });
});

describe('split route (fake rpicam-vid on PATH, real ffmpeg)', () => {
  let restore: () => void = () => undefined;
  afterEach(() => restore());

  test('units are the full-size H.264 on the sensor clock; frames are reduced, on the same clock, without padding', async () => {
    restore = useFakeCamera();
    // 100 px rows padded to 128 bytes: ffmpeg must crop the padding (0xEE) away.
    const source = track(createSource('rpicam:100x40@30', { strideAlign: 64, split, framePool: true }));
    const units: CameraUnit[] = [];
    const frames: { ptsUs: number; width: number; height: number; rightEdge: number }[] = [];
    source.onUnit?.((unit) => units.push(unit));
    // The mean luma of the rightmost column: the picture's (about 115) or, uncropped, the padding's (238).
    const rightEdge = (frame: Frame): number => {
      let sum = 0;
      for (let y = 0; y < frame.height; y++) sum += frame.y[y * frame.width + frame.width - 1];
      return sum / frame.height;
    };
    source.onFrame((frame: Frame) => frames.push({ ptsUs: frame.ptsUs, width: frame.width, height: frame.height, rightEdge: rightEdge(frame) }));
    expect(source.passthrough).toBe(true);
    await source.start();
    await waitFor(() => units.length >= 75 && frames.length >= 6, { timeoutMs: 60_000, what: '75 units and 6 frames' });
    await source.stop();
    expect(units[0].keyframe).toBe(true);
    expect(units.every((u) => u.width === 100 && u.height === 40)).toBe(true);
    // A keyframe a second (30 frames at 30 fps), as the pipeline's encoder.
    expect(units.slice(0, 61).filter((u) => u.keyframe)).toHaveLength(3);
    // Sensor timestamps: multiples of 33.333 ms from the first unit, increasing.
    const gaps = units.slice(1).map((u, i) => u.ptsUs - units[i].ptsUs);
    expect(gaps.filter((gap) => gap < 33_000)).toHaveLength(0);
    for (const u of units) expect(Math.abs((u.ptsUs - units[0].ptsUs) / 33_333.333 - Math.round((u.ptsUs - units[0].ptsUs) / 33_333.333))).toBeLessThan(0.001);
    // Reduced frames: 64 px wide, even height, each on a unit's timestamp, at about 5 a second.
    expect(frames[0]).toMatchObject({ width: 64, height: 26 });
    const unitPts = new Set(units.map((u) => u.ptsUs));
    const covered = frames.filter((f) => f.ptsUs <= units[units.length - 1].ptsUs);
    expect(covered.filter((f) => !unitPts.has(f.ptsUs))).toHaveLength(0);
    const frameGaps = frames.slice(1).map((f, i) => f.ptsUs - frames[i].ptsUs);
    expect(frameGaps.filter((gap) => gap < 150_000)).toHaveLength(0);
    // The fake's pixels stay in 16..215; padding (0xEE) scaled in would make the right edge brighter.
    expect(frames.filter((f) => f.rightEdge > 200)).toHaveLength(0);
    // The units are a stream ffprobe reads at the camera's size.
    const dir = tempDir();
    const file = join(dir, 'units.h264');
    writeFileSync(file, Buffer.concat(units.map((u) => u.data)));
    const probe = (await ffprobeJson(file, ['-show_entries', 'stream=codec_name,width,height'])) as { streams: { codec_name: string; width: number; height: number }[] };
    expect(probe.streams[0]).toMatchObject({ codec_name: 'h264', width: 100, height: 40 });
  }, 90_000);

  test('a camera that skips frames: each reduced frame still gets its own line of the pts file', async () => {
    // Every 2nd sensor frame skipped: ffmpeg's input clock (k/F) runs at half speed.
    restore = useFakeCamera({ FAKE_RPICAM_DROP_EVERY: '2' });
    const source = track(createSource('rpicam:64x32@30', { strideAlign: 64, split }));
    const units: CameraUnit[] = [];
    const frames: number[] = [];
    source.onUnit?.((unit) => units.push(unit));
    source.onFrame((frame) => frames.push(frame.ptsUs));
    await source.start();
    await waitFor(() => frames.length >= 12, { timeoutMs: 60_000, what: '12 reduced frames' });
    await source.stop();
    // The sensor's gaps are in the units' timestamps (two frame intervals apart at least)...
    const unitGaps = units.slice(1).map((u, i) => u.ptsUs - units[i].ptsUs);
    expect(unitGaps.filter((gap) => gap < 60_000)).toHaveLength(0);
    // ...and each reduced frame is on a unit's timestamp. (They are thinned on ffmpeg's input
    // clock, k/F: with half the frames skipped they come about 2.5 a second of sensor time.)
    const unitPts = new Set(units.map((u) => u.ptsUs));
    expect(frames.filter((pts) => pts <= units[units.length - 1].ptsUs && !unitPts.has(pts))).toHaveLength(0);
    const spanS = (frames[frames.length - 1] - frames[0]) / 1e6;
    expect((frames.length - 1) / spanS).toBeGreaterThan(1.5);
  }, 90_000);

  test('a camera that dies is restarted with its encoder, and the units continue on one rising clock from a keyframe', async () => {
    const dir = tempDir();
    restore = useFakeCamera({ FAKE_RPICAM_CRASH_AFTER: '20', FAKE_RPICAM_FAULTY_RUNS: '1', FAKE_RPICAM_RUNS_FILE: join(dir, 'runs') });
    const source = track(createSource('rpicam:64x32@30', { strideAlign: 64, split, backoff: quickBackoff }));
    const units: CameraUnit[] = [];
    const states: string[] = [];
    source.onUnit?.((unit) => units.push(unit));
    source.onState((state) => states.push(state));
    await source.start();
    await waitFor(() => source.stats().restarts === 1 && units.length >= 40, { timeoutMs: 60_000, what: 'a restart and 40 units' });
    await source.stop();
    expect(states).toContain('restarting');
    expect(source.stats().lastError?.code).toBe('CAPTURE_SOURCE_EXITED');
    const gaps = units.slice(1).map((u, i) => u.ptsUs - units[i].ptsUs);
    expect(gaps.filter((gap) => gap <= 0)).toHaveLength(0);
    // The second run's units start at a keyframe: the one after the longest gap.
    const restartAt = gaps.indexOf(Math.max(...gaps)) + 1;
    expect(units[restartAt].keyframe).toBe(true);
  }, 90_000);

  test('new camera settings restart the camera and its encoder with them (a new rate, a new keyframe interval)', async () => {
    const dir = tempDir();
    const argvFile = join(dir, 'argv');
    restore = useFakeCamera({ FAKE_RPICAM_ARGV_FILE: argvFile });
    const source = track(createSource('rpicam:64x32@30', { strideAlign: 64, split }));
    const units: CameraUnit[] = [];
    source.onUnit?.((unit) => units.push(unit));
    await source.start();
    await waitFor(() => units.length >= 10, { timeoutMs: 60_000, what: '10 units' });
    const result = await source.reconfigure!({ fps: 15, controls: { hflip: true } });
    const before = units.length;
    await waitFor(() => units.length >= before + 35, { timeoutMs: 60_000, what: '35 units after the restart' });
    await source.stop();
    expect(result.args).toContain('--hflip');
    expect(source.state()).toBe('stopped');
    const runs = readFileSync(argvFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as string[]);
    expect(runs[runs.length - 1]).toEqual(expect.arrayContaining(['--framerate', '15', '--hflip']));
    // The new run begins after the longest gap (the restart): a keyframe first, then one every
    // 15 frames (a second at the new rate), on a rising clock.
    const gaps = units.slice(1).map((u, i) => u.ptsUs - units[i].ptsUs);
    expect(gaps.filter((gap) => gap <= 0)).toHaveLength(0);
    const after = units.slice(gaps.indexOf(Math.max(...gaps)) + 1);
    expect(after[0].keyframe).toBe(true);
    expect(after.slice(0, 31).filter((u) => u.keyframe)).toHaveLength(3);
  }, 120_000);

  test('a camera that stops sending is restarted by the watchdog (the units are its heartbeat)', async () => {
    const dir = tempDir();
    restore = useFakeCamera({ FAKE_RPICAM_HANG_AFTER: '15', FAKE_RPICAM_FAULTY_RUNS: '1', FAKE_RPICAM_RUNS_FILE: join(dir, 'runs') });
    const source = track(createSource('rpicam:64x32@30', { strideAlign: 64, split, backoff: quickBackoff, stallTimeoutMs: 1500 }));
    const units: CameraUnit[] = [];
    source.onUnit?.((unit) => units.push(unit));
    await source.start();
    await waitFor(() => source.stats().restarts === 1 && units.length >= 30, { timeoutMs: 60_000, what: 'a watchdog restart' });
    await source.stop();
    expect(source.stats().lastError?.code).toBe('CAPTURE_STALLED');
  }, 90_000);

  test("the AI Camera's record k pairs with the camera's k-th frame, though Node sees only the reduced frames", async () => {
    const dir = tempDir();
    const postProcess = join(dir, 'imx500_mobilenet_ssd.json');
    writeFileSync(postProcess, JSON.stringify({ imx500_object_detection: { max_detections: 5, threshold: 0.6, classes: ['person', 'bicycle', 'car'] } }));
    restore = useFakeCamera({
      FAKE_RPICAM_FRAMES: '40',
      FAKE_RPICAM_IMX500_OBJECTS: JSON.stringify([{ class: 'person', score: 0.83, box: [0.25, 0.2, 0.5, 0.8], from: 10, to: 20 }]),
    });
    const source = track(createSource('rpicam:128x64@30', { strideAlign: 64, restart: false, split, aiCamera: { postProcessFile: postProcess, minConfidence: 0.5 } }));
    const units: CameraUnit[] = [];
    const seen: number[] = [];
    source.onUnit?.((unit) => units.push(unit));
    source.onDetections?.((d) => {
      if (d.objects.length > 0) seen.push(d.ptsUs);
    });
    await source.start();
    await source.ended();
    await waitFor(() => source.stats().aiCamera!.records === 40 && units.length === 40, { timeoutMs: 20_000, what: 'every record and unit' });
    expect(source.stats().aiCamera).toMatchObject({ records: 40, objects: 11, unmatched: 0, error: null });
    // Unit k is the camera's frame k: the detections carry exactly the timestamps of units 10..20.
    expect(seen).toEqual(units.slice(10, 21).map((u) => u.ptsUs));
  }, 60_000);

  test('the split route is for the Pi camera only', () => {
    let error: CaptureError | null = null;
    try {
      createSource('demo', { split });
    } catch (caught) {
      error = caught as CaptureError;
    }
    expect(error?.code).toBe('CAPTURE_BAD_SPEC');
  });
});
