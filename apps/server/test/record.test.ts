import { mkdtempSync, rmSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ffprobeJson, runTool } from '@preroll/process';
import { openStore } from '@preroll/store';
import { readSidecar } from '@preroll/layout';
import sharp from 'sharp';
import { main } from '../src/cli';
import { memoryIo } from './io';

/**
 * A 14 s, 10 fps clip: a grey, slightly noisy scene where a white box crosses from 6 s to 8 s.
 * With `dropEvery`, every n-th frame is removed and the file keeps real (variable) timestamps.
 */
async function motionVideo(file: string, dropEvery?: number): Promise<void> {
  const drop = dropEvery ? `,select='not(eq(mod(n\\,${dropEvery})\\,3))'` : '';
  await runTool('ffmpeg', [
    '-v', 'error', '-y',
    '-f', 'lavfi', '-i', 'color=c=gray:s=320x240:r=10:d=14',
    '-f', 'lavfi', '-i', 'color=c=white:s=40x40:r=10:d=14',
    '-filter_complex', `[0][1]overlay=x='20+t*20':y=100:enable='between(t,6,8)',noise=alls=3:allf=t${drop}`,
    '-fps_mode', 'vfr', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-pix_fmt', 'yuv420p', file,
  ]);
}

async function packetTimesUs(file: string): Promise<number[]> {
  const doc = await ffprobeJson(file, ['-select_streams', 'v:0', '-show_entries', 'packet=pts_time']);
  return (doc.packets as Array<{ pts_time: string }>).map((p) => Math.round(Number(p.pts_time) * 1e6)).sort((a, b) => a - b);
}

describe('preroll record', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'preroll-record-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('records the motion with its pre-roll, prints the event with its clip, and indexes it', async () => {
    const video = path.join(dir, 'motion.mp4');
    await motionVideo(video);
    const data = path.join(dir, 'data');
    const io = memoryIo();
    const code = await main(['record', video, '--data', data, '--json', '--pre-roll-ms', '2000'], io);
    expect(io.err()).toBe('');
    expect(code).toBe(0);
    const lines = io.jsonLines();
    const events = lines.filter((l) => l.type === 'event');
    expect(events).toHaveLength(1);
    const [event] = events;
    expect(event.startS).toBeGreaterThanOrEqual(5.9);
    expect(event.startS).toBeLessThanOrEqual(6.3);
    expect(event.endS).toBeGreaterThanOrEqual(7.7);
    expect(event.clip).toMatch(/^events\/\d{4}-\d{2}-\d{2}\/[0-9_-]+_motion\.mp4$/);
    expect(lines[lines.length - 1]).toMatchObject({ type: 'summary', frames: 140, events: 1, clips: 1, clipsFailed: 0, encodedFrames: 140, droppedFrames: 0 });

    const clip = path.join(data, event.clip);
    const sidecar = await readSidecar(clip.replace(/\.mp4$/, '.json'));
    expect(sidecar.id).toBe(event.id);
    // The file starts at t = 0 and has a keyframe every second: the clip begins at the newest
    // keyframe at least 2 s before the motion, and ends the default 3 s post-roll after it.
    const clipStartS = event.startS - sidecar.preRollMs / 1000;
    expect(sidecar.preRollMs).toBeGreaterThanOrEqual(2000);
    expect(sidecar.preRollMs).toBeLessThan(3000);
    const doc = await ffprobeJson(clip, ['-select_streams', 'v:0', '-show_entries', 'packet=pts_time,flags:stream=duration']);
    expect(doc.packets[0].flags).toMatch(/^K/);
    const expectedFrames = Math.round((event.endS + 3 - clipStartS) * 10) + 1;
    expect(Math.abs(doc.packets.length - expectedFrames)).toBeLessThanOrEqual(1);
    expect(sidecar.frames).toBe(doc.packets.length);
    expect(Math.abs(Number(doc.streams[0].duration) - doc.packets.length / 10)).toBeLessThan(0.001);
    for (const file of [sidecar.files.snapshot, sidecar.files.thumbnail, sidecar.files.heatmap]) expect(existsSync(path.join(data, file as string))).toBe(true);

    const store = await openStore({ dataDir: data });
    try {
      expect(store.list().items.map((i) => i.id)).toEqual([event.id]);
    } finally {
      await store.close();
    }
  });

  it('keeps the exact timestamps of a file with dropped frames', async () => {
    const video = path.join(dir, 'vfr.mp4');
    await motionVideo(video, 7);
    const source = await packetTimesUs(video);
    expect(source.length).toBe(120);
    const data = path.join(dir, 'data');
    const io = memoryIo();
    expect(await main(['record', video, '--data', data, '--json', '--no-index', '--pre-roll-ms', '1500'], io)).toBe(0);
    const [event] = io.jsonLines().filter((l) => l.type === 'event');
    const clip = await packetTimesUs(path.join(data, event.clip));
    // The clip's timestamps are a run of the source's, rebased to 0 (to the microsecond).
    const start = source.findIndex((_, s) => clip.every((t, k) => Math.abs(source[s + k] - source[s] - t) <= 2));
    expect(start).toBeGreaterThanOrEqual(0);
    expect(clip.length).toBeGreaterThan(60);
    expect(existsSync(path.join(data, 'index.db'))).toBe(false);
  });

  it('recovers a partial clip left in the data directory before recording', async () => {
    const video = path.join(dir, 'motion.mp4');
    await motionVideo(video);
    const data = path.join(dir, 'data');
    const first = memoryIo();
    expect(await main(['record', video, '--data', data, '--json', '--no-index'], first)).toBe(0);
    const [event] = first.jsonLines().filter((l) => l.type === 'event');
    // Pretend the clip was never finalised: only its fragmented source is left.
    const day = path.join(data, path.dirname(event.clip));
    const id = event.id as string;
    await runTool('ffmpeg', ['-v', 'error', '-i', path.join(data, event.clip), '-c', 'copy', '-movflags', '+frag_keyframe+empty_moov', '-f', 'mp4', path.join(day, `${id}.part.mp4`)]);
    for (const name of readdirSync(day)) if (!name.includes('.part.')) rmSync(path.join(day, name));
    const second = memoryIo();
    expect(await main(['record', video, '--data', path.join(data), '--json'], second)).toBe(0);
    const summary = second.jsonLines().pop();
    expect(summary.recovered).toBe(1);
    expect(existsSync(path.join(day, `${id}.mp4`))).toBe(true);
    const store = await openStore({ dataDir: data });
    try {
      expect(store.get(id)).toBeDefined();
    } finally {
      await store.close();
    }
  });

  it('cuts the thumbnail around the subject at the peak score; the snapshot stays the trigger frame', async () => {
    // A dark scene; a bright box enters from the left at 6 s, crosses and stops on the right at 8.3 s.
    const video = path.join(dir, 'enter.mp4');
    await runTool('ffmpeg', [
      '-v', 'error', '-y',
      '-f', 'lavfi', '-i', 'color=c=0x202020:s=320x240:r=10:d=12',
      '-f', 'lavfi', '-i', 'color=c=white:s=40x40:r=10:d=12',
      '-filter_complex', "[0][1]overlay=x='min(-40+(t-6)*120\\,240)':y=100:enable='gte(t,6)',noise=alls=3:allf=t",
      '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '10', '-pix_fmt', 'yuv420p', video,
    ]);
    const data = path.join(dir, 'data');
    const io = memoryIo();
    expect(await main(['record', video, '--data', data, '--json', '--no-index', '--pre-roll-ms', '1000'], io)).toBe(0);
    const events = io.jsonLines().filter((l) => l.type === 'event');
    expect(events).toHaveLength(1);
    const sidecar = await readSidecar(path.join(data, (events[0].clip as string).replace(/\.mp4$/, '.json')));
    const from = sidecar.thumbnailFrom;
    if (!from) throw new Error('the sidecar names no thumbnail source');
    // Its time is the peak's: the first frame with the clip's highest score, after the trigger.
    const peak = sidecar.scores.reduce((best, p) => (p.score > best.score ? p : best), sidecar.scores[0]);
    expect(from.tMs).toBe(peak.tMs);
    expect(from.tMs).toBeGreaterThan(sidecar.preRollMs);
    // Every card has the same shape, and a crop of 160 px or more is never enlarged past 2x.
    const thumbPath = path.join(data, sidecar.files.thumbnail as string);
    expect(await sharp(thumbPath).metadata()).toMatchObject({ width: 320, height: 180 });
    expect(from.crop.width / from.crop.height).toBeCloseTo(16 / 9, 1);
    expect(from.crop.width).toBeGreaterThanOrEqual(160);
    expect(from.crop.x + from.crop.width).toBeLessThanOrEqual(320);
    // The thumbnail shows the bright subject; the same region of the trigger frame (the
    // snapshot, where the box has barely entered on the left) is the dark background.
    const meanLuma = async (input: sharp.Sharp): Promise<number> => (await input.greyscale().stats()).channels[0].mean;
    const thumbLuma = await meanLuma(sharp(thumbPath));
    const left = { left: from.crop.x, top: from.crop.y, width: from.crop.width, height: from.crop.height };
    const triggerLuma = await meanLuma(sharp(path.join(data, sidecar.files.snapshot as string)).extract(left));
    expect(thumbLuma).toBeGreaterThan(triggerLuma + 20);
    // The subject is in the crop: its centre lies right of the frame's left quarter.
    expect(from.crop.x + from.crop.width / 2).toBeGreaterThan(80);
  });

  it('rejects bad usage with exit code 2', async () => {
    const io = memoryIo();
    const missing = memoryIo();
    expect(await main(['record', 'nope.mp4', '--data', dir], missing)).toBe(1);
    expect(missing.err()).toMatch(/CAPTURE_FILE_NOT_FOUND: no such file/);
    const video = path.join(dir, 'v.mp4');
    await motionVideo(video);
    expect(await main(['record', video], io)).toBe(2);
    expect(await main(['record', video, '--data', dir, '--trigger-level', 'x'], io)).toBe(2);
    expect(io.err()).toContain('--data DIR is required');
  });
});
