// The page's state in one place. Views render from it; actions change it with `set`.

/**
 * A small store: `get()` the current state, `set(patch | state => patch)` merges a shallow
 * patch and notifies, `subscribe(listener)` returns the unsubscribe function.
 */
export function createStore(initial) {
  let state = initial;
  const listeners = new Set();
  return {
    get: () => state,
    set(patch) {
      const next = typeof patch === 'function' ? patch(state) : patch;
      if (!next) return;
      state = { ...state, ...next };
      for (const listener of listeners) listener(state);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** Live qualities: what each costs is measured while it plays and remembered per browser. */
export const QUALITIES = [
  { id: 'saver', label: 'Data saver', detail: '1 picture/s' },
  { id: 'video', label: 'Video', detail: 'H.264' },
  { id: 'jpeg', label: 'Pictures', detail: 'JPEG, full rate' },
];

function readSetting(storage, key, fallback) {
  try {
    const value = storage.getItem(`preroll.${key}`);
    return value === null ? fallback : JSON.parse(value);
  } catch (error) {
    console.warn(`setting ${key} unreadable`, error);
    return fallback;
  }
}

/** Remembers a setting in this browser. */
export function saveSetting(storage, key, value) {
  try {
    storage.setItem(`preroll.${key}`, JSON.stringify(value));
  } catch (error) {
    console.warn(`setting ${key} not saved`, error);
  }
}

/** The state the page starts with (settings from this browser's storage). */
export function initialState(storage) {
  const quality = readSetting(storage, 'quality', 'video');
  return {
    view: 'live',
    /** `connecting` until the WebSocket opens; `lost` (with `since`, ms) while it is down. */
    connection: { state: 'connecting', since: null },
    status: null,
    /** [tMs, score] of the last minute (tMs on the camera's clock). */
    scores: [],
    camera: null,
    quality: QUALITIES.some((q) => q.id === quality) ? quality : 'video',
    /** What the live picture really is: `video`, `jpeg` (with `reason` when it fell back) and bytes/s measured. */
    live: { mode: null, reason: null, bytesPerS: null, behindS: null, videoPlaying: false },
    /** Bytes per second measured per quality (remembered: the quality choice shows MB per hour). */
    rates: readSetting(storage, 'rates', {}),
    showBoxes: readSetting(storage, 'showBoxes', true),
    unreviewed: null,
    toast: null,
    gallery: {
      items: [],
      cursor: null,
      done: false,
      loading: false,
      error: null,
      generation: 0,
      days: [],
      /** Bumped when recordings come or go: the day timelines reload. */
      timelineVersion: 0,
      /**
       * `label`: a label to list only (`none`: "motion only"). `unlabelled`: `hide` or `show` the
       * "motion only" events (remembered in this browser); empty: the server's default.
       */
      filters: { day: '', kind: 'motion,manual,memory,photo', camera: '', favorite: false, unreviewed: false, label: '', unlabelled: readSetting(storage, 'motionOnly', '') },
      /** Recordings per label under the filters (`GET /api/labels`), and the server's default for hiding "motion only". */
      labelCounts: [],
      hideUnlabelledDefault: false,
    },
    /** The event open in the player (an API event), or null. */
    openEvent: null,
    /** Where the player starts in the open clip (a click on a continuous segment of the timeline). */
    openAtMs: 0,
    /** The delete waiting for its undo window to pass. */
    pendingDelete: null,
  };
}
