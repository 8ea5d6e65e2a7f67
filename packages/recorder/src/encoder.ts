import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import { retainFrame, type Frame, type FrameRelease } from '@preroll/capture';
import { createEmitter, createRestartSupervisor, DEFAULT_BACKOFF, describeExit, ffmpegVersion, hasEncoder, spawnFfmpeg, type BackoffOptions, type ChildHandle, type ExitInfo, type RestartSupervisor } from '@preroll/process';
import { createAccessUnitSplitter, createParameterSetKeeper, type AccessUnitSplitter } from '@preroll/capture';
import { RecorderError } from './errors';
import type { AccessUnit } from '@preroll/capture';

/** H.264 encoders Preroll drives; `auto` picks the Pi's hardware encoder when it is usable. */
export type EncoderCodec = 'libx264' | 'h264_v4l2m2m';

/**
 * What happens to a frame when ffmpeg falls behind by more than `maxInFlightFrames`:
 * `drop` (live cameras: the frame is not written, and counted) or `wait` (a pausable file
 * source: every frame is written, and `busy()` tells the caller to pause its source).
 */
export type BackpressurePolicy = 'drop' | 'wait';

/** Options of {@link createEncoder}. */
export interface EncoderOptions {
  readonly width: number;
  readonly height: number;
  /** Nominal frame rate: sets the keyframe interval and the rate control's idea of time. */
  readonly fps: number;
  /** Default `libx264`. */
  readonly codec?: EncoderCodec;
  /** Frames between keyframes; default `round(fps)` (a keyframe every second). */
  readonly gopFrames?: number;
  /** libx264 constant rate factor (0..51, lower is better); default 23. */
  readonly crf?: number;
  /** Target bitrate for hardware encoders, kbit/s; default 4000. */
  readonly bitrateKbps?: number;
  /** Default `drop`. */
  readonly policy?: BackpressurePolicy;
  /** Frames written to ffmpeg and not yet back as access units before ffmpeg counts as behind. Default 6. */
  readonly maxInFlightFrames?: number;
  /** Restart delays after ffmpeg dies. */
  readonly backoff?: BackoffOptions;
  /** Give up after this many restarts in a row without a healthy run (default: never). */
  readonly maxRestarts?: number;
  readonly logger?: Logger;
}

/** Why the stream of access units broke: units before and after do not continue each other. */
export interface EncoderDiscontinuity {
  readonly reason: 'encoder-exited';
  /** Frames written to the dead process that never came back encoded. */
  readonly lostFrames: number;
  readonly exit: ExitInfo;
}

/** Where the encoder is in its life. */
export type EncoderState = 'idle' | 'starting' | 'running' | 'restarting' | 'stopping' | 'stopped' | 'failed';

/** Counters for `/api/status`, logs and the benchmark. */
export interface EncoderStats {
  readonly state: EncoderState;
  readonly codec: EncoderCodec;
  /** Frames handed to `encode()`. */
  readonly framesIn: number;
  /** Frames written to ffmpeg. */
  readonly framesWritten: number;
  /** Access units delivered to listeners. */
  readonly units: number;
  readonly keyframes: number;
  readonly bytesOut: number;
  /** Frames not written because ffmpeg was behind or restarting (policy `drop`). */
  readonly droppedFrames: number;
  /** Frames lost inside an ffmpeg that died. */
  readonly lostFrames: number;
  /** Units that had no frame to pair with (should stay 0; logged when not). */
  readonly unpairedUnits: number;
  readonly restarts: number;
  /** Frames written and not yet back as units. */
  readonly inFlight: number;
  readonly stderrTail: readonly string[];
}

/**
 * The H.264 encoder: one supervised ffmpeg child reading raw I420 frames on stdin and writing
 * an Annex-B stream on stdout, split into {@link AccessUnit}s that carry the capture timestamps
 * of their frames (a FIFO pairs them 1:1: no B-frames, no frame dropping inside ffmpeg).
 */
export interface Encoder {
  /** Spawns ffmpeg. Resolves once it runs; rejects with `RECORDER_ENCODER_UNAVAILABLE` when the codec is missing. */
  start(): Promise<void>;
  /**
   * Hands a frame to the encoder. Returns false when the frame was dropped (policy `drop`
   * while ffmpeg is behind or restarting); with policy `wait` every frame is accepted and
   * the caller watches {@link busy}.
   */
  encode(frame: Frame): boolean;
  /** True while ffmpeg is behind by `maxInFlightFrames` or not running: a pausable source should pause. */
  busy(): boolean;
  /** Resolves once {@link busy} is false again (or the encoder stopped or failed). */
  drained(): Promise<void>;
  /** Adds an access-unit listener (called in stream order); returns a function that removes it. */
  onUnit(listener: (unit: AccessUnit) => void): () => void;
  /** Adds a listener told when ffmpeg died and was restarted: the stream is not continuous there. */
  onDiscontinuity(listener: (info: EncoderDiscontinuity) => void): () => void;
  /** Adds a state listener. */
  onState(listener: (state: EncoderState, error?: RecorderError) => void): () => void;
  /** Ends stdin, lets ffmpeg encode what it has, delivers the last units, waits for exit. Idempotent. */
  stop(): Promise<void>;
  state(): EncoderState;
  stats(): EncoderStats;
  /** Process id of the running ffmpeg (for tests and status), or null. */
  pid(): number | null;
}

/** Settings that decide ffmpeg's command line. */
export interface EncoderArgsInput {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly codec: EncoderCodec;
  readonly gopFrames: number;
  readonly crf: number;
  readonly bitrateKbps: number;
  /** libx264: cap the constant-quality rate at `bitrateKbps` (when the user set one). */
  readonly capBitrate?: boolean;
  /** ffmpeg ≥ 5.1 knows `-fps_mode`; older ones only `-vsync`. */
  readonly hasFpsMode: boolean;
}

/**
 * ffmpeg's argv for the encoder (pure). Raw I420 in, Annex-B out, flushed per packet so a
 * picture leaves ffmpeg as soon as it is encoded; keyframes exactly every `gopFrames` frames
 * (no scene-cut keyframes), no B-frames (decode order = capture order, so the FIFO pairing
 * holds), AUDs between pictures, and passthrough timing so ffmpeg never drops or duplicates.
 */
export function buildEncoderArgs(input: EncoderArgsInput): string[] {
  return [
    '-loglevel', 'warning',
    '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', `${input.width}x${input.height}`, '-r', String(input.fps), '-i', 'pipe:0',
    '-an', '-sn', '-dn',
    ...(input.hasFpsMode ? ['-fps_mode', 'passthrough'] : ['-vsync', 'passthrough']),
    ...buildEncoderCodecArgs(input),
    '-flush_packets', '1',
    '-f', 'h264', 'pipe:1',
  ];
}

/**
 * The codec part of the encoder's argv (pure): codec, quality or bitrate, AUDs, keyframes
 * exactly every `gopFrames` frames, no B-frames, 4:2:0. The Pi camera's split route (an ffmpeg
 * that reads the camera itself) encodes with these same arguments.
 */
export function buildEncoderCodecArgs(input: Pick<EncoderArgsInput, 'codec' | 'gopFrames' | 'crf' | 'bitrateKbps' | 'capBitrate'>): string[] {
  const args = ['-c:v', input.codec];
  if (input.codec === 'libx264') {
    args.push('-preset', 'ultrafast', '-tune', 'zerolatency', '-crf', String(input.crf), '-x264-params', 'aud=1:repeat-headers=1');
    // Constant quality, but never above the cap (a noisy night scene, a node on a slow link).
    if (input.capBitrate) args.push('-maxrate', `${input.bitrateKbps}k`, '-bufsize', `${input.bitrateKbps * 2}k`);
  } else {
    args.push('-b:v', `${input.bitrateKbps}k`, '-bsf:v', 'h264_metadata=aud=insert');
  }
  args.push('-g', String(input.gopFrames), '-keyint_min', String(input.gopFrames), '-sc_threshold', '0', '-bf', '0', '-pix_fmt', 'yuv420p');
  return args;
}

/**
 * Picks the encoder: `libx264` unless `h264_v4l2m2m` is asked for (or `auto` on a machine
 * with the Pi's encoder device /dev/video11). Throws `RECORDER_ENCODER_UNAVAILABLE` when the
 * chosen one is not in this ffmpeg build.
 */
export async function resolveEncoderCodec(preference: EncoderCodec | 'auto' = 'libx264'): Promise<EncoderCodec> {
  let codec: EncoderCodec = preference === 'auto' ? 'libx264' : preference;
  if (preference === 'auto' && existsSync('/dev/video11') && (await hasEncoder('h264_v4l2m2m'))) codec = 'h264_v4l2m2m';
  if (!(await hasEncoder(codec))) {
    throw new RecorderError('RECORDER_ENCODER_UNAVAILABLE', `this ffmpeg has no ${codec} encoder`, codec);
  }
  return codec;
}

/**
 * The codec arguments {@link createEncoder} would use for these options, with its defaults
 * (CRF 23, 4000 kbit/s, a keyframe a second, libx264): for an ffmpeg of the capture's that
 * encodes the camera itself. Throws `RECORDER_BAD_OPTIONS` for bad settings.
 */
export function encoderCodecArgs(options: Pick<EncoderOptions, 'fps' | 'codec' | 'gopFrames' | 'crf' | 'bitrateKbps'>): string[] {
  return buildEncoderCodecArgs(resolveCodecSettings(options));
}

/** The codec settings with their defaults, checked (one place for {@link createEncoder} and {@link encoderCodecArgs}). */
function resolveCodecSettings(options: Pick<EncoderOptions, 'fps' | 'codec' | 'gopFrames' | 'crf' | 'bitrateKbps'>): {
  codec: EncoderCodec;
  gopFrames: number;
  crf: number;
  bitrateKbps: number;
  capBitrate: boolean;
} {
  checkNumber('fps', options.fps, 0.1, 240);
  const codec = options.codec ?? 'libx264';
  if (codec !== 'libx264' && codec !== 'h264_v4l2m2m') throw new RecorderError('RECORDER_BAD_OPTIONS', `unknown encoder ${String(codec)}`, { key: 'codec', value: codec });
  const gopFrames = options.gopFrames ?? Math.max(1, Math.round(options.fps));
  checkInt('gopFrames', gopFrames, 1, 10_000);
  const crf = options.crf ?? 23;
  checkNumber('crf', crf, 0, 51);
  const bitrateKbps = options.bitrateKbps ?? 4000;
  checkNumber('bitrateKbps', bitrateKbps, 50, 100_000);
  return { codec, gopFrames, crf, bitrateKbps, capBitrate: options.bitrateKbps !== undefined };
}

/** A frame the encoder keeps until it can write it, with its reference on the frame's buffer. */
interface HeldFrame {
  readonly frame: Frame;
  readonly release: FrameRelease;
}

interface PendingFrame {
  readonly seq: number;
  readonly ptsUs: number;
  readonly wallMs: number;
}

/** Creates the encoder; spawns nothing until `start()`. Throws `RECORDER_BAD_OPTIONS` for bad settings. */
export function createEncoder(options: EncoderOptions): Encoder {
  checkInt('width', options.width, 2, 8192, true);
  checkInt('height', options.height, 2, 8192, true);
  const settings = resolveCodecSettings(options);
  const maxInFlight = options.maxInFlightFrames ?? 6;
  checkInt('maxInFlightFrames', maxInFlight, 1, 1000);
  const policy = options.policy ?? 'drop';
  return new FfmpegEncoder({ ...options, ...settings, maxInFlightFrames: maxInFlight, policy });
}

type ResolvedOptions = EncoderOptions & Required<Pick<EncoderOptions, 'codec' | 'gopFrames' | 'crf' | 'bitrateKbps' | 'maxInFlightFrames' | 'policy'>> & { readonly capBitrate: boolean };

class FfmpegEncoder implements Encoder {
  private child: ChildHandle | null = null;
  private currentState: EncoderState = 'idle';
  private splitter: AccessUnitSplitter = createAccessUnitSplitter();
  private readonly fifo: PendingFrame[] = [];
  // Frames held while ffmpeg starts (both policies, bounded) or restarts (policy `wait` only; bounded by the paused source).
  // Each keeps a reference on its (possibly pooled) buffer until it is written or dropped.
  private readonly held: HeldFrame[] = [];
  /** Every keyframe leaves with its SPS and PPS, so any keyframe can start a clip. */
  private readonly parameterSets = createParameterSetKeeper();
  // A failing consumer must not stop the encoder's read loop: the emitters log and go on.
  private readonly units = createEmitter<[AccessUnit]>('encoder units', () => this.options.logger);
  private readonly gaps = createEmitter<[EncoderDiscontinuity]>('encoder discontinuity', () => this.options.logger);
  private readonly states = createEmitter<[EncoderState, RecorderError | undefined]>('encoder state', () => this.options.logger);
  private drainWaiters: Array<() => void> = [];
  private readonly supervisor: RestartSupervisor;
  private hasFpsMode = true;
  private stdoutEnded: Promise<void> = Promise.resolve();
  private lastTail: readonly string[] = [];
  private counters = { framesIn: 0, framesWritten: 0, units: 0, keyframes: 0, bytesOut: 0, droppedFrames: 0, lostFrames: 0, unpairedUnits: 0, restarts: 0 };

  constructor(private readonly options: ResolvedOptions) {
    this.supervisor = createRestartSupervisor({ backoff: options.backoff ?? DEFAULT_BACKOFF, maxConsecutive: options.maxRestarts });
  }

  async start(): Promise<void> {
    if (this.currentState !== 'idle') throw new RecorderError('RECORDER_ENCODER_STATE', `encoder already ${this.currentState}`, this.currentState);
    this.setState('starting');
    try {
      await resolveEncoderCodec(this.options.codec);
      const version = await ffmpegVersion();
      this.hasFpsMode = !/version n?(?:[0-4]\.|5\.0)/.test(version.text);
    } catch (error) {
      this.setState('failed', error instanceof RecorderError ? error : undefined);
      throw error;
    }
    // stop() may have come while the checks ran: then nothing must be spawned.
    if (this.state() !== 'starting') return;
    this.launch();
  }

  encode(frame: Frame): boolean {
    this.counters.framesIn++;
    if (frame.width !== this.options.width || frame.height !== this.options.height) {
      this.options.logger?.warn({ width: frame.width, height: frame.height, expected: `${this.options.width}x${this.options.height}` }, 'encoder: frame of another size dropped');
      this.counters.droppedFrames++;
      return false;
    }
    const running = this.currentState === 'running' && this.child !== null;
    if (this.options.policy === 'wait') {
      if (this.currentState === 'stopped' || this.currentState === 'failed' || this.currentState === 'stopping') {
        this.counters.droppedFrames++;
        return false;
      }
      if (!running) {
        this.hold(frame);
        return true;
      }
      this.write(frame);
      return true;
    }
    if (!running && this.currentState === 'starting' && this.held.length < this.options.maxInFlightFrames) {
      // The first frames arrive while ffmpeg is still starting: hold a few instead of dropping them.
      this.hold(frame);
      return true;
    }
    if (!running || this.fifo.length >= this.options.maxInFlightFrames) {
      this.counters.droppedFrames++;
      return false;
    }
    this.write(frame);
    return true;
  }

  busy(): boolean {
    if (this.currentState === 'stopped' || this.currentState === 'failed') return false;
    if (this.currentState !== 'running') return true;
    return this.fifo.length >= this.options.maxInFlightFrames || this.held.length > 0;
  }

  drained(): Promise<void> {
    if (!this.busy()) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  onUnit(listener: (unit: AccessUnit) => void): () => void {
    return this.units.on(listener);
  }

  onDiscontinuity(listener: (info: EncoderDiscontinuity) => void): () => void {
    return this.gaps.on(listener);
  }

  onState(listener: (state: EncoderState, error?: RecorderError) => void): () => void {
    return this.states.on(listener);
  }

  async stop(): Promise<void> {
    if (this.currentState === 'stopped' || this.currentState === 'failed' || this.currentState === 'idle') {
      this.setState('stopped');
      return;
    }
    this.supervisor.cancel();
    this.setState('stopping');
    const child = this.child;
    if (child) {
      // Ending stdin makes ffmpeg encode what it holds and exit; the last units follow on stdout.
      const exit = await child.stop({ graceMs: 10_000, termMs: 2000 });
      await this.stdoutEnded;
      this.lastTail = exit.stderrTail;
      this.child = null;
    }
    this.counters.lostFrames += this.fifo.length + this.held.length;
    this.fifo.length = 0;
    this.releaseHeld();
    this.setState('stopped');
    this.wakeDrainWaiters();
  }

  state(): EncoderState {
    return this.currentState;
  }

  stats(): EncoderStats {
    return {
      state: this.currentState,
      codec: this.options.codec,
      ...this.counters,
      inFlight: this.fifo.length,
      stderrTail: this.child ? this.child.stderrTail() : [...this.lastTail],
    };
  }

  pid(): number | null {
    return this.child?.pid ?? null;
  }

  private launch(): void {
    const args = buildEncoderArgs({ ...this.options, hasFpsMode: this.hasFpsMode });
    const child = spawnFfmpeg({ name: 'encoder', args, logger: this.options.logger, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.splitter = createAccessUnitSplitter();
    const stdout = child.stdout;
    this.stdoutEnded = new Promise((resolve) => {
      if (!stdout) return resolve();
      stdout.on('data', (chunk: Buffer) => {
        if (this.child !== child) return;
        for (const data of this.splitter.push(chunk)) this.deliver(data);
      });
      stdout.once('end', () => {
        // Only a requested stop ends the stream cleanly; after a crash the last unit may be torn.
        if (this.child === child && this.currentState === 'stopping') {
          for (const data of this.splitter.flush()) this.deliver(data);
        }
        resolve();
      });
      stdout.once('close', () => resolve());
      stdout.on('error', (error) => this.options.logger?.debug({ err: error }, 'encoder: stdout error'));
    });
    // stdin backpressure: a full pipe makes write() return false; 'drain' may end busy().
    child.stdin?.on('drain', () => this.wakeDrainWaiters());
    const startedAt = Date.now();
    void child.exited.then((exit) => this.onExit(child, exit, Date.now() - startedAt));
    this.setState('running');
    for (const { frame, release } of this.held.splice(0)) {
      this.write(frame);
      release();
    }
    this.wakeDrainWaiters();
  }

  private hold(frame: Frame): void {
    this.held.push({ frame, release: retainFrame(frame) });
  }

  private releaseHeld(): void {
    for (const { release } of this.held.splice(0)) release();
  }

  private write(frame: Frame): void {
    const stdin = this.child?.stdin;
    if (!stdin || stdin.destroyed || !stdin.writable) {
      // ffmpeg is dying and its exit not handled yet: with policy `wait` the frame goes to the
      // next ffmpeg instead; a live frame is dropped.
      if (this.options.policy === 'wait') this.hold(frame);
      else this.counters.droppedFrames++;
      return;
    }
    this.fifo.push({ seq: frame.seq, ptsUs: frame.ptsUs, wallMs: frame.wallMs });
    this.counters.framesWritten++;
    // The pipe keeps a reference to the buffer, not a copy, until the write completes: the
    // frame's buffer must not go back to the pool before then (the callback also runs when the
    // pipe is destroyed with the write pending).
    const release = retainFrame(frame);
    stdin.write(frame.data, () => release());
  }

  private deliver(raw: Buffer): void {
    const { data, keyframe, codec } = this.parameterSets.complete(raw);
    const frame = this.fifo.shift();
    if (!frame) {
      this.counters.unpairedUnits++;
      this.options.logger?.error({ bytes: raw.length }, 'encoder: access unit without a frame to pair with, dropped');
      return;
    }
    this.counters.units++;
    if (keyframe) this.counters.keyframes++;
    this.counters.bytesOut += data.length;
    const unit: AccessUnit = {
      seq: frame.seq,
      ptsUs: frame.ptsUs,
      wallMs: frame.wallMs,
      keyframe,
      data,
      codec,
      width: this.options.width,
      height: this.options.height,
    };
    this.units.emit(unit);
    if (this.drainWaiters.length && !this.busy()) this.wakeDrainWaiters();
  }

  private async onExit(child: ChildHandle, exit: ExitInfo, uptimeMs: number): Promise<void> {
    if (this.child !== child) return;
    if (this.currentState === 'stopping' || this.currentState === 'stopped') return;
    // Units ffmpeg wrote before dying are still in the pipe: deliver them first.
    await this.stdoutEnded;
    if (this.child !== child || this.stopRequested()) return;
    this.child = null;
    this.lastTail = exit.stderrTail;
    const discarded = this.splitter.reset();
    const lostFrames = this.fifo.length;
    this.counters.lostFrames += lostFrames;
    this.fifo.length = 0;
    this.options.logger?.error({ exit: describeExit(exit, 10), lostFrames, discardedBytes: discarded, uptimeMs }, 'encoder: ffmpeg exited');
    const info: EncoderDiscontinuity = { reason: 'encoder-exited', lostFrames, exit };
    this.gaps.emit(info);
    const delayMs = this.supervisor.failed(uptimeMs, () => {
      if (this.currentState !== 'restarting') return;
      try {
        this.launch();
      } catch (error) {
        const failure = new RecorderError('RECORDER_ENCODER_FAILED', `encoder restart failed: ${(error as Error).message}`, undefined, { cause: error });
        this.setState('failed', failure);
        this.wakeDrainWaiters();
      }
    });
    if (delayMs === null) {
      const error = new RecorderError('RECORDER_ENCODER_FAILED', `encoder ffmpeg failed: ${describeExit(exit)}`, describeExit(exit));
      this.counters.lostFrames += this.held.length;
      this.releaseHeld();
      this.setState('failed', error);
      this.wakeDrainWaiters();
      return;
    }
    this.counters.restarts = this.supervisor.restarts;
    this.setState('restarting');
    this.options.logger?.warn({ delayMs, restarts: this.counters.restarts }, 'encoder: restarting ffmpeg');
  }

  private stopRequested(): boolean {
    return this.currentState === 'stopping' || this.currentState === 'stopped';
  }

  private wakeDrainWaiters(): void {
    if (this.busy()) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }

  private setState(state: EncoderState, error?: RecorderError): void {
    if (this.currentState === state) return;
    this.currentState = state;
    this.states.emit(state, error);
  }
}

function checkNumber(key: string, value: number, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new RecorderError('RECORDER_BAD_OPTIONS', `${key} must be a number in [${min}, ${max}]`, { key, value });
  }
}

function checkInt(key: string, value: number, min: number, max: number, even = false): void {
  checkNumber(key, value, min, max);
  if (!Number.isInteger(value) || (even && value % 2 !== 0)) {
    throw new RecorderError('RECORDER_BAD_OPTIONS', `${key} must be ${even ? 'an even' : 'an'} integer`, { key, value });
  }
}
