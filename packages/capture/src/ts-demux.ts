/**
 * MPEG transport stream (ISO/IEC 13818-1) → H.264 access units with their presentation
 * timestamps. Pure code over Buffers, no I/O: the passthrough source feeds it the `-c:v copy`
 * output of its ffmpeg, which writes one PES packet per access unit.
 */

/** TS packet size; every packet starts with the sync byte 0x47. */
export const TS_PACKET_BYTES = 188;
const SYNC = 0x47;
/** stream_type of H.264 video in a PMT (ISO/IEC 13818-1 table 2-34). */
export const STREAM_TYPE_H264 = 0x1b;
/** PTS counts 90 kHz ticks in 33 bits: it wraps every 26.5 hours. */
const PTS_WRAP = 2 ** 33;
const EMPTY = Buffer.alloc(0);

/** One elementary-stream packet of the video stream (for H.264: one access unit in Annex-B form). */
export interface TsVideoPacket {
  /** Presentation timestamp in 90 kHz ticks, unwrapped (keeps counting past the 33-bit wrap). */
  readonly pts90k: number;
  /** The PES payload: the Annex-B bytes of the access unit. */
  readonly data: Buffer;
  /** True when the PES carries a decoding timestamp other than its PTS: pictures are reordered (B-frames). */
  readonly reordered: boolean;
}

/** What the demuxer found out about the stream so far. */
export interface TsStreamInfo {
  /** PID of the first video stream of the first program, null until the PMT was read. */
  readonly videoPid: number | null;
  /** Its stream_type (0x1b for H.264), null until the PMT was read. */
  readonly streamType: number | null;
}

/** A stateful demuxer: feed it bytes in chunks of any size. */
export interface TsDemuxer {
  /** Adds bytes; returns the video packets completed by them, in stream order. */
  push(chunk: Buffer): TsVideoPacket[];
  /** End of stream: returns the packet still held (ffmpeg's video PES have no length: the last one ends with the stream). */
  flush(): TsVideoPacket[];
  info(): TsStreamInfo;
  /** Bytes skipped to find the sync byte again (a torn or foreign stream). */
  resyncBytes(): number;
  /** PES packets without a PTS (dropped: a unit without a timestamp cannot go into a clip). */
  packetsWithoutPts(): number;
}

/** Creates a {@link TsDemuxer}. */
export function createTsDemuxer(): TsDemuxer {
  let carry: Buffer = Buffer.alloc(0);
  let pmtPid: number | null = null;
  let videoPid: number | null = null;
  let streamType: number | null = null;
  let parts: Buffer[] = [];
  let lastPts: number | null = null;
  let resync = 0;
  let noPts = 0;

  /** Brings a 33-bit PTS next to the previous one, across the wrap. */
  const unwrap = (pts33: number): number => {
    if (lastPts === null) return pts33;
    const base = lastPts - (((lastPts % PTS_WRAP) + PTS_WRAP) % PTS_WRAP);
    let value = base + pts33;
    if (value - lastPts > PTS_WRAP / 2) value -= PTS_WRAP;
    else if (lastPts - value > PTS_WRAP / 2) value += PTS_WRAP;
    return value;
  };

  const finishPes = (out: TsVideoPacket[]): void => {
    if (parts.length === 0) return;
    // The parts are views into the chunks read: one copy makes the PES its own buffer, so a unit
    // pins no chunk (the unit's data is a view of that copy, which holds this PES only).
    const pes = parts.length === 1 ? Buffer.from(parts[0]) : Buffer.concat(parts);
    parts = [];
    const parsed = parsePes(pes);
    if (!parsed) return;
    if (parsed.pts33 === null) {
      noPts++;
      return;
    }
    const pts90k = unwrap(parsed.pts33);
    lastPts = pts90k;
    out.push({ pts90k, data: pes.subarray(parsed.payloadAt), reordered: parsed.dts33 !== null && parsed.dts33 !== parsed.pts33 });
  };

  const onPacket = (packet: Buffer, out: TsVideoPacket[]): void => {
    const pusi = (packet[1] & 0x40) !== 0;
    const pid = ((packet[1] & 0x1f) << 8) | packet[2];
    const adaptation = (packet[3] >> 4) & 0x3;
    let offset = 4;
    if (adaptation === 2 || adaptation === 3) offset += 1 + packet[4];
    if (adaptation === 0 || adaptation === 2 || offset >= TS_PACKET_BYTES) return;
    const payload = packet.subarray(offset);
    if (pid === 0) {
      if (pusi) pmtPid = parsePat(payload) ?? pmtPid;
      return;
    }
    if (pid === pmtPid) {
      if (!pusi) return;
      const found = parsePmt(payload);
      if (found) {
        videoPid = found.pid;
        streamType = found.streamType;
      }
      return;
    }
    if (pid !== videoPid) return;
    if (pusi) finishPes(out);
    else if (parts.length === 0) return; // the middle of a PES whose start we never saw
    parts.push(payload);
  };

  return {
    push(chunk) {
      const out: TsVideoPacket[] = [];
      let data = chunk;
      if (carry.length) {
        // Only the packet cut by the last chunk is joined (not the whole new chunk).
        const need = TS_PACKET_BYTES - carry.length;
        if (chunk.length < need || carry[0] !== SYNC) {
          data = Buffer.concat([carry, chunk]);
        } else {
          onPacket(Buffer.concat([carry, chunk.subarray(0, need)]), out);
          data = chunk.subarray(need);
        }
        carry = EMPTY;
      }
      let at = 0;
      while (data.length - at >= TS_PACKET_BYTES) {
        if (data[at] !== SYNC) {
          const next = data.indexOf(SYNC, at + 1);
          const skip = next < 0 ? data.length - at : next - at;
          resync += skip;
          at += skip;
          continue;
        }
        onPacket(data.subarray(at, at + TS_PACKET_BYTES), out);
        at += TS_PACKET_BYTES;
      }
      carry = at < data.length ? Buffer.from(data.subarray(at)) : EMPTY;
      return out;
    },
    flush() {
      const out: TsVideoPacket[] = [];
      finishPes(out);
      carry = Buffer.alloc(0);
      return out;
    },
    info: () => ({ videoPid, streamType }),
    resyncBytes: () => resync,
    packetsWithoutPts: () => noPts,
  };
}

/** The PMT's PID from a PAT section (first program that is not the network PID), or null. */
function parsePat(payload: Buffer): number | null {
  const section = payload.subarray(1 + payload[0]);
  if (section.length < 8 || section[0] !== 0x00) return null;
  const length = ((section[1] & 0x0f) << 8) | section[2];
  const end = Math.min(section.length, 3 + length - 4);
  for (let at = 8; at + 4 <= end; at += 4) {
    const program = (section[at] << 8) | section[at + 1];
    if (program !== 0) return ((section[at + 2] & 0x1f) << 8) | section[at + 3];
  }
  return null;
}

/** The first video elementary stream of a PMT section: its PID and stream_type, or null. */
function parsePmt(payload: Buffer): { pid: number; streamType: number } | null {
  const section = payload.subarray(1 + payload[0]);
  if (section.length < 12 || section[0] !== 0x02) return null;
  const length = ((section[1] & 0x0f) << 8) | section[2];
  const end = Math.min(section.length, 3 + length - 4);
  const programInfo = ((section[10] & 0x0f) << 8) | section[11];
  for (let at = 12 + programInfo; at + 5 <= end; ) {
    const type = section[at];
    const pid = ((section[at + 1] & 0x1f) << 8) | section[at + 2];
    const infoLength = ((section[at + 3] & 0x0f) << 8) | section[at + 4];
    // Video stream types: MPEG-1/2 (0x01, 0x02), MPEG-4 part 2 (0x10), H.264 (0x1b), HEVC (0x24).
    if ([0x01, 0x02, 0x10, 0x1b, 0x24, 0x42].includes(type)) return { pid, streamType: type };
    at += 5 + infoLength;
  }
  return null;
}

/**
 * A PES packet's PTS and DTS (33 bits each, or null when absent) and where its payload starts;
 * null when it is no PES.
 */
export function parsePes(pes: Buffer): { pts33: number | null; dts33: number | null; payloadAt: number } | null {
  if (pes.length < 9 || pes[0] !== 0 || pes[1] !== 0 || pes[2] !== 1) return null;
  const headerLength = pes[8];
  const payloadAt = 9 + headerLength;
  if (payloadAt > pes.length) return null;
  const flags = pes[7] >> 6;
  if ((flags & 0x2) === 0 || headerLength < 5) return { pts33: null, dts33: null, payloadAt };
  const pts33 = readTimestamp(pes, 9);
  const dts33 = flags === 3 && headerLength >= 10 ? readTimestamp(pes, 14) : null;
  return { pts33, dts33, payloadAt };
}

/** A 33-bit timestamp: 3 + 15 + 15 bits with marker bits between (ISO/IEC 13818-1 2.4.3.7); multiplied, as 33 bits overflow 32-bit operators. */
function readTimestamp(pes: Buffer, at: number): number {
  const p = pes.subarray(at, at + 5);
  return ((p[0] >> 1) & 0x07) * 2 ** 30 + ((p[1] << 7) | (p[2] >> 1)) * 2 ** 15 + ((p[3] << 7) | (p[4] >> 1));
}

/** Converts 90 kHz ticks to microseconds (rounded to 1 µs: 1 tick is 11.1 µs). */
export function ticks90kToUs(ticks: number): number {
  return Math.round((ticks * 1000) / 90);
}
