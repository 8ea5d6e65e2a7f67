import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { EncodedPacket, EncodedVideoPacketSource, Mp4OutputFormat, Output, StreamTarget, type StreamTargetChunk } from 'mediabunny';
import { TEMP_MARKER } from '@preroll/layout';
import { runTool } from '@preroll/process';
import { RecorderError } from './errors';
import type { AccessUnit } from '@preroll/capture';

/** Options of {@link openClipWriter}. */
export interface ClipWriterOptions {
  /** The fragmented MP4 to write (`<id>.part.mp4`). */
  readonly path: string;
  /** fsync after every fragment, so a power cut loses at most the fragment being written. */
  readonly fsync: boolean;
  /** Minimum fragment length in milliseconds; a fragment always starts at a keyframe. */
  readonly fragmentMs: number;
  /** Nominal frame duration, used for the first unit's duration until the real interval is known. */
  readonly frameUs: number;
  readonly logger?: Logger;
}

/** What a clip writer wrote. */
export interface ClipWriteSummary {
  readonly frames: number;
  /** Capture timestamp of the first unit (timestamps in the file are relative to it). */
  readonly firstPtsUs: number;
  readonly lastPtsUs: number;
  readonly firstWallMs: number;
  /** Duration given to the last frame (the interval before it), microseconds. */
  readonly lastFrameUs: number;
  readonly fragmentsSynced: number;
}

/**
 * Writes access units to a crash-safe fragmented MP4 with exact timestamps: mediabunny with a
 * 1 µs track clock, Annex-B units passed as they are, timestamps rebased to the first unit.
 * Writes are queued in order; nothing is dropped on this edge (a slow disk grows the queue,
 * reported by `queuedBytes()`).
 */
export interface ClipWriter {
  /** Queues a unit; the first one must be a keyframe carrying SPS/PPS. */
  write(unit: AccessUnit): void;
  /** Frames accepted so far. */
  frames(): number;
  /** Capture timestamp of the last unit accepted, or null. */
  lastPtsUs(): number | null;
  /** Bytes queued and not yet handed to the file. */
  queuedBytes(): number;
  /** Size of the file so far (what has been written to it), bytes. */
  fileBytes(): number;
  /** Flushes the last fragment, syncs and closes the file. Rejects with `RECORDER_WRITE_FAILED`. */
  close(): Promise<ClipWriteSummary>;
}

/**
 * Creates a clip writer for `options.path` (creating its folder, truncating the file). Never
 * blocks: the file is opened on the write queue, and an open failure surfaces as
 * `RECORDER_WRITE_FAILED` from `close()`.
 */
export function createClipWriter(options: ClipWriterOptions): ClipWriter {
  let handle: fsp.FileHandle | null = null;
  let synced = 0;
  let fileBytes = 0;
  const source = new EncodedVideoPacketSource('avc');
  let output: Output | null = null;
  const open = async (): Promise<void> => {
    await fsp.mkdir(dirname(options.path), { recursive: true });
    const file = await fsp.open(options.path, 'w');
    handle = file;
    const sink = new WritableStream<StreamTargetChunk>({
      async write(chunk) {
        await file.write(chunk.data, 0, chunk.data.byteLength, chunk.position);
        fileBytes = Math.max(fileBytes, chunk.position + chunk.data.byteLength);
        // With `chunked: false` mediabunny hands over each fragment (moof+mdat, the first one
        // with the moov) in one write, so after the write a whole fragment is on its way to disk.
        if (options.fsync) {
          await file.datasync();
          synced++;
        }
      },
    });
    output = new Output({
      format: new Mp4OutputFormat({ fastStart: 'fragmented', minimumFragmentDuration: options.fragmentMs / 1000 }),
      target: new StreamTarget(sink, { chunked: false }),
    });
    output.addVideoTrack(source, { frameRate: 1_000_000 });
    await output.start();
  };

  let chain: Promise<void> = Promise.resolve();
  let failure: Error | null = null;
  let frames = 0;
  let queued = 0;
  let firstPtsUs: number | null = null;
  let firstWallMs = 0;
  let lastPtsUs: number | null = null;
  let lastFrameUs = options.frameUs;
  let closed = false;

  const fail = (error: unknown): void => {
    if (failure) return;
    failure = error instanceof Error ? error : new Error(String(error));
    options.logger?.error({ err: failure, file: options.path }, 'clip writer failed; the fragments already written stay recoverable');
  };
  chain = open().catch(fail);

  return {
    write(unit: AccessUnit): void {
      if (closed) throw new RecorderError('RECORDER_WRITE_FAILED', `clip ${options.path} is closed`, options.path);
      if (firstPtsUs === null) {
        if (!unit.keyframe) throw new RecorderError('RECORDER_WRITE_FAILED', 'a clip must start with a keyframe', unit.seq);
        firstPtsUs = unit.ptsUs;
        firstWallMs = unit.wallMs;
      }
      let ptsUs = unit.ptsUs;
      if (lastPtsUs !== null && ptsUs <= lastPtsUs) {
        // A clock that went back must not reorder the track; keep it strictly increasing.
        options.logger?.warn({ ptsUs, lastPtsUs, seq: unit.seq }, 'clip writer: non-increasing timestamp nudged forward');
        ptsUs = lastPtsUs + 1;
      }
      if (lastPtsUs !== null) lastFrameUs = ptsUs - lastPtsUs;
      lastPtsUs = ptsUs;
      frames++;
      const first = frames === 1;
      const timestampS = (ptsUs - firstPtsUs) / 1e6;
      const durationS = lastFrameUs / 1e6;
      const size = unit.data.length;
      queued += size;
      chain = chain.then(async () => {
        queued -= size;
        if (failure) return;
        try {
          const packet = new EncodedPacket(unit.data, unit.keyframe ? 'key' : 'delta', timestampS, durationS);
          // Annex-B units carry their parameter sets in band, so the config has no `description`.
          await source.add(packet, first ? { decoderConfig: { codec: unit.codec, codedWidth: unit.width, codedHeight: unit.height } } : undefined);
        } catch (error) {
          fail(error);
        }
      });
    },
    frames: () => frames,
    lastPtsUs: () => lastPtsUs,
    queuedBytes: () => queued,
    fileBytes: () => fileBytes,
    async close(): Promise<ClipWriteSummary> {
      closed = true;
      await chain;
      const file = handle as fsp.FileHandle | null;
      const out = output as Output | null;
      try {
        if (!failure && out) {
          if (frames > 0) await out.finalize();
          else await out.cancel();
        }
        if (options.fsync && file) await file.sync();
      } catch (error) {
        fail(error);
      } finally {
        await file?.close().catch((error: unknown) => fail(error));
      }
      if (failure) {
        throw new RecorderError('RECORDER_WRITE_FAILED', `writing ${options.path} failed: ${(failure as Error).message}`, options.path, { cause: failure });
      }
      return { frames, firstPtsUs: firstPtsUs ?? 0, lastPtsUs: lastPtsUs ?? 0, firstWallMs, lastFrameUs, fragmentsSynced: synced };
    },
  };
}

/**
 * Rewrites a fragmented MP4 as a normal MP4 with the index (`moov`) first, so browsers can
 * play and seek it at once: `ffmpeg -i part -c copy -movflags +faststart`. The stream copy
 * keeps every timestamp. Writes `target` via a temporary file, fsyncs it and renames it into
 * place. Throws `RECORDER_REMUX_FAILED`.
 */
export async function remuxToFaststart(partPath: string, target: string, logger?: Logger): Promise<void> {
  // Named like every temporary file of the recording format: the store's watcher ignores it and recovery removes it.
  const temp = `${target}${TEMP_MARKER}remux`;
  try {
    await runTool('ffmpeg', ['-v', 'error', '-y', '-i', partPath, '-map', '0:v:0', '-c', 'copy', '-movflags', '+faststart', '-f', 'mp4', temp], { logger, timeoutMs: 120_000 });
    const handle = await fsp.open(temp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(temp, target);
  } catch (error) {
    await fsp.rm(temp, { force: true }).catch(() => undefined);
    throw new RecorderError('RECORDER_REMUX_FAILED', `cannot remux ${partPath}: ${(error as Error).message}`, partPath, { cause: error });
  }
}
