import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';

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

/** The last middleware: every error becomes a JSON `{ code, message }`; internals are logged, not shown. */
export function errorHandler(logger: Logger) {
  return (error: unknown, req: Request, res: Response, _next: NextFunction): void => {
    void _next;
    if (error instanceof HttpError) {
      res.status(error.status).json({ code: error.code, message: error.message });
      return;
    }
    const err = error as { type?: string; status?: number; code?: unknown; message?: string };
    // body-parser's own errors (bad JSON, too large) carry a status and a type.
    if (err.type === 'entity.parse.failed') {
      res.status(400).json({ code: 'HTTP_BAD_JSON', message: 'the request body is not valid JSON' });
      return;
    }
    if (err.type === 'entity.too.large') {
      res.status(413).json({ code: 'HTTP_BODY_TOO_LARGE', message: 'the request body is too large' });
      return;
    }
    if (typeof err.code === 'string' && STATUS_BY_CODE[err.code]) {
      res.status(STATUS_BY_CODE[err.code]).json({ code: err.code, message: err.message ?? err.code });
      return;
    }
    logger.error({ err: error, method: req.method, url: req.originalUrl }, 'request failed');
    res.status(500).json({ code: 'HTTP_INTERNAL', message: 'internal error (see the server log)' });
  };
}
