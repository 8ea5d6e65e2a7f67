import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { createSource } from '@preroll/capture';
import { DEFAULT_DETECTOR_CONFIG, type DetectorEndEvent } from '@preroll/detector';
import type { RecordedClip } from '@preroll/recorder';
import { openStore, type Store } from '@preroll/store';
import { createLogger } from '../logger';
import { createPipeline } from '../pipeline';
import { UsageError, videoArgument, writeJsonLine, type Command } from './command';

const USAGE = `Usage: preroll record <video> --data DIR [--trigger-level N] [--json]
                      [--pre-roll-ms N] [--post-roll-ms N] [--no-index]

Runs the whole live pipeline (detector, H.264 encoder, pre-roll ring, recorder, store) over a
video file as fast as it decodes, and writes the same files as live mode under
DIR/events/YYYY-MM-DD/: <id>.mp4, <id>.jpg, <id>.thumb.jpg, <id>.heat.png, <id>.json, and
the SQLite index DIR/index.db.

  --data DIR          data directory (created when missing)
  --trigger-level N   detector trigger level (default ${DEFAULT_DETECTOR_CONFIG.triggerLevel}), as for "preroll detect"
  --json              one JSON object per line: per motion event
                      {"type":"event","startS","endS","peakScore","clip","id"} where "clip" is
                      the clip's path relative to DIR (forward slashes; null when no clip
                      could be written) and startS/endS are seconds from the first frame;
                      then {"type":"summary","frames","durationS","events","clips",...}
  --pre-roll-ms N     video kept before the motion (default 5000)
  --post-roll-ms N    video kept after the motion (default 3000)
  --no-index          write the files but do not touch DIR/index.db

Partial clips left in DIR by a crash are recovered (and indexed) first.
Log lines (JSON) go to stderr; set PREROLL_LOG_LEVEL=info for progress.`;

/** One line of output: a detector event and the clip it is in. */
interface EventLine {
  readonly type: 'event';
  readonly startS: number;
  readonly endS: number;
  readonly peakScore: number;
  readonly clip: string | null;
  readonly id: string | null;
}

/** `preroll record`: the live pipeline over a file, as fast as possible. */
export const recordCommand: Command = {
  name: 'record',
  summary: 'record motion clips from a video file through the whole live pipeline',
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseCliArgs(argv);
    const video = videoArgument(positionals);
    if (!values.data) throw new UsageError('--data DIR is required');
    const dataDir = path.resolve(values.data);
    const triggerLevel = numberOption(values['trigger-level'], 'trigger-level', 0.1, 65025);
    const preRollMs = numberOption(values['pre-roll-ms'], 'pre-roll-ms', 0, 600_000);
    const postRollMs = numberOption(values['post-roll-ms'], 'post-roll-ms', 0, 600_000);
    const json = values.json;
    const logger = createLogger({ level: process.env.PREROLL_LOG_LEVEL ?? 'warn' });

    const store: Store | null = values['no-index'] ? null : await openStore({ dataDir, logger });
    const source = createSource(`file:${video}`, { realtime: false, restart: false, logger: logger.child({ component: 'capture' }) });
    const pipeline = createPipeline({
      source,
      dataDir,
      detector: { triggerLevel },
      recorder: { preRollMs, postRollMs },
      // A file has no camera to wait for: an encoder that keeps dying is an error, not a glitch.
      encoder: { maxRestarts: 3 },
      onRecording: async (recording) => {
        if (store) await store.indexRecording(recording.sidecarPath);
      },
      logger,
    });

    let firstPtsUs: number | null = null;
    let lastPtsUs = 0;
    const ends: DetectorEndEvent[] = [];
    const clips: RecordedClip[] = [];
    const printed: EventLine[] = [];
    const print = (line: EventLine): void => {
      printed.push(line);
      if (json) writeJsonLine(io.stdout, line);
      else io.stdout.write(`${String(printed.length).padStart(3)}  ${line.startS.toFixed(3).padStart(9)}  ${line.endS.toFixed(3).padStart(9)}  ${line.peakScore.toFixed(2).padStart(9)}  ${line.clip ?? '(no clip)'}\n`);
    };
    const seconds = (us: number): number => Math.round((us - (firstPtsUs ?? 0)) / 1000) / 1000;
    const lineFor = (end: DetectorEndEvent, clip: RecordedClip | null): EventLine => ({
      type: 'event',
      startS: seconds(end.startPtsUs),
      endS: seconds(end.endPtsUs),
      peakScore: Math.round(end.peakScore * 1000) / 1000,
      clip: clip ? clip.sidecar.files.clip : null,
      id: clip ? clip.sidecar.id : null,
    });
    // An event is printed once its clip is final: the clip that holds the event's first frame.
    const flushEvents = (): void => {
      while (ends.length > 0) {
        const clip = clips.find((c) => c.firstPtsUs <= ends[0].startPtsUs && ends[0].startPtsUs <= c.lastPtsUs);
        if (!clip) break;
        print(lineFor(ends.shift() as DetectorEndEvent, clip));
      }
    };
    pipeline.onSample((sample) => {
      firstPtsUs ??= sample.ptsUs;
      lastPtsUs = sample.ptsUs;
    });
    pipeline.onDetectorEvent((event) => {
      if (event.type === 'end') ends.push(event);
    });
    pipeline.onClip((clip) => {
      clips.push(clip);
      flushEvents();
    });

    if (!json) io.stdout.write(`${'#'.padStart(3)}  ${'start s'.padStart(9)}  ${'end s'.padStart(9)}  ${'peak'.padStart(9)}  clip (relative to ${dataDir})\n`);
    let recovered;
    try {
      recovered = await pipeline.start();
      await pipeline.finished();
    } finally {
      await pipeline.stop();
      await store?.close();
    }
    flushEvents();
    // Events whose clip could not be written are still reported.
    for (const end of ends.splice(0)) print(lineFor(end, null));

    const frames = pipeline.stats().frames;
    const lastError = source.stats().lastError;
    if (frames === 0) {
      throw Object.assign(new Error(lastError?.message ?? `no frames decoded from ${video}`), { code: lastError?.code ?? 'CAPTURE_NO_FRAMES' });
    }
    const encoderStats = pipeline.stats().encoder;
    const recorderStats = pipeline.stats().recorder;
    const frameS = frames > 1 ? (lastPtsUs - (firstPtsUs ?? 0)) / 1e6 / (frames - 1) : 0;
    const summary = {
      type: 'summary',
      frames,
      durationS: Math.round(((lastPtsUs - (firstPtsUs ?? 0)) / 1e6 + frameS) * 1000) / 1000,
      events: printed.length,
      clips: clips.length,
      clipsFailed: recorderStats.clipsFailed,
      recovered: recovered.length,
      encodedFrames: encoderStats?.units ?? 0,
      droppedFrames: (encoderStats?.droppedFrames ?? 0) + (encoderStats?.lostFrames ?? 0),
      triggerLevel: pipeline.detector.triggerLevel(),
      dataDir,
    };
    if (json) writeJsonLine(io.stdout, summary);
    else io.stdout.write(`\n${printed.length} event(s), ${clips.length} clip(s) in ${dataDir} from ${frames} frames (${summary.durationS.toFixed(2)} s)\n`);
    return encoderStats?.state === 'failed' || recorderStats.clipsFailed > 0 ? 1 : 0;
  },
};

function parseCliArgs(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      options: {
        data: { type: 'string' },
        'trigger-level': { type: 'string' },
        json: { type: 'boolean', default: false },
        'pre-roll-ms': { type: 'string' },
        'post-roll-ms': { type: 'string' },
        'no-index': { type: 'boolean', default: false },
      },
      allowPositionals: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function numberOption(raw: string | undefined, name: string, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be a number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}
