import { mkdir, statfs } from 'node:fs/promises';
import type { Logger } from 'pino';
import { createEmitter } from '@preroll/process';
import { chooseDefaultSource, createSource, createFrameSlot, parseSourceSpec, mjpegLowresFor, probeStream, setV4l2Controls, urlRouteDecision, type CaptureState, type CaptureStats, type Frame, type FrameDetections, type FrameSource, type PassthroughOptions, type SplitOptions, type UrlRoute } from '@preroll/capture';
import { loadMaskImage, type Calibration, type MotionBox, type MotionSample, type PolygonMask } from '@preroll/detector';
import type { MaskableDetectorOptions } from '@preroll/detector';
import type { AccessUnit, FinishedRecording } from '@preroll/recorder';
import { openStore, type EventRecord, type Store, type Timeline } from '@preroll/store';
import { applyModeOf, type Config } from '../config';
import { cameraJpeg, frameJpeg } from '../live/frame-jpeg';
import { createRateMeter, createSizeMeter } from '../live/rates';
import { createLiveView, type LiveView } from '../live/live-view';
import { createPipeline, splitEncoderArgs, type Pipeline } from '../pipeline';
import { createGpioButton, type GpioButton, type GpioStatus } from './gpio';
import { createExportService, type ExportJob, type ExportService, type TimeSpan } from './exports';
import { createMemoryService, type MemoryService, type MemoryStatus } from './memories';
import { createSensors, type Sensors, type SensorStatus } from './sensors';
import type { PendingMemory } from './memory-button';
import { openSettings, SCORE_SCALE, type RuntimeSettings, type SettingsFile } from './settings';
import { memoryFigures, readSystemInfo, type SystemInfo } from './system';

/** The `pipeline` block of the status. */
export interface PipelineStatus {
  /** Frames lost before Node had them (timestamp gaps), or dropped for want of a free frame buffer. */
  readonly captureDroppedFrames: number;
  /** Of those, frames dropped because every frame buffer was held. */
  readonly framePoolDroppedFrames: number;
  /** Frames the encoder dropped because ffmpeg was behind or restarting. */
  readonly encoderDroppedFrames: number;
  /** The pre-roll ring: H.264 access units in RAM (for an MJPEG camera on the `mjpeg` recording path: its JPEGs), their bytes and the time they span, against what an event needs (`wantedMs`: `recorder.preRollMs`); the ring keeps up to the pre-roll plus the trigger lag plus one GOP. */
  readonly preRoll: { readonly units: number; readonly bytes: number; readonly spanMs: number; readonly wantedMs: number };
  /** The frame pool: buffers allocated, held now, and their bytes (null while no frame came). */
  readonly framePool: { readonly frames: number; readonly inUse: number; readonly peakInUse: number; readonly bytes: number } | null;
  /** The on-demand encoder of an MJPEG camera (null otherwise): running or not, starts and stops, and the spawn-to-first-unit time of the last start. */
  readonly onDemandEncoder: { readonly state: string; readonly starts: number; readonly stops: number; readonly crashes: number; readonly lastStartLatencyMs: number | null } | null;
}

/** Everything `GET /api/status` reports. */
export interface Status {
  readonly version: string;
  /** The camera id (`camera.id`). */
  readonly camera: string;
  readonly source: string;
  readonly sourceReason: string;
  /**
   * How the video is recorded: `passthrough` (a network camera's own H.264, only a reduced
   * stream decoded for detection), `mjpeg` (an MJPEG camera's own JPEGs as the pre-roll, the
   * encoder on demand) or `encoder` (frames encoded here), with the reason, and the
   * camera's keyframe interval seen in passthrough (the pre-roll's granularity), milliseconds.
   */
  readonly recordingPath: { readonly mode: UrlRoute | 'split'; readonly reason: string; readonly gopMs: number | null };
  readonly captureState: CaptureState;
  readonly captureError: { code: string; message: string } | null;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  /** Frames a second the motion detector analyses (measured; at most `detector.analysisFps`, and the scores come at this rate). */
  readonly analysisFps: number;
  readonly droppedFrames: number;
  readonly score: number;
  readonly triggerLevel: number;
  /** The detector's level mode, its auto level (null in manual mode) and the user's offset in ladder rungs. */
  readonly trigger: { mode: 'auto' | 'manual'; autoLevel: number | null; offset: number; profile: 'day' | 'night'; noiseSigma: number; boxes: readonly MotionBox[] };
  readonly motionEnabled: boolean;
  readonly motion: boolean;
  readonly recording: boolean;
  /** Wall time the current recording started, or null. */
  readonly recordingSince: string | null;
  readonly manualRecording: boolean;
  readonly uptimeS: number;
  readonly disk: { usedPct: number; freeBytes: number; totalBytes: number } | null;
  readonly events: { count: number; bytes: number };
  /**
   * Live viewers, JPEGs encoded, and what each live quality costs on this camera in bytes per
   * second (running averages; null until measured): `video` the encoder's H.264 (`/stream.mp4`),
   * `jpeg` the live JPEGs at the live frame rate, `saver` one JPEG a second.
   */
  readonly live: { viewers: number; encodes: number; bytesPerS: { video: number | null; jpeg: number | null; saver: number | null } };
  /**
   * Where frames went and what the pipeline holds in RAM: drops by cause (the camera or its
   * reader, the frame pool, the encoder), the H.264 pre-roll ring, and the frame pool.
   */
  readonly pipeline: PipelineStatus;
  readonly system: SystemInfo | null;
  /** Continuous recording (dashcam mode). */
  readonly continuous: { readonly enabled: boolean; readonly segmentS: number; readonly segmentsWritten: number };
  /** "Save the last N minutes". */
  readonly memory: MemoryStatus;
  /** The GPIO memory button. */
  readonly gpio: GpioStatus;
  /** What starts an event (`camera.triggers.mode`) and each sensor's last state and cue. */
  readonly triggers: { readonly mode: string; readonly withinS: number; readonly sensors: readonly SensorStatus[] };
}

/**
 * "An event started": a motion event at its trigger frame, or a manual recording at its start,
 * with the JPEG of that moment (what alerts send). Events continued after `maxEventS` are the
 * same event and are not announced again.
 */
export interface EventStart {
  readonly camera: string;
  readonly kind: 'motion' | 'manual';
  /** Wall time of the trigger frame. */
  readonly atMs: number;
  /** Score of the trigger frame (null for a manual recording or an event a sensor started). */
  readonly score: number | null;
  /** What started it: `video` and/or sensor names (empty for a manual recording). */
  readonly cues: readonly string[];
  /** JPEG of the trigger frame at the live view's width, or null when it could not be made. */
  readonly snapshot: Buffer | null;
}

/** Options of {@link createRuntime}. */
export interface RuntimeOptions {
  /** The configuration, with `camera` being this runtime's camera. */
  readonly config: Readonly<Config>;
  /**
   * A store shared by several cameras' runtimes (opened, started and closed by the caller).
   * Without it the runtime opens its own in `start()` and closes it in `stop()`.
   */
  readonly store?: Store;
  /**
   * The first (or only) camera: it recovers partial recordings left by a crash, owns the GPIO
   * button and `settings.json`. Further cameras keep their settings in `settings-<id>.json`.
   * Default true.
   */
  readonly primary?: boolean;
  /**
   * Where every recording this camera finishes goes (clips, segments, memories, photos,
   * recovered clips), once, in order: the composition root indexes it, then announces it.
   */
  readonly onRecording: (recording: FinishedRecording) => Promise<void>;
  /** Run the Raspberry Pi AI Camera's detector (a Pi camera source only) and report its detections (`onDetections`). */
  readonly aiCamera?: { readonly postProcessFile: string; readonly minConfidence: number } | null;
  readonly logger: Logger;
  readonly version: string;
}

/**
 * The running recorder without its web layer: source → pipeline (detector, encoder, ring,
 * recorder) → store, plus the live view and the settings the page changes. Created cold;
 * `start()` opens the store, chooses the source and starts capturing; `stop()` undoes it in
 * reverse order.
 */
export interface Runtime {
  /** The event store (after `start()`). */
  store(): Store;
  readonly live: LiveView;
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): Status;
  /**
   * Motion scores (every frame) for the live chart, with the frame that was scored. The frame's
   * buffer goes back to the capture's pool after the call: a listener that keeps the picture
   * copies it (or takes a reference with `retainFrame`) before it returns.
   */
  onSample(listener: (sample: MotionSample, frame: Frame | null) => void): () => void;
  /** The encoder's H.264 access units (the `/stream.mp4` live stream). */
  onUnit(listener: (unit: AccessUnit) => void): () => void;
  /** Anything the page shows changed (trigger level, switches, recording state, capture state). */
  onChange(listener: () => void): () => void;
  /** Events (motion or sensor, as `camera.triggers.mode` combines them) started (`true`) or ended, with the wall time of the frame. */
  onMotion(listener: (active: boolean, atMs: number) => void): () => void;
  /**
   * An `http` sensor was called (`POST /api/sensors/:name`): `pulse`, `on` or `off`. Throws
   * `SENSOR_UNKNOWN` or `SENSOR_RATE_LIMITED`; returns whether the trigger took it (false before
   * the first frame or while detection is off).
   */
  fireSensor(name: string, what: 'pulse' | 'on' | 'off'): boolean;
  /** Topics of this camera's MQTT sensors. */
  sensorTopics(): string[];
  /** A message on one of {@link sensorTopics} (from the integrations' MQTT connection). */
  sensorMessage(topic: string, payload: Buffer, retained: boolean): void;
  /** An event started, with the snapshot of the trigger moment (encoded off the frame path). */
  onEventStart(listener: (event: EventStart) => void): () => void;
  /** The AI Camera's objects per frame (with `aiCamera` and a Pi camera source; see camera-labels.ts). */
  onDetections(listener: (detections: FrameDetections) => void): () => void;
  /** A JPEG of the newest frame at the live view's width, or null before the first frame. */
  snapshotJpeg(): Promise<Buffer | null>;
  /** Sets a manual level (detection leaves auto mode). */
  setTriggerLevel(value: number): number;
  /** In auto mode moves the offset over the auto level, in manual mode the level. */
  stepTriggerLevel(direction: 1 | -1): number;
  /** Switches between the auto level (offset 0) and a manual one (the current level); returns the level now. */
  setTriggerMode(mode: 'auto' | 'manual'): number;
  setMotionEnabled(on: boolean): boolean;
  startManualRecording(): boolean;
  stopManualRecording(): void;
  /** Saves the current frame as a photo (kind `photo`) at full resolution with a thumbnail, and indexes it. */
  takeSnapshot(): Promise<EventRecord>;
  /** Switches continuous recording (kept in settings.json). */
  setContinuous(on: boolean): boolean;
  /** A press of the memory button (page, API or GPIO): see runtime/memory-button.ts. Throws `MEMORY_UNAVAILABLE`. */
  pressMemory(options?: { addMs?: number; hold?: boolean }): PendingMemory;
  /** The physical memory button went up. */
  releaseMemory(): void;
  /** Starts joining the continuous recordings of a range into one MP4 (see runtime/exports.ts). Throws `ExportError`. */
  exportRange(range: TimeSpan): ExportJob;
  /** An export job by id. */
  exportJob(id: string): ExportJob | undefined;
  /** The recordings of one day for the timeline strip. */
  /** A day's segments and events, oldest first; of one camera when `camera` is given. */
  timeline(day: string, camera?: string): Timeline;
  calibrate(apply: boolean): Calibration;
  /** What the page left in settings.json (trigger, switches), for the backup. */
  savedSettings(): RuntimeSettings;
  /** Puts back settings from a backup (validated by the caller): written to settings.json and in force at once. */
  restoreSettings(saved: RuntimeSettings): void;
  /**
   * Applies a new configuration of this camera live; `keys` are the dotted keys that changed.
   * The live view and retention change in place; detector keys replace the detector (its open
   * event ends first); camera, encoder and recording keys restart the source and pipeline after
   * the clip being written is finished and marked as cut by the change. Resolves with the keys
   * applied; keys only a restart of Preroll applies are left out.
   */
  reconfigure(next: Readonly<Config>, keys: readonly string[]): Promise<string[]>;
  /**
   * The camera's source restarted with new settings (`keys`) while the pipeline ran on (rpicam
   * controls): the clip being written, a continuous segment and the pre-roll ring mark the gap.
   */
  markCameraRestart(keys: readonly string[], gap: { gapMs: number | null; lastPtsUs: number | null }): void;
  /** The capture source (after `start()`), for the camera controls; null before. */
  cameraSource(): FrameSource | null;
  /** The source spec in use (`camera.source`, or what `auto` chose), after `start()`. */
  sourceSpec(): string;
  /** Replaces the detector's mask live, without saving it (see `Pipeline.setMask`). */
  setDetectorMask(mask: PolygonMask | undefined): void;
  /** The detector's mask in force. */
  detectorMask(): PolygonMask | undefined;
}

/** Creates the runtime (no I/O until `start()`). */
export function createRuntime(options: RuntimeOptions): Runtime {
  const { logger } = options;
  // Replaced as a whole by `reconfigure()`; everything reads the current one.
  let config = options.config;
  const dataDir = config.server.dataDir;
  const live = createLiveView({ ...config.live, logger: logger.child({ component: 'live' }) });
  const samples = createEmitter<[MotionSample, Frame | null]>('runtime samples', logger);
  const units = createEmitter<[AccessUnit]>('runtime units', logger);
  const detections = createEmitter<[FrameDetections]>('runtime detections', logger);
  const motions = createEmitter<[boolean, number]>('runtime motion', logger);
  const changes = createEmitter<[]>('runtime changes', logger);
  const eventStarts = createEmitter<[EventStart]>('runtime event starts', logger);
  // The newest frame (snapshots, the manual start's picture), held by reference: the source's
  // pool would otherwise refill its buffer with a later frame while it is read.
  const last = createFrameSlot();
  let manualOn = false;
  // What live viewing costs here: the H.264 always flows; a JPEG is sampled when nobody watches JPEGs.
  const videoBytes = createRateMeter();
  const sampledJpeg = createSizeMeter();
  let sampling = false;
  const liveCost = (fps: number): Status['live']['bytesPerS'] => {
    const jpegAvg = live.stats().jpegBytesAvg ?? sampledJpeg.mean();
    const newest = pipeline?.onDemand()?.newest();
    if (jpegAvg === null && (newest || last.frame) && !sampling) {
      sampling = true;
      (newest ? cameraJpeg(newest.data, config.live.width, config.live.jpegQuality) : frameJpeg(last.frame!, config.live.width, config.live.jpegQuality))
        .then((jpeg) => sampledJpeg.add(jpeg.length))
        .catch((error: unknown) => logger.warn({ err: error }, 'live: cannot sample a JPEG for the cost estimate'))
        .finally(() => {
          sampling = false;
        });
    }
    const round = (v: number | null): number | null => (v === null ? null : Math.round(v));
    return { video: round(videoBytes.bytesPerS()), jpeg: round(jpegAvg === null || fps <= 0 ? null : jpegAvg * Math.min(config.live.maxFps, fps)), saver: round(jpegAvg) };
  };
  // The JPEG is made from a copy taken before anything awaits; the notice follows once it is encoded.
  const announceStart = (kind: EventStart['kind'], atMs: number, score: number | null, frame: Frame | null, cues: readonly string[] = []): void => {
    const camera = config.camera.id;
    // An MJPEG camera's frames are small (for the detector): its newest picture is the snapshot.
    const newest = pipeline?.onDemand()?.newest();
    const jpeg = newest
      ? cameraJpeg(newest.data, config.live.width, config.live.jpegQuality)
      : frame
        ? frameJpeg(frame, config.live.width, config.live.jpegQuality)
        : Promise.resolve(null);
    jpeg
      .catch((error: unknown) => {
        logger.warn({ err: error }, 'trigger snapshot failed; the event is announced without it');
        return null;
      })
      .then((snapshot) => eventStarts.emit({ camera, kind, atMs, score, snapshot, cues }));
  };
  const startedAt = Date.now();
  let settings: SettingsFile | null = null;
  let source: FrameSource | null = null;
  let pipeline: Pipeline | null = null;
  let sourceSpec = '';
  let sourceReason = '';
  let recordingPath: { mode: UrlRoute | 'split'; reason: string; gopMs: number | null } = { mode: 'encoder', reason: 'not started', gopMs: null };
  // A stop during the start ends the camera's probe at once, and the start goes no further.
  let probeAbort: AbortController | null = null;
  let stopRequested = false;
  let lastSample: MotionSample | null = null;
  // When the open event began (the recorder's state says whether there is one, and if manual).
  let recordingSince: number | null = null;
  let disk: Status['disk'] = null;
  let system: SystemInfo | null = null;
  let diskTimer: NodeJS.Timeout | null = null;
  let realStore: Store | null = null;
  let gpio: GpioButton | null = null;
  const triggers = config.camera.triggers;
  const sensors: Sensors = createSensors({
    sensors: triggers.sensors,
    edge: (name, on, holdUs) => pipeline?.sensor(name, on, holdUs) ?? false,
    logger: logger.child({ component: 'sensors' }),
  });
  let lookbackMaxBytes = 0;
  const memories: MemoryService = createMemoryService({
    rules: {
      defaultMs: config.recording.memory.defaultMinutes * 60_000,
      stepMs: config.recording.memory.stepMinutes * 60_000,
      holdStepMs: config.recording.memory.holdStepS * 1000,
      windowMs: config.recording.memory.windowS * 1000,
      maxMs: config.recording.memory.maxMinutes * 60_000,
    },
    segmenter: () => pipeline?.segmenter ?? null,
    report: (recording) => requirePipeline().report(recording),
    dataDir,
    camera: config.camera.id,
    fsync: config.recorder.fsync,
    fps: () => (source && source.fps > 0 ? source.fps : undefined),
    lookbackMaxBytes: () => lookbackMaxBytes,
    logger: logger.child({ component: 'memory' }),
    onChange: () => changed(),
  });

  const exports: ExportService = createExportService({
    store: () => store(),
    camera: config.camera.id,
    dataDir,
    fsync: config.recorder.fsync,
    fps: () => (source && source.fps > 0 ? source.fps : undefined),
    maxMs: () => config.recording.memory.maxMinutes * 60_000,
    report: (recording) => requirePipeline().report(recording),
    logger: logger.child({ component: 'export' }),
  });

  const store = (): Store => {
    if (!realStore) throw new Error('runtime not started');
    return realStore;
  };

  const changed = (): void => changes.emit();

  const refreshDisk = async (): Promise<void> => {
    try {
      const fs = await statfs(dataDir);
      const total = fs.blocks * fs.bsize;
      const free = fs.bavail * fs.bsize;
      disk = { totalBytes: total, freeBytes: free, usedPct: total ? Math.round(((total - free) / total) * 1000) / 10 : 0 };
    } catch (error) {
      logger.warn({ err: error }, 'cannot read disk usage');
    }
    system = await readSystemInfo();
  };

  /** Keeps the trigger as the detector has it now (mode, manual level, offset) for the next start. */
  const saveTrigger = (): void => {
    const detector = requirePipeline().detector;
    const mode = detector.triggerMode();
    settings?.update({ scoreScale: SCORE_SCALE, triggerMode: mode, triggerLevel: mode === 'manual' ? detector.triggerLevel() : undefined, triggerOffset: mode === 'auto' ? detector.autoLevel().offset : undefined });
  };

  /** A USB camera's configured controls, set once it runs; a refusal is logged, capture goes on. */
  const applyV4l2Controls = async (): Promise<void> => {
    const values = config.camera.v4l2Controls;
    if (!Object.keys(values).length) return;
    let spec;
    try {
      spec = parseSourceSpec(sourceSpec);
    } catch (error) {
      logger.warn({ err: error }, 'camera: v4l2 controls not applied');
      return;
    }
    if (spec.kind !== 'v4l2') return;
    try {
      await setV4l2Controls(spec.device, values);
      logger.info({ device: spec.device, controls: Object.keys(values) }, 'camera: v4l2 controls set');
    } catch (error) {
      logger.error({ err: error, device: spec.device }, 'camera: v4l2 controls not applied');
    }
  };

  /** The detector's options from the configuration; a bad mask file throws DETECTOR_BAD_MASK naming the file. */
  const detectorOptions = async (): Promise<MaskableDetectorOptions> => {
    // The analysis rate is the pipeline's (which frames reach the detector), not the detector's.
    const { mask: maskConfig, analysisFps: _analysisFps, ...detectorConfig } = config.detector;
    const maskImage = maskConfig.imagePath ? await loadMaskImage(maskConfig.imagePath) : undefined;
    return {
      ...detectorConfig,
      triggerLevel: config.detector.triggerLevel,
      mask: maskConfig.rects.length || maskImage || maskConfig.polygons.length ? { rects: maskConfig.rects, image: maskImage, polygons: maskConfig.polygons } : undefined,
    };
  };

  /** Chooses the source and wires a new pipeline to it (at the start, and when the configuration changes). */
  const buildPipeline = async (recover: boolean): Promise<void> => {
    if (config.camera.source === 'auto') {
      const choice = await chooseDefaultSource();
      sourceSpec = choice.spec;
      sourceReason = choice.reason;
    } else {
      sourceSpec = config.camera.source;
      sourceReason = 'configured';
    }
    logger.info({ source: sourceSpec, reason: sourceReason }, `source: ${sourceSpec}`);
    const { passthrough, mjpeg } = await chooseUrlRoute(sourceSpec);
    const split = await chooseSplit(sourceSpec);
    if (stopRequested) throw Object.assign(new Error('the camera was stopped while it was probed'), { code: 'RUNTIME_STOPPED' });
    source = createSource(sourceSpec, {
      passthrough: passthrough ?? undefined,
      split: split ?? undefined,
      width: config.camera.width,
      height: config.camera.height,
      fps: config.camera.fps,
      strideAlign: config.camera.strideAlign,
      rpicamArgs: config.camera.rpicamArgs,
      controls: config.camera.controls,
      stallTimeoutMs: config.camera.stallTimeoutMs,
      loop: config.camera.loop,
      // A camera found to send H.264 is passed through, one found to send MJPEG takes the MJPEG path.
      mjpeg: mjpeg ? { lowres: mjpeg.lowres, analysisFps: config.detector.analysisFps } : undefined,
      keepTrying: true,
      // Every consumer here takes a reference on the frames it keeps: no allocation per frame.
      framePool: true,
      aiCamera: options.aiCamera ?? null,
      logger: logger.child({ component: 'capture' }),
    });
    source.onDetections?.((d) => detections.emit(d));
    // The split route's frames come at the detection rate: the clips are at the camera's (the source's rate before its start).
    const cameraFps = passthrough?.cameraFps ?? (split ? source.fps : undefined);
    const saved = (settings as SettingsFile).read();
    const detector = await detectorOptions();
    lookbackMaxBytes = config.recording.lookback.enabled ? await lookbackCap(dataDir, config.recording.lookback.maxBytes, logger) : 0;
    pipeline = createPipeline({
      source,
      dataDir,
      detector,
      analysisFps: config.detector.analysisFps,
      encoder: { codec: config.recorder.encoder, bitrateKbps: config.recorder.bitrateKbps },
      onDemand: { idleStopMs: config.camera.mjpeg.encoderIdleStopS * 1000 },
      recorder: {
        camera: config.camera.id,
        preRollMs: config.recorder.preRollMs,
        postRollMs: config.recorder.postRollMs,
        fsync: config.recorder.fsync,
        // Passthrough: the clips hold the camera's pictures, at its rate, not the detection frames'.
        fps: cameraFps,
      },
      segments: {
        continuous: saved.continuousEnabled ?? config.recording.continuous.enabled,
        segmentS: config.recording.continuous.segmentS,
        lookbackMaxBytes,
        lookbackSegmentS: config.recording.lookback.segmentS,
        // The list of segments a memory can use reaches back as far as the longest memory.
        keepListS: config.recording.memory.maxMinutes * 60 + 2 * config.recording.continuous.segmentS,
      },
      // Partial recordings are recovered once, by the first camera (they may be any camera's).
      recover,
      onRecording: options.onRecording,
      triggers: { mode: config.camera.triggers.mode, withinS: config.camera.triggers.withinS },
      logger: logger.child({ component: 'pipeline' }),
    });
    if (saved.motionEnabled === false) pipeline.setMotionEnabled(false);
    restoreTrigger(pipeline, saved);
    // An MJPEG camera's own JPEGs are the live view; its frames are small, for the detector.
    const jpegs = source.onJpeg;
    source.onFrame((frame) => {
      last.hold(frame);
      if (!jpegs) live.offer(frame);
    });
    jpegs?.((jpeg) => live.offerJpeg(jpeg));
    source.onState((state, error) => {
      // A camera outage must not leave a clip open until it comes back (it may never).
      if (state === 'restarting' || state === 'failed') pipeline?.interrupt(`camera ${state}: ${error?.message ?? 'no reason given'}`);
      changed();
    });
    pipeline.onTrigger((event, frame) => {
      const atMs = frame?.wallMs ?? Date.now();
      motions.emit(event.type === 'start', atMs);
      if (event.type === 'start' && !event.continued) announceStart('motion', atMs, event.score, frame, event.cues);
      changed();
    });
    let lastKeyPtsUs: number | null = null;
    pipeline.onUnit((unit) => {
      videoBytes.add(unit.data.length, unit.wallMs);
      units.emit(unit);
      if (passthrough && unit.keyframe) {
        if (lastKeyPtsUs !== null) noteCameraGop((unit.ptsUs - lastKeyPtsUs) / 1000);
        lastKeyPtsUs = unit.ptsUs;
      }
    });
    pipeline.onSample((sample) => {
      lastSample = sample;
      // The runtime's frame listener runs before the pipeline's (it was added first), so the
      // newest frame held here is the one this sample scored.
      samples.emit(sample, last.frame && last.frame.ptsUs === sample.ptsUs ? last.frame : null);
    });
    pipeline.onRecordingState((state) => {
      if (state.manual && !manualOn) announceStart('manual', Date.now(), null, last.frame);
      manualOn = state.manual;
      if (!state.recording) recordingSince = null;
      else recordingSince ??= Date.now();
      changed();
    });
    pipeline.onClip(() => changed());
    pipeline.onSegment(() => changed());
  };

  /**
   * For a `url:` camera: probes it (bounded in time) unless both `camera.passthrough.mode` and
   * `camera.mjpeg.mode` are `never`, and chooses its recording path (`urlRouteDecision`): the
   * passthrough options when it sends H.264 that browsers play, `mjpeg` when it sends MJPEG,
   * else neither (the frames are decoded and encoded here). A camera that does not answer the
   * probe is decoded: its codec is unknown, and the decoding path reads any codec.
   */
  const chooseUrlRoute = async (spec: string): Promise<{ passthrough: (PassthroughOptions & { width: number; height: number; cameraFps?: number }) | null; mjpeg: { lowres: 0 | 1 | 2 | 3 } | null }> => {
    const settings = config.camera.passthrough;
    const modes = { passthrough: settings.mode, mjpeg: config.camera.mjpeg.mode };
    const parsed = parseSourceSpec(spec);
    const neither = { passthrough: null, mjpeg: null };
    if (parsed.kind !== 'url') {
      recordingPath = { mode: 'encoder', reason: `${parsed.kind} source: frames encoded here`, gopMs: null };
      return neither;
    }
    if (modes.passthrough === 'never' && modes.mjpeg === 'never') {
      recordingPath = { mode: 'encoder', reason: 'camera.passthrough.mode and camera.mjpeg.mode are never: decoded and re-encoded', gopMs: null };
      return neither;
    }
    probeAbort = new AbortController();
    try {
      const probe = await probeStream(parsed.url, { timeoutMs: settings.probeTimeoutMs, signal: probeAbort.signal, logger });
      const decision = urlRouteDecision(probe, modes);
      recordingPath = { mode: decision.route, reason: decision.reason, gopMs: null };
      logger.info({ probe, route: decision.route }, `source: ${decision.reason}`);
      if (decision.route === 'mjpeg') {
        const lowres = config.camera.mjpeg.lowres;
        return { passthrough: null, mjpeg: { lowres: lowres === 'auto' ? mjpegLowresFor(probe.width, config.detector.analysisWidth) : lowres } };
      }
      if (decision.route !== 'passthrough') return neither;
      return {
        passthrough: {
          detectWidthPx: settings.detectWidthPx,
          // Decoded at the detector's analysis rate: no frame is decoded that it would skip.
          detectFps: probe.fps ? Math.min(config.detector.analysisFps, probe.fps) : config.detector.analysisFps,
          width: probe.width,
          height: probe.height,
          cameraFps: probe.fps ?? undefined,
        },
        mjpeg: null,
      };
    } catch (error) {
      recordingPath = { mode: 'encoder', reason: `the camera did not answer the probe (${(error as Error).message}): decoded and re-encoded`, gopMs: null };
      logger.warn({ err: error }, 'source: probe failed; decoding and re-encoding (restart the server once the camera answers to record its own H.264 or JPEGs)');
      return neither;
    }
  };

  /**
   * For a Pi camera with `camera.rpicamRoute` `split`: the split route's options (the encoder's
   * arguments from the pipeline's encoder settings, the reduced stream's width and rate), else null.
   */
  const chooseSplit = async (spec: string): Promise<SplitOptions | null> => {
    if (config.camera.rpicamRoute !== 'split' || parseSourceSpec(spec).kind !== 'rpicam') return null;
    const encoderArgs = await splitEncoderArgs({ codec: config.recorder.encoder, bitrateKbps: config.recorder.bitrateKbps });
    recordingPath = { mode: 'split', reason: 'camera.rpicamRoute is split: the encoder ffmpeg reads the camera; Node gets its H.264 and a reduced stream', gopMs: null };
    return { detectWidthPx: config.camera.passthrough.detectWidthPx, detectFps: config.detector.analysisFps, encoderArgs };
  };

  /** The camera's keyframe interval decides the pre-roll's granularity: a GOP longer than the pre-roll is worth a warning. */
  let gopWarned = false;
  const noteCameraGop = (gopMs: number): void => {
    recordingPath = { ...recordingPath, gopMs: Math.round(gopMs) };
    const preRollMs = config.recorder.preRollMs;
    if (gopMs > preRollMs && !gopWarned) {
      gopWarned = true;
      logger.warn(
        { gopMs: Math.round(gopMs), preRollMs },
        'passthrough: the camera sends a keyframe less often than the pre-roll lasts; clips start at a keyframe, so they may begin up to one keyframe interval earlier than the pre-roll, and the ring holds that much more (set the camera\'s keyframe interval / GOP to 1-2 s)',
      );
    }
  };

  const requirePipeline = (): Pipeline => {
    if (!pipeline) throw Object.assign(new Error('the recorder is not running'), { code: 'RUNTIME_NOT_RUNNING' });
    return pipeline;
  };

  return {
    store,
    live,
    async start() {
      await mkdir(dataDir, { recursive: true });
      const primary = options.primary ?? true;
      settings = openSettings(dataDir, logger, primary ? 'settings.json' : `settings-${config.camera.id}.json`);
      realStore = options.store ?? (await openConfiguredStore(config, logger));

      await buildPipeline(primary);
      await refreshDisk();
      diskTimer = setInterval(() => void refreshDisk(), 15_000);
      diskTimer.unref();
      const recovered = await requirePipeline().start();
      await applyV4l2Controls();
      if (recovered.length) logger.info({ recovered: recovered.length }, 'recovered partial clips from the last run');
      await sensors.start();
      // The button belongs to one camera: the one it names, else the first.
      const buttonHere = config.recording.gpio.camera === null ? (options.primary ?? true) : config.recording.gpio.camera === config.camera.id;
      if (config.recording.gpio.pin !== null && buttonHere) {
        gpio = createGpioButton({
          ...config.recording.gpio,
          pin: config.recording.gpio.pin,
          logger: logger.child({ component: 'gpio' }),
          onPress: () => {
            try {
              memories.press({ hold: true });
            } catch (error) {
              logger.warn({ err: error }, 'memory button pressed, but no memory can be saved');
            }
          },
          onRelease: () => memories.release(),
        });
        await gpio.start();
      }
    },
    async stop() {
      stopRequested = true;
      probeAbort?.abort();
      if (diskTimer) clearInterval(diskTimer);
      if (gpio) await gpio.stop();
      await sensors.stop();
      live.close();
      // Saves under way finish: stopping the pipeline closes the segment they wait for.
      const draining = Promise.all([memories.stop(), exports.stop()]);
      if (pipeline) await pipeline.stop();
      await draining;
      last.hold(null);
      if (realStore && !options.store) await realStore.close();
    },
    status() {
      const stats = source?.stats();
      const encoderDropped = pipeline?.encoder()?.stats().droppedFrames ?? 0;
      const storeStats = realStore?.stats();
      const liveStats = live.stats();
      return {
        version: options.version,
        camera: config.camera.id,
        source: source?.description ?? sourceSpec,
        sourceReason,
        recordingPath,
        captureState: source?.state() ?? 'idle',
        captureError: stats?.lastError ?? null,
        width: source?.width ?? 0,
        height: source?.height ?? 0,
        fps: stats?.fps ?? 0,
        analysisFps: round(pipeline?.stats().analysisFps ?? 0),
        droppedFrames: (stats?.droppedFrames ?? 0) + encoderDropped,
        score: round(lastSample?.score ?? 0),
        triggerLevel: pipeline?.detector.triggerLevel() ?? config.detector.triggerLevel,
        trigger: {
          mode: pipeline?.detector.triggerMode() ?? config.detector.triggerMode,
          autoLevel: lastSample?.autoLevel ?? null,
          // From the detector itself: a step shows at once, before the next frame's sample.
          offset: pipeline && pipeline.detector.triggerMode() === 'auto' ? pipeline.detector.autoLevel().offset : 0,
          profile: lastSample?.profile ?? 'day',
          noiseSigma: lastSample?.noiseSigma ?? 0,
          boxes: lastSample?.boxes ?? [],
        },
        motionEnabled: pipeline?.detector.enabled() ?? true,
        motion: pipeline?.triggerActive() ?? false,
        recording: recordingSince !== null,
        recordingSince: recordingSince === null ? null : new Date(recordingSince).toISOString(),
        manualRecording: pipeline?.recorder.state().manual ?? false,
        uptimeS: Math.round((Date.now() - startedAt) / 1000),
        disk,
        events: { count: storeStats?.count ?? 0, bytes: storeStats?.bytes ?? 0 },
        live: { viewers: liveStats.viewers, encodes: liveStats.encodes, bytesPerS: liveCost(stats?.fps ?? 0) },
        pipeline: pipelineStatus(stats, pipeline, config.recorder.preRollMs),
        system: system ? { ...system, ...memoryFigures() } : null,
        continuous: {
          enabled: pipeline?.segmenter.continuous() ?? settings?.read().continuousEnabled ?? config.recording.continuous.enabled,
          segmentS: config.recording.continuous.segmentS,
          segmentsWritten: pipeline?.segmenter.stats().segmentsWritten ?? 0,
        },
        memory: memories.status(),
        gpio: gpio?.status() ?? { state: 'off', pin: config.recording.gpio.pin, presses: 0, lastError: null, lastErrorCode: null, restarts: 0 },
        triggers: { mode: config.camera.triggers.mode, withinS: config.camera.triggers.withinS, sensors: sensors.status() },
      };
    },
    onSample: samples.on,
    onUnit(listener) {
      // An H.264 viewer needs the encoder: an on-demand one runs while the viewer listens.
      const off = units.on(listener);
      const release = pipeline?.holdVideo('live viewer');
      return () => {
        off();
        release?.();
      };
    },
    onMotion: motions.on,
    fireSensor(name, what) {
      requirePipeline();
      const taken = sensors.fire(name, what);
      changed();
      return taken;
    },
    sensorTopics: () => sensors.mqttTopics(),
    sensorMessage(topic, payload, retained) {
      sensors.mqttMessage(topic, payload, retained);
      changed();
    },
    onEventStart: eventStarts.on,
    onDetections: detections.on,
    async snapshotJpeg() {
      const newest = pipeline?.onDemand()?.newest();
      if (newest) return cameraJpeg(newest.data, config.live.width, config.live.jpegQuality);
      return last.frame ? frameJpeg(last.frame, config.live.width, config.live.jpegQuality) : null;
    },
    onChange: changes.on,
    setTriggerLevel(value) {
      const level = requirePipeline().detector.setTriggerLevel(value);
      saveTrigger();
      changed();
      return level;
    },
    stepTriggerLevel(direction) {
      const level = requirePipeline().detector.stepTriggerLevel(direction);
      saveTrigger();
      changed();
      return level;
    },
    setTriggerMode(mode) {
      requirePipeline().detector.setTriggerMode(mode);
      saveTrigger();
      changed();
      return requirePipeline().detector.triggerLevel();
    },
    setMotionEnabled(on) {
      requirePipeline().setMotionEnabled(on);
      settings?.update({ motionEnabled: on });
      changed();
      return on;
    },
    startManualRecording() {
      // The recorder's state listener updates the status.
      return requirePipeline().manualStart();
    },
    stopManualRecording() {
      requirePipeline().manualStop();
    },
    async takeSnapshot() {
      // The photo is reported like every recording (indexed by the time this resolves).
      const photo = await requirePipeline().takePhoto();
      const record = store().get(photo.sidecar.id);
      if (!record) throw Object.assign(new Error('the photo was written but could not be indexed'), { code: 'RUNTIME_NOT_INDEXED' });
      changed();
      return record;
    },
    setContinuous(on) {
      requirePipeline().segmenter.setContinuous(on);
      settings?.update({ continuousEnabled: on });
      changed();
      return on;
    },
    pressMemory(pressOptions) {
      requirePipeline();
      return memories.press(pressOptions);
    },
    releaseMemory() {
      memories.release();
    },
    exportRange(range) {
      requirePipeline();
      return exports.start(range);
    },
    exportJob(id) {
      return exports.get(id);
    },
    timeline(day, camera) {
      return store().timeline(day, camera);
    },
    savedSettings: () => settings?.read() ?? {},
    restoreSettings(saved) {
      const next = settings?.replace(saved) ?? saved;
      if (!pipeline) return;
      pipeline.setMotionEnabled(next.motionEnabled ?? true);
      pipeline.segmenter.setContinuous(next.continuousEnabled ?? config.recording.continuous.enabled);
      // From the configuration's trigger, then the saved one on top (as at a start).
      const detector = pipeline.detector;
      if (next.triggerMode === 'manual' && next.triggerLevel !== undefined) detector.setTriggerLevel(next.triggerLevel);
      else if ((next.triggerMode ?? config.detector.triggerMode) === 'auto') {
        // Through manual: switching to auto starts from offset 0, which the saved offset steps from.
        detector.setTriggerMode('manual');
        detector.setTriggerMode('auto');
        restoreTrigger(pipeline, next);
      } else detector.setTriggerLevel(config.detector.triggerLevel);
      logger.info({ settings: next }, 'settings restored from a backup');
      changed();
    },
    async reconfigure(next, keys) {
      const previous = config;
      config = next;
      const applied: string[] = [];
      const take = (match: (key: string) => boolean): string[] => {
        const found = keys.filter(match);
        applied.push(...found);
        return found;
      };
      if (take((k) => k.startsWith('live.')).length) live.configure(next.live);
      // A shared store is the composition root's to change.
      if (take((k) => k.startsWith('retention.')).length && realStore && !options.store) {
        realStore.setRetention({ maxDiskPct: next.retention.maxDiskPct, maxTotalBytes: next.retention.maxTotalBytes || null, maxAgeDays: next.retention.maxAgeDays || null });
      }
      const restartKeys = take((k) => applyModeOf(k) === 'camera' && !k.startsWith('retention.') && !k.startsWith('live.'));
      const detectorKeys = take((k) => k.startsWith('detector.'));
      const triggerKeys = detectorKeys.filter((k) => k === 'detector.triggerLevel' || k === 'detector.triggerMode');
      // A trigger set in the configuration wins over the one the page left in settings.json.
      if (triggerKeys.length) settings?.update({ triggerMode: undefined, triggerLevel: undefined, triggerOffset: undefined });
      if (!pipeline) return applied;
      if (restartKeys.length) {
        logger.info({ keys: restartKeys }, 'configuration changed: restarting the camera');
        const old = pipeline;
        const manual = old.recorder.state().manual;
        // Stopping finishes the clip being written with every frame it got (nothing recorded is
        // lost); its sidecar says it ends at the change. An interrupt would start a second, tiny
        // clip in the old pipeline before it stops. The new pipeline has its own encoder and ring:
        // access units of another size or encoder are never joined to the old ones.
        const mark = { wallMs: Date.now(), reason: 'camera-restart' as const, keys: restartKeys, gapMs: null, ended: true };
        old.recorder.markBreak(mark);
        old.segmenter.markBreak(mark);
        await old.stop();
        try {
          await buildPipeline(false);
          await requirePipeline().start();
          await applyV4l2Controls();
          // A manual recording goes on in a new clip, as after a camera outage.
          if (manual) requirePipeline().manualStart();
        } catch (error) {
          logger.error({ err: error }, 'the camera did not restart with the new configuration; back to the previous one');
          config = previous;
          await buildPipeline(false);
          await requirePipeline().start();
          throw error;
        }
      } else if (detectorKeys.length) {
        logger.info({ keys: detectorKeys }, 'configuration changed: new detector');
        pipeline.replaceDetector(await detectorOptions());
        pipeline.setAnalysisFps(config.detector.analysisFps);
        if (!triggerKeys.length) restoreTrigger(pipeline, settings?.read() ?? {});
      }
      changed();
      return applied;
    },
    markCameraRestart(keys, { gapMs, lastPtsUs }) {
      if (!pipeline) return;
      // The gap runs from the last frame before the restart (its timestamp places it exactly) to the first after it (about now).
      const mark = { wallMs: Date.now() - (gapMs ?? 0), ptsUs: lastPtsUs, reason: 'camera-restart' as const, keys, gapMs, ended: false };
      pipeline.recorder.markBreak(mark);
      pipeline.segmenter.markBreak(mark);
    },
    cameraSource: () => source,
    sourceSpec: () => sourceSpec,
    setDetectorMask(mask) {
      requirePipeline().setMask(mask);
      changed();
    },
    detectorMask: () => pipeline?.detector.mask(),
    calibrate(apply) {
      const result = requirePipeline().detector.calibrate({ apply });
      if (result.applied) {
        saveTrigger();
        changed();
      }
      return result;
    },
  };
}

/**
 * The look-back cap in force: the configured bytes, but at most a quarter of the file system
 * holding the data directory (the default 8 GB must not fill a small card), 0 when off.
 */
async function lookbackCap(dataDir: string, configured: number, logger: Logger): Promise<number> {
  if (configured <= 0) return 0;
  try {
    const fs = await statfs(dataDir);
    const quarter = Math.floor((fs.blocks * fs.bsize) / 4);
    if (configured > quarter) {
      logger.warn({ configured, used: quarter }, 'recording.lookback.maxBytes is more than a quarter of the file system; using a quarter');
      return quarter;
    }
  } catch (error) {
    logger.warn({ err: error }, 'cannot read the file system size; the look-back cap is taken as configured');
  }
  return configured;
}

/** Opens and starts the event store of the data directory with the configured retention. */
export async function openConfiguredStore(config: Readonly<Config>, logger: Logger): Promise<Store> {
  const store = await openStore({
    dataDir: config.server.dataDir,
    logger: logger.child({ component: 'store' }),
    // 0 in the configuration means "no limit", which the store spells null.
    retention: {
      maxDiskPct: config.retention.maxDiskPct,
      maxTotalBytes: config.retention.maxTotalBytes || null,
      maxAgeDays: config.retention.maxAgeDays || null,
    },
    retentionIntervalMs: config.retention.intervalS * 1000,
  });
  await store.start();
  return store;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/** Puts back the trigger the user left: a manual level, or auto with their offset. */
function restoreTrigger(pipeline: Pipeline, saved: RuntimeSettings): void {
  const detector = pipeline.detector;
  if (saved.triggerMode === 'manual' && saved.triggerLevel !== undefined) {
    detector.setTriggerLevel(saved.triggerLevel);
    return;
  }
  if (saved.triggerMode === 'auto' && saved.triggerOffset) {
    const direction = saved.triggerOffset > 0 ? 1 : -1;
    for (let i = 0; i < Math.abs(saved.triggerOffset); i++) detector.stepTriggerLevel(direction);
  }
}

function pipelineStatus(capture: CaptureStats | undefined, pipeline: Pipeline | null, wantedMs: number): PipelineStatus {
  // An MJPEG camera's pre-roll is its JPEGs (the H.264 ring fills only while the encoder runs).
  const onDemand = pipeline?.onDemand()?.stats();
  const jpegRing = onDemand?.ring;
  const ring = jpegRing ? { units: jpegRing.frames, bytes: jpegRing.bytes, spanMs: jpegRing.spanMs } : pipeline?.recorder.stats().ring;
  const pool = capture?.pool;
  return {
    captureDroppedFrames: capture?.droppedFrames ?? 0,
    framePoolDroppedFrames: pool?.dropped ?? 0,
    encoderDroppedFrames: pipeline?.encoder()?.stats().droppedFrames ?? 0,
    preRoll: { units: ring?.units ?? 0, bytes: ring?.bytes ?? 0, spanMs: ring?.spanMs ?? 0, wantedMs },
    framePool: pool ? { frames: pool.allocated, inUse: pool.inUse, peakInUse: pool.peakInUse, bytes: pool.bytes } : null,
    onDemandEncoder: onDemand ? { state: onDemand.state, starts: onDemand.starts, stops: onDemand.stops, crashes: onDemand.crashes, lastStartLatencyMs: onDemand.lastStartLatencyMs } : null,
  };
}
