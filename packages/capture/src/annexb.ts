/**
 * H.264 Annex-B byte streams: splitting ffmpeg's output into access units and looking inside
 * them. Pure code over Buffers, no I/O.
 */

/**
 * One encoded picture: an H.264 access unit in Annex-B form (start codes, not length
 * prefixes), paired with the capture timestamps of the frame it encodes.
 *
 * Every keyframe unit carries its SPS and PPS in band (the encoder inserts them when the
 * hardware encoder sends them only once), so any keyframe can start a clip on its own.
 */
export interface AccessUnit {
  /** `seq` of the encoded frame (see `Frame.seq`). */
  readonly seq: number;
  /** Capture timestamp of the encoded frame, microseconds on the source's monotonic clock. */
  readonly ptsUs: number;
  /** Wall-clock capture time of the encoded frame, milliseconds since the epoch. */
  readonly wallMs: number;
  /** True for an IDR picture (a clip may start here). */
  readonly keyframe: boolean;
  /** The Annex-B bytes of the whole access unit (AUD, parameter sets, SEI, slices). */
  readonly data: Buffer;
  /** RFC 6381 codec string from the SPS in force, e.g. `avc1.42c01f` (for MP4 and MSE). */
  readonly codec: string;
  readonly width: number;
  readonly height: number;
}

/** NAL unit types used here (H.264 table 7-1). */
export const NAL = Object.freeze({
  SLICE: 1,
  IDR: 5,
  SEI: 6,
  SPS: 7,
  PPS: 8,
  AUD: 9,
});

const START_CODE = Buffer.from([0, 0, 1]);

/** One NAL unit inside an Annex-B buffer: `start` is its header byte, `end` is exclusive. */
export interface NalUnitRef {
  readonly type: number;
  /** Offset of the start code (including a leading zero byte of a 4-byte start code). */
  readonly codeStart: number;
  /** Offset of the NAL header byte. */
  readonly start: number;
  readonly end: number;
}

/** Lists the NAL units of an Annex-B buffer in order. Bytes before the first start code are ignored. */
export function nalUnits(data: Buffer): NalUnitRef[] {
  const units: NalUnitRef[] = [];
  let pos = data.indexOf(START_CODE, 0);
  while (pos >= 0 && pos + 3 < data.length) {
    const headerAt = pos + 3;
    const codeStart = pos > 0 && data[pos - 1] === 0 ? pos - 1 : pos;
    const next = data.indexOf(START_CODE, headerAt);
    let end = next < 0 ? data.length : next;
    // A 4-byte start code's leading zero belongs to the next unit, not to this one.
    if (next > 0 && data[next - 1] === 0) end = next - 1;
    units.push({ type: data[headerAt] & 0x1f, codeStart, start: headerAt, end: Math.max(headerAt, end) });
    pos = next;
  }
  return units;
}

/** True for a coded slice (VCL NAL unit) of a primary picture. */
function isVcl(type: number): boolean {
  return type === NAL.SLICE || type === NAL.IDR;
}

/** NAL types that may only appear before the first slice of an access unit (H.264 7.4.1.2.3). */
function startsAccessUnitAfterVcl(type: number): boolean {
  return type === NAL.AUD || type === NAL.SEI || type === NAL.SPS || type === NAL.PPS || (type >= 14 && type <= 18);
}

/**
 * Splits an Annex-B byte stream, delivered in chunks of any size, into access units.
 *
 * An access unit starts at an AUD, or, when the stream has no AUDs, at the first SEI/SPS/PPS
 * or the first slice with `first_mb_in_slice == 0` that follows a slice of the previous
 * picture (H.264 7.4.1.2.3). So multi-slice pictures (x264's `zerolatency` sliced threads)
 * stay whole. A unit is only known to be complete when the next one begins, so `push`
 * returns units one picture late and `flush` returns the last one at the end of the stream.
 * Emitted buffers are copies: they never pin the (much larger) pipe chunks in memory.
 */
export interface AccessUnitSplitter {
  /** Adds bytes; returns the access units completed by them, in order. */
  push(chunk: Buffer): Buffer[];
  /** End of stream: returns the last access unit (if it holds a slice) and resets. */
  flush(): Buffer[];
  /** Forgets everything buffered (after the encoder died mid-picture). Returns the bytes discarded. */
  reset(): number;
  /** Bytes held waiting for the rest of the current access unit. */
  pendingBytes(): number;
}

/** Creates an {@link AccessUnitSplitter}. */
export function createAccessUnitSplitter(): AccessUnitSplitter {
  let pending: Buffer = Buffer.alloc(0);
  // Where to look for the next start code; everything before it has been classified.
  let scanFrom = 0;
  // True once `pending` begins at the first NAL unit of the current access unit.
  let open = false;
  let hasVcl = false;

  const reset = (): number => {
    const dropped = pending.length;
    pending = Buffer.alloc(0);
    scanFrom = 0;
    open = false;
    hasVcl = false;
    return dropped;
  };

  return {
    push(chunk: Buffer): Buffer[] {
      if (chunk.length === 0) return [];
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      const out: Buffer[] = [];
      for (;;) {
        const at = pending.indexOf(START_CODE, scanFrom);
        if (at < 0) {
          // Keep the last two bytes: they may be the beginning of a start code.
          scanFrom = Math.max(scanFrom, pending.length - 2);
          break;
        }
        const headerAt = at + 3;
        if (headerAt >= pending.length) {
          scanFrom = at;
          break;
        }
        const type = pending[headerAt] & 0x1f;
        // A slice's first_mb_in_slice is ue(v); its first bit is 1 exactly when the value is 0.
        if (isVcl(type) && headerAt + 1 >= pending.length) {
          scanFrom = at;
          break;
        }
        const codeStart = at > 0 && pending[at - 1] === 0 ? at - 1 : at;
        if (!open) {
          // Bytes before the first start code are not H.264; drop them.
          pending = pending.subarray(codeStart);
          open = true;
          hasVcl = isVcl(type);
          scanFrom = at - codeStart + 3;
          continue;
        }
        const firstSliceOfPicture = isVcl(type) && (pending[headerAt + 1] & 0x80) !== 0;
        const startsNew = hasVcl && (startsAccessUnitAfterVcl(type) || firstSliceOfPicture);
        if (startsNew && codeStart > 0) {
          out.push(Buffer.from(pending.subarray(0, codeStart)));
          pending = pending.subarray(codeStart);
          scanFrom = at - codeStart + 3;
          hasVcl = isVcl(type);
          continue;
        }
        if (isVcl(type)) hasVcl = true;
        scanFrom = headerAt;
      }
      return out;
    },
    flush(): Buffer[] {
      const last = open && hasVcl && pending.length > 0 ? [Buffer.from(pending)] : [];
      reset();
      return last;
    },
    reset,
    pendingBytes: () => pending.length,
  };
}

/** What an access unit contains, from its NAL unit types. */
export interface AccessUnitInfo {
  readonly keyframe: boolean;
  readonly hasSps: boolean;
  readonly hasPps: boolean;
  readonly sps: Buffer | null;
  readonly pps: Buffer | null;
}

/** Looks at the NAL units of one access unit: IDR or not, and its parameter sets (copies, without start codes). */
export function describeAccessUnit(data: Buffer): AccessUnitInfo {
  let keyframe = false;
  let sps: Buffer | null = null;
  let pps: Buffer | null = null;
  for (const nal of nalUnits(data)) {
    if (nal.type === NAL.IDR) keyframe = true;
    else if (nal.type === NAL.SPS && !sps) sps = Buffer.from(data.subarray(nal.start, nal.end));
    else if (nal.type === NAL.PPS && !pps) pps = Buffer.from(data.subarray(nal.start, nal.end));
  }
  return { keyframe, hasSps: sps !== null, hasPps: pps !== null, sps, pps };
}

/**
 * Returns the access unit with the given SPS and PPS inserted in band (after the AUD when
 * there is one), for encoders that send parameter sets only once: every keyframe must be able
 * to start a clip. Units that already carry both are returned as they are.
 */
export function withParameterSets(data: Buffer, sps: Buffer, pps: Buffer): Buffer {
  const units = nalUnits(data);
  const hasSps = units.some((u) => u.type === NAL.SPS);
  const hasPps = units.some((u) => u.type === NAL.PPS);
  if (hasSps && hasPps) return data;
  const insertAt = units.length > 0 && units[0].type === NAL.AUD ? units[0].end : (units[0]?.codeStart ?? 0);
  const code = Buffer.from([0, 0, 0, 1]);
  const parts: Buffer[] = [data.subarray(0, insertAt)];
  if (!hasSps) parts.push(code, sps);
  if (!hasPps) parts.push(code, pps);
  parts.push(data.subarray(insertAt));
  return Buffer.concat(parts);
}

/**
 * The RFC 6381 codec string (`avc1.PPCCLL`) of a sequence parameter set given without its
 * start code: profile_idc, the constraint flags byte and level_idc follow the NAL header.
 */
export function codecStringFromSps(sps: Buffer): string {
  if (sps.length < 4) return 'avc1.42e01e';
  const hex = (n: number): string => n.toString(16).padStart(2, '0');
  return `avc1.${hex(sps[1])}${hex(sps[2])}${hex(sps[3])}`;
}

/** A keyframe made able to start a clip, or a unit passed as it is (see {@link createParameterSetKeeper}). */
export interface CompletedUnit {
  /** The unit, with the last SPS and PPS inserted when it is a keyframe that lacks them. */
  readonly data: Buffer;
  /** An IDR that can start a clip: false for an IDR before any SPS and PPS were seen. */
  readonly keyframe: boolean;
  /** RFC 6381 codec string from the SPS in force (`avc1.42e01e` before one is seen). */
  readonly codec: string;
}

/** Keeps the newest SPS and PPS of a stream and puts them into every keyframe that lacks them. */
export interface ParameterSetKeeper {
  complete(data: Buffer): CompletedUnit;
  /** True once an SPS and a PPS were seen. */
  ready(): boolean;
}

/**
 * Creates a {@link ParameterSetKeeper}: the one place where encoders that send parameter sets
 * once (the Pi's hardware encoder) and cameras that send them only now and then are made to
 * carry them in every keyframe, so any keyframe can start a clip on its own. An IDR before any
 * parameter sets is not a keyframe: nobody can decode it.
 */
export function createParameterSetKeeper(): ParameterSetKeeper {
  let sps: Buffer | null = null;
  let pps: Buffer | null = null;
  let codec = 'avc1.42e01e';
  return {
    complete(raw) {
      const info = describeAccessUnit(raw);
      if (info.sps) {
        sps = info.sps;
        codec = codecStringFromSps(info.sps);
      }
      if (info.pps) pps = info.pps;
      if (!info.keyframe || (info.hasSps && info.hasPps)) return { data: raw, keyframe: info.keyframe, codec };
      if (!sps || !pps) return { data: raw, keyframe: false, codec };
      return { data: withParameterSets(raw, sps, pps), keyframe: true, codec };
    },
    ready: () => sps !== null && pps !== null,
  };
}
