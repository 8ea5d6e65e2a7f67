import type { DetectorConfig, EndReason } from './types';

/** What the state machine needs of a sample. */
export interface StateSample {
  readonly seq: number;
  readonly ptsUs: number;
  readonly score: number;
  readonly above: boolean;
  readonly ignored: null | 'warmup' | 'lighting' | 'disabled';
  /**
   * How long this frame stands for: the time since the previous frame, in µs (0 when
   * unknown). A run of frames above the level lasts from its first frame's timestamp to the
   * last one's plus this, so confirmation by duration works at any frame rate.
   */
  readonly durationUs?: number;
  /**
   * False when the frame repeats the previous one where it changed (an encoder's repeated
   * frame): it carries no new evidence, so it neither extends nor breaks a confirmation run
   * (and cannot start one). Absent means fresh.
   */
  readonly fresh?: boolean;
  /**
   * True for a frame below the level that still holds the change its run started with (see
   * `holdsChange`): it neither extends nor breaks a confirmation run. Absent means false.
   */
  readonly holds?: boolean;
}

/** Peak of a run or event: the judged frame with the highest score. */
export interface Peak {
  readonly score: number;
  readonly seq: number;
  readonly ptsUs: number;
}

/** No event: counting consecutive frames above the level. */
export interface IdleState {
  readonly phase: 'idle';
  /** Consecutive frames above the level so far. */
  readonly run: number;
  /** First frame of that run, or null. */
  readonly runStartPtsUs: number | null;
  readonly runPeak: Peak | null;
}

/** An event is running. */
export interface ActiveState {
  readonly phase: 'active';
  readonly startPtsUs: number;
  /** Last frame above the level. */
  readonly lastMotionPtsUs: number;
  readonly peak: Peak;
}

/** State of the event state machine. */
export type EventState = IdleState | ActiveState;

/** The state before the first frame. */
export const INITIAL_EVENT_STATE: IdleState = Object.freeze({ phase: 'idle', run: 0, runStartPtsUs: null, runPeak: null });

/** An event started (`ptsUs` first frame of the confirmed run, `triggerPtsUs` the confirming frame). */
export interface StartTransition {
  readonly type: 'start';
  readonly ptsUs: number;
  readonly triggerPtsUs: number;
  readonly seq: number;
  readonly score: number;
  /** True when this event continues one split at the maximum length. */
  readonly continued: boolean;
}

/** An event ended. */
export interface EndTransition {
  readonly type: 'end';
  readonly startPtsUs: number;
  readonly endPtsUs: number;
  readonly reason: EndReason;
  readonly peak: Peak;
}

/** Output of one step. */
export type EventTransition = StartTransition | EndTransition;

/** The config keys the state machine reads. */
export type EventStateConfig = Pick<DetectorConfig, 'confirmFrames' | 'gapS' | 'maxEventS'> & { readonly confirmS?: number };

/**
 * The event state machine, pure: given the state and one sample, the next state and what
 * happened. Rules:
 * - an event starts on the frame that makes a run of consecutive frames above the level both
 *   `confirmFrames` frames long and `confirmS` seconds long (each frame lasting its
 *   `durationUs`; ignored frames break the run), and its start is the first frame of that run —
 *   by duration, so the same movement confirms after the same time at 2 or at 30 frames/s;
 *   a frame that is not `fresh` (a repeat of the previous one), and one below the level that
 *   `holds` the run's change, leave the run as it is;
 * - it keeps going while frames above the level come at most `gapS` apart; the first frame
 *   `gapS` or more after the last motion ends it (`gap`), and its end is that last motion frame;
 * - a frame above the level `maxEventS` or more after the start splits it: the running event
 *   ends at that frame (`max-length`) and a new one (`continued`) starts at the same frame;
 * - a `disabled` sample ends a running event at once (`disabled`) and resets the run.
 */
export function nextEventState(state: EventState, sample: StateSample, config: EventStateConfig): { state: EventState; transitions: EventTransition[] } {
  if (state.phase === 'idle') {
    if (!sample.above) {
      if (sample.holds && sample.ignored === null && state.run > 0) return { state, transitions: [] };
      return { state: state.run === 0 ? state : INITIAL_EVENT_STATE, transitions: [] };
    }
    if (sample.fresh === false) return { state, transitions: [] };
    const run = state.run + 1;
    const runStartPtsUs = state.runStartPtsUs ?? sample.ptsUs;
    const runPeak = higher(state.runPeak, sample);
    const runUs = sample.ptsUs - runStartPtsUs + (sample.durationUs ?? 0);
    // 1 ms of slack: timestamps rounded to µs make six frames at 30 frames/s last 199 998 µs.
    if (run < config.confirmFrames || runUs + 1000 < (config.confirmS ?? 0) * 1e6) {
      return { state: { phase: 'idle', run, runStartPtsUs, runPeak }, transitions: [] };
    }
    return {
      state: { phase: 'active', startPtsUs: runStartPtsUs, lastMotionPtsUs: sample.ptsUs, peak: runPeak },
      transitions: [{ type: 'start', ptsUs: runStartPtsUs, triggerPtsUs: sample.ptsUs, seq: sample.seq, score: sample.score, continued: false }],
    };
  }
  if (sample.ignored === 'disabled') {
    return { state: INITIAL_EVENT_STATE, transitions: [endOf(state, 'disabled')] };
  }
  if (sample.above) {
    if (sample.ptsUs - state.startPtsUs >= config.maxEventS * 1e6) {
      const ended: EndTransition = { type: 'end', startPtsUs: state.startPtsUs, endPtsUs: sample.ptsUs, reason: 'max-length', peak: higher(state.peak, sample) };
      const peak: Peak = { score: sample.score, seq: sample.seq, ptsUs: sample.ptsUs };
      return {
        state: { phase: 'active', startPtsUs: sample.ptsUs, lastMotionPtsUs: sample.ptsUs, peak },
        transitions: [ended, { type: 'start', ptsUs: sample.ptsUs, triggerPtsUs: sample.ptsUs, seq: sample.seq, score: sample.score, continued: true }],
      };
    }
    return { state: { ...state, lastMotionPtsUs: sample.ptsUs, peak: higher(state.peak, sample) }, transitions: [] };
  }
  if (sample.ptsUs - state.lastMotionPtsUs >= config.gapS * 1e6) {
    return { state: INITIAL_EVENT_STATE, transitions: [endOf(state, 'gap')] };
  }
  return { state, transitions: [] };
}

/** Ends a running event now, e.g. at the end of a file (`flush`); null when idle. */
export function endEvent(state: EventState, reason: EndReason): EndTransition | null {
  return state.phase === 'active' ? endOf(state, reason) : null;
}

function endOf(state: ActiveState, reason: EndReason): EndTransition {
  return { type: 'end', startPtsUs: state.startPtsUs, endPtsUs: state.lastMotionPtsUs, reason, peak: state.peak };
}

function higher(peak: Peak | null, sample: StateSample): Peak {
  if (peak && peak.score >= sample.score) return peak;
  return { score: sample.score, seq: sample.seq, ptsUs: sample.ptsUs };
}
