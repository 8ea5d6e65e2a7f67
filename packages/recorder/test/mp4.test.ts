import { TEMP_MARKER } from '@preroll/layout';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { completePrefix, createClipWriter, createEncoder, parseBoxHeader, readTopLevelBoxes, recoverPartialClips, remuxToFaststart, trimToCompleteFragments, type AccessUnit } from '../src';
import { irregularTimestamps, makeFrames, probe, tempDir } from './helpers';

describe('completePrefix', () => {
  const box = (type: string, start: number, size: number) => ({ type, start, size });
  const head = [box('ftyp', 0, 28), box('moov', 28, 700)];

  it.each([
    ['intact file', [...head, box('moof', 728, 100), box('mdat', 828, 1000), box('moof', 1828, 100), box('mdat', 1928, 500)], 2428, { length: 2428, fragments: 2, tornBytes: 0 }],
    ['torn last mdat', [...head, box('moof', 728, 100), box('mdat', 828, 1000), box('moof', 1828, 100), box('mdat', 1928, 500)], 2000, { length: 1828, fragments: 1, tornBytes: 172 }],
    ['moof without its mdat', [...head, box('moof', 728, 100), box('mdat', 828, 1000), box('moof', 1828, 100)], 1928, { length: 1828, fragments: 1, tornBytes: 100 }],
    ['torn moof', [...head, box('moof', 728, 100), box('mdat', 828, 1000), box('moof', 1828, 100)], 1850, { length: 1828, fragments: 1, tornBytes: 22 }],
    ['header only (no fragment yet)', head, 728, { length: 728, fragments: 0, tornBytes: 0 }],
    ['torn moov: nothing usable', [box('ftyp', 0, 28), box('moov', 28, 700)], 500, { length: 0, fragments: 0, tornBytes: 500 }],
    ['no ftyp', [box('moov', 0, 700)], 700, { length: 0, fragments: 0, tornBytes: 700 }],
    ['a trailing mfra after the last fragment is kept', [...head, box('moof', 728, 100), box('mdat', 828, 1000), box('mfra', 1828, 40)], 1868, { length: 1868, fragments: 1, tornBytes: 0 }],
  ])('%s', (_name, boxes, size, expected) => {
    expect(completePrefix(boxes, size)).toEqual(expected);
  });

  it('parses 32- and 64-bit box headers and refuses garbage', () => {
    const small = Buffer.from([0, 0, 0, 16, 0x6d, 0x6f, 0x6f, 0x66]);
    expect(parseBoxHeader(small, 5)).toEqual({ type: 'moof', start: 5, size: 16 });
    const large = Buffer.alloc(16);
    large.writeUInt32BE(1, 0);
    large.write('mdat', 4, 'latin1');
    large.writeBigUInt64BE(5_000_000_000n, 8);
    expect(parseBoxHeader(large, 0)).toEqual({ type: 'mdat', start: 0, size: 5_000_000_000 });
    expect(parseBoxHeader(Buffer.from([0, 0, 0, 16, 0, 1, 2, 3]), 0)).toBeNull();
    expect(parseBoxHeader(Buffer.from([0, 0, 0, 0, 0x6d, 0x64, 0x61, 0x74]), 0)).toBeNull();
  });
});

describe('torn fragmented MP4 files', () => {
  /** A fragmented clip of 40 frames (GOP 5, a fragment per GOP) written by the clip writer. */
  async function writeFragmented(file: string): Promise<AccessUnit[]> {
    const frames = makeFrames(irregularTimestamps(40, 10, { dropEvery: 6 }));
    const encoder = createEncoder({ width: 320, height: 240, fps: 10, gopFrames: 5, policy: 'wait' });
    const units: AccessUnit[] = [];
    encoder.onUnit((u) => units.push(u));
    await encoder.start();
    for (const f of frames) {
      encoder.encode(f);
      if (encoder.busy()) await encoder.drained();
    }
    await encoder.stop();
    const writer = createClipWriter({ path: file, fsync: false, fragmentMs: 100, frameUs: 100_000 });
    for (const u of units) writer.write(u);
    await writer.close();
    return units;
  }

  /** Samples in each fragment, from the trun boxes. */
  function samplesPerFragment(file: string, moofs: Array<{ start: number; size: number }>): number[] {
    const bytes = readFileSync(file);
    return moofs.map((m) => {
      const at = bytes.indexOf('trun', m.start, 'latin1');
      return bytes.readUInt32BE(at + 8);
    });
  }

  it('is cut back to its last complete fragment wherever the writer died, and remuxes to exactly those frames', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const source = path.join(dir, 'whole.part.mp4');
      await writeFragmented(source);
      const { boxes } = await readTopLevelBoxes(source);
      const moofs = boxes.filter((b) => b.type === 'moof');
      expect(moofs.length).toBe(8);
      const samples = samplesPerFragment(source, moofs);
      expect(samples.reduce((a, b) => a + b, 0)).toBe(40);
      // Cut inside fragment k (in its moof, or in its mdat): fragments 0..k-1 survive.
      for (const k of [1, 3, 6, 7]) {
        for (const into of ['moof', 'mdat'] as const) {
          const cutAt = into === 'moof' ? moofs[k].start + 10 : moofs[k].start + moofs[k].size + 20;
          const torn = path.join(dir, `torn-${k}-${into}.mp4`);
          copyFileSync(source, torn);
          truncateSync(torn, cutAt);
          const prefix = await trimToCompleteFragments(torn);
          expect(prefix).toEqual({ length: moofs[k].start, fragments: k, tornBytes: cutAt - moofs[k].start });
          const final = path.join(dir, `final-${k}-${into}.mp4`);
          await remuxToFaststart(torn, final);
          const p = await probe(final);
          expect(p.packets).toHaveLength(samples.slice(0, k).reduce((a, b) => a + b, 0));
          expect(p.frames[0].key).toBe(true);
          expect(p.moovFirst).toBe(true);
        }
      }
    } finally {
      cleanup();
    }
  });

  it('recovery removes a partial clip with no complete fragment and reports it as empty', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const day = path.join(dir, 'events', '2025-06-01');
      const id = '2025-06-01_12-00-00-000_motion';
      const whole = path.join(dir, 'whole.mp4');
      await writeFragmented(whole);
      const { boxes } = await readTopLevelBoxes(whole);
      const moov = boxes.find((b) => b.type === 'moov')!;
      mkdirSync(day, { recursive: true });
      // Died while writing the header: the moov is torn.
      writeFileSync(path.join(day, `${id}.part.mp4`), readFileSync(whole).subarray(0, moov.start + 20));
      writeFileSync(path.join(day, `${id}.mp4${TEMP_MARKER}remux`), 'half a remux');
      writeFileSync(path.join(day, `${id}.jpg.tmp`), 'an older version\'s temporary file');
      const results = await recoverPartialClips({ dataDir: dir });
      expect(results).toEqual([{ id, status: 'empty', recording: null, fragments: 0, tornBytes: moov.start + 20 }]);
      expect(readdirSync(day)).toEqual([]);
    } finally {
      cleanup();
    }
  });
});
