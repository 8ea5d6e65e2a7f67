import { readFile } from 'node:fs/promises';
import { ConfigError, parseConfig } from './load';
import { writeConfigAtomic } from './write';

/** Changes keys of the configuration file, one change at a time. */
export interface ConfigEditor {
  /** The file edited, or null when the server runs without one. */
  readonly file: string | null;
  /**
   * Sets each `value` at its `path` (e.g. `['detector', 'mask', 'polygons']`) in the file as written (not
   * the effective configuration: environment and flags stay out of it), validates the whole
   * document with the schema and writes it atomically, keeping a backup: one write for all. Throws ConfigError
   * (`CONFIG_INVALID` naming the key; `CONFIG_NOT_FOUND` without a file) and writes nothing then.
   */
  set(changes: readonly (readonly [path: readonly (string | number)[], value: unknown])[]): Promise<void>;
}

/** Creates the editor of one configuration file (null: none; every change is then refused). */
export function createConfigEditor(file: string | null): ConfigEditor {
  let chain: Promise<void> = Promise.resolve();
  const apply = async (changes: readonly (readonly [readonly (string | number)[], unknown])[]): Promise<void> => {
    if (!file) throw new ConfigError('CONFIG_NOT_FOUND', 'the server runs without a configuration file (--config FILE or PREROLL_CONFIG): there is nowhere to save');
    let doc: unknown;
    try {
      doc = JSON.parse(await readFile(file, 'utf8'));
    } catch (error) {
      throw new ConfigError('CONFIG_BAD_JSON', `cannot read ${file} to change it: ${(error as Error).message}`, undefined, { cause: error });
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ConfigError('CONFIG_INVALID', `${file}: the configuration must be a JSON object`);
    for (const [path, value] of changes) {
      let node = doc as Record<string | number, unknown>;
      for (const key of path.slice(0, -1)) {
        if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
        node = node[key] as Record<string | number, unknown>;
      }
      node[path[path.length - 1]] = value;
    }
    parseConfig(doc, file);
    await writeConfigAtomic(file, doc);
  };
  return {
    file,
    set(changes) {
      // Serialised: two saves read-modify-write the file one after the other, never interleaved.
      const next = chain.then(() => apply(changes));
      chain = next.catch(() => undefined);
      return next;
    },
  };
}
