import { buildEncoderArgs, createEncoder, RecorderError, type AccessUnit, type EncoderDiscontinuity, type EncoderState } from '../src';
import { createFrame } from '@preroll/capture';
import { createCleanupStack, sleep, waitFor } from '@preroll/testkit';
import { irregularTimestamps, makeFrames } from './helpers';

// Every encoder a test starts is stopped after it, passed or failed: a failed test must not
// leave a supervisor restarting ffmpeg forever (jest would never exit).
const cleanup = createCleanupStack();
afterEach(() => cleanup.run());
const started = <T extends { stop(): Promise<void> }>(encoder: T): T => cleanup.defer(encoder, (e) => e.stop());

describe('buildEncoderArgs', () => {
  const base = { width: 640, height: 360, fps: 25, gopFrames: 25, crf: 23, bitrateKbps: 3000, hasFpsMode: true };

  it('reads raw I420 on stdin and writes Annex-B with fixed GOPs, no B-frames, AUDs and passthrough timing (libx264)', () => {
    const args = buildEncoderArgs({ ...base, codec: 'libx264' }).join(' ');
    expect(args).toContain('-f rawvideo -pix_fmt yuv420p -s 640x360 -r 25 -i pipe:0');
    expect(args).toContain('-c:v libx264 -preset ultrafast -tune zerolatency -crf 23 -x264-params aud=1');
    expect(args).toContain('-g 25 -keyint_min 25 -sc_threshold 0 -bf 0');
    expect(args).toContain('-fps_mode passthrough');
    expect(args).toContain('-flush_packets 1');
    expect(args.endsWith('-f h264 pipe:1')).toBe(true);
    expect(args).not.toContain('-maxrate');
    // A bitrate the user set caps libx264's constant quality.
    expect(buildEncoderArgs({ ...base, codec: 'libx264', capBitrate: true }).join(' ')).toContain('-crf 23 -x264-params aud=1:repeat-headers=1 -maxrate 3000k -bufsize 6000k');
  });

  it('uses a bitrate and the AUD bitstream filter for the hardware encoder, and -vsync on old ffmpeg', () => {
    const args = buildEncoderArgs({ ...base, codec: 'h264_v4l2m2m', hasFpsMode: false }).join(' ');
    expect(args).toContain('-c:v h264_v4l2m2m -b:v 3000k -bsf:v h264_metadata=aud=insert');
    expect(args).toContain('-vsync passthrough');
    expect(args).not.toContain('x264');
  });
});

describe('encoder', () => {
  it.each([
    [{ width: 321 }],
    [{ fps: 0 }],
    [{ crf: 60 }],
    [{ codec: 'h265' }],
    [{ maxInFlightFrames: 0 }],
  ])('rejects bad options %j with RECORDER_BAD_OPTIONS', (bad) => {
    let caught: unknown;
    try {
      createEncoder({ width: 320, height: 240, fps: 10, ...(bad as object) });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(RecorderError);
    expect((caught as RecorderError).code).toBe('RECORDER_BAD_OPTIONS');
  });

  it('a bitrate set for libx264 caps its output (a noisy scene)', async () => {
    const noisy = (seq: number) => {
      const data = Buffer.alloc((320 * 240 * 3) / 2, 128);
      let x = (seq + 1) * 2654435761;
      for (let i = 0; i < 320 * 240; i++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        data[i] = x >>> 24;
      }
      return createFrame({ seq, ptsUs: seq * 100_000, wallMs: Date.UTC(2025, 5, 1) + seq * 100, width: 320, height: 240, data });
    };
    const bytes = async (bitrateKbps?: number): Promise<number> => {
      const encoder = started(createEncoder({ width: 320, height: 240, fps: 10, gopFrames: 10, policy: 'wait', bitrateKbps }));
      let total = 0;
      encoder.onUnit((unit) => (total += unit.data.length));
      await encoder.start();
      for (let i = 0; i < 30; i++) {
        encoder.encode(noisy(i));
        if (encoder.busy()) await encoder.drained();
      }
      await encoder.stop();
      expect(encoder.stats()).toMatchObject({ framesIn: 30, droppedFrames: 0 });
      return total;
    };
    const free = await bytes();
    const capped = await bytes(300);
    // 300 kbit/s over 3 s is about 112 kB; the uncapped noise takes several times that.
    expect(capped).toBeLessThan(free / 2);
    expect(capped).toBeLessThan(300_000);
  }, 30_000);

  it('pairs every access unit 1:1 with its frame (policy wait), keyframes every GOP', async () => {
    const pts = irregularTimestamps(45, 10, { dropEvery: 5, jitterUs: 20_000 });
    const frames = makeFrames(pts);
    const encoder = started(createEncoder({ width: 320, height: 240, fps: 10, gopFrames: 10, policy: 'wait' }));
    const units: AccessUnit[] = [];
    encoder.onUnit((u) => units.push(u));
    await encoder.start();
    for (const frame of frames) {
      expect(encoder.encode(frame)).toBe(true);
      if (encoder.busy()) await encoder.drained();
    }
    await encoder.stop();
    expect(units.map((u) => u.ptsUs)).toEqual(pts);
    expect(units.map((u) => u.seq)).toEqual(frames.map((f) => f.seq));
    expect(units.map((u, i) => (u.keyframe ? i : -1)).filter((i) => i >= 0)).toEqual([0, 10, 20, 30, 40]);
    expect(units[0].codec).toMatch(/^avc1\.[0-9a-f]{6}$/);
    expect(encoder.stats()).toMatchObject({ state: 'stopped', framesIn: 45, framesWritten: 45, units: 45, keyframes: 5, droppedFrames: 0, lostFrames: 0, unpairedUnits: 0 });
  });

  it('drops frames (and counts them) when ffmpeg falls behind, with policy drop', async () => {
    const frames = makeFrames(irregularTimestamps(60, 30));
    const encoder = started(createEncoder({ width: 320, height: 240, fps: 30, policy: 'drop', maxInFlightFrames: 2 }));
    const units: AccessUnit[] = [];
    encoder.onUnit((u) => units.push(u));
    await encoder.start();
    // A burst far faster than real time: ffmpeg cannot keep 2 frames in flight.
    const accepted = frames.filter((f) => encoder.encode(f));
    await encoder.stop();
    const stats = encoder.stats();
    expect(stats.droppedFrames).toBeGreaterThan(0);
    expect(stats.droppedFrames + stats.framesWritten).toBe(60);
    expect(accepted).toHaveLength(stats.framesWritten);
    expect(units.map((u) => u.ptsUs)).toEqual(accepted.map((f) => f.ptsUs));
    expect(units[0].keyframe).toBe(true);
  });

  it('restarts ffmpeg after it dies, reports the discontinuity, and resumes with a keyframe', async () => {
    const frames = makeFrames(irregularTimestamps(400, 30));
    const encoder = started(createEncoder({ width: 320, height: 240, fps: 30, policy: 'drop', backoff: { initialMs: 50, maxMs: 200, factor: 2, resetAfterMs: 60_000 } }));
    const units: AccessUnit[] = [];
    const gaps: Array<{ info: EncoderDiscontinuity; unitsBefore: number }> = [];
    const states: EncoderState[] = [];
    encoder.onUnit((u) => units.push(u));
    encoder.onDiscontinuity((info) => gaps.push({ info, unitsBefore: units.length }));
    encoder.onState((s) => states.push(s));
    await encoder.start();
    let i = 0;
    const feed = async (count: number): Promise<void> => {
      for (let n = 0; n < count && i < frames.length; n++, i++) {
        encoder.encode(frames[i]);
        await sleep(5);
      }
    };
    // Feed until 20 units came out (a drop policy on a loaded machine can drop many early
    // frames while ffmpeg starts), bounded by the 400 frames there are.
    while (units.length < 20 && i < 200) await feed(1);
    await waitFor(() => units.length >= 20, { what: '20 units before the kill' });
    const pid = encoder.pid() as number;
    process.kill(pid, 'SIGKILL');
    await waitFor(() => gaps.length === 1 && encoder.state() === 'running', { what: 'the restart' });
    expect(encoder.pid()).not.toBe(pid);
    // Fed until 20 units after the restart came out, bounded by the frames there are.
    const before = gaps[0].unitsBefore;
    while (units.length - before <= 20 && i < frames.length) await feed(1);
    await encoder.stop();
    expect(gaps[0].info.reason).toBe('encoder-exited');
    expect(gaps[0].info.exit.signal).toBe('SIGKILL');
    expect(states).toEqual(expect.arrayContaining(['running', 'restarting', 'stopping', 'stopped']));
    const after = units.slice(gaps[0].unitsBefore);
    expect(after.length).toBeGreaterThan(20);
    expect(after[0].keyframe).toBe(true);
    const stats = encoder.stats();
    expect(stats.restarts).toBe(1);
    expect(stats.units + stats.lostFrames).toBe(stats.framesWritten);
    expect(stats.droppedFrames + stats.framesWritten).toBe(stats.framesIn);
    // Timestamps stay in capture order across the restart.
    for (let k = 1; k < units.length; k++) expect(units[k].ptsUs).toBeGreaterThan(units[k - 1].ptsUs);
  });

  it('gives up with RECORDER_ENCODER_FAILED after maxRestarts', async () => {
    const encoder = started(createEncoder({ width: 320, height: 240, fps: 30, maxRestarts: 0 }));
    const failures: Array<RecorderError | undefined> = [];
    encoder.onState((state, error) => {
      if (state === 'failed') failures.push(error);
    });
    await encoder.start();
    process.kill(encoder.pid() as number, 'SIGKILL');
    await waitFor(() => encoder.state() === 'failed', { what: 'the failed state' });
    expect(failures[0]?.code).toBe('RECORDER_ENCODER_FAILED');
    expect(encoder.busy()).toBe(false);
    await encoder.stop();
  });

  it('spawns nothing when stopped while starting', async () => {
    const encoder = started(createEncoder({ width: 320, height: 240, fps: 10 }));
    const starting = encoder.start();
    await encoder.stop();
    await starting;
    expect(encoder.state()).toBe('stopped');
    expect(encoder.pid()).toBeNull();
    expect(encoder.encode(makeFrames([0])[0])).toBe(false);
  });
});
