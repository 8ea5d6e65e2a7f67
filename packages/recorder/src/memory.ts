import * as path from 'node:path';
import type { Logger } from 'pino';
import { ALL_FORMATS, EncodedPacketSink, FilePathSource, Input, type InputVideoTrack } from 'mediabunny';
import { DEFAULT_CAMERA, memoryId, recordingPaths } from '@preroll/layout';
import { NAL, nalUnits, withParameterSets } from '@preroll/capture';
import { createClipWriter } from './clip-writer';
import { RecorderError } from './errors';
import { finishRecording, type FinishedRecording } from './finish';
import { fileExists, partPaths, writePartInfo } from './parts';
import { clipStart } from './ring';
import type { AccessUnit } from '@preroll/capture';

/**
 * "Save the last N minutes": join finished segments (look-back or continuous) into one MP4
 * without re-encoding. Each segment's packets are read back with mediabunny, turned into the
 * same Annex-B access units the encoder produced (with their capture timestamps: the segment's
 * first timestamp plus the packet's), and written through the recorder's own clip writer, so
 * the memory has the exact timestamps of the capture across segment boundaries, starts at a
 * keyframe and ends at the frame of the button press.
 */

/** A finished segment to read from. */
export interface MemorySource {
  /** Absolute path of the MP4 (fragmented or not). */
  readonly file: string;
  /** Capture timestamp of its first frame (its timestamps are relative to it). */
  readonly firstPtsUs: number;
  /** Capture timestamp of its last frame. */
  readonly lastPtsUs: number;
  readonly firstWallMs: number;
}

/** Options of {@link writeMemory}. */
export interface MemoryOptions {
  readonly dataDir: string;
  readonly camera?: string;
  /** The segments, oldest first (those not overlapping the span are skipped unread). */
  readonly sources: readonly MemorySource[];
  /** Start of the span asked for: the memory starts at the newest keyframe at or before it (or the oldest there is). */
  readonly fromPtsUs: number;
  /** End of the span: the last frame at or before it is the memory's last. */
  readonly toPtsUs: number;
  /** Wall time of the button press (the sidecar's `triggeredAt`). */
  readonly triggerWallMs: number;
  readonly fsync?: boolean;
  readonly fragmentMs?: number;
  readonly fps?: number;
  readonly thumbnailWidth?: number;
  /** Told the share of the units written (0..1) as the join goes on, e.g. for a progress bar. */
  readonly onProgress?: (fraction: number) => void;
  readonly logger?: Logger;
}

/** A saved memory: a finished recording (kind `memory`) and how it was joined. */
export interface SavedMemory extends FinishedRecording {
  /** Capture timestamps of its first and last frame. */
  readonly firstPtsUs: number;
  readonly lastPtsUs: number;
  /** Segments it was joined from. */
  readonly segments: number;
}


/**
 * Turns an MP4 sample (NAL units with big-endian length prefixes of `lengthSize` bytes) into
 * Annex-B (4-byte start codes). Pure. Throws `RECORDER_JOIN_FAILED` on a length that runs past
 * the sample.
 */
export function lengthPrefixedToAnnexB(sample: Uint8Array, lengthSize: number): Buffer {
  const parts: Buffer[] = [];
  const code = Buffer.from([0, 0, 0, 1]);
  const data = Buffer.from(sample.buffer, sample.byteOffset, sample.byteLength);
  let pos = 0;
  while (pos + lengthSize <= data.length) {
    const size = data.readUIntBE(pos, lengthSize);
    pos += lengthSize;
    if (size === 0 || pos + size > data.length) throw new RecorderError('RECORDER_JOIN_FAILED', `bad NAL length ${size} at byte ${pos - lengthSize} of a ${data.length}-byte sample`, { size, pos });
    parts.push(code, data.subarray(pos, pos + size));
    pos += size;
  }
  return Buffer.concat(parts);
}

/** SPS, PPS and NAL length size from an `avcC` box body (AVCDecoderConfigurationRecord). Pure. */
export function parseAvcC(record: Uint8Array): { lengthSize: number; sps: Buffer | null; pps: Buffer | null } {
  const b = Buffer.from(record.buffer, record.byteOffset, record.byteLength);
  if (b.length < 7) return { lengthSize: 4, sps: null, pps: null };
  const lengthSize = (b[4] & 0x03) + 1;
  let pos = 6;
  const read = (count: number): Buffer | null => {
    let first: Buffer | null = null;
    for (let i = 0; i < count && pos + 2 <= b.length; i++) {
      const len = b.readUInt16BE(pos);
      pos += 2;
      const nal = b.subarray(pos, pos + len);
      pos += len;
      first ??= nal;
    }
    return first;
  };
  const sps = read(b[5] & 0x1f);
  const pps = pos < b.length ? read(b[pos++]) : null;
  return { lengthSize, sps, pps };
}

/** One segment opened for reading. */
interface OpenedSource {
  readonly source: MemorySource;
  readonly input: Input;
  readonly track: InputVideoTrack;
  readonly codec: string;
  readonly width: number;
  readonly height: number;
  readonly lengthSize: number;
  readonly sps: Buffer | null;
  readonly pps: Buffer | null;
}

async function openSource(source: MemorySource): Promise<OpenedSource> {
  const input = new Input({ source: new FilePathSource(source.file), formats: ALL_FORMATS });
  try {
    const track = await input.getPrimaryVideoTrack();
    if (!track) throw new Error('no video track');
    const config = await track.getDecoderConfig();
    if (!config) throw new Error('no decoder configuration');
    const avcc = config.description ? parseAvcC(toBytes(config.description)) : { lengthSize: 4, sps: null, pps: null };
    return { source, input, track, codec: config.codec, width: await track.getCodedWidth(), height: await track.getCodedHeight(), ...avcc };
  } catch (error) {
    input.dispose();
    throw new RecorderError('RECORDER_JOIN_FAILED', `cannot read segment ${source.file}: ${(error as Error).message}`, source.file, { cause: error });
  }
}

function toBytes(description: ArrayBuffer | ArrayBufferView | SharedArrayBuffer): Uint8Array {
  if (description instanceof Uint8Array) return description;
  if (ArrayBuffer.isView(description)) return new Uint8Array(description.buffer, description.byteOffset, description.byteLength);
  return new Uint8Array(description);
}

/** The units of one segment in order, with capture timestamps (data omitted with `metadataOnly`). */
async function* readUnits(opened: OpenedSource, metadataOnly: boolean, untilPtsUs: number): AsyncGenerator<AccessUnit> {
  const { source } = opened;
  const sink = new EncodedPacketSink(opened.track);
  let seq = 0;
  for await (const packet of sink.packets(undefined, undefined, { metadataOnly })) {
    // The clip writer gave the file a 1 µs clock relative to the first frame: this is exact.
    const ptsUs = source.firstPtsUs + Math.round(packet.timestamp * 1e6);
    if (ptsUs > untilPtsUs) break;
    const keyframe = packet.type === 'key';
    let data: Buffer = Buffer.alloc(0);
    if (!metadataOnly) {
      data = lengthPrefixedToAnnexB(packet.data, opened.lengthSize);
      // A memory may start at any keyframe: make sure it carries its parameter sets in band.
      if (keyframe && opened.sps && opened.pps && !nalUnits(data).some((u) => u.type === NAL.SPS)) data = withParameterSets(data, opened.sps, opened.pps);
    }
    yield { seq: seq++, ptsUs, wallMs: source.firstWallMs + (ptsUs - source.firstPtsUs) / 1000, keyframe, data, codec: opened.codec, width: opened.width, height: opened.height };
  }
}

/**
 * Joins the segments covering [`fromPtsUs`, `toPtsUs`] into one MP4 memory (see the file
 * comment), writes its snapshot (the frame of the press), thumbnail and sidecar (kind
 * `memory`, favourite), and returns it. Crash-safe like an event clip while it is written
 * (`<id>.part.mp4` + `.part.meta`, recovered at the next start). Throws
 * `RECORDER_NOTHING_TO_SAVE` when no segment overlaps the span, `RECORDER_JOIN_FAILED` when a
 * segment cannot be read.
 */
export async function writeMemory(options: MemoryOptions): Promise<SavedMemory> {
  const camera = options.camera ?? DEFAULT_CAMERA;
  const { fromPtsUs, toPtsUs } = options;
  const log = options.logger;
  const wanted = options.sources.filter((s) => s.lastPtsUs >= fromPtsUs && s.firstPtsUs <= toPtsUs);
  // Segments before `fromPtsUs` can still hold the keyframe the memory must start at.
  const before = options.sources.filter((s) => s.lastPtsUs < fromPtsUs).slice(-1);
  const chosen = [...before, ...wanted];
  if (!wanted.length) throw new RecorderError('RECORDER_NOTHING_TO_SAVE', 'the look-back holds no video for that time', { fromPtsUs, toPtsUs });
  // Open every segment first: an open file stays readable even if retention deletes it meanwhile.
  const opened: OpenedSource[] = [];
  try {
    for (const source of chosen) opened.push(await openSource(source));
    // Pass 1 (timestamps only): where the memory starts.
    const keys: Array<{ ptsUs: number; keyframe: boolean; source: number }> = [];
    for (let i = 0; i < opened.length; i++) {
      for await (const unit of readUnits(opened[i], true, toPtsUs)) keys.push({ ptsUs: unit.ptsUs, keyframe: unit.keyframe, source: i });
    }
    const start = clipStart(keys, fromPtsUs, 0);
    if (start < 0) throw new RecorderError('RECORDER_NOTHING_TO_SAVE', 'the look-back holds no keyframe for that time', { fromPtsUs, toPtsUs });
    const first = keys[start];
    const firstWallMs = opened[first.source].source.firstWallMs + (first.ptsUs - opened[first.source].source.firstPtsUs) / 1000;
    const id = await freeMemoryId(options.dataDir, firstWallMs, camera);
    const parts = partPaths(options.dataDir, id);
    const size = opened[first.source];
    await writePartInfo(parts.info, {
      version: 1,
      id,
      camera,
      kind: 'memory',
      firstWallMs,
      firstPtsUs: first.ptsUs,
      triggerPtsUs: toPtsUs,
      triggerWallMs: options.triggerWallMs,
      width: size.width,
      height: size.height,
      triggerLevel: null,
    });
    const writer = createClipWriter({ path: parts.clip, fsync: options.fsync ?? true, fragmentMs: options.fragmentMs ?? 500, frameUs: 1e6 / (options.fps ?? 30), logger: log });
    // Pass 2: the units from the start keyframe to the press, segment after segment.
    const total = keys.length - start;
    let written = 0;
    for (let i = first.source; i < opened.length; i++) {
      for await (const unit of readUnits(opened[i], false, toPtsUs)) {
        // Segments never overlap, so only the first one has units to skip (before the start keyframe).
        if (i === first.source && unit.ptsUs < first.ptsUs) continue;
        writer.write(unit);
        // About a hundred reports however long the memory is.
        if (options.onProgress && ++written % Math.max(1, Math.floor(total / 100)) === 0) options.onProgress(Math.min(1, written / total));
      }
    }
    const summary = await writer.close();
    // The snapshot is the frame of the press; a memory is a favourite (buildSidecar's rule).
    const recording = await finishRecording({
      dataDir: options.dataDir,
      id,
      camera,
      kind: 'memory',
      media: { type: 'clip', summary, firstWallMs: summary.firstWallMs },
      width: size.width,
      height: size.height,
      triggerWallMs: options.triggerWallMs,
      preRollUs: summary.lastPtsUs - summary.firstPtsUs,
      snapshotAtUs: summary.lastPtsUs - summary.firstPtsUs,
      thumbnailWidth: options.thumbnailWidth,
      fsync: options.fsync,
      logger: log,
    });
    log?.info({ id, frames: summary.frames, durationS: recording.sidecar.durationS, askedS: (toPtsUs - fromPtsUs) / 1e6, segments: opened.length - first.source }, 'memory: saved');
    return { ...recording, firstPtsUs: summary.firstPtsUs, lastPtsUs: summary.lastPtsUs, segments: opened.length - first.source };
  } finally {
    for (const o of opened) o.input.dispose();
  }
}

/** The first memory id for that second whose files do not exist yet. */
async function freeMemoryId(dataDir: string, wallMs: number, camera: string): Promise<string> {
  for (let n = 1; ; n++) {
    const id = memoryId(wallMs, camera, n);
    const taken = await Promise.all([recordingPaths(id).clip, recordingPaths(id).sidecar].map((rel) => fileExists(path.join(dataDir, rel))));
    const part = await fileExists(partPaths(dataDir, id).clip);
    if (!taken.some(Boolean) && !part) return id;
  }
}

