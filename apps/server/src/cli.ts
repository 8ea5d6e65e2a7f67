#!/usr/bin/env node
import type { Command, CommandIo } from './commands/command';
import { UsageError } from './commands/command';

/**
 * `preroll <command>`: the command-line front door. Each command lives in `commands/` and is
 * loaded only when asked for, so `preroll probe` does not pay for the web server's modules.
 */
const COMMANDS: Record<string, () => Command> = {
  serve: () => require('./commands/serve').serveCommand,
  probe: () => require('./commands/probe').probeCommand,
  detect: () => require('./commands/detect').detectCommand,
  record: () => require('./commands/record').recordCommand,
  reindex: () => require('./commands/reindex').reindexCommand,
  config: () => require('./commands/config').configCommand,
  passwd: () => require('./commands/passwd').passwdCommand,
  token: () => require('./commands/token').tokenCommand,
  user: () => require('./commands/user').userCommand,
  notify: () => require('./commands/notify').notifyCommand,
};

/** Runs the CLI with the given arguments (without `node cli.js`) and returns the exit code. */
export async function main(argv: readonly string[], io: CommandIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(helpText());
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    io.stderr.write(`preroll: unknown command "${name}"\n\n${helpText()}`);
    return 2;
  }
  const command = load();
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(`${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`preroll ${name}: ${error.message}\n\n${command.usage}\n`);
      return 2;
    }
    const code = (error as { code?: unknown }).code;
    io.stderr.write(`preroll ${name}: ${typeof code === 'string' ? `${code}: ` : ''}${(error as Error).message ?? String(error)}\n`);
    return 1;
  }
}

function helpText(): string {
  const lines = Object.entries(COMMANDS).map(([name, load]) => `  ${name.padEnd(10)} ${load().summary}`);
  return `Usage: preroll <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun "preroll <command> --help" for a command's options.\n`;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`preroll: ${(error as Error)?.stack ?? String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
