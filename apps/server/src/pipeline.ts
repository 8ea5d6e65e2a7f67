import type { Logger } from 'pino';
import { createFrameSlot, retainFrame, type Frame, type FrameSource } from '@preroll/capture';
import { createEmitter, runTool } from '@preroll/process';
import {
  createMaskableDetector,
  gateTriggerLagMs,
  INITIAL_TRIGGER_GATE_STATE,
  nextTriggerGateState,
  renderHeatmapPng,
  VIDEO_CUE,
  type DetectorEvent,
  type DetectorStartEvent,
  type MaskableDetector,
  type MaskableDetectorOptions,
  type MotionSample,
  type PolygonMask,
  type TriggerGateInput,
  type TriggerGateMode,
  type TriggerGateState,
} from '@preroll/detector';
import {
  createEncoder,
  createHeldRecorder,
  createOnDemandEncoder,
  createRecorder,
  createSegmenter,
  decodeJpegFrame,
  encoderCodecArgs,
  recoverPartialClips,
  resolveEncoderCodec,
  type AccessUnit,
  type Encoder,
  type EncoderCodec,
  type EncoderStats,
  type FinishedRecording,
  type OnDemandEncoder,
  type OnDemandEncoderStats,
  type RecorderCommands,
  type RecordedClip,
  type RecorderState,
  type RecoveredClip,
  type Recorder,
  type RecorderOptions,
  type RecorderStats,
  type SegmentRecord,
  type Segmenter,
  type SegmenterOptions,
  type SegmenterStats,
} from '@preroll/recorder';
import { createAnalysedRateMeter, INITIAL_ANALYSIS_RATE_STATE, nextAnalysisRate, type AnalysisRateState } from './analysis-rate';

/**
 * The recording pipeline, shared by `preroll record` (a file, as fast as possible) and the
 * server (a live camera):
 *
 *   source ──frame──► detector ──sample/events──► recorder ◄──access units── encoder ◄──frame── source
 *                                                    │                          │
 *                                                    │          segmenter ◄─────┘ (continuous segments, look-back)
 *                                                    │              │
 *                                                    └──────────────┴──► finished recordings ──► onRecording (index, then announce)
 *
 * Every frame goes to the encoder; at most `analysisFps` frames a second, picked evenly in time,
 * go to the detector first (synchronously: a start event for frame N reaches the recorder
 * before frame N is encoded). The frames the detector skips cost it nothing. Backpressure on
 * the frame → encoder edge: a pausable source (a file in fast mode) is paused while ffmpeg is behind, so nothing is
 * lost; a live source never waits and the encoder drops (and counts) frames instead.
 *
 * A passthrough source (a network camera that sends H.264, or the Pi camera on the split route,
 * whose own ffmpeg encodes it) brings its own access units: they take the encoder's place, and
 * no encoder runs here. They come ahead of their decoded frames, so
 * the ring already holds the unit of the frame an event starts on.
 */

/** Encoder settings of the pipeline (size and rate come from the source's frames). */
export interface PipelineEncoderOptions {
  /** `libx264` (default), `h264_v4l2m2m`, or `auto` (the Pi's encoder when present). */
  readonly codec?: EncoderCodec | 'auto';
  readonly crf?: number;
  readonly bitrateKbps?: number;
  /** Frames between keyframes; default one second's worth. */
  readonly gopFrames?: number;
  readonly maxInFlightFrames?: number;
  /** Give up after this many restarts in a row (default: never, for a live camera). */
  readonly maxRestarts?: number;
}

/**
 * The encoder arguments of the Pi camera's split route (`SplitOptions.encoderArgs`): the codec
 * settings this pipeline's own encoder would use (codec with `auto` resolved, CRF, bitrate, a
 * keyframe interval of `gopFrames` or one second at the rate given), so a clip is the same
 * H.264 on either route. Rejects with `RECORDER_ENCODER_UNAVAILABLE` when this ffmpeg lacks the codec.
 */
export async function splitEncoderArgs(encoder: PipelineEncoderOptions = {}): Promise<(fps: number) => string[]> {
  const codec = await resolveEncoderCodec(encoder.codec ?? 'libx264');
  // Checked now, so bad settings fail at start rather than in every run of the camera.
  encoderCodecArgs({ fps: 30, codec, crf: encoder.crf, bitrateKbps: encoder.bitrateKbps, gopFrames: encoder.gopFrames });
  return (fps) => encoderCodecArgs({ fps, codec, crf: encoder.crf, bitrateKbps: encoder.bitrateKbps, gopFrames: encoder.gopFrames });
}

/** The on-demand encoder of a source that passes its camera's JPEGs through (an MJPEG `url:` camera). */
export interface PipelineOnDemandOptions {
  /** The encoder stays up this long after the last recording, viewer or segment needed it, milliseconds (default 10000). */
  readonly idleStopMs?: number;
}

/** Options of {@link createPipeline}. */
export interface PipelineOptions {
  readonly source: FrameSource;
  readonly dataDir: string;
  readonly detector?: MaskableDetectorOptions;
  /**
   * Frames a second the detector analyses at most (`detector.analysisFps`), picked by
   * timestamp; the others still go to the encoder, ring and listeners. Default: every frame.
   */
  readonly analysisFps?: number;
  readonly encoder?: PipelineEncoderOptions;
  /**
   * For a source with `onJpeg` (an MJPEG camera): its JPEGs are the pre-roll and the encoder runs
   * on demand (see `createOnDemandEncoder`); the frames only feed the detector.
   */
  readonly onDemand?: PipelineOnDemandOptions;
  readonly recorder?: Omit<RecorderOptions, 'dataDir' | 'logger'>;
  /** Continuous segments and the look-back (see `createSegmenter`); off unless given. */
  readonly segments?: Omit<SegmenterOptions, 'dataDir' | 'logger' | 'camera' | 'fps'>;
  /** Recover partial clips left by a crash before starting (default true). */
  readonly recover?: boolean;
  /**
   * The one way a finished recording leaves the pipeline: called once for every recording the
   * pipeline finished (clips, segments, photos, memories handed to `report`) or recovered, in
   * the order they were finished, before `onClip`/`onSegment` listeners hear of it. The
   * composition root indexes it here, then announces it. A failing hook is logged; the
   * recording stays on disk for the next reindex.
   */
  readonly onRecording?: (recording: FinishedRecording) => void | Promise<void>;
  /**
   * What starts an event (see `nextTriggerGateState`): `video` (default) is the detector alone;
   * the other modes take sensor cues given to {@link Pipeline.sensor}.
   */
  readonly triggers?: { readonly mode: TriggerGateMode; readonly withinS: number };
  readonly logger?: Logger;
}

/** An event as recorded: from the trigger gate (or, in `video` mode, the detector), with the cues that took part. */
export type TriggerEvent =
  | {
      readonly type: 'start';
      /** The first cue: the clip's pre-roll counts back from here. */
      readonly ptsUs: number;
      /** When the event was decided (the newest frame then). */
      readonly triggerPtsUs: number;
      /** The video score at the start, null when no video cue started it. */
      readonly score: number | null;
      readonly continued: boolean;
      /** The cues that started it (`video` and/or sensor names), in time order. */
      readonly cues: readonly string[];
    }
  | {
      readonly type: 'end';
      readonly endPtsUs: number;
      readonly peakScore: number | null;
      /** Every cue that took part. */
      readonly cues: readonly string[];
    };

/** How far behind the newest frame the detector's start may lie (its confirmation), milliseconds. */
const DETECTOR_TRIGGER_LAG_MS = 2000;

/** Counters of the whole pipeline. */
export interface PipelineStats {
  readonly frames: number;
  /** Frames the detector analysed (the others were skipped by the analysis rate). */
  readonly analysedFrames: number;
  /** The rate frames are analysed at, measured over the newest analysed frames (0 before two). */
  readonly analysisFps: number;
  /** Times the source was paused because the encoder was behind (pausable sources only). */
  readonly pauses: number;
  readonly encoder: EncoderStats | null;
  /** The on-demand encoder of an MJPEG camera and its JPEG pre-roll, or null. */
  readonly onDemand: OnDemandEncoderStats | null;
  readonly recorder: RecorderStats;
  readonly segments: SegmenterStats;
}

/** The wired pipeline. */
export interface Pipeline {
  readonly detector: MaskableDetector;
  readonly recorder: Recorder;
  /** Continuous segments and the look-back, fed the same access units as the recorder. */
  readonly segmenter: Segmenter;
  /** The encoder, created at the first frame (its size comes from the frames); null for an MJPEG camera (see `onDemand`). */
  encoder(): Encoder | null;
  /** The on-demand encoder of an MJPEG camera, or null. */
  onDemand(): OnDemandEncoder | null;
  /**
   * Asks for H.264 video now (a live viewer of `/stream.mp4`): starts an on-demand encoder until
   * the returned release is called. Frame-fed encoders always run: then a no-op.
   */
  holdVideo(reason: string): () => void;
  /** Recovers partial clips (unless disabled), starts the source. Resolves with what was recovered. */
  start(): Promise<RecoveredClip[]>;
  /**
   * Stops in reverse order: the source, then the encoder (its last units reach the recorder),
   * then the detector's open event is ended, then every clip is finalised and reported.
   * Idempotent.
   */
  stop(): Promise<void>;
  /** Resolves when a finite source has ended and the pipeline has been stopped after it. */
  finished(): Promise<void>;
  /**
   * Switches motion detection; switched off during an event, the event ends there (its clip
   * runs on for the post-roll and is finished), as if the motion had stopped.
   */
  setMotionEnabled(on: boolean): void;
  /**
   * Replaces the detector's mask live (polygons, rectangles, bitmap); a running motion event
   * ends there. Throws `DETECTOR_BAD_MASK` and keeps the old mask when the new one is invalid.
   */
  setMask(mask: PolygonMask | undefined): void;
  /** Starts a manual recording (with pre-roll). */
  manualStart(): boolean;
  /**
   * Saves the newest frame as a photo and reports it; throws `RUNTIME_NO_FRAME` before the first
   * frame. A passthrough source (a network camera's H.264, the Pi camera's split route), whose
   * frames are reduced, gives its newest keyframe decoded in full instead (up to one keyframe
   * interval old; the reduced frame if it cannot be decoded).
   */
  takePhoto(): Promise<FinishedRecording>;
  /** Reports a recording finished outside the pipeline's own components (a saved memory) through `onRecording`. */
  report(recording: FinishedRecording): Promise<void>;
  /** The recorder's state: an event (clip) open or not, on every change. */
  onRecordingState(listener: (state: RecorderState) => void): () => void;
  manualStop(): void;
  /**
   * The camera stopped delivering (it is being restarted): ends the running motion event and
   * closes the open clip at its last frame, so what was recorded is final and playable. A
   * manual recording goes on in a new clip when frames return.
   */
  interrupt(reason: string): void;
  onSample(listener: (sample: MotionSample) => void): () => void;
  /** Every encoded picture (H.264 access unit), as the recorder gets it. */
  onUnit(listener: (unit: AccessUnit) => void): () => void;
  /** Detector events with the frame they happened on. */
  onDetectorEvent(listener: (event: DetectorEvent, frame: Frame | null) => void): () => void;
  /**
   * Events as recorded: what the trigger gate made of the detector's events and the sensor
   * cues (in `video` mode the detector's events), with the frame that was newest then.
   */
  onTrigger(listener: (event: TriggerEvent, frame: Frame | null) => void): () => void;
  /**
   * A sensor edge, now: `on` is a cue; `off` starts its hold of `holdUs`; a sensor without "off"
   * sends both at once. Ignored before the first frame (there is no clock and no video yet); a
   * cue is ignored while motion detection is off. Returns false when it was ignored.
   */
  sensor(name: string, on: boolean, holdUs: number): boolean;
  /** True while an event runs as recorded: the gate's (or in `video` mode the detector's). */
  triggerActive(): boolean;
  /** Finished clips, after the store hook ran. */
  onClip(listener: (clip: RecordedClip) => void): () => void;
  /** Finished continuous segments, after the store hook ran. */
  onSegment(listener: (segment: SegmentRecord) => void): () => void;
  stats(): PipelineStats;
  /**
   * Replaces the detector with one made from new options (a configuration applied live): the
   * old detector's open event ends first, as if the motion had stopped, so its clip is finished
   * normally; the new detector starts from its warm-up.
   */
  replaceDetector(options: MaskableDetectorOptions): void;
  /** Changes how many frames a second the detector analyses at most (`Infinity`: every frame); from the next frame on. */
  setAnalysisFps(fps: number): void;
}

/**
 * One H.264 keyframe (with its SPS and PPS in band, as every unit of the ring's keyframes has
 * them) decoded by ffmpeg to a full-size I420 picture, for a photo.
 */
async function decodeKeyframe(unit: AccessUnit): Promise<{ width: number; height: number; data: Buffer; wallMs: number }> {
  const { stdout } = await runTool('ffmpeg', ['-v', 'error', '-f', 'h264', '-i', 'pipe:0', '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1'], { input: unit.data, timeoutMs: 10_000 });
  const bytes = unit.width * unit.height * 1.5;
  if (stdout.length < bytes) throw new Error(`the keyframe decoded to ${stdout.length} bytes, not a ${unit.width}x${unit.height} picture`);
  return { width: unit.width, height: unit.height, data: stdout.subarray(0, bytes), wallMs: unit.wallMs };
}

/** Wires a source into detector, encoder, ring and recorder. Spawns nothing until `start()`. */
export function createPipeline(options: PipelineOptions): Pipeline {
  const log = options.logger;
  const { source } = options;
  let detector = createMaskableDetector(options.detector ?? {}, log);
  const triggers = options.triggers ?? { mode: 'video' as const, withinS: 0 };
  const gated = triggers.mode !== 'video';
  // In video-and-sensor mode the second cue may come withinS after the first, and the clip
  // still starts the pre-roll before the first: the ring keeps that much more.
  const maxTriggerLagMs = options.recorder?.maxTriggerLagMs ?? gateTriggerLagMs(triggers, DETECTOR_TRIGGER_LAG_MS);
  log?.info({ mode: triggers.mode, withinS: triggers.withinS, preRollMs: options.recorder?.preRollMs ?? 5000, maxTriggerLagMs }, 'pipeline: trigger mode and pre-roll ring window (pre-roll + trigger lag + one GOP)');
  const recorder = createRecorder({
    ...options.recorder,
    maxTriggerLagMs,
    fps: options.recorder?.fps ?? (source.fps || undefined),
    dataDir: options.dataDir,
    logger: log?.child({ component: 'recorder' }),
  });
  const segmenter = createSegmenter({
    ...options.segments,
    camera: options.recorder?.camera,
    fps: options.recorder?.fps ?? (source.fps || undefined),
    fsync: options.segments?.fsync ?? options.recorder?.fsync,
    dataDir: options.dataDir,
    logger: log?.child({ component: 'segments' }),
  });
  const preRollMs = options.recorder?.preRollMs ?? 5000;
  // An MJPEG camera: its JPEGs are the pre-roll and the encoder runs only when video is needed.
  const onDemand: OnDemandEncoder | null = source.onJpeg
    ? createOnDemandEncoder({
        preRollMs,
        maxTriggerLagMs,
        codec: options.encoder?.codec === 'auto' ? undefined : options.encoder?.codec,
        crf: options.encoder?.crf,
        bitrateKbps: options.encoder?.bitrateKbps,
        idleStopMs: options.onDemand?.idleStopMs,
        logger: log?.child({ component: 'encoder' }),
      })
    : null;
  // Every command that starts or ends a recording goes through here: straight to the recorder,
  // or held until the on-demand encoder has caught up with the moment it was given.
  const held = onDemand ? createHeldRecorder(recorder, onDemand, { preRollMs, snapshot: decodeJpegFrame, logger: log?.child({ component: 'recorder' }) }) : null;
  const rec: RecorderCommands = held ?? recorder;
  const lookbackOn = (options.segments?.lookbackMaxBytes ?? 0) > 0;
  let segmentsHold: (() => void) | null = null;
  const segments = createEmitter<[SegmentRecord]>('pipeline segments', log);
  const samples = createEmitter<[MotionSample]>('pipeline samples', log);
  const units = createEmitter<[AccessUnit]>('pipeline units', log);
  const detectorEvents = createEmitter<[DetectorEvent, Frame | null]>('pipeline detector events', log);
  const clips = createEmitter<[RecordedClip]>('pipeline clips', log);
  const triggerEvents = createEmitter<[TriggerEvent, Frame | null]>('pipeline triggers', log);
  const gateConfig = { mode: triggers.mode, withinS: triggers.withinS, maxEventS: detector.config().maxEventS };
  let gate: TriggerGateState = INITIAL_TRIGGER_GATE_STATE;
  // The gate's clock: frame timestamps, and sensor edges placed on it by the wall time since the newest frame.
  let gateNowUs = Number.NEGATIVE_INFINITY;
  let lastFrameAtMs = 0;
  // The newest video start (its heat-map and score go with an event a video cue started).
  let lastVideoStart: DetectorStartEvent | null = null;
  let gatePeak: number | null = null;
  let encoder: Encoder | null = null;
  let codec: EncoderCodec | undefined = options.encoder?.codec === 'auto' ? undefined : options.encoder?.codec;
  let encoderStart: Promise<void> | null = null;
  // The newest frame, for photos and manual recordings: kept with a reference on its buffer
  // (a pooled source reuses buffers nobody holds), released when the next frame replaces it.
  const last = createFrameSlot();
  let frames = 0;
  let analysedFrames = 0;
  let analysisFps = options.analysisFps ?? Infinity;
  let rateState: AnalysisRateState = INITIAL_ANALYSIS_RATE_STATE;
  const analysedRate = createAnalysedRateMeter();
  let pauses = 0;
  let paused = false;
  let stopping: Promise<void> | null = null;
  let hookChain: Promise<void> = Promise.resolve();
  let resolveFinished!: () => void;
  const finished = new Promise<void>((resolve) => (resolveFinished = resolve));

  const notify = (recording: FinishedRecording): Promise<void> => {
    // Serialised, so the store sees recordings in the order they were finished.
    hookChain = hookChain.then(async () => {
      try {
        await options.onRecording?.(recording);
      } catch (error) {
        log?.error({ err: error, id: recording.sidecar.id }, 'pipeline: recording hook failed; the recording is on disk for the next reindex');
      }
    });
    return hookChain;
  };

  recorder.onClip((clip) => {
    void notify(clip).then(() => clips.emit(clip));
  });

  segmenter.onSegment((segment) => {
    if (!segment.recording) return;
    void notify(segment.recording).then(() => segments.emit(segment));
  });

  /** A detector event, as the recorder takes it (the heat-map is rendered only if a clip is finished). */
  const toRecorder = (event: DetectorEvent, frame: Frame | null): void => {
    if (event.type === 'start') {
      const heatmap = event.heatmap;
      rec.motionStart({
        ptsUs: event.ptsUs,
        frame: frame ?? undefined,
        heatmap: heatmap ? { render: (width, height) => renderHeatmapPng(heatmap, width, height) } : null,
        triggerLevel: event.triggerLevel,
        score: event.score,
        boxes: event.boxes,
        continued: event.continued,
        cues: [event.cue ?? VIDEO_CUE],
      });
    } else {
      rec.motionEnd({ endPtsUs: event.endPtsUs, peakScore: event.peakScore });
    }
  };

  const emitEvent = (event: DetectorEvent, frame: Frame | null): void => detectorEvents.emit(event, frame);

  /** A detector event: straight to the recorder in `video` mode, else into the gate. */
  const onDetectorEvent = (event: DetectorEvent, frame: Frame | null): void => {
    if (!gated) {
      toRecorder(event, frame);
      emitEvent(event, frame);
      triggerEvents.emit(
        event.type === 'start'
          ? { type: 'start', ptsUs: event.ptsUs, triggerPtsUs: event.triggerPtsUs, score: event.score, continued: event.continued, cues: [event.cue ?? VIDEO_CUE] }
          : { type: 'end', endPtsUs: event.endPtsUs, peakScore: event.peakScore, cues: [VIDEO_CUE] },
        frame,
      );
      return;
    }
    emitEvent(event, frame);
    const atUs = frame?.ptsUs ?? gateNowUs;
    if (event.type === 'start') {
      lastVideoStart = event;
      feedGate({ type: 'video-start', ptsUs: event.ptsUs, atUs, continued: event.continued }, frame);
    } else {
      gatePeak = Math.max(gatePeak ?? 0, event.peakScore);
      feedGate({ type: 'video-end', endPtsUs: event.endPtsUs, atUs, split: event.reason === 'max-length' }, frame);
    }
  };

  /** One input into the gate; what it decides goes to the recorder and the trigger listeners. */
  const feedGate = (input: TriggerGateInput, frame: Frame | null): void => {
    // Inputs must come in time order; a sensor edge placed a little past the next frame waits for it.
    gateNowUs = Math.max(gateNowUs, input.atUs);
    const step = nextTriggerGateState(gate, { ...input, atUs: gateNowUs }, gateConfig);
    gate = step.state;
    for (const out of step.outputs) {
      if (out.type === 'start') {
        const video = out.cues.includes(VIDEO_CUE) ? lastVideoStart : null;
        if (!out.continued) gatePeak = video ? video.score : null;
        const heatmap = video?.heatmap;
        log?.info({ ptsUs: out.ptsUs, cues: out.cues, continued: out.continued, lagMs: Math.round((gateNowUs - out.ptsUs) / 1000) }, 'trigger: event start');
        rec.motionStart({
          ptsUs: out.ptsUs,
          frame: frame ?? undefined,
          heatmap: heatmap ? { render: (width, height) => renderHeatmapPng(heatmap, width, height) } : null,
          triggerLevel: detector.triggerLevel(),
          score: video?.score,
          continued: out.continued,
          cues: out.cues,
        });
        triggerEvents.emit({ type: 'start', ptsUs: out.ptsUs, triggerPtsUs: gateNowUs, score: video ? video.score : null, continued: out.continued, cues: out.cues }, frame);
      } else {
        log?.info({ endPtsUs: out.endPtsUs, reason: out.reason, cues: out.cues }, 'trigger: event end');
        rec.motionEnd({ endPtsUs: out.endPtsUs, peakScore: gatePeak ?? undefined, cues: out.cues });
        triggerEvents.emit({ type: 'end', endPtsUs: out.endPtsUs, peakScore: gatePeak, cues: out.cues }, frame);
      }
    }
  };

  /** Detection switched off, the camera stopped or the pipeline stops: the gate's event ends at the newest frame. */
  const closeGate = (): void => {
    if (gated) feedGate({ type: 'disable', atUs: last.frame?.ptsUs ?? gateNowUs }, last.frame);
  };

  /** An access unit, from our encoder or (passthrough) from the camera itself: the ring, the clips, the segments, the live view. */
  const recordUnit = (unit: AccessUnit): void => {
    if (unit.keyframe) newestKeyframe = unit;
    recorder.push(unit);
    segmenter.push(unit);
    units.emit(unit);
  };
  // A network camera that sends H.264 is recorded as it comes: its units replace the encoder's.
  const passthrough = source.passthrough === true && source.onUnit !== undefined;
  // A passthrough source's frames are reduced: its photos decode the newest keyframe in full instead.
  let newestKeyframe: AccessUnit | null = null;

  const startEncoder = (frame: Frame): Encoder => {
    const fps = source.fps > 0 ? source.fps : 30;
    const created = createEncoder({
      width: frame.width,
      height: frame.height,
      fps,
      codec,
      crf: options.encoder?.crf,
      bitrateKbps: options.encoder?.bitrateKbps,
      gopFrames: options.encoder?.gopFrames,
      maxInFlightFrames: options.encoder?.maxInFlightFrames,
      maxRestarts: options.encoder?.maxRestarts,
      // The backpressure policy of this edge follows the source: wait for a file, drop for a camera.
      policy: source.pausable ? 'wait' : 'drop',
      logger: log?.child({ component: 'encoder' }),
    });
    created.onUnit(recordUnit);
    created.onDiscontinuity((info) => {
      rec.discontinuity(`${info.reason} (${info.lostFrames} frames lost)`);
      segmenter.discontinuity(`${info.reason} (${info.lostFrames} frames lost)`);
    });
    created.onState((state, error) => {
      if (state === 'failed') log?.error({ err: error }, 'pipeline: encoder failed; recording stops, detection goes on');
    });
    encoderStart = created.start().catch((error: unknown) => {
      log?.error({ err: error }, 'pipeline: encoder did not start; recording is off');
    });
    return created;
  };

  const onFrame = (frame: Frame): void => {
    if (stopping) return;
    frames++;
    last.hold(frame);
    lastFrameAtMs = Date.now();
    const rate = nextAnalysisRate(rateState, frame.ptsUs, analysisFps);
    rateState = rate.state;
    if (rate.analyse) {
      analysedFrames++;
      analysedRate.add(frame.ptsUs);
      const { sample, events } = detector.push(frame);
      recorder.sample(sample.ptsUs, sample.score, frame, sample.boxes);
      samples.emit(sample);
      for (const event of events) onDetectorEvent(event, frame);
    }
    // The gate's clock follows every frame: a sensor's hold ends on time between analysed frames.
    if (gated) feedGate({ type: 'tick', atUs: frame.ptsUs }, frame);
    if (onDemand || passthrough) return;
    encoder ??= startEncoder(frame);
    encoder.encode(frame);
    if (source.pausable && !paused && encoder.busy()) {
      paused = true;
      pauses++;
      source.pause();
      void encoder.drained().then(() => {
        paused = false;
        source.resume();
      });
    }
  };

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await source.stop();
      if (onDemand) {
        // Its last units reach the recorder, then the starts that waited for them run.
        await onDemand.stop();
        held?.flush();
      }
      if (encoderStart) await encoderStart;
      if (encoder) await encoder.stop();
      for (const event of detector.flush(last.frame?.ptsUs)) onDetectorEvent(event, last.frame);
      closeGate();
      await recorder.stop();
      await segmenter.stop();
      // The newest frame stays held: photos of it remain possible after the stop.
      await hookChain;
      resolveFinished();
    })();
    return stopping;
  };

  return {
    get detector() {
      return detector;
    },
    replaceDetector(next) {
      for (const event of detector.flush(last.frame?.ptsUs)) onDetectorEvent(event, last.frame);
      const enabled = detector.enabled();
      detector = createMaskableDetector(next, log);
      if (!enabled) detector.setEnabled(false);
    },
    setAnalysisFps(fps) {
      analysisFps = fps;
      rateState = INITIAL_ANALYSIS_RATE_STATE;
    },
    recorder,
    segmenter,
    encoder: () => encoder,
    onDemand: () => onDemand,
    holdVideo: (reason) => (onDemand ? onDemand.hold(reason) : () => undefined),
    async start(): Promise<RecoveredClip[]> {
      if (options.encoder?.codec === 'auto') {
        codec = await resolveEncoderCodec('auto');
        log?.info({ codec }, 'pipeline: encoder chosen');
      }
      let recovered: RecoveredClip[] = [];
      if (options.recover !== false) {
        recovered = await recoverPartialClips({ dataDir: options.dataDir, logger: log?.child({ component: 'recovery' }) });
        for (const item of recovered) {
          if (item.recording) await notify(item.recording);
        }
      }
      await segmenter.open();
      // The source's last units (drained while it stops) still reach the recorder, stopped after it.
      if (passthrough) source.onUnit?.(recordUnit);
      source.onFrame(onFrame);
      if (onDemand && source.onJpeg) {
        onDemand.onUnit((unit) => {
          recorder.push(unit);
          segmenter.push(unit);
          units.emit(unit);
        });
        onDemand.onDiscontinuity((reason) => {
          rec.discontinuity(reason);
          segmenter.discontinuity(reason);
        });
        source.onJpeg((jpeg) => {
          // Continuous segments and the look-back need every picture encoded: hold while they are on.
          const wantSegments = segmenter.continuous() || lookbackOn;
          if (wantSegments && !segmentsHold) segmentsHold = onDemand.hold('segments');
          else if (!wantSegments && segmentsHold) {
            segmentsHold();
            segmentsHold = null;
          }
          onDemand.push(jpeg);
        });
      }
      await source.start();
      void source.ended().then(() => stop());
      return recovered;
    },
    stop,
    finished: () => finished,
    setMotionEnabled(on) {
      for (const event of detector.setEnabled(on)) onDetectorEvent(event, last.frame);
      if (!on) closeGate();
    },
    sensor(name, on, holdUs) {
      if (stopping || !last.frame) return false;
      // Switched off, a cue starts nothing; an "off" still counts, or a sensor that went quiet
      // meanwhile would hold the next event open after detection is switched on again.
      if (on && !detector.enabled()) return false;
      if (!gated) return true;
      const atUs = last.frame.ptsUs + Math.max(0, Date.now() - lastFrameAtMs) * 1000;
      feedGate({ type: 'sensor', name, on, holdUs, atUs }, last.frame);
      return true;
    },
    setMask(mask) {
      for (const event of detector.setMask(mask)) onDetectorEvent(event, last.frame);
    },
    manualStart: () => rec.manualStart({ frame: last.frame ?? undefined }),
    manualStop: () => rec.manualStop(last.frame?.ptsUs),
    async takePhoto() {
      // An MJPEG camera's frames are small (for the detector): the photo is its newest picture, decoded in full.
      const newest = onDemand?.newest();
      if (newest) {
        const photo = await recorder.takePhoto(await decodeJpegFrame(newest));
        await notify(photo);
        return photo;
      }
      const keyframe = passthrough ? newestKeyframe : null;
      if (keyframe) {
        try {
          const photo = await recorder.takePhoto(await decodeKeyframe(keyframe));
          await notify(photo);
          return photo;
        } catch (error) {
          log?.warn({ err: error }, 'pipeline: the newest keyframe could not be decoded; the photo is the reduced frame');
        }
      }
      const frame = last.frame;
      if (!frame) throw Object.assign(new Error('no frame yet: the camera is not delivering'), { code: 'RUNTIME_NO_FRAME' });
      // The recorder reads the frame after an await: hold its buffer until the photo is taken.
      const release = retainFrame(frame);
      let photo: FinishedRecording;
      try {
        photo = await recorder.takePhoto(frame);
      } finally {
        release();
      }
      await notify(photo);
      return photo;
    },
    report: (recording) => notify(recording),
    onRecordingState: (listener) => recorder.onState(listener),
    interrupt(reason) {
      if (stopping) return;
      for (const event of detector.flush(last.frame?.ptsUs)) onDetectorEvent(event, last.frame);
      closeGate();
      if (recorder.recording()) {
        log?.warn({ reason }, 'pipeline: closing the open clip: the camera stopped');
        rec.discontinuity(reason);
      }
      segmenter.discontinuity(reason);
    },
    onSample: samples.on,
    onUnit: units.on,
    onDetectorEvent: detectorEvents.on,
    onTrigger: triggerEvents.on,
    triggerActive: () => (gated ? gate.event !== null : detector.active()),
    onClip: clips.on,
    onSegment: segments.on,
    stats: () => ({ frames, analysedFrames, analysisFps: analysedRate.fps(), pauses, encoder: encoder?.stats() ?? null, onDemand: onDemand?.stats() ?? null, recorder: recorder.stats(), segments: segmenter.stats() }),
  };
}
