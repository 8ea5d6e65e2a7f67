import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip } from 'node:zlib';
import { Router, type Request, type Response } from 'express';
import { HttpError } from './errors';

/** Pages and files whose text names the asset folder: `%ASSETS%` is replaced by `/assets/<hash>`. */
const TEMPLATES = new Set(['index.html', 'login.html', 'sw.js', 'manifest.webmanifest']);
/** Placeholder the templates carry for the hashed asset folder. */
const ASSETS_MARK = /%ASSETS%/g;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.txt': 'text/plain; charset=utf-8',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg', '.json', '.webmanifest', '.txt']);
/** Files this small gain nothing from compression (the headers cost more). */
const MIN_COMPRESS_BYTES = 512;

const brotliAsync = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

/**
 * One file ready to send: its bytes and, for text, its gzip and brotli forms — null until they
 * are made (in the background after start) and for files not worth compressing.
 */
interface Asset {
  readonly type: string;
  readonly body: Buffer;
  gzip: Buffer | null;
  br: Buffer | null;
  readonly compress: boolean;
  readonly etag: string;
}

/** The web UI's files, read and compressed once at start (the folder is about 100 KB). */
export interface WebAssets {
  /** Content hash of every file: the `/assets/<hash>/` prefix, new with every change of the UI. */
  readonly hash: string;
  /**
   * Resolves when every compressible file has its gzip and brotli forms. Until then files are
   * sent as they are: compressing the UI takes seconds of CPU on a Pi Zero 2 W, which must not
   * hold up the start or the event loop (zlib's async calls run on the thread pool).
   */
  readonly compressed: Promise<void>;
  /** Total bytes of the assets, and what gzip / brotli make of the compressible ones so far (for the docs and tests). */
  sizes(): { readonly raw: number; readonly gzip: number; readonly br: number };
  /** Routes reachable without a session: `/assets/<hash>/…`, the login page, manifest, service worker, favicon. */
  publicRoutes(): Router;
  /** The app shell (`/`, `/index.html`), behind the login. Always `Cache-Control: no-store`. */
  shellRoutes(): Router;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name.startsWith('.')) return [];
    const path = join(dir, entry.name);
    return entry.isDirectory() ? listFiles(path) : [path];
  });
}

function makeAsset(name: string, body: Buffer): Asset {
  const ext = extname(name);
  const compress = COMPRESSIBLE.has(ext) && body.length >= MIN_COMPRESS_BYTES;
  return {
    type: TYPES[ext] ?? 'application/octet-stream',
    body,
    br: null,
    gzip: null,
    compress,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
  };
}

/**
 * Compresses the files one at a time on zlib's thread pool, so that at most one of its threads
 * is busy with it. Quality 9 instead of brotli's 11: a tenth of the CPU for about 3 % more bytes.
 * A file that fails to compress is simply sent as it is.
 */
async function compressAll(assets: readonly Asset[]): Promise<void> {
  for (const asset of assets) {
    if (!asset.compress) continue;
    asset.gzip = await gzipAsync(asset.body, { level: 9 }).catch(() => null);
    asset.br = await brotliAsync(asset.body, { params: { [zlib.BROTLI_PARAM_QUALITY]: 9 } }).catch(() => null);
  }
}

/** Picks brotli, gzip or identity from the request's Accept-Encoding (q=0 refuses). Pure. */
export function chooseEncoding(acceptEncoding: string | undefined): 'br' | 'gzip' | null {
  const accepted = new Set(
    (acceptEncoding ?? '')
      .split(',')
      .map((part) => part.trim().split(';'))
      .filter(([, q]) => !q || !/^q=0(\.0*)?$/.test(q.trim()))
      .map(([name]) => name.trim().toLowerCase()),
  );
  if (accepted.has('br')) return 'br';
  if (accepted.has('gzip')) return 'gzip';
  return null;
}

function send(req: Request, res: Response, asset: Asset, cacheControl: string): void {
  res.setHeader('Content-Type', asset.type);
  res.setHeader('Cache-Control', cacheControl);
  res.setHeader('ETag', asset.etag);
  res.setHeader('Vary', 'Accept-Encoding');
  if (req.headers['if-none-match'] === asset.etag) {
    res.status(304).end();
    return;
  }
  const encoding = chooseEncoding(req.headers['accept-encoding']);
  const body = encoding === 'br' ? asset.br : encoding === 'gzip' ? asset.gzip : null;
  if (body && encoding) res.setHeader('Content-Encoding', encoding);
  res.setHeader('Content-Length', String((body ?? asset.body).length));
  res.status(200).end(req.method === 'HEAD' ? undefined : (body ?? asset.body));
}

/**
 * Reads the web folder once. Everything but the templates is served under `/assets/<hash>/`
 * with a year's `immutable` caching: a new UI has a new hash, so nothing stale is ever used,
 * and modules import each other by relative path so they stay inside one version. The shell,
 * login page, manifest and service worker name that folder and are never cached by HTTP
 * (`no-store` / `no-cache`): they are what tells the browser a new version exists.
 */
export function loadWebAssets(root: string): WebAssets {
  const files = listFiles(root)
    .map((path) => ({ name: relative(root, path).split(sep).join('/'), body: readFileSync(path) }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const digest = createHash('sha256');
  for (const file of files) digest.update(file.name).update('\0').update(file.body).update('\0');
  const hash = digest.digest('hex').slice(0, 12);
  const prefix = `/assets/${hash}`;
  const assets = new Map<string, Asset>();
  const templates = new Map<string, Asset>();
  for (const file of files) {
    if (TEMPLATES.has(file.name)) templates.set(file.name, makeAsset(file.name, Buffer.from(file.body.toString('utf8').replace(ASSETS_MARK, prefix))));
    else assets.set(file.name, makeAsset(file.name, file.body));
  }
  const template = (name: string): Asset => {
    const asset = templates.get(name);
    if (!asset) throw new HttpError(500, 'ASSET_MISSING', `the web UI has no ${name}`);
    return asset;
  };
  const all = [...assets.values(), ...templates.values()];
  const compressed = compressAll(all);

  return {
    hash,
    compressed,
    sizes() {
      const sizes = { raw: 0, gzip: 0, br: 0 };
      for (const asset of all) {
        sizes.raw += asset.body.length;
        sizes.gzip += (asset.gzip ?? asset.body).length;
        sizes.br += (asset.br ?? asset.body).length;
      }
      return sizes;
    },
    publicRoutes() {
      const router = Router();
      router.get('/assets/:hash/*path', (req, res) => {
        const name = ([] as string[]).concat((req.params as { path: string | string[] }).path).join('/');
        const asset = req.params.hash === hash ? assets.get(name) : undefined;
        if (!asset) throw new HttpError(404, 'ASSET_NOT_FOUND', `no asset ${name.slice(0, 100)} in this version of the web UI`);
        send(req, res, asset, 'public, max-age=31536000, immutable');
      });
      router.get('/login.html', (req, res) => send(req, res, template('login.html'), 'no-store'));
      // The worker's scope is its folder: it is served from the root to control the whole app.
      router.get('/sw.js', (req, res) => {
        res.setHeader('Service-Worker-Allowed', '/');
        send(req, res, template('sw.js'), 'no-cache');
      });
      router.get('/manifest.webmanifest', (req, res) => send(req, res, template('manifest.webmanifest'), 'no-cache'));
      router.get('/favicon.svg', (req, res) => {
        const icon = assets.get('icons/icon.svg');
        if (!icon) throw new HttpError(404, 'ASSET_NOT_FOUND', 'no favicon');
        send(req, res, icon, 'public, max-age=86400');
      });
      return router;
    },
    shellRoutes() {
      const router = Router();
      router.get(['/', '/index.html'], (req, res) => send(req, res, template('index.html'), 'no-store'));
      return router;
    },
  };
}
