import { readFile, stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { createEmitter } from '@preroll/process';
import {
  applyModeOf,
  changedKeys,
  ConfigError,
  configVersion,
  leafKeys,
  mergePatch,
  origins,
  writeConfigAtomic,
  type Config,
  type ConfigLayers,
  type ConfigOrigin,
} from '../config';

/** How often the configuration file is looked at for edits made by hand. */
const POLL_MS = 1000;

/** A refused change, with a stable code; `status` is the HTTP status the API answers with. */
export class ConfigUpdateError extends Error {
  override readonly name = 'ConfigUpdateError';
  constructor(
    readonly status: number,
    readonly code: 'CONFIG_INVALID' | 'CONFIG_BAD_JSON' | 'CONFIG_VERSION_CONFLICT' | 'CONFIG_VERSION_REQUIRED' | 'CONFIG_READ_ONLY' | 'CONFIG_NO_FILE' | 'CONFIG_BAD_PATCH' | 'CONFIG_WRITE_FAILED',
    message: string,
    /** The dotted key at fault, when there is one. */
    readonly key?: string,
    /** The current version (with CONFIG_VERSION_CONFLICT). */
    readonly version?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What the configuration is now. */
export interface ConfigState {
  readonly config: Readonly<Config>;
  /** Version of the file on disk (an ETag): a change must name it. */
  readonly version: string;
  /** The file's path, or null when Preroll runs without one (then nothing can be saved). */
  readonly file: string | null;
  /** Where every key's value comes from; `env` and `flag` keys cannot be changed here. */
  readonly origins: Readonly<Record<string, ConfigOrigin>>;
  /** The file on disk is invalid (edited by hand): the server stays on the last good configuration. */
  readonly error: { readonly code: string; readonly message: string; readonly key: string | null } | null;
  /** Keys changed since the start that only a restart of Preroll applies. */
  readonly restartRequired: readonly string[];
}

/** One change of the configuration, as logged and published. */
export interface ConfigChange {
  readonly version: string;
  /** Dotted keys whose effective value changed. */
  readonly keys: readonly string[];
  /** Who changed it: a user, `token:<id>`, `file` (an edit by hand) or `restore`. */
  readonly who: string;
  /** Keys in force now. */
  readonly applied: readonly string[];
  /** Keys that need a restart of Preroll. */
  readonly restartRequired: readonly string[];
}

/** Options of {@link createConfigService}. */
export interface ConfigServiceOptions {
  readonly file: string | null;
  readonly layers: ConfigLayers;
  /** The configuration Preroll started with. */
  readonly config: Readonly<Config>;
  /** Puts a new configuration in force; resolves with the keys applied. */
  readonly apply: (next: Readonly<Config>, keys: readonly string[]) => Promise<readonly string[]>;
  readonly logger: Logger;
  /** How often the file is checked for edits by hand (default 1 s). */
  readonly pollMs?: number;
}

/** The configuration as the API changes it: versioned, validated, written atomically and applied live. */
export interface ConfigService {
  state(): ConfigState;
  /** The file's document (what was written, not the effective configuration). */
  fileDocument(): Readonly<Record<string, unknown>>;
  /**
   * Applies a JSON merge patch to the file (`null` resets a key to its default). Refuses a
   * missing or stale `ifMatch`, keys set by the environment or a flag, and anything the schema
   * refuses (naming the key); then writes the file (the previous one kept as `<file>.bak`) and
   * applies the change live.
   */
  patch(patch: unknown, options: { ifMatch: string | undefined; who: string }): Promise<ConfigChange>;
  /**
   * Saves values that their own route has already put in force (camera controls, masks: each
   * `[path, value]` sets one key of the file): validated, written and published like a patch,
   * but not applied a second time. No `If-Match`: the route sets its own keys on the file as it
   * is now, so nothing else is overwritten. `notInForce`: dotted keys among them that the route
   * could not put in force (e.g. a new frame size): reported as needing a restart.
   */
  saveInForce(changes: readonly (readonly [path: readonly (string | number)[], value: unknown])[], who: string, notInForce?: readonly string[]): Promise<ConfigChange>;
  /**
   * Like {@link saveInForce}, but the route could not put the values in force itself (a new
   * frame size needs a new encoder): they are applied like a patch, which restarts the camera's
   * source after finishing the clip being written.
   */
  saveAndApply(changes: readonly (readonly [path: readonly (string | number)[], value: unknown])[], who: string): Promise<ConfigChange>;
  /** Validates a whole file document as {@link replace} would, writing nothing; throws its ConfigUpdateError. */
  check(doc: unknown): void;
  /** Replaces the whole file document (a restored backup), with the same checks. */
  replace(doc: unknown, options: { ifMatch: string | undefined; who: string }): Promise<ConfigChange>;
  /** Changes, and a hand-edited file found invalid (`error`). */
  onChange(listener: (change: ConfigChange | null) => void): () => void;
  /** Starts watching the file for edits by hand. */
  start(): void;
  stop(): Promise<void>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Creates the configuration service (watching starts with `start()`). */
export async function createConfigService(options: ConfigServiceOptions): Promise<ConfigService> {
  const { file, layers, logger } = options;
  const pollMs = options.pollMs ?? POLL_MS;
  let config = options.config;
  let fileDoc: Readonly<Record<string, unknown>> = layers.fileDoc;
  let profileKeys = layers.profileKeys;
  let text = file ? await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  }) : '';
  let version = configVersion(text);
  let error: ConfigState['error'] = null;
  const pendingRestart = new Set<string>();
  const changes = createEmitter<[ConfigChange | null]>('config changes', logger);
  // Changes are made one at a time: each one is checked against the version the last one left.
  let queue: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | null = null;
  let lastStat = '';
  let stopped = false;

  const serial = <T>(task: () => Promise<T>): Promise<T> => {
    const run = queue.then(task, task);
    queue = run.catch(() => undefined);
    return run;
  };

  const readOnly = (key: string): ConfigOrigin | null => {
    if (layers.flagKeys.some((k) => key === k || key.startsWith(`${k}.`) || k.startsWith(`${key}.`))) return 'flag';
    if (layers.envKeys.some((k) => key === k || key.startsWith(`${k}.`) || k.startsWith(`${key}.`))) return 'env';
    return null;
  };

  /** Validates a file document under the same environment and flags; `profileKeys` are the keys its board profile fills. */
  const resolveDoc = (doc: unknown, origin: string): { next: Readonly<Config>; profileKeys: readonly string[] } => {
    try {
      const { config: next, profile } = layers.resolve(doc, origin);
      return { next, profileKeys: profile.applied };
    } catch (cause) {
      if (cause instanceof ConfigError) throw new ConfigUpdateError(400, cause.code === 'CONFIG_BAD_JSON' ? 'CONFIG_BAD_JSON' : 'CONFIG_INVALID', cause.message, cause.key, undefined, { cause });
      throw cause;
    }
  };

  /** Puts a validated document in force; `newText` is the file's text now. */
  const adopt = async (doc: Record<string, unknown>, next: Readonly<Config>, nextProfileKeys: readonly string[], newText: string, who: string, inForce: { notInForce: readonly string[] } | null = null): Promise<ConfigChange> => {
    const keys = changedKeys(config, next);
    fileDoc = doc;
    profileKeys = nextProfileKeys;
    text = newText;
    version = configVersion(newText);
    error = null;
    const previous = config;
    config = next;
    let applied: readonly string[] = [];
    try {
      applied = !keys.length ? [] : inForce ? keys.filter((key) => !inForce.notInForce.some((k) => key === k || key.startsWith(`${k}.`))) : await options.apply(next, keys);
    } catch (cause) {
      // Written but not in force: the file wins at the next start; say so rather than pretend.
      logger.error({ err: cause, keys, who }, 'configuration saved, but applying it failed; it takes effect at the next start');
      config = previous;
      for (const key of keys) pendingRestart.add(key);
    }
    const restartRequired = keys.filter((key) => !applied.includes(key) || applyModeOf(key) === 'restart');
    for (const key of restartRequired) pendingRestart.add(key);
    const change: ConfigChange = { version, keys, who, applied: applied.filter((key) => applyModeOf(key) !== 'restart'), restartRequired };
    // Keys only, never values: some are secrets.
    logger.info({ who, keys, applied: change.applied, restartRequired, version }, 'configuration changed');
    changes.emit(change);
    return change;
  };

  const checkVersion = (ifMatch: string | undefined): void => {
    if (!file) throw new ConfigUpdateError(409, 'CONFIG_NO_FILE', 'Preroll was started without a configuration file (--config FILE or PREROLL_CONFIG): there is nowhere to save settings');
    if (ifMatch === undefined) throw new ConfigUpdateError(428, 'CONFIG_VERSION_REQUIRED', 'send the version you changed as If-Match (from GET /api/config)', undefined, version);
    const wanted = ifMatch.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
    if (wanted !== version) throw new ConfigUpdateError(409, 'CONFIG_VERSION_CONFLICT', 'the configuration was changed meanwhile (another page, or by hand): reload it and apply your change again', undefined, version);
  };

  const write = async (doc: Record<string, unknown>, who: string, inForce: { notInForce: readonly string[] } | null = null): Promise<ConfigChange> => {
    const { next, profileKeys: filled } = resolveDoc(doc, 'configuration');
    try {
      await writeConfigAtomic(file as string, doc);
    } catch (cause) {
      throw new ConfigUpdateError(500, 'CONFIG_WRITE_FAILED', `cannot write ${file}: ${(cause as Error).message}`, undefined, undefined, { cause });
    }
    const written = await readFile(file as string, 'utf8');
    lastStat = await statKey(file as string);
    return adopt(doc, next, filled, written, who, inForce);
  };

  /** The base a change is made on: the file on disk when it is a JSON object, else the last good one. */
  const base = (): Record<string, unknown> => {
    try {
      const parsed: unknown = text ? JSON.parse(text) : {};
      if (isObject(parsed)) return parsed;
    } catch (cause) {
      logger.debug({ err: cause }, 'the configuration file is not JSON: changes start from the last good configuration');
    }
    return structuredClone(fileDoc) as Record<string, unknown>;
  };

  /** The file document with each `[path, value]` set (the route's own keys on the file as it is now). */
  const setAll = (pairs: readonly (readonly [path: readonly (string | number)[], value: unknown])[]): Record<string, unknown> => {
    if (!file) throw new ConfigUpdateError(409, 'CONFIG_NO_FILE', 'Preroll was started without a configuration file (--config FILE or PREROLL_CONFIG): there is nowhere to save settings');
    const doc = base();
    for (const [path, value] of pairs) {
      let node = doc as Record<string | number, unknown>;
      for (const key of path.slice(0, -1)) {
        if (!isObject(node[key])) node[key] = {};
        node = node[key] as Record<string | number, unknown>;
      }
      node[path[path.length - 1]] = value;
    }
    return doc;
  };

  const checkFile = async (): Promise<void> => {
    if (!file) return;
    const key = await statKey(file);
    if (key === lastStat) return;
    lastStat = key;
    const newText = await readFile(file, 'utf8').catch((cause: NodeJS.ErrnoException) => {
      if (cause.code === 'ENOENT') return '';
      throw cause;
    });
    if (configVersion(newText) === version) return;
    let doc: unknown;
    try {
      doc = newText ? JSON.parse(newText) : {};
    } catch (cause) {
      fail(newText, 'CONFIG_BAD_JSON', `${file} is not valid JSON: ${(cause as Error).message}`, null);
      return;
    }
    try {
      if (!isObject(doc)) throw new ConfigUpdateError(400, 'CONFIG_INVALID', `${file}: the configuration must be a JSON object`);
      const { next, profileKeys: filled } = resolveDoc(doc, file);
      await adopt(doc, next, filled, newText, 'file');
    } catch (cause) {
      if (!(cause instanceof ConfigUpdateError)) throw cause;
      fail(newText, cause.code, cause.message, cause.key ?? null);
    }
  };

  const fail = (newText: string, code: string, message: string, key: string | null): void => {
    text = newText;
    version = configVersion(newText);
    error = { code, message, key };
    logger.error({ code, key, file }, `the configuration file was edited and is invalid; still running on the last good configuration: ${message}`);
    changes.emit(null);
  };

  const service: ConfigService = {
    state: () => ({
      config,
      version,
      file,
      origins: origins(config, { fileDoc, envKeys: layers.envKeys, flagKeys: layers.flagKeys, profileKeys }),
      error,
      restartRequired: [...pendingRestart].sort(),
    }),
    fileDocument: () => fileDoc,
    patch(patch, { ifMatch, who }) {
      return serial(async () => {
        checkVersion(ifMatch);
        if (!isObject(patch)) throw new ConfigUpdateError(400, 'CONFIG_BAD_PATCH', 'send a JSON object with the keys to change (null resets a key to its default)');
        for (const key of leafKeys(patch)) {
          const origin = readOnly(key);
          if (origin) throw new ConfigUpdateError(409, 'CONFIG_READ_ONLY', `${key} is set by ${origin === 'env' ? 'the environment' : 'a command-line flag'} and cannot be changed here`, key);
        }
        return write(mergePatch(base(), patch) as Record<string, unknown>, who);
      });
    },
    saveInForce(pairs, who, notInForce = []) {
      return serial(() => write(setAll(pairs), who, { notInForce }));
    },
    saveAndApply(pairs, who) {
      return serial(() => write(setAll(pairs), who));
    },
    check(doc) {
      if (!isObject(doc)) throw new ConfigUpdateError(400, 'CONFIG_BAD_PATCH', 'the configuration must be a JSON object');
      resolveDoc(doc, 'configuration');
    },
    replace(doc, { ifMatch, who }) {
      return serial(async () => {
        checkVersion(ifMatch);
        if (!isObject(doc)) throw new ConfigUpdateError(400, 'CONFIG_BAD_PATCH', 'the configuration must be a JSON object');
        return write(doc, who);
      });
    },
    onChange: changes.on,
    start() {
      if (!file || timer || stopped) return;
      void statKey(file).then((key) => {
        if (stopped) return;
        lastStat = key;
        timer = setInterval(() => {
          void serial(checkFile).catch((cause: unknown) => logger.warn({ err: cause, file }, 'cannot check the configuration file'));
        }, pollMs);
        timer.unref();
      });
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = null;
      await queue;
    },
  };
  return service;
}

/** What changes when a file is edited (mtime, size, inode), or `missing`. */
async function statKey(file: string): Promise<string> {
  try {
    const info = await stat(file);
    return `${info.mtimeMs}:${info.size}:${info.ino}`;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
}
