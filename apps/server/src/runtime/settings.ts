import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';

/** What the user changes from the web page and expects to find again after a restart. */
export interface RuntimeSettings {
  /**
   * The scale of the motion score the saved trigger level is on. Levels saved before the
   * noise-adaptive score (no scale) mean something else and are not used.
   */
  readonly scoreScale?: number;
  /** `auto` (the level follows the noise floor, `triggerOffset` rungs above) or `manual` (`triggerLevel`). */
  readonly triggerMode?: 'auto' | 'manual';
  /** The manual level. */
  readonly triggerLevel?: number;
  /** The user's offset over the auto level, in rungs of the +/- ladder. */
  readonly triggerOffset?: number;
  readonly motionEnabled?: boolean;
  /** Continuous recording (dashcam mode) switched on or off from the page or the API. */
  readonly continuousEnabled?: boolean;
}

/** Pure: whether `value` is a settings document as a backup holds it (what `sanitize` would keep unchanged). */
export function isRuntimeSettings(value: unknown): value is RuntimeSettings {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const known = ['scoreScale', 'triggerMode', 'triggerLevel', 'triggerOffset', 'motionEnabled', 'continuousEnabled'];
  if (Object.keys(value).some((key) => !known.includes(key))) return false;
  // Every key kept: each value passed its check (a trigger needs this version's score scale).
  return Object.keys(sanitize(value)).length === Object.keys(value).length;
}

/** The settings file, `<dataDir>/settings.json` (`settings-<camera>.json` for further cameras), written atomically. */
export interface SettingsFile {
  read(): RuntimeSettings;
  update(patch: RuntimeSettings): RuntimeSettings;
  /** Replaces the whole file (a restored backup). */
  replace(next: RuntimeSettings): RuntimeSettings;
}

/** The score scale of this version (the noise-adaptive score in connected regions). */
export const SCORE_SCALE = 2;

/** Opens the settings file (a missing or unreadable file means "no saved settings", logged). */
export function openSettings(dataDir: string, logger?: Logger, fileName = 'settings.json'): SettingsFile {
  const path = join(dataDir, fileName);
  let current: RuntimeSettings = {};
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    current = sanitize(parsed);
    const old = (parsed as { triggerLevel?: unknown; scoreScale?: unknown } | null) ?? {};
    if (old.triggerLevel !== undefined && old.scoreScale !== SCORE_SCALE) {
      logger?.warn({ path, savedTriggerLevel: old.triggerLevel }, 'the motion score changed in this version: the saved trigger level is not used (detection starts in auto mode)');
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') logger?.warn({ err: error, path }, 'settings.json unreadable; starting from the configuration');
  }
  const write = (next: RuntimeSettings): RuntimeSettings => {
    current = next;
    mkdirSync(dataDir, { recursive: true });
    const temp = `${path}.tmp`;
    writeFileSync(temp, `${JSON.stringify(current, null, 2)}\n`);
    renameSync(temp, path);
    return current;
  };
  return {
    read: () => current,
    update: (patch) => write({ ...current, ...patch }),
    replace: (next) => write(sanitize(next)),
  };
}

function sanitize(value: unknown): RuntimeSettings {
  if (typeof value !== 'object' || value === null) return {};
  const record = value as Record<string, unknown>;
  const out: { scoreScale?: number; triggerMode?: 'auto' | 'manual'; triggerLevel?: number; triggerOffset?: number; motionEnabled?: boolean; continuousEnabled?: boolean } = {};
  if (record.scoreScale === SCORE_SCALE) {
    out.scoreScale = SCORE_SCALE;
    if (record.triggerMode === 'auto' || record.triggerMode === 'manual') out.triggerMode = record.triggerMode;
    if (typeof record.triggerLevel === 'number' && Number.isFinite(record.triggerLevel) && record.triggerLevel > 0) out.triggerLevel = record.triggerLevel;
    if (Number.isSafeInteger(record.triggerOffset) && Math.abs(record.triggerOffset as number) <= 100) out.triggerOffset = record.triggerOffset as number;
  }
  if (typeof record.motionEnabled === 'boolean') out.motionEnabled = record.motionEnabled;
  if (typeof record.continuousEnabled === 'boolean') out.continuousEnabled = record.continuousEnabled;
  return out;
}
