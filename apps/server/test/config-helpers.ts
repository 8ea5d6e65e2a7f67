import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { startPreroll, type Preroll } from '../src/app';
import { loadConfig, type ConfigInput } from '../src/config';
import { tempDataDir } from './server-helpers';

/**
 * Starts a real Preroll from a configuration file, with the flags `preroll serve` would get
 * (loopback, a free port, a fresh data directory, the demo camera) and the given environment.
 */
export async function startFromFile(doc: ConfigInput, env: NodeJS.ProcessEnv = {}, password: string | null = null): Promise<Preroll & { url: string; file: string; dataDir: string }> {
  const dataDir = tempDataDir();
  const file = join(dataDir, 'config.json');
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  const { config, layers } = loadConfig({
    file,
    env,
    overrides: { 'server.host': '127.0.0.1', 'server.port': 0, 'server.dataDir': dataDir, 'camera.source': 'demo' },
  });
  const logger = pino({ level: process.env.PREROLL_TEST_LOG ?? 'silent' });
  const preroll = await startPreroll({ config, logger, password, onExit: () => undefined, configFile: file, layers });
  return Object.assign(preroll, { url: `http://127.0.0.1:${preroll.port}`, file, dataDir });
}
