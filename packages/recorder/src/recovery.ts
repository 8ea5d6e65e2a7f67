import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { PART_CLIP_SUFFIX, PART_INFO_SUFFIX, TEMP_MARKER, parseRecordingId, readSidecar, recordingPaths, sidecarPathOf } from '@preroll/layout';
import { RecorderError } from './errors';
import { finishRecording, type FinishedRecording } from './finish';
import { trimToCompleteFragments } from './mp4';
import { fileExists, partPaths, readPartInfo } from './parts';

/** What start-up recovery did with one partial clip. */
export interface RecoveredClip {
  readonly id: string;
  /**
   * `recovered`: remuxed to `<id>.mp4` with a new sidecar; `already-final`: the clip had been
   * finalised and only the partial files were left; `empty`: no complete fragment, removed.
   */
  readonly status: 'recovered' | 'already-final' | 'empty';
  /** The recording (for `recovered` and `already-final`), ready for the store to index. */
  readonly recording: FinishedRecording | null;
  /** Complete fragments kept. */
  readonly fragments: number;
  /** Bytes of a torn last fragment that were cut off. */
  readonly tornBytes: number;
}

/**
 * Finds the partial clips a crash or power cut left under `<dataDir>/events/` and makes each
 * a normal recording: cut a torn last fragment back to the last complete one, remux to a
 * faststart `<id>.mp4`, write a snapshot (decoded from the clip at the trigger moment), a
 * thumbnail and a sidecar (times from the part info, frame count and duration from ffprobe),
 * and remove the partial files. Also removes the recorder's leftover `*.tmp` files. Clips that
 * fail are logged and skipped (their files stay for the next attempt). Returns what it did,
 * so the store can index the recovered recordings.
 */
export async function recoverPartialClips(options: { dataDir: string; logger?: Logger }): Promise<RecoveredClip[]> {
  const eventsDir = path.join(options.dataDir, 'events');
  let days: string[];
  try {
    days = (await fsp.readdir(eventsDir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const results: RecoveredClip[] = [];
  for (const day of days) {
    const dir = path.join(eventsDir, day);
    const names = await fsp.readdir(dir);
    for (const name of names) {
      // Temporary files of an interrupted atomic write: the complete original (or nothing) is still there.
      // (`.tmp` is what older versions named them.)
      if (name.includes(TEMP_MARKER) || name.endsWith('.tmp')) await fsp.rm(path.join(dir, name), { force: true });
    }
    for (const name of names.filter((n) => n.endsWith(PART_CLIP_SUFFIX)).sort()) {
      const id = name.slice(0, -PART_CLIP_SUFFIX.length);
      try {
        results.push(await recoverPartialClip(options.dataDir, id, options.logger));
      } catch (error) {
        options.logger?.error({ err: error, id, code: (error as RecorderError).code }, 'recovery: partial clip not recovered; its files are kept');
      }
    }
    for (const name of names.filter((n) => n.endsWith(PART_INFO_SUFFIX))) {
      const id = name.slice(0, -PART_INFO_SUFFIX.length);
      if (!names.includes(`${id}${PART_CLIP_SUFFIX}`)) await fsp.rm(path.join(dir, name), { force: true });
    }
  }
  return results;
}

/** Recovers one partial clip `id` (see {@link recoverPartialClips}). Throws `RECORDER_REMUX_FAILED` and the like. */
export async function recoverPartialClip(dataDir: string, id: string, logger?: Logger): Promise<RecoveredClip> {
  const parts = partPaths(dataDir, id);
  const rel = recordingPaths(id);
  const abs = (p: string): string => path.join(dataDir, p);
  if ((await fileExists(abs(rel.sidecar))) && (await fileExists(abs(rel.clip)))) {
    // Crashed after the sidecar was written: the recording is complete, only clean-up was missing.
    const sidecar = await readSidecar(abs(rel.sidecar));
    await removeParts(parts.clip, parts.info);
    return { id, status: 'already-final', recording: { sidecar, sidecarPath: sidecarPathOf(sidecar), origin: 'already-final' }, fragments: 0, tornBytes: 0 };
  }
  const info = await readPartInfo(parts.info);
  const prefix = await trimToCompleteFragments(parts.clip);
  if (prefix.length === 0 || prefix.fragments === 0) {
    logger?.warn({ id, bytes: prefix.tornBytes + prefix.length }, 'recovery: partial clip has no complete fragment; removed');
    await removeParts(parts.clip, parts.info);
    return { id, status: 'empty', recording: null, fragments: 0, tornBytes: prefix.tornBytes };
  }
  let named: ReturnType<typeof parseRecordingId>;
  try {
    named = parseRecordingId(id);
  } catch (error) {
    throw new RecorderError('RECORDER_NOT_RECOVERABLE', `"${id}" is not a recording id`, id, { cause: error });
  }
  const kind = info?.kind ?? named.kind;
  const recording = await finishRecording({
    dataDir,
    id,
    camera: info?.camera ?? named.camera,
    kind,
    media: { type: 'clip', summary: null, firstWallMs: info?.firstWallMs ?? named.startedAtMs },
    // Segments have no trigger; a memory's is the button press.
    triggerWallMs: info && kind !== 'segment' ? info.triggerWallMs : null,
    preRollUs: info ? Math.max(0, info.triggerPtsUs - info.firstPtsUs) : 0,
    triggerLevel: info?.triggerLevel ?? null,
    origin: 'recovered',
    logger,
  });
  logger?.info({ id, frames: recording.sidecar.frames, durationS: recording.sidecar.durationS, fragments: prefix.fragments, tornBytes: prefix.tornBytes }, 'recovery: partial clip recovered');
  return { id, status: 'recovered', recording, fragments: prefix.fragments, tornBytes: prefix.tornBytes };
}

async function removeParts(...files: string[]): Promise<void> {
  for (const file of files) await fsp.rm(file, { force: true });
}
