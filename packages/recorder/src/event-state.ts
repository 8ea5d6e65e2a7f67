/**
 * The recorder's event state as a pure state machine: what holds the open event (motion, a
 * manual recording), when it ends (after the post-roll, at the first unit past it), and when a
 * long motion event is split into a new clip at a keyframe. The recorder (`recorder.ts`) is
 * the shell around it: it feeds inputs, carries out the action, and owns the files.
 *
 *   (none) ──motion-start / manual-start──► open ──keyframe──► clip open ──unit──► write
 *                                            ▲                   │  ├─ continued motion: split at the next keyframe
 *                                            │                   │  └─ hold released: end at the first unit past the end
 *                                            └── discontinuity: the clip closes early; a held event opens a new one
 */

/** The state of an open event. `null` stands for "no event". */
export interface EventState {
  /** What started it: a motion clip stays `motion` when a manual hold joins it. */
  readonly kind: 'motion' | 'manual';
  /** Motion is going on (the detector's event has not ended). */
  readonly motionHold: boolean;
  /** A manual recording is going on. */
  readonly manualHold: boolean;
  /** Latest end asked for by a released hold, capture µs (−Infinity while none was). */
  readonly endCandidateUs: number;
  /** Set once no hold remains: the first unit after it ends the event. */
  readonly endPtsUs: number | null;
  /** The detector continued a long event: the next keyframe ends this clip and starts the next. */
  readonly rollover: boolean;
  /** A clip is being written for the event (it waits for a keyframe otherwise). */
  readonly clipOpen: boolean;
}

/** What can happen to the event. */
export type EventInput =
  /** The detector's motion started; `continued` when it split a long event. */
  | { readonly type: 'motion-start'; readonly continued: boolean }
  /** The detector's motion ended at `endPtsUs`; the clip runs on for `postRollUs`. `clipLastPtsUs`: the open clip's last unit. */
  | { readonly type: 'motion-end'; readonly endPtsUs: number; readonly postRollUs: number; readonly clipLastPtsUs: number | null }
  | { readonly type: 'manual-start' }
  /** The manual recording ends at `ptsUs` (no post-roll). */
  | { readonly type: 'manual-stop'; readonly ptsUs: number; readonly clipLastPtsUs: number | null }
  /** The next access unit arrived. */
  | { readonly type: 'unit'; readonly ptsUs: number; readonly keyframe: boolean }
  /** The shell opened the clip; it holds units up to `lastPtsUs` (the pre-roll from the ring). */
  | { readonly type: 'clip-opened'; readonly lastPtsUs: number }
  /** The unit stream broke (encoder restart, camera outage). */
  | { readonly type: 'discontinuity' };

/** What the shell does. */
export type EventAction =
  /** Nothing to do (or only the state changed). */
  | 'none'
  /** Open a new event and try to start its clip from the pre-roll ring. */
  | 'open'
  /** A trigger joined the open event: keep its snapshot and heat-map if it has none. */
  | 'extend'
  /** First keyframe of an event without a clip: open the clip at it. */
  | 'open-clip'
  /** Append the unit to the open clip. */
  | 'write'
  /** Close the clip before this keyframe and start the next clip of the event with it. */
  | 'split'
  /** The event is over: close its clip (or count an event without video). */
  | 'end'
  /** Close the clip early (the stream broke); a held event goes on in a new clip. */
  | 'interrupt';

/** The next state and the action, for `input` in `state` (pure). */
export function nextEventState(state: EventState | null, input: EventInput): { state: EventState | null; action: EventAction } {
  switch (input.type) {
    case 'motion-start':
      if (!state) return { state: opened('motion'), action: 'open' };
      if (input.continued && state.clipOpen) return { state: { ...state, motionHold: true, endPtsUs: null, rollover: true }, action: 'none' };
      return { state: { ...state, motionHold: true, endPtsUs: null }, action: 'extend' };
    case 'manual-start':
      if (!state) return { state: { ...opened('manual'), motionHold: false, manualHold: true }, action: 'open' };
      return { state: { ...state, manualHold: true, endPtsUs: null }, action: 'none' };
    case 'motion-end':
      if (!state || !state.motionHold) return { state, action: 'none' };
      // A continued part that ends before its first keyframe simply stays in the open clip.
      return release({ ...state, motionHold: false, rollover: false }, input.endPtsUs + input.postRollUs, input.clipLastPtsUs);
    case 'manual-stop':
      if (!state || !state.manualHold) return { state, action: 'none' };
      return release({ ...state, manualHold: false }, input.ptsUs, input.clipLastPtsUs);
    case 'unit':
      if (!state) return { state, action: 'none' };
      if (state.rollover && input.keyframe && state.clipOpen) {
        // The old clip ends right before this keyframe and the new one starts with it: no frame
        // is in both and none is in neither. A manual hold goes on in the new clip.
        return { state: { ...opened('motion'), manualHold: state.manualHold, clipOpen: true }, action: 'split' };
      }
      if (state.endPtsUs !== null && input.ptsUs > state.endPtsUs) return { state: null, action: 'end' };
      if (!state.clipOpen) return { state, action: input.keyframe ? 'open-clip' : 'none' };
      return { state, action: 'write' };
    case 'clip-opened': {
      if (!state) return { state, action: 'none' };
      const next = { ...state, clipOpen: true };
      if (next.endPtsUs !== null && input.lastPtsUs >= next.endPtsUs) return { state: null, action: 'end' };
      return { state: next, action: 'none' };
    }
    case 'discontinuity': {
      if (!state) return { state, action: 'none' };
      const held = state.motionHold || state.manualHold;
      return { state: held ? { ...state, rollover: false, clipOpen: false } : null, action: state.clipOpen ? 'interrupt' : held ? 'none' : 'end' };
    }
  }
}

function opened(kind: 'motion' | 'manual'): EventState {
  return { kind, motionHold: kind === 'motion', manualHold: false, endCandidateUs: Number.NEGATIVE_INFINITY, endPtsUs: null, rollover: false, clipOpen: false };
}

/** A hold was released: once none remains the event ends at the latest end asked for (now, if the clip is already past it). */
function release(state: EventState, endUs: number, clipLastPtsUs: number | null): { state: EventState | null; action: EventAction } {
  const next = { ...state, endCandidateUs: Math.max(state.endCandidateUs, endUs) };
  if (next.motionHold || next.manualHold) return { state: next, action: 'none' };
  const ended = { ...next, endPtsUs: next.endCandidateUs };
  if (ended.clipOpen && clipLastPtsUs !== null && clipLastPtsUs >= ended.endPtsUs) return { state: null, action: 'end' };
  return { state: ended, action: 'none' };
}
