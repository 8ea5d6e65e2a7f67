import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/**
 * Finds an executable the way a shell would, on the given PATH (default: the process's).
 * Returns its absolute path, or null when it is not installed. Never spawns.
 */
export function which(command: string, pathEnv: string | undefined = process.env.PATH): string | null {
  const candidates = command.includes('/') ? [command] : (pathEnv ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, command));
  for (const candidate of candidates) {
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return isAbsolute(candidate) ? candidate : join(process.cwd(), candidate);
    } catch (error) {
      // ENOENT or EACCES: not this one, try the next PATH entry.
      void error;
    }
  }
  return null;
}
