import { parseArgs } from 'node:util';
import { loadConfig } from '../config';
import { addUser, ADMIN_USER, listUsers, removeUser, ROLES, setUserPassword, type Role } from '../http/auth';
import { HttpError } from '../http/errors';
import { readLine } from './passwd';
import { UsageError, writeJsonLine, type Command } from './command';

const USAGE = `Usage: preroll user add NAME [--role viewer|admin] [--data DIR] [--config FILE]   add a user (password asked, or piped in)
       preroll user passwd NAME [--data DIR] [--config FILE]                      set a user's password
       preroll user remove NAME [--data DIR] [--config FILE]                      remove a user (their sessions end)
       preroll user list [--json] [--data DIR] [--config FILE]

Users log in to the web page with their name and password. A viewer watches live, reviews,
marks favourites and downloads; an admin also changes settings, deletes, reboots and manages
tokens and users. The password that "preroll passwd" sets is the user "${ADMIN_USER}"'s. Passwords
are stored hashed (scrypt) in DIR/auth.json; a running server sees changes within a second.
  echo 'a long password' | pnpm preroll user add anna --role viewer`;

/** `preroll user`: users of the web page with the roles admin and viewer. */
export const userCommand: Command = {
  name: 'user',
  summary: 'add, remove or list users of the web page (admin or viewer), or set their password',
  usage: USAGE,
  async run(argv, io) {
    let parsed;
    try {
      parsed = parseArgs({ args: [...argv], options: { data: { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean' }, role: { type: 'string' } }, allowPositionals: true });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const [action, name, extra] = parsed.positionals;
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
    const dataDir = loadConfig({ file: parsed.values.config, overrides: { 'server.dataDir': parsed.values.data } }).config.server.dataDir;
    const newPassword = async (): Promise<string | null> => {
      const interactive = Boolean(process.stdin.isTTY);
      const first = await readLine(interactive ? 'Password: ' : null, io.stderr);
      if (interactive && (await readLine('Again: ', io.stderr)) !== first) {
        io.stderr.write('preroll user: the two passwords differ; nothing changed\n');
        return null;
      }
      return first;
    };
    try {
      switch (action) {
        case 'add': {
          if (!name) throw new UsageError('user add needs a NAME');
          const role = parsed.values.role ?? 'viewer';
          if (!ROLES.includes(role as Role)) throw new UsageError(`--role is one of ${ROLES.join(', ')}, got "${role}"`);
          const password = await newPassword();
          if (password === null) return 1;
          const user = await addUser(dataDir, name, role as Role, password);
          io.stdout.write(`user "${user.name}" (${user.role}) added\n`);
          return 0;
        }
        case 'passwd': {
          if (!name) throw new UsageError('user passwd needs a NAME');
          const password = await newPassword();
          if (password === null) return 1;
          await setUserPassword(dataDir, name, password);
          io.stdout.write(`password of "${name}" set; their sessions have ended\n`);
          return 0;
        }
        case 'remove':
          if (!name) throw new UsageError('user remove needs a NAME');
          if (name === ADMIN_USER) throw new UsageError(`the user "${ADMIN_USER}" cannot be removed; change its password with "preroll passwd"`);
          if (!removeUser(dataDir, name)) {
            io.stderr.write(`preroll user: AUTH_NO_SUCH_USER: no user "${name}"\n`);
            return 1;
          }
          io.stdout.write(`user "${name}" removed; their sessions have ended\n`);
          return 0;
        case 'list':
          for (const user of listUsers(dataDir)) {
            if (parsed.values.json) writeJsonLine(io.stdout, user);
            else io.stdout.write(`${user.name.padEnd(32)}  ${user.role}\n`);
          }
          return 0;
        default:
          throw new UsageError(action ? `unknown action "${action}"` : 'user needs an action');
      }
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      io.stderr.write(`preroll user: ${error.code}: ${error.message}\n`);
      return 1;
    }
  },
};
