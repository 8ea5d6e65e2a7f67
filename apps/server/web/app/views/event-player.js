// The event player: the clip with its score chart underneath (playhead, click to seek,
// pre-roll and trigger marks), previous/next by buttons, arrow keys and swipe, and the actions
// in a bar that is always visible. Opening an event marks it reviewed.
import { html, useEffect, useRef, useState } from '../lib.js';
import { api } from '../api.js';
import { formatLevel } from '../format.js';
import { ScoreChart } from '../components/chart.js';
import { usePinchZoom } from '../components/zoom.js';
import { Toast } from '../components/toast.js';

const UPLOAD_LABELS = { none: 'Upload', pending: 'Uploading…', uploaded: 'Uploaded ✓ (again)', failed: 'Upload failed — retry' };

/**
 * The labels' boxes over the snapshot: an SVG in the frame's pixels (the boxes are stored in
 * them) stretched over the picture, so they scale with it at any size.
 */
function LabelBoxes({ event }) {
  const labels = (event.labels || []).filter((l) => Array.isArray(l.box) && l.box[2] > 0 && l.box[3] > 0);
  if (!labels.length || !event.width || !event.height) return null;
  const stroke = Math.max(2, Math.round(event.width / 320));
  const font = Math.max(12, Math.round(event.width / 40));
  return html`<svg id="event-boxes" class="label-boxes" viewBox=${`0 0 ${event.width} ${event.height}`} preserveAspectRatio="none" aria-hidden="true">
    ${labels.map(
      (l) => html`<g key=${l.subLabel} class=${`box box-${l.label}`} data-label=${l.subLabel}>
        <rect x=${l.box[0]} y=${l.box[1]} width=${l.box[2]} height=${l.box[3]} fill="none" stroke-width=${stroke} />
        <text x=${l.box[0] + stroke} y=${Math.max(font, l.box[1] - stroke)} font-size=${font}>${l.subLabel} ${Math.round(l.confidence * 100)} %</text>
      </g>`,
    )}
  </svg>`;
}

/** "person 81 %, dog 55 %", "motion only", or null when not classified. */
function seenText(event) {
  if (!Array.isArray(event.labels)) return null;
  return event.labels.length ? `seen: ${event.labels.map((l) => `${l.subLabel} ${Math.round(l.confidence * 100)} %`).join(', ')}` : 'motion only (nothing recognised)';
}
const SWIPE_PX = 70;

/** The chart's marks of the breaks in an event's video (camera restarts). */
function breakMarks(event) {
  return (event.discontinuities || []).map((d) => ({ type: 'break', atMs: d.atMs, gapMs: d.gapMs }));
}

/** A break in words (text, never HTML): where, why, for how long. */
function describeBreak(d) {
  const at = `${(d.atMs / 1000).toFixed(1)} s`;
  const keys = d.keys.length ? ` (${d.keys.join(', ')})` : '';
  if (d.ended) return `The camera restarted with new settings${keys} at ${at}: the recording goes on in a new clip.`;
  return `The camera restarted with new settings${keys} at ${at}${d.gapMs !== null ? `: ${(d.gapMs / 1000).toFixed(1)} s without picture` : ''}.`;
}

function meta(event) {
  return [
    `${event.width}×${event.height}`,
    event.kind === 'photo' ? null : `${event.durationS.toFixed(1)} s, ${event.frames} frames`,
    event.preRollMs ? `${(event.preRollMs / 1000).toFixed(1)} s before the trigger` : null,
    event.triggerLevel !== null ? `trigger level ${formatLevel(event.triggerLevel)}` : null,
    event.peakScore !== null ? `peak score ${event.peakScore.toFixed(1)}` : null,
    event.cues && event.cues.length ? `started by ${event.cues.join(' + ')}` : null,
    seenText(event),
    `${(event.bytes / 1e6).toFixed(1)} MB`,
    event.offloaded ? `clip uploaded to ${event.offloaded.remote} and removed from this device ${new Date(event.offloaded.at).toLocaleString()}` : null,
  ]
    .filter(Boolean)
    .join(' · ');
}

/** The player dialog; renders nothing while no event is open. */
export function EventPlayer({ state, store, gallery, act }) {
  const event = state.openEvent;
  const dialogRef = useRef(null);
  const videoRef = useRef(null);
  const zoomSurface = useRef(null);
  usePinchZoom(zoomSurface, videoRef, event && event.urls.clip ? event.id : null);
  const [sidecar, setSidecar] = useState(null);
  const [playheadMs, setPlayheadMs] = useState(null);
  const [showHeat, setShowHeat] = useState(true);
  const touch = useRef(null);
  const items = state.gallery.items;
  const index = event ? items.findIndex((e) => e.id === event.id) : -1;
  const prev = index > 0 ? items[index - 1] : null;
  const next = index >= 0 && index + 1 < items.length ? items[index + 1] : null;

  useEffect(() => {
    const dialog = dialogRef.current;
    if (event && !dialog.open) dialog.showModal();
    if (!event && dialog.open) dialog.close();
  }, [event]);

  useEffect(() => {
    setSidecar(null);
    setPlayheadMs(null);
    if (!event) return undefined;
    let current = true;
    api('GET', event.urls.sidecar)
      .then((data) => current && setSidecar(data))
      .catch((error) => console.warn('no score series for this event', error.message));
    return () => {
      current = false;
    };
  }, [event && event.id]);

  // The playhead follows the video every frame while it plays.
  useEffect(() => {
    const video = videoRef.current;
    if (!video || !event) return undefined;
    let frame = 0;
    const update = () => setPlayheadMs(video.currentTime * 1000);
    const loop = () => {
      update();
      frame = requestAnimationFrame(loop);
    };
    const play = () => {
      cancelAnimationFrame(frame);
      loop();
    };
    const pause = () => {
      cancelAnimationFrame(frame);
      update();
    };
    video.addEventListener('play', play);
    video.addEventListener('pause', pause);
    video.addEventListener('seeked', update);
    return () => {
      cancelAnimationFrame(frame);
      video.removeEventListener('play', play);
      video.removeEventListener('pause', pause);
      video.removeEventListener('seeked', update);
    };
  }, [event && event.id]);

  const go = (target) => target && act(() => gallery.open(target));
  const close = () => store.set({ openEvent: null });
  const onKey = (e) => {
    if (e.target && e.target.tagName === 'VIDEO') return;
    if (e.key === 'ArrowLeft') go(prev);
    else if (e.key === 'ArrowRight') go(next);
  };
  const onTouchStart = (e) => {
    const t = e.changedTouches[0];
    // Two fingers pinch, and one finger on a zoomed picture pans it: neither is a swipe.
    const zoomed = e.target instanceof Element && e.target.closest('[data-zoom]:not([data-zoom="1"])');
    touch.current = e.touches.length > 1 || zoomed || (touch.current && touch.current.multi) ? { multi: true } : { x: t.clientX, y: t.clientY };
  };
  const onTouchEnd = (e) => {
    const start = touch.current;
    if (e.touches.length > 0) return;
    touch.current = null;
    if (!start || start.multi) return;
    const t = e.changedTouches[0];
    const dx = t.clientX - start.x;
    if (Math.abs(dx) > SWIPE_PX && Math.abs(t.clientY - start.y) < SWIPE_PX / 2) go(dx > 0 ? prev : next);
  };
  const seek = (tMs) => {
    const video = videoRef.current;
    if (!video) return;
    video.currentTime = Math.max(0, tMs / 1000);
    setPlayheadMs(tMs);
  };
  const remove = () => {
    const target = event;
    const after = next || prev;
    gallery.remove(target);
    if (after) go(after);
    else close();
  };

  const upload = Boolean(state.status && state.status.integrations && state.status.integrations.upload);
  const download = event && (event.urls.clip || event.urls.snapshot);
  const scores = sidecar && sidecar.scores ? sidecar.scores.map((p) => [p.tMs, p.score]) : [];
  const durationMs = event ? event.durationS * 1000 : 0;
  return html`<dialog ref=${dialogRef} id="event-dialog" aria-labelledby="event-title" onClose=${close} onKeyDown=${onKey} onTouchStart=${onTouchStart} onTouchEnd=${onTouchEnd}>
    ${event
      ? html`<div class="player">
          <header class="player-head">
            <h2 id="event-title">${event.kind} — ${new Date(event.startedAt).toLocaleString()}</h2>
            <button type="button" class="icon-button" aria-label="close" onClick=${close}>✕</button>
          </header>
          <div class="player-body">
            ${event.urls.clip
              ? html`<div ref=${zoomSurface} id="event-zoom" class="zoom-frame"><video ref=${videoRef} id="event-video" key=${event.id} src=${event.urls.clip} controls playsinline preload="metadata" onLoadedMetadata=${(e) => {
                  if (state.openAtMs > 0) e.currentTarget.currentTime = state.openAtMs / 1000;
                }}></video></div>`
              : html`<div class="snapshot-wrap">
                  <img id="event-snapshot" src=${event.urls.snapshot || undefined} alt=${`photo of ${new Date(event.startedAt).toLocaleString()}`} />
                  <${LabelBoxes} event=${event} />
                </div>`}
            ${scores.length
              ? html`<${ScoreChart}
                  id="event-chart"
                  points=${scores}
                  level=${sidecar.triggerLevel}
                  startMs=${0}
                  endMs=${durationMs}
                  playheadMs=${event.urls.clip ? (playheadMs ?? 0) : undefined}
                  marks=${[...(event.preRollMs ? [{ type: 'span', fromMs: 0, toMs: event.preRollMs }, { type: 'line', atMs: event.preRollMs }] : []), ...breakMarks(event)]}
                  onSeek=${event.urls.clip ? seek : undefined}
                  label=${`motion score during the event, peak ${event.peakScore !== null ? event.peakScore.toFixed(1) : 'unknown'}; click to seek`}
                />`
              : null}
            ${(event.urls.heatmap || (event.labels && event.labels.length)) && event.urls.snapshot && event.urls.clip
              ? html`<details class="heat" open=${Boolean(event.labels && event.labels.length)}>
                  <summary>Snapshot${event.labels && event.labels.length ? ' with what was seen' : ' at the trigger'}${event.urls.heatmap ? ' and motion heat-map' : ''}</summary>
                  <div class="snapshot-wrap">
                    <img id="event-snapshot" src=${event.urls.snapshot} alt="snapshot of the event" />
                    ${showHeat && event.urls.heatmap ? html`<img id="event-heatmap" class="heatmap" src=${event.urls.heatmap} alt="" />` : null}
                    <${LabelBoxes} event=${event} />
                  </div>
                  ${event.urls.heatmap ? html`<label class="check small"><input id="event-heat-toggle" type="checkbox" checked=${showHeat} onChange=${(e) => setShowHeat(e.currentTarget.checked)} /> show motion heat-map</label>` : null}
                </details>`
              : null}
            <p id="event-meta" class="muted small">${meta(event)}</p>
            ${event.discontinuities && event.discontinuities.length
              ? html`<ul id="event-breaks" class="muted small">
                  ${event.discontinuities.map((d) => html`<li class="event-break">${describeBreak(d)}</li>`)}
                </ul>`
              : null}
          </div>
          <div class="player-actions">
            <button id="event-prev" type="button" disabled=${!prev} onClick=${() => go(prev)} aria-label="previous (newer) event">◀</button>
            <button id="event-next" type="button" disabled=${!next} onClick=${() => go(next)} aria-label="next (older) event">▶</button>
            <button id="event-favorite" type="button" aria-pressed=${event.favorite ? 'true' : 'false'} onClick=${() => act(() => gallery.toggleFavorite(event))}>${event.favorite ? '★' : '☆'} Favourite</button>
            <button id="event-reviewed" type="button" aria-pressed=${event.reviewed ? 'true' : 'false'} onClick=${() => act(() => gallery.setReviewed(event, !event.reviewed))}>${event.reviewed ? 'Reviewed' : 'Not reviewed'}</button>
            ${download ? html`<a id="event-download" class="button" href=${download} download>Download</a>` : null}
            ${upload && event.urls.clip ? html`<button id="event-upload" type="button" onClick=${() => act(() => gallery.upload(event))}>${UPLOAD_LABELS[event.uploadState] || 'Upload'}</button>` : null}
            <button id="event-delete" type="button" class="danger" onClick=${remove}>Delete</button>
          </div>
          <${Toast} toast=${state.toast} store=${store} gallery=${gallery} />
        </div>`
      : null}
  </dialog>`;
}
