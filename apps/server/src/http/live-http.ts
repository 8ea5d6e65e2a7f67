import type { IncomingMessage, Server } from 'node:http';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { createLiveMp4Muxer } from '@preroll/recorder';
import type { EventRecord } from '@preroll/store';
import type { LiveFrame, LiveView } from '../live/live-view';
import type { Announcer } from '../announcer';
import type { Runtime } from '../runtime/runtime';
import { toApiEvent } from './api';
import type { Auth } from './auth';

const BOUNDARY = 'prerollframe';

/** The kinds of live stream a client can hold open. */
export type StreamKind = 'mjpeg' | 'mp4' | 'ws';

/** What one kind of live stream holds for its clients (`/api/status` → `streams`). */
export interface StreamKindStats {
  /** Open clients. */
  readonly clients: number;
  /** Bytes queued in Node for all of them (taken neither by the kernel nor dropped yet). */
  readonly queuedBytes: number;
  /** The most any one client has queued now. */
  readonly maxQueuedBytes: number;
  /** Pictures (MJPEG, WebSocket) or H.264 units (`/stream.mp4`) skipped for slow clients since start. */
  readonly dropped: number;
}

/** Every live stream's clients, and what Node holds for them. */
export type StreamStats = Readonly<Record<StreamKind, StreamKindStats>>;

/** The live streams' clients: each registers what it has queued, so the status can show it. */
export interface StreamClients {
  /** Registers a client; `queuedBytes` reads what Node holds for it now. Returns the removal. */
  add(kind: StreamKind, queuedBytes: () => number): () => void;
  /** Counts pictures or units skipped for a slow client. */
  dropped(kind: StreamKind, count?: number): void;
  stats(): StreamStats;
}

/** Creates the registry of live stream clients (one per web server). */
export function createStreamClients(): StreamClients {
  const kinds: readonly StreamKind[] = ['mjpeg', 'mp4', 'ws'];
  const clients = new Map(kinds.map((k) => [k, new Set<() => number>()] as const));
  const drops = new Map<StreamKind, number>(kinds.map((k) => [k, 0]));
  return {
    add(kind, queuedBytes) {
      const set = clients.get(kind) as Set<() => number>;
      set.add(queuedBytes);
      return () => void set.delete(queuedBytes);
    },
    dropped(kind, count = 1) {
      drops.set(kind, (drops.get(kind) as number) + count);
    },
    stats() {
      const of = (kind: StreamKind): StreamKindStats => {
        const queued = [...(clients.get(kind) as Set<() => number>)].map((read) => read());
        return { clients: queued.length, queuedBytes: queued.reduce((a, b) => a + b, 0), maxQueuedBytes: Math.max(0, ...queued), dropped: drops.get(kind) as number };
      };
      return { mjpeg: of('mjpeg'), mp4: of('mp4'), ws: of('ws') };
    },
  };
}

/**
 * `GET /stream.mjpg`: multipart MJPEG that VLC and an `<img>` open. Each viewer gets the
 * newest JPEG when its socket has room; while the socket is still busy with an older frame,
 * newer ones replace each other (never a growing buffer): Node holds at most the picture being
 * written and the newest one waiting, per viewer; the kernel's socket buffers hold the rest.
 */
export function mjpegHandler(live: LiveView, streams: StreamClients) {
  return (req: Request, res: Response): void => {
    res.writeHead(200, {
      'Content-Type': `multipart/x-mixed-replace; boundary=${BOUNDARY}`,
      'Cache-Control': 'no-store, no-cache, must-revalidate',
      Pragma: 'no-cache',
      Connection: 'close',
    });
    let waiting: LiveFrame | null = null;
    let writable = true;
    const send = (frame: LiveFrame): void => {
      writable = res.write(`--${BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: ${frame.jpeg.length}\r\n\r\n`);
      writable = res.write(frame.jpeg) && writable;
      writable = res.write('\r\n') && writable;
    };
    const unsubscribe = live.subscribe((frame) => {
      if (writable) send(frame);
      else {
        if (waiting) streams.dropped('mjpeg');
        waiting = frame;
      }
    });
    const unregister = streams.add('mjpeg', () => res.writableLength + (waiting?.jpeg.length ?? 0));
    res.on('drain', () => {
      writable = true;
      if (waiting) {
        const frame = waiting;
        waiting = null;
        send(frame);
      }
    });
    const done = (): void => {
      unsubscribe();
      unregister();
      waiting = null;
    };
    req.on('close', done);
    res.on('error', done);
  };
}

/** A viewer of `/stream.mp4` further behind than this skips pictures until the next keyframe. */
const MP4_MAX_BUFFERED_BYTES = 2 * 1024 * 1024;

/**
 * `GET /stream.mp4`: the encoder's own H.264 (what the recorder stores, no second encode) as a
 * live fragmented MP4: the init segment, then one fragment per picture, starting at the next
 * keyframe (within a second). For a central Preroll's `url:` source, ffmpeg or VLC: the full
 * picture at the full frame rate. A viewer that falls behind skips to the next keyframe
 * (never a growing buffer). When the encoder's parameters change (a new resolution), the
 * response ends; the client reconnects for a new init segment.
 */
export function mp4Handler(runtime: Runtime, logger: Logger, streams: StreamClients) {
  return (req: Request, res: Response): void => {
    res.writeHead(200, {
      'Content-Type': 'video/mp4',
      'Cache-Control': 'no-store, no-cache, must-revalidate',
      Pragma: 'no-cache',
      Connection: 'close',
    });
    const fps = runtime.status().fps;
    const muxer = createLiveMp4Muxer({ frameUs: 1e6 / (fps > 0 ? fps : 15) });
    let skipping = false;
    const unregister = streams.add('mp4', () => res.writableLength);
    const unsubscribe = runtime.onUnit((unit) => {
      if (res.writableLength > MP4_MAX_BUFFERED_BYTES) skipping = true;
      if (skipping) {
        if (!unit.keyframe || res.writableLength > MP4_MAX_BUFFERED_BYTES) {
          streams.dropped('mp4');
          return;
        }
        skipping = false;
      }
      try {
        for (const chunk of muxer.push(unit)) res.write(chunk);
      } catch (error) {
        logger.info({ err: (error as Error).message, code: (error as { code?: string }).code }, 'stream.mp4: ending a viewer');
        unsubscribe();
        res.end();
      }
    });
    const done = (): void => {
      unsubscribe();
      unregister();
    };
    req.on('close', done);
    res.on('error', done);
  };
}

/** Messages the browser may send on the WebSocket. */
type ClientMessage = { type: 'live'; enabled: boolean; camera?: string; maxFps?: number };

/**
 * The WebSocket at `/ws`: the status of the client's camera on every change and twice a
 * second, with the motion score of every frame since the last message, and — for clients that
 * ask — live JPEGs as binary messages, skipped while the client's buffer is still full. A client
 * picks its camera with `{"type":"live","enabled":…,"camera":"<id>"}` (default: the first).
 * Authenticated during the upgrade.
 */
export function attachWebSocket(
  server: Server,
  options: {
    runtimes: readonly Runtime[];
    auth: Auth;
    logger: Logger;
    /** Same origin and an allowed `Host`. */
    sameOrigin: (req: IncomingMessage) => boolean;
    /** The upgrade carried a valid session: its socket leaves the unauthenticated caps. */
    onAuthenticated?: (socket: unknown) => void;
    status: (runtime: Runtime) => unknown;
    /** Where each client's queued bytes and skipped pictures are counted. */
    streams: StreamClients;
    /**
     * A client that answers no ping (and sends nothing) for this long is closed, milliseconds
     * (`server.limits.idleTimeoutMs`): a page that stopped reading would otherwise hold its
     * queued bytes and socket buffers for ever (the HTTP server's idle timeout does not apply
     * to an upgraded socket).
     */
    idleTimeoutMs: number;
    /** New recordings, announced once: pushed to every open page. */
    announcer?: Pick<Announcer, 'subscribe'>;
    /** A recording's final labels were stored (once per motion event): pushed as `{"type":"labelled"}` so the gallery shows them. */
    labelled?: (listener: (record: EventRecord) => void) => () => void;
    /** Configuration changes, announced to every open page (`{"type":"config"}`) so settings pages reload. */
    configChanges?: { onChange(listener: (change: { version: string; keys: readonly string[] } | null) => void): () => void; state(): { version: string; error: unknown } };
  },
): { close(): void } {
  const { runtimes, auth, logger } = options;
  const byId = new Map(runtimes.map((r) => [r.status().camera, r] as const));
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/ws') {
      socket.destroy();
      return;
    }
    if (!auth.isAuthenticated(req) || !options.sameOrigin(req)) {
      socket.write('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      socket.destroy();
      return;
    }
    options.onAuthenticated?.(socket);
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  interface ClientState {
    runtime: Runtime;
    unsubscribeLive: (() => void) | null;
    unregister: () => void;
    /** When the client last answered a ping or sent a message. */
    lastHeardMs: number;
    lastPingMs: number;
    /** Data saver: at most this many JPEGs a second (0: every frame). */
    maxFps: number;
    lastSentMs: number;
  }
  const clients = new Map<WebSocket, ClientState>();
  // Scores of each camera since the last broadcast.
  const scores = new Map<Runtime, [number, number][]>(runtimes.map((r) => [r, []]));
  const sendJson = (ws: WebSocket, value: unknown): void => {
    if (ws.readyState === ws.OPEN && ws.bufferedAmount < 1_000_000) ws.send(JSON.stringify(value));
  };
  let statusFailures = 0;
  const broadcastStatus = (): void => {
    try {
      broadcastStatusNow();
    } catch (error) {
      // E.g. EMFILE while reading the process's memory use: skip this tick, never crash.
      if (statusFailures++ % 120 === 0) logger.warn({ err: (error as Error).message, code: (error as { code?: string }).code, failures: statusFailures }, 'cannot build the status');
    }
  };
  const broadcastStatusNow = (): void => {
    // Built only for cameras somebody watches: with no page open the tick costs nothing.
    const watched = new Set([...clients.values()].map((state) => state.runtime));
    const messages = new Map([...watched].map((r) => [r, JSON.stringify({ type: 'status', status: options.status(r), scores: scores.get(r) })] as const));
    for (const r of runtimes) scores.set(r, []);
    for (const [ws, state] of clients) {
      if (ws.readyState === ws.OPEN && ws.bufferedAmount < 1_000_000) ws.send(messages.get(state.runtime) as string);
    }
  };
  const detachers = runtimes.flatMap((r) => [
    r.onSample((sample) => {
      const list = scores.get(r) as [number, number][];
      list.push([Math.round(sample.ptsUs / 1000), Math.round(sample.score * 100) / 100]);
      if (list.length > 600) list.shift();
    }),
    r.onChange(() => broadcastStatus()),
  ]);
  if (options.announcer) {
    // A new recording reaches every open page once (all cameras: the gallery shows them all).
    detachers.push(
      options.announcer.subscribe(({ record }) => {
        const message = JSON.stringify({ type: 'recording', camera: record.camera, event: toApiEvent(record) });
        for (const ws of clients.keys()) if (ws.readyState === ws.OPEN && ws.bufferedAmount < 1_000_000) ws.send(message);
      }),
    );
  }
  if (options.labelled) {
    detachers.push(
      options.labelled((record) => {
        const message = JSON.stringify({ type: 'labelled', camera: record.camera, event: toApiEvent(record) });
        for (const ws of clients.keys()) if (ws.readyState === ws.OPEN && ws.bufferedAmount < 1_000_000) ws.send(message);
      }),
    );
  }
  if (options.configChanges) {
    const source = options.configChanges;
    detachers.push(
      source.onChange((change) => {
        const state = source.state();
        const message = JSON.stringify({ type: 'config', version: state.version, keys: change?.keys ?? [], error: state.error !== null });
        for (const ws of clients.keys()) if (ws.readyState === ws.OPEN && ws.bufferedAmount < 1_000_000) ws.send(message);
      }),
    );
  }
  // Pings a few times per idle timeout; a client that answered none of them is gone or stalled.
  const pingEveryMs = Math.max(1000, Math.floor(options.idleTimeoutMs / 4));
  const checkLiveness = (): void => {
    const now = Date.now();
    for (const [ws, state] of clients) {
      if (ws.readyState !== ws.OPEN) continue;
      if (now - state.lastHeardMs > options.idleTimeoutMs) {
        logger.info({ silentMs: now - state.lastHeardMs, queuedBytes: ws.bufferedAmount }, 'websocket: closing a client that answered no ping');
        ws.terminate();
      } else if (now - state.lastPingMs >= pingEveryMs) {
        state.lastPingMs = now;
        ws.ping();
      }
    }
  };
  const timer = setInterval(() => {
    broadcastStatus();
    checkLiveness();
  }, 500);
  timer.unref();

  const subscribe = (ws: WebSocket, state: ClientState): void => {
    state.unsubscribeLive = state.runtime.live.subscribe((frame) => {
      // A slow client skips frames instead of queueing them; a data-saver client gets maxFps.
      const now = Date.now();
      if (state.maxFps > 0 && now - state.lastSentMs < 1000 / state.maxFps) return;
      state.lastSentMs = now;
      if (ws.readyState !== ws.OPEN) return;
      if (ws.bufferedAmount < 2 * frame.jpeg.length) ws.send(frame.jpeg, { binary: true });
      else options.streams.dropped('ws');
    });
  };

  wss.on('connection', (ws) => {
    const state: ClientState = { runtime: runtimes[0], unsubscribeLive: null, unregister: options.streams.add('ws', () => ws.bufferedAmount), lastHeardMs: Date.now(), lastPingMs: Date.now(), maxFps: 0, lastSentMs: 0 };
    ws.on('pong', () => (state.lastHeardMs = Date.now()));
    clients.set(ws, state);
    try {
      sendJson(ws, { type: 'status', status: options.status(state.runtime), scores: [] });
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'cannot build the status for a new client');
    }
    ws.on('message', (data, isBinary) => {
      state.lastHeardMs = Date.now();
      let message: ClientMessage;
      try {
        if (isBinary) throw new Error('binary');
        message = JSON.parse(data.toString()) as ClientMessage;
        if (message?.type !== 'live' || typeof message.enabled !== 'boolean') throw new Error('shape');
        if (message.camera !== undefined && !byId.has(message.camera)) throw new Error('camera');
        if (message.maxFps !== undefined && !(typeof message.maxFps === 'number' && message.maxFps >= 0 && message.maxFps <= 60)) throw new Error('maxFps');
      } catch (error) {
        void error;
        sendJson(ws, { type: 'error', code: 'WS_BAD_MESSAGE', message: 'expected {"type":"live","enabled":true|false,"camera":"<a camera id>"}' });
        return;
      }
      state.maxFps = message.maxFps ?? 0;
      const wanted = message.camera === undefined ? state.runtime : (byId.get(message.camera) as Runtime);
      if (wanted !== state.runtime) {
        state.unsubscribeLive?.();
        state.unsubscribeLive = null;
        state.runtime = wanted;
        sendJson(ws, { type: 'status', status: options.status(wanted), scores: [] });
      }
      if (message.enabled && !state.unsubscribeLive) subscribe(ws, state);
      else if (!message.enabled && state.unsubscribeLive) {
        state.unsubscribeLive();
        state.unsubscribeLive = null;
      }
    });
    ws.on('close', () => {
      state.unsubscribeLive?.();
      state.unregister();
      clients.delete(ws);
    });
    ws.on('error', (error) => logger.debug({ err: error }, 'websocket error'));
  });

  return {
    close() {
      clearInterval(timer);
      for (const detach of detachers) detach();
      for (const [ws, state] of clients) {
        state.unsubscribeLive?.();
        state.unregister();
        ws.terminate();
      }
      wss.close();
    },
  };
}
