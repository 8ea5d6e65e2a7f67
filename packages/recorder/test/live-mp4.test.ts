import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { runTool } from '@preroll/process';
import { createEncoder, createLiveMp4Muxer, type AccessUnit } from '../src';
import { decodedLumaMeans, irregularTimestamps, lumaOf, makeFrame, probe, tempDir } from './helpers';

const FPS = 10;

/** Real H.264 from the encoder for frames at `ptsUs` (every frame kept). */
async function encode(ptsUs: readonly number[], width = 320, height = 240): Promise<AccessUnit[]> {
  const units: AccessUnit[] = [];
  const encoder = createEncoder({ width, height, fps: FPS, gopFrames: FPS, policy: 'wait' });
  encoder.onUnit((unit) => units.push(unit));
  await encoder.start();
  for (const [i, pts] of ptsUs.entries()) {
    encoder.encode(makeFrame(i, pts, width, height));
    if (encoder.busy()) await encoder.drained();
  }
  await encoder.stop();
  return units;
}

describe('live fragmented MP4', () => {
  let units: AccessUnit[];
  let ptsUs: number[];
  beforeAll(async () => {
    // Irregular capture times with dropped frames: the stream must keep them as they are.
    ptsUs = irregularTimestamps(36, FPS, { dropEvery: 7, jitterUs: 4000, startUs: 5_000_000 });
    units = await encode(ptsUs);
    expect(units).toHaveLength(ptsUs.length);
  }, 30_000);

  test('a viewer joining mid-picture-group starts at the next keyframe with exact timestamps, and ffmpeg decodes every picture', async () => {
    const { dir, cleanup } = tempDir('preroll-live-mp4-');
    try {
      const muxer = createLiveMp4Muxer({ frameUs: 100_000 });
      const chunks: Buffer[] = [];
      // Join at unit 3: units 3..9 are not decodable alone and must not be sent.
      for (const unit of units.slice(3)) chunks.push(...muxer.push(unit));
      const firstKey = units.findIndex((u, i) => i >= 3 && u.keyframe);
      expect(firstKey).toBe(10);
      expect(muxer.fragments()).toBe(units.length - firstKey);
      expect(chunks[0].subarray(4, 8).toString('latin1')).toBe('ftyp');

      const file = path.join(dir, 'live.mp4');
      writeFileSync(file, Buffer.concat(chunks));
      const probed = await probe(file);
      expect(probed).toMatchObject({ codec: 'h264', width: 320, height: 240 });
      const sent = units.slice(firstKey);
      expect(probed.packets).toHaveLength(sent.length);
      // Times relative to the first sent picture, exact to the 90 kHz clock (11 µs).
      probed.packets.forEach((p, i) => expect(Math.abs(p.ptsUs - (sent[i].ptsUs - sent[0].ptsUs))).toBeLessThanOrEqual(11));
      expect(probed.packets.map((p) => p.key)).toEqual(sent.map((u) => u.keyframe));
      // Every picture decodes to the frame it encodes.
      const means = await decodedLumaMeans(file, 320, 240);
      expect(means).toHaveLength(sent.length);
      means.forEach((m, i) => expect(Math.abs(m - lumaOf(sent[i].seq))).toBeLessThan(3));
    } finally {
      cleanup();
    }
  });

  test('ffmpeg reads it from a pipe, as a camera node stream arrives over HTTP', async () => {
    const muxer = createLiveMp4Muxer({ frameUs: 100_000 });
    const bytes = Buffer.concat(units.flatMap((u) => muxer.push(u)));
    const { stdout } = await runTool('ffmpeg', ['-v', 'error', '-f', 'mp4', '-i', 'pipe:0', '-fps_mode', 'passthrough', '-f', 'framemd5', 'pipe:1'], { input: bytes });
    const frames = stdout.toString('utf8').split('\n').filter((line) => /^0,/.test(line));
    expect(frames).toHaveLength(units.length);
  });

  test('a keyframe with other parameter sets (a new resolution) ends the stream with a code', async () => {
    const muxer = createLiveMp4Muxer({ frameUs: 100_000 });
    for (const unit of units.slice(0, 12)) muxer.push(unit);
    const other = await encode([0, 100_000], 160, 120);
    expect(() => muxer.push({ ...other[0], ptsUs: units[12].ptsUs })).toThrow(expect.objectContaining({ code: 'LIVE_MP4_PARAMETERS_CHANGED' }));
  }, 30_000);

  test('nothing is sent before a keyframe; a timestamp that goes back is nudged forward', () => {
    const muxer = createLiveMp4Muxer({ frameUs: 100_000 });
    expect(muxer.push(units[1])).toEqual([]);
    expect(muxer.push(units[0])).toHaveLength(2);
    expect(muxer.push({ ...units[1], ptsUs: units[0].ptsUs - 50_000 })).toHaveLength(1);
    expect(muxer.fragments()).toBe(2);
  });
});
