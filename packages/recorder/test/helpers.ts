import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createFrame, type Frame } from '@preroll/capture';
import { ffprobeJson, runTool } from '@preroll/process';
import { readTopLevelBoxes } from '../src/mp4';

/** A temporary directory removed by the returned function. */
export function tempDir(prefix = 'preroll-rec-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The luma level frame `index` is painted with: neighbours differ by 37, so an off-by-one pairing shows. */
export function lumaOf(index: number): number {
  return 16 + ((index * 37) % 220);
}

/**
 * Frame `index` of a test sequence, whose picture identifies it: a flat luma level
 * {@link lumaOf}(index) with a small square moving across, and neutral chroma.
 */
export function makeFrame(index: number, ptsUs: number, width = 320, height = 240, wallStartMs = Date.UTC(2025, 5, 1, 12, 0, 0)): Frame {
  const data = Buffer.alloc((width * height * 3) / 2, 128);
  data.fill(lumaOf(index), 0, width * height);
  const x0 = (index * 4) % (width - 16);
  for (let y = 8; y < 24; y++) data.fill(lumaOf(index) > 100 ? 20 : 235, y * width + x0, y * width + x0 + 16);
  return createFrame({ seq: index, ptsUs, wallMs: wallStartMs + ptsUs / 1000, width, height, data });
}

/** {@link makeFrame} for each timestamp: tests make irregular timing (drops, jitter) on purpose. */
export function makeFrames(ptsUs: readonly number[], width = 320, height = 240, wallStartMs = Date.UTC(2025, 5, 1, 12, 0, 0)): Frame[] {
  return ptsUs.map((pts, i) => makeFrame(i, pts, width, height, wallStartMs));
}

/**
 * Capture timestamps at `fps` starting at `startUs`, with every `dropEvery`-th frame missing
 * (an upstream drop) and a deterministic jitter of up to `jitterUs`.
 */
export function irregularTimestamps(count: number, fps: number, options: { dropEvery?: number; jitterUs?: number; startUs?: number } = {}): number[] {
  const out: number[] = [];
  const stepUs = 1e6 / fps;
  let slot = 0;
  while (out.length < count) {
    slot++;
    if (options.dropEvery && slot % options.dropEvery === 0) continue;
    // A hash of the slot: deterministic, but no short period, so a run of intervals is unique.
    const hash = (Math.imul(slot ^ 0x5bd1e995, 0x9e3779b1) >>> 0) / 2 ** 32;
    const jitter = options.jitterUs ? Math.round((hash - 0.5) * options.jitterUs) : 0;
    out.push((options.startUs ?? 1_000_000) + Math.round(slot * stepUs) + jitter);
  }
  return out;
}

/** ffprobe's view of a clip's video packets and decoded frames. */
export interface ProbedClip {
  readonly packets: Array<{ ptsUs: number; durationUs: number; key: boolean }>;
  readonly frames: Array<{ ptsUs: number; key: boolean; pictType: string }>;
  readonly formatDurationS: number;
  readonly streamDurationS: number;
  readonly codec: string;
  readonly width: number;
  readonly height: number;
  /** Position of the `moov` box relative to the first `mdat` (faststart puts it first). */
  readonly moovFirst: boolean;
}

/** Runs ffprobe with `-show_packets -show_frames` on a clip. */
export async function probe(file: string): Promise<ProbedClip> {
  const doc = await ffprobeJson(file, ['-select_streams', 'v:0', '-show_packets', '-show_frames', '-show_format', '-show_streams']);
  const us = (s: string | undefined): number => Math.round(Number(s) * 1e6);
  // With both -show_packets and -show_frames, ffprobe interleaves them in one list.
  const items: any[] = doc.packets_and_frames ?? [];
  const atoms = await topLevelTypes(file);
  return {
    packets: items.filter((x: any) => x.type === 'packet').map((p: any) => ({ ptsUs: us(p.pts_time), durationUs: us(p.duration_time), key: String(p.flags).startsWith('K') })),
    frames: items.filter((x: any) => x.type === 'frame').map((f: any) => ({ ptsUs: us(f.pts_time ?? f.best_effort_timestamp_time), key: f.key_frame === 1, pictType: f.pict_type })),
    formatDurationS: Number(doc.format?.duration),
    streamDurationS: Number(doc.streams?.[0]?.duration),
    codec: doc.streams?.[0]?.codec_name,
    width: doc.streams?.[0]?.width,
    height: doc.streams?.[0]?.height,
    moovFirst: atoms.indexOf('moov') >= 0 && atoms.indexOf('moov') < atoms.indexOf('mdat'),
  };
}

async function topLevelTypes(file: string): Promise<string[]> {
  const { boxes } = await readTopLevelBoxes(file);
  return boxes.map((b) => b.type);
}

/** Mean luma (Y plane, as coded) of every decoded frame of a clip, in order. */
export async function decodedLumaMeans(file: string, width: number, height: number): Promise<number[]> {
  const { stdout } = await runTool('ffmpeg', ['-v', 'error', '-i', file, '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1']);
  const frameBytes = (width * height * 3) / 2;
  const means: number[] = [];
  for (let off = 0; off + frameBytes <= stdout.length; off += frameBytes) {
    let sum = 0;
    // Rows 32.. skip the moving square so the mean is the frame's flat level.
    for (let i = off + 32 * width; i < off + width * height; i++) sum += stdout[i];
    means.push(sum / (width * height - 32 * width));
  }
  return means;
}
