import { parseArgs } from 'node:util';
import { chooseDefaultSource, createSource } from '@preroll/capture';
import { createLogger } from '../logger';
import { UsageError, type Command } from './command';

const USAGE = `Usage: preroll serve [--source SPEC] [--port N] [--host H] [--data DIR] [--config FILE]

Runs Preroll with the given source (default: the Pi camera when rpicam-vid works, else the
demo scene) until SIGINT/SIGTERM, logging the capture status every 10 s.`;

/** `preroll serve` (what `pnpm start` runs): the long-running recorder. */
export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the recorder (pnpm start)',
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
    const logger = createLogger();
    let spec = values.source;
    if (spec) {
      logger.info({ source: spec }, 'source chosen on the command line');
    } else {
      const choice = await chooseDefaultSource();
      spec = choice.spec;
      logger.info({ source: choice.spec, reason: choice.reason }, `default source: ${choice.spec}`);
    }
    const source = createSource(spec, { logger: logger.child({ component: 'capture' }), keepTrying: true, loop: true });
    source.onState((state, error) => logger.info({ state, err: error?.message }, 'capture state'));
    const timer = setInterval(() => {
      const { frames, fps, droppedFrames, restarts } = source.stats();
      logger.info({ frames, fps, droppedFrames, restarts, width: source.width, height: source.height }, 'capture status');
    }, 10_000);
    const stopped = new Promise<void>((resolve) => {
      const stop = (signal: string): void => {
        logger.info({ signal }, 'stopping');
        resolve();
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
    await source.start();
    logger.info({ source: source.description, width: source.width, height: source.height, fps: source.fps }, 'capture running');
    await Promise.race([stopped, source.ended()]);
    clearInterval(timer);
    await source.stop();
    return source.state() === 'failed' ? 1 : 0;
  },
};
