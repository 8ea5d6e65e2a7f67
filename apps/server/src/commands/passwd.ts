import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { setPassword } from '../http/auth';
import { loadConfig } from '../config';
import { UsageError, type Command } from './command';

const USAGE = `Usage: preroll passwd [--data DIR] [--config FILE]

Sets the password of the web interface (stored hashed with scrypt in DIR/auth.json). Every
open session ends and the stream token changes at once, also on a running server. Type it twice at the prompt, or pipe it in:
  echo 'my new password' | pnpm preroll passwd
The data directory defaults to the configuration's (./data).`;

/** `preroll passwd`: sets the web password. */
export const passwdCommand: Command = {
  name: 'passwd',
  summary: 'set the password of the web interface',
  usage: USAGE,
  async run(argv, io) {
    let values;
    try {
      ({ values } = parseArgs({ args: [...argv], options: { data: { type: 'string' }, config: { type: 'string' } } }));
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const { config } = loadConfig({ file: values.config, overrides: { 'server.dataDir': values.data } });
    const interactive = Boolean(process.stdin.isTTY);
    const first = await readLine(interactive ? 'New password: ' : null, io.stderr);
    if (interactive) {
      const second = await readLine('Again: ', io.stderr);
      if (second !== first) {
        io.stderr.write('preroll passwd: the two passwords differ; nothing changed\n');
        return 1;
      }
    }
    if (first.length < 8) {
      io.stderr.write('preroll passwd: AUTH_WEAK_PASSWORD: the password needs at least 8 characters\n');
      return 1;
    }
    await setPassword(config.server.dataDir, first);
    io.stdout.write(`password set for ${config.server.dataDir}; every session has ended (a running Preroll sees it within a second)\n`);
    return 0;
  },
};

/** Reads one line from stdin; with a prompt, the typed characters are not echoed (also used by `preroll user`). */
export function readLine(prompt: string | null, out: NodeJS.WritableStream): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: prompt ? (out as NodeJS.WritableStream) : undefined, terminal: Boolean(prompt) });
    if (prompt) {
      out.write(prompt);
      // Hide what is typed: readline echoes through _writeToOutput.
      (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => undefined;
    }
    let answered = false;
    rl.once('line', (line) => {
      answered = true;
      if (prompt) out.write('\n');
      rl.close();
      resolve(line);
    });
    rl.once('close', () => {
      if (!answered) resolve('');
    });
  });
}
