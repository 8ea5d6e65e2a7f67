import { ConfigError, configurationMarkdown, loadConfig } from '../config';
import { UsageError, type Command } from './command';

const USAGE = `Usage: preroll config check FILE    validate a configuration file (prints the first error with its key)
       preroll config print [FILE]   print the effective configuration (file + environment + defaults)
       preroll config docs           print docs/configuration.md, generated from the schema`;

/** `preroll config`: check, print and document the configuration. */
export const configCommand: Command = {
  name: 'config',
  summary: 'check or print a configuration file, or print its documentation',
  usage: USAGE,
  async run(argv, io) {
    const [action, file, ...rest] = argv;
    if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
    switch (action) {
      case 'docs':
        io.stdout.write(configurationMarkdown());
        return 0;
      case 'check':
      case 'print': {
        if (action === 'check' && !file) throw new UsageError('config check needs a FILE');
        try {
          const { config } = loadConfig({ file });
          io.stdout.write(action === 'check' ? `${file}: ok\n` : `${JSON.stringify(config, null, 2)}\n`);
          return 0;
        } catch (error) {
          if (error instanceof ConfigError) {
            io.stderr.write(`${error.code}: ${error.message}\n`);
            return 1;
          }
          throw error;
        }
      }
      default:
        throw new UsageError(action ? `unknown action "${action}"` : 'config needs an action');
    }
  },
};
