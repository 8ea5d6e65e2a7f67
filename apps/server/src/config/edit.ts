import type { ConfigChange, ConfigService } from '../runtime/config-service';

/** Changes keys of the configuration file on behalf of a route that already applied them. */
export interface ConfigEditor {
  /** The file edited, or null when the server runs without one. */
  readonly file: string | null;
  /**
   * Sets each `value` at its `path` (e.g. `['detector', 'mask', 'polygons']`) in the file as written (not
   * the effective configuration: environment and flags stay out of it), validates the whole
   * document with the schema and writes it atomically, keeping a backup: one write for all,
   * through the configuration service, so the version moves and other pages hear of it. Throws
   * the service's ConfigUpdateError (`CONFIG_INVALID` naming the key; `CONFIG_NO_FILE` without
   * a file) and writes nothing then. `notInForce`: dotted keys among them that the route could
   * not put in force; the change reports them as needing a restart.
   */
  set(changes: readonly (readonly [path: readonly (string | number)[], value: unknown])[], notInForce?: readonly string[]): Promise<ConfigChange>;
  /** Sets values like `set` that the route could not put in force, and applies them live (the camera's source restarts). */
  apply(changes: readonly (readonly [path: readonly (string | number)[], value: unknown])[]): Promise<ConfigChange>;
}

/** The editor for the camera routes: the one configuration service, which writes every change. */
export function configEditorOf(service: ConfigService, who: string): ConfigEditor {
  return {
    get file() {
      return service.state().file;
    },
    set: (changes, notInForce) => service.saveInForce(changes, who, notInForce),
    apply: (changes) => service.saveAndApply(changes, who),
  };
}
