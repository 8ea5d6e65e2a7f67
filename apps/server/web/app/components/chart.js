// The motion score chart: scaled around the trigger level (peaks above the top are clipped and
// marked), labelled axes, greyed while detection is off, and for an event a playhead that a
// click or tap moves (seek).
import { html, useEffect, useRef } from '../lib.js';
import { formatLevel } from '../format.js';

const PAD = { left: 38, right: 8, top: 8, bottom: 18 };

/** The top of the y axis: twice the trigger level, so noise and the line are readable; peaks clip. Pure. */
export function chartTop(level, points, autoLevel = null) {
  const reference = Math.max(typeof level === 'number' ? level : 0, typeof autoLevel === 'number' ? autoLevel : 0);
  if (reference > 0) return reference * 2;
  return Math.max(1, ...points.map((p) => p[1]));
}

function draw(canvas, { points, level, spanMs, greyed, playheadMs, startMs, endMs, marks, trigger }) {
  const ratio = window.devicePixelRatio || 1;
  const cssWidth = canvas.clientWidth || 600;
  const cssHeight = canvas.clientHeight || 160;
  if (canvas.width !== Math.round(cssWidth * ratio)) canvas.width = Math.round(cssWidth * ratio);
  if (canvas.height !== Math.round(cssHeight * ratio)) canvas.height = Math.round(cssHeight * ratio);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, cssWidth, cssHeight);
  const w = cssWidth - PAD.left - PAD.right;
  const h = cssHeight - PAD.top - PAD.bottom;
  const newest = points.length ? points[points.length - 1][0] : 0;
  const x0 = startMs ?? (spanMs ? newest - spanMs : points.length ? points[0][0] : 0);
  const x1 = endMs ?? (spanMs ? newest : points.length ? points[points.length - 1][0] : 1);
  const span = Math.max(1, x1 - x0);
  const auto = trigger && trigger.mode === 'auto' && typeof trigger.autoLevel === 'number' ? trigger.autoLevel : null;
  const top = chartTop(level, points, auto);
  const x = (t) => PAD.left + ((t - x0) / span) * w;
  const y = (v) => PAD.top + h - (Math.min(Math.max(v, 0), top) / top) * h;

  ctx.globalAlpha = greyed ? 0.35 : 1;
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#93a39a';
  ctx.strokeStyle = '#2a372f';
  ctx.lineWidth = 1;
  // y axis: 0, the trigger level and the top.
  for (const v of [0, level, top]) {
    if (typeof v !== 'number') continue;
    ctx.beginPath();
    ctx.moveTo(PAD.left, y(v) + 0.5);
    ctx.lineTo(PAD.left + w, y(v) + 0.5);
    ctx.stroke();
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    ctx.fillText(formatLevel(v), PAD.left - 4, y(v));
  }
  // x axis: seconds.
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  const ticks = spanMs ? [0, 0.5, 1].map((f) => [x0 + f * span, f === 1 ? 'now' : `−${Math.round(((1 - f) * span) / 1000)} s`]) : [0, 0.25, 0.5, 0.75, 1].map((f) => [x0 + f * span, `${((f * span) / 1000).toFixed(f === 0 ? 0 : 1)} s`]);
  for (const [t, label] of ticks) {
    ctx.textAlign = t === x0 ? 'left' : t === x1 ? 'right' : 'center';
    ctx.fillText(label, x(t), PAD.top + h + 4);
  }
  // Pre-roll and trigger marks of an event.
  for (const mark of marks || []) {
    if (mark.type === 'break') {
      // A camera restart: the time without picture in red, or a red line where the clip ends.
      ctx.fillStyle = 'rgba(226, 75, 74, .25)';
      ctx.strokeStyle = '#e24b4a';
      if (mark.gapMs) ctx.fillRect(x(mark.atMs), PAD.top, Math.max(2, x(mark.atMs + mark.gapMs) - x(mark.atMs)), h);
      ctx.beginPath();
      ctx.moveTo(x(mark.atMs) + 0.5, PAD.top);
      ctx.lineTo(x(mark.atMs) + 0.5, PAD.top + h);
      ctx.stroke();
    } else if (mark.type === 'span') {
      ctx.fillStyle = 'rgba(63, 163, 107, .12)';
      ctx.fillRect(x(mark.fromMs), PAD.top, x(mark.toMs) - x(mark.fromMs), h);
    } else {
      ctx.strokeStyle = '#f5c451';
      ctx.setLineDash([3, 3]);
      ctx.beginPath();
      ctx.moveTo(x(mark.atMs) + 0.5, PAD.top);
      ctx.lineTo(x(mark.atMs) + 0.5, PAD.top + h);
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }
  // The scores; a point above the top is drawn at the top with a red tick.
  ctx.strokeStyle = '#3fa36b';
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  points.forEach(([t, v], i) => {
    if (i === 0) ctx.moveTo(x(t), y(v));
    else ctx.lineTo(x(t), y(v));
  });
  ctx.stroke();
  ctx.fillStyle = '#ff8a8d';
  for (const [t, v] of points) if (v > top) ctx.fillRect(x(t) - 1, PAD.top - 4, 3, 5);
  if (typeof level === 'number') {
    ctx.strokeStyle = '#e5484d';
    ctx.setLineDash([6, 4]);
    ctx.beginPath();
    ctx.moveTo(PAD.left, y(level));
    ctx.lineTo(PAD.left + w, y(level));
    ctx.stroke();
    ctx.setLineDash([]);
  }
  if (auto !== null) {
    // The auto level the detector follows (grey, dotted), labelled with the user's offset over it.
    ctx.strokeStyle = '#8b8d98';
    ctx.setLineDash([2, 3]);
    ctx.beginPath();
    ctx.moveTo(PAD.left, y(auto));
    ctx.lineTo(PAD.left + w, y(auto));
    ctx.stroke();
    ctx.setLineDash([]);
    const offset = trigger.offset ? ` ${trigger.offset > 0 ? '+' : '−'}${Math.abs(trigger.offset)} step${Math.abs(trigger.offset) === 1 ? '' : 's'}` : '';
    ctx.fillStyle = '#b5b7c0';
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    ctx.fillText(`auto ${formatLevel(auto)}${offset}${trigger.profile === 'night' ? ' · night' : ''}`, PAD.left + 4, PAD.top + 2);
  }
  ctx.globalAlpha = 1;
  if (greyed) {
    ctx.fillStyle = '#e4ece6';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.font = '13px system-ui, sans-serif';
    ctx.fillText('motion detection is off', PAD.left + w / 2, PAD.top + h / 2);
  }
  if (typeof playheadMs === 'number') {
    ctx.strokeStyle = '#ffffff';
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(x(playheadMs), PAD.top);
    ctx.lineTo(x(playheadMs), PAD.top + h);
    ctx.stroke();
  }
  return { x0, span, w };
}

/**
 * A score chart. Live: `spanMs` (the last minute). Event: `startMs`/`endMs` (clip time),
 * `playheadMs`, `marks` and `onSeek(tMs)` for a click on the chart.
 */
export function ScoreChart(props) {
  const ref = useRef(null);
  const geometry = useRef(null);
  useEffect(() => {
    if (ref.current) geometry.current = draw(ref.current, props);
  });
  useEffect(() => {
    const canvas = ref.current;
    if (!canvas || typeof ResizeObserver === 'undefined') return undefined;
    const observer = new ResizeObserver(() => {
      geometry.current = draw(canvas, propsRef.current);
    });
    observer.observe(canvas);
    return () => observer.disconnect();
  }, []);
  const propsRef = useRef(props);
  propsRef.current = props;
  const onClick = (event) => {
    if (!props.onSeek || !geometry.current) return;
    const box = ref.current.getBoundingClientRect();
    const { x0, span, w } = geometry.current;
    const f = Math.min(1, Math.max(0, (event.clientX - box.left - PAD.left) / w));
    props.onSeek(x0 + f * span);
  };
  return html`<canvas
    ref=${ref}
    id=${props.id}
    class=${`chart${props.onSeek ? ' seekable' : ''}`}
    role="img"
    aria-label=${`${props.label}${props.greyed ? ' (motion detection is off)' : ''}`}
    data-span-s=${props.points.length > 1 ? Math.round((props.points[props.points.length - 1][0] - props.points[0][0]) / 1000) : 0}
    onClick=${onClick}
  ></canvas>`;
}
