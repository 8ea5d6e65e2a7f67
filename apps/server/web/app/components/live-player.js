// The live picture: H.264 video when the browser can (MSE), JPEG pictures over the WebSocket
// otherwise or by choice, with the state of the recorder as overlays on the picture (REC with
// its timer, score, connection lost, camera down, detection off, motion boxes).
import { html, useEffect, useRef, useState } from '../lib.js';
import { goToLogin, streamMp4 } from '../api.js';
import { formatClock, formatLevel } from '../format.js';
import { useNow } from '../hooks.js';
import { canPlayLiveH264, playLiveMp4 } from './mse.js';
import { usePinchZoom } from './zoom.js';

const RATE_WINDOW_MS = 5000;
/** After this many failed H.264 sessions in a row, the page shows JPEGs and says why. */
const VIDEO_ATTEMPTS = 3;

/** Sliding byte counter: bytes per second over the last few seconds. */
function createRateMeter() {
  let samples = [];
  return {
    add(bytes) {
      samples.push([performance.now(), bytes]);
    },
    perSecond() {
      const now = performance.now();
      samples = samples.filter(([t]) => t > now - RATE_WINDOW_MS);
      if (!samples.length) return null;
      const spanMs = Math.max(1000, now - samples[0][0]);
      return (samples.reduce((n, [, b]) => n + b, 0) * 1000) / spanMs;
    },
    reset() {
      samples = [];
    },
  };
}

/** Motion boxes as the status may carry them (`[{x,y,w,h}]` or `[[x,y,w,h]]`, pixels or 0..1); anything else is ignored. Pure. */
export function normaliseBoxes(boxes, width, height) {
  if (!Array.isArray(boxes)) return [];
  return boxes
    .map((b) => (Array.isArray(b) ? { x: b[0], y: b[1], w: b[2], h: b[3] } : b && typeof b === 'object' ? { x: b.x, y: b.y, w: b.w ?? b.width, h: b.h ?? b.height } : null))
    .filter((b) => b && [b.x, b.y, b.w, b.h].every((v) => typeof v === 'number' && Number.isFinite(v)))
    .map((b) => {
      const unit = b.x <= 1 && b.y <= 1 && b.w <= 1 && b.h <= 1;
      const sx = unit ? 1 : 1 / (width || 1);
      const sy = unit ? 1 : 1 / (height || 1);
      return { x: b.x * sx, y: b.y * sy, w: b.w * sx, h: b.h * sy };
    })
    .slice(0, 50);
}

function Boxes({ boxes }) {
  return html`<div class="boxes" aria-hidden="true">
    ${boxes.map((b, i) => html`<span key=${i} class="box" style=${{ left: `${b.x * 100}%`, top: `${b.y * 100}%`, width: `${b.w * 100}%`, height: `${b.h * 100}%` }}></span>`)}
  </div>`;
}

function RecBadge({ since }) {
  const now = useNow(1000);
  const s = since ? (now - Date.parse(since)) / 1000 : 0;
  return html`<span id="rec" class="rec-badge" role="status">● REC <span id="rec-time">${formatClock(s)}</span></span>`;
}

function ConnectionOverlay({ connection, onRetry }) {
  if (connection.state === 'open') return null;
  const text = connection.state === 'connecting' ? 'Connecting to the recorder…' : `No connection since ${new Date(connection.since).toLocaleTimeString()}, retrying…`;
  return html`<div id="conn-overlay" class="conn-overlay" role="alert">
    <p>${text}</p>
    ${connection.state === 'lost' ? html`<button type="button" onClick=${onRetry}>Retry now</button>` : null}
  </div>`;
}

/**
 * The live picture of the camera on show. Props: `state` (the page state), `connection`
 * (frames and retry), `store` (to report what plays and what it costs), `onToggleMotion` (null: the visitor may not switch detection on).
 */
export function LivePlayer({ state, store, connection, onToggleMotion }) {
  const frameRef = useRef(null);
  const videoRef = useRef(null);
  const imgRef = useRef(null);
  const zoomRef = useRef(null);
  usePinchZoom(frameRef, zoomRef, 'live');
  const meter = useRef(createRateMeter());
  const [videoFailures, setVideoFailures] = useState(0);
  // Until the video plays (the next keyframe, then MSE), JPEGs show the picture: the first frame comes at once.
  const [playing, setPlaying] = useState(false);
  const { status, connection: conn, quality, camera, view } = state;
  const online = conn.state === 'open';
  const active = view === 'live';
  const wantsVideo = quality === 'video' && canPlayLiveH264() && videoFailures < VIDEO_ATTEMPTS;
  const mode = quality === 'saver' ? 'saver' : wantsVideo ? 'video' : 'jpeg';
  const reason = quality === 'video' && mode !== 'video' ? (canPlayLiveH264() ? 'the H.264 stream failed' : 'this browser cannot play H.264 live (no Media Source Extensions)') : null;

  // A new choice of quality gives the video a fresh start.
  useEffect(() => setVideoFailures(0), [quality]);

  // Report the mode (the connection asks for JPEGs accordingly) and its measured cost.
  useEffect(() => {
    meter.current.reset();
    store.set((s) => ({ live: { ...s.live, mode, reason, bytesPerS: null } }));
  }, [mode, reason]);
  const showVideo = mode === 'video' && playing;
  useEffect(() => {
    store.set((s) => ({ live: { ...s.live, videoPlaying: showVideo } }));
  }, [showVideo]);
  useEffect(() => {
    const timer = setInterval(() => {
      const rate = meter.current.perSecond();
      const s = store.get();
      if (rate === null || s.live.mode !== mode) return;
      const video = videoRef.current;
      let behindS = null;
      if (mode === 'video' && video && video.buffered.length) behindS = video.buffered.end(video.buffered.length - 1) - video.currentTime;
      store.set({ live: { ...s.live, bytesPerS: rate, behindS }, rates: { ...s.rates, [quality]: rate } });
    }, 2000);
    return () => clearInterval(timer);
  }, [mode, quality]);

  // H.264: one MSE session while the live view is on screen and the recorder reachable.
  useEffect(() => {
    if (mode !== 'video' || !online || !active) return undefined;
    let retry = null;
    const stop = playLiveMp4(videoRef.current, streamMp4(camera), {
      onBytes: (n) => meter.current.add(n),
      onUnauthorized: goToLogin,
      onError: (error) => {
        console.warn('live video failed', error.message);
        retry = setTimeout(() => setVideoFailures((n) => n + 1), 1000);
      },
    });
    const video = videoRef.current;
    // Playing resets the failure count: only failures in a row lead to the fallback.
    const onPlaying = () => {
      setVideoFailures(0);
      setPlaying(true);
    };
    video.addEventListener('playing', onPlaying);
    return () => {
      clearTimeout(retry);
      video.removeEventListener('playing', onPlaying);
      setPlaying(false);
      stop();
    };
  }, [mode, online, active, camera, videoFailures]);

  // JPEG: frames from the WebSocket replace each other; the old blob URL is freed once the new one shows.
  useEffect(() => {
    if (showVideo) return undefined;
    let current = null;
    connection.setFrameSink((blob) => {
      meter.current.add(blob.size);
      const img = imgRef.current;
      if (!img) return;
      const url = URL.createObjectURL(blob);
      const old = current;
      current = url;
      img.onload = () => {
        if (old) URL.revokeObjectURL(old);
      };
      img.src = url;
    });
    return () => {
      connection.setFrameSink(null);
    };
  }, [showVideo]);

  const fullscreen = () => {
    const frame = frameRef.current;
    if (document.fullscreenElement) document.exitFullscreen();
    else if (frame.requestFullscreen) frame.requestFullscreen().catch((error) => console.warn('fullscreen refused', error.message));
    else if (videoRef.current && videoRef.current.webkitEnterFullscreen) videoRef.current.webkitEnterFullscreen();
  };

  const down = status && status.captureState !== 'running';
  const hot = status && status.motionEnabled && status.score > status.triggerLevel;
  const boxes = state.showBoxes && status ? normaliseBoxes((status.trigger && status.trigger.boxes) || status.boxes, status.width, status.height) : [];
  return html`<div ref=${frameRef} class=${`live-frame${online ? '' : ' offline'}`}>
    <div ref=${zoomRef} id="live-zoom" class="zoom-layer">
      <video ref=${videoRef} id="live-video" class="live-media" muted autoplay playsinline hidden=${mode !== 'video'} aria-label="live camera video"></video>
      <img ref=${imgRef} id="live" class="live-media" alt="live camera view" hidden=${showVideo} />
      ${boxes.length ? html`<${Boxes} boxes=${boxes} />` : null}
    </div>
    <div class="overlay-top">
      ${online && status && status.recording ? html`<${RecBadge} since=${status.recordingSince} />` : html`<span></span>`}
      ${status ? html`<span id="score-overlay" class=${`overlay-score${hot ? ' hot' : ''}`}>${status.score.toFixed(1)} / ${formatLevel(status.triggerLevel)}</span>` : null}
    </div>
    ${online && status && !status.motionEnabled
      ? html`<div id="motion-off-banner" class="banner" role="status">
          <span>Motion detection is off: nothing is recorded on motion.</span>
          ${onToggleMotion ? html`<button type="button" onClick=${onToggleMotion}>Turn on</button>` : null}
        </div>`
      : null}
    ${online && down
      ? html`<div id="outage" class="outage" role="alert">camera ${status.captureState}${status.captureError ? ` — ${status.captureError.code}: ${status.captureError.message}` : ''}</div>`
      : null}
    <${ConnectionOverlay} connection=${conn} onRetry=${() => connection.retryNow()} />
    <button type="button" class="fullscreen icon-button" aria-label="full screen" title="full screen" onClick=${fullscreen}>
      <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true"><path d="M4 9V4h5M15 4h5v5M20 15v5h-5M9 20H4v-5" fill="none" stroke="currentColor" stroke-width="2" /></svg>
    </button>
  </div>`;
}
