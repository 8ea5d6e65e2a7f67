'use strict';
// Preroll's web page: live view with the motion score, controls, event gallery, system panel.
// Plain browser JavaScript, no build step. Text from the server is set with textContent only.

const $ = (id) => document.getElementById(id);
const state = { status: null, scores: [], ws: null, liveUrl: null, view: 'live', deleteToken: null, armed: {}, camera: null, streamToken: null };

/** The API path of the camera on show: the plain paths serve the first (or only) camera. */
function cameraApi() {
  return state.camera ? `/api/cameras/${encodeURIComponent(state.camera)}` : '/api';
}

// ---------- API ----------
async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    location.href = '/login.html';
    throw new Error('not logged in');
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.message || `${response.status} ${response.statusText}`);
  return data;
}

function say(text, isError = false) {
  const el = $('message');
  el.textContent = text;
  el.className = isError ? 'small error' : 'small';
}

async function act(fn) {
  try {
    await fn();
  } catch (error) {
    say(error.message, true);
  }
}

// ---------- WebSocket: status, scores, live frames ----------
function connect() {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
  ws.binaryType = 'blob';
  state.ws = ws;
  ws.onopen = () => {
    $('conn').textContent = 'connected';
    $('conn').className = 'pill ok';
    setLive(state.view === 'live' && !document.hidden);
  };
  ws.onclose = () => {
    $('conn').textContent = 'reconnecting…';
    $('conn').className = 'pill bad';
    setTimeout(connect, 2000);
  };
  ws.onmessage = (message) => {
    if (typeof message.data !== 'string') {
      showFrame(message.data);
      return;
    }
    const data = JSON.parse(message.data);
    if (data.type === 'status') {
      for (const [t, score] of data.scores) state.scores.push([t, score]);
      const newest = state.scores.length ? state.scores[state.scores.length - 1][0] : 0;
      while (state.scores.length && state.scores[0][0] < newest - 60000) state.scores.shift();
      renderStatus(data.status);
    }
  };
}

function setLive(enabled) {
  const message = state.camera ? { type: 'live', enabled, camera: state.camera } : { type: 'live', enabled };
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
}

// ---------- Cameras ----------
function renderCameras(cameras) {
  const several = cameras.length > 1;
  $('camera-pick').hidden = !several;
  $('tab-cameras').hidden = !several;
  $('filter-camera-label').hidden = !several;
  if (!several) return;
  const select = $('camera-pick');
  const ids = cameras.map((c) => c.id);
  if ([...select.options].map((o) => o.value).join() !== ids.join()) {
    select.replaceChildren(...ids.map((id) => new Option(id, id)));
    $('filter-camera').replaceChildren(new Option('all cameras', ''), ...ids.map((id) => new Option(id, id)));
  }
  select.value = state.camera || ids[0];
  if (state.view === 'cameras') renderCameraGrid(cameras);
}

function chooseCamera(id) {
  if (id === (state.camera || (state.status && state.status.camera))) return;
  state.camera = id;
  state.scores = [];
  setLive(state.view === 'live' && !document.hidden);
  updateStreamLink();
}

function renderCameraGrid(cameras) {
  const grid = $('camera-grid');
  const known = new Map([...grid.children].map((card) => [card.dataset.id, card]));
  for (const camera of cameras) {
    let card = known.get(camera.id);
    if (!card) {
      card = document.createElement('button');
      card.className = 'camera-tile';
      card.dataset.id = camera.id;
      const img = document.createElement('img');
      img.alt = `live view of ${camera.id}`;
      img.src = `/cameras/${encodeURIComponent(camera.id)}/stream.mjpg`;
      const label = document.createElement('span');
      label.className = 'camera-label';
      card.append(img, label);
      card.onclick = () => {
        chooseCamera(camera.id);
        showView('live');
      };
      grid.append(card);
    }
    card.querySelector('.camera-label').textContent = `${camera.id} · ${camera.captureState}${camera.recording ? ' · ● REC' : ''} · score ${camera.score.toFixed(1)} / ${formatLevel(camera.triggerLevel)}`;
  }
}

function updateStreamLink() {
  const path = state.camera ? `/cameras/${encodeURIComponent(state.camera)}/stream.mjpg` : '/stream.mjpg';
  $('stream-link').href = state.streamToken ? `${path}?token=${encodeURIComponent(state.streamToken)}` : path;
  $('stream-link').textContent = new URL($('stream-link').href, location.href).href;
}

function showFrame(blob) {
  const url = URL.createObjectURL(blob);
  const img = $('live');
  const old = state.liveUrl;
  state.liveUrl = url;
  img.onload = () => {
    if (old) URL.revokeObjectURL(old);
  };
  img.src = url;
}

// ---------- Status ----------
function renderStatus(status) {
  state.status = status;
  if (status.cameras) renderCameras(status.cameras);
  $('score').textContent = status.score.toFixed(1);
  $('level').textContent = formatLevel(status.triggerLevel);
  $('score-overlay').textContent = `${status.score.toFixed(1)} / ${formatLevel(status.triggerLevel)}`;
  $('score-overlay').className = status.score > status.triggerLevel && status.motionEnabled ? 'overlay-score hot' : 'overlay-score';
  if (document.activeElement !== $('level-input')) $('level-input').value = String(status.triggerLevel);
  $('motion-toggle').textContent = `Motion detection: ${status.motionEnabled ? 'on' : 'off'}`;
  $('motion-toggle').classList.toggle('off', !status.motionEnabled);
  $('record-toggle').textContent = status.manualRecording ? 'Stop recording' : 'Start recording';
  renderModes(status);
  $('rec').hidden = !status.recording;
  $('reboot').hidden = !status.actions.allowReboot;
  $('exit').hidden = !status.actions.allowExit;
  $('logout').hidden = !status.authRequired;
  const outage = $('outage');
  const down = status.captureState !== 'running';
  outage.hidden = !down;
  if (down) {
    const error = status.captureError ? ` — ${status.captureError.code}: ${status.captureError.message}` : '';
    outage.textContent = `camera ${status.captureState}${error}`;
  }
  drawChart($('chart'), state.scores, status.triggerLevel, 60000, status.trigger);
  if (state.view === 'system') renderSystem(status);
}

function formatMinutes(minutes) {
  return minutes >= 1 ? `${Math.round(minutes * 10) / 10} min` : `${Math.round(minutes * 60)} s`;
}

// Continuous recording and "save the last N minutes".
function renderModes(status) {
  if (!status.continuous || !status.memory) return;
  const continuous = status.continuous.enabled;
  $('continuous-toggle').textContent = `Continuous: ${continuous ? 'on' : 'off'}`;
  $('continuous-toggle').classList.toggle('off', !continuous);
  const memory = status.memory;
  const button = $('memory');
  button.disabled = !memory.available;
  const line = $('memory-status');
  if (memory.pending) {
    button.textContent = `+ ${formatMinutes(memory.stepMinutes)} (saving ${formatMinutes(memory.pending.lookbackS / 60)})`;
    const inS = memory.pending.saveAt ? Math.max(0, Math.round((Date.parse(memory.pending.saveAt) - Date.now()) / 1000)) : null;
    line.textContent = memory.pending.held ? `Button held: ${formatMinutes(memory.pending.lookbackS / 60)} so far, more while it is held…` : `Saving the last ${formatMinutes(memory.pending.lookbackS / 60)} in ${inS} s; press again for ${formatMinutes(memory.stepMinutes)} more.`;
  } else {
    button.textContent = `Save the last ${formatMinutes(memory.defaultMinutes)}`;
    if (memory.saving) line.textContent = 'Saving the memory…';
    else if (memory.lastError) line.textContent = `Memory not saved: ${memory.lastError.message}`;
    else if (memory.last) line.textContent = `Memory saved: ${memory.last.durationS.toFixed(0)} s (${memory.last.id}).`;
    else if (!memory.available) line.textContent = 'Memories need continuous recording (switch it on here) or the look-back (recording.lookback.enabled in the configuration).';
    else line.textContent = `Look-back: ${formatMinutes(memory.lookback.availableS / 60)} on disk.`;
  }
  line.className = memory.lastError && !memory.pending ? 'small error' : 'small muted';
}

function formatLevel(level) {
  // Levels under 1 are common since the score counts only change that stands out of the noise.
  return level >= 100 ? level.toFixed(0) : level >= 1 ? level.toFixed(1) : String(Math.round(level * 100) / 100);
}

function tick() {
  $('clock').textContent = new Date().toLocaleTimeString();
  const status = state.status;
  if (status && status.recordingSince) {
    const s = Math.max(0, Math.round((Date.now() - Date.parse(status.recordingSince)) / 1000));
    $('rec-time').textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  }
}

// ---------- Chart ----------
/**
 * Draws a score series against the trigger level (red, dashed). With `trigger` in auto mode it
 * also draws the auto level the detector follows (grey, dotted) and labels the user's offset
 * over it, so the +/- buttons visibly move the red line away from the grey one.
 */
function drawChart(canvas, points, level, spanMs, trigger) {
  const ctx = canvas.getContext('2d');
  const width = canvas.width;
  const height = canvas.height;
  ctx.clearRect(0, 0, width, height);
  const newest = points.length ? points[points.length - 1][0] : 0;
  const start = spanMs ? newest - spanMs : points.length ? points[0][0] : 0;
  const span = Math.max(1, newest - start);
  const top = Math.max(level * 2, ...points.map((p) => p[1]), trigger && trigger.autoLevel ? trigger.autoLevel * 2 : 0, 1);
  const y = (v) => height - 4 - (Math.min(v, top) / top) * (height - 8);
  ctx.strokeStyle = '#3fa36b';
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  points.forEach(([t, v], i) => {
    const x = ((t - start) / span) * width;
    if (i === 0) ctx.moveTo(x, y(v));
    else ctx.lineTo(x, y(v));
  });
  ctx.stroke();
  if (level !== null && level !== undefined) {
    ctx.strokeStyle = '#e5484d';
    ctx.setLineDash([6, 4]);
    ctx.beginPath();
    ctx.moveTo(0, y(level));
    ctx.lineTo(width, y(level));
    ctx.stroke();
    ctx.setLineDash([]);
  }
  if (trigger && trigger.mode === 'auto' && trigger.autoLevel !== null) {
    ctx.strokeStyle = '#8b8d98';
    ctx.setLineDash([2, 3]);
    ctx.beginPath();
    ctx.moveTo(0, y(trigger.autoLevel));
    ctx.lineTo(width, y(trigger.autoLevel));
    ctx.stroke();
    ctx.setLineDash([]);
    const offset = trigger.offset ? ` ${trigger.offset > 0 ? '+' : '−'}${Math.abs(trigger.offset)} step${Math.abs(trigger.offset) === 1 ? '' : 's'}` : '';
    ctx.fillStyle = '#8b8d98';
    ctx.font = '11px sans-serif';
    ctx.fillText(`auto ${formatLevel(trigger.autoLevel)}${offset}${trigger.profile === 'night' ? ' · night' : ''}`, 4, 12);
  }
}

// ---------- Controls ----------
function setupControls() {
  $('level-up').onclick = () => act(() => api('PUT', `${cameraApi()}/trigger-level`, { step: 1 }).then(updateLevel));
  $('level-down').onclick = () => act(() => api('PUT', `${cameraApi()}/trigger-level`, { step: -1 }).then(updateLevel));
  $('level-form').onsubmit = (event) => {
    event.preventDefault();
    const value = Number($('level-input').value);
    act(() => api('PUT', `${cameraApi()}/trigger-level`, { value }).then(updateLevel));
  };
  $('calibrate').onclick = () =>
    act(async () => {
      const result = await api('POST', `${cameraApi()}/calibrate`, { apply: true });
      const out = $('calibrate-result');
      out.textContent = result.applied
        ? `Noise floor ${result.noiseFloor.toFixed(2)} over ${result.spanS.toFixed(1)} s: trigger level ${formatLevel(result.previousTriggerLevel)} → ${formatLevel(result.triggerLevel)}. `
        : `The scene was not quiet (or too short): level stays ${formatLevel(result.previousTriggerLevel)} (suggestion ${formatLevel(result.suggestedTriggerLevel)} not applied). Keep the scene still and try again.`;
      if (result.applied && result.previousTriggerLevel !== result.triggerLevel) {
        const undo = document.createElement('button');
        undo.type = 'button';
        undo.textContent = 'Undo';
        undo.onclick = () =>
          act(() =>
            api('PUT', `${cameraApi()}/trigger-level`, { value: result.previousTriggerLevel }).then((level) => {
              updateLevel(level);
              out.textContent = `Trigger level back to ${formatLevel(result.previousTriggerLevel)}.`;
            }),
          );
        out.append(undo);
      }
    });
  $('motion-toggle').onclick = () => act(() => api('POST', `${cameraApi()}/motion`, { enabled: !(state.status && state.status.motionEnabled) }));
  $('record-toggle').onclick = () =>
    act(async () => {
      const manual = state.status && state.status.manualRecording;
      await api('POST', `${cameraApi()}${manual ? '/record/stop' : '/record/start'}`);
      say(manual ? 'Recording stopped.' : 'Recording (with pre-roll)…');
    });
  $('snapshot').onclick = () =>
    act(async () => {
      const photo = await api('POST', `${cameraApi()}/photo`);
      say(`Photo saved (${new Date(photo.startedAt).toLocaleTimeString()}, ${photo.width}×${photo.height}).`);
    });
  $('continuous-toggle').onclick = () =>
    act(async () => {
      const on = !(state.status && state.status.continuous && state.status.continuous.enabled);
      await api('POST', `${cameraApi()}/continuous`, { enabled: on });
      say(on ? 'Continuous recording on.' : 'Continuous recording off.');
    });
  $('memory').onclick = () =>
    act(async () => {
      const pending = await api('POST', `${cameraApi()}/memories`, {});
      say(`Saving the last ${formatMinutes(pending.minutes)}…`);
    });
  $('delete-all').onclick = () =>
    act(async () => {
      const { confirmToken } = await api('POST', '/api/delete-all');
      state.deleteToken = confirmToken;
      showDeleteConfirm(true);
      say('Press "Confirm" within 30 s to delete every recording except favourites, or "Reset".');
    });
  $('delete-confirm').onclick = () =>
    act(async () => {
      const token = state.deleteToken;
      showDeleteConfirm(false);
      const result = await api('POST', '/api/delete-all/confirm', { token });
      say(`Deleted ${result.deleted} recordings.`);
      if (state.view === 'gallery') reloadGallery();
    });
  $('delete-reset').onclick = () =>
    act(async () => {
      showDeleteConfirm(false);
      await api('POST', '/api/delete-all/cancel');
      say('Cancelled.');
    });
  for (const action of ['reboot', 'exit']) {
    $(action).onclick = () =>
      act(async () => {
        const result = await api('POST', `/api/${action}`, { confirm: Boolean(state.armed[action]) });
        state.armed[action] = Boolean(result.confirm);
        $(action).textContent = result.confirm ? `Press again to ${action}` : `${action}…`;
        say(result.message || `${action} requested.`);
      });
  }
  $('logout').onclick = () => act(() => api('POST', '/api/logout').then(() => (location.href = '/login.html')));
}

function updateLevel(result) {
  $('level').textContent = formatLevel(result.triggerLevel);
  $('level-input').value = String(result.triggerLevel);
}

function showDeleteConfirm(on) {
  $('delete-all').hidden = on;
  $('delete-confirm').hidden = !on;
  $('delete-reset').hidden = !on;
}

// ---------- Views ----------
function showView(view) {
  state.view = view;
  for (const name of ['live', 'cameras', 'gallery', 'system']) {
    $(`${name}-view`).hidden = name !== view;
    $(`tab-${name}`).classList.toggle('active', name === view);
  }
  // The grid's MJPEG tiles stream only while the grid is on screen.
  if (view !== 'cameras') $('camera-grid').replaceChildren();
  else if (state.status && state.status.cameras) renderCameraGrid(state.status.cameras);
  setLive(view === 'live' && !document.hidden);
  if (view === 'gallery') reloadGallery();
  if (view === 'system' && state.status) renderSystem(state.status);
}

// ---------- Gallery ----------
const gallery = { cursor: null, loading: false, done: false, lastDay: null, generation: 0 };

function galleryQuery() {
  const params = new URLSearchParams({ limit: '30' });
  if ($('filter-day').value) params.set('day', $('filter-day').value);
  if ($('filter-kind').value) params.set('kind', $('filter-kind').value);
  if ($('filter-favorite').checked) params.set('favorite', 'true');
  if ($('filter-camera').value) params.set('camera', $('filter-camera').value);
  if (gallery.cursor) params.set('cursor', gallery.cursor);
  return params;
}

async function reloadGallery() {
  gallery.generation++;
  gallery.cursor = null;
  gallery.done = false;
  gallery.loading = false;
  gallery.lastDay = null;
  $('gallery').replaceChildren();
  $('gallery-end').textContent = '';
  loadDays();
  await loadMore();
}

async function loadDays() {
  const { days } = await api('GET', '/api/days');
  const select = $('filter-day');
  const chosen = select.value;
  const options = [new Option('all days', '')];
  for (const day of days) options.push(new Option(`${day.day} (${day.count})`, day.day));
  select.replaceChildren(...options);
  select.value = chosen;
}

async function loadMore() {
  if (gallery.loading || gallery.done) return;
  gallery.loading = true;
  const generation = gallery.generation;
  try {
    const page = await api('GET', `/api/events?${galleryQuery()}`);
    if (generation !== gallery.generation) return;
    for (const event of page.items) addEventCard(event);
    gallery.cursor = page.nextCursor;
    gallery.done = !page.nextCursor;
    if (gallery.done) $('gallery-end').textContent = $('gallery').children.length ? 'No more events.' : 'No events yet.';
  } catch (error) {
    $('gallery-end').textContent = error.message;
  } finally {
    gallery.loading = false;
  }
}

function addEventCard(event) {
  const list = $('gallery');
  if (event.day !== gallery.lastDay) {
    gallery.lastDay = event.day;
    const heading = document.createElement('h3');
    heading.className = 'day';
    heading.textContent = new Date(`${event.day}T12:00:00`).toLocaleDateString(undefined, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
    const strip = document.createElement('div');
    strip.className = 'timeline';
    strip.dataset.day = event.day;
    strip.setAttribute('aria-label', `recordings on ${event.day}: continuous segments in blue, events on top`);
    list.append(heading, strip);
    loadTimeline(strip, event.day, gallery.generation);
  }
  const card = document.createElement('button');
  card.className = 'event';
  card.dataset.id = event.id;
  const img = document.createElement('img');
  img.loading = 'lazy';
  img.alt = '';
  if (event.urls.thumbnail) img.src = event.urls.thumbnail;
  const meta = document.createElement('span');
  meta.className = 'event-meta';
  const time = document.createElement('strong');
  time.textContent = new Date(event.startedAt).toLocaleTimeString();
  const detail = document.createElement('span');
  detail.textContent = `${event.kind}${event.kind === 'photo' ? '' : ` · ${event.durationS.toFixed(1)} s`}${event.peakScore !== null ? ` · peak ${event.peakScore.toFixed(1)}` : ''}`;
  const star = document.createElement('span');
  star.className = 'star';
  showBadges(star, event);
  meta.append(time, detail, star);
  card.append(img, meta);
  card.onclick = () => openEvent(event);
  list.append(card);
}

/** The star and upload badge of a gallery card. */
function showBadges(star, event) {
  star.textContent = `${event.favorite ? '★' : ''}${{ pending: ' ⇡', uploaded: ' ☁', failed: ' ⚠' }[event.uploadState] || ''}`;
  star.title = event.offloaded ? 'uploaded; the clip is no longer on this device' : event.uploadState === 'none' ? '' : `upload: ${event.uploadState}`;
}

// ---------- Timeline strip (one per day: continuous segments, events on top) ----------
async function loadTimeline(strip, day, generation) {
  try {
    const camera = $('filter-camera').value;
    const timeline = await api('GET', `/api/timeline?day=${encodeURIComponent(day)}${camera ? `&camera=${encodeURIComponent(camera)}` : ''}`);
    if (generation !== gallery.generation) return;
    const dayStart = new Date(`${day}T00:00:00`).getTime();
    const dayEnd = new Date(dayStart + 36 * 3600 * 1000);
    dayEnd.setHours(0, 0, 0, 0);
    const span = dayEnd.getTime() - dayStart;
    const place = (el, startMs, endMs) => {
      const from = Math.max(0, (startMs - dayStart) / span);
      const to = Math.min(1, (endMs - dayStart) / span);
      el.style.left = `${(from * 100).toFixed(4)}%`;
      el.style.width = `${(Math.max(0, to - from) * 100).toFixed(4)}%`;
    };
    const parts = [];
    for (let h = 3; h < 24; h += 3) {
      const tick = document.createElement('span');
      tick.className = 'tl-hour';
      tick.style.left = `${((h * 3600 * 1000) / span) * 100}%`;
      parts.push(tick);
    }
    // Adjacent segments are drawn as one bar (a day of 60 s segments is 1440 of them).
    let run = null;
    const flush = () => {
      if (!run) return;
      const bar = document.createElement('span');
      bar.className = 'tl-seg';
      bar.title = `continuous ${new Date(run.startMs).toLocaleTimeString()}–${new Date(run.endMs).toLocaleTimeString()}`;
      place(bar, run.startMs, run.endMs);
      // A click opens the segment under the pointer.
      bar.onclick = (click) => {
        const box = strip.getBoundingClientRect();
        const at = dayStart + ((click.clientX - box.left) / box.width) * span;
        const hit = timeline.segments.find((x) => x.startMs <= at && at <= x.endMs) || timeline.segments.find((x) => x.startMs >= at);
        if (hit) openEventById(hit.id);
      };
      parts.push(bar);
      run = null;
    };
    for (const segment of timeline.segments) {
      if (run && segment.startMs - run.endMs < 2000) run.endMs = segment.endMs;
      else {
        flush();
        run = { startMs: segment.startMs, endMs: segment.endMs };
      }
    }
    flush();
    for (const event of timeline.events) {
      const mark = document.createElement('span');
      mark.className = `tl-ev ${event.kind}`;
      mark.dataset.id = event.id;
      mark.title = `${event.kind} ${new Date(event.startMs).toLocaleTimeString()}`;
      place(mark, event.startMs, event.endMs);
      mark.onclick = () => openEventById(event.id);
      parts.push(mark);
    }
    strip.replaceChildren(...parts);
  } catch (error) {
    strip.textContent = error.message;
  }
}

async function openEventById(id) {
  await act(async () => openEvent(await api('GET', `/api/events/${encodeURIComponent(id)}`)));
}

// ---------- Event dialog ----------
let current = null;

async function openEvent(event) {
  current = event;
  const dialog = $('event-dialog');
  $('event-title').textContent = `${event.kind} — ${new Date(event.startedAt).toLocaleString()}`;
  const video = $('event-video');
  video.hidden = !event.urls.clip;
  if (event.urls.clip) video.src = event.urls.clip;
  else video.removeAttribute('src');
  $('event-snapshot').src = event.urls.snapshot || '';
  $('event-snapshot').hidden = !event.urls.snapshot;
  const heat = $('event-heatmap');
  heat.hidden = !event.urls.heatmap || !$('event-heat-toggle').checked;
  if (event.urls.heatmap) heat.src = event.urls.heatmap;
  const download = event.urls.clip || event.urls.snapshot;
  $('event-download').hidden = !download;
  if (download) $('event-download').href = download;
  $('event-favorite').textContent = event.favorite ? '★ Favourite' : '☆ Favourite';
  showUploadState(event);
  $('event-meta').textContent = [
    `${event.width}×${event.height}`,
    event.kind === 'photo' ? null : `${event.durationS.toFixed(1)} s, ${event.frames} frames`,
    event.preRollMs ? `${(event.preRollMs / 1000).toFixed(1)} s before the trigger` : null,
    event.triggerLevel !== null ? `trigger level ${formatLevel(event.triggerLevel)}` : null,
    event.peakScore !== null ? `peak score ${event.peakScore.toFixed(1)}` : null,
    `${(event.bytes / 1e6).toFixed(1)} MB`,
    event.offloaded ? `clip uploaded to ${event.offloaded.remote} and removed from this device ${new Date(event.offloaded.at).toLocaleString()}` : null,
  ]
    .filter(Boolean)
    .join(' · ');
  const chart = $('event-chart');
  chart.hidden = true;
  dialog.showModal();
  try {
    const sidecar = await api('GET', event.urls.sidecar);
    if (current === event && sidecar.scores && sidecar.scores.length) {
      chart.hidden = false;
      drawChart(chart, sidecar.scores.map((p) => [p.tMs, p.score]), sidecar.triggerLevel, 0);
    }
  } catch (error) {
    void error;
  }
}

function setupDialog() {
  const dialog = $('event-dialog');
  dialog.addEventListener('close', () => {
    $('event-video').pause();
    current = null;
  });
  $('event-heat-toggle').onchange = () => {
    $('event-heatmap').hidden = !current || !current.urls.heatmap || !$('event-heat-toggle').checked;
  };
  $('event-favorite').onclick = () =>
    act(async () => {
      const updated = await api('PATCH', `/api/events/${encodeURIComponent(current.id)}`, { favorite: !current.favorite });
      current = updated;
      $('event-favorite').textContent = updated.favorite ? '★ Favourite' : '☆ Favourite';
      const star = document.querySelector(`.event[data-id="${CSS.escape(updated.id)}"] .star`);
      if (star) showBadges(star, updated);
    });
  $('event-upload').onclick = () =>
    act(async () => {
      const updated = await api('POST', `/api/events/${encodeURIComponent(current.id)}/upload`);
      current = updated;
      showUploadState(updated);
    });
  $('event-delete').onclick = () =>
    act(async () => {
      if (!confirm('Delete this recording?')) return;
      await api('DELETE', `/api/events/${encodeURIComponent(current.id)}`);
      const card = document.querySelector(`.event[data-id="${CSS.escape(current.id)}"]`);
      if (card) card.remove();
      dialog.close();
    });
}

const UPLOAD_LABELS = { none: 'Upload', pending: 'Uploading…', uploaded: 'Uploaded ✓ (again)', failed: 'Upload failed — retry' };

function showUploadState(event) {
  const button = $('event-upload');
  const configured = Boolean(state.status && state.status.integrations && state.status.integrations.upload);
  button.hidden = !configured || !event.urls.clip;
  button.textContent = UPLOAD_LABELS[event.uploadState] || 'Upload';
}

// ---------- System ----------
function renderSystem(status) {
  const rows = [
    ['Source', `${status.source} (${status.sourceReason})`],
    ['Camera', `${status.captureState}, ${status.width}×${status.height} at ${status.fps} fps`],
    ['Dropped frames', String(status.droppedFrames)],
    ['Recordings', `${status.events.count} (${(status.events.bytes / 1e9).toFixed(2)} GB)`],
    ['Disk', status.disk ? `${status.disk.usedPct}% used, ${(status.disk.freeBytes / 1e9).toFixed(1)} GB free` : 'unknown'],
  ];
  const sys = status.system;
  if (sys) {
    rows.push(['CPU load', sys.loadAvg.map((v) => v.toFixed(2)).join(' / ') + ` (${sys.cpus} cores)`]);
    rows.push(['Memory', `${sys.memUsedPct}% used of ${(sys.memTotalBytes / 1e9).toFixed(1)} GB; Preroll ${(sys.rssBytes / 1e6).toFixed(0)} MB`]);
    if (sys.cpuTempC !== null) rows.push(['CPU temperature', `${sys.cpuTempC.toFixed(1)} °C`]);
    if (sys.throttled !== null) rows.push(['Throttling', sys.throttled]);
    if (sys.model) rows.push(['Board', sys.model]);
  }
  rows.push(['Live viewers', String(status.live.viewers)], ['Uptime', formatDuration(status.uptimeS)], ['Version', status.version]);
  const list = $('system');
  list.replaceChildren();
  for (const [name, value] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = name;
    const dd = document.createElement('dd');
    dd.textContent = value;
    list.append(dt, dd);
  }
}

function formatDuration(s) {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${d ? `${d} d ` : ''}${h} h ${m} min`;
}

// ---------- Start ----------
function start() {
  setupControls();
  setupDialog();
  for (const name of ['live', 'cameras', 'gallery', 'system']) $(`tab-${name}`).onclick = () => showView(name);
  for (const id of ['filter-day', 'filter-kind', 'filter-favorite', 'filter-camera']) $(id).onchange = () => reloadGallery();
  $('camera-pick').onchange = () => chooseCamera($('camera-pick').value);
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && state.view === 'gallery') loadMore();
  }).observe($('gallery-sentinel'));
  document.addEventListener('visibilitychange', () => setLive(state.view === 'live' && !document.hidden));
  api('GET', '/api/stream-token')
    .then(({ token }) => {
      state.streamToken = token;
      updateStreamLink();
    })
    .catch(() => undefined);
  setInterval(tick, 1000);
  tick();
  connect();
}

start();
