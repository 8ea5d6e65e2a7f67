// The events view: filters, the unreviewed count with "mark all reviewed", one timeline strip
// per day, and the cards (newest first, paged as the list scrolls).
import { html, useEffect, useRef, useState } from '../lib.js';
import { api } from '../api.js';
import { dayTitle } from '../format.js';
import { RangeExport } from '../components/range-export.js';
import { hidesMotionOnly } from '../gallery.js';

const KINDS = [
  ['motion,manual,memory,photo', 'events and photos'],
  ['', 'everything (with segments)'],
  ['motion', 'motion'],
  ['manual', 'manual'],
  ['photo', 'photo'],
  ['segment', 'segment'],
  ['memory', 'memory'],
];

/**
 * One day's strip: continuous segments (merged into runs), events on top, hour labels under it.
 * A click on the empty strip zooms to that hour; zoomed, a click on a segment opens it at that
 * moment (scrubbing through continuous recording), and a drag selects a range to export.
 */
function Timeline({ day, camera, version, onOpen }) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const [zoomHour, setZoomHour] = useState(null);
  const [selection, setSelection] = useState(null);
  const drag = useRef(null);
  const ref = useRef(null);
  useEffect(() => {
    let current = true;
    api('GET', `/api/timeline?day=${encodeURIComponent(day)}${camera ? `&camera=${encodeURIComponent(camera)}` : ''}`)
      .then((timeline) => current && setData(timeline))
      .catch((failure) => current && setError(failure.message));
    return () => {
      current = false;
    };
  }, [day, camera, version]);
  const midnight = new Date(`${day}T00:00:00`).getTime();
  const end = new Date(midnight + 36 * 3600 * 1000);
  end.setHours(0, 0, 0, 0);
  const zoomed = zoomHour !== null;
  const dayStart = zoomed ? midnight + zoomHour * 3_600_000 : midnight;
  const span = zoomed ? 3_600_000 : end.getTime() - midnight;
  const labels = zoomed
    ? [0, 10, 20, 30, 40, 50, 60].map((m) => [m / 60, `${String(zoomHour + (m === 60 ? 1 : 0)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`])
    : [0, 6, 12, 18, 24].map((h) => [h / 24, `${String(h).padStart(2, '0')}:00`]);
  const place = (startMs, endMs) => {
    const from = Math.max(0, (startMs - dayStart) / span);
    const to = Math.min(1, (endMs - dayStart) / span);
    return { left: `${(from * 100).toFixed(4)}%`, width: `${(Math.max(0, to - from) * 100).toFixed(4)}%` };
  };
  const runs = [];
  for (const segment of (data && data.segments) || []) {
    const last = runs[runs.length - 1];
    if (last && segment.startMs - last.endMs < 2000) last.endMs = segment.endMs;
    else runs.push({ startMs: segment.startMs, endMs: segment.endMs });
  }
  const timeAt = (click) => {
    const box = ref.current.getBoundingClientRect();
    return dayStart + ((click.clientX - box.left) / box.width) * span;
  };
  const openSegmentAt = (click) => {
    click.stopPropagation();
    const at = timeAt(click);
    const hit = data.segments.find((x) => x.startMs <= at && at <= x.endMs) || data.segments.find((x) => x.startMs >= at);
    if (hit) onOpen(hit.id, Math.max(0, at - hit.startMs));
  };
  // A drag of more than a few pixels over the zoomed strip selects a range (and is not a click).
  const dragStart = (down) => {
    if (!zoomed || down.button !== 0) return;
    drag.current = { x: down.clientX, startMs: timeAt(down), moved: false };
  };
  const dragMove = (move) => {
    const d = drag.current;
    if (!d || (!d.moved && Math.abs(move.clientX - d.x) < 6)) return;
    if (!d.moved) ref.current.setPointerCapture(move.pointerId);
    d.moved = true;
    const at = timeAt(move);
    setSelection({ startMs: Math.min(d.startMs, at), endMs: Math.max(d.startMs, at) });
  };
  const dragEnd = () => {
    if (drag.current && drag.current.moved) drag.current.suppressClick = true;
    else drag.current = null;
  };
  const swallowDragClick = (click) => {
    if (drag.current && drag.current.suppressClick) click.stopPropagation();
    drag.current = null;
  };
  const zoomAt = (click) => {
    if (zoomed) return;
    setZoomHour(Math.min(23, Math.max(0, Math.floor((timeAt(click) - midnight) / 3_600_000))));
  };
  return html`<div class="timeline-wrap">
    <div ref=${ref} class=${`timeline${zoomed ? ' zoomed' : ''}`} data-day=${day} role="group" aria-label=${`recordings on ${day}${zoomed ? ` from ${zoomHour}:00 to ${zoomHour + 1}:00` : ''}: continuous segments in blue, events on top; click an hour to zoom`} onClick=${zoomAt} onClickCapture=${swallowDragClick} onPointerDown=${dragStart} onPointerMove=${dragMove} onPointerUp=${dragEnd} onPointerCancel=${dragEnd}>
      ${error ? html`<span class="small error">${error}</span>` : null}
      ${labels.slice(1, -1).map(([f]) => html`<span key=${`h${f}`} class="tl-hour" style=${{ left: `${f * 100}%` }}></span>`)}
      ${runs.map((run) => html`<span key=${`s${run.startMs}`} class="tl-seg" style=${place(run.startMs, run.endMs)} title=${`continuous ${new Date(run.startMs).toLocaleTimeString()}–${new Date(run.endMs).toLocaleTimeString()}`} onClick=${openSegmentAt}></span>`)}
      ${((data && data.events) || []).map(
        (event) => html`<button key=${event.id} type="button" class=${`tl-ev ${event.kind}`} data-id=${event.id} style=${place(event.startMs, event.endMs)} aria-label=${`${event.kind} at ${new Date(event.startMs).toLocaleTimeString()}`} onClick=${(e) => {
          e.stopPropagation();
          onOpen(event.id);
        }}></button>`,
      )}
      ${zoomed && selection ? html`<span class="tl-sel" style=${place(selection.startMs, selection.endMs)}></span>` : null}
    </div>
    <div class="tl-labels small muted" aria-hidden="true">
      ${labels.map(([f, text]) => html`<span key=${text} style=${{ left: `${f * 100}%` }}>${text}</span>`)}
    </div>
    ${zoomed
      ? html`<div class="tl-tools">
          <button type="button" class="tl-unzoom" onClick=${() => {
            setZoomHour(null);
            setSelection(null);
          }}>Whole day</button>
          ${runs.length ? html`<${RangeExport} day=${day} selection=${selection} onOpen=${(id) => onOpen(id)} />` : null}
        </div>`
      : null}
  </div>`;
}

const UPLOAD_BADGES = { pending: ' ⇡', uploaded: ' ☁', failed: ' ⚠' };

/** At most this many label chips on a card (strongest first, as the server sorts them). */
const MAX_CHIPS = 3;

/** The label filter's buttons: the taxonomy's classes and "motion only" (`none`). */
const LABEL_BUTTONS = [
  ['person', 'People'],
  ['animal', 'Animals'],
  ['vehicle', 'Vehicles'],
  ['other', 'Other'],
  ['none', 'Motion only'],
];

/** Buttons that filter by label, each with its count under the other filters; the active one again clears it. */
function LabelFilter({ counts, active, onPick }) {
  const countOf = (label) => (counts.find((c) => c.label === label) || { count: 0 }).count;
  return html`<div id="label-filter" class="label-filter" role="group" aria-label="show only events with">
    <button type="button" class="chip" data-label="" aria-pressed=${active ? 'false' : 'true'} onClick=${() => onPick('')}>All</button>
    ${LABEL_BUTTONS.map(
      ([label, text]) => html`<button key=${label} type="button" class=${`chip chip-${label}`} data-label=${label} aria-pressed=${active === label ? 'true' : 'false'} onClick=${() => onPick(active === label ? '' : label)}>
        ${text} <span class="count">${countOf(label)}</span>
      </button>`,
    )}
  </div>`;
}

function EventCard({ event, onOpen }) {
  const labels = (event.labels || []).slice(0, MAX_CHIPS);
  const said = labels.length ? `, ${labels.map((l) => l.subLabel).join(', ')}` : Array.isArray(event.labels) ? ', motion only' : '';
  // The strongest label on the picture itself: what moved, at a glance on a phone.
  const badge = labels.length ? labels[0].subLabel : Array.isArray(event.labels) && event.kind === 'motion' ? 'motion only' : null;
  return html`<button type="button" class=${`event${event.reviewed ? '' : ' unreviewed'}`} data-id=${event.id} onClick=${() => onOpen(event)} aria-label=${`${event.kind} at ${new Date(event.startedAt).toLocaleString()}${said}${event.reviewed ? '' : ', not reviewed'}`}>
    <span class="thumb">
      <img loading="lazy" alt="" width="160" height="90" src=${event.urls.thumbnail || undefined} />
      ${badge ? html`<span class=${`thumb-label${labels.length ? ` label-${labels[0].label}` : ' motion-only'}`} aria-hidden="true">${badge}</span>` : null}
    </span>
    <span class="event-meta">
      <strong>${new Date(event.startedAt).toLocaleTimeString()}</strong>
      <span>${event.kind}${event.kind === 'photo' ? '' : ` · ${event.durationS.toFixed(1)} s`}${event.peakScore !== null ? ` · peak ${event.peakScore.toFixed(1)}` : ''}</span>
      ${labels.length ? html`<span class="chips">${labels.map((l) => html`<span key=${l.subLabel} class=${`chip chip-${l.label}`} title=${`${l.label}, ${Math.round(l.confidence * 100)} %`}>${l.subLabel}</span>`)}</span>` : null}
      <span class="star" title=${event.offloaded ? 'uploaded; the clip is no longer on this device' : ''}>${event.favorite ? '★' : ''}${UPLOAD_BADGES[event.uploadState] || ''}</span>
    </span>
    ${event.reviewed ? null : html`<i class="new-dot" aria-hidden="true"></i>`}
  </button>`;
}

/** The events view. */
export function GalleryView({ state, gallery, act }) {
  const g = state.gallery;
  const sentinel = useRef(null);
  useEffect(() => {
    gallery.reload();
  }, []);
  useEffect(() => {
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) gallery.loadMore();
    });
    observer.observe(sentinel.current);
    return () => observer.disconnect();
  }, []);
  const cameras = (state.status && state.status.cameras) || [];
  // The label filter shows where labels are on, or where some recording has them already.
  const labelsShown = Boolean((state.status && state.status.labels && state.status.labels.enabled) || g.labelCounts.some((c) => c.count > 0));
  const groups = [];
  for (const event of g.items) {
    const last = groups[groups.length - 1];
    if (last && last.day === event.day) last.items.push(event);
    else groups.push({ day: event.day, items: [event] });
  }
  const open = (event) => act(() => gallery.open(event));
  const openById = (id, offsetMs) => act(() => gallery.openById(id, offsetMs));
  return html`<section id="gallery-view" class="view" aria-label="events">
    <div class="card filters">
      <label>Day <select id="filter-day" value=${g.filters.day} onChange=${(e) => gallery.setFilter('day', e.currentTarget.value)}>
        <option value="">all days</option>
        ${g.days.map((d) => html`<option key=${d.day} value=${d.day}>${d.day} (${d.count})</option>`)}
      </select></label>
      <label>Kind <select id="filter-kind" value=${g.filters.kind} onChange=${(e) => gallery.setFilter('kind', e.currentTarget.value)}>
        ${KINDS.map(([value, label]) => html`<option key=${value} value=${value}>${label}</option>`)}
      </select></label>
      ${cameras.length > 1
        ? html`<label>Camera <select id="filter-camera" value=${g.filters.camera} onChange=${(e) => gallery.setFilter('camera', e.currentTarget.value)}>
            <option value="">all cameras</option>
            ${cameras.map((c) => html`<option key=${c.id} value=${c.id}>${c.id}</option>`)}
          </select></label>`
        : null}
      <label class="check"><input id="filter-favorite" type="checkbox" checked=${g.filters.favorite} onChange=${(e) => gallery.setFilter('favorite', e.currentTarget.checked)} /> favourites only</label>
      <label class="check"><input id="filter-unreviewed" type="checkbox" checked=${g.filters.unreviewed} onChange=${(e) => gallery.setFilter('unreviewed', e.currentTarget.checked)} /> unreviewed only</label>
      ${labelsShown
        ? html`<label class="check"><input id="filter-motion-only" type="checkbox" checked=${hidesMotionOnly(g.filters, g.hideUnlabelledDefault)} onChange=${(e) => gallery.setMotionOnlyHidden(e.currentTarget.checked)} /> hide "motion only"</label>`
        : null}
      <button id="mark-all-reviewed" type="button" disabled=${!state.unreviewed} onClick=${() => act(() => gallery.markAllReviewed())}>
        Mark all reviewed${state.unreviewed ? ` (${state.unreviewed})` : ''}
      </button>
      ${labelsShown ? html`<${LabelFilter} counts=${g.labelCounts} active=${g.filters.label} onPick=${(label) => gallery.setFilter('label', label)} />` : null}
    </div>
    <div id="gallery">
      ${groups.map(
        (group) => html`<div key=${group.day} class="day-group">
          <h3 class="day">${dayTitle(group.day)}</h3>
          <${Timeline} day=${group.day} camera=${g.filters.camera} version=${g.timelineVersion} onOpen=${openById} />
          <div class="cards">${group.items.map((event) => html`<${EventCard} key=${event.id} event=${event} onOpen=${open} />`)}</div>
        </div>`,
      )}
    </div>
    <p id="gallery-end" class="muted small">${g.error ? g.error : g.done ? (g.items.length ? 'No more events.' : 'No events yet.') : ''}</p>
    <div ref=${sentinel} id="gallery-sentinel"></div>
  </section>`;
}
