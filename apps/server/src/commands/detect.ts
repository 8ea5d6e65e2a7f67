import { parseArgs } from 'node:util';
import { createSource } from '@preroll/capture';
import {
  createDetector,
  calibrateFromScores,
  DEFAULT_DETECTOR_CONFIG,
  loadMaskImage,
  quietestWindow,
  type DetectorEndEvent,
  type DetectorOptions,
  type MotionSample,
} from '@preroll/detector';
import { UsageError, videoArgument, writeJsonLine, type Command } from './command';

const USAGE = `Usage: preroll detect <video> [--trigger-level N] [--json] [--mask FILE] [--confirm-frames N] [--gap-s S]

Runs the motion detector over a video file as fast as it decodes and lists the events.

  --trigger-level N   score above which a frame counts as motion (0.1..65025,
                      default ${DEFAULT_DETECTOR_CONFIG.triggerLevel}, auto); the score is the mean squared luma
                      residual per pixel of the ~160-wide analysis image, counting only change
                      that stands out of the measured noise in connected regions (0..65025)
  --json              one JSON object per line: {"type":"event","startS","endS","peakScore"}
                      per event (seconds from the first frame), then
                      {"type":"summary","frames","durationS","events","noiseFloor",
                      "suggestedTriggerLevel","triggerLevel"}
  --mask FILE         PNG or PGM the size of the frame (or of the analysis image):
                      black areas never count
  --confirm-frames N  consecutive frames above the level that start an event (default ${DEFAULT_DETECTOR_CONFIG.confirmFrames};
                      the run must also last ${DEFAULT_DETECTOR_CONFIG.confirmS} s)
  --gap-s S           seconds without motion that end an event (default ${DEFAULT_DETECTOR_CONFIG.gapS})`;

/** One detected event, in seconds from the first frame of the video. */
export interface DetectedEvent {
  readonly startS: number;
  readonly endS: number;
  readonly peakScore: number;
}

/** What a run over a file found. */
export interface DetectFileResult {
  readonly frames: number;
  readonly durationS: number;
  readonly events: DetectedEvent[];
  /**
   * The file's noise floor: 95th percentile of the scores of its quietest window (of
   * `calibrationWindowS`, 5 s by default), found without regard to the trigger level.
   */
  readonly noiseFloor: number;
  /** What auto-calibration on that quiet window suggests. */
  readonly suggestedTriggerLevel: number;
  readonly triggerLevel: number;
  /** Every sample, when `keepSamples` was asked (for the bench's parameter sweep). */
  readonly samples?: MotionSample[];
}

/**
 * Runs the detector over every frame of a video file, decoded by the capture package's
 * `file:` source in fast mode (as fast as ffmpeg decodes, no frame skipped). `onEvent` is
 * called as each event ends. Rejects with the source's CaptureError when the file cannot be
 * decoded.
 */
export async function detectFile(
  path: string,
  options: DetectorOptions & { keepSamples?: boolean } = {},
  onEvent?: (event: DetectedEvent) => void,
): Promise<DetectFileResult> {
  const { keepSamples, ...detectorOptions } = options;
  const detector = createDetector(detectorOptions);
  const source = createSource(`file:${path}`, { realtime: false, restart: false });
  const events: DetectedEvent[] = [];
  const judged: { ptsUs: number; score: number }[] = [];
  const samples: MotionSample[] = [];
  let frames = 0;
  let firstPtsUs = 0;
  let lastPtsUs = 0;
  let failure: Error | null = null;

  const record = (end: DetectorEndEvent): void => {
    const event = { startS: seconds(end.startPtsUs - firstPtsUs), endS: seconds(end.endPtsUs - firstPtsUs), peakScore: round3(end.peakScore) };
    events.push(event);
    onEvent?.(event);
  };
  source.onState((state, error) => {
    if (state === 'failed' && error) failure = error;
  });
  source.onFrame((frame) => {
    if (frames === 0) firstPtsUs = frame.ptsUs;
    lastPtsUs = frame.ptsUs;
    frames++;
    const { sample, events: happened } = detector.push(frame);
    if (keepSamples) samples.push(sample);
    if (sample.ignored === null) judged.push({ ptsUs: sample.ptsUs, score: sample.score });
    for (const event of happened) if (event.type === 'end') record(event);
  });
  try {
    await source.start();
    await source.ended();
  } finally {
    await source.stop();
  }
  for (const event of detector.flush()) if (event.type === 'end') record(event);
  const lastError = source.stats().lastError;
  if (frames === 0) throw failure ?? Object.assign(new Error(lastError?.message ?? `no frames decoded from ${path}`), { code: lastError?.code ?? 'CAPTURE_NO_FRAMES' });
  if (failure) throw failure;
  const frameS = frames > 1 ? (lastPtsUs - firstPtsUs) / 1e6 / (frames - 1) : 0;
  const calibration = calibrateFromScores(quietestWindow(judged, detector.config().calibrationWindowS), detector.config());
  return {
    frames,
    durationS: round3((lastPtsUs - firstPtsUs) / 1e6 + frameS),
    events,
    noiseFloor: round3(calibration.noiseFloor),
    suggestedTriggerLevel: calibration.suggestedTriggerLevel,
    triggerLevel: detector.triggerLevel(),
    ...(keepSamples ? { samples } : {}),
  };
}

/** `preroll detect`: offline motion detection over a file. */
export const detectCommand: Command = {
  name: 'detect',
  summary: 'run the motion detector over a video file and list the events',
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseCliArgs(argv);
    const video = videoArgument(positionals);
    const options: DetectorOptions = {
      triggerLevel: numberOption(values['trigger-level'], 'trigger-level', 0.1, 65025),
      confirmFrames: numberOption(values['confirm-frames'], 'confirm-frames', 1, 1000, true),
      gapS: numberOption(values['gap-s'], 'gap-s', 0, 3600),
      mask: values.mask ? { image: await loadMaskImage(values.mask) } : undefined,
    };
    const json = values.json;
    if (!json) io.stdout.write(`${'#'.padStart(3)}  ${'start s'.padStart(9)}  ${'end s'.padStart(9)}  ${'length s'.padStart(8)}  ${'peak'.padStart(9)}\n`);
    let count = 0;
    const result = await detectFile(video, options, (event) => {
      count++;
      if (json) writeJsonLine(io.stdout, { type: 'event', ...event });
      else
        io.stdout.write(
          `${String(count).padStart(3)}  ${event.startS.toFixed(3).padStart(9)}  ${event.endS.toFixed(3).padStart(9)}  ${(event.endS - event.startS).toFixed(2).padStart(8)}  ${event.peakScore.toFixed(2).padStart(9)}\n`,
        );
    });
    if (json) {
      writeJsonLine(io.stdout, {
        type: 'summary',
        frames: result.frames,
        durationS: result.durationS,
        events: result.events.length,
        noiseFloor: result.noiseFloor,
        suggestedTriggerLevel: result.suggestedTriggerLevel,
        triggerLevel: result.triggerLevel,
      });
    } else {
      io.stdout.write(
        `\n${result.events.length} event(s) in ${result.frames} frames (${result.durationS.toFixed(2)} s) at trigger level ${result.triggerLevel}; ` +
          `noise floor ${result.noiseFloor}, suggested trigger level ${result.suggestedTriggerLevel}\n`,
      );
    }
    return 0;
  },
};

function parseCliArgs(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      options: {
        'trigger-level': { type: 'string' },
        json: { type: 'boolean', default: false },
        mask: { type: 'string' },
        'confirm-frames': { type: 'string' },
        'gap-s': { type: 'string' },
      },
      allowPositionals: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function numberOption(raw: string | undefined, name: string, min: number, max: number, integer = false): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function seconds(us: number): number {
  return round3(us / 1e6);
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
