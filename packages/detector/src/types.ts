import type { Frame } from '@preroll/capture';

/**
 * A rectangle to ignore, in fractions of the frame (0..1 on both axes), so the same config
 * works at any capture resolution. `{ x: 0, y: 0, width: 1, height: 0.1 }` is the top tenth
 * (e.g. a timestamp overlay or a road).
 */
export interface MaskRect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/**
 * A mask bitmap, one byte per pixel, row after row. Pixels below 128 (black) are masked out
 * and never count; 128 and above (white) are watched. Any size: it is resampled to the
 * analysis size (the size of the frame or of the analysis image are the usual choices).
 * Load one from a PNG or binary PGM file with `loadMaskImage`.
 */
export interface MaskImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** Areas that never count as motion: a bitmap and/or rectangles (their union is masked). */
export interface DetectorMask {
  readonly image?: MaskImage;
  readonly rects?: readonly MaskRect[];
}

/**
 * How frame-wide brightness changes (lights, sun, clouds, IR switching, auto-exposure) are
 * kept from starting events. See docs/detector.md.
 */
export interface LightingConfig {
  /**
   * What global change is removed from the difference before scoring:
   * `tone` (default) removes the mean difference per band of 8 luma levels of the previous
   * image, so any global tone change (exposure, gain, gamma, clipping at white) scores as
   * noise; `gain-offset` fits `cur ≈ gain·prev + offset`; `offset` removes only the mean
   * difference; `none` scores the raw difference (the plain MSE).
   */
  readonly compensation: 'tone' | 'gain-offset' | 'offset' | 'none';
  /** A pixel counts as "changed" when its raw luma difference exceeds this (0..255). */
  readonly pixelDelta: number;
  /**
   * When at least this fraction (0..1] of watched pixels changed at once, in the same
   * direction, the frame is treated as a light switch: ignored, and the detector re-baselines.
   * Set to 1 to effectively disable switch detection.
   */
  readonly switchFraction: number;
  /** Seconds ignored after a light switch (auto-exposure settles over several frames). */
  readonly holdS: number;
}

/** The sensor-noise model and the per-pixel decision (see docs/detector.md, "The score"). */
export interface NoiseConfig {
  /** A pixel changed when its smoothed residual exceeds this many σ of the measured noise. */
  readonly thresholdSigma: number;
  /** ...and at least this many luma levels. */
  readonly minDeltaLuma: number;
  /** Time constant of the noise follower when the noise rises, seconds. */
  readonly riseS: number;
  /** Time constant when it falls, seconds. */
  readonly fallS: number;
}

/** Spatial coherence: the smallest connected region of changed pixels that counts. */
export interface RegionsConfig {
  /** Minimum region area as a fraction (0..1) of the analysis image. */
  readonly minAreaFraction: number;
}

/** The activity map that weighs down persistent local motion (leaves, water, flags). */
export interface ActivityConfig {
  /** Weight of the learned activity in the squared threshold; 0 turns the map off. */
  readonly weight: number;
  /** Time constant while a pixel's activity grows, seconds. */
  readonly riseS: number;
  /** Time constant while it fades, seconds. */
  readonly fallS: number;
  /** What one frame can teach a pixel, in squared base thresholds (bounds a passer-by's trail). */
  readonly clipFactor: number;
}

/** The night profile, switched to by scene brightness with hysteresis. */
export interface NightConfig {
  /** Switch to night when the mean luma of the watched area falls below this (0..255). */
  readonly enterLuma: number;
  /** Back to day when it rises above this (must be above `enterLuma`). */
  readonly exitLuma: number;
  /** `noise.thresholdSigma` at night. */
  readonly thresholdSigma: number;
  /** `regions.minAreaFraction` at night. */
  readonly minAreaFraction: number;
  /**
   * In `auto` mode the level at night is the day level times this: a person's contrast, and so
   * the squared residual the score sums, falls with the light, while the noise is already
   * taken out by the threshold. Manual levels are used as set.
   */
  readonly levelFactor: number;
}

/** The continuous "auto" trigger level. */
export interface AutoLevelSettings {
  /** The auto level sits this many times above the median of recent quiet scores. */
  readonly margin: number;
  /** Seconds of recent quiet scores it follows. */
  readonly windowS: number;
  /** It comes down one ladder rung at most every this many seconds. */
  readonly holdS: number;
}

/** A region of motion in one frame, in fractions of the frame (0..1). */
export interface MotionBox {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  /** Changed area as a fraction of the analysis image. */
  readonly area: number;
  /** The region's share of the frame's score. */
  readonly score: number;
}

/** Detector settings. Every number carries its unit in its name or doc. */
export interface DetectorConfig {
  /** Width of the analysis image in pixels; height follows the frame's aspect. Default 160. */
  readonly analysisWidth: number;
  /**
   * Score above which a frame counts as motion. The score is the mean squared luma
   * difference per analysis pixel (0..65025), see {@link MotionSample.score}.
   */
  readonly triggerLevel: number;
  /** Lowest level `setTriggerLevel`/`stepTriggerLevel` accept. */
  readonly minTriggerLevel: number;
  /** Highest level `setTriggerLevel`/`stepTriggerLevel` accept (65025 is the score's maximum). */
  readonly maxTriggerLevel: number;
  /**
   * `auto` (default): the level follows the measured noise floor of the score (never below
   * `triggerLevel`) and the +/- steps move an offset on top of it; `manual`: the level is
   * exactly what was set.
   */
  readonly triggerMode: 'auto' | 'manual';
  /** Consecutive frames above the level needed to start an event (a floor; see `confirmS`). */
  readonly confirmFrames: number;
  /** Seconds a run of frames above the level must last to start an event (frame-rate independent). */
  readonly confirmS: number;
  /** Age of the reference image each frame is compared with, seconds (frame-rate independence). */
  readonly referenceS: number;
  readonly noise: NoiseConfig;
  readonly regions: RegionsConfig;
  readonly activity: ActivityConfig;
  readonly night: NightConfig;
  readonly auto: AutoLevelSettings;
  /** An event ends after this many seconds without a frame above the level. */
  readonly gapS: number;
  /** Events longer than this are split: the running one ends (`max-length`) and a new one starts. */
  readonly maxEventS: number;
  /** Seconds ignored after the first frame, and after a source restart or a change of frame size. */
  readonly warmupS: number;
  readonly lighting: LightingConfig;
  readonly mask?: DetectorMask;
  /** Seconds of recent scores kept for `calibrate()`. */
  readonly calibrationWindowS: number;
}

/** One scored frame: what the live view shows next to the trigger level. */
export interface MotionSample {
  readonly seq: number;
  readonly ptsUs: number;
  /**
   * The motion score: the mean squared luma residual per watched analysis pixel between this
   * frame and its reference (about `referenceS` earlier), after removing the global brightness
   * change (see `lighting.compensation`), counting only pixels whose change stands out of the
   * measured noise and that lie in connected regions of at least the minimum area;
   * 0..65025. A still scene scores 0 at any gain. Computed for ignored frames too (so the live
   * view shows it while motion detection is off); 0 for the first frame after a (re)start.
   */
  readonly score: number;
  /** The plain compensated MSE over every watched pixel (the score before noise and regions). */
  readonly frameScore: number;
  /** Regions of motion in this frame, largest first (at most 16). */
  readonly boxes: readonly MotionBox[];
  /** Measured noise σ of the smoothed residual in the brightness band most of the picture is in. */
  readonly noiseSigma: number;
  /** The auto level before the user's offset (null in manual mode). */
  readonly autoLevel: number | null;
  /** The user's offset on top of the auto level, in ladder rungs. */
  readonly triggerOffset: number;
  readonly triggerMode: 'auto' | 'manual';
  /** The settings profile in force, chosen by scene brightness. */
  readonly profile: 'day' | 'night';
  /** How old the reference image was, milliseconds (0 for the first frame). */
  readonly referenceAgeMs: number;
  /** The trigger level in force for this frame. */
  readonly triggerLevel: number;
  /** True when the frame counts as motion (score above the level and not ignored). */
  readonly above: boolean;
  /** Why the frame was not judged: start-up warm-up, a light switch, or motion detection off. */
  readonly ignored: null | 'warmup' | 'lighting' | 'disabled';
  /** Raw mean squared difference before brightness compensation (0..65025). */
  readonly rawScore: number;
  /** Mean luma difference to the previous frame (−255..255): the global brightness change. */
  readonly meanDelta: number;
  /** Fraction (0..1) of watched pixels whose raw difference exceeds `lighting.pixelDelta`. */
  readonly changedFraction: number;
}

/** Diff magnitudes at analysis size (0 = no change, 255 = full-scale change). */
export interface HeatMap {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** One point of an event's score series. */
export interface ScoreSample {
  readonly ptsUs: number;
  readonly score: number;
}

/** An event started: `ptsUs` is the first frame of the confirmed run. */
export interface DetectorStartEvent {
  readonly type: 'start';
  /** First frame of the run of frames above the level that confirmed the event. */
  readonly ptsUs: number;
  /** The frame that confirmed the event (the trigger moment). */
  readonly triggerPtsUs: number;
  readonly seq: number;
  readonly score: number;
  readonly triggerLevel: number;
  /** Analysis-size diff magnitudes of the trigger moment (for an overlay on the snapshot). */
  readonly heatmap: HeatMap;
  /** True when this event continues one split at `maxEventS`. */
  readonly continued: boolean;
  /** Motion regions of the trigger moment. */
  readonly boxes: readonly MotionBox[];
  /** Set when an external cue (a sensor) started the event: its name. */
  readonly cue?: string;
}

/** Why an event ended. */
export type EndReason = 'gap' | 'max-length' | 'disabled' | 'flush';

/** An event ended. */
export interface DetectorEndEvent {
  readonly type: 'end';
  readonly startPtsUs: number;
  /** Last frame with motion (above the level). */
  readonly endPtsUs: number;
  readonly reason: EndReason;
  readonly peakScore: number;
  readonly peakSeq: number;
  readonly peakPtsUs: number;
  /** Every frame's score from the first frame of the confirmed run to the frame that ended it. */
  readonly scores: ScoreSample[];
}

/** What the detector reports besides samples. */
export type DetectorEvent = DetectorStartEvent | DetectorEndEvent;

/** Result of {@link Detector.calibrate}. */
export interface Calibration {
  /** Robust high percentile of the quiet scores in the window (the noise floor). */
  readonly noiseFloor: number;
  /** A trigger level comfortably above the noise floor and the window's highest score, on the step ladder. */
  readonly suggestedTriggerLevel: number;
  /** Scored frames the estimate is based on. */
  readonly frames: number;
  /** Seconds the frames span. */
  readonly spanS: number;
  /** False when the window held motion (frames above the level) or too few frames: the estimate is unreliable. */
  readonly quiet: boolean;
  /** True when the suggested level was applied (only ever from a quiet window). */
  readonly applied: boolean;
  /** The level in force before the call (what an Undo goes back to). */
  readonly previousTriggerLevel: number;
  /** The level in force after the call. */
  readonly triggerLevel: number;
  /** Why it was not applied: the window held motion, or had too few frames; null otherwise. */
  readonly notAppliedReason: null | 'not-asked' | 'not-quiet' | 'too-few-frames';
}

/** Result of one {@link Detector.push}. */
export interface PushResult {
  readonly sample: MotionSample;
  readonly events: DetectorEvent[];
}

/**
 * The stateful detector around the pure functions: feed it every frame in order, show
 * `sample.score` live, act on `events`.
 */
export interface Detector {
  /** Scores a frame and advances the event state machine. Synchronous and cheap (< 1 ms at 1080p). */
  push(frame: Frame): PushResult;
  /**
   * Ends a running event (reason `flush`), e.g. at the end of a file or on shutdown. The
   * event's end is its last frame with motion; `ptsUs` (the caller's last frame) is accepted
   * for symmetry with `push` and does not move it.
   */
  flush(ptsUs?: number): DetectorEvent[];
  /**
   * Sets the trigger level (clamped to the configured bounds) and switches to `manual` mode;
   * returns the level in force.
   */
  setTriggerLevel(level: number): number;
  /**
   * Moves the level one step up (1) or down (−1) on a ladder whose steps grow with the level;
   * in `auto` mode this moves the user's offset over the auto level.
   */
  stepTriggerLevel(direction: 1 | -1): number;
  triggerLevel(): number;
  /** Switches between the auto level and a manual one (keeping the level in force); returns the mode. */
  setTriggerMode(mode: 'auto' | 'manual'): 'auto' | 'manual';
  triggerMode(): 'auto' | 'manual';
  /** The auto level before the offset, and the offset in rungs. */
  autoLevel(): { level: number; offset: number };
  /**
   * An external cue (a sensor: PIR, MQTT, HTTP) at `ptsUs` on the frames' clock: starts an
   * event at once (no confirmation) or keeps a running one alive, as a frame above the level
   * would. Returns the start event, if any.
   */
  cue(ptsUs: number, source: string): DetectorEvent[];
  /** Switches motion detection on or off; switching off ends a running event (reason `disabled`). */
  setEnabled(on: boolean): DetectorEvent[];
  enabled(): boolean;
  /** True while an event is running. */
  active(): boolean;
  /**
   * Estimates the noise floor from the recent window of scores (keep the scene quiet for a few
   * seconds first) and suggests a trigger level; `apply: true` also sets it.
   */
  calibrate(options?: { apply?: boolean; windowS?: number }): Calibration;
  /** The configuration in force (trigger level as configured at creation). */
  config(): DetectorConfig;
}
