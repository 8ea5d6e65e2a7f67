/**
 * Presence of phones on the home network without a cloud: every `intervalS` each listed
 * address gets a TCP probe (a phone that answers, even with a refused connection, is there; the
 * probe also refreshes the kernel's neighbour entry), then the kernel's neighbour table
 * (`ip neigh show`) is read for the listed MAC and IP addresses. A phone counts as gone only
 * after `graceS` without being seen.
 */

import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import type { Logger } from 'pino';
import type { ResolvedArmingConfig } from './notify-config';

/** One neighbour table entry. */
export interface Neighbour {
  readonly ip: string;
  readonly mac: string | null;
  readonly state: string;
}

/** States of a neighbour entry that mean "answered recently". STALE and FAILED do not. */
const LIVE_STATES = new Set(['REACHABLE', 'DELAY', 'PROBE', 'PERMANENT']);

/** Parses `ip neigh show` output. Pure. */
export function parseNeighbours(text: string): Neighbour[] {
  const out: Neighbour[] = [];
  for (const line of text.split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length < 2 || !parts[0]) continue;
    const lladdr = parts.indexOf('lladdr');
    out.push({ ip: parts[0], mac: lladdr >= 0 ? (parts[lladdr + 1] ?? '').toLowerCase() : null, state: parts[parts.length - 1].toUpperCase() });
  }
  return out;
}

/** True when the neighbour table shows the device as live (by MAC or IP). Pure. */
export function seenInNeighbours(device: { readonly ip?: string; readonly mac?: string }, neighbours: readonly Neighbour[]): boolean {
  const mac = device.mac?.toLowerCase();
  return neighbours.some((n) => LIVE_STATES.has(n.state) && ((mac !== undefined && n.mac === mac) || (device.ip !== undefined && n.ip === device.ip)));
}

/**
 * One TCP probe: true when the host answered (connected, or refused the port), false on
 * timeout or an unreachable host.
 */
export function probeHost(ip: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: ip, port });
    const finish = (answered: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answered);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once('connect', () => finish(true));
    socket.once('error', (error: NodeJS.ErrnoException) => finish(error.code === 'ECONNREFUSED' || error.code === 'ECONNRESET'));
  });
}

/** One device's state. */
export interface DeviceState {
  readonly name: string;
  readonly present: boolean;
  readonly lastSeen: string | null;
}

/** The presence watcher. */
export interface Presence {
  start(): void;
  stop(): Promise<void>;
  /** Looks once now (also what the timer does); resolves when done. */
  check(): Promise<void>;
  /** Devices present now (seen within `graceS`). */
  present(): readonly string[];
  /** When the last device was last seen, or null (nobody ever seen). */
  lastSeenMs(): number | null;
  devices(): readonly DeviceState[];
  /** Called after every check that changed who is present. */
  onChange(listener: () => void): void;
}

/** Options of {@link createPresence}. */
export interface PresenceOptions {
  readonly config: ResolvedArmingConfig['presence'];
  readonly logger?: Logger;
  readonly now?: () => number;
  /** Reads the neighbour table (default: `ip neigh show`). */
  readonly neighbours?: () => Promise<string>;
}

/** Creates the watcher (no probe or timer until `start()`). */
export function createPresence(options: PresenceOptions): Presence {
  const { config, logger } = options;
  const now = options.now ?? Date.now;
  const readNeighbours =
    options.neighbours ??
    (() =>
      new Promise<string>((resolve, reject) => {
        execFile('ip', ['neigh', 'show'], { timeout: 5000, shell: false }, (error, stdout) => (error ? reject(error) : resolve(stdout)));
      }));
  const lastSeen = new Map<string, number>();
  const listeners: (() => void)[] = [];
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let previous = '';

  const presentNames = (): string[] => config.devices.filter((d) => (now() - (lastSeen.get(d.name) ?? -Infinity)) <= config.graceS * 1000).map((d) => d.name);

  const check = async (): Promise<void> => {
    const probed = await Promise.all(
      config.devices.map(async (d) => {
        if (!d.ip) return false;
        for (const port of config.probePorts) if (await probeHost(d.ip, port, config.probeTimeoutMs)) return true;
        return false;
      }),
    );
    let neighbours: Neighbour[] = [];
    try {
      neighbours = parseNeighbours(await readNeighbours());
    } catch (error) {
      logger?.warn({ err: (error as Error).message }, 'presence: cannot read the neighbour table (ip neigh)');
    }
    const at = now();
    config.devices.forEach((d, i) => {
      if (probed[i] || seenInNeighbours(d, neighbours)) lastSeen.set(d.name, at);
    });
    const names = presentNames().join('\0');
    if (names !== previous) {
      previous = names;
      logger?.info({ present: presentNames() }, 'presence changed');
      for (const listener of listeners) listener();
    }
  };

  const tick = (): void => {
    running ??= check()
      .catch((error: unknown) => logger?.warn({ err: (error as Error).message }, 'presence check failed'))
      .finally(() => {
        running = null;
      });
  };

  return {
    start() {
      if (timer || config.devices.length === 0) return;
      tick();
      timer = setInterval(tick, config.intervalS * 1000);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      await running;
    },
    async check() {
      await running;
      await check();
    },
    present: presentNames,
    lastSeenMs() {
      const values = [...lastSeen.values()];
      return values.length ? Math.max(...values) : null;
    },
    devices() {
      const present = new Set(presentNames());
      return config.devices.map((d) => ({ name: d.name, present: present.has(d.name), lastSeen: lastSeen.has(d.name) ? new Date(lastSeen.get(d.name) as number).toISOString() : null }));
    },
    onChange(listener) {
      listeners.push(listener);
    },
  };
}
