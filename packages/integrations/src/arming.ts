/**
 * Arming: the mode (Home / Away / Off) chosen from the page, the API or MQTT and kept in
 * `<dataDir>/arming.json`; the weekly alert and detection schedules; presence of phones. It
 * answers, per camera and moment, whether alerts may go out ({@link Arming.gate}) and says why
 * in words for the page, the status and MQTT.
 */

import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { durationText, inWeeklyRanges, type ArmingGate } from './alert-rules';
import { IntegrationsError } from './errors';
import { ARMING_MODES, type ArmingMode, type ResolvedArmingConfig } from './notify-config';
import { createPresence, type DeviceState, type Presence, type PresenceOptions } from './presence';

/** Who chose the mode. */
export type ModeSource = 'config' | 'page' | 'api' | 'mqtt' | 'cli';

/** What the page, `/api/status` and MQTT show. */
export interface ArmingStatus {
  /** The mode chosen. */
  readonly mode: ArmingMode;
  /** The mode in force: a present phone turns `away` into `home`. */
  readonly effective: ArmingMode;
  /** Since when the mode in force holds (ISO). */
  readonly since: string;
  readonly source: ModeSource;
  /** In words, e.g. `away since 08:12: set from the page; no phone seen for 10 min`. */
  readonly reason: string;
  /** Phones listed under `arming.presence` and whether each is at home. */
  readonly presence: readonly DeviceState[];
}

/** The arming state of the server (all cameras). */
export interface Arming {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Chooses a mode; kept in arming.json. Throws `ARMING_STATE_FAILED` when it cannot be saved (the mode still changes). */
  setMode(mode: ArmingMode, source: ModeSource): Promise<ArmingStatus>;
  /** Whether `camera` may alert at `atMs` (presence and the alert schedule). */
  gate(camera: string, atMs: number): ArmingGate;
  /** True when the detection schedule wants motion detection on for `camera` at `atMs`; null without a schedule for it. */
  detectionWanted(camera: string, atMs: number): boolean | null;
  /** True when a present phone should also pause detection (`presence.pauses`). */
  pausesDetection(): boolean;
  status(): ArmingStatus;
  /** Called when the mode, the mode in force or presence changed. */
  onChange(listener: () => void): () => void;
  /** Looks for the phones now (tests, `preroll notify test`). */
  checkPresence(): Promise<void>;
}

/** Options of {@link createArming}. */
export interface ArmingOptions {
  readonly config: ResolvedArmingConfig;
  readonly dataDir: string;
  readonly logger?: Logger;
  readonly now?: () => number;
  /** Reads the neighbour table (tests give a fixed one). */
  readonly neighbours?: PresenceOptions['neighbours'];
}

interface Saved {
  readonly mode: ArmingMode;
  readonly sinceMs: number;
  readonly source: ModeSource;
}

/** Creates the arming state (reads nothing until `start()`). */
export function createArming(options: ArmingOptions): Arming {
  const { config, logger } = options;
  const now = options.now ?? Date.now;
  const path = join(options.dataDir, 'arming.json');
  const presence: Presence | null = config.presence.devices.length ? createPresence({ config: config.presence, logger, now, neighbours: options.neighbours }) : null;
  let saved: Saved = { mode: config.mode, sinceMs: now(), source: 'config' };
  let effective: { mode: ArmingMode; sinceMs: number } = { mode: config.mode, sinceMs: saved.sinceMs };
  const listeners = new Set<() => void>();

  const effectiveNow = (): ArmingMode => (saved.mode === 'away' && presence && presence.present().length > 0 ? 'home' : saved.mode);
  const refresh = (): void => {
    const mode = effectiveNow();
    if (mode !== effective.mode) effective = { mode, sinceMs: now() };
    for (const listener of listeners) listener();
  };
  presence?.onChange(refresh);

  const clock = (ms: number): string => {
    const d = new Date(ms);
    return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  };
  const sourceText = (s: ModeSource): string => (s === 'config' ? 'the configuration' : s === 'page' ? 'the page' : s === 'api' ? 'the API' : s === 'mqtt' ? 'MQTT' : 'the command line');

  const reason = (): string => {
    const head = `${effective.mode} since ${clock(effective.sinceMs)}`;
    const set = `set from ${sourceText(saved.source)}`;
    // Presence only matters in away mode (it turns away into home).
    if (!presence || saved.mode !== 'away') return `${head}: ${set}`;
    const present = presence.present();
    if (present.length) return `${head}: ${present.join(', ')} at home (alerts paused); away ${set}`;
    const last = presence.lastSeenMs();
    const gone = last === null ? 'no phone seen yet' : `no phone seen for ${durationText(Math.round((now() - last) / 1000))}`;
    return `${head}: ${set}; ${gone}`;
  };

  return {
    async start() {
      try {
        const raw = JSON.parse(await fsp.readFile(path, 'utf8')) as Partial<Saved>;
        if (raw.mode && (ARMING_MODES as readonly string[]).includes(raw.mode) && typeof raw.sinceMs === 'number') {
          saved = { mode: raw.mode, sinceMs: raw.sinceMs, source: raw.source ?? 'page' };
          effective = { mode: saved.mode, sinceMs: saved.sinceMs };
        }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') logger?.warn({ code: 'ARMING_STATE_FAILED', path, err: (error as Error).message }, 'arming.json unreadable; using arming.mode');
      }
      presence?.start();
      logger?.info({ mode: saved.mode, presence: config.presence.devices.length }, `arming: ${saved.mode}`);
    },
    async stop() {
      await presence?.stop();
      listeners.clear();
    },
    async setMode(mode, source) {
      saved = { mode, sinceMs: now(), source };
      effective = { mode: effectiveNow(), sinceMs: saved.sinceMs };
      logger?.info({ mode, source }, `arming: ${mode} (from ${source})`);
      refresh();
      try {
        await fsp.mkdir(options.dataDir, { recursive: true });
        await fsp.writeFile(`${path}.tmp`, `${JSON.stringify(saved)}\n`);
        await fsp.rename(`${path}.tmp`, path);
      } catch (error) {
        throw new IntegrationsError('ARMING_STATE_FAILED', `cannot save the arming mode in ${path}: ${(error as Error).message}`, path, { cause: error });
      }
      return this.status();
    },
    gate(camera, atMs) {
      const mode = effectiveNow();
      if (!inWeeklyRanges(config.schedules.alerts, camera, atMs)) return { mode, pausedBy: 'schedule' };
      return { mode, pausedBy: mode !== saved.mode ? 'presence' : null };
    },
    detectionWanted(camera, atMs) {
      const mine = config.schedules.detection.filter((r) => r.cameras.length === 0 || r.cameras.includes(camera));
      return mine.length === 0 ? null : inWeeklyRanges(mine, camera, atMs);
    },
    pausesDetection: () => config.presence.pauses === 'alerts-and-detection' && (presence?.present().length ?? 0) > 0,
    status() {
      const mode = effectiveNow();
      if (mode !== effective.mode) effective = { mode, sinceMs: now() };
      return { mode: saved.mode, effective: effective.mode, since: new Date(effective.sinceMs).toISOString(), source: saved.source, reason: reason(), presence: presence?.devices() ?? [] };
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async checkPresence() {
      await presence?.check();
    },
  };
}
