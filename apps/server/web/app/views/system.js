// The system view: the recorder's health, the stream link for VLC, and the rare, dangerous
// actions (delete all, reboot, exit, log out), away from the everyday buttons.
import { html, useEffect, useRef, useState } from '../lib.js';
import { api, goToLogin } from '../api.js';
import { formatDuration } from '../format.js';

function rows(status) {
  const list = [
    ['Source', `${status.source} (${status.sourceReason})`],
    ['Camera', `${status.captureState}, ${status.width}×${status.height} at ${status.fps} fps`],
    ...(typeof status.analysisFps === 'number' ? [['Motion analysis', `${status.analysisFps.toFixed(1)} frames a second`]] : []),
    ['Dropped frames', String(status.droppedFrames)],
    ['Recordings', `${status.events.count} (${(status.events.bytes / 1e9).toFixed(2)} GB)`],
    ['Disk', status.disk ? `${status.disk.usedPct}% used, ${(status.disk.freeBytes / 1e9).toFixed(1)} GB free` : 'unknown'],
  ];
  if (status.labels) list.push(['Labels', labelsText(status.labels)]);
  const sys = status.system;
  if (sys) {
    list.push(['CPU load', `${sys.loadAvg.map((v) => v.toFixed(2)).join(' / ')} (${sys.cpus} cores)`]);
    list.push(['Memory', `${sys.memUsedPct}% used of ${(sys.memTotalBytes / 1e9).toFixed(1)} GB; Preroll ${(sys.rssBytes / 1e6).toFixed(0)} MB`]);
    if (sys.cpuTempC !== null) list.push(['CPU temperature', `${sys.cpuTempC.toFixed(1)} °C`]);
    if (sys.throttled !== null) list.push(['Throttling', sys.throttled]);
    if (sys.model) list.push(['Board', sys.model]);
  }
  list.push(['Live viewers', String(status.live.viewers)], ['Uptime', formatDuration(status.uptimeS)], ['Version', status.version]);
  return list;
}

/** The labels row: where they come from and what an event costs (0 ms when the AI Camera's sensor does the work). */
function labelsText(labels) {
  const skipped = (labels.aiCameras || []).reduce((n, c) => n + ((c.metadata && c.metadata.corrupt) || 0), 0);
  const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const note = skipped ? `; ${plural(skipped, 'camera metadata line')} skipped` : '';
  if (labels.source === 'camera') return `AI Camera (on the sensor), 0 ms per event, ${plural(labels.events, 'event')}${note}`;
  if (!labels.enabled && labels.source !== 'mixed') return 'off';
  const ms = (v) => (v === null || v === undefined ? '–' : `${Math.round(v)} ms`);
  const cost = labels.meanEventMs === null ? 'no event yet' : `${ms(labels.meanEventMs)} per event (${ms(labels.meanInferenceMs)} per detector pass)`;
  // The CPU classifier's early pass (for alerts), the model, and what went wrong.
  const early = labels.early && labels.early.enabled ? `; early labels ${ms(labels.early.meanMs)} after the trigger` : '';
  const model = labels.loaded ? `; model loaded in ${ms(labels.loadMs)}` : '';
  const trouble = `${labels.failures ? `; ${labels.failures} failed` : ''}${labels.skipped ? `; ${labels.skipped} skipped (busy)` : ''}`;
  return `${labels.source === 'mixed' ? 'CPU and AI Camera' : 'CPU'}, ${cost}${early}${model}${trouble}${note}`;
}

/** The system view. */
/** The alerts card (arming mode, channels, notifications on this device, a test): its own module. */
function AlertsCard() {
  const ref = useRef(null);
  useEffect(() => {
    let stop = null;
    let gone = false;
    import('../../alerts.js').then(
      (module) => {
        if (!gone && ref.current) stop = module.mountAlerts(ref.current);
      },
      (error) => console.warn('alerts card not loaded', error.message),
    );
    return () => {
      gone = true;
      if (stop) stop();
    };
  }, []);
  return html`<div id="alerts-card" class="card" ref=${ref}></div>`;
}

export function SystemView({ state, store, gallery, act }) {
  const { status, camera } = state;
  const online = state.connection.state === 'open' && status !== null;
  const [deleteToken, setDeleteToken] = useState(null);
  const [armed, setArmed] = useState({});
  const [streamToken, setStreamToken] = useState(null);
  useEffect(() => {
    api('GET', '/api/stream-token')
      .then(({ token }) => setStreamToken(token))
      .catch((error) => console.warn('no stream token', error.message));
  }, []);
  const say = (text) => store.set({ toast: { text, at: Date.now() } });
  const path = camera ? `/cameras/${encodeURIComponent(camera)}/stream.mjpg` : '/stream.mjpg';
  // The token is in the link only, never printed: a screenshot of this page gives nothing away.
  const streamHref = streamToken ? `${path}?token=${encodeURIComponent(streamToken)}` : path;
  const copyLink = () =>
    act(async () => {
      await navigator.clipboard.writeText(new URL(streamHref, location.href).href);
      say('Stream link copied: paste it into VLC (Media → Open Network Stream).');
    });
  const startDeleteAll = () =>
    act(async () => {
      const { confirmToken } = await api('POST', '/api/delete-all');
      setDeleteToken(confirmToken);
      say('Press "Confirm" within 30 s to delete every recording except favourites, or "Cancel".');
    });
  const confirmDeleteAll = () =>
    act(async () => {
      const token = deleteToken;
      setDeleteToken(null);
      const result = await api('POST', '/api/delete-all/confirm', { token });
      say(`Deleted ${result.deleted} recordings.`);
      gallery.reload();
    });
  const cancelDeleteAll = () =>
    act(async () => {
      setDeleteToken(null);
      await api('POST', '/api/delete-all/cancel');
      say('Cancelled.');
    });
  const dangerous = (action) =>
    act(async () => {
      const result = await api('POST', `/api/${action}`, { confirm: Boolean(armed[action]) });
      setArmed((a) => ({ ...a, [action]: Boolean(result.confirm) }));
      say(result.message || `${action} requested.`);
    });
  const logout = () => act(() => api('POST', '/api/logout').then(goToLogin));
  return html`<section id="system-view" class="view" aria-label="system">
    <div class="card">
      <h2>System</h2>
      <dl id="system" class="system">
        ${status ? rows(status).map(([name, value]) => html`<dt key=${`t${name}`}>${name}</dt><dd key=${`d${name}`}>${value}</dd>`) : html`<dt>Status</dt><dd>waiting for the recorder…</dd>`}
      </dl>
    </div>
    <${AlertsCard} />
    <div class="card">
      <h2>Stream for VLC</h2>
      <p class="small muted">MJPEG that VLC and browsers open; ${streamToken ? 'the link carries a token, so a player that cannot log in may open it.' : 'no password is set.'}</p>
      <div class="buttons">
        <a id="stream-link" class="button" href=${streamHref} target="_blank" rel="noopener">Open the stream</a>
        ${navigator.clipboard ? html`<button id="stream-copy" type="button" onClick=${copyLink}>Copy the link</button>` : null}
      </div>
    </div>
    ${state.me && state.me.role === 'viewer'
      ? html`<div class="card"><p id="viewer-note" class="small">Logged in as ${state.me.user} (viewer): you can watch, review, mark favourites and download.</p>
          <div class="buttons"><button id="logout" type="button" onClick=${logout}>Log out</button></div></div>`
      : html`<div class="card danger-zone">
      <h2>Danger zone</h2>
      <div class="buttons">
        ${deleteToken
          ? html`<button id="delete-confirm" type="button" class="danger" onClick=${confirmDeleteAll}>Confirm: delete all (favourites kept)</button>
              <button id="delete-reset" type="button" onClick=${cancelDeleteAll}>Cancel</button>`
          : html`<button id="delete-all" type="button" class="danger" disabled=${!online} onClick=${startDeleteAll}>Delete all recordings…</button>`}
        ${status && status.actions.allowReboot ? html`<button id="reboot" type="button" class="danger" disabled=${!online} onClick=${() => dangerous('reboot')}>${armed.reboot ? 'Press again to reboot' : 'Reboot…'}</button>` : null}
        ${status && status.actions.allowExit ? html`<button id="exit" type="button" class="danger" disabled=${!online} onClick=${() => dangerous('exit')}>${armed.exit ? 'Press again to exit' : 'Exit…'}</button>` : null}
        ${status && status.authRequired ? html`<button id="logout" type="button" onClick=${logout}>Log out</button>` : null}
      </div>
    </div>`}
  </section>`;
}
