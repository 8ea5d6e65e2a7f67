import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nalUnits, createTsDemuxer, parsePes, ticks90kToUs, type TsVideoPacket } from '../src/index';
import { tempDir } from './fake-camera';

const dir = tempDir('preroll-tsdemux-');

/** A real transport stream: 3 s of 10 fps H.264 (keyframe every 10 frames), as a camera would send. */
function makeTs(name: string, extra: string[] = []): string {
  const path = join(dir, name);
  execFileSync('ffmpeg', [
    '-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=s=160x120:r=10:d=3',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '10', '-bf', '0', '-pix_fmt', 'yuv420p', ...extra, '-f', 'mpegts', path,
  ]);
  return path;
}

/** ffprobe's view of the video packets: pts in 90 kHz ticks, keyframe flag, size. */
function probePackets(path: string): Array<{ pts: number; key: boolean; size: number }> {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts,flags,size', '-of', 'json', path]).toString();
  const packets = (JSON.parse(out) as { packets: Array<{ pts: number; size: string; flags: string }> }).packets;
  return packets.map((p) => ({ pts: Number(p.pts), size: Number(p.size), key: p.flags.startsWith('K') }));
}

/** Feeds the bytes in chunks of the given sizes (cycled) and collects every packet. */
function demuxInChunks(data: Buffer, sizes: readonly number[]): TsVideoPacket[] {
  const demuxer = createTsDemuxer();
  const out: TsVideoPacket[] = [];
  let at = 0;
  for (let i = 0; at < data.length; i++) {
    const size = sizes[i % sizes.length];
    out.push(...demuxer.push(data.subarray(at, at + size)));
    at += size;
  }
  out.push(...demuxer.flush());
  return out;
}

describe('MPEG-TS demuxer on ffmpeg output', () => {
  const ts = makeTs('a.ts');
  const expected = probePackets(ts);

  test.each([
    ['whole file', [1 << 30]],
    ['one TS packet at a time', [188]],
    ['odd sizes that cut packets and headers', [1, 7, 300, 1000, 55]],
  ])('%s: every access unit with the PTS, size and keyframe flag ffprobe sees', (_name, sizes) => {
    const packets = demuxInChunks(readFileSync(ts), sizes);
    expect(expected).toHaveLength(30);
    expect(packets).toHaveLength(30);
    expect(packets.map((p) => p.pts90k)).toEqual(expected.map((p) => p.pts));
    expect(packets.map((p) => p.data.length)).toEqual(expected.map((p) => p.size));
    const keyframes = packets.map((p) => nalUnits(p.data).some((nal) => nal.type === 5));
    expect(keyframes).toEqual(expected.map((p) => p.key));
    expect(keyframes.filter(Boolean)).toHaveLength(3);
  });

  test('finds the video stream through PAT and PMT, and skips garbage before a sync byte', () => {
    const data = readFileSync(ts);
    const demuxer = createTsDemuxer();
    const packets = [...demuxer.push(Buffer.concat([Buffer.from('not a transport stream'), data])), ...demuxer.flush()];
    expect(packets).toHaveLength(30);
    expect(demuxer.info()).toEqual({ videoPid: 0x100, streamType: 0x1b });
    expect(demuxer.resyncBytes()).toBe('not a transport stream'.length);
  });

  test('reports the stream type of a stream that is not H.264', () => {
    const mpeg2 = join(dir, 'mpeg2.ts');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=s=160x120:r=10:d=1', '-c:v', 'mpeg2video', '-f', 'mpegts', mpeg2]);
    const demuxer = createTsDemuxer();
    demuxer.push(readFileSync(mpeg2));
    expect(demuxer.info().streamType).toBe(0x02);
  });
});

/** Builds TS packets carrying one PES with the given PTS (33 bits) and payload, on PID 0x100. */
function pesPackets(pts33: number | null, payload: Buffer, cc: { n: number }): Buffer[] {
  const header = Buffer.alloc(pts33 === null ? 9 : 14);
  header.set([0, 0, 1, 0xe0, 0, 0, 0x80, pts33 === null ? 0 : 0x80, pts33 === null ? 0 : 5]);
  if (pts33 !== null) {
    const hi = Math.floor(pts33 / 2 ** 30) & 0x7;
    const mid = Math.floor(pts33 / 2 ** 15) & 0x7fff;
    const lo = pts33 & 0x7fff;
    header.set([0x21 | (hi << 1), mid >> 7, ((mid & 0x7f) << 1) | 1, lo >> 7, ((lo & 0x7f) << 1) | 1], 9);
  }
  const pes = Buffer.concat([header, payload]);
  const out: Buffer[] = [];
  for (let at = 0; at < pes.length; at += 184) {
    const chunk = pes.subarray(at, at + 184);
    const packet = Buffer.alloc(188, 0xff);
    packet.set([0x47, (at === 0 ? 0x40 : 0) | 0x01, 0x00]);
    if (chunk.length === 184) {
      packet[3] = 0x10 | (cc.n++ & 0xf);
      chunk.copy(packet, 4);
    } else {
      // Stuffing in an adaptation field fills the rest.
      const stuffing = 184 - chunk.length - 1;
      packet[3] = 0x30 | (cc.n++ & 0xf);
      packet[4] = stuffing;
      if (stuffing > 0) packet[5] = 0x00;
      chunk.copy(packet, 5 + stuffing);
    }
    out.push(packet);
  }
  return out;
}

/** A PAT (program 1 → PMT on 0x1000) and a PMT (H.264 on 0x100). */
function tables(streamType = 0x1b): Buffer[] {
  const pat = Buffer.alloc(188, 0xff);
  pat.set([0x47, 0x40, 0x00, 0x10, 0x00, 0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xf0, 0x00, 0, 0, 0, 0]);
  const pmt = Buffer.alloc(188, 0xff);
  pmt.set([0x47, 0x50, 0x00, 0x10, 0x00, 0x02, 0xb0, 0x12, 0x00, 0x01, 0xc1, 0x00, 0x00, 0xe1, 0x00, 0xf0, 0x00, streamType, 0xe1, 0x00, 0xf0, 0x00, 0, 0, 0, 0]);
  return [pat, pmt];
}

describe('MPEG-TS demuxer on built streams', () => {
  const unit = (n: number, size = 400): Buffer => Buffer.concat([Buffer.from([0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x41]), Buffer.alloc(size, n & 0xff)]);

  test('PTS keeps counting across the 33-bit wrap (every 26.5 hours)', () => {
    const cc = { n: 0 };
    const start = 2 ** 33 - 6000;
    const ptsList = [start, start + 3000, start + 6000, start + 9000, start + 12000].map((p) => p % 2 ** 33);
    const data = Buffer.concat([...tables(), ...ptsList.flatMap((pts, i) => pesPackets(pts, unit(i), cc))]);
    const demuxer = createTsDemuxer();
    const packets = [...demuxer.push(data), ...demuxer.flush()];
    expect(packets.map((p) => p.pts90k)).toEqual([start, start + 3000, 2 ** 33, 2 ** 33 + 3000, 2 ** 33 + 6000]);
    expect(packets[4].data).toEqual(unit(4));
  });

  test('a PES spanning many TS packets comes out whole; a PES without a PTS is counted and dropped', () => {
    const cc = { n: 0 };
    const big = unit(1, 5000);
    const data = Buffer.concat([...tables(), ...pesPackets(9000, big, cc), ...pesPackets(null, unit(2), cc), ...pesPackets(12000, unit(3), cc)]);
    const demuxer = createTsDemuxer();
    const packets = [...demuxer.push(data), ...demuxer.flush()];
    expect(packets).toHaveLength(2);
    expect(packets[0].data).toEqual(big);
    expect(packets[1].pts90k).toBe(12000);
    expect(demuxer.packetsWithoutPts()).toBe(1);
  });

  test('video before the PMT is ignored (its PID is not known yet)', () => {
    const cc = { n: 0 };
    const data = Buffer.concat([...pesPackets(3000, unit(0), cc), ...tables(), ...pesPackets(6000, unit(1), cc)]);
    const demuxer = createTsDemuxer();
    const packets = [...demuxer.push(data), ...demuxer.flush()];
    expect(packets.map((p) => p.pts90k)).toEqual([6000]);
  });

  test('a PES whose DTS differs from its PTS is marked reordered (B-frames)', () => {
    const bframes = join(dir, 'b.ts');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=s=160x120:r=10:d=2', '-c:v', 'libx264', '-preset', 'veryfast', '-bf', '2', '-g', '10', '-f', 'mpegts', bframes]);
    const demuxer = createTsDemuxer();
    const packets = [...demuxer.push(readFileSync(bframes)), ...demuxer.flush()];
    expect(packets).toHaveLength(20);
    expect(packets.filter((p) => p.reordered).length).toBeGreaterThan(10);
    expect(demuxInChunks(readFileSync(makeTs('nob.ts')), [4096]).filter((p) => p.reordered)).toHaveLength(0);
  });

  test('parsePes reads a PTS of 33 bits; ticks convert to microseconds', () => {
    const cc = { n: 0 };
    const [packet] = pesPackets(2 ** 32 + 12345, unit(0, 10), cc);
    expect(parsePes(packet.subarray(4 + 1 + packet[4]))?.pts33).toBe(2 ** 32 + 12345);
    expect(ticks90kToUs(90_000)).toBe(1_000_000);
    expect(ticks90kToUs(6000)).toBe(66_667);
  });
});
