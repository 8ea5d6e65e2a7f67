import { parseArgs } from 'node:util';
import { loadConfig } from '../config';
import { createApiToken, listApiTokens, revokeApiToken, SCOPES, type Scope } from '../http/auth';
import { UsageError, writeJsonLine, type Command } from './command';

const USAGE = `Usage: preroll token create NAME [--scope read|control|admin] [--data DIR] [--config FILE]   make an API token (printed once)
       preroll token list [--json] [--data DIR] [--config FILE]
       preroll token revoke ID [--data DIR] [--config FILE]

API tokens let integrations (Home Assistant, scripts) call the API without the password:
  curl -H "Authorization: Bearer prt_..." http://pi:8080/api/status
A token's scope limits it: read (look only), control (every change but the admin ones;
the default), admin (also delete-all, reboot, exit, log out everywhere).
A running server picks up new and revoked tokens within a second.`;

/** `preroll token`: API tokens for integrations. */
export const tokenCommand: Command = {
  name: 'token',
  summary: 'create, list or revoke API tokens for integrations',
  usage: USAGE,
  async run(argv, io) {
    let parsed;
    try {
      parsed = parseArgs({ args: [...argv], options: { data: { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean' }, scope: { type: 'string' } }, allowPositionals: true });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const [action, arg, extra] = parsed.positionals;
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
    const dataDir = loadConfig({ file: parsed.values.config, overrides: { 'server.dataDir': parsed.values.data } }).config.server.dataDir;
    switch (action) {
      case 'create': {
        if (!arg) throw new UsageError('token create needs a NAME');
        const scope = parsed.values.scope ?? 'control';
        if (!SCOPES.includes(scope as Scope)) throw new UsageError(`--scope is one of ${SCOPES.join(', ')}, got "${scope}"`);
        const { token, info } = createApiToken(dataDir, arg, scope as Scope);
        io.stdout.write(`${token}\n`);
        io.stderr.write(`token ${info.id} "${info.name}" (scope ${info.scope}) created; it is shown only this once\n`);
        return 0;
      }
      case 'list':
        for (const info of listApiTokens(dataDir)) {
          if (parsed.values.json) writeJsonLine(io.stdout, info);
          else io.stdout.write(`${info.id}  ${info.createdAt}  ${info.scope.padEnd(7)}  ${info.name}\n`);
        }
        return 0;
      case 'revoke':
        if (!arg) throw new UsageError('token revoke needs an ID (see token list)');
        if (!revokeApiToken(dataDir, arg)) {
          io.stderr.write(`preroll token: AUTH_NO_SUCH_TOKEN: no token ${arg}\n`);
          return 1;
        }
        io.stdout.write(`token ${arg} revoked\n`);
        return 0;
      default:
        throw new UsageError(action ? `unknown action "${action}"` : 'token needs an action');
    }
  },
};
