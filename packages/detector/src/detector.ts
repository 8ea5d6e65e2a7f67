import type { Frame } from '@preroll/capture';
import type { Logger } from 'pino';
import { calibrateFromScores } from './calibrate';
import { resolveDetectorConfig, type DetectorOptions } from './config';
import { analysisGeometry, boxDownscale, type AnalysisGeometry } from './downscale';
import { DetectorError } from './errors';
import { judgeFrame } from './judge';
import { buildAnalysisMask, watchedIndices } from './mask';
import { diffMagnitudes, frameStats, scoreFrame, type FrameScore } from './score';
import { endEvent, INITIAL_EVENT_STATE, nextEventState, type EndTransition, type EventState, type EventTransition } from './state';
import { clampTriggerLevel, stepTriggerLevel } from './trigger';
import type { Calibration, Detector, DetectorConfig, DetectorEvent, MotionSample, PushResult, ScoreSample } from './types';

/** Recent sample kept for calibration. */
interface RecentSample {
  readonly ptsUs: number;
  readonly score: number;
  readonly judged: boolean;
  readonly above: boolean;
}

/** Per-resolution working set, rebuilt when the frame size changes. */
interface Analysis {
  readonly geometry: AnalysisGeometry;
  readonly watched: Uint8Array | null;
  readonly watchedIdx: Uint32Array | null;
  prev: Uint8Array;
  cur: Uint8Array;
  hasPrev: boolean;
}

/**
 * Creates a motion detector: the stateful shell around the pure functions (downscale, score,
 * judge, state machine). It never does I/O; feed it every frame in order from one source.
 * Throws `DETECTOR_BAD_CONFIG` / `DETECTOR_BAD_MASK` for bad options.
 */
export function createDetector(options: DetectorOptions = {}, logger?: Logger): Detector {
  const config = resolveDetectorConfig(options);
  const log = logger?.child({ component: 'detector' });
  let level = config.triggerLevel;
  let on = true;
  let analysis: Analysis | null = null;
  const scratch: { aligned?: Uint8Array } = {};
  let state: EventState = INITIAL_EVENT_STATE;
  let warmupUntilUs = Number.NEGATIVE_INFINITY;
  let lightingHoldUntilUs = Number.NEGATIVE_INFINITY;
  let lastPtsUs: number | null = null;
  // Scores of the current run (before confirmation) and of the running event.
  let runScores: ScoreSample[] = [];
  let eventScores: ScoreSample[] = [];
  const recent: RecentSample[] = [];

  function prepare(frame: Frame): Analysis {
    if (analysis && analysis.geometry.frameWidth === frame.width && analysis.geometry.frameHeight === frame.height) return analysis;
    const geometry = analysisGeometry(frame.width, frame.height, config.analysisWidth);
    const watched = buildAnalysisMask(config.mask, geometry);
    const size = geometry.width * geometry.height;
    if (analysis) log?.info({ width: frame.width, height: frame.height }, 'frame size changed: re-baselining');
    analysis = { geometry, watched, watchedIdx: watched ? watchedIndices(watched) : null, prev: new Uint8Array(size), cur: new Uint8Array(size), hasPrev: false };
    return analysis;
  }

  function rebaseline(ptsUs: number): void {
    warmupUntilUs = ptsUs + config.warmupS * 1e6;
    lightingHoldUntilUs = Number.NEGATIVE_INFINITY;
    if (analysis) analysis.hasPrev = false;
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

  function push(frame: Frame): PushResult {
    if (!frame || frame.y.length < frame.width * frame.height) {
      throw new DetectorError('DETECTOR_BAD_FRAME', 'frame luma plane is shorter than width*height', { width: frame?.width, height: frame?.height });
    }
    const previousGeometry = analysis?.geometry;
    const a = prepare(frame);
    // A new size or time running backwards means a new or restarted source: start over.
    if (a.geometry !== previousGeometry || (lastPtsUs !== null && frame.ptsUs <= lastPtsUs)) {
      if (lastPtsUs !== null) log?.info({ ptsUs: frame.ptsUs, lastPtsUs }, 'source restarted: re-baselining');
      rebaseline(frame.ptsUs);
    }
    lastPtsUs = frame.ptsUs;
    boxDownscale(frame.y, a.geometry, a.cur, scratch);
    let scored: FrameScore | null = null;
    if (a.hasPrev) scored = scoreFrame(frameStats(a.prev, a.cur, a.watchedIdx, config.lighting.pixelDelta), config.lighting.compensation);
    const verdict = judgeFrame({ ptsUs: frame.ptsUs, score: scored, enabled: on, warmupUntilUs, lightingHoldUntilUs, triggerLevel: level }, config.lighting);
    if (verdict.lightingSwitch && on) {
      if (frame.ptsUs >= lightingHoldUntilUs) log?.info({ ptsUs: frame.ptsUs, meanDelta: scored?.meanDelta, changed: scored?.changedFraction }, 'light switch: ignoring');
      lightingHoldUntilUs = frame.ptsUs + config.lighting.holdS * 1e6;
    }
    const sample: MotionSample = {
      seq: frame.seq,
      ptsUs: frame.ptsUs,
      score: scored?.score ?? 0,
      triggerLevel: level,
      above: verdict.above,
      ignored: verdict.ignored,
      rawScore: scored?.rawScore ?? 0,
      meanDelta: scored?.meanDelta ?? 0,
      changedFraction: scored?.changedFraction ?? 0,
    };
    const wasActive = state.phase === 'active';
    const step = nextEventState(state, sample, config);
    state = step.state;
    const point: ScoreSample = { ptsUs: sample.ptsUs, score: sample.score };
    if (wasActive) eventScores.push(point);
    const events = step.transitions.map((t) => toEvent(t, a, scored, sample));
    if (!wasActive && state.phase === 'idle') runScores = sample.above ? [...runScores, point] : [];
    recent.push({ ptsUs: sample.ptsUs, score: sample.score, judged: sample.ignored === null, above: sample.above });
    while (recent.length > 0 && recent[0].ptsUs < sample.ptsUs - config.calibrationWindowS * 1e6) recent.shift();
    // Swap the buffers: this frame is the next one's reference.
    const prev = a.prev;
    a.prev = a.cur;
    a.cur = prev;
    a.hasPrev = true;
    return { sample, events };
  }

  function toEvent(t: EventTransition, a: Analysis, scored: FrameScore | null, sample: MotionSample): DetectorEvent {
    if (t.type === 'end') {
      // On a split the splitting frame belongs to both parts; it was already added above.
      return finish(t);
    }
    eventScores = t.continued ? [{ ptsUs: sample.ptsUs, score: sample.score }] : [...runScores, { ptsUs: sample.ptsUs, score: sample.score }];
    runScores = [];
    // A start always comes from a scored frame above the level; the blank map only keeps types honest.
    const heat = scored ? diffMagnitudes(a.prev, a.cur, scored.fit, a.watched) : new Uint8Array(a.cur.length);
    log?.debug({ ptsUs: t.ptsUs, score: t.score, level }, 'motion event start');
    return {
      type: 'start',
      ptsUs: t.ptsUs,
      triggerPtsUs: t.triggerPtsUs,
      seq: t.seq,
      score: t.score,
      triggerLevel: level,
      heatmap: { width: a.geometry.width, height: a.geometry.height, data: heat },
      continued: t.continued,
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
      level = clampTriggerLevel(value, config.minTriggerLevel, config.maxTriggerLevel);
      log?.info({ triggerLevel: level }, 'trigger level set');
      return level;
    },
    stepTriggerLevel(direction: 1 | -1): number {
      level = stepTriggerLevel(level, direction, config.minTriggerLevel, config.maxTriggerLevel);
      log?.info({ triggerLevel: level }, 'trigger level stepped');
      return level;
    },
    triggerLevel: () => level,
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
      const quiet = window.length >= 5 && state.phase === 'idle' && !window.some((r) => r.above);
      const applied = Boolean(opts.apply) && window.length >= 5;
      if (applied) level = clampTriggerLevel(suggested, config.minTriggerLevel, config.maxTriggerLevel);
      log?.info({ noiseFloor, suggested, frames: window.length, quiet, applied }, 'calibrated');
      return { noiseFloor, suggestedTriggerLevel: suggested, frames: window.length, spanS, quiet, applied };
    },
    config: (): DetectorConfig => config,
  };
}
