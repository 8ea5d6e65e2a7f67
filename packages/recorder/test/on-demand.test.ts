import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCleanupStack, makeJpegs, sleep, waitFor } from '@preroll/testkit';
import { createHeldRecorder, createJpegRing, createOnDemandEncoder, createRecorder, jpegSize, probeClip, type AccessUnit, type JpegItem, type RecordedClip } from '../src/index';

const cleanup = createCleanupStack();
afterEach(() => cleanup.run());

const FPS = 10;
const jpegs = makeJpegs({ width: 320, height: 240, fps: FPS, seconds: 8 });
const item = (i: number): JpegItem => ({ seq: i, ptsUs: i * 100_000, wallMs: 1_700_000_000_000 + i * 100, data: jpegs[i % jpegs.length] });

/** ffmpeg processes that are children of this test process and read JPEGs on stdin (the on-demand encoders). */
function encoderProcesses(): number {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)]).toString();
  return out.split('\n').filter((line) => line.includes('ffmpeg') && line.includes('-f mjpeg -i pipe:0')).length;
}

describe('JPEG ring', () => {
  test('keeps the window behind the newest picture and stays under its byte cap', () => {
    const ring = createJpegRing({ windowMs: 1000 });
    for (let i = 0; i < 50; i++) ring.push(item(i));
    expect(ring.stats()).toMatchObject({ frames: 11, spanMs: 1000, droppedForBytes: 0 });
    expect(ring.from(4_450_000).map((j) => j.seq)).toEqual([44, 45, 46, 47, 48, 49]);
    expect(ring.from(0)[0].seq).toBe(39);
    expect(ring.rate()).toBeCloseTo(10, 5);
    const small = createJpegRing({ windowMs: 60_000, maxBytes: jpegs[0].length * 3.5 });
    for (let i = 0; i < 10; i++) small.push({ ...item(i), data: jpegs[0] });
    expect(small.stats()).toMatchObject({ frames: 3, droppedForBytes: 7 });
  });

  test('jpegSize reads the frame header', () => {
    expect(jpegSize(jpegs[0])).toEqual({ width: 320, height: 240 });
    expect(jpegSize(Buffer.from([0xff, 0xd8, 0xff, 0xd9]))).toBeNull();
  });
});

describe('on-demand encoder', () => {
  test('encodes nothing until held; then the pre-roll from the asked moment and the live pictures, one unit per JPEG with its timestamp; stops when idle', async () => {
    const encoder = cleanup.defer(createOnDemandEncoder({ preRollMs: 3000, idleStopMs: 500 }), (e) => e.stop());
    const units: AccessUnit[] = [];
    encoder.onUnit((unit) => units.push(unit));
    for (let i = 0; i < 40; i++) encoder.push(item(i));
    expect(encoder.pid()).toBeNull();
    expect(encoderProcesses()).toBe(0);
    const release = encoder.hold('test', item(25).ptsUs + 50_000);
    // The camera goes on at its pace (ffmpeg's MJPEG parser hands a picture on when the next one begins).
    for (let i = 40; i < 50; i++) {
      encoder.push(item(i));
      await sleep(30);
    }
    expect(await encoder.caughtUp(item(45).ptsUs)).toBe(true);
    expect(encoderProcesses()).toBe(1);
    release();
    await waitFor(() => encoder.stats().stops === 1, { timeoutMs: 20_000, what: 'the idle stop' });
    // From the newest picture at or before the asked moment, every one exactly once, in order.
    expect(units.map((u) => u.ptsUs)).toEqual(Array.from({ length: 25 }, (_, k) => item(25 + k).ptsUs));
    expect(units[0].keyframe).toBe(true);
    expect(units[0]).toMatchObject({ width: 320, height: 240, seq: 25 });
    expect(units.filter((u) => u.keyframe).length).toBeGreaterThanOrEqual(2);
    expect(encoder.pid()).toBeNull();
    // Idle for a while with pictures flowing: no encoder process, no new start.
    for (let i = 50; i < 60; i++) {
      encoder.push(item(i));
      await sleep(50);
      expect(encoderProcesses()).toBe(0);
    }
    expect(encoder.stats()).toMatchObject({ starts: 1, stops: 1, crashes: 0, units: 25, jpegsWritten: 25, lostJpegs: 0, droppedJpegs: 0 });
    expect(encoder.stats().lastStartLatencyMs).toBeGreaterThan(0);
  });

  test('a second hold after an idle stop feeds only pictures not encoded before', async () => {
    const encoder = cleanup.defer(createOnDemandEncoder({ preRollMs: 3000, idleStopMs: 200 }), (e) => e.stop());
    const units: AccessUnit[] = [];
    encoder.onUnit((unit) => units.push(unit));
    for (let i = 0; i < 20; i++) encoder.push(item(i));
    const live = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i++) {
        encoder.push(item(i));
        await sleep(30);
      }
    };
    const first = encoder.hold('a', item(10).ptsUs);
    await live(20, 25);
    first();
    await waitFor(() => encoder.stats().stops === 1, { timeoutMs: 20_000, what: 'the first idle stop' });
    await live(25, 30);
    const second = encoder.hold('b', item(15).ptsUs);
    await live(30, 35);
    second();
    await waitFor(() => encoder.stats().stops === 2, { timeoutMs: 20_000, what: 'the second idle stop' });
    // 10..24 by the first start; the second starts after the last one encoded, not at 15.
    expect(units.map((u) => u.seq)).toEqual(Array.from({ length: 25 }, (_, k) => 10 + k));
    expect(units.find((u) => u.seq === 25)?.keyframe).toBe(true);
    expect(encoder.stats()).toMatchObject({ starts: 2, stops: 2, lastPreRollJpegs: 5 });
  });
});

describe('on-demand encoder failures', () => {
  test('ffmpeg killed while held: a discontinuity, counted, and a new ffmpeg fed again from the pre-roll: no picture lost', async () => {
    const encoder = cleanup.defer(
      createOnDemandEncoder({ preRollMs: 1000, idleStopMs: 200, backoff: { initialMs: 100, maxMs: 500, factor: 2, resetAfterMs: 30_000 } }),
      (e) => e.stop(),
    );
    const units: AccessUnit[] = [];
    const gaps: string[] = [];
    encoder.onUnit((unit) => units.push(unit));
    encoder.onDiscontinuity((reason) => gaps.push(reason));
    let i = 0;
    const live = async (to: number): Promise<void> => {
      for (; i < to; i++) {
        encoder.push(item(i));
        await sleep(30);
      }
    };
    const release = encoder.hold('test');
    await live(10);
    await waitFor(() => units.length >= 5, { timeoutMs: 20_000, what: 'first units' });
    process.kill(encoder.pid()!, 'SIGKILL');
    await waitFor(() => gaps.length === 1, { timeoutMs: 20_000, what: 'the discontinuity' });
    const before = units.length;
    await live(40);
    await waitFor(() => encoder.stats().starts === 2 && units.length > before + 5, { timeoutMs: 30_000, what: 'the restart and new units' });
    release();
    await waitFor(() => encoder.stats().state === 'off', { timeoutMs: 20_000, what: 'the idle stop' });
    expect(gaps).toHaveLength(1);
    expect(encoder.stats()).toMatchObject({ crashes: 1, starts: 2 });
    // After the restart: a keyframe first; the pictures the dead ffmpeg took with it, and those
    // that came while it restarted, are fed from the pre-roll: every picture exactly once.
    expect(units[before].keyframe).toBe(true);
    expect(units.map((u) => u.seq)).toEqual(Array.from({ length: 40 }, (_, k) => k));
    expect(encoder.stats().units).toBe(40);
  });
});

describe('held recorder', () => {
  test('an event recorded through the on-demand encoder starts the pre-roll before its trigger, and the encoder stops after it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'preroll-on-demand-'));
    cleanup.defer(dataDir, (d) => rmSync(d, { recursive: true, force: true }));
    const recorder = cleanup.defer(createRecorder({ dataDir, preRollMs: 2000, postRollMs: 500, fps: FPS, fsync: false }), (r) => r.stop());
    const encoder = cleanup.defer(createOnDemandEncoder({ preRollMs: 2000, idleStopMs: 300 }), (e) => e.stop());
    encoder.onUnit((unit) => recorder.push(unit));
    const held = createHeldRecorder(recorder, encoder, { preRollMs: 2000 });
    const clips: RecordedClip[] = [];
    recorder.onClip((clip) => clips.push(clip));
    let i = 0;
    const pushUntil = async (n: number): Promise<void> => {
      for (; i < n; i++) {
        encoder.push(item(i));
        await sleep(5);
      }
    };
    await pushUntil(40);
    expect(encoder.stats().starts).toBe(0);
    // Motion from picture 35, decided at 39: the clip must reach back to 15 (2 s before 35).
    held.motionStart({ ptsUs: item(35).ptsUs, cues: ['video'] });
    expect(held.pending()).toBe(1);
    await pushUntil(50);
    held.motionEnd({ endPtsUs: item(45).ptsUs });
    await pushUntil(70);
    await waitFor(() => clips.length === 1, { timeoutMs: 30_000, what: 'the clip' });
    await waitFor(() => encoder.stats().stops === 1, { timeoutMs: 20_000, what: 'the encoder stopped after the event' });
    expect(clips).toHaveLength(1);
    expect(held.pending()).toBe(0);
    expect(clips[0].firstPtsUs).toBe(item(15).ptsUs);
    expect(clips[0].triggerPtsUs).toBe(item(35).ptsUs);
    const probe = await probeClip(join(dataDir, clips[0].sidecar.files.clip));
    // 15..50 (45 + 0.5 s post-roll): 36 pictures, 3.6 s.
    expect(probe.frames).toBe(36);
    expect(Math.abs(probe.durationUs - 3_600_000)).toBeLessThanOrEqual(100_000);
    expect(encoder.stats()).toMatchObject({ starts: 1, stops: 1 });
  });
});
