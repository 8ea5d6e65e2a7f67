import { parseArgs } from 'node:util';
import { startPreroll } from '../app';
import { loadConfig } from '../config';
import { createLogger } from '../logger';
import { UsageError, type Command } from './command';

const USAGE = `Usage: preroll serve [--source SPEC] [--port N] [--host H] [--data DIR] [--config FILE]

Runs Preroll: the camera, motion detection, recording and the web interface (default
http://0.0.0.0:8080/, data in ./data) until SIGINT/SIGTERM. Flags win over the configuration
file (--config or PREROLL_CONFIG) and the environment; see docs/configuration.md.`;

/** `preroll serve` (what `pnpm start` runs): the long-running recorder and web server. */
export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the recorder and its web interface (pnpm start)',
  usage: USAGE,
  async run(argv) {
    let values;
    try {
      ({ values } = parseArgs({
        args: [...argv],
        options: {
          source: { type: 'string' },
          port: { type: 'string' },
          host: { type: 'string' },
          data: { type: 'string' },
          config: { type: 'string' },
        },
      }));
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    if (values.port !== undefined && !/^\d+$/.test(values.port)) throw new UsageError(`--port must be a number, got "${values.port}"`);
    const { config, password, file, profile } = loadConfig({
      file: values.config,
      overrides: {
        'camera.source': values.source,
        'server.port': values.port === undefined ? undefined : Number(values.port),
        'server.host': values.host,
        'server.dataDir': values.data,
      },
    });
    const logger = createLogger();
    logger.info({ config: file ?? '(defaults)' }, 'configuration loaded');
    logger.info({ profile: profile.name, model: profile.model, applied: profile.applied }, profile.reason);
    const stopped = new Promise<string>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
    const preroll = await startPreroll({ config, logger, password });
    const signal = await stopped;
    logger.info({ signal }, 'stopping');
    await preroll.stop();
    logger.info('stopped');
    return 0;
  },
};
