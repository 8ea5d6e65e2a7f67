import { parseArgs } from 'node:util';
import { chooseDefaultSource, createSource, type Frame } from '@preroll/capture';
import { UsageError, writeJsonLine, type Command } from './command';

const USAGE = `Usage: preroll probe [--source SPEC] [--frames N] [--json] [--width W --height H] [--fps F]

Is my camera working? Reads N frames (default 30) from the source and prints one line per
frame, then a summary. Exits 1 with the error code and message when the source fails.

  --source SPEC   rpicam[:WxH@FPS], file:PATH, v4l2:/dev/videoN, url:URL or demo
                  (default: the Pi camera when rpicam-vid works, else demo)
  --frames N      frames to read (1..100000, default 30)
  --json          one JSON object per line:
                  {"type":"frame","seq","ptsUs","width","height","lumaMean"} ... then
                  {"type":"summary","frames","width","height","fps","dropped"}
  --width W --height H --fps F   size and rate to ask of the source
  --timeout-s S   give up after S seconds without finishing (default 60)`;

/** `preroll probe`: reads a few frames and reports what the source delivers. */
export const probeCommand: Command = {
  name: 'probe',
  summary: 'read frames from a source and report them (is my camera working?)',
  usage: USAGE,
  async run(argv, io) {
    const { values } = parseCliArgs(argv);
    const frames = intOption(values.frames, 'frames', 30, 1, 100_000);
    const timeoutS = intOption(values['timeout-s'], 'timeout-s', 60, 1, 86_400);
    let spec = values.source;
    if (!spec) {
      const choice = await chooseDefaultSource();
      spec = choice.spec;
      io.stderr.write(`preroll probe: using source "${choice.spec}" (${choice.reason})\n`);
    }
    const source = createSource(spec, {
      width: optionalInt(values.width, 'width'),
      height: optionalInt(values.height, 'height'),
      fps: values.fps === undefined ? undefined : Number(values.fps),
      realtime: true,
      restart: false,
    });
    let count = 0;
    let firstPtsUs = 0;
    let lastPtsUs = 0;
    let done!: () => void;
    const enough = new Promise<void>((resolve) => (done = resolve));
    source.onFrame((frame) => {
      if (count >= frames) return;
      if (count === 0) firstPtsUs = frame.ptsUs;
      lastPtsUs = frame.ptsUs;
      count++;
      if (values.json) {
        writeJsonLine(io.stdout, { type: 'frame', seq: frame.seq, ptsUs: frame.ptsUs, width: frame.width, height: frame.height, lumaMean: round2(lumaMean(frame)) });
      } else {
        io.stdout.write(`frame ${frame.seq}  t=${(frame.ptsUs / 1e6).toFixed(3)} s  ${frame.width}x${frame.height}  luma ${lumaMean(frame).toFixed(1)}\n`);
      }
      if (count >= frames) done();
    });
    const timer = setTimeout(done, timeoutS * 1000);
    try {
      await source.start();
      await Promise.race([enough, source.ended()]);
    } finally {
      clearTimeout(timer);
      await source.stop();
    }
    const stats = source.stats();
    if (count === 0 && stats.lastError) throw Object.assign(new Error(stats.lastError.message), { code: stats.lastError.code });
    const fps = count > 1 && lastPtsUs > firstPtsUs ? round2(((count - 1) * 1e6) / (lastPtsUs - firstPtsUs)) : 0;
    const summary = { type: 'summary', frames: count, width: source.width, height: source.height, fps, dropped: stats.droppedFrames };
    if (values.json) writeJsonLine(io.stdout, summary);
    else io.stdout.write(`${count} frames of ${source.width}x${source.height} at ${fps} fps, ${stats.droppedFrames} dropped\n`);
    if (count < frames && stats.lastError) {
      io.stderr.write(`preroll probe: ${stats.lastError.code}: ${stats.lastError.message}\n`);
      return 1;
    }
    return 0;
  },
};

function parseCliArgs(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      options: {
        source: { type: 'string' },
        frames: { type: 'string' },
        json: { type: 'boolean', default: false },
        width: { type: 'string' },
        height: { type: 'string' },
        fps: { type: 'string' },
        'timeout-s': { type: 'string' },
      },
      allowPositionals: false,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Mean of the visible luma pixels (the frame is already packed, so no stride padding counts). */
export function lumaMean(frame: Frame): number {
  const y = frame.y;
  let sum = 0;
  for (let i = 0; i < y.length; i++) sum += y[i];
  return y.length ? sum / y.length : 0;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

function intOption(raw: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  return value;
}

function optionalInt(raw: string | undefined, name: string): number | undefined {
  return raw === undefined ? undefined : intOption(raw, name, 0, 1, 100_000);
}
