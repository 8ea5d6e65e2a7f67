import { existsSync, statSync } from 'node:fs';
import type { Logger } from 'pino';
import { createRestartSupervisor, describeExit, type BackoffOptions, DEFAULT_BACKOFF, type RestartSupervisor } from '@preroll/process';
import { alignStride, allocatingBuffers, type FrameBuffers } from './assembler';
import { DEFAULT_CAMERA_FORMAT, DEFAULT_DEMO_FORMAT, type FrameFormat } from './args';
import { CaptureError } from './errors';
import { createFrame, i420Bytes, type Frame } from './frame';
import { createFramePool, releaseFrame, type FramePool } from './pool';
import { detectBoard, type BoardInfo } from './pi';
import { startMjpegRun, type CameraJpeg, type JpegListener, type MjpegOptions } from './mjpeg';
import { monotonicUs, startFfmpegRun, startRpicamRun, type RunEvents, type SourceRun } from './run';
import type { AiCameraStats, CaptureState, CaptureStats, FrameListener, FrameSource, ReconfigureResult } from './source';
import { DetectionPairer, readPostProcessClasses, type FrameDetections } from './imx500';
import { checkFps, checkSize, describeSpec, parseSourceSpec, type SourceSpec } from './spec';
import { checkRpicamControls, rpicamControlArgs, tuningDirectory, type RpicamControls } from './controls';
import { createCameraUnitBuilder, type CameraUnit, type CameraUnitBuilder, type PassthroughOptions } from './passthrough';
import { startSplitRun, type SplitOptions } from './split';

/** Options of {@link createSource}. Every field is optional; defaults suit a live camera. */
export interface SourceOptions {
  /** Frame size and rate asked of the source (rpicam's spec wins over these). */
  readonly width?: number;
  readonly height?: number;
  readonly fps?: number;
  /** file: play at the file's own pace (default true); false decodes as fast as possible and makes the source pausable. */
  readonly realtime?: boolean;
  /** file: start again at the end (default false). */
  readonly loop?: boolean;
  /** Stop after this many seconds of input (file and demo). */
  readonly durationS?: number;
  /** rpicam: row alignment of the YUV output (default from the board: 128 on Pi 5, else 64). */
  readonly strideAlign?: number;
  /** rpicam: exact bytes per luma row, overriding the alignment. */
  readonly stride?: number;
  /** rpicam: extra arguments (e.g. `--denoise cdn_fast`, `--hflip`). */
  readonly rpicamArgs?: readonly string[];
  /** rpicam: image controls (focus, exposure, white balance...), passed after `rpicamArgs`; changed live with `reconfigure()`. */
  readonly controls?: RpicamControls;
  /** Restart the source when no frame came for this long (default 5000 ms; 0 disables). */
  readonly stallTimeoutMs?: number;
  /**
   * Give up waiting for the first frame of a run after this long (default 20000 ms; with
   * `aiCamera` {@link AI_CAMERA_FIRST_FRAME_MS}, as the sensor's network firmware loads first).
   */
  readonly firstFrameTimeoutMs?: number;
  /** Restart after a crash or stall (default true, except for a file played once). */
  readonly restart?: boolean;
  /**
   * Keep retrying when the very first run fails with a non-fatal error, instead of rejecting
   * `start()` (default false). `start()` then resolves at the first frame, at the first retry,
   * or after `startWaitMs`, whichever comes first: a camera that never answers does not hold
   * up its caller, which sees the outage in `state()` and `stats().lastError`.
   */
  readonly keepTrying?: boolean;
  /** With `keepTrying`: the longest `start()` waits for the first frame (default 10000 ms). */
  readonly startWaitMs?: number;
  readonly backoff?: BackoffOptions;
  /** How long a frame may wait for its timestamp line (default 1000 ms). */
  readonly ptsWaitMs?: number;
  /**
   * Frame buffers come from a bounded pool (`true`: {@link DEFAULT_POOL_FRAMES} buffers,
   * allocated as needed): no frame-sized allocation per frame, but a listener that keeps a frame
   * beyond its call must take a reference with `retainFrame` and release it. `false` (the
   * default, for callers that keep frames freely) allocates a buffer per frame that the
   * listeners own; it is the baseline of `pnpm bench loop`. A live source drops a frame (counted in
   * `droppedFrames` and `stats().pool.exhausted`) when consumers hold every buffer; a pausable
   * file never drops and allocates past the pool instead (counted as `overflow`).
   */
  readonly framePool?: boolean | { readonly frames: number };
  /**
   * Read the source's stdout through a FIFO straight into the frame buffers (default true): no
   * 64 KiB Buffer per pipe read, no copy for unpadded rows. `false` reads an ordinary pipe and
   * copies each chunk (the baseline of `pnpm bench loop`).
   */
  readonly directReads?: boolean;
  /**
   * url: the camera sends MJPEG: read it once, pass its JPEGs through (`onJpeg`) and decode for
   * the frames at reduced size and rate only (see `startMjpegRun`). Off by default.
   */
  readonly mjpeg?: MjpegOptions;
  /**
   * `url:` only: record the camera's own H.264 (see `passthrough.ts`) and decode only a reduced
   * stream for detection. The caller decides (usually from `probeStream`); `width`/`height`
   * are the camera's picture size, given to the units.
   */
  readonly passthrough?: PassthroughOptions & { readonly width: number; readonly height: number };
  /**
   * `rpicam` only: the split route (see `split.ts`). The encoder ffmpeg reads `rpicam-vid`'s raw
   * frames itself and hands over the H.264 units (`onUnit`, as a passthrough source) and a
   * reduced frame stream for detection; Node never copies a full-size frame. The source's
   * frames, `width`, `height` and `fps` are then the reduced stream's; units carry the camera's size.
   */
  readonly split?: SplitOptions;
  /**
   * rpicam: run the AI Camera's object detector on the sensor with this post-processing file
   * (an `imx500_object_detection` stage) and report each frame's objects at or above
   * `minConfidence` through `onDetections`. An unreadable file is logged and reported in
   * `stats().aiCamera.error`; the camera then runs without it.
   */
  readonly aiCamera?: { readonly postProcessFile: string; readonly minConfidence: number } | null;
  readonly logger?: Logger;
  /** The board, for the stride default; read from /proc/device-tree/model when absent. */
  readonly board?: BoardInfo;
}

/**
 * Creates a supervised frame source from a spec (`rpicam[:WxH@FPS]`, `file:PATH`,
 * `v4l2:/dev/videoN`, `url:URL`, `demo`). Validates the spec and options now (throws
 * CaptureError); spawns nothing until `start()`.
 */
export function createSource(specText: string | SourceSpec, options: SourceOptions = {}): FrameSource {
  const spec = typeof specText === 'string' ? parseSourceSpec(specText) : specText;
  if (options.width !== undefined || options.height !== undefined) checkSize(options.width ?? NaN, options.height ?? NaN);
  if (options.fps !== undefined) checkFps(options.fps);
  if (options.controls) checkRpicamControls(options.controls);
  if (options.passthrough && options.mjpeg) throw new CaptureError('CAPTURE_BAD_SPEC', 'a camera is either passed through (H.264) or read as MJPEG, not both', describeSpec(spec));
  if (options.split) {
    if (spec.kind !== 'rpicam') throw new CaptureError('CAPTURE_BAD_SPEC', `the split route needs an rpicam source, not ${describeSpec(spec)}`, describeSpec(spec));
    if (options.passthrough || options.mjpeg) throw new CaptureError('CAPTURE_BAD_SPEC', 'the split route is for the Pi camera; passthrough and MJPEG are for url: cameras', describeSpec(spec));
    checkSize(options.split.detectWidthPx, 32);
    checkFps(options.split.detectFps);
  }
  if (options.passthrough) {
    if (spec.kind !== 'url') throw new CaptureError('CAPTURE_BAD_SPEC', `H.264 passthrough needs a url: source, not ${describeSpec(spec)}`, describeSpec(spec));
    checkSize(options.passthrough.detectWidthPx, 32);
    checkFps(options.passthrough.detectFps);
  }
  return new SupervisedSource(spec, options);
}

const FPS_WINDOW = 30;
const WATCHDOG_MS = 250;

/**
 * Buffers in a source's frame pool by default: the capture's own, the newest frame kept for
 * photos, the live view's pending frame, and the encoder's pipe writes and start-up hold
 * (6 each by default), with room to spare. Allocated only as they are needed.
 */
export const DEFAULT_POOL_FRAMES = 16;

/** The first frame of a run with the AI Camera may take this long (network firmware upload), ms. */
export const AI_CAMERA_FIRST_FRAME_MS = 5 * 60_000;

/** Least time between two log lines about frames dropped for want of a pool buffer. */
const POOL_LOG_GAP_MS = 10_000;

class SupervisedSource implements FrameSource {
  readonly description: string;
  readonly pausable: boolean;
  readonly passthrough: boolean;
  width = 0;
  height = 0;
  fps = 0;

  private readonly frameListeners = new Set<FrameListener>();
  private readonly unitListeners = new Set<(unit: CameraUnit) => void>();
  private readonly unitBuilder: CameraUnitBuilder | null;
  /** The split route: units and reduced frames from the camera's encoder ffmpeg. */
  private readonly split: boolean;
  /** The split route: the camera's rate in this run, and its last pts line (run-relative), for the drop count. */
  private cameraFps = 0;
  private lastSensorRawUs: number | null = null;
  private lastUnitPtsUs: number | null = null;
  private unitsOutOfOrder = 0;
  private readonly detectionListeners = new Set<(detections: FrameDetections) => void>();
  /** The current run's pairing of metadata records with frames (AI Camera only). */
  private detections: DetectionPairer | null = null;
  private aiCounts = { records: 0, tensors: 0, objects: 0, corrupt: 0, unmatched: 0 };
  private aiError: CaptureError | null = null;
  private aiCorruptLoggedAtMs = -Infinity;
  private readonly stateListeners = new Set<(state: CaptureState, error?: Error) => void>();
  private readonly supervisor: RestartSupervisor;
  private readonly logger: Logger | undefined;
  private readonly restartEnabled: boolean;
  private currentState: CaptureState = 'idle';
  private run: SourceRun | null = null;
  private runFrames = 0;
  private seq = 0;
  private dropped = 0;
  private pool: FramePool | null = null;
  private poolOverflow = 0;
  private poolDrops = 0;
  private poolLoggedAtMs = -Infinity;
  private lastError: CaptureError | null = null;
  private lastTail: readonly string[] = [];
  private lastOutPtsUs: number | null = null;
  private lastOutArrivalUs = 0;
  private runOffsetUs: number | null = null;
  private lastRawPtsUs: number | null = null;
  /** Whether the current run's last frame had a stream timestamp (else its arrival time). */
  private runFromStream = true;
  private startWallMs = 0;
  private lastFrameAtMs = 0;
  private runStartedAtMs = 0;
  private paused = false;
  private lastCheckAtMs = 0;
  private watchdog: NodeJS.Timeout | null = null;
  private readonly recentPts: number[] = [];
  private controls: RpicamControls;
  private fpsOverride: number | undefined;
  private reconfigures = 0;
  private lastGapMs: number | null = null;
  /** While `reconfigure()` waits for the new run's first frame. */
  private reconfigureWait: { resolve: () => void; reject: (error: CaptureError) => void } | null = null;
  private reconfiguring: Promise<ReconfigureResult> | null = null;
  private firstFrame: { resolve: () => void; reject: (error: Error) => void } | null = null;
  /** With keepTrying: ends the wait of `start()` at the first retry. */
  private startSettled: (() => void) | null = null;
  private endedPromise: Promise<void>;
  private resolveEnded!: () => void;
  private readonly jpegListeners = new Set<JpegListener>();
  private jpegSeq = 0;
  private lastJpegPtsUs = -1;
  private jpegsBeforeFrame = 0;
  private corruptJpegs = 0;
  private analysedJpegs = 0;
  private decoderBusy = 0;
  /** MJPEG url sources only: the camera's own JPEGs, on the frames' clock. */
  readonly onJpeg?: (listener: JpegListener) => () => void;

  constructor(
    private readonly spec: SourceSpec,
    private readonly options: SourceOptions,
  ) {
    this.description = describeSpec(spec);
    this.pausable = spec.kind === 'file' && options.realtime === false;
    this.passthrough = options.passthrough !== undefined || options.split !== undefined;
    this.logger = options.logger;
    this.split = spec.kind === 'rpicam' && options.split !== undefined;
    this.supervisor = createRestartSupervisor({ backoff: options.backoff ?? DEFAULT_BACKOFF });
    this.restartEnabled = options.restart ?? !(spec.kind === 'file' && !options.loop);
    this.endedPromise = new Promise((resolve) => (this.resolveEnded = resolve));
    this.controls = options.controls ?? {};
    if (spec.kind === 'url' && options.mjpeg) {
      this.onJpeg = (listener) => {
        this.jpegListeners.add(listener);
        return () => this.jpegListeners.delete(listener);
      };
    }
    const format = this.requestedFormat();
    this.width = format.width ?? 0;
    this.height = format.height ?? 0;
    this.fps = format.fps ?? 0;
    // Units carry the camera's picture size: the probe's for a network camera, the asked one for the Pi camera.
    if (options.passthrough) this.unitBuilder = createCameraUnitBuilder(options.passthrough);
    else if (options.split) this.unitBuilder = createCameraUnitBuilder({ width: this.width, height: this.height });
    else this.unitBuilder = null;
  }

  state(): CaptureState {
    return this.currentState;
  }

  stats(): CaptureStats {
    return {
      frames: this.seq,
      droppedFrames: this.dropped,
      restarts: this.supervisor.restarts,
      fps: this.measuredFps(),
      lastError: this.lastError ? { code: this.lastError.code, message: this.lastError.message } : null,
      stderrTail: this.run ? this.run.child.stderrTail() : [...this.lastTail],
      reconfigures: this.reconfigures,
      lastGapMs: this.lastGapMs,
      pool: this.pool ? { ...this.pool.stats(), dropped: this.poolDrops, overflow: this.poolOverflow } : null,
      aiCamera: this.aiCameraStats(),
      ...(this.onJpeg ? { jpegs: { delivered: this.jpegSeq, corrupt: this.corruptJpegs, beforeFirstFrame: this.jpegsBeforeFrame, analysed: this.analysedJpegs, decoderBusy: this.decoderBusy } } : {}),
    };
  }

  private aiCameraStats(): AiCameraStats | null {
    if (this.spec.kind !== 'rpicam' || !this.options.aiCamera) return null;
    return { ...this.aiCounts, error: this.aiError ? { code: this.aiError.code, message: this.aiError.message } : null };
  }

  onDetections(listener: (detections: FrameDetections) => void): () => void {
    this.detectionListeners.add(listener);
    return () => this.detectionListeners.delete(listener);
  }

  cameraControls(): { controls: RpicamControls; fps: number } | null {
    return this.spec.kind === 'rpicam' ? { controls: this.controls, fps: this.fps } : null;
  }

  reconfigure(change: { controls?: RpicamControls; fps?: number }): Promise<ReconfigureResult> {
    if (this.spec.kind !== 'rpicam') {
      return Promise.reject(new CaptureError('CAPTURE_NOT_RECONFIGURABLE', `${this.description} has no rpicam controls`, this.description));
    }
    if (change.controls) checkRpicamControls(change.controls);
    if (change.fps !== undefined) checkFps(change.fps);
    // One change at a time: the next waits for the one running.
    const previous = this.reconfiguring ?? Promise.resolve(null);
    const next = previous.catch(() => null).then(() => this.restartWith(change));
    this.reconfiguring = next;
    void next.finally(() => {
      if (this.reconfiguring === next) this.reconfiguring = null;
    }).catch(() => undefined);
    return next;
  }

  /** Stops rpicam-vid and starts it with the new arguments; reverts to the old ones if it brings no frame. */
  private async restartWith(change: { controls?: RpicamControls; fps?: number }): Promise<ReconfigureResult> {
    if (this.currentState !== 'running' || !this.run) {
      throw new CaptureError('CAPTURE_NOT_RECONFIGURABLE', `the camera is ${this.currentState}; try again when it runs`, this.currentState);
    }
    const before = { controls: this.controls, fps: this.fpsOverride };
    const lastFrameMs = this.lastFrameAtMs;
    const lastPtsUs = this.lastOutPtsUs;
    this.controls = change.controls ?? this.controls;
    if (change.fps !== undefined) this.fpsOverride = change.fps;
    try {
      await this.relaunch();
    } catch (error) {
      if ((this.currentState as CaptureState) === 'stopped') throw error;
      this.logger?.warn({ err: (error as Error).message }, 'camera: new settings brought no frame; going back to the previous ones');
      this.controls = before.controls;
      this.fpsOverride = before.fps;
      try {
        await this.relaunch();
      } catch (again) {
        if ((this.currentState as CaptureState) === 'stopped') throw again;
        // The old settings fail too: leave it to the supervisor's restarts, as after a crash.
        this.logger?.error({ err: (again as Error).message }, 'camera: the previous settings bring no frame either');
        if (this.run) {
          const run = this.run;
          this.run = null;
          void run.stop();
        }
        this.onRunFailed(again instanceof CaptureError ? again : new CaptureError('CAPTURE_RECONFIGURE_FAILED', String(again)), 0);
      }
      throw new CaptureError('CAPTURE_RECONFIGURE_FAILED', `the camera did not take the new settings: ${(error as Error).message}`, change, { cause: error });
    }
    this.reconfigures++;
    this.lastGapMs = this.lastFrameAtMs - lastFrameMs;
    this.logger?.info({ gapMs: this.lastGapMs, args: this.cameraArgs() }, 'camera: restarted with new settings');
    return { gapMs: this.lastGapMs, args: this.cameraArgs(), lastPtsUs };
  }

  /** One planned restart: the old run ends, a new one starts, resolved at its first frame. */
  private async relaunch(): Promise<void> {
    const old = this.run;
    this.run = null;
    if (old) {
      await old.stop();
      // Its last frames are delivered before the new run starts, so they keep the old run's clock.
      await old.finished;
      this.lastTail = old.child.stderrTail();
    }
    if (this.currentState === 'stopped') throw new CaptureError('CAPTURE_STOPPED', 'the source was stopped');
    const first = new Promise<void>((resolve, reject) => (this.reconfigureWait = { resolve, reject }));
    // The new run gets its first frame by the same rule as at start: the watchdog's first-frame
    // limit, on a clock that leaves out the time this process itself could not run (a loaded
    // machine, a synchronous spawn). A plain timer here once gave up on a camera still starting.
    let timer: NodeJS.Timeout | null = null;
    const timeoutMs = this.firstFrameLimitMs();
    const timeout =
      this.options.stallTimeoutMs === 0
        ? new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new CaptureError('CAPTURE_NO_FRAMES', `no frame within ${timeoutMs} ms`, timeoutMs)), timeoutMs);
            timer.unref();
          })
        : null;
    this.launch();
    try {
      await (timeout ? Promise.race([first, timeout]) : first);
    } finally {
      if (timer) clearTimeout(timer);
      this.reconfigureWait = null;
    }
  }

  /** The rpicam-vid arguments the current settings add (extra arguments, then controls). */
  private cameraArgs(): string[] {
    const align = this.options.strideAlign ?? (this.options.board ?? detectBoard()).strideAlign;
    return [...(this.options.rpicamArgs ?? []), ...rpicamControlArgs(this.controls, { tuningDir: tuningDirectory(align === 128 ? 128 : 64) })];
  }

  onFrame(listener: FrameListener): () => void {
    this.frameListeners.add(listener);
    return () => this.frameListeners.delete(listener);
  }

  onUnit(listener: (unit: CameraUnit) => void): () => void {
    this.unitListeners.add(listener);
    return () => this.unitListeners.delete(listener);
  }

  onState(listener: (state: CaptureState, error?: Error) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  async start(): Promise<void> {
    if (this.currentState !== 'idle') throw new CaptureError('CAPTURE_STOPPED', `source already ${this.currentState}`, this.currentState);
    this.checkInputExists();
    this.startWallMs = Date.now();
    const first = new Promise<void>((resolve, reject) => (this.firstFrame = { resolve, reject }));
    this.setState('starting');
    this.launch();
    if (this.options.stallTimeoutMs !== 0) {
      this.lastCheckAtMs = Date.now();
      this.watchdog = setInterval(() => this.checkStall(), WATCHDOG_MS);
      this.watchdog.unref();
    }
    if (!this.options.keepTrying) return first;
    // Fatal errors and stop() still reject `first`; once start() has settled, they are seen in state().
    let settledEarly = false;
    void first.catch((error: unknown) => {
      if (settledEarly) this.logger?.debug({ err: (error as Error).message }, 'source: no first frame (start already returned)');
    });
    let timer: NodeJS.Timeout | null = null;
    const waited = new Promise<void>((resolve) => {
      this.startSettled = resolve;
      timer = setTimeout(resolve, this.options.startWaitMs ?? 10_000);
      timer.unref();
    });
    try {
      await Promise.race([first, waited]);
    } finally {
      settledEarly = true;
      this.startSettled = null;
      if (timer) clearTimeout(timer);
    }
  }

  async stop(): Promise<void> {
    if (this.currentState === 'stopped') return;
    const wasEnded = this.currentState === 'ended' || this.currentState === 'failed';
    this.setState('stopped');
    this.clearTimers();
    const run = this.run;
    this.run = null;
    if (run) {
      await run.stop();
      this.lastTail = run.child.stderrTail();
    }
    this.firstFrame?.reject(new CaptureError('CAPTURE_STOPPED', 'the source was stopped before its first frame'));
    this.reconfigureWait?.reject(new CaptureError('CAPTURE_STOPPED', 'the source was stopped while it restarted with new settings'));
    this.firstFrame = null;
    if (!wasEnded) this.resolveEnded();
  }

  ended(): Promise<void> {
    return this.endedPromise;
  }

  pause(): void {
    if (!this.pausable || this.paused) return;
    this.paused = true;
    this.run?.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.lastFrameAtMs = Date.now();
    this.run?.resume();
  }

  private requestedFormat(): FrameFormat {
    if (this.spec.kind === 'rpicam') {
      return {
        width: this.spec.width ?? this.options.width ?? DEFAULT_CAMERA_FORMAT.width,
        height: this.spec.height ?? this.options.height ?? DEFAULT_CAMERA_FORMAT.height,
        fps: this.fpsOverride ?? this.spec.fps ?? this.options.fps ?? DEFAULT_CAMERA_FORMAT.fps,
      };
    }
    if (this.spec.kind === 'demo') {
      return {
        width: this.options.width ?? DEFAULT_DEMO_FORMAT.width,
        height: this.options.height ?? DEFAULT_DEMO_FORMAT.height,
        fps: this.options.fps ?? DEFAULT_DEMO_FORMAT.fps,
      };
    }
    return { width: this.options.width, height: this.options.height, fps: this.options.fps };
  }

  private checkInputExists(): void {
    if (this.spec.kind === 'file') {
      if (!existsSync(this.spec.path) || !statSync(this.spec.path).isFile()) {
        throw new CaptureError('CAPTURE_FILE_NOT_FOUND', `no such file: ${this.spec.path}`, this.spec.path);
      }
    }
    if (this.spec.kind === 'v4l2' && !existsSync(this.spec.device)) {
      throw new CaptureError('CAPTURE_DEVICE_NOT_FOUND', `no video device ${this.spec.device}: is the USB camera plugged in?`, this.spec.device);
    }
  }

  private launch(): void {
    this.runFrames = 0;
    this.runOffsetUs = null;
    this.lastRawPtsUs = null;
    this.runStartedAtMs = Date.now();
    this.lastFrameAtMs = Date.now();
    // Each run of a passthrough source starts its units at a keyframe of its own.
    this.unitBuilder?.reset();
    const detectFps = this.options.passthrough?.detectFps ?? this.options.split?.detectFps;
    const events: RunEvents = {
      onFormat: (width, height, fps) => {
        this.width = width;
        this.height = height;
        // Passthrough frames come at the detection rate, not at the camera's.
        if (fps) this.fps = detectFps ? Math.min(detectFps, fps) : fps;
        else if (detectFps) this.fps = detectFps;
      },
      onUnit: (data, rawPtsUs) => this.deliverUnit(data, rawPtsUs),
      onFrame: (packed, rawPtsUs, fromStream) => this.deliver(packed, rawPtsUs, fromStream),
      frameBuffers: () => this.frameBuffers(),
      onFallback: (reason) => this.logger?.warn({ source: this.description, reason }, 'stream timestamps unusable; using arrival time'),
    };
    let run: SourceRun;
    try {
      run = this.spec.kind === 'rpicam' ? this.launchRpicam(events) : this.launchFfmpeg(events);
    } catch (error) {
      this.fail(error instanceof CaptureError ? error : new CaptureError('CAPTURE_SOURCE_EXITED', String(error), undefined, { cause: error }));
      return;
    }
    this.run = run;
    if (this.paused) run.pause();
    void run.finished.then(({ exit, error }) => {
      if (this.run !== run) return; // stopped or replaced
      this.run = null;
      this.lastTail = exit.stderrTail;
      if (this.reconfigureWait && this.runFrames === 0) {
        this.reconfigureWait.reject(error ?? new CaptureError('CAPTURE_NO_FRAMES', 'rpicam-vid ended before its first frame', describeExit(exit)));
        return;
      }
      if (!error) {
        this.logger?.info({ source: this.description, frames: this.seq }, 'source ended');
        if (this.firstFrame) this.fail(new CaptureError('CAPTURE_NO_FRAMES', `${this.description} delivered no frames`, this.description));
        else {
          this.clearTimers();
          this.setState('ended');
          this.resolveEnded();
        }
        return;
      }
      this.onRunFailed(error, exit.uptimeMs);
    });
  }

  private launchRpicam(events: RunEvents): SourceRun {
    const spec = this.spec as Extract<SourceSpec, { kind: 'rpicam' }>;
    const format = this.requestedFormat() as { width: number; height: number; fps: number };
    const align = this.options.strideAlign ?? (this.options.board ?? detectBoard()).strideAlign;
    const strideY = this.options.stride ?? alignStride(format.width, align);
    if (format.width % 128 !== 0 && this.options.stride === undefined) {
      this.logger?.warn(
        { width: format.width, strideY },
        'width is not a multiple of 128: rows are padded to the stride; if the picture is skewed, set the stride (see docs/troubleshooting.md)',
      );
    }
    const aiCamera = this.aiCameraRun(events);
    if (this.options.split) {
      this.cameraFps = format.fps;
      this.lastSensorRawUs = null;
      return startSplitRun(
        format,
        strideY,
        {
          logger: this.logger,
          // A unit waits for the encoder, not for its pts line (written before ffmpeg read the frame).
          ptsWaitMs: Math.max(this.options.ptsWaitMs ?? 1000, 2000),
          directReads: this.options.directReads,
          camera: spec.camera,
          extraArgs: this.cameraArgs(),
          split: this.options.split,
          aiCamera,
        },
        { ...events, onSensorFrame: (rawPtsUs) => this.sensorFrame(rawPtsUs) },
      );
    }
    return startRpicamRun(
      format,
      { width: format.width, height: format.height, strideY },
      { logger: this.logger, ptsWaitMs: this.options.ptsWaitMs ?? 1000, directReads: this.options.directReads, camera: spec.camera, extraArgs: this.cameraArgs(), aiCamera },
      events,
    );
  }

  /**
   * Sets up this run's AI Camera detections (a new pairer: record k is the run's k-th frame) and
   * hooks the metadata events; null when not asked for or when the post-processing file is
   * unreadable (logged once; the camera runs without it).
   */
  private aiCameraRun(events: RunEvents): { postProcessFile: string } | null {
    this.detections = null;
    const settings = this.options.aiCamera;
    if (!settings) return null;
    let classes: string[];
    try {
      classes = readPostProcessClasses(settings.postProcessFile);
    } catch (error) {
      const first = this.aiError === null;
      this.aiError = error as CaptureError;
      if (first) this.logger?.error({ code: this.aiError.code, file: settings.postProcessFile }, `${this.aiError.message}; the camera runs without its detector`);
      return null;
    }
    this.aiError = null;
    const pairer = new DetectionPairer({
      classes,
      minConfidence: settings.minConfidence,
      emit: (detections) => {
        this.aiCounts.objects += detections.objects.length;
        for (const listener of this.detectionListeners) {
          try {
            listener(detections);
          } catch (error) {
            this.logger?.error({ err: error }, 'detections listener threw');
          }
        }
      },
      unmatched: () => this.aiCounts.unmatched++,
      bad: (error) => this.metadataCorrupt(error),
    });
    this.detections = pairer;
    // A run's records go to its own pairer only: a late record of a stopped run pairs with nothing.
    events.onMetadata = (record) => {
      this.aiCounts.records++;
      if (record.tensor) this.aiCounts.tensors++;
      pairer.record(record);
    };
    events.onMetadataCorrupt = (error) => this.metadataCorrupt(error);
    return { postProcessFile: settings.postProcessFile };
  }

  /** A skipped metadata line: counted, and logged at most every 10 s (a bad stream would flood the log). */
  private metadataCorrupt(error: CaptureError): void {
    this.aiCounts.corrupt++;
    const now = Date.now();
    if (now - this.aiCorruptLoggedAtMs < POOL_LOG_GAP_MS) return;
    this.aiCorruptLoggedAtMs = now;
    this.logger?.warn({ code: error.code, value: error.value, corrupt: this.aiCounts.corrupt }, error.message);
  }

  private launchFfmpeg(events: RunEvents): SourceRun {
    const spec = this.spec as Exclude<SourceSpec, { kind: 'rpicam' }>;
    const live = spec.kind === 'v4l2' || spec.kind === 'url';
    if (spec.kind === 'url' && this.options.mjpeg) {
      return startMjpegRun(spec.url, { ...this.options.mjpeg, logger: this.logger, ptsWaitMs: this.options.ptsWaitMs ?? 2000, directReads: this.options.directReads }, {
        ...events,
        onJpeg: (data, arrivalUs, analysed) => {
          if (analysed) this.analysedJpegs++;
          this.deliverJpeg(data, arrivalUs);
        },
        onDecoderBusy: () => this.decoderBusy++,
        onCorruptJpeg: (stats) => {
          this.corruptJpegs++;
          this.logger?.warn({ source: this.description, corrupt: stats.corrupt, discardedBytes: stats.discardedBytes }, 'camera sent a malformed JPEG; dropped');
        },
      });
    }
    return startFfmpegRun(
      spec,
      this.requestedFormat(),
      {
        logger: this.logger,
        directReads: this.options.directReads,
        realtime: this.options.realtime ?? true,
        loop: this.options.loop ?? false,
        durationS: this.options.durationS,
        // Network streams and USB cameras carry unreliable or missing timestamps: use arrival;
        // but passthrough frames must carry the stream's, the clock of the camera's units.
        streamTimestamps: !live || this.passthrough,
        passthrough: this.options.passthrough,
        // A decoded frame comes later than its copied unit; the pts line is not what is slow.
        ptsWaitMs: this.passthrough ? Math.max(this.options.ptsWaitMs ?? 2000, 10_000) : (this.options.ptsWaitMs ?? 2000),
      },
      events,
    );
  }

  /** Buffers for frames of the current size: the pool (made again when the size changed), or plain allocation. */
  private frameBuffers(): FrameBuffers {
    const bytes = i420Bytes(this.width, this.height);
    const setting = this.options.framePool ?? false;
    if (setting === false) return allocatingBuffers(bytes);
    if (!this.pool || this.pool.frameBytes !== bytes) {
      // Buffers of an older pool still held by consumers go back to it and are then collected.
      this.pool = createFramePool({ frameBytes: bytes, capacity: setting === true ? DEFAULT_POOL_FRAMES : setting.frames });
    }
    const pool = this.pool;
    if (!this.pausable) return pool;
    return {
      acquire: () => {
        const buffer = pool.acquire();
        if (buffer) return buffer;
        // A paused file loses nothing: past the pool, a frame gets a buffer of its own.
        this.poolOverflow++;
        return Buffer.allocUnsafe(bytes);
      },
      discard: (buffer) => {
        if (pool.owns(buffer)) pool.discard(buffer);
      },
    };
  }

  private deliver(packed: Buffer | null, rawPtsUs: number, fromStream = true): void {
    const nowUs = monotonicUs();
    const nominalUs = this.fps > 0 ? 1e6 / this.fps : 33_333;
    if (this.runOffsetUs !== null && this.runFromStream !== fromStream) {
      // The run changed clocks (its last frames drained at a stop, or the pts channel gave up):
      // arrival times continue from the last frame's arrival, not from the stream's origin.
      this.runOffsetUs = (this.lastOutPtsUs ?? 0) + Math.max(nominalUs, (fromStream ? nowUs : rawPtsUs) - this.lastOutArrivalUs) - rawPtsUs;
      this.lastRawPtsUs = null;
    }
    this.runFromStream = fromStream;
    if (this.runOffsetUs === null) {
      this.runOffsetUs = this.runStartUs(nowUs) - rawPtsUs;
    } else if (this.lastRawPtsUs !== null && rawPtsUs <= this.lastRawPtsUs) {
      // The stream's clock went back (a looped file, a camera reset): keep ours monotonic.
      this.runOffsetUs = (this.lastOutPtsUs ?? 0) + nominalUs - rawPtsUs;
    }
    this.lastRawPtsUs = rawPtsUs;
    const ptsUs = Math.round(rawPtsUs + this.runOffsetUs);
    // Every frame read counts for the pairing, a dropped one too: its metadata record came.
    // (The split route sees only some frames here: it pairs on every line of the pts file.)
    if (!this.split) this.detections?.frame(ptsUs, this.startWallMs + ptsUs / 1000);
    if (this.lastOutPtsUs !== null && this.isLive() && this.fps > 0 && !this.split) {
      // Arrival times carry no sensor clock, and the nominal rate of a network stream is often
      // ffmpeg's guess (25 fps for MJPEG over HTTP): gaps are measured against the rate seen.
      const measured = fromStream ? 0 : this.measuredFps();
      const expectedUs = measured > 0 ? 1e6 / measured : nominalUs;
      const missing = Math.round((ptsUs - this.lastOutPtsUs) / expectedUs) - 1;
      if (missing > 0) this.dropped += missing;
    }
    this.lastOutPtsUs = ptsUs;
    this.lastOutArrivalUs = nowUs;
    this.lastFrameAtMs = Date.now();
    this.recentPts.push(ptsUs);
    if (this.recentPts.length > FPS_WINDOW) this.recentPts.shift();
    if (packed === null) {
      this.dropPooled();
      return;
    }

    const meta = { seq: this.seq, ptsUs, wallMs: this.startWallMs + ptsUs / 1000, width: this.width, height: this.height };
    const pool = this.pool;
    const pooled = pool !== null && isPoolBuffer(pool, packed);
    let frame: Frame;
    try {
      frame = pooled ? pool.frame(packed, meta) : createFrame({ ...meta, data: packed });
    } catch (error) {
      this.logger?.error({ err: error }, 'frame of unexpected size dropped');
      if (pooled) pool.discard(packed);
      this.dropped++;
      return;
    }
    this.seq++;
    this.runFrames++;
    if (this.runFrames === 1) {
      if (this.currentState !== 'running') this.setState('running');
      this.firstFrame?.resolve();
      this.firstFrame = null;
      this.reconfigureWait?.resolve();
    }
    for (const listener of this.frameListeners) {
      try {
        listener(frame);
      } catch (error) {
        // A failing consumer must not stop the camera read loop.
        this.logger?.error({ err: error }, 'frame listener threw');
      }
    }
    // The capture's own reference ends here; consumers that keep the frame have retained it.
    if (pooled) releaseFrame(frame);
  }

  /**
   * A camera JPEG, stamped on the frames' clock: its arrival plus the run's offset (frames of an
   * MJPEG source are stamped with their arrival too). JPEGs before the run's first frame have no
   * offset yet and are dropped (counted).
   */
  private deliverJpeg(data: Buffer, arrivalUs: number): void {
    if (this.runOffsetUs === null || this.runFromStream) {
      this.jpegsBeforeFrame++;
      return;
    }
    const ptsUs = Math.max(Math.round(arrivalUs + this.runOffsetUs), this.lastJpegPtsUs + 1);
    this.lastJpegPtsUs = ptsUs;
    const jpeg: CameraJpeg = { seq: this.jpegSeq++, ptsUs, wallMs: this.startWallMs + ptsUs / 1000, data };
    for (const listener of this.jpegListeners) {
      try {
        listener(jpeg);
      } catch (error) {
        this.logger?.error({ err: error }, 'JPEG listener threw');
      }
    }
  }

  /**
   * Where the first frame or unit of a run goes on the source's clock: 0 at the very start,
   * else after the last frame or unit by the time that passed (the timeline continues across
   * restarts, and never goes back).
   */
  private runStartUs(nowUs: number): number {
    const nominalUs = this.fps > 0 ? 1e6 / this.fps : 33_333;
    const last = this.lastUnitPtsUs === null ? this.lastOutPtsUs : Math.max(this.lastUnitPtsUs, this.lastOutPtsUs ?? -Infinity);
    return last === null ? 0 : last + Math.max(nominalUs, nowUs - this.lastOutArrivalUs);
  }

  /**
   * A passthrough unit with its run-relative timestamp: put on the frames' clock (the run's
   * offset is set by whichever of the first unit and the first frame comes first), made into a
   * {@link CameraUnit} and handed to the listeners.
   */
  private deliverUnit(data: Buffer, rawPtsUs: number): void {
    if (!this.unitBuilder) return;
    const nowUs = monotonicUs();
    if (this.runOffsetUs === null) {
      this.runOffsetUs = this.runStartUs(nowUs) - rawPtsUs;
      this.runFromStream = true;
    }
    const ptsUs = Math.round(rawPtsUs + this.runOffsetUs);
    // On the split route the units prove both the camera and its encoder alive (frames come at the detection rate only).
    if (this.split) this.lastFrameAtMs = Date.now();
    if (this.lastUnitPtsUs !== null && ptsUs <= this.lastUnitPtsUs) {
      // A ring and a clip need increasing timestamps; a camera with B-frames is not passed through.
      this.unitsOutOfOrder++;
      if (this.unitsOutOfOrder === 1 || this.unitsOutOfOrder % 1000 === 0) {
        this.logger?.warn({ source: this.description, ptsUs, lastPtsUs: this.lastUnitPtsUs, count: this.unitsOutOfOrder }, 'passthrough: unit with a timestamp not after the last one dropped');
      }
      return;
    }
    const unit = this.unitBuilder.build(data, ptsUs, this.startWallMs + ptsUs / 1000);
    if (!unit) return;
    this.lastUnitPtsUs = ptsUs;
    for (const listener of this.unitListeners) {
      try {
        listener(unit);
      } catch (error) {
        // A failing consumer must not stop the camera read loop.
        this.logger?.error({ err: error }, 'unit listener threw');
      }
    }
  }

  /**
   * The split route: a line of the pts file, i.e. a frame the camera wrote (Node sees only the
   * reduced ones). The AI Camera's metadata record k pairs with the run's k-th of these.
   */
  private sensorFrame(rawPtsUs: number): void {
    // Frames the camera never wrote are gaps between its lines (the reduced frames' gaps are not counted again).
    if (this.lastSensorRawUs !== null && this.fps > 0) {
      const missing = Math.round(((rawPtsUs - this.lastSensorRawUs) * this.cameraFps) / 1e6) - 1;
      if (missing > 0) this.dropped += missing;
    }
    this.lastSensorRawUs = rawPtsUs;
    if (!this.detections) return;
    if (this.runOffsetUs === null) {
      this.runOffsetUs = this.runStartUs(monotonicUs()) - rawPtsUs;
      this.runFromStream = true;
    }
    const ptsUs = Math.round(rawPtsUs + this.runOffsetUs);
    this.detections.frame(ptsUs, this.startWallMs + ptsUs / 1000);
  }

  /** Every pool buffer is held by a consumer (a stalled encoder pipe, a slow viewer): the frame is dropped, counted and logged. */
  private dropPooled(): void {
    this.dropped++;
    this.poolDrops++;
    const now = Date.now();
    if (now - this.poolLoggedAtMs >= POOL_LOG_GAP_MS) {
      this.poolLoggedAtMs = now;
      this.logger?.warn(
        { source: this.description, reason: 'frame-pool-exhausted', poolDrops: this.poolDrops, pool: this.pool?.stats() },
        'frame dropped: every frame buffer is held by a consumer that has not released it',
      );
    }
  }

  /**
   * How long a run may take to its first frame. rpicam-vid with the AI Camera uploads the
   * network firmware to the sensor before the first frame, which takes minutes the first time
   * (rpicam-apps warns so): a restart after 20 s would start the upload again, forever.
   */
  private firstFrameLimitMs(): number {
    if (this.options.firstFrameTimeoutMs !== undefined) return this.options.firstFrameTimeoutMs;
    return this.spec.kind === 'rpicam' && this.options.aiCamera && !this.aiError ? AI_CAMERA_FIRST_FRAME_MS : 20_000;
  }

  private isLive(): boolean {
    return this.spec.kind !== 'file';
  }

  private measuredFps(): number {
    const n = this.recentPts.length;
    if (n < 2) return 0;
    const spanUs = this.recentPts[n - 1] - this.recentPts[0];
    return spanUs > 0 ? Math.round(((n - 1) * 1e6 * 100) / spanUs) / 100 : 0;
  }

  private checkStall(): void {
    const now = Date.now();
    // Time this process could not run (its event loop blocked by other work, or the whole
    // machine starved) is not silence of the camera: its frames wait in the pipe meanwhile.
    const lateMs = now - this.lastCheckAtMs - WATCHDOG_MS;
    this.lastCheckAtMs = now;
    if (lateMs > WATCHDOG_MS) this.lastFrameAtMs += lateMs;
    if (!this.run || this.paused || this.currentState === 'stopped') return;
    const limitMs = this.runFrames === 0 ? this.firstFrameLimitMs() : (this.options.stallTimeoutMs ?? 5000);
    const silentMs = Date.now() - this.lastFrameAtMs;
    if (silentMs < limitMs) return;
    const run = this.run;
    this.run = null;
    this.lastTail = run.child.stderrTail();
    void run.stop();
    if (this.reconfigureWait && this.runFrames === 0) {
      // A restart with new settings brought no frame: `restartWith` goes back to the old ones.
      this.reconfigureWait.reject(new CaptureError('CAPTURE_NO_FRAMES', `no frame within ${silentMs} ms of the restart`, silentMs));
      return;
    }
    const error = new CaptureError('CAPTURE_STALLED', `${this.description} sent no frame for ${silentMs} ms`, silentMs);
    this.onRunFailed(error, Date.now() - this.runStartedAtMs);
  }

  private onRunFailed(error: CaptureError, uptimeMs: number): void {
    this.lastError = error;
    const tail = this.lastTail.slice(-10);
    this.logger?.error({ code: error.code, source: this.description, stderr: tail }, error.message);
    const beforeFirstFrame = this.firstFrame !== null;
    if (error.fatal || !this.restartEnabled || (beforeFirstFrame && !this.options.keepTrying)) {
      this.fail(error);
      return;
    }
    const delayMs = this.supervisor.failed(uptimeMs, () => {
      if (this.currentState === 'restarting') this.launch();
    });
    this.setState('restarting', error);
    this.startSettled?.();
    this.logger?.warn({ source: this.description, delayMs, restarts: this.supervisor.restarts }, 'restarting source');
  }

  private fail(error: CaptureError): void {
    this.lastError = error;
    this.clearTimers();
    this.setState('failed', error);
    this.firstFrame?.reject(error);
    this.firstFrame = null;
    this.resolveEnded();
  }

  private clearTimers(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.supervisor.cancel();
    this.watchdog = null;
  }

  private setState(state: CaptureState, error?: Error): void {
    if (this.currentState === state && !error) return;
    this.currentState = state;
    for (const listener of this.stateListeners) listener(state, error);
  }
}

/** True when the buffer is one of the pool's (an overflow buffer of a paused file is not). */
function isPoolBuffer(pool: FramePool, buffer: Buffer): boolean {
  return pool.owns(buffer);
}
