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
/** Sessions kept at most (the oldest is dropped): each login adds one. */
const MAX_SESSIONS = 200;
/** How often a running server looks for changes made to auth.json by `preroll passwd` / `preroll token`. */
const RELOAD_MS = 1000;
/** Password checks evaluated at once (scrypt takes 16 MiB and ~50 ms each); more wait their turn. */
const MAX_CONCURRENT_CHECKS = 2;

/** What a credential may do: `read` (GET), `control` (every change but the admin ones), `admin` (everything). */
export type Scope = 'read' | 'control' | 'admin';
export const SCOPES: readonly Scope[] = ['read', 'control', 'admin'];

/** An API token for integrations, as stored (only its SHA-256 is kept). */
export interface ApiTokenInfo {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
  /** What it may do; tokens made before scopes existed are `admin`. */
  readonly scope: Scope;
}

type StoredHash = { salt: string; hash: string; N: number; r: number; p: number };

/** What a person logged in may do: `admin` everything; `viewer` watch live, review, favourite and download. */
export type Role = 'admin' | 'viewer';
/** Every role, for validating input. */
export const ROLES: readonly Role[] = ['admin', 'viewer'];
/** The name of the first admin, whose password is the one `preroll passwd` and PREROLL_PASSWORD set. */
export const ADMIN_USER = 'admin';

/** A user as `preroll user list` shows it (never the hash). */
export interface UserInfo {
  readonly name: string;
  readonly role: Role;
  readonly createdAt: string | null;
}

interface StoredUser {
  name: string;
  role: Role;
  createdAt: string;
  password: StoredHash;
}

interface AuthFile {
  version: 1;
  /** HMAC key for session cookies and the stream token; rotated with the password and by "log out everywhere". */
  secret: string;
  password: StoredHash | null;
  /** The last PREROLL_PASSWORD seen (hashed): a different one at start ends every session. */
  envPassword?: StoredHash | null;
  /** API tokens (`Authorization: Bearer prt_...`); high-entropy, so a plain SHA-256 is enough. */
  tokens?: (Omit<ApiTokenInfo, 'scope'> & { scope?: Scope; sha256: string })[];
  /** Further users besides `admin` (whose password is `password`). */
  users?: StoredUser[];
  /** Open sessions: a cookie is valid only while its id is listed here; `user` absent means `admin`. */
  sessions?: { id: string; expires: number; user?: string }[];
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
  /** The login budget and session lifetime (`server.limits`). */
  readonly limits?: { readonly loginFailuresPerMinute: number; readonly loginAttemptsPerMinute: number; readonly sessionDays: number };
}

/** Who a request is: how it authenticated and what it may do. */
export interface Identity {
  readonly via: 'open' | 'session' | 'token';
  readonly scope: Scope;
  /** The role of a logged-in user (tokens and open access act as `admin` up to their scope). */
  readonly role: Role;
  /** The user's name for sessions, `token:<id>` for tokens, null when open. */
  readonly user: string | null;
}

/** Password check, sessions, API tokens and the login budget. */
export interface Auth {
  /** True when requests must be authenticated. */
  readonly required: boolean;
  verifyPassword(password: string): Promise<boolean>;
  /** Checks a user's password (no user name: the admin); resolves with the user's name and role, or null. */
  verifyLogin(user: string | undefined, password: string): Promise<{ user: string; role: Role } | null>;
  /**
   * Starts a login attempt from `ip`: counts it against the per-address and global budgets
   * before the password is checked (so parallel guesses share the budget), or throws 429.
   * Call the returned function with the outcome; a success gives the attempt back.
   */
  beginLogin(ip: string): (ok: boolean) => void;
  /** A `Set-Cookie` value for a new session of a user (default the admin), listed server-side. */
  sessionCookie(user?: string): string;
  clearCookie(): string;
  /** Ends the session the request carries (logout). */
  endSession(req: IncomingMessage): void;
  /** Ends every session and rotates the stream token ("log out everywhere"). */
  endAllSessions(): void;
  /** The request's identity, or null without a valid session or token (always `open`/`admin` when auth is not required). */
  identify(req: IncomingMessage): Identity | null;
  /** True when the request carries a valid session cookie or token (or auth is not required). */
  isAuthenticated(req: IncomingMessage): boolean;
  /** Token accepted as `?token=` on `/stream.mjpg` and `/stream.mp4`, for players such as VLC and a central Preroll that cannot log in. */
  streamToken(): string;
  checkStreamToken(token: string): boolean;
  /** Express middleware guarding everything but the login page and health check; sets `res.locals.identity`. */
  guard(onAuthenticated?: (req: Request) => void): (req: Request, res: Response, next: NextFunction) => void;
}

const KDF = { maxmem: 64 * 1024 * 1024 } as const;

async function hashPassword(password: string): Promise<StoredHash> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, ...KDF });
  return { salt: salt.toString('hex'), hash: hash.toString('hex'), N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p };
}

async function matches(password: string, stored: StoredHash): Promise<boolean> {
  const expected = Buffer.from(stored.hash, 'hex');
  const hash = await scrypt(password, Buffer.from(stored.salt, 'hex'), expected.length, { N: stored.N, r: stored.r, p: stored.p, ...KDF });
  return timingSafeEqual(hash, expected);
}

/** Sets a new password in `<dataDir>/auth.json`: a new key, so every session and the stream token end (a running server sees it within a second). */
export async function setPassword(dataDir: string, password: string): Promise<void> {
  if (password.length < 8) throw new HttpError(400, 'AUTH_WEAK_PASSWORD', 'the password needs at least 8 characters');
  const stored = await hashPassword(password);
  const file = readAuthFile(dataDir);
  writeAuthFile(dataDir, { version: 1, secret: randomBytes(32).toString('hex'), password: stored, envPassword: file?.envPassword ?? null, tokens: file?.tokens ?? [], users: file?.users ?? [], sessions: [] });
}

const USER_NAME = /^[a-z][a-z0-9_.-]{0,31}$/;

/**
 * Adds a user with a role (its password stored hashed with scrypt, as the admin's). Throws
 * `AUTH_BAD_USER_NAME`, `AUTH_BAD_ROLE`, `AUTH_WEAK_PASSWORD` or `AUTH_USER_EXISTS`.
 */
export async function addUser(dataDir: string, name: string, role: Role, password: string): Promise<UserInfo> {
  if (!USER_NAME.test(name)) throw new HttpError(400, 'AUTH_BAD_USER_NAME', 'a user name is 1-32 lower-case letters, digits, ".", "-" or "_", starting with a letter');
  if (!ROLES.includes(role)) throw new HttpError(400, 'AUTH_BAD_ROLE', `a role is one of ${ROLES.join(', ')}`);
  if (password.length < 8) throw new HttpError(400, 'AUTH_WEAK_PASSWORD', 'the password needs at least 8 characters');
  const file = readAuthFile(dataDir) ?? { version: 1, secret: randomBytes(32).toString('hex'), password: null };
  if (name === ADMIN_USER || (file.users ?? []).some((u) => u.name === name)) throw new HttpError(409, 'AUTH_USER_EXISTS', `there is already a user "${name}"`);
  const user: StoredUser = { name, role, createdAt: new Date().toISOString(), password: await hashPassword(password) };
  // Re-read: the hash took a while and a running server may have written sessions meanwhile.
  const current = readAuthFile(dataDir) ?? file;
  writeAuthFile(dataDir, { ...current, users: [...(current.users ?? []), user] });
  return { name, role, createdAt: user.createdAt };
}

/** Removes a user; their sessions end at once. Returns false when there is none (the admin cannot be removed). */
export function removeUser(dataDir: string, name: string): boolean {
  const file = readAuthFile(dataDir);
  if (!file || !(file.users ?? []).some((u) => u.name === name)) return false;
  writeAuthFile(dataDir, { ...file, users: (file.users ?? []).filter((u) => u.name !== name), sessions: (file.sessions ?? []).filter((s) => s.user !== name) });
  return true;
}

/** Sets a user's password (`admin`: the main password); that user's sessions end. Throws `AUTH_NO_SUCH_USER`. */
export async function setUserPassword(dataDir: string, name: string, password: string): Promise<void> {
  if (name === ADMIN_USER) return setPassword(dataDir, password);
  if (password.length < 8) throw new HttpError(400, 'AUTH_WEAK_PASSWORD', 'the password needs at least 8 characters');
  const hash = await hashPassword(password);
  const file = readAuthFile(dataDir);
  if (!file || !(file.users ?? []).some((u) => u.name === name)) throw new HttpError(404, 'AUTH_NO_SUCH_USER', `no user "${name}"`);
  writeAuthFile(dataDir, {
    ...file,
    users: (file.users ?? []).map((u) => (u.name === name ? { ...u, password: hash } : u)),
    sessions: (file.sessions ?? []).filter((s) => s.user !== name),
  });
}

/** The users: `admin` first, then the others (never a hash). */
export function listUsers(dataDir: string): UserInfo[] {
  const file = readAuthFile(dataDir);
  return [{ name: ADMIN_USER, role: 'admin' as Role, createdAt: null }, ...(file?.users ?? []).map((u) => ({ name: u.name, role: u.role, createdAt: u.createdAt }))];
}

/** Creates an API token with a scope; returns it (shown once) with its id. */
export function createApiToken(dataDir: string, name: string, scope: Scope = 'control'): { token: string; info: ApiTokenInfo } {
  if (!/^[\w .-]{1,60}$/.test(name)) throw new HttpError(400, 'AUTH_BAD_TOKEN_NAME', 'a token name is 1-60 letters, digits, spaces, ".", "-" or "_"');
  if (!SCOPES.includes(scope)) throw new HttpError(400, 'AUTH_BAD_SCOPE', `a token scope is one of ${SCOPES.join(', ')}`);
  const file = readAuthFile(dataDir) ?? { version: 1, secret: randomBytes(32).toString('hex'), password: null };
  const token = `prt_${randomBytes(24).toString('base64url')}`;
  const info: ApiTokenInfo = { id: randomBytes(4).toString('hex'), name, createdAt: new Date().toISOString(), scope };
  writeAuthFile(dataDir, { ...file, tokens: [...(file.tokens ?? []), { ...info, sha256: sha256(token) }] });
  return { token, info };
}

/** The API tokens (without their secrets). */
export function listApiTokens(dataDir: string): ApiTokenInfo[] {
  return (readAuthFile(dataDir)?.tokens ?? []).map(({ id, name, createdAt, scope }) => ({ id, name, createdAt, scope: scope ?? 'admin' }));
}

/** A token as a backup holds it: with secrets, its SHA-256 (the token itself is never stored). */
export interface BackupToken extends ApiTokenInfo {
  /** Present only in a backup made with its secrets: restores the token working. */
  readonly sha256?: string;
}

/** The token list for a backup; `withSecrets` adds each token's SHA-256 (what checks it). */
export function exportApiTokens(dataDir: string, withSecrets: boolean): BackupToken[] {
  return (readAuthFile(dataDir)?.tokens ?? []).map(({ id, name, createdAt, scope, sha256: hash }) => ({ id, name, createdAt, scope: scope ?? 'admin', ...(withSecrets ? { sha256: hash } : {}) }));
}

/**
 * Puts back a backup's token list (validated by the caller). A token with its SHA-256, or one
 * this server still holds under the same id, works again as it did; a token without either
 * cannot: it is left out and returned in `needSecret` (a new one must be issued). Tokens of
 * this server that the backup does not list are revoked: the list is the backup's.
 */
export function restoreApiTokens(dataDir: string, tokens: readonly BackupToken[]): { restored: ApiTokenInfo[]; needSecret: ApiTokenInfo[] } {
  const existing = readAuthFile(dataDir);
  // No token before, none after: no file is made for nothing.
  if (!existing && !tokens.length) return { restored: [], needSecret: [] };
  const file = existing ?? { version: 1 as const, secret: randomBytes(32).toString('hex'), password: null };
  const held = new Map((file.tokens ?? []).map((t) => [t.id, t.sha256]));
  const restored: (ApiTokenInfo & { sha256: string })[] = [];
  const needSecret: ApiTokenInfo[] = [];
  for (const { sha256: hash, ...info } of tokens) {
    const known = hash ?? held.get(info.id);
    if (known) restored.push({ ...info, sha256: known });
    else needSecret.push(info);
  }
  writeAuthFile(dataDir, { ...file, tokens: restored });
  return { restored: restored.map(({ id, name, createdAt, scope }) => ({ id, name, createdAt, scope })), needSecret };
}

/** Revokes a token by id; returns false when there is none. */
export function revokeApiToken(dataDir: string, id: string): boolean {
  const file = readAuthFile(dataDir);
  const tokens = file?.tokens ?? [];
  if (!file || !tokens.some((t) => t.id === id)) return false;
  writeAuthFile(dataDir, { ...file, tokens: tokens.filter((t) => t.id !== id) });
  return true;
}

let dummy: Promise<StoredHash> | null = null;
/** A hash of nothing anybody knows, made once: unknown user names are checked against it. */
function dummyHash(): Promise<StoredHash> {
  dummy ??= hashPassword(randomBytes(16).toString('hex'));
  return dummy;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Attempts within the last minute, per key; the map is bounded. */
class MinuteCounter {
  private readonly times = new Map<string, number[]>();
  count(key: string, now: number): number {
    const recent = (this.times.get(key) ?? []).filter((t) => now - t < 60_000);
    if (recent.length) this.times.set(key, recent);
    else this.times.delete(key);
    return recent.length;
  }
  add(key: string, now: number): void {
    const list = this.times.get(key) ?? [];
    list.push(now);
    this.times.set(key, list);
    if (this.times.size > 10_000) this.times.delete(this.times.keys().next().value as string);
  }
  /** Gives back one attempt (a login that succeeded). */
  remove(key: string, at: number): void {
    const list = this.times.get(key);
    const index = list?.indexOf(at) ?? -1;
    if (list && index >= 0) list.splice(index, 1);
  }
}

/**
 * Loads or creates the auth state. When a password is required and none exists, one is
 * generated, stored (hashed) and written once to `<dataDir>/initial-password` (mode 0600),
 * never to the log.
 */
export async function openAuth(options: AuthOptions): Promise<Auth> {
  const limits = options.limits ?? { loginFailuresPerMinute: 5, loginAttemptsPerMinute: 30, sessionDays: 30 };
  const sessionMs = Math.round(limits.sessionDays * 24 * 3600 * 1000);
  const log = options.logger;
  let file = readAuthFile(options.dataDir);
  if (!file) {
    file = { version: 1, secret: randomBytes(32).toString('hex'), password: null };
    writeAuthFile(options.dataDir, file);
  }
  let envHash: StoredHash | null = null;
  if (options.envPassword) {
    if (file.envPassword && (await matches(options.envPassword, file.envPassword))) {
      envHash = file.envPassword;
    } else {
      // A new PREROLL_PASSWORD: whoever logged in with the old one is logged out.
      const changed = Boolean(file.envPassword);
      envHash = await hashPassword(options.envPassword);
      file = { ...file, secret: changed ? randomBytes(32).toString('hex') : file.secret, envPassword: envHash, sessions: changed ? [] : file.sessions };
      writeAuthFile(options.dataDir, file);
      if (changed) log.warn('PREROLL_PASSWORD changed: every session ended, new stream token');
    }
  }
  if (options.exposed && !file.password && !envHash) {
    const generated = randomBytes(12).toString('base64url');
    await setPassword(options.dataDir, generated);
    file = readAuthFile(options.dataDir) as AuthFile;
    const path = join(options.dataDir, 'initial-password');
    writeFileSync(path, `${generated}\n`, { mode: 0o600 });
    log.warn({ file: path }, `no password was set: generated one for this installation; it is in ${path} (readable by this user only). Log in with it, then change it with "preroll passwd" and delete the file`);
  }
  const required = options.exposed || file.password !== null || envHash !== null;

  // The state a running server acts on; re-read when auth.json changes on disk.
  const authPath = join(options.dataDir, 'auth.json');
  let secret = Buffer.from(file.secret, 'hex');
  let stored = file.password;
  let tokens = new Map((file.tokens ?? []).map((t) => [t.sha256, { id: t.id, scope: t.scope ?? 'admin' }] as const));
  let sessions = new Map((file.sessions ?? []).map((s) => [s.id, { expires: s.expires, user: s.user ?? ADMIN_USER }] as const));
  let users = new Map((file.users ?? []).map((u) => [u.name, u] as const));
  let checkedAt = 0;
  let mtimeMs = mtimeOf(authPath);
  const adopt = (next: AuthFile): void => {
    secret = Buffer.from(next.secret, 'hex');
    stored = next.password;
    tokens = new Map((next.tokens ?? []).map((t) => [t.sha256, { id: t.id, scope: t.scope ?? 'admin' }] as const));
    sessions = new Map((next.sessions ?? []).map((s) => [s.id, { expires: s.expires, user: s.user ?? ADMIN_USER }] as const));
    users = new Map((next.users ?? []).map((u) => [u.name, u] as const));
  };
  const reload = (): void => {
    const now = Date.now();
    if (now - checkedAt < RELOAD_MS) return;
    checkedAt = now;
    try {
      const current = mtimeOf(authPath);
      if (current === mtimeMs) return;
      mtimeMs = current;
      const next = readAuthFile(options.dataDir);
      if (next) adopt(next);
    } catch (error) {
      log.warn({ err: error }, 'cannot re-read auth.json');
    }
  };
  /** Changes the file from its current content on disk (a concurrent `preroll token create` is kept). */
  const update = (change: (current: AuthFile) => AuthFile): void => {
    const next = change(readAuthFile(options.dataDir) ?? (file as AuthFile));
    writeAuthFile(options.dataDir, next);
    mtimeMs = mtimeOf(authPath);
    checkedAt = Date.now();
    adopt(next);
  };

  const perAddress = new MinuteCounter();
  const global = new MinuteCounter();
  let checking = 0;
  const queue: (() => void)[] = [];
  const sign = (payload: string): string => createHmac('sha256', secret).update(payload).digest('base64url');
  const cookieAttrs = `Path=/; HttpOnly; SameSite=Strict${options.secureCookies ? '; Secure' : ''}`;

  const sessionOf = (req: IncomingMessage): { id: string; expires: number; user: string } | null => {
    const value = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (!value) return null;
    const parts = value.split('.');
    if (parts.length !== 3) return null;
    const [expires, id, signature] = parts;
    if (!/^\d+$/.test(expires) || Number(expires) < Date.now()) return null;
    if (!safeEqual(signature, sign(`${expires}.${id}`))) return null;
    const session = sessions.get(id);
    return session && session.expires === Number(expires) ? { id, expires: Number(expires), user: session.user } : null;
  };
  /** The role of a session's user now (a removed user has none: the session is void). */
  const roleOf = (user: string): Role | null => (user === ADMIN_USER ? 'admin' : (users.get(user)?.role ?? null));

  const auth: Auth = {
    required,
    async verifyPassword(password) {
      if (typeof password !== 'string' || password.length > 1024) return false;
      reload();
      const candidate = envHash ?? stored;
      if (!candidate) return false;
      // At most a few scrypt runs at once: a burst of logins waits instead of taking 16 MiB each.
      if (checking >= MAX_CONCURRENT_CHECKS) await new Promise<void>((resolve) => queue.push(resolve));
      checking++;
      try {
        return await matches(password, candidate);
      } finally {
        checking--;
        queue.shift()?.();
      }
    },
    async verifyLogin(user, password) {
      if (user === undefined || user === ADMIN_USER) return (await auth.verifyPassword(password)) ? { user: ADMIN_USER, role: 'admin' } : null;
      if (typeof password !== 'string' || password.length > 1024) return null;
      reload();
      const stored = users.get(user);
      // A made-up hash for an unknown name: the answer takes as long as for a real one.
      const candidate = stored?.password ?? (await dummyHash());
      if (checking >= MAX_CONCURRENT_CHECKS) await new Promise<void>((resolve) => queue.push(resolve));
      checking++;
      try {
        const ok = await matches(password, candidate);
        return ok && stored ? { user: stored.name, role: stored.role } : null;
      } finally {
        checking--;
        queue.shift()?.();
      }
    },
    beginLogin(ip) {
      const now = Date.now();
      if (perAddress.count(ip, now) >= limits.loginFailuresPerMinute) {
        log.warn({ ip, code: 'AUTH_RATE_LIMITED' }, 'login refused: too many attempts from this address');
        throw new HttpError(429, 'AUTH_RATE_LIMITED', 'too many failed logins; wait a minute');
      }
      if (global.count('*', now) >= limits.loginAttemptsPerMinute) {
        log.warn({ ip, code: 'AUTH_RATE_LIMITED_GLOBAL' }, 'login refused: too many attempts from all addresses');
        throw new HttpError(429, 'AUTH_RATE_LIMITED_GLOBAL', 'too many failed logins on this server; wait a minute');
      }
      // Counted now, before the password is checked: parallel attempts see each other.
      perAddress.add(ip, now);
      global.add('*', now);
      return (ok) => {
        if (ok) {
          perAddress.remove(ip, now);
          global.remove('*', now);
          return;
        }
        log.warn({ ip, at: new Date(now).toISOString(), code: 'AUTH_BAD_PASSWORD' }, 'failed login');
      };
    },
    sessionCookie(user = ADMIN_USER) {
      const expires = Date.now() + sessionMs;
      const id = randomBytes(12).toString('base64url');
      update((current) => {
        const now = Date.now();
        const kept = (current.sessions ?? []).filter((s) => s.expires > now).slice(-(MAX_SESSIONS - 1));
        return { ...current, sessions: [...kept, user === ADMIN_USER ? { id, expires } : { id, expires, user }] };
      });
      const payload = `${expires}.${id}`;
      return `${SESSION_COOKIE}=${payload}.${sign(payload)}; ${cookieAttrs}; Max-Age=${Math.floor(sessionMs / 1000)}`;
    },
    clearCookie() {
      return `${SESSION_COOKIE}=; ${cookieAttrs}; Max-Age=0`;
    },
    endSession(req) {
      reload();
      const session = sessionOf(req);
      if (!session) return;
      update((current) => ({ ...current, sessions: (current.sessions ?? []).filter((s) => s.id !== session.id) }));
    },
    endAllSessions() {
      update((current) => ({ ...current, secret: randomBytes(32).toString('hex'), sessions: [] }));
      log.warn('every session ended and the stream token rotated (log out everywhere)');
    },
    identify(req) {
      if (!required) return { via: 'open', scope: 'admin', role: 'admin', user: null };
      reload();
      const bearer = /^Bearer (prt_[A-Za-z0-9_-]{20,100})$/.exec(req.headers.authorization ?? '');
      if (bearer) {
        const token = tokens.get(sha256(bearer[1]));
        return token ? { via: 'token', scope: token.scope, role: 'admin', user: `token:${token.id}` } : null;
      }
      const session = sessionOf(req);
      const role = session ? roleOf(session.user) : null;
      if (!session || !role) return null;
      // A viewer's session looks; what it may change besides is in scopeNeeded ('review').
      return { via: 'session', scope: role === 'admin' ? 'admin' : 'read', role, user: session.user };
    },
    isAuthenticated(req) {
      return auth.identify(req) !== null;
    },
    streamToken: () => sign('stream.mjpg'),
    checkStreamToken: (token) => {
      reload();
      return safeEqual(token, sign('stream.mjpg'));
    },
    guard(onAuthenticated) {
      return (req, res, next) => {
        const identity = auth.identify(req);
        if (identity) {
          res.locals.identity = identity;
          onAuthenticated?.(req);
          return next();
        }
        if (req.path === '/api/login') return next();
        const stream = /^(\/cameras\/[^/]+)?\/stream\.(mjpg|mp4)$/.test(req.path);
        if (stream && typeof req.query.token === 'string' && auth.checkStreamToken(req.query.token)) {
          res.locals.identity = { via: 'token', scope: 'read', role: 'admin', user: null } satisfies Identity;
          onAuthenticated?.(req);
          return next();
        }
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

function mtimeOf(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
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

/** What a request needs: a token scope, or `review` (between read and control: what a viewer may change). */
export type Need = Scope | 'review';
const RANK: Record<Need, number> = { read: 0, review: 1, control: 2, admin: 3 };

/** The API paths of one camera's controls start with this, or are plain `/api/...`. */
const API = '^/api(?:/cameras/[^/]+)?';
/** Changes a viewer may make: favourites, reviewed marks, their own logout and push subscription. */
const REVIEW = new RegExp(`${API}/(events/[^/]+|events/[^/]+/reviewed|events/reviewed|logout|push/subscriptions)$`);
/** Admin only, whatever the method: settings, backup, users and tokens. */
const ADMIN_PATHS = /^\/api\/(config|users|tokens)(\/|$)/;

/**
 * What a request needs: `read` to look (GET/HEAD), `admin` for the settings (`/api/config…`,
 * also to read), users, tokens, delete-all, reboot, exit and "log out everywhere", `review`
 * for favourites, reviewed marks and logging out, `control` for every other change. Pure.
 */
export function scopeNeeded(method: string, path: string): Need {
  if (ADMIN_PATHS.test(path)) return 'admin';
  if (/\/(delete-all(\/confirm|\/cancel)?|reboot|exit|logout-all)$/.test(path)) return 'admin';
  // Logging in again (as someone else) changes nothing the current identity holds.
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS' || path === '/api/login') return 'read';
  // Deleting a recording is not reviewing it.
  if (REVIEW.test(path) && !(method === 'DELETE' && /\/events\/[^/]+$/.test(path))) return 'review';
  return 'control';
}

/** How much an identity may do: a viewer reviews, anyone else up to their scope. Pure. */
export function rankOf(identity: Identity): number {
  return identity.role === 'viewer' ? Math.min(RANK.review, RANK[identity.scope] + 1) : RANK[identity.scope];
}

/** Refuses (403 `AUTH_SCOPE`, or `AUTH_ROLE` for a viewer) a request whose identity may not do what it asks. */
export function requireScope() {
  return (req: Request, res: Response, next: NextFunction): void => {
    const identity = res.locals.identity as Identity | undefined;
    if (!identity) return next(); // the login route: nothing else passes the guard without an identity
    const needed = scopeNeeded(req.method, req.path);
    if (rankOf(identity) >= RANK[needed]) return next();
    if (identity.via === 'session' && identity.role === 'viewer') return next(new HttpError(403, 'AUTH_ROLE', `the user "${identity.user}" is a viewer; this needs an admin`));
    next(new HttpError(403, 'AUTH_SCOPE', `this token has the "${identity.scope}" scope; this needs "${needed}"`));
  };
}
