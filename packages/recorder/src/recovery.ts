import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { ffprobeJson } from '@preroll/process';
import { DEFAULT_CAMERA, RECORDING_KINDS, readSidecar, recordingPaths, writeSidecarAtomic, type EventSidecar, type RecordingKind } from '@preroll/store';
import { remuxToFaststart } from './clip-writer';
import { RecorderError } from './errors';
import { encodeSnapshot, writeFileReplacing } from './images';
import { trimToCompleteFragments } from './mp4';
import { fileExists, PART_CLIP_SUFFIX, PART_INFO_SUFFIX, partPaths, readPartInfo, snapshotFromClip } from './parts';

/** What start-up recovery did with one partial clip. */
export interface RecoveredClip {
  readonly id: string;
  /**
   * `recovered`: remuxed to `<id>.mp4` with a new sidecar; `already-final`: the clip had been
   * finalised and only the partial files were left; `empty`: no complete fragment, removed.
   */
  readonly status: 'recovered' | 'already-final' | 'empty';
  /** The sidecar (for `recovered` and `already-final`), ready for the store to index. */
  readonly sidecar: EventSidecar | null;
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
      if (name.endsWith('.tmp')) await fsp.rm(path.join(dir, name), { force: true });
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
    return { id, status: 'already-final', sidecar, fragments: 0, tornBytes: 0 };
  }
  const info = await readPartInfo(parts.info);
  const prefix = await trimToCompleteFragments(parts.clip);
  if (prefix.length === 0 || prefix.fragments === 0) {
    logger?.warn({ id, bytes: prefix.tornBytes + prefix.length }, 'recovery: partial clip has no complete fragment; removed');
    await removeParts(parts.clip, parts.info);
    return { id, status: 'empty', sidecar: null, fragments: 0, tornBytes: prefix.tornBytes };
  }
  await remuxToFaststart(parts.clip, abs(rel.clip), logger);
  const probe = await probeClip(abs(rel.clip));
  if (probe.frames === 0) {
    throw new RecorderError('RECORDER_NOT_RECOVERABLE', `recovered clip ${id} holds no frames`, parts.clip);
  }
  const named = parseRecordingId(id);
  const firstWallMs = info?.firstWallMs ?? named.startedAtMs;
  const preRollUs = info ? Math.max(0, Math.min(info.triggerPtsUs - info.firstPtsUs, probe.durationUs)) : 0;
  const files: { clip: string; snapshot?: string; thumbnail?: string } = { clip: rel.clip };
  try {
    const image = await snapshotFromClip(abs(rel.clip), preRollUs / 1e6, probe.width, probe.height);
    const { jpeg, thumbnail } = await encodeSnapshot(image);
    await writeFileReplacing(abs(rel.snapshot), jpeg);
    await writeFileReplacing(abs(rel.thumbnail), thumbnail);
    files.snapshot = rel.snapshot;
    files.thumbnail = rel.thumbnail;
  } catch (error) {
    logger?.warn({ err: error, id }, 'recovery: no snapshot for the recovered clip');
  }
  const sidecar: EventSidecar = {
    version: 1,
    id,
    camera: info?.camera ?? named.camera,
    kind: info?.kind ?? named.kind,
    startedAt: new Date(firstWallMs).toISOString(),
    endedAt: new Date(firstWallMs + probe.durationUs / 1000).toISOString(),
    // Segments have no trigger; a memory's is the button press.
    triggeredAt: info && info.kind !== 'segment' ? new Date(Math.max(info.triggerWallMs, firstWallMs)).toISOString() : null,
    preRollMs: Math.round(preRollUs / 1000),
    durationS: Math.round(probe.durationUs / 1000) / 1000,
    frames: probe.frames,
    width: probe.width,
    height: probe.height,
    triggerLevel: info?.triggerLevel ?? null,
    peakScore: null,
    scores: [],
    files,
    bytes: (await fsp.stat(abs(rel.clip))).size,
    // A memory is saved as a favourite (retention must not take it), also when recovered.
    ...((info?.kind ?? named.kind) === 'memory' ? { favorite: true } : {}),
  };
  await writeSidecarAtomic(abs(rel.sidecar), sidecar);
  await removeParts(parts.clip, parts.info);
  logger?.info({ id, frames: probe.frames, durationS: sidecar.durationS, fragments: prefix.fragments, tornBytes: prefix.tornBytes }, 'recovery: partial clip recovered');
  return { id, status: 'recovered', sidecar, fragments: prefix.fragments, tornBytes: prefix.tornBytes };
}

/** Frames, duration (first pts to last pts + last duration) and size of a clip, from ffprobe's packet list. */
export async function probeClip(file: string): Promise<{ frames: number; durationUs: number; width: number; height: number }> {
  const doc = await ffprobeJson(file, ['-select_streams', 'v:0', '-show_entries', 'packet=pts_time,duration_time:stream=width,height']);
  const packets: Array<{ pts_time?: string; duration_time?: string }> = doc.packets ?? [];
  const stream = doc.streams?.[0] ?? {};
  if (packets.length === 0) return { frames: 0, durationUs: 0, width: stream.width ?? 0, height: stream.height ?? 0 };
  const pts = packets.map((p) => Number(p.pts_time));
  const last = packets[packets.length - 1];
  const durationS = Math.max(...pts) + Number(last.duration_time ?? 0) - Math.min(...pts);
  return { frames: packets.length, durationUs: Math.round(durationS * 1e6), width: stream.width ?? 0, height: stream.height ?? 0 };
}

/** The video stream's duration in microseconds as ffprobe reads it from the file's index, or null. */
export async function probeDurationUs(file: string): Promise<number | null> {
  const doc = await ffprobeJson(file, ['-select_streams', 'v:0', '-show_entries', 'stream=duration']);
  const seconds = Number(doc.streams?.[0]?.duration);
  return Number.isFinite(seconds) ? Math.round(seconds * 1e6) : null;
}

/**
 * Reads kind, camera and start time back from a recording id (`YYYY-MM-DD_HH-MM-SS-mmm_<kind>[_<camera>]`,
 * or a memory's `YYYY-MM-DD_HH-MM-SS-MEMORY[-n][_<camera>]`; local time).
 */
export function parseRecordingId(id: string): { startedAtMs: number; kind: RecordingKind; camera: string } {
  const memory = /^(\d{4})-(\d{2})-(\d{2})_(\d{2})-(\d{2})-(\d{2})-MEMORY(?:-\d+)?(?:_([A-Za-z0-9_-]+))?$/.exec(id);
  if (memory) {
    const [, y, mo, d, h, mi, s, camera] = memory;
    return { startedAtMs: new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)).getTime(), kind: 'memory', camera: camera ?? DEFAULT_CAMERA };
  }
  const m = /^(\d{4})-(\d{2})-(\d{2})_(\d{2})-(\d{2})-(\d{2})-(\d{3})_([a-z]+)(?:_([A-Za-z0-9_-]+))?$/.exec(id);
  if (!m) throw new RecorderError('RECORDER_NOT_RECOVERABLE', `"${id}" is not a recording id`, id);
  const [, y, mo, d, h, mi, s, ms, kind, camera] = m;
  if (!RECORDING_KINDS.includes(kind as RecordingKind)) throw new RecorderError('RECORDER_NOT_RECOVERABLE', `"${id}" has an unknown kind`, id);
  const startedAtMs = new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Number(ms)).getTime();
  return { startedAtMs, kind: kind as RecordingKind, camera: camera ?? DEFAULT_CAMERA };
}

async function removeParts(...files: string[]): Promise<void> {
  for (const file of files) await fsp.rm(file, { force: true });
}
