import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';

/** Descriptors kept for the recorder, its child processes, SQLite, the watcher and sharp. */
export const FD_RESERVE = 64;

/** What an unauthenticated client may hold: connection caps (see docs/security.md). */
export interface ConnectionLimits {
  /** Open connections in all (authenticated or not). */
  readonly maxConnections: number;
  /** Connections that have not yet shown a session or token, in all. */
  readonly maxUnauthenticated: number;
  /** Connections that have not yet shown a session or token, per client address. */
  readonly maxUnauthenticatedPerAddress: number;
}

/** The soft limit of open descriptors of this process (`ulimit -n`), or null where unknown. */
export function fdSoftLimit(limitsText?: string): number | null {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch (error) {
      void error; // not Linux: no descriptor-based cap, the configured one applies
      return null;
    }
  }
  const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  if (!match || match[1] === 'unlimited') return null;
  return Number(match[1]);
}

/**
 * The connection cap that leaves {@link FD_RESERVE} descriptors to the recorder: a flood of
 * sockets then meets the cap, never `EMFILE` in the middle of writing a clip. Pure.
 */
export function effectiveMaxConnections(configured: number, softLimit: number | null): number {
  if (softLimit === null) return configured;
  return Math.max(8, Math.min(configured, softLimit - FD_RESERVE));
}

/** Counters of {@link guardConnections}, for the log and the tests. */
export interface ConnectionStats {
  open: number;
  unauthenticated: number;
  refusedPerAddress: number;
  evicted: number;
  maxConnections: number;
}

/** The connection guard: caps on unauthenticated sockets, and a way to lift a socket out of them. */
export interface ConnectionGuard {
  /** The socket carried a valid session or token: it no longer counts as unauthenticated. */
  markAuthenticated(socket: Socket): void;
  stats(): ConnectionStats;
}

const keyOf = (socket: Socket): string => `${socket.remoteAddress ?? '?'}|${socket.remotePort ?? 0}`;

/**
 * Caps what clients that have not logged in can hold. A new connection from an address that
 * already has `maxUnauthenticatedPerAddress` unauthenticated ones is closed at once; when all
 * addresses together hold `maxUnauthenticated`, the oldest unauthenticated connection is closed
 * to make room (a flood then churns through its own sockets while a real client, which sends
 * its cookie within milliseconds, gets in). `maxConnections` bounds everything (Node closes
 * connections beyond it at accept).
 */
export function guardConnections(server: Server, limits: ConnectionLimits, logger: Logger): ConnectionGuard {
  // Insertion order is age: the first entry is the oldest unauthenticated socket.
  const unauthenticated = new Map<string, Socket>();
  const perAddress = new Map<string, number>();
  const stats: ConnectionStats = { open: 0, unauthenticated: 0, refusedPerAddress: 0, evicted: 0, maxConnections: limits.maxConnections };
  const warn = rateLimitedLogger(logger, 60_000, 5);
  server.maxConnections = limits.maxConnections;

  const forget = (key: string, address: string): void => {
    if (!unauthenticated.delete(key)) return;
    const left = (perAddress.get(address) ?? 1) - 1;
    if (left <= 0) perAddress.delete(address);
    else perAddress.set(address, left);
  };

  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '?';
    const key = keyOf(socket);
    stats.open++;
    socket.once('close', () => {
      stats.open--;
      forget(key, address);
    });
    if ((perAddress.get(address) ?? 0) >= limits.maxUnauthenticatedPerAddress) {
      stats.refusedPerAddress++;
      warn('warn', { address, limit: limits.maxUnauthenticatedPerAddress }, 'too many connections without a login from one address: refusing');
      socket.destroy();
      return;
    }
    while (unauthenticated.size >= limits.maxUnauthenticated) {
      const [oldestKey, oldest] = unauthenticated.entries().next().value as [string, Socket];
      forget(oldestKey, oldest.remoteAddress ?? '?');
      stats.evicted++;
      warn('warn', { limit: limits.maxUnauthenticated }, 'too many connections without a login: closing the oldest');
      oldest.destroy();
    }
    unauthenticated.set(key, socket);
    perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
  });

  return {
    markAuthenticated(socket) {
      forget(keyOf(socket), socket.remoteAddress ?? '?');
    },
    stats: () => ({ ...stats, unauthenticated: unauthenticated.size }),
  };
}

/**
 * A request body that has not fully arrived after `timeoutMs` is answered 408 and its
 * connection closed (a client sending a byte a second holds nothing for long).
 */
export function bodyDeadline(timeoutMs: number) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    if (!hasBody || req.complete) return next();
    const timer = setTimeout(() => {
      if (!res.headersSent) {
        res.setHeader('Connection', 'close');
        res.status(408).json({ code: 'HTTP_BODY_TIMEOUT', message: `the request body did not arrive within ${timeoutMs} ms` });
      }
      req.socket.destroySoon();
      setTimeout(() => req.socket.destroy(), 1000).unref();
    }, timeoutMs);
    timer.unref();
    const clear = (): void => clearTimeout(timer);
    req.once('end', clear);
    req.once('close', clear);
    res.once('finish', clear);
    next();
  };
}

/**
 * A logger that writes at most `max` lines per `windowMs` and then one line saying how many it
 * left out: a flood of bad requests cannot fill the disk with log lines.
 */
export function rateLimitedLogger(logger: Logger, windowMs: number, max: number): (level: 'warn' | 'error' | 'info', fields: object, message: string) => void {
  let windowStart = 0;
  let written = 0;
  let suppressed = 0;
  return (level, fields, message) => {
    const now = Date.now();
    if (now - windowStart >= windowMs) {
      if (suppressed > 0) logger.warn({ suppressed, windowS: windowMs / 1000 }, 'log lines suppressed (rate limit)');
      windowStart = now;
      written = 0;
      suppressed = 0;
    }
    if (written >= max) {
      suppressed++;
      return;
    }
    written++;
    logger[level](fields, message);
  };
}
