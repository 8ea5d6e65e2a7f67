/**
 * The trigger gate: which cues start, hold and end a recorded event when sensors (a PIR on a
 * GPIO line, an MQTT topic, an HTTP call) take part besides the video detector. Pure: a state
 * and one input in, the next state and what happened out; the shell feeds it the detector's
 * events, the sensors' edges and one `tick` per frame, all on the frames' clock.
 *
 * Modes:
 * - `video`: video events only (sensors are watched but start nothing);
 * - `sensor`: sensor cues only (the detector still scores, its events start nothing);
 * - `video-or-sensor`: whichever cue comes first starts the event;
 * - `video-and-sensor`: an event needs a video cue and a sensor cue at most `withinS` apart;
 *   it starts at the earlier of the two, so the clip's pre-roll counts back from the first cue.
 *
 * Once started, an event lasts while any source that counts in the mode is active: video from
 * its start to the detector's end (the last motion frame), a sensor from "on" until "off" plus
 * its hold time (a sensor without "off" sends both at once: it stays active for the hold). The
 * event ends at the moment the last source went quiet. Events longer than `maxEventS` are split
 * like the detector's. Every time the gate reports is computed from the inputs' timestamps,
 * never from when a tick came, so the frame rate does not change the outcome.
 */

/** How cues combine into events. */
export type TriggerGateMode = 'video' | 'sensor' | 'video-or-sensor' | 'video-and-sensor';

/** Every mode, in the order the documentation lists them. */
export const TRIGGER_GATE_MODES: readonly TriggerGateMode[] = ['video', 'sensor', 'video-or-sensor', 'video-and-sensor'];

/** The cue name of the video detector (sensor names must differ from it). */
export const VIDEO_CUE = 'video';

/** Settings of the gate. */
export interface TriggerGateConfig {
  readonly mode: TriggerGateMode;
  /** `video-and-sensor`: the most seconds between the video cue and the sensor cue. */
  readonly withinS: number;
  /** Longest event, seconds; a longer one is split (the part after it is `continued`). */
  readonly maxEventS: number;
}

/**
 * What the gate is told. `atUs` is when the input is known (the frame it came with): inputs
 * must come in `atUs` order. `ptsUs` is when it happened (for a video start, the first frame of
 * the confirmed run, which lies before the confirming frame).
 */
export type TriggerGateInput =
  | { readonly type: 'tick'; readonly atUs: number }
  | { readonly type: 'video-start'; readonly ptsUs: number; readonly atUs: number; readonly continued: boolean }
  | { readonly type: 'video-end'; readonly endPtsUs: number; readonly atUs: number; readonly split: boolean }
  | { readonly type: 'sensor'; readonly name: string; readonly on: boolean; readonly holdUs: number; readonly atUs: number }
  | { readonly type: 'disable'; readonly atUs: number };

/** What the gate reports. */
export type TriggerGateOutput =
  | {
      readonly type: 'start';
      /** The first cue's time: the clip's pre-roll counts back from here. */
      readonly ptsUs: number;
      /** The cues that started the event, in time order, then any that joined it. */
      readonly cues: readonly string[];
      /** True for the part of an event split at `maxEventS`. */
      readonly continued: boolean;
    }
  | {
      readonly type: 'end';
      /** When the last source went quiet (or the split / switch-off time). */
      readonly endPtsUs: number;
      readonly reason: 'quiet' | 'max-length' | 'disabled';
      /** Every cue that took part in the event. */
      readonly cues: readonly string[];
    };

/** One sensor as the gate sees it. */
export interface GateSensorState {
  readonly on: boolean;
  /** Active until this time (infinite while on). */
  readonly untilUs: number;
}

/** A cue waiting for its partner (`video-and-sensor`). */
export interface PendingCue {
  readonly name: string;
  readonly ptsUs: number;
}

/** State of the gate. */
export interface TriggerGateState {
  readonly videoActive: boolean;
  /** The detector's last motion frame of its last ended event. */
  readonly videoEndUs: number;
  readonly sensors: Readonly<Record<string, GateSensorState>>;
  readonly event: { readonly startUs: number; readonly cues: readonly string[] } | null;
  /** End of the last event: the next one never starts before it. */
  readonly lastEndUs: number;
  readonly pendingVideo: readonly PendingCue[];
  readonly pendingSensor: readonly PendingCue[];
}

/** The state before the first input. */
export const INITIAL_TRIGGER_GATE_STATE: TriggerGateState = Object.freeze({
  videoActive: false,
  videoEndUs: Number.NEGATIVE_INFINITY,
  sensors: Object.freeze({}),
  event: null,
  lastEndUs: Number.NEGATIVE_INFINITY,
  pendingVideo: Object.freeze([]),
  pendingSensor: Object.freeze([]),
});

/** Cues of one kind kept waiting for a partner (older ones are dropped first). */
const MAX_PENDING = 16;

/** True when the detector's events count in `mode`. */
export function videoCounts(mode: TriggerGateMode): boolean {
  return mode !== 'sensor';
}

/** True when sensor cues count in `mode`. */
export function sensorsCount(mode: TriggerGateMode): boolean {
  return mode !== 'video';
}

/**
 * The moment every source that counts went quiet: +∞ while one is still active (pure). For a
 * sensor that means "off" (or its pulse) plus its hold; for video, the detector's end.
 */
export function quietSinceUs(state: TriggerGateState, mode: TriggerGateMode): number {
  let quiet = Number.NEGATIVE_INFINITY;
  if (videoCounts(mode)) quiet = state.videoActive ? Number.POSITIVE_INFINITY : state.videoEndUs;
  if (sensorsCount(mode)) for (const name of Object.keys(state.sensors)) quiet = Math.max(quiet, state.sensors[name].untilUs);
  return quiet;
}

/**
 * One step of the gate (pure). Before the input itself, an event whose sources all went quiet
 * before `atUs` ends (at that quiet moment), and one that reached `maxEventS` is split.
 */
export function nextTriggerGateState(state: TriggerGateState, input: TriggerGateInput, config: TriggerGateConfig): { state: TriggerGateState; outputs: TriggerGateOutput[] } {
  const outputs: TriggerGateOutput[] = [];
  let s = settle(state, input.atUs, config, outputs);
  switch (input.type) {
    case 'tick':
      break;
    case 'disable':
      if (s.event) outputs.push({ type: 'end', endPtsUs: Math.max(input.atUs, s.event.startUs), reason: 'disabled', cues: s.event.cues });
      s = { ...s, videoActive: false, event: null, lastEndUs: s.event ? Math.max(input.atUs, s.event.startUs) : s.lastEndUs, pendingVideo: [], pendingSensor: [] };
      break;
    case 'video-start':
      s = { ...s, videoActive: true };
      // The detector's split at its own maxEventS is the same motion going on, not a new cue.
      if (!input.continued && videoCounts(config.mode)) s = cue(s, VIDEO_CUE, input.ptsUs, config, outputs);
      break;
    case 'video-end':
      if (!input.split) s = { ...s, videoActive: false, videoEndUs: input.endPtsUs };
      break;
    case 'sensor': {
      const before = s.sensors[input.name];
      const next: GateSensorState = input.on
        ? { on: true, untilUs: Number.POSITIVE_INFINITY }
        : { on: false, untilUs: before ? (before.on ? input.atUs + input.holdUs : before.untilUs) : Number.NEGATIVE_INFINITY };
      s = { ...s, sensors: { ...s.sensors, [input.name]: next } };
      if (input.on && sensorsCount(config.mode)) s = cue(s, input.name, input.atUs, config, outputs);
      break;
    }
  }
  return { state: s, outputs };
}

/** Ends or splits the running event as far as time `nowUs` allows. */
function settle(state: TriggerGateState, nowUs: number, config: TriggerGateConfig, outputs: TriggerGateOutput[]): TriggerGateState {
  let s = state;
  const maxUs = config.maxEventS * 1e6;
  for (;;) {
    const event = s.event;
    if (!event) return s;
    const quiet = Math.max(quietSinceUs(s, config.mode), event.startUs);
    const splitAt = event.startUs + maxUs;
    if (splitAt <= nowUs && splitAt < quiet) {
      outputs.push({ type: 'end', endPtsUs: splitAt, reason: 'max-length', cues: event.cues });
      outputs.push({ type: 'start', ptsUs: splitAt, cues: event.cues, continued: true });
      s = { ...s, event: { startUs: splitAt, cues: event.cues } };
      continue;
    }
    if (quiet < nowUs) {
      outputs.push({ type: 'end', endPtsUs: quiet, reason: 'quiet', cues: event.cues });
      return { ...s, event: null, lastEndUs: quiet };
    }
    return s;
  }
}

/** A cue that counts in the mode: joins the running event, starts one, or waits for its partner. */
function cue(state: TriggerGateState, name: string, ptsUs: number, config: TriggerGateConfig, outputs: TriggerGateOutput[]): TriggerGateState {
  const event = state.event;
  if (event) return event.cues.includes(name) ? state : { ...state, event: { ...event, cues: [...event.cues, name] } };
  if (config.mode !== 'video-and-sensor') return start(state, ptsUs, [name], outputs);
  const isVideo = name === VIDEO_CUE;
  const partners = isVideo ? state.pendingSensor : state.pendingVideo;
  const withinUs = config.withinS * 1e6;
  // The earliest partner close enough: the event then reaches back as far as the cues allow.
  const partner = partners.find((p) => Math.abs(p.ptsUs - ptsUs) <= withinUs && p.ptsUs >= state.lastEndUs);
  if (partner) {
    const first = partner.ptsUs <= ptsUs ? [partner.name, name] : [name, partner.name];
    return start({ ...state, pendingVideo: [], pendingSensor: [] }, Math.min(partner.ptsUs, ptsUs), first, outputs);
  }
  const own = [...(isVideo ? state.pendingVideo : state.pendingSensor), { name, ptsUs }].slice(-MAX_PENDING);
  return isVideo ? { ...state, pendingVideo: own } : { ...state, pendingSensor: own };
}

function start(state: TriggerGateState, ptsUs: number, cues: readonly string[], outputs: TriggerGateOutput[]): TriggerGateState {
  const startUs = Math.max(ptsUs, state.lastEndUs);
  outputs.push({ type: 'start', ptsUs: startUs, cues, continued: false });
  return { ...state, event: { startUs, cues }, pendingVideo: [], pendingSensor: [] };
}

/**
 * How far behind the newest frame an event may start, milliseconds: the pre-roll ring must
 * keep this much beyond the pre-roll (pure). In `video-and-sensor` mode the second cue may come
 * `withinS` after the first, and the clip still starts the pre-roll before the first.
 */
export function gateTriggerLagMs(config: Pick<TriggerGateConfig, 'mode' | 'withinS'>, detectorLagMs: number): number {
  return config.mode === 'video-and-sensor' ? detectorLagMs + Math.ceil(config.withinS * 1000) : detectorLagMs;
}
