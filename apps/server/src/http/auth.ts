import { createHash, createHmac, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { NextFunction, Request, Response } from 'express';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { HttpError } from './errors';

const scrypt = promisify(scryptCb) as (password: string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

/** scrypt cost: ~50 ms on a Pi Zero 2 W class CPU per attempt, cheap enough for a login, slow for guessing. */
const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 } as const;
export const SESSION_COOKIE = 'preroll_session';
const SESSION_MS = 30 * 24 * 3600 * 1000;

/** An API token for integrations, as stored (only its SHA-256 is kept). */
export interface ApiTokenInfo {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
}

interface AuthFile {
  version: 1;
  /** HMAC key for session cookies and the stream token; rotated with the password. */
  secret: string;
  password: { salt: string; hash: string; N: number; r: number; p: number } | null;
  /** API tokens (`Authorization: Bearer prt_...`); high-entropy, so a plain SHA-256 is enough. */
  tokens?: (ApiTokenInfo & { sha256: string })[];
}

/** Options of {@link openAuth}. */
export interface AuthOptions {
  readonly dataDir: string;
  /** True when the server listens beyond localhost: a password is then required. */
  readonly exposed: boolean;
  /** PREROLL_PASSWORD, which wins over the stored password. */
  readonly envPassword: string | null;
  readonly secureCookies: boolean;
  readonly logger: Logger;
}

/** Password check, sessions and the login rate limit. */
export interface Auth {
  /** True when requests must be authenticated. */
  readonly required: boolean;
  verifyPassword(password: string): Promise<boolean>;
  /** A `Set-Cookie` value for a new session. */
  sessionCookie(): string;
  clearCookie(): string;
  /** True when the request carries a valid session cookie (or auth is not required). */
  isAuthenticated(req: IncomingMessage): boolean;
  /** Token accepted as `?token=` on `/stream.mjpg` and `/stream.mp4`, for players such as VLC and a central Preroll that cannot log in. */
  streamToken(): string;
  checkStreamToken(token: string): boolean;
  /** Counts a failed login from `ip`; throws 429 when it failed too often recently. */
  checkRateLimit(ip: string): void;
  recordFailure(ip: string): void;
  /** Express middleware guarding everything but the login page and health check. */
  guard(): (req: Request, res: Response, next: NextFunction) => void;
}

/** Sets a new password in `<dataDir>/auth.json` (and a new session secret, logging everyone out). */
export async function setPassword(dataDir: string, password: string): Promise<void> {
  if (password.length < 8) throw new HttpError(400, 'AUTH_WEAK_PASSWORD', 'the password needs at least 8 characters');
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: 64 * 1024 * 1024 });
  writeAuthFile(dataDir, {
    version: 1,
    secret: randomBytes(32).toString('hex'),
    password: { salt: salt.toString('hex'), hash: hash.toString('hex'), N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p },
    tokens: readAuthFile(dataDir)?.tokens ?? [],
  });
}

/** Creates an API token; returns it (shown once) with its id. */
export function createApiToken(dataDir: string, name: string): { token: string; info: ApiTokenInfo } {
  if (!/^[\w .-]{1,60}$/.test(name)) throw new HttpError(400, 'AUTH_BAD_TOKEN_NAME', 'a token name is 1-60 letters, digits, spaces, ".", "-" or "_"');
  const file = readAuthFile(dataDir) ?? { version: 1, secret: randomBytes(32).toString('hex'), password: null };
  const token = `prt_${randomBytes(24).toString('base64url')}`;
  const info = { id: randomBytes(4).toString('hex'), name, createdAt: new Date().toISOString() };
  writeAuthFile(dataDir, { ...file, tokens: [...(file.tokens ?? []), { ...info, sha256: sha256(token) }] });
  return { token, info };
}

/** The API tokens (without their secrets). */
export function listApiTokens(dataDir: string): ApiTokenInfo[] {
  return (readAuthFile(dataDir)?.tokens ?? []).map(({ id, name, createdAt }) => ({ id, name, createdAt }));
}

/** Revokes a token by id; returns false when there is none. */
export function revokeApiToken(dataDir: string, id: string): boolean {
  const file = readAuthFile(dataDir);
  const tokens = file?.tokens ?? [];
  if (!file || !tokens.some((t) => t.id === id)) return false;
  writeAuthFile(dataDir, { ...file, tokens: tokens.filter((t) => t.id !== id) });
  return true;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Loads or creates the auth state. When a password is required and none exists, one is
 * generated, stored (hashed) and printed once to the log.
 */
export async function openAuth(options: AuthOptions): Promise<Auth> {
  let file = readAuthFile(options.dataDir);
  if (!file) {
    file = { version: 1, secret: randomBytes(32).toString('hex'), password: null };
    writeAuthFile(options.dataDir, file);
  }
  let envHash: { salt: Buffer; hash: Buffer } | null = null;
  if (options.envPassword) {
    const salt = randomBytes(16);
    envHash = { salt, hash: await scrypt(options.envPassword, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: 64 * 1024 * 1024 }) };
  }
  if (options.exposed && !file.password && !envHash) {
    const generated = randomBytes(9).toString('base64url');
    await setPassword(options.dataDir, generated);
    file = readAuthFile(options.dataDir) as AuthFile;
    options.logger.warn(
      { password: undefined },
      `no password was set: generated one for this installation: ${generated}  (shown once; change it with "pnpm preroll passwd" or set PREROLL_PASSWORD)`,
    );
  }
  const required = options.exposed || file.password !== null || envHash !== null;
  const secret = Buffer.from(file.secret, 'hex');
  const stored = file.password;
  const failures = new Map<string, number[]>();
  // Tokens made with `preroll token create` while the server runs are picked up by mtime.
  const authPath = join(options.dataDir, 'auth.json');
  let tokenHashes = new Set((file.tokens ?? []).map((t) => t.sha256));
  let tokensCheckedAt = 0;
  let tokensMtimeMs = 0;
  const validToken = (token: string): boolean => {
    const now = Date.now();
    if (now - tokensCheckedAt > 2000) {
      tokensCheckedAt = now;
      try {
        const mtimeMs = statSync(authPath).mtimeMs;
        if (mtimeMs !== tokensMtimeMs) {
          tokensMtimeMs = mtimeMs;
          tokenHashes = new Set((readAuthFile(options.dataDir)?.tokens ?? []).map((t) => t.sha256));
        }
      } catch (error) {
        options.logger.warn({ err: error }, 'cannot re-read auth.json for API tokens');
      }
    }
    return tokenHashes.has(sha256(token));
  };

  const sign = (payload: string): string => createHmac('sha256', secret).update(payload).digest('base64url');
  const cookieAttrs = `Path=/; HttpOnly; SameSite=Strict${options.secureCookies ? '; Secure' : ''}`;

  const auth: Auth = {
    required,
    async verifyPassword(password) {
      if (typeof password !== 'string' || password.length > 1024) return false;
      const candidates: { salt: Buffer; hash: Buffer; N: number; r: number; p: number }[] = [];
      if (envHash) candidates.push({ ...envHash, ...SCRYPT });
      else if (stored) candidates.push({ salt: Buffer.from(stored.salt, 'hex'), hash: Buffer.from(stored.hash, 'hex'), N: stored.N, r: stored.r, p: stored.p });
      for (const c of candidates) {
        const hash = await scrypt(password, c.salt, c.hash.length, { N: c.N, r: c.r, p: c.p, maxmem: 64 * 1024 * 1024 });
        if (timingSafeEqual(hash, c.hash)) return true;
      }
      return false;
    },
    sessionCookie() {
      const expires = Date.now() + SESSION_MS;
      const payload = `${expires}.${randomBytes(12).toString('base64url')}`;
      return `${SESSION_COOKIE}=${payload}.${sign(payload)}; ${cookieAttrs}; Max-Age=${SESSION_MS / 1000}`;
    },
    clearCookie() {
      return `${SESSION_COOKIE}=; ${cookieAttrs}; Max-Age=0`;
    },
    isAuthenticated(req) {
      if (!required) return true;
      const bearer = /^Bearer (prt_[A-Za-z0-9_-]{20,100})$/.exec(req.headers.authorization ?? '');
      if (bearer) return validToken(bearer[1]);
      const value = readCookie(req.headers.cookie, SESSION_COOKIE);
      if (!value) return false;
      const parts = value.split('.');
      if (parts.length !== 3) return false;
      const [expires, nonce, signature] = parts;
      if (!/^\d+$/.test(expires) || Number(expires) < Date.now()) return false;
      return safeEqual(signature, sign(`${expires}.${nonce}`));
    },
    streamToken: () => sign('stream.mjpg'),
    checkStreamToken: (token) => safeEqual(token, sign('stream.mjpg')),
    checkRateLimit(ip) {
      const now = Date.now();
      const recent = (failures.get(ip) ?? []).filter((t) => now - t < 60_000);
      failures.set(ip, recent);
      if (recent.length >= 5) throw new HttpError(429, 'AUTH_RATE_LIMITED', 'too many failed logins; wait a minute');
    },
    recordFailure(ip) {
      const list = failures.get(ip) ?? [];
      list.push(Date.now());
      failures.set(ip, list);
      if (failures.size > 10_000) failures.delete(failures.keys().next().value as string);
    },
    guard() {
      return (req, res, next) => {
        if (auth.isAuthenticated(req) || req.path === '/api/login') return next();
        const stream = /^(\/cameras\/[^/]+)?\/stream\.(mjpg|mp4)$/.test(req.path);
        if (stream && typeof req.query.token === 'string' && auth.checkStreamToken(req.query.token)) return next();
        if (req.path.startsWith('/api/') || stream || req.path === '/metrics') {
          next(new HttpError(401, 'AUTH_REQUIRED', 'log in first (POST /api/login)'));
          return;
        }
        res.redirect(303, '/login.html');
      };
    },
  };
  return auth;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Reads one cookie from a Cookie header. Pure. */
export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

function readAuthFile(dataDir: string): AuthFile | null {
  try {
    const parsed = JSON.parse(readFileSync(join(dataDir, 'auth.json'), 'utf8')) as AuthFile;
    if (parsed.version !== 1 || typeof parsed.secret !== 'string') return null;
    return parsed;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new HttpError(500, 'AUTH_FILE_CORRUPT', `${join(dataDir, 'auth.json')} is unreadable; delete it and set a new password`);
  }
}

function writeAuthFile(dataDir: string, file: AuthFile): void {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, 'auth.json');
  writeFileSync(`${path}.tmp`, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}
