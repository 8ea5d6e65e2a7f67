import pino, { type Logger } from 'pino';

/**
 * The one root logger of a Preroll process: JSON lines on stderr (stdout stays free for the
 * CLI's JSON output), credentials redacted. Components take `logger.child({ component })`.
 */
export function createLogger(options: { level?: string } = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.PREROLL_LOG_LEVEL ?? 'info',
      base: { app: 'preroll' },
      redact: { paths: ['password', '*.password', 'token', '*.token', 'headers.cookie', 'headers.authorization'], censor: '***' },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}
