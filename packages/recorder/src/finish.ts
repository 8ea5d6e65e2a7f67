import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { buildSidecar, recordingPaths, sidecarPathOf, writeFileAtomic, writeSidecarAtomic, type Discontinuity, type EventSidecar, type RecordingKind, type ScorePoint, type ThumbnailSource } from '@preroll/layout';
import { remuxToFaststart, type ClipWriteSummary } from './clip-writer';
import { RecorderError } from './errors';
import { encodeSnapshot, encodeThumbnail, thumbnailCrop, type I420Image, type RegionBox } from './images';
import { snapshotFromClip } from './parts';
import { probeClip, probeDurationUs } from './probe';

/**
 * A finished recording: its files are final and its sidecar is on disk. The one type every
 * kind of recording is reported with (clips, segments, memories, recovered clips, photos).
 */
export interface FinishedRecording {
  readonly sidecar: EventSidecar;
  /** The sidecar's path relative to the data directory: what the store indexes. */
  readonly sidecarPath: string;
  /**
   * `live`: finished now by the component that recorded it; `recovered`: made from a partial
   * clip a crash left behind; `already-final`: a crash came after the sidecar was written, only
   * the clean-up was missing (it may have been reported before the crash).
   */
  readonly origin: 'live' | 'recovered' | 'already-final';
}

/** A heat-map the finisher renders at the snapshot's size (the detector's, opaque here). */
export interface HeatmapRenderer {
  render(width: number, height: number): Promise<Buffer>;
}

/** What the recording is made of. */
export type FinishMedia =
  /** A closed partial clip `<id>.part.mp4`; `summary` is what its writer wrote, null when recovered after a crash (ffprobe then counts). */
  | { readonly type: 'clip'; readonly summary: ClipWriteSummary | null; readonly firstWallMs: number }
  /** One picture (a photo): the JPEG is the recording. */
  | { readonly type: 'photo'; readonly image: I420Image; readonly wallMs: number };

/**
 * The frame the thumbnail is cut from: where the subject was most visible (the event's peak
 * score), with the motion boxes of that frame.
 */
export interface ThumbnailFrame {
  readonly image: I420Image;
  /** The frame's time, microseconds from the clip's first frame. */
  readonly atUs: number;
  /** Motion regions of the frame (fractions of its size); none: a centred crop. */
  readonly boxes: readonly RegionBox[];
}

/** Everything the finisher needs. */
export interface FinishInput {
  readonly dataDir: string;
  readonly id: string;
  readonly camera: string;
  readonly kind: RecordingKind;
  readonly media: FinishMedia;
  /** Frame size, when known (a recovered clip learns it from ffprobe). */
  readonly width?: number;
  readonly height?: number;
  /** Wall time of the trigger; null for recordings without one (segments). */
  readonly triggerWallMs: number | null;
  /** Video before the trigger, microseconds. */
  readonly preRollUs: number;
  /** The snapshot kept in RAM (the trigger frame); without it one is decoded from the clip at `snapshotAtUs`. */
  readonly snapshot?: I420Image | null;
  /** Where to decode the snapshot from, microseconds from the clip's start (clamped to its last frame). */
  readonly snapshotAtUs?: number;
  /** The frame the thumbnail is cut from (the peak); without it the thumbnail is cut from the snapshot. */
  readonly thumbnailFrame?: ThumbnailFrame | null;
  readonly heatmap?: HeatmapRenderer | null;
  readonly triggerLevel?: number | null;
  readonly peakScore?: number | null;
  readonly scores?: readonly ScorePoint[];
  readonly favorite?: boolean;
  /** What started the event (`video`, sensor names). */
  readonly cues?: readonly string[];
  /** Breaks in the video (camera restarts), relative to the first frame. */
  readonly discontinuities?: readonly Discontinuity[];
  readonly origin?: FinishedRecording['origin'];
  /** Thumbnail width in pixels (default 320). */
  readonly thumbnailWidth?: number;
  /** fsync the images (the clip and the sidecar are always synced). Default true. */
  readonly fsync?: boolean;
  readonly logger?: Logger;
}

/**
 * The one finisher: turns what was recorded into a finished recording. For a clip: remux the
 * partial clip to a faststart `<id>.mp4`, measure it, write the snapshot (from RAM or decoded
 * from the clip), the thumbnail (cut around the motion of the peak frame) and heat-map, build the sidecar from the facts (`buildSidecar`) and
 * write it last, atomically, then remove the partial files. For a photo: the JPEG, thumbnail
 * and sidecar. A failed picture only leaves the sidecar without it; a failed remux throws
 * `RECORDER_REMUX_FAILED` and keeps the partial files for recovery.
 */
export async function finishRecording(input: FinishInput): Promise<FinishedRecording> {
  const { dataDir, id, media } = input;
  const rel = recordingPaths(id);
  const abs = (p: string): string => path.join(dataDir, p);
  const fsync = input.fsync ?? true;
  const log = input.logger;
  const files: { clip: string; snapshot?: string; thumbnail?: string; heatmap?: string } = { clip: rel.clip };

  const writeImages = async (image: I420Image, atUs: number, quality?: number): Promise<Buffer> => {
    const jpeg = await encodeSnapshot(image, { quality });
    // The sidecar, written last in the same folder, fsyncs the folder for all of them.
    await writeFileAtomic(abs(rel.snapshot), jpeg, { fsync, syncDir: false });
    files.snapshot = rel.snapshot;
    const source = input.thumbnailFrame ?? { image, atUs, boxes: [] };
    const shape = { width: input.thumbnailWidth };
    const crop = thumbnailCrop(source.image.width, source.image.height, source.boxes, shape);
    await writeFileAtomic(abs(rel.thumbnail), await encodeThumbnail(source.image, crop, shape), { fsync, syncDir: false });
    files.thumbnail = rel.thumbnail;
    thumbnailFrom = { tMs: Math.max(0, Math.round(source.atUs / 1000)), crop };
    if (input.heatmap) {
      try {
        await writeFileAtomic(abs(rel.heatmap), await input.heatmap.render(image.width, image.height), { fsync, syncDir: false });
        files.heatmap = rel.heatmap;
      } catch (error) {
        log?.warn({ err: error, id }, 'recorder: heat-map failed');
      }
    }
    return jpeg;
  };
  let thumbnailFrom: ThumbnailSource | undefined;

  let facts: { firstWallMs: number; durationUs: number; frames: number; width: number; height: number; bytes: number };
  if (media.type === 'photo') {
    const jpeg = await writeImages(media.image, 0, 90);
    files.clip = rel.snapshot;
    facts = { firstWallMs: media.wallMs, durationUs: 0, frames: 1, width: media.image.width, height: media.image.height, bytes: jpeg.length };
  } else {
    await remuxToFaststart(abs(rel.partClip), abs(rel.clip), log);
    const bytes = (await fsp.stat(abs(rel.clip))).size;
    let frames: number;
    let durationUs: number;
    let width = input.width ?? 0;
    let height = input.height ?? 0;
    let lastFrameOffsetUs: number;
    if (media.summary) {
      const s = media.summary;
      frames = s.frames;
      // The remux gives the last frame the stream's nominal duration (from the SPS timing), so
      // the duration comes from the final file rather than from our own guess.
      durationUs = (await probeDurationUs(abs(rel.clip))) ?? s.lastPtsUs - s.firstPtsUs + s.lastFrameUs;
      lastFrameOffsetUs = s.lastPtsUs - s.firstPtsUs;
    } else {
      const probe = await probeClip(abs(rel.clip));
      if (probe.frames === 0) throw new RecorderError('RECORDER_NOT_RECOVERABLE', `clip ${id} holds no frames`, rel.clip);
      frames = probe.frames;
      durationUs = probe.durationUs;
      width ||= probe.width;
      height ||= probe.height;
      lastFrameOffsetUs = probe.lastPtsUs;
    }
    try {
      // 1 ms early: the seek is given in ms, and rounding up past the last frame would find none.
      const atUs = Math.max(0, Math.min(input.snapshotAtUs ?? input.preRollUs, lastFrameOffsetUs) - 1000);
      const image = input.snapshot ?? (await snapshotFromClip(abs(rel.clip), Math.floor(atUs / 1000) / 1000, width, height));
      await writeImages(image, atUs);
    } catch (error) {
      // A missing picture must not lose the clip: the sidecar simply lists no snapshot.
      log?.warn({ err: error, id }, 'recorder: no snapshot for the recording');
    }
    facts = { firstWallMs: media.firstWallMs, durationUs, frames, width, height, bytes };
  }
  const sidecar = buildSidecar({
    id,
    camera: input.camera,
    kind: input.kind,
    ...facts,
    triggerWallMs: input.triggerWallMs,
    preRollUs: input.preRollUs,
    triggerLevel: input.triggerLevel ?? null,
    peakScore: input.peakScore ?? null,
    scores: input.scores ?? [],
    files,
    thumbnailFrom,
    favorite: input.favorite,
    cues: input.cues,
    discontinuities: input.discontinuities,
  });
  await writeSidecarAtomic(abs(rel.sidecar), sidecar);
  await fsp.rm(abs(rel.partClip), { force: true });
  await fsp.rm(abs(rel.partInfo), { force: true });
  log?.info({ id, kind: sidecar.kind, frames: sidecar.frames, durationS: sidecar.durationS, preRollMs: sidecar.preRollMs, bytes: sidecar.bytes }, 'recorder: recording finished');
  return { sidecar, sidecarPath: sidecarPathOf(sidecar), origin: input.origin ?? 'live' };
}
