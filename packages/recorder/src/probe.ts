import { ffprobeJson } from '@preroll/process';

/**
 * Frames, duration (first pts to last pts + last duration), the last frame's offset from the
 * first and the size of a clip, from ffprobe's packet list.
 */
export async function probeClip(file: string): Promise<{ frames: number; durationUs: number; lastPtsUs: number; width: number; height: number }> {
  const doc = await ffprobeJson(file, ['-select_streams', 'v:0', '-show_entries', 'packet=pts_time,duration_time:stream=width,height']);
  const packets: Array<{ pts_time?: string; duration_time?: string }> = doc.packets ?? [];
  const stream = doc.streams?.[0] ?? {};
  if (packets.length === 0) return { frames: 0, durationUs: 0, lastPtsUs: 0, width: stream.width ?? 0, height: stream.height ?? 0 };
  const pts = packets.map((p) => Number(p.pts_time));
  const last = packets[packets.length - 1];
  const first = Math.min(...pts);
  const newest = Math.max(...pts);
  const durationS = newest + Number(last.duration_time ?? 0) - first;
  return { frames: packets.length, durationUs: Math.round(durationS * 1e6), lastPtsUs: Math.round((newest - first) * 1e6), width: stream.width ?? 0, height: stream.height ?? 0 };
}

/** The video stream's duration in microseconds as ffprobe reads it from the file's index, or null. */
export async function probeDurationUs(file: string): Promise<number | null> {
  const doc = await ffprobeJson(file, ['-select_streams', 'v:0', '-show_entries', 'stream=duration']);
  const seconds = Number(doc.streams?.[0]?.duration);
  return Number.isFinite(seconds) ? Math.round(seconds * 1e6) : null;
}
