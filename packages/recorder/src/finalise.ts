import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { recordingPaths, writeSidecarAtomic, type EventSidecar, type RecordingKind } from '@preroll/store';
import { remuxToFaststart, type ClipWriteSummary } from './clip-writer';
import { encodeSnapshot, writeFileReplacing } from './images';
import { partPaths, snapshotFromClip } from './parts';
import { probeDurationUs } from './recovery';

/** What {@link finaliseRecording} needs besides the closed partial clip. */
export interface FinaliseInput {
  readonly dataDir: string;
  readonly id: string;
  readonly camera: string;
  readonly kind: RecordingKind;
  /** What the clip writer wrote (`ClipWriter.close()`). */
  readonly summary: ClipWriteSummary;
  readonly width: number;
  readonly height: number;
  /** Wall time of the trigger (a memory's button press); null for recordings without one (segments). */
  readonly triggerWallMs: number | null;
  /** Video before the trigger, microseconds. */
  readonly preRollUs: number;
  /** Where the snapshot is decoded from, microseconds from the clip's start (clamped to its last frame). */
  readonly snapshotAtUs: number;
  /** Saved as a favourite (memories), so retention keeps it. */
  readonly favorite?: boolean;
  readonly thumbnailWidth?: number;
  readonly logger?: Logger;
}

/**
 * Turns a closed partial clip `<id>.part.mp4` into a finished recording: remux to a faststart
 * `<id>.mp4`, snapshot and thumbnail decoded from the clip, the sidecar written atomically, the
 * partial files removed. Used for continuous segments and memories (event clips keep the
 * snapshot of their trigger frame in RAM instead, see `recorder.ts`). A failed snapshot only
 * leaves the sidecar without pictures; a failed remux throws `RECORDER_REMUX_FAILED` and keeps
 * the partial files for recovery.
 */
export async function finaliseRecording(input: FinaliseInput): Promise<EventSidecar> {
  const { dataDir, id, summary } = input;
  const rel = recordingPaths(id);
  const parts = partPaths(dataDir, id);
  const abs = (p: string): string => path.join(dataDir, p);
  await remuxToFaststart(parts.clip, abs(rel.clip), input.logger);
  const bytes = (await fsp.stat(abs(rel.clip))).size;
  const durationUs = (await probeDurationUs(abs(rel.clip))) ?? summary.lastPtsUs - summary.firstPtsUs + summary.lastFrameUs;
  const files: { clip: string; snapshot?: string; thumbnail?: string } = { clip: rel.clip };
  try {
    // 1 ms early: the seek is given in ms, and rounding up past the last frame would find none.
    const atUs = Math.max(0, Math.min(input.snapshotAtUs, summary.lastPtsUs - summary.firstPtsUs) - 1000);
    const image = await snapshotFromClip(abs(rel.clip), Math.floor(atUs / 1000) / 1000, input.width, input.height);
    const { jpeg, thumbnail } = await encodeSnapshot(image, { thumbWidth: input.thumbnailWidth });
    await writeFileReplacing(abs(rel.snapshot), jpeg);
    await writeFileReplacing(abs(rel.thumbnail), thumbnail);
    files.snapshot = rel.snapshot;
    files.thumbnail = rel.thumbnail;
  } catch (error) {
    input.logger?.warn({ err: error, id }, 'recorder: no snapshot for the recording');
  }
  const startedAtMs = summary.firstWallMs;
  const sidecar: EventSidecar = {
    version: 1,
    id,
    camera: input.camera,
    kind: input.kind,
    startedAt: new Date(startedAtMs).toISOString(),
    endedAt: new Date(startedAtMs + durationUs / 1000).toISOString(),
    triggeredAt: input.triggerWallMs === null ? null : new Date(Math.max(input.triggerWallMs, startedAtMs)).toISOString(),
    preRollMs: Math.round(Math.max(0, input.preRollUs) / 1000),
    durationS: Math.round(durationUs / 1000) / 1000,
    frames: summary.frames,
    width: input.width,
    height: input.height,
    triggerLevel: null,
    peakScore: null,
    scores: [],
    files,
    bytes,
    ...(input.favorite ? { favorite: true } : {}),
  };
  await writeSidecarAtomic(abs(rel.sidecar), sidecar);
  await fsp.rm(parts.clip, { force: true });
  await fsp.rm(parts.info, { force: true });
  return sidecar;
}
