// The gallery's actions over the store: paging, filters, live arrival, reviewed state, and
// delete with undo. The views only render `state.gallery` and call these.
import { api } from './api.js';
import { saveSetting } from './store.js';

const PAGE = 30;
/** How long a delete can be undone before it is sent. */
export const UNDO_MS = 6000;

/** True when "motion only" events are hidden: the remembered choice, else the server's default. Pure. */
export function hidesMotionOnly(filters, hideDefault) {
  return filters.unlabelled ? filters.unlabelled === 'hide' : Boolean(hideDefault);
}

/** True when a recording matches the gallery's filters (for live arrival and label updates). Pure. */
export function matchesFilters(event, filters, hideDefault = false) {
  const motionOnly = Array.isArray(event.labels) && event.labels.length === 0;
  if (filters.label === 'none' && !motionOnly) return false;
  if (filters.label && filters.label !== 'none' && !(event.labels || []).some((l) => l.label === filters.label || l.subLabel === filters.label)) return false;
  if (!filters.label && motionOnly && hidesMotionOnly(filters, hideDefault)) return false;
  if (filters.kind && !filters.kind.split(',').includes(event.kind)) return false;
  if (filters.day && filters.day !== event.day) return false;
  if (filters.camera && filters.camera !== event.camera) return false;
  if (filters.favorite && !event.favorite) return false;
  if (filters.unreviewed && event.reviewed) return false;
  return true;
}

function query(filters, cursor) {
  const params = new URLSearchParams({ limit: String(PAGE) });
  if (filters.day) params.set('day', filters.day);
  if (filters.kind) params.set('kind', filters.kind);
  if (filters.favorite) params.set('favorite', 'true');
  if (filters.unreviewed) params.set('reviewed', 'false');
  if (filters.camera) params.set('camera', filters.camera);
  if (filters.label) params.set('label', filters.label);
  if (filters.unlabelled) params.set('unlabelled', filters.unlabelled);
  if (cursor) params.set('cursor', cursor);
  return params;
}

/** The filters the label counts follow (not the label itself: every button shows its own count). */
function countQuery(filters) {
  const params = new URLSearchParams();
  if (filters.day) params.set('day', filters.day);
  if (filters.kind) params.set('kind', filters.kind);
  if (filters.favorite) params.set('favorite', 'true');
  if (filters.camera) params.set('camera', filters.camera);
  return params;
}

/** The gallery's actions. */
export function createGallery(store) {
  const patch = (fn) => store.set((s) => ({ gallery: { ...s.gallery, ...fn(s.gallery) } }));
  const toast = (text, extra = {}) => store.set({ toast: { text, at: Date.now(), ...extra } });

  const refreshCounts = async () => {
    try {
      const filters = store.get().gallery.filters;
      const [{ days }, { unreviewed }, labels] = await Promise.all([api('GET', '/api/days'), api('GET', '/api/review'), api('GET', `/api/labels?${countQuery(filters)}`)]);
      patch(() => ({ days, labelCounts: labels.labels, hideUnlabelledDefault: labels.hideUnlabelled }));
      store.set({ unreviewed });
      if (navigator.setAppBadge) navigator.setAppBadge(unreviewed).catch((error) => console.debug('no app badge', error.message));
    } catch (error) {
      if (error.status !== 401) console.warn('counts unavailable', error);
    }
  };

  const loadMore = async () => {
    const g = store.get().gallery;
    if (g.loading || g.done) return;
    const generation = g.generation;
    patch(() => ({ loading: true }));
    try {
      const page = await api('GET', `/api/events?${query(g.filters, g.cursor)}`);
      if (store.get().gallery.generation !== generation) return;
      const pending = store.get().pendingDelete;
      patch((cur) => {
        const known = new Set(cur.items.map((e) => e.id));
        const fresh = page.items.filter((e) => !known.has(e.id) && (!pending || pending.event.id !== e.id));
        return { items: cur.items.concat(fresh), cursor: page.nextCursor, done: !page.nextCursor, loading: false, error: null };
      });
    } catch (error) {
      patch(() => ({ loading: false, error: error.message }));
    }
  };

  const reload = async () => {
    patch((g) => ({ items: [], cursor: null, done: false, loading: false, error: null, generation: g.generation + 1, timelineVersion: g.timelineVersion + 1 }));
    refreshCounts();
    await loadMore();
  };

  const replaceItem = (event) => {
    patch((g) => ({ items: g.items.map((e) => (e.id === event.id ? event : e)) }));
    const open = store.get().openEvent;
    if (open && open.id === event.id) store.set({ openEvent: event });
  };

  const setReviewed = async (event, reviewed) => {
    const updated = await api('PUT', `/api/events/${encodeURIComponent(event.id)}/reviewed`, { reviewed });
    replaceItem(updated);
    refreshCounts();
    return updated;
  };

  const commitDelete = async (pending) => {
    clearTimeout(pending.timer);
    try {
      await api('DELETE', `/api/events/${encodeURIComponent(pending.event.id)}`);
    } catch (error) {
      if (error.status !== 404) {
        toast(`Not deleted: ${error.message}`, { error: true });
        insert(pending.event);
      }
    }
    patch((g) => ({ timelineVersion: g.timelineVersion + 1 }));
    refreshCounts();
  };

  const insert = (event) => {
    patch((g) => {
      if (g.items.some((e) => e.id === event.id)) return {};
      const items = g.items.concat(event).sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : a.id < b.id ? 1 : -1));
      return { items };
    });
  };

  return {
    reload,
    loadMore,
    refreshCounts,
    setReviewed,
    setFilter(key, value) {
      patch((g) => ({ filters: { ...g.filters, [key]: value } }));
      reload();
    },
    /** Hides or shows the "motion only" events (remembered in this browser). */
    setMotionOnlyHidden(hidden) {
      const value = hidden ? 'hide' : 'show';
      saveSetting(localStorage, 'motionOnly', value);
      this.setFilter('unlabelled', value);
    },
    /** An event's final labels from the WebSocket: its card shows them, or leaves when the filters no longer match. */
    labelled(event) {
      const g = store.get().gallery;
      const shown = g.items.some((e) => e.id === event.id);
      if (shown && !matchesFilters(event, g.filters, g.hideUnlabelledDefault)) patch((cur) => ({ items: cur.items.filter((e) => e.id !== event.id) }));
      else if (shown) replaceItem(event);
      else if (matchesFilters(event, g.filters, g.hideUnlabelledDefault) && g.filters.label) insert(event);
      const open = store.get().openEvent;
      if (open && open.id === event.id) store.set({ openEvent: event });
      refreshCounts();
    },
    /** A new recording from the WebSocket: it joins the list (if it matches) and the counts. */
    arrived(event) {
      const g = store.get().gallery;
      if (matchesFilters(event, g.filters, g.hideUnlabelledDefault) && (g.generation > 0 || g.items.length)) insert(event);
      patch((cur) => ({ timelineVersion: cur.timelineVersion + 1 }));
      refreshCounts();
    },
    async markAllReviewed() {
      const result = await api('POST', '/api/events/reviewed');
      patch((g) => ({ items: g.items.map((e) => ({ ...e, reviewed: true })) }));
      const open = store.get().openEvent;
      if (open) store.set({ openEvent: { ...open, reviewed: true } });
      toast(`${result.marked} marked reviewed.`);
      refreshCounts();
    },
    async toggleFavorite(event) {
      replaceItem(await api('PATCH', `/api/events/${encodeURIComponent(event.id)}`, { favorite: !event.favorite }));
    },
    async upload(event) {
      replaceItem(await api('POST', `/api/events/${encodeURIComponent(event.id)}/upload`));
    },
    /** Opens an event in the player (at `offsetMs` into the clip) and marks it reviewed. */
    async open(event, offsetMs = 0) {
      store.set({ openEvent: event, openAtMs: offsetMs });
      if (!event.reviewed) await setReviewed(event, true);
    },
    async openById(id, offsetMs = 0) {
      await this.open(await api('GET', `/api/events/${encodeURIComponent(id)}`), offsetMs);
    },
    /** Removes the event from the page now and from the recorder after the undo window. */
    remove(event) {
      const previous = store.get().pendingDelete;
      if (previous) commitDelete(previous);
      const pending = { event, timer: null };
      pending.timer = setTimeout(() => {
        if (store.get().pendingDelete === pending) store.set({ pendingDelete: null, toast: null });
        commitDelete(pending);
      }, UNDO_MS);
      patch((g) => ({ items: g.items.filter((e) => e.id !== event.id) }));
      store.set({ pendingDelete: pending, toast: { text: `Deleted the ${event.kind} of ${new Date(event.startedAt).toLocaleTimeString()}.`, undo: true, at: Date.now() } });
    },
    undo() {
      const pending = store.get().pendingDelete;
      if (!pending) return;
      clearTimeout(pending.timer);
      insert(pending.event);
      store.set({ pendingDelete: null, toast: { text: 'Restored.', at: Date.now() } });
    },
    /** Sends a waiting delete now (the page is closing). */
    flush() {
      const pending = store.get().pendingDelete;
      if (!pending) return;
      clearTimeout(pending.timer);
      store.set({ pendingDelete: null });
      fetch(`/api/events/${encodeURIComponent(pending.event.id)}`, { method: 'DELETE', keepalive: true });
    },
  };
}
