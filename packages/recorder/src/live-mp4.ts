/**
 * A live fragmented MP4 of H.264 access units, for streaming the encoder's own output over
 * HTTP (`/stream.mp4`): one init segment (`ftyp` + `moov`), then one fragment (`moof` +
 * `mdat`) per picture, so the latency is one frame and nothing is re-encoded. Pure: bytes in,
 * bytes out; memory does not grow with the length of the stream (no sample tables are kept).
 */

import { describeAccessUnit, nalUnits, NAL } from '@preroll/capture';
import type { AccessUnit } from '@preroll/capture';

/** Track clock: 90 kHz, the usual one for video. */
const TIMESCALE = 90_000;

/** One viewer's muxer. */
export interface LiveMp4Muxer {
  /**
   * The bytes to send for one access unit: nothing until the first keyframe, then the init
   * segment followed by that picture's fragment, then one fragment per unit. Throws
   * `Error` with code `LIVE_MP4_PARAMETERS_CHANGED` when a keyframe carries other parameter
   * sets than the init segment (a new resolution): the stream must end there and the client
   * reconnect for a new init segment.
   */
  push(unit: AccessUnit): Buffer[];
  /** Fragments written so far. */
  fragments(): number;
}

/** Creates a muxer; `frameUs` is the nominal frame interval, used until real intervals are seen. */
export function createLiveMp4Muxer(options: { frameUs: number }): LiveMp4Muxer {
  let sps: Buffer | null = null;
  let pps: Buffer | null = null;
  let firstPtsUs = 0;
  let lastPtsUs: number | null = null;
  let lastDurationUs = options.frameUs;
  let sequence = 0;
  return {
    push(unit) {
      const out: Buffer[] = [];
      if (sps === null) {
        if (!unit.keyframe) return out;
        const info = describeAccessUnit(unit.data);
        if (!info.sps || !info.pps) return out;
        sps = info.sps;
        pps = info.pps;
        firstPtsUs = unit.ptsUs;
        out.push(initSegment(sps, pps, unit.width, unit.height));
      } else if (unit.keyframe) {
        const info = describeAccessUnit(unit.data);
        if ((info.sps && !info.sps.equals(sps)) || (info.pps && !info.pps.equals(pps as Buffer))) {
          throw Object.assign(new Error('the H.264 parameter sets changed (new resolution or encoder): reconnect for a new init segment'), { code: 'LIVE_MP4_PARAMETERS_CHANGED' });
        }
      }
      // Decode times must increase; a repeated or earlier timestamp is nudged forward by 1 µs.
      const ptsUs = lastPtsUs !== null && unit.ptsUs <= lastPtsUs ? lastPtsUs + 1 : unit.ptsUs;
      if (lastPtsUs !== null) lastDurationUs = ptsUs - lastPtsUs;
      lastPtsUs = ptsUs;
      sequence++;
      // The picture's own duration is not known until the next one; the previous interval
      // stands in, and every fragment's exact start time (tfdt) keeps the clock from drifting.
      out.push(fragment(sequence, ticks(ptsUs - firstPtsUs), Math.max(1, ticks(lastDurationUs)), unit.keyframe, toLengthPrefixed(unit.data)));
      return out;
    },
    fragments: () => sequence,
  };
}

function ticks(us: number): number {
  return Math.round((us * TIMESCALE) / 1_000_000);
}

/** Annex-B (start codes) to MP4's 4-byte length prefixes; access unit delimiters are dropped. */
export function toLengthPrefixed(data: Buffer): Buffer {
  const units = nalUnits(data).filter((n) => n.type !== NAL.AUD && n.end > n.start);
  const out = Buffer.allocUnsafe(units.reduce((sum, n) => sum + 4 + n.end - n.start, 0));
  let at = 0;
  for (const n of units) {
    out.writeUInt32BE(n.end - n.start, at);
    data.copy(out, at + 4, n.start, n.end);
    at += 4 + n.end - n.start;
  }
  return out;
}

// ---------- boxes ----------

function box(type: string, ...payload: Buffer[]): Buffer {
  const size = 8 + payload.reduce((sum, p) => sum + p.length, 0);
  const header = Buffer.alloc(8);
  header.writeUInt32BE(size, 0);
  header.write(type, 4, 'latin1');
  return Buffer.concat([header, ...payload], size);
}

function fullBox(type: string, version: number, flags: number, ...payload: Buffer[]): Buffer {
  const vf = Buffer.alloc(4);
  vf.writeUInt32BE(((version & 0xff) << 24) | (flags & 0xffffff), 0);
  return box(type, vf, ...payload);
}

function u32(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
  return b;
}

function u16(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeUInt16BE(v & 0xffff, i * 2));
  return b;
}

/** The unity transformation matrix of `mvhd` and `tkhd`. */
const MATRIX = u32(0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000);

/** `avcC` (ISO/IEC 14496-15): profile, compatibility and level from the SPS, 4-byte lengths, one SPS and one PPS. */
function avcC(sps: Buffer, pps: Buffer): Buffer {
  return box('avcC', Buffer.from([1, sps[1] ?? 0x42, sps[2] ?? 0, sps[3] ?? 0x1e, 0xff, 0xe1]), u16(sps.length), sps, Buffer.from([1]), u16(pps.length), pps);
}

/** `ftyp` + `moov` for one H.264 track with an empty sample table and `mvex` (fragments follow). */
export function initSegment(sps: Buffer, pps: Buffer, width: number, height: number): Buffer {
  const ftyp = box('ftyp', Buffer.from('isom', 'latin1'), u32(0x200), Buffer.from('isomiso6avc1mp41', 'latin1'));
  const mvhd = fullBox('mvhd', 0, 0, u32(0, 0, 1000, 0, 0x00010000), u16(0x0100, 0), u32(0, 0), MATRIX, u32(0, 0, 0, 0, 0, 0), u32(2));
  const tkhd = fullBox('tkhd', 0, 3, u32(0, 0, 1, 0, 0, 0, 0), u16(0, 0, 0, 0), MATRIX, u32(width << 16, height << 16));
  const mdhd = fullBox('mdhd', 0, 0, u32(0, 0, TIMESCALE, 0), u16(0x55c4, 0));
  const hdlr = fullBox('hdlr', 0, 0, u32(0), Buffer.from('vide', 'latin1'), u32(0, 0, 0), Buffer.from('Preroll live\0', 'latin1'));
  const vmhd = fullBox('vmhd', 0, 1, u16(0, 0, 0, 0));
  const dinf = box('dinf', fullBox('dref', 0, 0, u32(1), fullBox('url ', 0, 1)));
  const avc1 = box(
    'avc1',
    Buffer.alloc(6),
    u16(1), // data reference index
    Buffer.alloc(16), // pre_defined, reserved
    u16(width, height),
    u32(0x00480000, 0x00480000, 0), // 72 dpi, reserved
    u16(1), // frames per sample
    Buffer.alloc(32), // compressor name
    u16(0x0018, 0xffff), // depth, pre_defined
    avcC(sps, pps),
  );
  const stbl = box(
    'stbl',
    fullBox('stsd', 0, 0, u32(1), avc1),
    fullBox('stts', 0, 0, u32(0)),
    fullBox('stsc', 0, 0, u32(0)),
    fullBox('stsz', 0, 0, u32(0, 0)),
    fullBox('stco', 0, 0, u32(0)),
  );
  const trak = box('trak', tkhd, box('mdia', mdhd, hdlr, box('minf', vmhd, dinf, stbl)));
  const mvex = box('mvex', fullBox('trex', 0, 0, u32(1, 1, 0, 0, 0)));
  return Buffer.concat([ftyp, box('moov', mvhd, trak, mvex)]);
}

/** `moof` + `mdat` with one sample at `decodeTime` (track ticks). */
export function fragment(sequence: number, decodeTime: number, duration: number, keyframe: boolean, sample: Buffer): Buffer {
  // sample_depends_on = 2 (a sync sample), or depends on others and is not a sync sample.
  const flags = keyframe ? 0x02000000 : 0x01010000;
  const tfdt = fullBox('tfdt', 1, 0, u32(Math.floor(decodeTime / 2 ** 32), decodeTime % 2 ** 32));
  const tfhd = fullBox('tfhd', 0, 0x020000, u32(1)); // default-base-is-moof
  // data offset, duration, size and flags present; the offset is patched once the moof size is known.
  const trun = fullBox('trun', 0, 0x000701, u32(1, 0, duration, sample.length, flags));
  const mfhd = fullBox('mfhd', 0, 0, u32(sequence));
  const moof = box('moof', mfhd, box('traf', tfhd, tfdt, trun));
  // moof header, mfhd, traf header, tfhd, tfdt, then trun's header, flags and sample count.
  const dataOffsetAt = 8 + mfhd.length + 8 + tfhd.length + tfdt.length + 16;
  moof.writeUInt32BE(moof.length + 8, dataOffsetAt);
  const mdatHeader = u32(8 + sample.length, 0x6d646174);
  return Buffer.concat([moof, mdatHeader, sample]);
}
