import { parseArgs } from 'node:util';
import { startPreroll } from '../app';
import { loadConfig } from '../config';
import { createLogger } from '../logger';
import { UsageError, type Command } from './command';

const USAGE = `Usage: preroll serve [--source SPEC] [--port N] [--host H] [--data DIR] [--config FILE]

Runs Preroll: the camera, motion detection, recording and the web interface (default
http://0.0.0.0:8080/, data in ./data) until SIGINT/SIGTERM. Flags win over the configuration
file (--config or PREROLL_CONFIG) and the environment; see docs/configuration.md.`;

/** After SIGTERM/SIGINT, the process exits by force if an orderly stop has not finished by then. */
const FORCED_EXIT_MS = 15_000;

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
    const { config, password, file, profile, layers } = loadConfig({
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
    // A stop request is honoured in every state: while the cameras start, retry or record.
    const controller = new AbortController();
    const stopped = new Promise<string>((resolve) => {
      const onSignal = (signal: string): void => {
        logger.info({ signal }, 'stopping');
        // A last resort should a child or a socket hold the process up: systemd would otherwise wait.
        setTimeout(() => {
          logger.error({ signal, afterMs: FORCED_EXIT_MS }, 'did not stop in time: exiting now');
          process.exit(1);
        }, FORCED_EXIT_MS).unref();
        controller.abort();
        resolve(signal);
      };
      process.once('SIGINT', () => onSignal('SIGINT'));
      process.once('SIGTERM', () => onSignal('SIGTERM'));
    });
    let preroll;
    try {
      preroll = await startPreroll({ config, logger, password, signal: controller.signal, configFile: file, layers });
    } catch (error) {
      if ((error as { code?: string }).code !== 'PREROLL_START_ABORTED') throw error;
      logger.info('stopped');
      return 0;
    }
    await stopped;
    await preroll.stop();
    logger.info('stopped');
    return 0;
  },
};
