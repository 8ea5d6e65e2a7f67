/**
 * The "save the last N minutes" button, as pure decisions (table-tested with a fake clock) and
 * a thin timer shell. The same logic serves the page's button, `POST /api/memories` and the
 * GPIO push button:
 *
 * - The first press asks for `defaultMs` of look-back, ending at the moment of that press.
 * - Every further press within the saving window adds `stepMs` (or what the press asks for).
 * - A held (physical) button adds `stepMs` for every `holdStepMs` it stays down.
 * - The memory is saved once `windowMs` passed since the last press or release with the
 *   button up (a button held until the maximum is reached saves one step later, so a stuck
 *   button cannot block saving for ever).
 */

/** The timing rules, in milliseconds. */
export interface MemoryRules {
  readonly defaultMs: number;
  readonly stepMs: number;
  readonly holdStepMs: number;
  readonly windowMs: number;
  readonly maxMs: number;
}

/** Where the button logic is. */
export type MemoryState =
  | { readonly phase: 'idle' }
  | {
      readonly phase: 'collecting';
      /** When the first press happened: the memory ends there. */
      readonly firstAtMs: number;
      /** Look-back asked for so far. */
      readonly lookbackMs: number;
      /** Last press or release. */
      readonly lastActivityMs: number;
      /** When the button went down, while it is held; null when up. */
      readonly heldSinceMs: number | null;
      /** Hold steps already counted for the current hold. */
      readonly holdSteps: number;
      /** While held: when the look-back reached the maximum (the save follows one hold step later); else null. */
      readonly fullSinceMs: number | null;
    };

/** What happens to the button. */
export type MemoryInput =
  /** A press: `hold` for a physical button going down (a release follows), `addMs` to ask for a given amount. */
  | { readonly type: 'press'; readonly atMs: number; readonly addMs?: number; readonly hold?: boolean }
  | { readonly type: 'release'; readonly atMs: number }
  /** Time passes (the shell's timer, at `wakeAtMs`). */
  | { readonly type: 'tick'; readonly atMs: number };

/** The outcome of one input. */
export interface MemoryStep {
  readonly state: MemoryState;
  /** Set when a memory is to be saved now: the look-back ending at `firstAtMs`. */
  readonly save: { readonly firstAtMs: number; readonly lookbackMs: number } | null;
  /** True when this input started a new memory (the shell notes where the video ends). */
  readonly started: boolean;
  /** When the shell should send the next `tick`, or null when idle. */
  readonly wakeAtMs: number | null;
}

export const IDLE: MemoryState = Object.freeze({ phase: 'idle' });

/** The next state of the button logic (pure). */
export function nextMemoryState(state: MemoryState, input: MemoryInput, rules: MemoryRules): MemoryStep {
  const at = input.atMs;
  if (state.phase === 'idle') {
    if (input.type !== 'press') return { state, save: null, started: false, wakeAtMs: null };
    const lookbackMs = Math.min(rules.maxMs, input.addMs ?? rules.defaultMs);
    const next: MemoryState = {
      phase: 'collecting',
      firstAtMs: at,
      lookbackMs,
      lastActivityMs: at,
      heldSinceMs: input.hold ? at : null,
      holdSteps: 0,
      fullSinceMs: input.hold && lookbackMs >= rules.maxMs ? at : null,
    };
    return { state: next, save: null, started: true, wakeAtMs: wakeAt(next, rules) };
  }
  let current = catchUpHold(state, at, rules);
  if (input.type === 'press') {
    const lookbackMs = Math.min(rules.maxMs, current.lookbackMs + (input.addMs ?? rules.stepMs));
    const held = input.hold || current.heldSinceMs !== null;
    current = {
      ...current,
      lookbackMs,
      lastActivityMs: at,
      heldSinceMs: input.hold ? at : current.heldSinceMs,
      holdSteps: input.hold ? 0 : current.holdSteps,
      fullSinceMs: held && lookbackMs >= rules.maxMs ? (input.hold ? at : (current.fullSinceMs ?? at)) : null,
    };
  } else if (input.type === 'release') {
    current = { ...current, heldSinceMs: null, lastActivityMs: at, fullSinceMs: null };
  }
  const held = current.heldSinceMs !== null;
  const due = held ? current.fullSinceMs !== null && at >= current.fullSinceMs + rules.holdStepMs : at - current.lastActivityMs >= rules.windowMs;
  if (input.type === 'tick' && due) {
    return { state: IDLE, save: { firstAtMs: current.firstAtMs, lookbackMs: current.lookbackMs }, started: false, wakeAtMs: null };
  }
  return { state: current, save: null, started: false, wakeAtMs: wakeAt(current, rules) };
}

type Collecting = Extract<MemoryState, { phase: 'collecting' }>;

/** Counts the hold steps completed by `atMs` (each adds `stepMs`, up to the maximum), noting when the maximum was reached. */
function catchUpHold(state: Collecting, atMs: number, rules: MemoryRules): Collecting {
  if (state.heldSinceMs === null) return state;
  const steps = Math.floor((atMs - state.heldSinceMs) / rules.holdStepMs);
  if (steps <= state.holdSteps) return state;
  const added = (steps - state.holdSteps) * rules.stepMs;
  let fullSinceMs = state.fullSinceMs;
  if (fullSinceMs === null && state.lookbackMs + added >= rules.maxMs) {
    const needed = Math.max(0, Math.ceil((rules.maxMs - state.lookbackMs) / rules.stepMs));
    fullSinceMs = state.heldSinceMs + (state.holdSteps + needed) * rules.holdStepMs;
  }
  return { ...state, holdSteps: steps, lookbackMs: Math.min(rules.maxMs, state.lookbackMs + added), lastActivityMs: atMs, fullSinceMs };
}

function wakeAt(state: Collecting, rules: MemoryRules): number {
  if (state.heldSinceMs === null) return state.lastActivityMs + rules.windowMs;
  if (state.fullSinceMs !== null) return state.fullSinceMs + rules.holdStepMs;
  return state.heldSinceMs + (state.holdSteps + 1) * rules.holdStepMs;
}

/** What the shell reports about a memory being collected. */
export interface PendingMemory {
  readonly firstAtMs: number;
  readonly lookbackMs: number;
  /** When it will be saved if nothing else happens (null while the button is held). */
  readonly saveAtMs: number | null;
  readonly held: boolean;
}

/** Options of {@link createMemoryButton}. */
export interface MemoryButtonOptions {
  readonly rules: MemoryRules;
  /** A memory started (first press): note where its video ends. */
  readonly onStart: (firstAtMs: number) => void;
  /** Save now: the look-back asked for, ending at the first press. */
  readonly onSave: (save: { firstAtMs: number; lookbackMs: number }) => void;
  /** Something shown on the page changed. */
  readonly onChange?: () => void;
  readonly now?: () => number;
}

/** The timer shell around {@link nextMemoryState}. */
export interface MemoryButton {
  press(options?: { addMs?: number; hold?: boolean }): PendingMemory;
  release(): void;
  pending(): PendingMemory | null;
  /** Cancels the timer (a memory being collected is dropped). */
  stop(): void;
}

/** Creates the button logic's shell: feeds inputs in, keeps one timer for the next tick. */
export function createMemoryButton(options: MemoryButtonOptions): MemoryButton {
  const now = options.now ?? Date.now;
  let state: MemoryState = IDLE;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;

  const apply = (input: MemoryInput): void => {
    const step = nextMemoryState(state, input, options.rules);
    state = step.state;
    if (step.started) options.onStart(input.atMs);
    if (timer) clearTimeout(timer);
    timer = null;
    if (step.wakeAtMs !== null && !stopped) {
      timer = setTimeout(() => apply({ type: 'tick', atMs: now() }), Math.max(0, step.wakeAtMs - now()));
      timer.unref?.();
    }
    if (step.save) options.onSave(step.save);
    options.onChange?.();
  };

  const pending = (): PendingMemory | null =>
    state.phase === 'idle'
      ? null
      : {
          firstAtMs: state.firstAtMs,
          lookbackMs: state.lookbackMs,
          saveAtMs: state.heldSinceMs === null ? state.lastActivityMs + options.rules.windowMs : null,
          held: state.heldSinceMs !== null,
        };

  return {
    press(pressOptions = {}) {
      apply({ type: 'press', atMs: now(), ...pressOptions });
      return pending() as PendingMemory;
    },
    release() {
      apply({ type: 'release', atMs: now() });
    },
    pending,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      state = IDLE;
    },
  };
}
