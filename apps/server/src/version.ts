import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** Preroll's version, from the workspace's package.json. */
export function version(): string {
  for (const candidate of [resolve(__dirname, '../../../package.json'), resolve(__dirname, '../../../../package.json')]) {
    try {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'preroll' && pkg.version) return pkg.version;
    } catch (error) {
      void error;
    }
  }
  return '0.0.0';
}
