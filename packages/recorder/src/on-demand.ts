import type { Logger } from 'pino';
import { retainFrame, type Frame, type FrameRelease } from '@preroll/capture';
import { createEmitter, createRestartSupervisor, DEFAULT_BACKOFF, describeExit, spawnFfmpeg, type BackoffOptions, type ChildHandle, type ExitInfo, type RestartSupervisor } from '@preroll/process';
import { createAccessUnitSplitter, createParameterSetKeeper, type AccessUnitSplitter } from '@preroll/capture';
import { buildEncoderArgs, resolveEncoderCodec, type EncoderCodec } from './encoder';
import { createJpegRing, jpegSize, type JpegItem, type JpegRing, type JpegRingStats } from './jpeg-ring';
import type { Recorder, TriggerInput } from './recorder';
import type { AccessUnit } from '@preroll/capture';

/**
 * The H.264 encoder of an MJPEG camera, run on demand. The pre-roll is the camera's own JPEGs
 * (a {@link JpegRing}); nothing is encoded while nobody needs video. When something does (an
 * event, a manual recording, continuous segments, a live H.264 viewer) it takes a hold: ffmpeg
 * starts, is fed the pre-roll from the asked moment and then the live pictures, and its access
 * units carry the JPEGs' timestamps (paired 1:1 in order: no B-frames, no dropping inside
 * ffmpeg). `idleStopMs` after the last hold is released, ffmpeg is stopped again.
 */
export interface OnDemandEncoder {
  /** Adds a camera JPEG (camera order) to the pre-roll and, while ffmpeg runs, to ffmpeg. */
  push(jpeg: JpegItem): void;
  /**
   * Asks for video from `fromPtsUs` on (default: as far back as the pre-roll reaches). Starts
   * ffmpeg when it is not running (fed from the newest picture at or before `fromPtsUs`, or
   * after the last one already encoded); returns the release. Idempotent release.
   */
  hold(reason: string, fromPtsUs?: number): () => void;
  /**
   * Resolves true once the unit of a picture at or after `ptsUs` was delivered; false when
   * ffmpeg stopped, failed or did not get there within `catchUpTimeoutMs`.
   */
  caughtUp(ptsUs: number): Promise<boolean>;
  /** The newest camera picture, or null before the first. */
  newest(): JpegItem | null;
  onUnit(listener: (unit: AccessUnit) => void): () => void;
  /** ffmpeg died while held: units before and after do not continue each other. */
  onDiscontinuity(listener: (reason: string) => void): () => void;
  /** Process id of the running ffmpeg, or null while none runs. */
  pid(): number | null;
  stats(): OnDemandEncoderStats;
  /** Ends every hold, stops ffmpeg after it has delivered the units of what it was given. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link createOnDemandEncoder}. */
export interface OnDemandEncoderOptions {
  /** Pre-roll the ring keeps (with `maxTriggerLagMs` and one second of slack), milliseconds. */
  readonly preRollMs: number;
  /** How far behind the newest picture an event's start may lie, milliseconds (default 2000). */
  readonly maxTriggerLagMs?: number;
  /** Byte cap of the JPEG ring (default 64 MiB). */
  readonly ringMaxBytes?: number;
  readonly codec?: EncoderCodec;
  readonly crf?: number;
  readonly bitrateKbps?: number;
  /** Time between keyframes, milliseconds (default 1000). */
  readonly gopMs?: number;
  /** ffmpeg stays up this long after the last hold is released (default 10000 ms). */
  readonly idleStopMs?: number;
  /** Pictures written and not yet back before live ones are dropped (default 600: a pre-roll burst fits). */
  readonly maxInFlight?: number;
  /** How long `caughtUp` waits at most (default 30000 ms). */
  readonly catchUpTimeoutMs?: number;
  readonly backoff?: BackoffOptions;
  readonly logger?: Logger;
}

/** Where the on-demand encoder is. */
export type OnDemandState = 'off' | 'starting' | 'running' | 'stopping';

/** Counters for `/api/status`, logs, tests and the benchmark. */
export interface OnDemandEncoderStats {
  readonly state: OnDemandState;
  /** Holds in force now, by reason. */
  readonly holds: Readonly<Record<string, number>>;
  /** ffmpeg processes started and stopped (after their idle time) since start. */
  readonly starts: number;
  readonly stops: number;
  /** Crashes of ffmpeg while held. */
  readonly crashes: number;
  readonly jpegsIn: number;
  readonly jpegsWritten: number;
  readonly units: number;
  readonly keyframes: number;
  readonly bytesOut: number;
  /** Live pictures not written because ffmpeg was that far behind. */
  readonly droppedJpegs: number;
  /** Pictures written to an ffmpeg that died before encoding them (fed again to the next one while still in the pre-roll). */
  readonly lostJpegs: number;
  /** Spawn to first unit of the last start, milliseconds. */
  readonly lastStartLatencyMs: number | null;
  /** Pre-roll pictures fed at the last start. */
  readonly lastPreRollJpegs: number;
  readonly ring: JpegRingStats;
  readonly stderrTail: readonly string[];
}

/** Creates the on-demand encoder; spawns nothing until a hold asks for video. */
export function createOnDemandEncoder(options: OnDemandEncoderOptions): OnDemandEncoder {
  return new JpegEncoder(options);
}

/** ffmpeg's argv (pure): camera JPEGs on stdin, the encoder settings of {@link buildEncoderArgs}, Annex-B out. */
export function buildJpegEncoderArgs(input: { codec: EncoderCodec; gopFrames: number; crf: number; bitrateKbps: number; capBitrate: boolean }): string[] {
  const raw = buildEncoderArgs({ ...input, width: 2, height: 2, fps: 25, hasFpsMode: true });
  // Only the input differs from the raw-frame encoder: a stream of JPEGs, probed no further
  // than the first (a pre-roll burst must not wait for megabytes of probing).
  const output = raw.slice(raw.indexOf('-an'));
  if (input.codec === 'libx264') {
    // JPEGs are full range: libx264 takes them as they are (the range flagged in the stream)
    // instead of a conversion to limited range per picture (about a fifth of its CPU).
    output[output.lastIndexOf('yuv420p')] = 'yuvj420p';
  }
  return ['-loglevel', 'error', '-probesize', '32', '-analyzeduration', '0', '-f', 'mjpeg', '-i', 'pipe:0', ...output];
}

interface Pending {
  readonly seq: number;
  readonly ptsUs: number;
  readonly wallMs: number;
}

interface Waiter {
  readonly ptsUs: number;
  readonly resolve: (ok: boolean) => void;
  readonly timer: NodeJS.Timeout;
}

class JpegEncoder implements OnDemandEncoder {
  private readonly ring: JpegRing;
  private readonly log: Logger | undefined;
  private readonly holdsByReason = new Map<string, number>();
  private holdCount = 0;
  private fromPtsUs: number | null = null;
  private child: ChildHandle | null = null;
  private currentState: OnDemandState = 'off';
  private splitter: AccessUnitSplitter = createAccessUnitSplitter();
  private fifo: Pending[] = [];
  private size: { width: number; height: number } | null = null;
  /** Every keyframe leaves with its SPS and PPS, so any keyframe can start a clip. */
  private readonly parameterSets = createParameterSetKeeper();
  private codec: EncoderCodec | null = null;
  private lastUnitPtsUs = Number.NEGATIVE_INFINITY;
  private lastWrittenPtsUs = Number.NEGATIVE_INFINITY;
  private spawnedAtMs = 0;
  private firstUnitSeen = false;
  private idleTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private stdoutEnded: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | null = null;
  private lastTail: readonly string[] = [];
  private waiters: Waiter[] = [];
  private readonly supervisor: RestartSupervisor;
  private readonly units = createEmitter<[AccessUnit]>('on-demand encoder units', () => this.log);
  private readonly gaps = createEmitter<[string]>('on-demand encoder discontinuity', () => this.log);
  private counters = { starts: 0, stops: 0, crashes: 0, jpegsIn: 0, jpegsWritten: 0, units: 0, keyframes: 0, bytesOut: 0, droppedJpegs: 0, lostJpegs: 0, lastStartLatencyMs: null as number | null, lastPreRollJpegs: 0 };

  constructor(private readonly options: OnDemandEncoderOptions) {
    this.log = options.logger;
    this.ring = createJpegRing({ windowMs: options.preRollMs + (options.maxTriggerLagMs ?? 2000) + 1000, maxBytes: options.ringMaxBytes, logger: options.logger });
    this.supervisor = createRestartSupervisor({ backoff: options.backoff ?? DEFAULT_BACKOFF, unref: true });
  }

  push(jpeg: JpegItem): void {
    if (this.stopped) return;
    this.counters.jpegsIn++;
    this.ring.push(jpeg);
    if (this.currentState === 'running') this.writeLive(jpeg);
  }

  hold(reason: string, fromPtsUs?: number): () => void {
    if (this.stopped) return () => undefined;
    this.holdsByReason.set(reason, (this.holdsByReason.get(reason) ?? 0) + 1);
    this.holdCount++;
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    // Where a start feeds from matters only while no ffmpeg runs (a running one is up to date).
    if (fromPtsUs !== undefined && (this.currentState === 'off' || this.currentState === 'starting' || this.currentState === 'stopping')) this.fromPtsUs = this.fromPtsUs === null ? fromPtsUs : Math.min(this.fromPtsUs, fromPtsUs);
    if (this.currentState === 'off') void this.launch();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.holdsByReason.get(reason) ?? 1) - 1;
      if (left > 0) this.holdsByReason.set(reason, left);
      else this.holdsByReason.delete(reason);
      this.holdCount--;
      if (this.holdCount === 0 && !this.stopped) this.scheduleIdleStop();
    };
  }

  caughtUp(ptsUs: number): Promise<boolean> {
    if (this.lastUnitPtsUs >= ptsUs) return Promise.resolve(true);
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settleWaiter(waiter, false), this.options.catchUpTimeoutMs ?? 30_000);
      const waiter: Waiter = { ptsUs, resolve, timer };
      this.waiters.push(waiter);
    });
  }

  newest(): JpegItem | null {
    return this.ring.newest();
  }

  onUnit(listener: (unit: AccessUnit) => void): () => void {
    return this.units.on(listener);
  }

  onDiscontinuity(listener: (reason: string) => void): () => void {
    return this.gaps.on(listener);
  }

  pid(): number | null {
    return this.child?.pid ?? null;
  }

  stats(): OnDemandEncoderStats {
    return {
      state: this.currentState,
      holds: Object.fromEntries(this.holdsByReason),
      ...this.counters,
      ring: this.ring.stats(),
      stderrTail: this.child ? this.child.stderrTail() : [...this.lastTail],
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.supervisor.cancel();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    await this.stopProcess();
    for (const waiter of [...this.waiters]) this.settleWaiter(waiter, false);
  }

  private scheduleIdleStop(): void {
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.holdCount === 0) void this.stopProcess();
    }, this.options.idleStopMs ?? 10_000);
    this.idleTimer.unref();
  }

  /** Spawns ffmpeg and feeds it the pre-roll: from the asked moment, never what was encoded already. */
  private async launch(): Promise<void> {
    this.currentState = 'starting';
    try {
      this.codec ??= await resolveEncoderCodec(this.options.codec ?? 'libx264');
    } catch (error) {
      this.log?.error({ err: error }, 'on-demand encoder: no H.264 encoder; nothing is recorded');
      this.currentState = 'off';
      for (const waiter of [...this.waiters]) this.settleWaiter(waiter, false);
      return;
    }
    // A stop, or an idle stop, may have come while the codec was checked.
    if (this.stopped || this.holdCount === 0 || this.currentState !== 'starting') {
      if (this.currentState === 'starting') this.currentState = 'off';
      return;
    }
    const rate = this.ring.rate() ?? 15;
    const gopFrames = Math.max(1, Math.round((rate * (this.options.gopMs ?? 1000)) / 1000));
    const args = buildJpegEncoderArgs({ codec: this.codec, gopFrames, crf: this.options.crf ?? 23, bitrateKbps: this.options.bitrateKbps ?? 4000, capBitrate: this.options.bitrateKbps !== undefined });
    let child: ChildHandle;
    try {
      child = spawnFfmpeg({ name: 'encoder(on demand)', args, logger: this.log, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (error) {
      this.log?.error({ err: error }, 'on-demand encoder: ffmpeg could not be started');
      this.currentState = 'off';
      return;
    }
    this.child = child;
    this.counters.starts++;
    this.spawnedAtMs = Date.now();
    this.firstUnitSeen = false;
    this.splitter = createAccessUnitSplitter();
    this.fifo = [];
    const stdout = child.stdout;
    this.stdoutEnded = new Promise((resolve) => {
      if (!stdout) return resolve();
      stdout.on('data', (chunk: Buffer) => {
        if (this.child !== child) return;
        for (const data of this.splitter.push(chunk)) this.deliver(data);
      });
      stdout.once('end', () => {
        if (this.child === child && this.currentState === 'stopping') for (const data of this.splitter.flush()) this.deliver(data);
        resolve();
      });
      stdout.once('close', () => resolve());
      stdout.on('error', (error) => this.log?.debug({ err: error }, 'on-demand encoder: stdout error'));
    });
    child.stdin?.on('error', (error) => this.log?.debug({ err: error }, 'on-demand encoder: stdin error'));
    void child.exited.then((exit) => this.onExit(child, exit));
    this.currentState = 'running';
    const from = this.fromPtsUs ?? Number.NEGATIVE_INFINITY;
    this.fromPtsUs = null;
    const preRoll = this.ring.from(from).filter((jpeg) => jpeg.ptsUs > this.lastWrittenPtsUs);
    this.counters.lastPreRollJpegs = preRoll.length;
    for (const jpeg of preRoll) this.write(jpeg);
    this.log?.info({ pid: child.pid, preRollJpegs: preRoll.length, gopFrames, holds: Object.fromEntries(this.holdsByReason) }, 'on-demand encoder: started');
  }

  private writeLive(jpeg: JpegItem): void {
    if (this.fifo.length >= (this.options.maxInFlight ?? 600)) {
      this.counters.droppedJpegs++;
      return;
    }
    this.write(jpeg);
  }

  private write(jpeg: JpegItem): void {
    const stdin = this.child?.stdin;
    if (!stdin || stdin.destroyed || !stdin.writable) {
      this.counters.droppedJpegs++;
      return;
    }
    this.size ??= jpegSize(jpeg.data);
    this.fifo.push({ seq: jpeg.seq, ptsUs: jpeg.ptsUs, wallMs: jpeg.wallMs });
    this.lastWrittenPtsUs = jpeg.ptsUs;
    this.counters.jpegsWritten++;
    stdin.write(jpeg.data);
  }

  private deliver(raw: Buffer): void {
    const { data, keyframe, codec } = this.parameterSets.complete(raw);
    const picture = this.fifo.shift();
    if (!picture) {
      this.log?.error({ bytes: raw.length }, 'on-demand encoder: access unit without a picture to pair with, dropped');
      return;
    }
    if (!this.firstUnitSeen) {
      this.firstUnitSeen = true;
      this.counters.lastStartLatencyMs = Date.now() - this.spawnedAtMs;
    }
    this.counters.units++;
    if (keyframe) this.counters.keyframes++;
    this.counters.bytesOut += data.length;
    this.lastUnitPtsUs = picture.ptsUs;
    const size = this.size ?? { width: 0, height: 0 };
    this.units.emit({ seq: picture.seq, ptsUs: picture.ptsUs, wallMs: picture.wallMs, keyframe, data, codec, width: size.width, height: size.height });
    for (const waiter of [...this.waiters]) if (picture.ptsUs >= waiter.ptsUs) this.settleWaiter(waiter, true);
  }

  /** Ends stdin: ffmpeg encodes what it has, the last units come out, then it exits. */
  private stopProcess(): Promise<void> {
    const child = this.child;
    if (!child) {
      if (this.currentState === 'starting') this.currentState = 'off';
      return this.stopping ?? Promise.resolve();
    }
    this.stopping ??= (async () => {
      this.currentState = 'stopping';
      const exit = await child.stop({ graceMs: 10_000, termMs: 2000 });
      await this.stdoutEnded;
      this.lastTail = exit.stderrTail;
      this.counters.lostJpegs += this.fifo.length;
      this.fifo = [];
      this.child = null;
      this.counters.stops++;
      this.currentState = 'off';
      this.log?.info({ units: this.counters.units, lastStartLatencyMs: this.counters.lastStartLatencyMs }, 'on-demand encoder: stopped (idle)');
      this.stopping = null;
      // A hold that came while it stopped starts it again.
      if (this.holdCount > 0 && !this.stopped) void this.launch();
    })();
    return this.stopping;
  }

  private async onExit(child: ChildHandle, exit: ExitInfo): Promise<void> {
    if (this.child !== child || this.currentState === 'stopping') return;
    await this.stdoutEnded;
    if (this.child !== child || (this.currentState as OnDemandState) === 'stopping') return;
    this.child = null;
    this.lastTail = exit.stderrTail;
    this.splitter.reset();
    const lost = this.fifo.length;
    this.counters.lostJpegs += lost;
    this.counters.crashes++;
    this.fifo = [];
    // The pictures it took with it are still in the pre-roll: the next ffmpeg is fed them again.
    this.lastWrittenPtsUs = this.lastUnitPtsUs;
    this.currentState = 'off';
    this.log?.error({ exit: describeExit(exit, 10), lost }, 'on-demand encoder: ffmpeg exited');
    this.gaps.emit(`on-demand encoder exited (${lost} pictures lost)`);
    if (this.holdCount === 0 || this.stopped) return;
    this.supervisor.failed(Date.now() - this.spawnedAtMs, () => {
      if (this.currentState === 'off' && this.holdCount > 0 && !this.stopped) void this.launch();
    });
  }

  private settleWaiter(waiter: Waiter, ok: boolean): void {
    const index = this.waiters.indexOf(waiter);
    if (index < 0) return;
    this.waiters.splice(index, 1);
    clearTimeout(waiter.timer);
    waiter.resolve(ok);
  }
}

/** The recorder's commands that start, extend or end recordings. */
export type RecorderCommands = Pick<Recorder, 'motionStart' | 'motionEnd' | 'manualStart' | 'manualStop' | 'discontinuity'>;

/** The recorder behind an on-demand encoder, as the pipeline drives it. */
export interface HeldRecorder extends RecorderCommands {
  /** Commands waiting for the encoder to catch up. */
  pending(): number;
  /** Runs every waiting command now (at a stop, after the encoder delivered its last units). */
  flush(): void;
}

/**
 * Drives the recorder when its video comes from an {@link OnDemandEncoder}: a start takes a
 * hold on the encoder from the pre-roll before it, and reaches the recorder only once the
 * encoder has delivered the newest picture of that moment, so the recorder's ring holds the
 * whole pre-roll (from a keyframe: the first unit of a start is one) when it opens the clip.
 * Commands keep their order: while one waits, the ones after it wait too. The hold is released
 * when the recorder has nothing open and nothing waits. With `snapshot`, the start's frame (the
 * detector's, small) is replaced by the newest camera JPEG decoded at full size, for the
 * event's snapshot.
 */
export function createHeldRecorder(
  recorder: Recorder,
  encoder: OnDemandEncoder,
  options: { preRollMs: number; logger?: Logger; snapshot?: (jpeg: JpegItem) => Promise<Frame> },
): HeldRecorder {
  interface Entry {
    readonly run: () => void;
    /** What must be done before it runs (the encoder's catch-up, the snapshot's decode); null once done. */
    ready: Promise<unknown> | null;
    readonly release: FrameRelease | null;
  }
  const queue: Entry[] = [];
  let release: (() => void) | null = null;
  let flushing = false;
  const log = options.logger;

  const ensureHold = (fromPtsUs: number): void => {
    // Taken again: a start further back still gets its pre-roll when ffmpeg is not running yet.
    const previous = release;
    release = encoder.hold('recording', fromPtsUs);
    previous?.();
  };
  const maybeRelease = (): void => {
    if (queue.length === 0 && !recorder.recording() && release) {
      release();
      release = null;
    }
  };
  recorder.onState(() => maybeRelease());

  const drain = (force: boolean): void => {
    if (flushing) return;
    flushing = true;
    try {
      while (queue.length > 0) {
        const head = queue[0];
        if (!force && head.ready) {
          const ready = head.ready;
          head.ready = null;
          void ready.then(() => drain(false));
          return;
        }
        queue.shift();
        try {
          head.run();
        } finally {
          head.release?.();
        }
      }
    } finally {
      flushing = false;
    }
    maybeRelease();
  };

  const enqueue = (run: () => void, ready: Promise<unknown> | null, frameRelease: FrameRelease | null = null): void => {
    queue.push({ run, ready, release: frameRelease });
    if (queue.length === 1) drain(false);
  };

  const start = <T extends Partial<TriggerInput>>(input: T, fromPtsUs: number, run: (input: T) => void): void => {
    ensureHold(fromPtsUs - options.preRollMs * 1000);
    // The newest picture now: once its unit is out, everything up to the trigger is in the recorder's ring.
    const newest = encoder.newest();
    const target = newest?.ptsUs ?? fromPtsUs;
    let withSnapshot = input;
    const caughtUp = encoder.caughtUp(target).then((ok) => {
      if (!ok) log?.warn({ targetPtsUs: target }, 'recorder: the encoder did not catch up; the clip starts where its video does');
    });
    // The frames of an MJPEG camera are small (for the detector): the snapshot is the camera's picture.
    const snapshot =
      input.frame && newest && options.snapshot
        ? options.snapshot(newest).then(
            (frame) => void (withSnapshot = { ...input, frame }),
            (error: unknown) => log?.warn({ err: error }, 'recorder: the camera JPEG could not be decoded for the snapshot; the detector frame is used'),
          )
        : null;
    // The detector's frame is a pooled buffer: keep it until the command has run.
    enqueue(() => run(withSnapshot), snapshot ? Promise.all([caughtUp, snapshot]) : caughtUp, input.frame ? retainFrame(input.frame) : null);
  };

  return {
    motionStart(input) {
      start(input, input.ptsUs, (ready) => recorder.motionStart(ready));
    },
    manualStart(input = {}) {
      const ptsUs = input.ptsUs ?? input.frame?.ptsUs ?? encoder.newest()?.ptsUs ?? 0;
      start(input, ptsUs, (ready) => void recorder.manualStart(ready));
      return true;
    },
    motionEnd(input) {
      if (queue.length) enqueue(() => recorder.motionEnd(input), null);
      else recorder.motionEnd(input);
    },
    manualStop(ptsUs) {
      if (queue.length) enqueue(() => recorder.manualStop(ptsUs), null);
      else recorder.manualStop(ptsUs);
    },
    discontinuity(reason) {
      if (queue.length) enqueue(() => recorder.discontinuity(reason), null);
      else recorder.discontinuity(reason);
    },
    pending: () => queue.length,
    flush: () => drain(true),
  };
}
