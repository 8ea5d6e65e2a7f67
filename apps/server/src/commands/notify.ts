import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { createArming, createNotifier, resolveNotify } from '@preroll/integrations';
import { ConfigError, loadConfig } from '../config';
import { UsageError, writeJsonLine, type Command } from './command';

const USAGE = `Usage: preroll notify test [CHANNEL] [--config FILE] [--data DIR] [--json]

Sends a test alert now on CHANNEL (ntfy, telegram, email, webpush) or on every configured
channel, with a grey test picture, bypassing the rules (mode, schedule, quiet hours) and the
queue. Prints one line per channel: "ok" with the time it took, or the exact error with its
code (NOTIFY_DNS, NOTIFY_TLS, NOTIFY_UNAUTHORIZED, NOTIFY_HTTP_STATUS, ...). Exit code 0 when
every channel worked, 1 otherwise. Web Push goes to the devices subscribed in DIR.

  --config FILE  the configuration file (default: PREROLL_CONFIG)
  --data DIR     the data directory (default: server.dataDir of the configuration)
  --json         one JSON object per line: {"type":"result","channel","ok","ms","code","message"}`;

/** `preroll notify test [CHANNEL]`: does this alert channel work? */
export const notifyCommand: Command = {
  name: 'notify',
  summary: 'send a test alert on one or every configured channel and report the outcome',
  usage: USAGE,
  async run(argv, io) {
    let parsed;
    try {
      parsed = parseArgs({ args: [...argv], options: { config: { type: 'string' }, data: { type: 'string' }, json: { type: 'boolean' } }, allowPositionals: true });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const [action, channel, ...rest] = parsed.positionals;
    if (action !== 'test') throw new UsageError(action ? `unknown action "${action}"` : 'notify needs an action: test');
    if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
    let config;
    try {
      ({ config } = loadConfig({ file: parsed.values.config, overrides: { 'server.dataDir': parsed.values.data } }));
    } catch (error) {
      if (error instanceof ConfigError) {
        io.stderr.write(`${error.code}: ${error.message}\n`);
        return 1;
      }
      throw error;
    }
    const notifyConfig = config.integrations?.notify ? resolveNotify(config.integrations.notify) : null;
    if (!notifyConfig) {
      io.stderr.write('NOTIFY_UNKNOWN_CHANNEL: no alert channel is configured (integrations.notify)\n');
      return 1;
    }
    const dataDir = config.server.dataDir;
    const arming = createArming({ config: config.arming, dataDir });
    // The server's queue is left alone: only the test message goes out from here.
    const notifier = createNotifier({ config: notifyConfig, dataDir, arming: (camera, atMs) => arming.gate(camera, atMs), resumeOutbox: false });
    await notifier.start();
    try {
      const picture = await sharp({ create: { width: 320, height: 180, channels: 3, background: { r: 96, g: 96, b: 96 } } }).jpeg().toBuffer();
      let results;
      try {
        results = await notifier.test(channel, (config.cameras?.[0] ?? config.camera).id, picture);
      } catch (error) {
        const e = error as Error & { code?: string };
        io.stderr.write(`${e.code ?? 'NOTIFY_NETWORK'}: ${e.message}\n`);
        return 1;
      }
      for (const r of results) {
        if (parsed.values.json) writeJsonLine(io.stdout, { type: 'result', ...r });
        else io.stdout.write(r.ok ? `${r.channel}: ok (${r.ms} ms)\n` : `${r.channel}: ${r.code}: ${r.message}\n`);
      }
      return results.every((r) => r.ok) ? 0 : 1;
    } finally {
      await notifier.stop();
    }
  },
};
