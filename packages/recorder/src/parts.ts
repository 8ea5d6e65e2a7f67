import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { runTool } from '@preroll/process';
import { recordingPaths, writeFileAtomic, type RecordingKind } from '@preroll/layout';
import type { I420Image } from './images';

/**
 * The files of a clip being recorded, next to where the final files go:
 *   events/YYYY-MM-DD/<id>.part.mp4   fragmented MP4, crash-safe, grows while recording
 *   events/YYYY-MM-DD/<id>.part.meta  JSON {@link PartInfo}: what recovery needs for the sidecar
 * Both are removed once `<id>.mp4` and `<id>.json` exist.
 */
export interface PartPaths {
  /** Absolute path of the fragmented MP4. */
  readonly clip: string;
  /** Absolute path of the part info. */
  readonly info: string;
}

/** Where recording `id`'s partial files live in `dataDir`. */
export function partPaths(dataDir: string, id: string): PartPaths {
  const rel = recordingPaths(id);
  return { clip: path.join(dataDir, rel.partClip), info: path.join(dataDir, rel.partInfo) };
}

/** What is known when a clip starts, saved beside the partial clip for recovery. */
export interface PartInfo {
  readonly version: 1;
  readonly id: string;
  readonly camera: string;
  readonly kind: RecordingKind;
  /** Wall time and capture timestamp of the clip's first frame. */
  readonly firstWallMs: number;
  readonly firstPtsUs: number;
  readonly triggerPtsUs: number;
  readonly triggerWallMs: number;
  readonly width: number;
  readonly height: number;
  readonly triggerLevel: number | null;
}

/** Writes the part info atomically (temp file, fsync, rename). */
export async function writePartInfo(file: string, info: PartInfo): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(info));
}

/** Reads a part info file; null when it is missing or unreadable (recovery then works from the file name). */
export async function readPartInfo(file: string): Promise<PartInfo | null> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    const value = JSON.parse(text) as PartInfo;
    return value && value.version === 1 && typeof value.id === 'string' ? value : null;
  } catch (error) {
    // A torn info file (crash during its first write) is as good as none.
    void error;
    return null;
  }
}

/** Decodes one picture of a clip at `offsetS` seconds as packed I420 (for snapshots of recovered clips). */
export async function snapshotFromClip(clipPath: string, offsetS: number, width: number, height: number): Promise<I420Image> {
  let w = width;
  let h = height;
  if (!w || !h) {
    const { stdout } = await runTool('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', clipPath]);
    [w, h] = stdout.toString('utf8').trim().split(',').map(Number);
  }
  const expected = w * h * 3 / 2;
  const decode = async (args: string[]): Promise<Buffer | null> => {
    // Asked up to 3 times: under load ffmpeg can exit before its stdout was read to the end.
    for (let attempt = 0; attempt < 3; attempt++) {
      const { stdout } = await runTool('ffmpeg', ['-v', 'error', ...args, '-i', clipPath, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1']);
      if (stdout.length >= expected) return stdout.subarray(0, expected);
    }
    return null;
  };
  // Seeking past the last frame yields nothing: take the first frame instead.
  const data = (await decode(['-ss', Math.max(0, offsetS).toFixed(3)])) ?? (await decode([]));
  if (!data) throw new Error(`no picture could be decoded from ${clipPath}`);
  return { width: w, height: h, data };
}

/** True when the file exists (any kind, any permissions). */
export async function fileExists(file: string): Promise<boolean> {
  try {
    await fsp.access(file);
    return true;
  } catch (error) {
    void error;
    return false;
  }
}
