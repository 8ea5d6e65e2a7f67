import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { spawnChild } from '@preroll/process';
import type { Integrations } from '@preroll/integrations';
import { configEditorOf, perCamera, type Config, type ConfigEditor } from '../config';
import type { Runtime } from '../runtime/runtime';
import type { Alerts } from '../alerts';
import { alertsMetrics, createAlertsApi, createAlertsPublic } from './alerts';
import { createApi } from './api';
import { createConfigApi } from './config';
import { ConfigUpdateError, type ConfigService } from '../runtime/config-service';
import { createCameraSettingsApi } from './camera-settings';
import { openAuth, requireScope, type Auth } from './auth';
import { hostAllowed } from './host';
import { bodyDeadline, effectiveMaxConnections, fdSoftLimit, guardConnections, rateLimitedLogger } from './limits';
import type { EventRecord } from '@preroll/store';
import type { Announcer } from '../announcer';
import { errorHandler, HttpError } from './errors';
import { attachWebSocket, createStreamClients, mjpegHandler, mp4Handler } from './live-http';
import { prometheusMetrics } from './metrics';
import { createReviewApi } from './review';
import { createScoreHistory } from './score-history';
import { loadWebAssets } from './static';

/** Options of {@link createHttpServer}. */
export interface HttpServerOptions {
  readonly config: Readonly<Config>;
  /** One runtime per camera; the first is the one the plain paths (`/api/status`, `/stream.mjpg`) act on. */
  readonly runtimes: readonly Runtime[];
  /** MQTT, webhooks and upload of each camera (same order as `runtimes`; null where not configured). */
  readonly integrations: readonly (Integrations | null)[];
  /** Alert channels and arming (optional: tests of the web layer alone). */
  readonly alerts?: Alerts;
  /** New recordings, announced once: pushed to the open pages. Optional (tests of the web layer alone). */
  readonly announcer?: Pick<Announcer, 'subscribe'>;
  /** Object labels: their cost and counts go into the status document, and each event's final labels reach the open pages (optional: tests of the web layer alone). */
  readonly labels?: { status(): unknown; onLabelled?(listener: (record: EventRecord) => void): () => void };
  readonly logger: Logger;
  /** PREROLL_PASSWORD, if set. */
  readonly password: string | null;
  /** Called by the "exit" button. */
  readonly onExit: () => void;
  /** The configuration as `/api/config` reads and changes it (optional: tests of the web layer alone). */
  readonly configService?: ConfigService;
}

/** The web server: UI, JSON API, MJPEG stream and WebSocket on one port. */
export interface HttpServer {
  readonly auth: Auth;
  /** Listens; resolves with the bound port (useful with port 0). */
  listen(): Promise<number>;
  close(): Promise<void>;
}

/** What the camera list shows of one camera. */
function cameraSummary(r: Runtime): Record<string, unknown> {
  const s = r.status();
  return { id: s.camera, source: s.source, captureState: s.captureState, width: s.width, height: s.height, fps: s.fps, score: s.score, triggerLevel: s.triggerLevel, motionEnabled: s.motionEnabled, recording: s.recording };
}

/** True for addresses only this machine can reach. Pure. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The folder of the web UI (apps/server/web), from the sources or the build. */
export function webRoot(): string {
  for (const candidate of [resolve(__dirname, '../../web'), resolve(__dirname, '../../../web')]) {
    if (existsSync(join(candidate, 'index.html'))) return candidate;
  }
  throw new Error(`web UI not found next to ${__dirname}`);
}

/** Creates the web server (listens in `listen()`). */
export async function createHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const { config, runtimes, logger } = options;
  const runtime = runtimes[0];
  const exposed = !isLoopback(config.server.host);
  const tls = config.server.tls ? readTls(config.server.tls) : null;
  const limits = config.server.limits;
  const auth = await openAuth({ dataDir: config.server.dataDir, exposed, envPassword: options.password, secureCookies: tls !== null, logger, limits });
  // Names this server may be reached by; anything else in `Host` is a rebinding attempt.
  const allowedHosts = [...config.server.allowedHosts, hostname(), `${hostname()}.local`, config.server.host];
  const hostOk = (req: IncomingMessage): boolean => hostAllowed(req.headers.host, allowedHosts);
  const server: Server = tls
    ? createTlsServer({ ...tls, ...serverTimeouts(limits) }, undefined)
    : createServer(serverTimeouts(limits));
  const maxConnections = effectiveMaxConnections(limits.maxConnections, fdSoftLimit());
  const connections = guardConnections(server, { ...limits, maxConnections, maxUnauthenticated: Math.min(limits.maxUnauthenticated, maxConnections) }, logger);
  const web = loadWebAssets(webRoot());
  const actions = { allowReboot: config.actions.allowReboot, allowExit: config.actions.allowExit };
  const byId = new Map(runtimes.map((r) => [r.status().camera, r] as const));
  const cameras = (): unknown[] => runtimes.map((r) => cameraSummary(r));
  // The live streams' clients of every camera, and the bytes Node holds for them.
  const streams = createStreamClients();
  const statusOf = (r: Runtime) => (): unknown => ({
    ...r.status(),
    actions,
    authRequired: auth.required,
    integrations: options.integrations[runtimes.indexOf(r)]?.stats() ?? null,
    alerts: options.alerts?.status() ?? null,
    labels: options.labels?.status() ?? null,
    cameras: cameras(),
    streams: streams.stats(),
    // A configuration file edited by hand into something invalid (the last good one is in force).
    configError: options.configService?.state().error ?? null,
  });
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.set('etag', false);
  app.use(securityHeaders);
  if (tls) app.use(hsts);
  app.use((req, _res, next) => next(hostOk(req) ? undefined : new HttpError(421, 'HTTP_BAD_HOST', 'this server is not reachable by that host name (server.allowedHosts)')));
  app.use(sameOriginForChanges);

  app.get('/healthz', (_req, res) => {
    const states = runtimes.map((r) => r.status());
    const ok = states.every((s) => s.captureState === 'running' || s.captureState === 'starting');
    res.status(ok ? 200 : 503).json({ ok, captureState: states[0].captureState, cameras: states.map((s) => ({ id: s.camera, captureState: s.captureState })), uptimeS: states[0].uptimeS });
  });
  // The login page, the hashed assets, manifest and service worker are reachable without a session.
  app.use(web.publicRoutes());
  if (options.alerts) app.use(createAlertsPublic(options.alerts));
  app.use(auth.guard((req) => connections.markAuthenticated(req.socket)));
  app.use(requireScope());
  // Bodies are read only after the guard: without a login, only /api/login's can be sent.
  app.use(bodyDeadline(limits.bodyTimeoutMs));
  if (options.configService) {
    const settings = (): Record<string, ReturnType<Runtime['savedSettings']>> => Object.fromEntries(runtimes.map((r) => [r.status().camera, r.savedSettings()]));
    const restoreSettings = (camera: string, saved: ReturnType<Runtime['savedSettings']>): boolean => {
      const target = runtimes.find((r) => r.status().camera === camera);
      target?.restoreSettings(saved);
      return target !== undefined;
    };
    // Read through `alerts` each time: a change of the alerts' configuration makes a new arming state.
    const alerts = options.alerts;
    const arming = alerts ? { status: () => alerts.arming.status(), setMode: (mode: Parameters<typeof alerts.arming.setMode>[0], source: 'api') => alerts.arming.setMode(mode, source) } : undefined;
    app.use('/api', createConfigApi({ service: options.configService, dataDir: config.server.dataDir, settings, restoreSettings, arming, logger }));
  }
  app.use(express.json({ limit: '16kb', strict: true, type: 'application/json' }));
  if (options.alerts) app.use('/api', createAlertsApi({ alerts: options.alerts, runtimes }));
  const apiFor = (r: Runtime) =>
    createApi({
      runtime: r,
      auth,
      actions,
      status: statusOf(r),
      // Read at each request: the integrations restart when their configuration changes.
      get integrations() {
        return options.integrations[runtimes.indexOf(r)] ?? null;
      },
      hideUnlabelled: config.labels.hideUnlabelled,
      reboot: async () => {
        const [command, ...args] = config.actions.rebootCommand;
        logger.warn({ command: config.actions.rebootCommand }, 'reboot requested from the web page');
        const child = spawnChild({ name: 'reboot', command, args, logger });
        await child.exited;
      },
      exit: () => {
        logger.warn('exit requested from the web page');
        setTimeout(options.onExit, 100);
      },
    });
  // Camera controls and masks of each camera, saved to the one configuration file.
  const editor: ConfigEditor = options.configService
    ? configEditorOf(options.configService, 'camera settings')
    : (() => {
        const refuse = (): Promise<never> => Promise.reject(new ConfigUpdateError(409, 'CONFIG_NO_FILE', 'this server has no configuration service: there is nowhere to save settings'));
        return { file: null, set: refuse, apply: refuse };
      })();
  const configs = perCamera(config);
  const settingsApis = runtimes.map((r, i) => createCameraSettingsApi({ runtime: r, config: configs[i] ?? config, editor, logger: logger.child({ component: 'camera-settings' }) }));
  // Each camera's controls under /api/cameras/<id>/…; the plain /api/… paths are the first camera's.
  const cameraApis = new Map(runtimes.map((r, i) => [r.status().camera, express.Router().use(settingsApis[i].router, apiFor(r))] as const));
  app.get('/api/cameras', (_req, res) => {
    res.json({ cameras: cameras() });
  });
  app.use('/api/cameras/:camera', (req, res, next) => {
    const api = cameraApis.get(String(req.params.camera));
    if (!api) return next(new HttpError(404, 'CAMERA_NOT_FOUND', `no camera "${String(req.params.camera).slice(0, 40)}"`));
    api(req, res, next);
  });
  const scores = createScoreHistory(runtimes);
  app.use('/api', createReviewApi(runtime), scores.routes());
  app.use('/api', cameraApis.get(runtime.status().camera) as express.Router);
  app.get('/cameras/:camera/stream.mjpg', (req, res, next) => {
    const r = byId.get(String(req.params.camera));
    if (!r) return next(new HttpError(404, 'CAMERA_NOT_FOUND', `no camera "${String(req.params.camera).slice(0, 40)}"`));
    mjpegHandler(r.live, streams)(req, res);
  });
  app.get('/stream.mjpg', mjpegHandler(runtime.live, streams));
  app.get('/cameras/:camera/stream.mp4', (req, res, next) => {
    const r = byId.get(String(req.params.camera));
    if (!r) return next(new HttpError(404, 'CAMERA_NOT_FOUND', `no camera "${String(req.params.camera).slice(0, 40)}"`));
    mp4Handler(r, logger, streams)(req, res);
  });
  app.get('/stream.mp4', mp4Handler(runtime, logger, streams));
  app.get('/metrics', (_req, res) => {
    res.type('text/plain; version=0.0.4').send(prometheusMetrics(runtimes) + alertsMetrics(options.alerts));
  });
  app.use(web.shellRoutes());
  app.use((req, _res, next) => next(new HttpError(404, 'HTTP_NOT_FOUND', `nothing at ${req.path}`)));
  app.use(errorHandler(logger));

  server.on('request', app);
  // Bounds what a client that sends slowly can hold (receiving only: the live streams are
  // endless responses and are not limited by these).
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.timeout = limits.idleTimeoutMs;
  const logServerError = rateLimitedLogger(logger, 60_000, 5);
  const ws = attachWebSocket(server, {
    runtimes,
    auth,
    logger: logger.child({ component: 'ws' }),
    sameOrigin: (req) => hostOk(req) && sameOrigin(req),
    onAuthenticated: (socket) => connections.markAuthenticated(socket as Socket),
    status: (r) => statusOf(r)(),
    streams,
    idleTimeoutMs: limits.idleTimeoutMs,
    announcer: options.announcer,
    labelled: options.labels?.onLabelled,
    configChanges: options.configService,
  });

  return {
    auth,
    listen() {
      return new Promise((resolvePort, reject) => {
        server.once('error', reject);
        server.listen(config.server.port, config.server.host, () => {
          server.off('error', reject);
          // Out of descriptors (EMFILE/ENFILE at accept): Node drops the connection; say so and go on recording.
          server.on('error', (error: NodeJS.ErrnoException) => logServerError('error', { code: error.code, syscall: error.syscall, connections: connections.stats() }, 'web server: cannot accept a connection'));
          const port = (server.address() as AddressInfo).port;
          const scheme = tls ? 'https' : 'http';
          logger.info({ host: config.server.host, port, tls: tls !== null, passwordRequired: auth.required, maxConnections }, `web interface on ${scheme}://${config.server.host}:${port}/`);
          resolvePort(port);
        });
      });
    },
    close() {
      ws.close();
      scores.close();
      for (const settings of settingsApis) settings.close();
      return new Promise((resolveClose) => {
        server.close(() => resolveClose());
        server.closeAllConnections();
      });
    },
  };
}

/** Reads the TLS certificate and key; a clear error names the file that cannot be used. */
function readTls(paths: { certPath: string; keyPath: string }): { cert: Buffer; key: Buffer } {
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw Object.assign(new Error(`cannot read the TLS ${what} ${path}: ${(error as Error).message}`), { code: 'TLS_FILE_UNREADABLE' });
    }
  };
  return { cert: read(paths.certPath, 'certificate'), key: read(paths.keyPath, 'key') };
}

const CSP = [
  "default-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "style-src 'self'",
  "script-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

/** Options of the HTTP(S) server that bound slow clients (`server.limits`). */
function serverTimeouts(limits: Config['server']['limits']): { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number } {
  // Node checks these deadlines on a timer; once a second keeps the overshoot small. It refuses
  // a headers deadline beyond the request deadline: the headers are part of the request.
  return { headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs), requestTimeout: limits.requestTimeoutMs, connectionsCheckingInterval: 1000 };
}

/** Under TLS, browsers are told to use HTTPS only (180 days). */
function hsts(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('Strict-Transport-Security', 'max-age=15552000');
  next();
}

function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('Content-Security-Policy', CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  next();
}

/** A browser request is same-origin when its Origin (if any) names this host. */
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (!origin) return req.headers['sec-fetch-site'] !== 'cross-site';
  try {
    return new URL(origin).host === req.headers.host;
  } catch (error) {
    void error;
    return false;
  }
}

/** State changes from another site's page (CSRF) are refused. */
function sameOriginForChanges(req: Request, _res: Response, next: NextFunction): void {
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
  if (!sameOrigin(req)) return next(new HttpError(403, 'HTTP_CROSS_ORIGIN', 'cross-origin requests may not change anything'));
  next();
}
