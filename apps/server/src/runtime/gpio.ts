import type { Logger } from 'pino';
import { createRestartSupervisor, describeExit, spawnChild, which, type ChildHandle } from '@preroll/process';

/**
 * The optional push button on a GPIO line, read with libgpiod's `gpiomon` (Debian package
 * `gpiod`): one long-running child per button, restarted with backoff when it dies, whose
 * stdout lines are edges. Wiring: button between the pin and GND, the line's internal pull-up
 * on (`--bias=pull-up`), so pressed = low = falling edge.
 *
 * libgpiod 1.x (Raspberry Pi OS bookworm, Debian 12) and 2.x (Debian 13) have different
 * command lines; the version is read once with `gpiomon --version`.
 */

/** Bias asked of the line. */
export type GpioBias = 'pull-up' | 'pull-down' | 'disable' | 'as-is';

/** Options of the button. */
export interface GpioButtonOptions {
  /** Line offset on the chip (the BCM GPIO number on a Raspberry Pi). */
  readonly pin: number;
  readonly chip: string;
  readonly bias: GpioBias;
  /** Pressed = line low (a button to GND with a pull-up). */
  readonly activeLow: boolean;
  /** Edges closer than this to the last accepted one are bounce, milliseconds. */
  readonly debounceMs: number;
  /** Program name or path (default `gpiomon`, looked up on PATH). */
  readonly command?: string;
  readonly logger?: Logger;
  readonly onPress: () => void;
  readonly onRelease: () => void;
  readonly now?: () => number;
  /** What the line is for, in log and error messages (default `the memory button`). */
  readonly purpose?: string;
  /** First restart delay after `gpiomon` died, milliseconds (doubling up to a minute). Default 1000. */
  readonly restartMinMs?: number;
}

/**
 * Why the line cannot be read: `GPIO_NOT_FOUND` (no `gpiomon` on PATH), `GPIO_EXITED`
 * (`gpiomon` died; it is restarted with backoff), `GPIO_FAILED` (it could not be started).
 */
export type GpioErrorCode = 'GPIO_NOT_FOUND' | 'GPIO_EXITED' | 'GPIO_FAILED';

/** The major version of libgpiod's tools from `gpiomon --version` (`gpiomon (libgpiod) v1.6.3`); null if unknown. Pure. */
export function parseGpiomonVersion(text: string): number | null {
  const match = /libgpiod\)?\s+v?(\d+)\./.exec(text);
  return match ? Number(match[1]) : null;
}

/**
 * The `gpiomon` argv for one line (pure). Every line out is `<edge>` as `%e`: `1` rising, and
 * falling is `0` (v1) or `2` (v2). v1: `gpiomon --bias=B --line-buffered --format=%e CHIP PIN`;
 * v2: `gpiomon --bias=B --chip CHIP [--debounce-period Nms] --format=%e PIN` (v2 debounces in
 * the kernel too where the driver can).
 */
export function buildGpiomonArgs(major: number, options: Pick<GpioButtonOptions, 'pin' | 'chip' | 'bias' | 'debounceMs'>): string[] {
  if (major >= 2) {
    return [`--bias=${options.bias}`, '--chip', options.chip, ...(options.debounceMs > 0 ? ['--debounce-period', `${options.debounceMs}ms`] : []), '--format=%e', String(options.pin)];
  }
  return [`--bias=${options.bias}`, '--line-buffered', '--format=%e', options.chip, String(options.pin)];
}

/** An edge from one line of `gpiomon --format=%e` output (pure); null for anything else. */
export function parseGpiomonLine(line: string): 'rising' | 'falling' | null {
  const value = line.trim();
  if (value === '1') return 'rising';
  if (value === '0' || value === '2') return 'falling';
  return null;
}

/** Debounce state: whether the button is down, and when the last accepted edge was. */
export interface DebounceState {
  readonly pressed: boolean;
  readonly lastEdgeMs: number;
}

/**
 * Debounces one edge (pure): an edge within `debounceMs` of the last accepted one, or one that
 * does not change the button's state, is ignored. Returns the new state and what happened.
 */
export function debounceEdge(state: DebounceState, edge: 'rising' | 'falling', atMs: number, debounceMs: number, activeLow: boolean): { state: DebounceState; change: 'press' | 'release' | null } {
  const pressed = activeLow ? edge === 'falling' : edge === 'rising';
  if (pressed === state.pressed || atMs - state.lastEdgeMs < debounceMs) return { state, change: null };
  return { state: { pressed, lastEdgeMs: atMs }, change: pressed ? 'press' : 'release' };
}

/** State of the button reader, for the status page. */
export interface GpioStatus {
  readonly state: 'off' | 'starting' | 'running' | 'restarting' | 'unavailable';
  readonly pin: number | null;
  readonly presses: number;
  readonly lastError: string | null;
  /** Stable code of `lastError`. */
  readonly lastErrorCode: GpioErrorCode | null;
  /** Times `gpiomon` was restarted after it died. */
  readonly restarts: number;
}

/** The button reader. */
export interface GpioButton {
  /** Finds `gpiomon`, reads its version and starts it; never throws (a missing tool is logged and reported in `status()`). */
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): GpioStatus;
}

/** Creates the button reader (spawns nothing until `start()`). */
export function createGpioButton(options: GpioButtonOptions): GpioButton {
  const log = options.logger;
  const command = options.command ?? 'gpiomon';
  const now = options.now ?? Date.now;
  const purpose = options.purpose ?? 'the memory button';
  // The one restart policy of everything Preroll keeps running; a run of a minute is healthy.
  const supervisor = createRestartSupervisor({ backoff: { initialMs: options.restartMinMs ?? 1000, maxMs: 60_000, factor: 2, resetAfterMs: 60_000 }, unref: true });
  let child: ChildHandle | null = null;
  let state: GpioStatus['state'] = 'off';
  let stopped = false;
  let presses = 0;
  let lastError: string | null = null;
  let lastErrorCode: GpioErrorCode | null = null;
  let debounce: DebounceState = { pressed: false, lastEdgeMs: Number.NEGATIVE_INFINITY };

  const edge = (line: string): void => {
    const parsed = parseGpiomonLine(line);
    if (!parsed) {
      if (line.trim()) log?.debug({ line }, 'gpio: unexpected gpiomon output');
      return;
    }
    const step = debounceEdge(debounce, parsed, now(), options.debounceMs, options.activeLow);
    debounce = step.state;
    if (step.change === 'press') {
      presses++;
      options.onPress();
    } else if (step.change === 'release') {
      options.onRelease();
    }
  };

  const version = async (): Promise<number> => {
    const probe = spawnChild({ name: 'gpiomon', command, args: ['--version'], logger: log });
    let out = '';
    probe.stdout?.setEncoding('utf8');
    probe.stdout?.on('data', (chunk: string) => (out += chunk));
    await probe.exited;
    // An unknown version gets the v1 command line (what Raspberry Pi OS ships today).
    return parseGpiomonVersion(out) ?? 1;
  };

  const launch = async (): Promise<void> => {
    if (stopped) return;
    const major = await version();
    if (stopped) return;
    const args = buildGpiomonArgs(major, options);
    const started = spawnChild({ name: 'gpiomon', command, args, logger: log, stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    state = 'running';
    log?.info({ pin: options.pin, chip: options.chip, libgpiod: major }, `gpio: watching ${purpose}`);
    let partial = '';
    started.stdout?.setEncoding('utf8');
    started.stdout?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) edge(line);
    });
    const info = await started.exited;
    child = null;
    if (stopped) return;
    // A button still down when the reader died would never be released: release it.
    if (debounce.pressed) {
      debounce = { pressed: false, lastEdgeMs: now() };
      options.onRelease();
    }
    lastError = `gpiomon exited (${describeExit(info)})${info.stderrTail.length ? `: ${info.stderrTail.slice(-2).join(' / ')}` : ''}`;
    lastErrorCode = 'GPIO_EXITED';
    const delay = supervisor.failed(info.uptimeMs, () => void launch().catch(fail));
    state = 'restarting';
    log?.warn({ code: lastErrorCode, lastError, restartInMs: delay, line: options.pin }, `gpio: gpiomon stopped reading ${purpose}; restarting`);
  };

  const fail = (error: unknown): void => {
    lastError = (error as Error).message;
    lastErrorCode = 'GPIO_FAILED';
    state = 'unavailable';
    log?.error({ err: error, code: lastErrorCode }, `gpio: cannot read ${purpose}`);
  };

  return {
    async start() {
      stopped = false;
      if (!which(command)) {
        state = 'unavailable';
        lastError = `${command} not found: install the Debian package "gpiod" for ${purpose}`;
        lastErrorCode = 'GPIO_NOT_FOUND';
        log?.error({ pin: options.pin, code: lastErrorCode }, `gpio: ${lastError}`);
        return;
      }
      state = 'starting';
      void launch().catch(fail);
    },
    async stop() {
      stopped = true;
      supervisor.cancel();
      const running = child;
      child = null;
      if (running) await running.stop({ graceMs: 0, termMs: 1000 });
      state = 'off';
    },
    status: () => ({ state, pin: options.pin, presses, lastError, lastErrorCode, restarts: supervisor.restarts }),
  };
}
