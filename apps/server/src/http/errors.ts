import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { redactUrl } from '@preroll/process';
import { rateLimitedLogger } from './limits';

/** An error the API reports as `{ code, message }` with an HTTP status. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Parses a body or query with a schema; a failure is a 400 `HTTP_BAD_INPUT` naming the field
 * (`what` names the thing parsed, e.g. "mask preview").
 */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown, what?: string): T {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const key = issue.code === 'unrecognized_keys' ? issue.keys[0] : issue.path.join('.');
  const problem = issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message;
  throw new HttpError(400, 'HTTP_BAD_INPUT', what ? `${what}${key ? ` field "${key}"` : ''}: ${problem}` : `${key ? `field "${key}": ` : ''}${problem}`);
}

/** Codes of errors thrown by lower layers, and the HTTP status each maps to. */
const STATUS_BY_CODE: Record<string, number> = {
  RUNTIME_NOT_RUNNING: 503,
  RUNTIME_NO_FRAME: 503,
  STORE_NOT_FOUND: 404,
  STORE_BAD_QUERY: 400,
  STORE_BAD_CURSOR: 400,
  UPLOAD_DISABLED: 409,
  UPLOAD_QUEUE_FULL: 503,
};

/** body-parser's error types, and the status and stable code each becomes. */
const BODY_ERRORS: Record<string, [number, string, string]> = {
  'entity.parse.failed': [400, 'HTTP_BAD_JSON', 'the request body is not valid JSON'],
  'entity.too.large': [413, 'HTTP_BODY_TOO_LARGE', 'the request body is too large'],
  'encoding.unsupported': [415, 'HTTP_UNSUPPORTED_ENCODING', 'unsupported Content-Encoding (send the body uncompressed)'],
  'charset.unsupported': [415, 'HTTP_UNSUPPORTED_CHARSET', 'unsupported charset (send UTF-8)'],
  'request.size.invalid': [400, 'HTTP_BAD_BODY', 'the request body does not match its Content-Length'],
  'request.aborted': [400, 'HTTP_BAD_BODY', 'the request body was cut off'],
};

/**
 * The last middleware: every error becomes a JSON `{ code, message }`; internals are logged
 * (one line, at a bounded rate, URL credentials redacted), never shown.
 */
export function errorHandler(logger: Logger) {
  const logBad = rateLimitedLogger(logger, 60_000, 20);
  const logInternal = rateLimitedLogger(logger, 60_000, 20);
  return (error: unknown, req: Request, res: Response, _next: NextFunction): void => {
    void _next;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (error instanceof HttpError) {
      res.status(error.status).json({ code: error.code, message: error.message });
      return;
    }
    const err = error as { type?: string; status?: number; statusCode?: number; code?: unknown; message?: string };
    const url = redactUrl(req.originalUrl ?? req.url ?? '').slice(0, 200);
    const known = err.type ? BODY_ERRORS[err.type] : undefined;
    if (known) {
      logBad('info', { method: req.method, url, code: known[1] }, 'bad request');
      res.status(known[0]).json({ code: known[1], message: known[2] });
      return;
    }
    // A malformed %-escape in the path (express decodes route parameters).
    if (error instanceof URIError || (err.status === 400 && /decode|URI/i.test(err.message ?? ''))) {
      logBad('info', { method: req.method, url, code: 'HTTP_BAD_URL' }, 'bad request');
      res.status(400).json({ code: 'HTTP_BAD_URL', message: 'the URL has a malformed %-escape' });
      return;
    }
    if (typeof err.code === 'string' && STATUS_BY_CODE[err.code]) {
      res.status(STATUS_BY_CODE[err.code]).json({ code: err.code, message: err.message ?? err.code });
      return;
    }
    const status = err.status ?? err.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      logBad('info', { method: req.method, url, status, type: err.type }, 'bad request');
      res.status(status).json({ code: 'HTTP_BAD_REQUEST', message: 'the request could not be read' });
      return;
    }
    logInternal('error', { err: { code: err.code, message: redactUrl(String(err.message ?? error)), stack: (error as Error)?.stack?.split('\n').slice(0, 4).join('\n') }, method: req.method, url }, 'request failed');
    res.status(500).json({ code: 'HTTP_INTERNAL', message: 'internal error (see the server log)' });
  };
}
