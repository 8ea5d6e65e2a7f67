// The WebSocket to the recorder: status twice a second with the motion scores, live JPEGs for
// pages that ask, and each new recording once. It reconnects with backoff and tells the page
// honestly when it is down; a refused upgrade (session gone) leads to the login page.
import { api, ApiError, goToLogin } from './api.js';

const SCORE_SPAN_MS = 60_000;
/** The server sends a status every 500 ms: this long without one means the link is dead. */
const STALE_AFTER_MS = 4000;
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 10_000;

/** Appends scores and keeps the last minute (on the camera's clock). Pure. */
export function appendScores(list, added, spanMs = SCORE_SPAN_MS) {
  if (!added || !added.length) return list;
  const merged = list.concat(added);
  const newest = merged[merged.length - 1][0];
  let from = 0;
  while (from < merged.length && merged[from][0] < newest - spanMs) from++;
  return from ? merged.slice(from) : merged;
}

/**
 * Creates the connection (opened by `start()`). `onRecording(event)` gets each new recording,
 * `onLabelled(event)` each motion event again once its final labels are stored;
 * `setFrameSink(fn)` chooses who receives the live JPEG blobs.
 */
export function createConnection({ store, onRecording, onLabelled }) {
  let ws = null;
  let retryTimer = null;
  let staleTimer = null;
  let delayMs = RETRY_MIN_MS;
  let frameSink = null;
  let lastLive = '';

  const liveWanted = () => {
    const s = store.get();
    const visible = s.view === 'live' && !document.hidden;
    // JPEGs flow only when the picture is not the H.264 video (or while the video is starting).
    return { enabled: visible && s.live.mode !== null && (s.live.mode !== 'video' || !s.live.videoPlaying), camera: s.camera, maxFps: s.live.mode === 'saver' ? 1 : 0 };
  };

  const sendLive = (force = false) => {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const want = liveWanted();
    const message = { type: 'live', enabled: want.enabled, maxFps: want.maxFps, ...(want.camera ? { camera: want.camera } : {}) };
    const text = JSON.stringify(message);
    if (!force && text === lastLive) return;
    lastLive = text;
    ws.send(text);
  };

  const loadHistory = async () => {
    const camera = store.get().camera;
    try {
      const history = await api('GET', `/api/scores${camera ? `?camera=${encodeURIComponent(camera)}` : ''}`);
      if (store.get().camera !== camera) return;
      // The history ends where the live scores begin: keep live points newer than it.
      store.set((s) => {
        const last = history.scores.length ? history.scores[history.scores.length - 1][0] : -Infinity;
        return { scores: appendScores(history.scores, s.scores.filter(([t]) => t > last)) };
      });
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) console.warn('score history unavailable', error);
    }
  };

  const markStale = () => {
    clearTimeout(staleTimer);
    staleTimer = setTimeout(() => {
      // No status for a while: the link is dead even if the socket has not noticed (a dead
      // TCP peer can take minutes to close): give it up now and reconnect.
      if (ws) dropped(ws);
    }, STALE_AFTER_MS);
  };

  const lost = () => {
    const c = store.get().connection;
    if (c.state !== 'lost') store.set({ connection: { state: 'lost', since: c.state === 'open' ? Date.now() : (c.since ?? Date.now()) } });
  };

  /** The browser hides why an upgrade failed: the API says whether the session is the reason. */
  const checkSession = async () => {
    try {
      const response = await fetch('/api/status', { cache: 'no-store' });
      if (response.status === 401) goToLogin();
    } catch (error) {
      // The server is unreachable: keep retrying, the overlay says so.
      console.debug('recorder unreachable', error.message);
    }
  };

  const open = () => {
    retryTimer = null;
    const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
    socket.binaryType = 'blob';
    ws = socket;
    lastLive = '';
    socket.onopen = () => {
      delayMs = RETRY_MIN_MS;
      store.set({ connection: { state: 'open', since: null } });
      markStale();
      sendLive(true);
      loadHistory();
    };
    socket.onmessage = (message) => {
      if (socket !== ws) return;
      if (typeof message.data !== 'string') {
        if (frameSink) frameSink(message.data);
        return;
      }
      const data = JSON.parse(message.data);
      if (data.type === 'status') {
        markStale();
        store.set((s) => ({ status: data.status, scores: appendScores(s.scores, data.scores) }));
      } else if (data.type === 'recording') {
        onRecording(data.event);
      } else if (data.type === 'labelled') {
        if (onLabelled) onLabelled(data.event);
      } else if (data.type === 'config') {
        // Settings saved elsewhere: an open settings view reloads them.
        store.set({ configVersion: data.version });
      } else if (data.type === 'error') {
        console.warn('recorder refused a message', data);
      }
    };
    socket.onclose = () => {
      if (socket === ws) dropped(socket);
    };
  };

  const dropped = (socket) => {
    ws = null;
    socket.onmessage = null;
    socket.onclose = null;
    if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close();
    clearTimeout(staleTimer);
    lost();
    checkSession();
    retryTimer = setTimeout(open, delayMs);
    delayMs = Math.min(delayMs * 2, RETRY_MAX_MS);
  };

  let unsubscribe = null;
  const onVisibility = () => sendLive();
  return {
    start() {
      unsubscribe = store.subscribe(() => sendLive());
      document.addEventListener('visibilitychange', onVisibility);
      open();
    },
    /** Where live JPEG frames go (null: nowhere). */
    setFrameSink(sink) {
      frameSink = sink;
    },
    /** Reloads the score history (after a change of camera). */
    reloadHistory: loadHistory,
    /** Reconnects now (the "retry" button). */
    retryNow() {
      if (retryTimer) {
        clearTimeout(retryTimer);
        open();
      }
    },
    stop() {
      unsubscribe?.();
      document.removeEventListener('visibilitychange', onVisibility);
      clearTimeout(retryTimer);
      clearTimeout(staleTimer);
      if (ws) {
        const socket = ws;
        ws = null;
        socket.close();
      }
    },
  };
}
