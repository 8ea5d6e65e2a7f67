import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { detectBoard } from '@preroll/capture';
import { applyProfile, chooseProfile, PROFILES, type ProfileChoice } from './profiles';
import { configSchema, type Config } from './schema';

/** A configuration error: one clear message naming the key. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly code: 'CONFIG_NOT_FOUND' | 'CONFIG_BAD_JSON' | 'CONFIG_INVALID' | 'CONFIG_BAD_ENV',
    message: string,
    /** The dotted key at fault, when there is one. */
    readonly key?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Where the configuration comes from; the environment is read here and nowhere else. */
export interface LoadOptions {
  /** `--config FILE`; falls back to PREROLL_CONFIG. */
  readonly file?: string;
  /** Values from command-line flags (e.g. `--port`), applied last. */
  readonly overrides?: Record<string, unknown>;
  /** The environment (default `process.env`). */
  readonly env?: NodeJS.ProcessEnv;
  /** Where the board model is read for `camera.profile: "auto"` (default `/proc/device-tree/model`). */
  readonly modelPath?: string;
}

/** The result of loading: the frozen config and the secrets that come only from the environment. */
export interface LoadedConfig {
  readonly config: Readonly<Config>;
  readonly file: string | null;
  /** PREROLL_PASSWORD, if set. */
  readonly password: string | null;
  /** The Raspberry Pi profile used for defaults (`camera.profile`), for the composition root to log. */
  readonly profile: ProfileChoice;
  /**
   * What the configuration was made of, so it can be made again from an edited file with the
   * same environment and flags (`PATCH /api/config`): the file's document and the resolver.
   */
  readonly layers: ConfigLayers;
}

/** Where each key of the effective configuration came from. */
export type ConfigOrigin = 'file' | 'env' | 'flag' | 'profile' | 'default';

/** The file's document and the fixed layers over it (environment, flags, board profile). */
export interface ConfigLayers {
  /** The file as read (`{}` without a file). */
  readonly fileDoc: Readonly<Record<string, unknown>>;
  /** Dotted keys set by the environment. */
  readonly envKeys: readonly string[];
  /** Dotted keys set by command-line flags. */
  readonly flagKeys: readonly string[];
  /** Dotted keys filled by the board profile. */
  readonly profileKeys: readonly string[];
  /** Validates another file document under the same environment, flags and board (throws ConfigError naming the key). */
  resolve(fileDoc: unknown, origin?: string): { config: Readonly<Config>; profile: ProfileChoice };
}

/**
 * Reads the config file (JSON), applies environment overrides (`PREROLL_PORT`, `PREROLL_HOST`,
 * `PREROLL_DATA`, `PREROLL_SOURCE`, and any key as `PREROLL_<SECTION>__<KEY>`, e.g.
 * `PREROLL_DETECTOR__TRIGGER_LEVEL=8`), then the command-line overrides, fills the Raspberry Pi
 * profile's defaults under all of them (`camera.profile`), validates with the schema and
 * freezes the result. Throws ConfigError naming the first bad key.
 */
export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const file = options.file ?? env.PREROLL_CONFIG ?? null;
  let raw: unknown = {};
  if (file) raw = readConfigFile(file);
  const environment = envOverrides(env);
  const flags = Object.entries(options.overrides ?? {}).filter(([, value]) => value !== undefined);
  let profileKeys: readonly string[] = [];
  const resolveDoc = (doc: unknown, origin = file ?? 'configuration'): { config: Readonly<Config>; profile: ProfileChoice } => {
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      throw new ConfigError('CONFIG_INVALID', `${origin}: the configuration must be a JSON object`);
    }
    const merged = structuredClone(doc) as Record<string, unknown>;
    for (const [path, value] of environment) setPath(merged, path, value);
    for (const [path, value] of flags) setPath(merged, path.split('.'), value);
    const { profiled, profile } = withProfile(merged, options.modelPath);
    return { config: parseConfig(profiled, origin), profile };
  };
  const { config, profile } = resolveDoc(raw);
  profileKeys = profile.applied;
  const layers: ConfigLayers = {
    fileDoc: deepFreeze(structuredClone(raw) as Record<string, unknown>),
    envKeys: environment.map(([path]) => path.join('.')),
    flagKeys: flags.map(([path]) => path),
    profileKeys,
    resolve: resolveDoc,
  };
  return { config, file: file ? resolve(file) : null, password: env.PREROLL_PASSWORD || null, profile, layers };
}

/** Fills in the Pi model's profile under the explicit keys (see profiles.ts). */
function withProfile(merged: Record<string, unknown>, modelPath = '/proc/device-tree/model'): { profiled: Record<string, unknown>; profile: ProfileChoice } {
  const camera = merged.camera;
  const setting = typeof camera === 'object' && camera !== null ? (camera as Record<string, unknown>).profile : undefined;
  const model = setting === undefined || setting === 'auto' ? detectBoard(modelPath).model : null;
  const choice = chooseProfile(setting, model);
  // An unknown setting is left to the schema, which names the key.
  if (!choice || choice.name === 'none') return { profiled: merged, profile: { name: 'none', model, reason: choice?.reason ?? 'unknown profile', applied: [] } };
  const { config, applied } = applyProfile(merged, PROFILES[choice.name]);
  return { profiled: config, profile: { name: choice.name, model, reason: choice.reason, applied } };
}

/** Validates a configuration object; throws ConfigError with the first problem and its key. */
export function parseConfig(value: unknown, origin = 'configuration'): Readonly<Config> {
  const result = configSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]] : issue.path;
    const key = path.join('.');
    throw new ConfigError('CONFIG_INVALID', `${origin}: ${key ? `${key}: ` : ''}${describeIssue(issue)}`, key || undefined);
  }
  return deepFreeze(result.data);
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return 'unknown key (check its spelling against docs/configuration.md)';
  return issue.message;
}

function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError('CONFIG_NOT_FOUND', `cannot read the configuration file ${file}: ${(error as Error).message}`, undefined, { cause: error });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError('CONFIG_BAD_JSON', `${file} is not valid JSON: ${(error as Error).message}`, undefined, { cause: error });
  }
}

const SHORT_ENV: Record<string, string[]> = {
  PREROLL_PORT: ['server', 'port'],
  PREROLL_HOST: ['server', 'host'],
  PREROLL_DATA: ['server', 'dataDir'],
  PREROLL_SOURCE: ['camera', 'source'],
};

/** Pure: the overrides found in an environment, as [path, value] pairs. */
export function envOverrides(env: NodeJS.ProcessEnv): [string[], unknown][] {
  const found: [string[], unknown][] = [];
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (SHORT_ENV[name]) {
      found.push([SHORT_ENV[name], coerce(value)]);
      continue;
    }
    const match = /^PREROLL_([A-Z]+)__([A-Z0-9_]+(?:__[A-Z0-9_]+)*)$/.exec(name);
    if (!match) continue;
    const path = [match[1], ...match[2].split('__')].map(camelCase);
    found.push([path, coerce(value)]);
  }
  return found;
}

function camelCase(screaming: string): string {
  return screaming.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Environment values are strings: numbers, booleans and JSON arrays/objects are parsed. */
function coerce(value: string): unknown {
  if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  if (value === 'true' || value === 'false') return value === 'true';
  if (/^[[{]/.test(value)) {
    try {
      return JSON.parse(value);
    } catch (error) {
      throw new ConfigError('CONFIG_BAD_ENV', `environment value ${JSON.stringify(value)} is not valid JSON`, undefined, { cause: error });
    }
  }
  return value;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
