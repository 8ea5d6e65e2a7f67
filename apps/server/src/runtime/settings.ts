import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';

/** What the user changes from the web page and expects to find again after a restart. */
export interface RuntimeSettings {
  readonly triggerLevel?: number;
  readonly motionEnabled?: boolean;
  /** Continuous recording (dashcam mode) switched on or off from the page or the API. */
  readonly continuousEnabled?: boolean;
}

/** The settings file, `<dataDir>/settings.json` (`settings-<camera>.json` for further cameras), written atomically. */
export interface SettingsFile {
  read(): RuntimeSettings;
  update(patch: RuntimeSettings): RuntimeSettings;
}

/** Opens the settings file (a missing or unreadable file means "no saved settings", logged). */
export function openSettings(dataDir: string, logger?: Logger, fileName = 'settings.json'): SettingsFile {
  const path = join(dataDir, fileName);
  let current: RuntimeSettings = {};
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    current = sanitize(parsed);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') logger?.warn({ err: error, path }, 'settings.json unreadable; starting from the configuration');
  }
  return {
    read: () => current,
    update(patch) {
      current = { ...current, ...patch };
      mkdirSync(dataDir, { recursive: true });
      const temp = `${path}.tmp`;
      writeFileSync(temp, `${JSON.stringify(current, null, 2)}\n`);
      renameSync(temp, path);
      return current;
    },
  };
}

function sanitize(value: unknown): RuntimeSettings {
  if (typeof value !== 'object' || value === null) return {};
  const record = value as Record<string, unknown>;
  const out: { triggerLevel?: number; motionEnabled?: boolean; continuousEnabled?: boolean } = {};
  if (typeof record.triggerLevel === 'number' && Number.isFinite(record.triggerLevel) && record.triggerLevel > 0) out.triggerLevel = record.triggerLevel;
  if (typeof record.motionEnabled === 'boolean') out.motionEnabled = record.motionEnabled;
  if (typeof record.continuousEnabled === 'boolean') out.continuousEnabled = record.continuousEnabled;
  return out;
}
