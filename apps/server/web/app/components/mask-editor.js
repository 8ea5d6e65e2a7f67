// The mask and zone editor: polygons drawn over the live picture with pointer events (mouse,
// touch and pen alike). Points are fractions of the picture (0..1), as the configuration keeps
// them (points within 2 % of the border snap onto it). Tap or click to add points; tap the first point (or "Finish") to close the polygon;
// drag a polygon to move it, a corner to reshape it; "Delete" removes the selected one.
import { html, useRef, useState } from '../lib.js';

const CLOSE_DISTANCE = 0.04;
const MAX_POLYGONS = 32;
const MAX_POINTS = 64;

const SNAP = 0.02;
const clamp = (v) => Math.min(1, Math.max(0, v));
// A point near the border goes onto it: a finger cannot hit the picture's last pixel, and a
// mask that stops short of the edge lets motion entering the picture through.
const snap = (v) => (v < SNAP ? 0 : v > 1 - SNAP ? 1 : v);
const round = (v) => Math.round(v * 10000) / 10000;

/** Where a pointer event falls on the picture, in fractions. */
function pointOf(svg, event) {
  const box = svg.getBoundingClientRect();
  return [round(snap(clamp((event.clientX - box.left) / box.width))), round(snap(clamp((event.clientY - box.top) / box.height)))];
}

/**
 * The editor. `polygons` is the list shown; every change is handed to `onChange(next)`, the
 * caller keeps the state (and previews it live).
 */
export function MaskEditor({ src, polygons, onChange, disabled }) {
  const svg = useRef(null);
  const [mode, setMode] = useState('select');
  const [kind, setKind] = useState('exclude');
  const [draft, setDraft] = useState([]);
  const [selected, setSelected] = useState(-1);
  const drag = useRef(null);

  const finish = () => {
    if (draft.length >= 3 && polygons.length < MAX_POLYGONS) {
      onChange([...polygons, { kind, points: draft }]);
      setSelected(polygons.length);
    }
    setDraft([]);
    setMode('select');
  };

  const onDown = (event) => {
    if (disabled) return;
    event.preventDefault();
    const point = pointOf(svg.current, event);
    if (mode === 'draw') {
      const first = draft[0];
      if (first && draft.length >= 3 && Math.hypot(point[0] - first[0], point[1] - first[1]) < CLOSE_DISTANCE) return finish();
      if (draft.length < MAX_POINTS) setDraft([...draft, point]);
      return undefined;
    }
    const target = event.target;
    const index = Number(target.dataset.polygon);
    if (!Number.isInteger(index)) {
      setSelected(-1);
      return undefined;
    }
    setSelected(index);
    const vertex = target.dataset.vertex === undefined ? null : Number(target.dataset.vertex);
    drag.current = { index, vertex, from: point, points: polygons[index].points };
    svg.current.setPointerCapture(event.pointerId);
    return undefined;
  };

  const onMove = (event) => {
    const d = drag.current;
    if (!d) return;
    const [x, y] = pointOf(svg.current, event);
    const dx = x - d.from[0];
    const dy = y - d.from[1];
    const points = d.vertex === null ? d.points.map(([px, py]) => [round(clamp(px + dx)), round(clamp(py + dy))]) : d.points.map((p, i) => (i === d.vertex ? [x, y] : p));
    onChange(polygons.map((p, i) => (i === d.index ? { ...p, points } : p)));
  };

  const onUp = () => {
    drag.current = null;
  };

  const remove = () => {
    if (selected < 0) return;
    onChange(polygons.filter((_, i) => i !== selected));
    setSelected(-1);
  };

  const pts = (points) => points.map(([x, y]) => `${x},${y}`).join(' ');
  return html`<div class="mask-editor">
    <div class="mask-stage">
      <img id="mask-picture" src=${src} alt="live picture" />
      <svg id="mask-svg" ref=${svg} viewBox="0 0 1 1" preserveAspectRatio="none" class=${`mask-svg ${mode}`}
        onPointerDown=${onDown} onPointerMove=${onMove} onPointerUp=${onUp} onPointerCancel=${onUp}>
        ${polygons.map((p, i) => html`<g key=${i}>
          <polygon class=${`mask-poly ${p.kind}${i === selected ? ' selected' : ''}`} data-polygon=${i} points=${pts(p.points)} />
          ${i === selected ? p.points.map(([x, y], v) => html`<circle class="mask-handle" data-polygon=${i} data-vertex=${v} cx=${x} cy=${y} r="0.015" />`) : null}
        </g>`)}
        ${draft.length ? html`<polyline class="mask-draft" points=${pts(draft)} />` : null}
        ${draft.map(([x, y], v) => html`<circle class=${`mask-handle draft${v === 0 ? ' first' : ''}`} cx=${x} cy=${y} r="0.012" />`)}
      </svg>
    </div>
    <div class="mask-tools">
      <select id="mask-kind" aria-label="kind of the next polygon" value=${kind} onChange=${(e) => setKind(e.currentTarget.value)}>
        <option value="exclude">Mask (ignore motion here)</option>
        <option value="include">Zone (only here)</option>
      </select>
      ${mode === 'draw'
        ? html`<button id="mask-finish" type="button" disabled=${draft.length < 3} onClick=${finish}>Finish (${draft.length} points)</button>
            <button type="button" onClick=${() => { setDraft([]); setMode('select'); }}>Stop drawing</button>`
        : html`<button id="mask-draw" type="button" disabled=${disabled || polygons.length >= MAX_POLYGONS} onClick=${() => { setSelected(-1); setMode('draw'); }}>Draw a polygon</button>`}
      <button id="mask-delete" type="button" disabled=${selected < 0} onClick=${remove}>Delete selected</button>
    </div>
  </div>`;
}
