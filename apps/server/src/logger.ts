import pino, { type DestinationStream, type Logger } from 'pino';
import { redactUrl } from '@preroll/process';

/** Field names whose values are never logged. */
const SECRET_PATHS = ['password', '*.password', 'token', '*.token', 'headers.cookie', 'headers.authorization'];

/**
 * A copy of `value` with credentials removed from every string in it (URL passwords, `token=`
 * and similar query values), down to a bounded depth. Errors become plain objects (type,
 * message, code, stack) so their text is redacted too. Pure.
 */
export function redactDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactUrl(value);
  if (value === null || typeof value !== 'object' || depth > 6) return value;
  if (value instanceof Error) {
    const error = value as Error & { code?: unknown };
    return redactDeep({ type: error.name, message: error.message, code: error.code, stack: error.stack }, depth + 1);
  }
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, depth + 1));
  if (Buffer.isBuffer(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = redactDeep(item, depth + 1);
  return out;
}

/**
 * The one root logger of a Preroll process: JSON lines on stderr (stdout stays free for the
 * CLI's JSON output), credentials redacted — by field name, and inside every logged string
 * (a camera URL's password, a stream token in a URL, a line of ffmpeg's stderr). Components
 * take `logger.child({ component })`.
 */
export function createLogger(options: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.PREROLL_LOG_LEVEL ?? 'info',
      base: { app: 'preroll' },
      redact: { paths: SECRET_PATHS, censor: '***' },
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map((arg) => redactDeep(arg)) as Parameters<typeof method>);
        },
      },
      formatters: { bindings: (bindings) => redactDeep(bindings) as Record<string, unknown> },
    },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}
