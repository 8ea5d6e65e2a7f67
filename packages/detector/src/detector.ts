import type { Frame } from '@preroll/capture';
import type { Logger } from 'pino';
import { fillClip, updateActivity } from './activity';
import { nextAutoLevel, offsetLevel, wantedAutoLevel, type AutoLevelConfig, type AutoLevelState } from './auto';
import { calibrateFromScores } from './calibrate';
import { analyseChange, bringsNothingNew, createChangeBuffers, holdsChange, repeatsPrevious, type ChangeBuffers, type ChangeParams, type ChangeResult } from './change';
import { resolveDetectorConfig, type DetectorOptions } from './config';
import { analysisGeometry, boxDownscale, type AnalysisGeometry } from './downscale';
import { DetectorError } from './errors';
import { judgeFrame } from './judge';
import { buildAnalysisMask, watchedIndices } from './mask';
import { createNoiseState, filledVariances, followNoise, NOISE_BANDS, type NoiseState } from './noise';
import { addReference, clearReferences, createReferenceRing, pickReference, type ReferenceRing } from './reference';
import { diffMagnitudes, frameStats, scoreFrame, TONE_BINS, type FrameScore, type FrameStats } from './score';
import { endEvent, INITIAL_EVENT_STATE, nextEventState, type EndTransition, type EventState, type EventTransition } from './state';
import { clampTriggerLevel, stepTriggerLevel } from './trigger';
import type { Calibration, Detector, DetectorConfig, DetectorEvent, MotionBox, MotionSample, PushResult, ScoreSample } from './types';

/** Recent sample kept for calibration and for the auto level. */
interface RecentSample {
  readonly ptsUs: number;
  readonly score: number;
  readonly judged: boolean;
  readonly above: boolean;
  /** Judged while no event ran: what the auto level follows. */
  readonly idle: boolean;
}

/** Per-resolution working set, rebuilt when the frame size changes. */
interface Analysis {
  readonly geometry: AnalysisGeometry;
  readonly watched: Uint8Array | null;
  readonly watchedIdx: Uint32Array | null;
  readonly watchedCount: number;
  readonly cur: Uint8Array;
  readonly ring: ReferenceRing;
  readonly buffers: ChangeBuffers;
  readonly activity: Float32Array;
  readonly clipSq: Float32Array;
  /** The first image of the current confirmation run (valid while `state.run` > 0). */
  readonly evidence: Uint8Array;
  /** The pixels that changed on that first frame (non-zero = changed). */
  readonly firstChanged: Uint8Array;
}

/** Most boxes reported per frame (largest first). */
const MAX_BOXES = 16;
/** Noise variance assumed before the first measurement (σ 2 levels); the warm-up covers it. */
const UNKNOWN_NOISE_VARIANCE = 4;
/** Time constant of the activity map while the detector warms up: learn the scene fast. */
const WARMUP_ACTIVITY_RISE_S = 0.5;
/** The auto level moves only on at least this many quiet frames (a few seconds even at 2 frames/s). */
const MIN_AUTO_FRAMES = 10;
/** The auto level is re-evaluated at most this often, µs. */
const AUTO_CHECK_US = 500_000;
/** The activity map is updated at most this often, seconds. */
const ACTIVITY_UPDATE_S = 0.2;
/** Frames more than this apart are treated as this far apart by the time-based followers. */
const MAX_FRAME_GAP_US = 5_000_000;

/**
 * Creates a motion detector: the stateful shell around the pure functions (downscale, noise
 * model, change analysis, judge, state machine, auto level). It never does I/O; feed it every
 * frame in order from one source. Throws `DETECTOR_BAD_CONFIG` / `DETECTOR_BAD_MASK` for bad options.
 */
export function createDetector(options: DetectorOptions = {}, logger?: Logger): Detector {
  const config = resolveDetectorConfig(options);
  const log = logger?.child({ component: 'detector' });
  let mode = config.triggerMode;
  let manualLevel = config.triggerLevel;
  let offset = 0;
  const autoConfig: AutoLevelConfig = {
    baseLevel: config.triggerLevel,
    margin: config.auto.margin,
    holdS: config.auto.holdS,
    minTriggerLevel: config.minTriggerLevel,
    maxTriggerLevel: config.maxTriggerLevel,
  };
  let auto: AutoLevelState = { level: config.triggerLevel, changedAtUs: Number.NEGATIVE_INFINITY };
  let on = true;
  let analysis: Analysis | null = null;
  const scratch: { aligned?: Uint8Array } = {};
  let state: EventState = INITIAL_EVENT_STATE;
  let warmupUntilUs = Number.NEGATIVE_INFINITY;
  let lightingHoldUntilUs = Number.NEGATIVE_INFINITY;
  let lastPtsUs: number | null = null;
  let noise: NoiseState = createNoiseState();
  let profile: 'day' | 'night' = 'day';
  const variances = new Float64Array(NOISE_BANDS);
  let activityDueS = 0;
  let autoCheckedUs = Number.NEGATIVE_INFINITY;
  // Scores of the current run (before confirmation) and of the running event.
  let runScores: ScoreSample[] = [];
  let eventScores: ScoreSample[] = [];
  const recent: RecentSample[] = [];
  const keepUs = Math.max(config.calibrationWindowS, config.auto.windowS) * 1e6;

  const level = (): number => {
    if (mode === 'manual') return manualLevel;
    const day = offsetLevel(auto.level, offset, config.minTriggerLevel, config.maxTriggerLevel);
    return profile === 'night' ? clampTriggerLevel(round3(day * config.night.levelFactor), config.minTriggerLevel, config.maxTriggerLevel) : day;
  };

  function prepare(frame: Frame): Analysis {
    if (analysis && analysis.geometry.frameWidth === frame.width && analysis.geometry.frameHeight === frame.height) return analysis;
    const geometry = analysisGeometry(frame.width, frame.height, config.analysisWidth);
    const watched = buildAnalysisMask(config.mask, geometry);
    const size = geometry.width * geometry.height;
    if (analysis) log?.info({ width: frame.width, height: frame.height }, 'frame size changed: re-baselining');
    const watchedIdx = watched ? watchedIndices(watched) : null;
    analysis = {
      geometry,
      watched,
      watchedIdx,
      watchedCount: watchedIdx ? watchedIdx.length : size,
      cur: new Uint8Array(size),
      ring: createReferenceRing(size),
      buffers: createChangeBuffers(geometry.width, geometry.height),
      activity: new Float32Array(size),
      clipSq: new Float32Array(size),
      evidence: new Uint8Array(size),
      firstChanged: new Uint8Array(size),
    };
    return analysis;
  }

  function rebaseline(ptsUs: number): void {
    warmupUntilUs = ptsUs + config.warmupS * 1e6;
    lightingHoldUntilUs = Number.NEGATIVE_INFINITY;
    autoCheckedUs = Number.NEGATIVE_INFINITY;
    if (analysis) clearReferences(analysis.ring);
  }

  function params(): ChangeParams {
    const night = profile === 'night';
    const areaFraction = night ? config.night.minAreaFraction : config.regions.minAreaFraction;
    const pixels = analysis ? analysis.watchedCount : 0;
    return {
      thresholdSigma: night ? config.night.thresholdSigma : config.noise.thresholdSigma,
      minDeltaLuma: config.noise.minDeltaLuma,
      activityWeight: config.activity.weight,
      minBlobArea: Math.max(1, Math.round(areaFraction * pixels)),
    };
  }

  function finish(end: EndTransition): DetectorEvent {
    const scores = eventScores;
    eventScores = [];
    return {
      type: 'end',
      startPtsUs: end.startPtsUs,
      endPtsUs: end.endPtsUs,
      reason: end.reason,
      peakScore: end.peak.score,
      peakSeq: end.peak.seq,
      peakPtsUs: end.peak.ptsUs,
      scores,
    };
  }

  function boxesOf(a: Analysis, change: ChangeResult | null): MotionBox[] {
    if (!change) return [];
    const { box, frameWidth, frameHeight, width, height } = a.geometry;
    const total = width * height;
    return change.blobs.slice(0, MAX_BOXES).map((b) => ({
      x: (b.minX * box) / frameWidth,
      y: (b.minY * box) / frameHeight,
      width: ((b.maxX - b.minX + 1) * box) / frameWidth,
      height: ((b.maxY - b.minY + 1) * box) / frameHeight,
      area: b.area / total,
      score: round3(b.weight / Math.max(1, a.watchedCount)),
    }));
  }

  /**
   * Learns the scene's activity from this frame's smoothed residual. The map learns over tens
   * of seconds, so it is updated at most `ACTIVITY_UPDATE_S` apart (with the time elapsed
   * since its last update), which keeps it off the per-frame cost at high frame rates.
   */
  function learnActivity(a: Analysis, ref: Uint8Array, p: ChangeParams, dtS: number, warming: boolean): void {
    activityDueS += dtS;
    if (activityDueS < ACTIVITY_UPDATE_S) return;
    const k2 = p.thresholdSigma * p.thresholdSigma;
    const floor2 = p.minDeltaLuma * p.minDeltaLuma;
    const clipByBand = new Float64Array(NOISE_BANDS);
    for (let b = 0; b < NOISE_BANDS; b++) clipByBand[b] = config.activity.clipFactor * Math.max(floor2, k2 * variances[b]);
    // The per-pixel loops live in small functions of their own: a loop here would be compiled
    // on the stack (OSR) during the warm-up and, on this cached code, hit the branch the warm-up
    // never took after every loop, deoptimising on each frame (measured: 0.2 ms a frame).
    fillClip(a.clipSq, ref, clipByBand);
    const riseS = warming ? Math.min(config.activity.riseS, WARMUP_ACTIVITY_RISE_S) : config.activity.riseS;
    updateActivity(a.activity, a.buffers.smoothed, a.clipSq, activityDueS, { riseS, fallS: config.activity.fallS });
    activityDueS = 0;
  }

  function followProfile(meanLuma: number, ptsUs: number): void {
    const next = profile === 'day' ? (meanLuma < config.night.enterLuma ? 'night' : 'day') : meanLuma > config.night.exitLuma ? 'day' : 'night';
    if (next === profile) return;
    profile = next;
    // The switch re-tunes thresholds; hold like a light switch so it never starts an event.
    lightingHoldUntilUs = Math.max(lightingHoldUntilUs, ptsUs + config.lighting.holdS * 1e6);
    log?.info({ ptsUs, meanLuma: round3(meanLuma), profile }, 'day/night profile switched');
  }

  function push(frame: Frame): PushResult {
    if (!frame || frame.y.length < frame.width * frame.height) {
      throw new DetectorError('DETECTOR_BAD_FRAME', 'frame luma plane is shorter than width*height', { width: frame?.width, height: frame?.height });
    }
    const previousGeometry = analysis?.geometry;
    const a = prepare(frame);
    let dtUs = lastPtsUs === null ? 0 : Math.min(frame.ptsUs - lastPtsUs, MAX_FRAME_GAP_US);
    // A new size or time running backwards means a new or restarted source: start over.
    if (a.geometry !== previousGeometry || (lastPtsUs !== null && frame.ptsUs <= lastPtsUs)) {
      if (lastPtsUs !== null) log?.info({ ptsUs: frame.ptsUs, lastPtsUs }, 'source restarted: re-baselining');
      rebaseline(frame.ptsUs);
      dtUs = 0;
    }
    lastPtsUs = frame.ptsUs;
    boxDownscale(frame.y, a.geometry, a.cur, scratch);
    const referenceUs = config.referenceS * 1e6;
    const slot = pickReference(a.ring, frame.ptsUs, referenceUs);
    const previous = a.ring.order.length ? a.ring.images[a.ring.order[a.ring.order.length - 1]] : null;
    const ref = slot >= 0 ? a.ring.images[slot] : null;
    // What the reference itself was compared with: a change that is only the reference's own
    // (a glitch leaving) shows as the picture returning to it.
    const olderSlot = slot >= 0 ? pickReference(a.ring, a.ring.ptsUs[slot], referenceUs) : -1;
    const beforeRef = olderSlot >= 0 && a.ring.ptsUs[olderSlot] < a.ring.ptsUs[slot] ? a.ring.images[olderSlot] : null;
    const inRun = state.phase === 'idle' && state.run > 0;
    let scored: FrameScore | null = null;
    let change: ChangeResult | null = null;
    let judged: FrameScore | null = null;
    let stats: FrameStats | null = null;
    const p = params();
    if (ref) {
      stats = frameStats(ref, a.cur, a.watchedIdx, config.lighting.pixelDelta);
      scored = scoreFrame(stats, config.lighting.compensation);
      filledVariances(noise, UNKNOWN_NOISE_VARIANCE, variances);
      change = analyseChange(ref, a.cur, scored.fit.expected, a.watched, a.watchedCount, variances, a.activity, p, a.buffers, previous, beforeRef, inRun ? a.evidence : null);
      judged = { ...scored, score: round3(change.score) };
      if (stats.pixels) followProfile(stats.sumCur / stats.pixels, frame.ptsUs);
    }
    const levelNow = level();
    const verdict = judgeFrame({ ptsUs: frame.ptsUs, score: judged, enabled: on, warmupUntilUs, lightingHoldUntilUs, triggerLevel: levelNow }, config.lighting);
    if (verdict.lightingSwitch && on) {
      if (frame.ptsUs >= lightingHoldUntilUs) log?.info({ ptsUs: frame.ptsUs, meanDelta: scored?.meanDelta, changed: scored?.changedFraction }, 'light switch: ignoring');
      lightingHoldUntilUs = frame.ptsUs + config.lighting.holdS * 1e6;
    }
    // A light switch is not noise and not scene activity: learn neither from it.
    if (ref && change && !verdict.lightingSwitch) {
      const dtS = dtUs / 1e6;
      noise = followNoise(noise, change.sigmaByBand, dtS, config.noise);
      learnActivity(a, ref, p, dtS, frame.ptsUs < warmupUntilUs);
    }
    const boxes = boxesOf(a, change);
    const sample: MotionSample = {
      seq: frame.seq,
      ptsUs: frame.ptsUs,
      score: judged?.score ?? 0,
      triggerLevel: levelNow,
      above: verdict.above,
      ignored: verdict.ignored,
      rawScore: scored?.rawScore ?? 0,
      meanDelta: scored?.meanDelta ?? 0,
      changedFraction: scored?.changedFraction ?? 0,
      frameScore: scored?.score ?? 0,
      boxes,
      noiseSigma: round3(Math.sqrt(dominantVariance(stats))),
      autoLevel: mode === 'auto' ? auto.level : null,
      triggerOffset: offset,
      triggerMode: mode,
      profile,
      referenceAgeMs: ref ? Math.round((frame.ptsUs - a.ring.ptsUs[slot]) / 1000) : 0,
    };
    const wasActive = state.phase === 'active';
    const fresh = !change || (!repeatsPrevious(change.changedPixels, change.freshPixels) && !bringsNothingNew(change.changedPixels, change.novelPixels, change.movedPixels));
    const runBefore = state.phase === 'idle' ? state.run : 0;
    const holds =
      inRun && !sample.above && sample.ignored === null && change !== null && ref !== null && beforeRef !== null
        ? holdsChange(a.firstChanged, a.cur, beforeRef, ref, change.thresholdSqByBand, a.geometry.width, a.geometry.height)
        : false;
    const step = nextEventState(state, { ...sample, durationUs: dtUs, fresh, holds }, config);
    state = step.state;
    // The first frame of a run: later frames must have changed against it to count too.
    if (state.phase === 'idle' && state.run === 1 && runBefore === 0) {
      a.evidence.set(a.cur);
      a.firstChanged.set(a.buffers.changed);
    }
    const point: ScoreSample = { ptsUs: sample.ptsUs, score: sample.score };
    if (wasActive) eventScores.push(point);
    const events = step.transitions.map((t) => toEvent(t, a, ref, scored, sample.score, sample.ptsUs, boxes, levelNow));
    if (!wasActive && state.phase === 'idle') runScores = sample.above ? [...runScores, point] : [];
    recent.push({ ptsUs: sample.ptsUs, score: sample.score, judged: sample.ignored === null, above: sample.above, idle: !wasActive && state.phase === 'idle' });
    while (recent.length > 0 && recent[0].ptsUs < sample.ptsUs - keepUs) recent.shift();
    // The auto level moves over seconds: re-evaluating it twice a second keeps the sort of the
    // window off the per-frame cost.
    if (mode === 'auto' && sample.ignored === null && sample.ptsUs - autoCheckedUs >= AUTO_CHECK_US) {
      autoCheckedUs = sample.ptsUs;
      followAutoLevel(sample.ptsUs);
    }
    // Kept two reference intervals back: the reference's own reference tells echoes apart.
    addReference(a.ring, a.cur, frame.ptsUs, 2 * referenceUs);
    return { sample, events };
  }

  /**
   * The followed variance of the band most of the reference is in, for the live view. The
   * band's pixel counts come free from the brightness fit's sums (4 tone bins per noise band).
   */
  function dominantVariance(stats: FrameStats | null): number {
    if (!stats) return 0;
    const binsPerBand = TONE_BINS / NOISE_BANDS;
    let best = 0;
    let bestCount = -1;
    for (let b = 0; b < NOISE_BANDS; b++) {
      let count = 0;
      for (let k = 0; k < binsPerBand; k++) count += stats.binCount[b * binsPerBand + k];
      if (count > bestCount) {
        bestCount = count;
        best = b;
      }
    }
    return Number.isFinite(noise.varianceByBand[best]) ? noise.varianceByBand[best] : 0;
  }

  function followAutoLevel(ptsUs: number): void {
    const since = ptsUs - config.auto.windowS * 1e6;
    const quiet: number[] = [];
    // Quiet means judged, no event running and below the level: the frames of a run that is
    // about to confirm would otherwise push the level up in front of the very motion they show.
    // Noise creeping towards the level still raises it, a rung at a time.
    // At night the level in force is the day level × levelFactor: follow in day units.
    const scale = profile === 'night' ? 1 / config.night.levelFactor : 1;
    for (const r of recent) if (r.judged && r.idle && !r.above && r.ptsUs >= since) quiet.push(r.score * scale);
    if (quiet.length < MIN_AUTO_FRAMES) return;
    const next = nextAutoLevel(auto, wantedAutoLevel(quiet, autoConfig), ptsUs, autoConfig);
    if (next.level !== auto.level) log?.info({ from: auto.level, to: next.level }, 'auto trigger level moved');
    auto = next;
  }

  function toEvent(
    t: EventTransition,
    a: Analysis,
    ref: Uint8Array | null,
    scored: FrameScore | null,
    score: number,
    ptsUs: number,
    boxes: readonly MotionBox[],
    levelNow: number,
    cue?: string,
  ): DetectorEvent {
    if (t.type === 'end') {
      // On a split the splitting frame belongs to both parts; it was already added above.
      return finish(t);
    }
    eventScores = t.continued ? [{ ptsUs, score }] : [...runScores, { ptsUs, score }];
    runScores = [];
    // A cue can start an event between frames: then there is no difference image to show.
    const heat = scored && ref ? diffMagnitudes(ref, a.cur, scored.fit, a.watched) : new Uint8Array(a.cur.length);
    log?.debug({ ptsUs: t.ptsUs, score: t.score, level: levelNow, cue }, 'motion event start');
    return {
      type: 'start',
      ptsUs: t.ptsUs,
      triggerPtsUs: t.triggerPtsUs,
      seq: t.seq,
      score: t.score,
      triggerLevel: levelNow,
      heatmap: { width: a.geometry.width, height: a.geometry.height, data: heat },
      continued: t.continued,
      boxes,
      ...(cue ? { cue } : {}),
    };
  }

  // The end of a flushed event is its last motion frame, whatever time the caller flushes at.
  function flush(): DetectorEvent[] {
    const end = endEvent(state, 'flush');
    state = INITIAL_EVENT_STATE;
    runScores = [];
    return end ? [finish(end)] : [];
  }

  return {
    push,
    flush,
    setTriggerLevel(value: number): number {
      manualLevel = clampTriggerLevel(value, config.minTriggerLevel, config.maxTriggerLevel);
      mode = 'manual';
      log?.info({ triggerLevel: manualLevel }, 'trigger level set');
      return manualLevel;
    },
    stepTriggerLevel(direction: 1 | -1): number {
      if (mode === 'auto') {
        // The offset stops where the level stops moving, so it never runs away past a bound.
        const before = level();
        offset += direction;
        if (level() === before) offset -= direction;
        log?.info({ triggerLevel: level(), offset }, 'trigger offset stepped');
        return level();
      }
      manualLevel = stepTriggerLevel(manualLevel, direction, config.minTriggerLevel, config.maxTriggerLevel);
      log?.info({ triggerLevel: manualLevel }, 'trigger level stepped');
      return manualLevel;
    },
    triggerLevel: level,
    setTriggerMode(next: 'auto' | 'manual'): 'auto' | 'manual' {
      if (next === mode) return mode;
      if (next === 'manual') manualLevel = level();
      else offset = 0;
      mode = next;
      log?.info({ mode, triggerLevel: level() }, 'trigger mode switched');
      return mode;
    },
    triggerMode: () => mode,
    autoLevel: () => ({ level: auto.level, offset }),
    cue(ptsUs: number, source: string): DetectorEvent[] {
      if (!on || !analysis) return [];
      const wasActive = state.phase === 'active';
      const step = nextEventState(state, { seq: -1, ptsUs, score: 0, above: true, ignored: null }, { ...config, confirmFrames: 1, confirmS: 0 });
      state = step.state;
      const a = analysis;
      if (!wasActive) runScores = [];
      log?.info({ ptsUs, source }, 'external cue');
      return step.transitions.map((t) => toEvent(t, a, null, null, 0, ptsUs, [], level(), source));
    },
    setEnabled(value: boolean): DetectorEvent[] {
      if (value === on) return [];
      on = value;
      log?.info({ enabled: on }, 'motion detection switched');
      if (on) return [];
      const end = endEvent(state, 'disabled');
      state = INITIAL_EVENT_STATE;
      runScores = [];
      return end ? [finish(end)] : [];
    },
    enabled: () => on,
    active: () => state.phase === 'active',
    calibrate(opts: { apply?: boolean; windowS?: number } = {}): Calibration {
      const windowS = opts.windowS ?? config.calibrationWindowS;
      const newest = recent.length ? recent[recent.length - 1].ptsUs : 0;
      const window = recent.filter((r) => r.judged && r.ptsUs >= newest - windowS * 1e6);
      const { noiseFloor, suggestedTriggerLevel: suggested } = calibrateFromScores(
        window.map((r) => r.score),
        config,
      );
      const spanS = window.length > 1 ? (window[window.length - 1].ptsUs - window[0].ptsUs) / 1e6 : 0;
      const enough = window.length >= 5;
      const quiet = enough && state.phase === 'idle' && !window.some((r) => r.above);
      const previousTriggerLevel = level();
      // Never from a window that held motion: its "noise floor" is the motion, and applying it would disarm the camera.
      const applied = Boolean(opts.apply) && quiet;
      if (applied) {
        manualLevel = clampTriggerLevel(suggested, config.minTriggerLevel, config.maxTriggerLevel);
        mode = 'manual';
      }
      const notAppliedReason = applied ? null : !opts.apply ? 'not-asked' : !enough ? 'too-few-frames' : 'not-quiet';
      log?.info({ noiseFloor, suggested, frames: window.length, quiet, applied, previousTriggerLevel }, 'calibrated');
      return { noiseFloor, suggestedTriggerLevel: suggested, frames: window.length, spanS, quiet, applied, previousTriggerLevel, triggerLevel: level(), notAppliedReason };
    },
    config: (): DetectorConfig => config,
  };
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
