// The page's own pinch-zoom and pan for a picture (the live view, the player's video): two
// pointers scale around their midpoint, one pointer pans while zoomed, a double tap (or double
// click) resets, Ctrl + wheel (a laptop's pinch) zooms around the pointer. The scale stays in
// [MIN_SCALE, MAX_SCALE] and the picture always covers its frame. The surface has
// `touch-action: none`, so the browser's page zoom never takes these gestures.
import { useEffect } from '../lib.js';

export const MIN_SCALE = 1;
export const MAX_SCALE = 6;
/** Two taps this close in time and space are a double tap. */
const DOUBLE_TAP_MS = 300;
const DOUBLE_TAP_PX = 30;
/** A pointer that moved less than this was a tap. */
const TAP_SLOP_PX = 10;

/** The identity view: scale 1, no offset. */
export const IDENTITY = Object.freeze({ scale: 1, x: 0, y: 0 });

/** Keeps the offset so the scaled picture covers a `width` x `height` frame. Pure. */
export function clampView(view, width, height) {
  const scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, view.scale));
  const clamp = (v, size) => Math.min(0, Math.max(size - size * scale, v));
  return { scale, x: clamp(view.x, width), y: clamp(view.y, height) };
}

/** The view after scaling by `factor` around the frame point (`px`, `py`), which stays put. Pure. */
export function zoomAround(view, factor, px, py, width, height) {
  const scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, view.scale * factor));
  const k = scale / view.scale;
  return clampView({ scale, x: px - k * (px - view.x), y: py - k * (py - view.y) }, width, height);
}

/** The view moved by (`dx`, `dy`) pixels. Pure. */
export function panBy(view, dx, dy, width, height) {
  return clampView({ scale: view.scale, x: view.x + dx, y: view.y + dy }, width, height);
}

/**
 * Pinch-zoom and pan on `surfaceRef` (the frame that receives the gestures), applied as a CSS
 * transform to `targetRef` (the picture). `resetKey` resets the view when it changes (another
 * clip). The surface carries `data-zoom` (the scale) for styles, tests and the swipe handler.
 */
export function usePinchZoom(surfaceRef, targetRef, resetKey) {
  useEffect(() => {
    const surface = surfaceRef.current;
    const target = targetRef.current;
    if (!surface || !target) return undefined;
    let view = IDENTITY;
    const pointers = new Map();
    let gesture = null;
    let lastTap = null;
    const size = () => ({ width: surface.clientWidth, height: surface.clientHeight });
    const apply = (next) => {
      view = next;
      target.style.transformOrigin = '0 0';
      target.style.transform = view.scale === 1 ? '' : `translate(${view.x}px, ${view.y}px) scale(${view.scale})`;
      surface.dataset.zoom = String(Math.round(view.scale * 1000) / 1000);
    };
    const local = (p) => {
      const box = surface.getBoundingClientRect();
      return { x: p.x - box.left, y: p.y - box.top };
    };
    const pair = () => {
      const [a, b] = [...pointers.values()];
      return { mid: local({ x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 }), dist: Math.hypot(a.x - b.x, a.y - b.y) };
    };
    // Capturing a pointer makes its click land on the surface: only a gesture under way captures,
    // so taps still reach the buttons on the picture and the video's own controls.
    const capture = (e) => {
      if (!surface.hasPointerCapture(e.pointerId)) surface.setPointerCapture(e.pointerId);
    };
    const down = (e) => {
      if (e.pointerType === 'mouse' && e.button !== 0) return;
      if (e.target instanceof Element && e.target.closest('button, a, input, select, textarea')) return;
      pointers.set(e.pointerId, { x: e.clientX, y: e.clientY, startX: e.clientX, startY: e.clientY });
      if (pointers.size === 2) gesture = { type: 'pinch', ...pair() };
      else if (pointers.size === 1) gesture = { type: 'pan', moved: false };
    };
    const move = (e) => {
      const p = pointers.get(e.pointerId);
      if (!p) return;
      const dx = e.clientX - p.x;
      const dy = e.clientY - p.y;
      p.x = e.clientX;
      p.y = e.clientY;
      const { width, height } = size();
      if (gesture && gesture.type === 'pinch' && pointers.size >= 2) {
        const now = pair();
        let next = gesture.dist > 0 ? zoomAround(view, now.dist / gesture.dist, gesture.mid.x, gesture.mid.y, width, height) : view;
        next = panBy(next, now.mid.x - gesture.mid.x, now.mid.y - gesture.mid.y, width, height);
        gesture = { type: 'pinch', ...now };
        capture(e);
        apply(next);
      } else if (gesture && gesture.type === 'pan' && view.scale > 1) {
        gesture.moved = true;
        capture(e);
        e.preventDefault();
        apply(panBy(view, dx, dy, width, height));
      }
      if (Math.hypot(e.clientX - p.startX, e.clientY - p.startY) > TAP_SLOP_PX && gesture) gesture.moved = true;
    };
    const up = (e) => {
      const p = pointers.get(e.pointerId);
      if (!p) return;
      pointers.delete(e.pointerId);
      const tap = gesture && gesture.type === 'pan' && !gesture.moved && e.type === 'pointerup';
      if (pointers.size === 1) {
        const [rest] = pointers.values();
        rest.startX = rest.x;
        rest.startY = rest.y;
        // The pinch ended with one finger down: it goes on as a pan, not as a tap.
        gesture = { type: 'pan', moved: true };
      } else if (pointers.size === 0) gesture = null;
      if (!tap) return;
      const at = performance.now();
      if (lastTap && at - lastTap.at < DOUBLE_TAP_MS && Math.hypot(e.clientX - lastTap.x, e.clientY - lastTap.y) < DOUBLE_TAP_PX) {
        lastTap = null;
        apply(IDENTITY);
      } else lastTap = { at, x: e.clientX, y: e.clientY };
    };
    const wheel = (e) => {
      if (!e.ctrlKey) return;
      e.preventDefault();
      const { width, height } = size();
      const at = local({ x: e.clientX, y: e.clientY });
      apply(zoomAround(view, Math.exp(-e.deltaY / 200), at.x, at.y, width, height));
    };
    const dblclick = (e) => {
      if (view.scale === 1) return;
      e.preventDefault();
      apply(IDENTITY);
    };
    apply(IDENTITY);
    surface.addEventListener('pointerdown', down);
    surface.addEventListener('pointermove', move);
    surface.addEventListener('pointerup', up);
    surface.addEventListener('pointercancel', up);
    surface.addEventListener('wheel', wheel, { passive: false });
    surface.addEventListener('dblclick', dblclick);
    return () => {
      surface.removeEventListener('pointerdown', down);
      surface.removeEventListener('pointermove', move);
      surface.removeEventListener('pointerup', up);
      surface.removeEventListener('pointercancel', up);
      surface.removeEventListener('wheel', wheel);
      surface.removeEventListener('dblclick', dblclick);
      target.style.transform = '';
      delete surface.dataset.zoom;
    };
  }, [resetKey]);
}
