import { copyFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { createFrame, type Frame } from '@preroll/capture';
import { memoryId, parseRecordingId, readSidecar } from '@preroll/layout';
import {
  createClipWriter,
  createEncoder,
  createSegmenter,
  partPaths,
  recoverPartialClips,
  lengthPrefixedToAnnexB,
  lookbackEvictions,
  parseAvcC,
  segmentAction,
  writeMemory,
  type SegmentRecord,
  type Segmenter,
  type SegmenterOptions,
  type SegmentWant,
  LOOKBACK_DIR,
  type AccessUnit,
} from '../src';
import { writePartInfo } from '../src/parts';
import { RecorderError } from '../src/errors';
import { decodedLumaMeans, irregularTimestamps, lumaOf, probe, tempDir } from './helpers';

const FPS = 10;
const GOP = 10;
const W = 320;
const H = 240;

/**
 * Frame `index`: flat luma {@link lumaOf}(index) below row 32 (so the decoded picture tells
 * which frame it is) and, above it, a patch of pseudo-random noise that makes units big
 * enough for byte caps to matter.
 */
function noisyFrame(index: number, ptsUs: number, noise = true): Frame {
  const data = Buffer.alloc((W * H * 3) / 2, 128);
  data.fill(lumaOf(index), 0, W * H);
  if (noise) {
    let x = (index + 1) * 2654435761;
    for (let row = 0; row < 32; row++) {
      for (let col = 0; col < 160; col++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        data[row * W + col] = 16 + (x >>> 24) % 220;
      }
    }
  }
  return createFrame({ seq: index, ptsUs, wallMs: Date.UTC(2025, 5, 1, 12, 0, 0) + ptsUs / 1000, width: W, height: H, data });
}

/** Runs frames through the real encoder (wait policy: nothing dropped) into a segmenter; `each` runs after every frame. */
async function run(frames: Frame[], segmenter: Segmenter, each?: (index: number) => Promise<void> | void): Promise<void> {
  const encoder = createEncoder({ width: W, height: H, fps: FPS, gopFrames: GOP, policy: 'wait' });
  encoder.onUnit((unit) => segmenter.push(unit));
  await encoder.start();
  for (let i = 0; i < frames.length; i++) {
    encoder.encode(frames[i]);
    if (encoder.busy()) await encoder.drained();
    await each?.(i);
  }
  await encoder.stop();
  expect(encoder.stats()).toMatchObject({ framesIn: frames.length, droppedFrames: 0, lostFrames: 0 });
}

function segmenterFor(dataDir: string, options: Partial<SegmenterOptions>): Segmenter {
  return createSegmenter({ dataDir, fps: FPS, fsync: false, ...options });
}

/**
 * Finds where a clip's packets sit in the input: the one start index whose following capture
 * timestamps, rebased to it, equal the clip's packet timestamps exactly.
 */
function locate(clipPtsUs: readonly number[], inputPtsUs: readonly number[]): number {
  const starts = inputPtsUs.map((_, s) => s).filter((s) => clipPtsUs.every((t, k) => s + k < inputPtsUs.length && inputPtsUs[s + k] - inputPtsUs[s] === t));
  expect(starts).toHaveLength(1);
  return starts[0];
}

describe('segmentAction (pure)', () => {
  const want = (over: Partial<SegmentWant> = {}): SegmentWant => ({ kind: 'segment', lengthUs: 60e6, maxBytes: Number.POSITIVE_INFINITY, cutRequested: false, ...over });
  const open = { kind: 'segment' as const, firstPtsUs: 0, bytes: 1000 };
  const key = (ptsUs: number): { keyframe: boolean; ptsUs: number } => ({ keyframe: true, ptsUs });
  const delta = (ptsUs: number): { keyframe: boolean; ptsUs: number } => ({ keyframe: false, ptsUs });
  test.each<[string, Parameters<typeof segmentAction>, string]>([
    ['nothing open, keyframe, segments wanted', [null, key(0), want()], 'start'],
    ['nothing open, delta frame: wait for a keyframe', [null, delta(0), want()], 'skip'],
    ['nothing open, nothing wanted', [null, key(0), want({ kind: null })], 'skip'],
    ['delta frames always follow their keyframe', [open, delta(90e6), want({ cutRequested: true })], 'write'],
    ['keyframe before the length', [open, key(59e6), want()], 'write'],
    ['keyframe within the tolerance of the length', [open, key(59.8e6), want()], 'start'],
    ['keyframe past the length', [open, key(61e6), want()], 'start'],
    ['cut requested', [open, key(1e6), want({ cutRequested: true })], 'start'],
    ['kind switched (continuous off, look-back on)', [open, key(1e6), want({ kind: 'lookback' })], 'start'],
    ['nothing wanted any more', [open, key(1e6), want({ kind: null })], 'end'],
    ['byte limit reached', [open, key(1e6), want({ maxBytes: 1000 })], 'start'],
    ['short segments: tolerance is a quarter of the length', [open, key(0.7e6), want({ lengthUs: 1e6 })], 'write'],
    ['short segments: at three quarters', [open, key(0.75e6), want({ lengthUs: 1e6 })], 'start'],
  ])('%s', (_name, args, expected) => {
    expect(segmentAction(...args)).toBe(expected);
  });
});

describe('lookbackEvictions (pure)', () => {
  const s = (bytes: number, pinned = false): { bytes: number; pinned: boolean } => ({ bytes, pinned });
  test.each<[string, ReturnType<typeof s>[], number, number, number[]]>([
    ['under the cap', [s(100), s(100)], 100, 400, []],
    ['exactly at the cap', [s(100), s(100)], 200, 400, []],
    ['oldest first until it fits', [s(100), s(100), s(100)], 150, 300, [0, 1]],
    ['pinned segments are skipped', [s(100, true), s(100), s(100)], 150, 300, [1, 2]],
    ['all pinned: nothing to delete', [s(100, true)], 500, 300, []],
  ])('%s', (_name, finished, openBytes, max, expected) => {
    expect(lookbackEvictions(finished, openBytes, max)).toEqual(expected);
  });
});

describe('MP4 sample helpers (pure)', () => {
  test('length-prefixed NAL units become Annex-B with 4-byte start codes', () => {
    const sample = Buffer.from([0, 0, 0, 2, 0x09, 0xf0, 0, 0, 0, 3, 0x65, 1, 2]);
    expect(lengthPrefixedToAnnexB(sample, 4)).toEqual(Buffer.from([0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x65, 1, 2]));
    expect(lengthPrefixedToAnnexB(Buffer.from([0, 2, 0x09, 0xf0]), 2)).toEqual(Buffer.from([0, 0, 0, 1, 0x09, 0xf0]));
  });

  test('a length past the sample is RECORDER_JOIN_FAILED', () => {
    expect(() => lengthPrefixedToAnnexB(Buffer.from([0, 0, 0, 9, 0x65]), 4)).toThrow(expect.objectContaining({ code: 'RECORDER_JOIN_FAILED' }));
  });

  test('avcC: length size, first SPS and PPS', () => {
    const record = Buffer.from('0142c00bffe100156742c00bda0507e840000003004000000523c50aa801000468ce0fc8', 'hex');
    const parsed = parseAvcC(record);
    expect(parsed.lengthSize).toBe(4);
    expect(parsed.sps?.toString('hex')).toBe('6742c00bda0507e840000003004000000523c50aa8');
    expect(parsed.pps?.toString('hex')).toBe('68ce0fc8');
  });

  test('memory ids name the file YYYY-MM-DD_HH-MM-SS-MEMORY and parse back', () => {
    const at = new Date(2025, 5, 1, 8, 5, 9, 123).getTime();
    expect(memoryId(at)).toBe('2025-06-01_08-05-09-MEMORY');
    expect(memoryId(at, 'cam', 2)).toBe('2025-06-01_08-05-09-MEMORY-2');
    expect(memoryId(at, 'garage')).toBe('2025-06-01_08-05-09-MEMORY_garage');
    expect(parseRecordingId(memoryId(at, 'garage', 3))).toEqual({ startedAtMs: at - 123, kind: 'memory', camera: 'garage' });
  });
});

describe('continuous segments (real encoder, ffprobe)', () => {
  test('consecutive segments join with no frame missing or repeated; one folder per day; sidecars of kind segment', async () => {
    const { dir, cleanup } = tempDir();
    try {
      // 10 fps with every 7th frame dropped upstream and ±15 ms jitter: a unique timestamp pattern.
      const pts = irregularTimestamps(75, FPS, { dropEvery: 7, jitterUs: 30_000 });
      const frames = pts.map((t, i) => noisyFrame(i, t, false));
      const segmenter = segmenterFor(dir, { continuous: true, segmentS: 2 });
      const indexed: SegmentRecord[] = [];
      segmenter.onSegment((record) => indexed.push(record));
      await segmenter.open();
      await run(frames, segmenter);
      await segmenter.stop();
      const records = segmenter.finished();
      expect(records.length).toBeGreaterThanOrEqual(3);
      expect(indexed.map((r) => r.id).sort()).toEqual(records.map((r) => r.id).sort());

      let expectedStart = 0;
      for (const record of records) {
        expect(record.kind).toBe('segment');
        const sidecar = await readSidecar(path.join(dir, `events/${record.id.slice(0, 10)}/${record.id}.json`));
        expect(sidecar).toMatchObject({ kind: 'segment', triggeredAt: null, frames: record.frames });
        expect(sidecar.files.clip).toBe(`events/${record.id.slice(0, 10)}/${record.id}.mp4`);
        expect(sidecar.files.thumbnail).toBeDefined();
        const p = await probe(record.file);
        expect(p.moovFirst).toBe(true);
        expect(p.packets[0].key).toBe(true);
        expect(p.packets[0].ptsUs).toBe(0);
        // Every segment but the last ends right before a keyframe, about segmentS long.
        const start = locate(p.packets.map((x) => x.ptsUs), pts);
        expect(start).toBe(expectedStart);
        expectedStart = start + p.packets.length;
        // The pictures are the frames the timestamps say.
        const means = await decodedLumaMeans(record.file, W, H);
        expect(means.map((m, k) => Math.abs(m - lumaOf(start + k)) < 3)).toEqual(means.map(() => true));
      }
      // Counting frames across every boundary: all of them, each once.
      expect(expectedStart).toBe(pts.length);
      for (const record of records.slice(0, -1)) expect((record.lastPtsUs - record.firstPtsUs) / 1e6).toBeGreaterThanOrEqual(1.5);
    } finally {
      cleanup();
    }
  }, 120_000);
});

describe('crash recovery of segments and memories', () => {
  test('a continuous segment and a memory left half-written are recovered with their kind; the memory stays a favourite', async () => {
    const { dir, cleanup } = tempDir();
    const crashed = tempDir();
    try {
      const pts = irregularTimestamps(45, FPS);
      const frames = pts.map((t, i) => noisyFrame(i, t, false));
      const units: AccessUnit[] = [];
      const segmenter = segmenterFor(dir, { continuous: true, segmentS: 60 });
      await segmenter.open();
      const encoder = createEncoder({ width: W, height: H, fps: FPS, gopFrames: GOP, policy: 'wait' });
      encoder.onUnit((unit) => {
        units.push(unit);
        segmenter.push(unit);
      });
      await encoder.start();
      for (const frame of frames) {
        encoder.encode(frame);
        if (encoder.busy()) await encoder.drained();
      }
      await encoder.stop();
      // The segment is still open: copy its files as a power cut would leave them.
      const id = readdirSync(path.join(dir, 'events', '2025-06-01')).find((n) => n.endsWith('.part.mp4'))?.replace('.part.mp4', '') as string;
      await new Promise((r) => setTimeout(r, 300));
      const from = partPaths(dir, id);
      const to = partPaths(crashed.dir, id);
      mkdirSync(path.dirname(to.clip), { recursive: true });
      copyFileSync(from.clip, to.clip);
      copyFileSync(from.info, to.info);
      await segmenter.stop();
      // A memory whose writer died before its remux: a complete fragmented file and its part info.
      const memory = memoryId(units[0].wallMs);
      const parts = partPaths(crashed.dir, memory);
      const writer = createClipWriter({ path: parts.clip, fsync: false, fragmentMs: 500, frameUs: 1e5 });
      for (const unit of units) writer.write(unit);
      await writer.close();
      await writePartInfo(parts.info, { version: 1, id: memory, camera: 'cam', kind: 'memory', firstWallMs: units[0].wallMs, firstPtsUs: units[0].ptsUs, triggerPtsUs: units[units.length - 1].ptsUs, triggerWallMs: units[units.length - 1].wallMs, width: W, height: H, triggerLevel: null });

      const recovered = await recoverPartialClips({ dataDir: crashed.dir });
      const byId = new Map(recovered.map((r) => [r.id, r]));
      expect(byId.get(id)?.status).toBe('recovered');
      expect(byId.get(id)?.recording?.sidecar).toMatchObject({ kind: 'segment', triggeredAt: null });
      expect(byId.get(memory)?.recording?.sidecar).toMatchObject({ kind: 'memory', favorite: true, frames: units.length });
      const p = await probe(path.join(crashed.dir, byId.get(id)?.recording?.sidecar?.files.clip as string));
      expect(p.packets[0].key).toBe(true);
      expect(p.packets.length).toBeGreaterThanOrEqual(GOP);
    } finally {
      cleanup();
      crashed.cleanup();
    }
  }, 120_000);
});

describe('look-back and memories (real encoder, ffprobe)', () => {
  test('the look-back stays under its byte cap while recording more than it', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const capBytes = 400_000;
      const frames = irregularTimestamps(300, FPS).map((t, i) => noisyFrame(i, t));
      const segmenter = segmenterFor(dir, { lookbackMaxBytes: capBytes, lookbackSegmentS: 2 });
      await segmenter.open();
      const onDisk = (): number => readdirSync(path.join(dir, LOOKBACK_DIR)).reduce((sum, name) => sum + statSync(path.join(dir, LOOKBACK_DIR, name)).size, 0);
      let written = 0;
      let peak = 0;
      await run(frames, segmenter, async (i) => {
        if (i % GOP !== GOP - 1) return;
        await segmenter.settled();
        peak = Math.max(peak, onDisk());
      });
      await segmenter.stop();
      written = segmenter.stats().segmentsWritten;
      const stats = segmenter.stats();
      expect(stats.lookbackEvicted).toBeGreaterThan(0);
      expect(peak).toBeLessThanOrEqual(capBytes);
      expect(onDisk()).toBeLessThanOrEqual(capBytes);
      expect(onDisk()).toBe(stats.lookbackBytes);
      // More was recorded than the cap holds (evicted segments were at least as big as a kept one).
      const keptAvg = stats.lookbackBytes / stats.lookbackSegments;
      expect(written).toBeGreaterThan(stats.lookbackSegments);
      expect(keptAvg * written).toBeGreaterThan(capBytes * 1.5);
      // Nothing of the look-back is in the event folders.
      expect(() => readdirSync(path.join(dir, 'events'))).toThrow();
    } finally {
      cleanup();
    }
  }, 120_000);

  test('a protected span survives the cap (newer segments go instead) until it is released', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const capBytes = 400_000;
      const pts = irregularTimestamps(200, FPS);
      const frames = pts.map((t, i) => noisyFrame(i, t));
      const segmenter = segmenterFor(dir, { lookbackMaxBytes: capBytes, lookbackSegmentS: 2 });
      await segmenter.open();
      let release: (() => void) | null = null;
      await run(frames, segmenter, async (i) => {
        // Someone pressed "save" at frame 60, asking for the 4 s before it.
        if (i === 60) release = segmenter.protect(pts[60] - 4e6, pts[60]);
        if (i === 150) await segmenter.settled();
      });
      await segmenter.flush();
      const kept = segmenter.finished();
      // Every frame of the protected span is still in the look-back, though far older than the rest.
      const covering = kept.filter((r) => r.lastPtsUs >= pts[60] - 4e6 && r.firstPtsUs <= pts[60]);
      expect(covering[0].firstPtsUs).toBeLessThanOrEqual(pts[60] - 4e6);
      expect(covering[covering.length - 1].lastPtsUs).toBeGreaterThanOrEqual(pts[60]);
      // The cap was kept by evicting segments recorded after the press instead.
      expect(segmenter.stats().lookbackEvicted).toBeGreaterThan(0);
      expect(kept.filter((r) => !covering.includes(r)).every((r) => r.firstPtsUs > pts[60])).toBe(true);
      (release as unknown as () => void)();
      await segmenter.settled();
      // Released: the cap holds again by the same rule (oldest first).
      expect(segmenter.stats().lookbackBytes).toBeLessThanOrEqual(capBytes);
    } finally {
      cleanup();
    }
  }, 120_000);

  test('a memory joins look-back segments with exact timestamps, starts at a keyframe and lasts what was asked within one GOP', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const pts = irregularTimestamps(120, FPS, { dropEvery: 7, jitterUs: 30_000 });
      const frames = pts.map((t, i) => noisyFrame(i, t, false));
      const segmenter = segmenterFor(dir, { lookbackMaxBytes: 50_000_000, lookbackSegmentS: 2 });
      await segmenter.open();
      await run(frames, segmenter);
      await segmenter.flush();
      const sources = segmenter.finished();
      expect(sources.length).toBeGreaterThanOrEqual(4);
      expect(sources.every((s) => s.kind === 'lookback' && s.file.includes(LOOKBACK_DIR))).toBe(true);

      const press = 100; // the frame the button was pressed on
      const askedUs = 5_000_000;
      const saved = await writeMemory({ dataDir: dir, sources, fromPtsUs: pts[press] - askedUs, toPtsUs: pts[press], triggerWallMs: frames[press].wallMs, fsync: false, fps: FPS });
      expect(saved.sidecar).toMatchObject({ kind: 'memory', favorite: true });
      expect(saved.sidecar.id).toMatch(/^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}-MEMORY$/);
      expect(path.basename(saved.sidecar.files.clip)).toBe(`${saved.sidecar.id}.mp4`);
      expect(saved.segments).toBeGreaterThanOrEqual(3);
      const file = path.join(dir, saved.sidecar.files.clip);
      const p = await probe(file);
      expect(p.moovFirst).toBe(true);
      expect(p.packets[0].key).toBe(true);
      expect(p.frames[0].pictType).toBe('I');
      const start = locate(p.packets.map((x) => x.ptsUs), pts);
      // It ends on the press frame and starts at the newest keyframe at or before press - 5 s.
      expect(start + p.packets.length - 1).toBe(press);
      expect(start % GOP).toBe(0);
      expect(pts[start]).toBeLessThanOrEqual(pts[press] - askedUs);
      expect(pts[start + GOP]).toBeGreaterThan(pts[press] - askedUs);
      const durationUs = p.formatDurationS * 1e6;
      expect(durationUs).toBeGreaterThanOrEqual(askedUs);
      expect(durationUs).toBeLessThanOrEqual(askedUs + (GOP + 2) * (1e6 / FPS));
      const means = await decodedLumaMeans(file, W, H);
      expect(means.map((m, k) => Math.abs(m - lumaOf(start + k)) < 3)).toEqual(means.map(() => true));

      // Asking for more than exists gives everything there is, from the very first frame.
      const all = await writeMemory({ dataDir: dir, sources, fromPtsUs: pts[0] - 600e6, toPtsUs: pts[pts.length - 1], triggerWallMs: frames[frames.length - 1].wallMs, fsync: false, fps: FPS });
      expect(all.sidecar.id).not.toBe(saved.sidecar.id);
      const q = await probe(path.join(dir, all.sidecar.files.clip));
      expect(locate(q.packets.map((x) => x.ptsUs), pts)).toBe(0);
      expect(q.packets).toHaveLength(pts.length);

      // Nothing for a span the look-back does not hold.
      await expect(writeMemory({ dataDir: dir, sources, fromPtsUs: pts[0] - 600e6, toPtsUs: pts[0] - 300e6, triggerWallMs: 0, fsync: false })).rejects.toMatchObject({ code: 'RECORDER_NOTHING_TO_SAVE' });
      expect(RecorderError).toBeDefined();
    } finally {
      cleanup();
    }
  }, 120_000);

  test('a memory can be joined from continuous segments (faststart MP4s) too, across a cut asked for mid-segment', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const pts = irregularTimestamps(60, FPS, { jitterUs: 20_000 });
      const frames = pts.map((t, i) => noisyFrame(i, t, false));
      const segmenter = segmenterFor(dir, { continuous: true, segmentS: 60 });
      await segmenter.open();
      let cut: Promise<SegmentRecord | null> | null = null;
      await run(frames, segmenter, (i) => {
        if (i === 44) cut = segmenter.cut();
      });
      const closed = await (cut as unknown as Promise<SegmentRecord | null>);
      expect(closed).not.toBeNull();
      await segmenter.stop();
      const records = segmenter.finished();
      // The cut ended the first segment right before the keyframe after the request.
      expect(records).toHaveLength(2);
      expect(records[0].frames % GOP).toBe(0);
      const saved = await writeMemory({ dataDir: dir, sources: records, fromPtsUs: pts[52] - 3_000_000, toPtsUs: pts[52], triggerWallMs: frames[52].wallMs, fsync: false, fps: FPS });
      const p = await probe(path.join(dir, saved.sidecar.files.clip));
      const start = locate(p.packets.map((x) => x.ptsUs), pts);
      expect(start + p.packets.length - 1).toBe(52);
      expect(start).toBe(20);
    } finally {
      cleanup();
    }
  }, 120_000);
});
