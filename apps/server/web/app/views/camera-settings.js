// Camera settings: the mask and zone editor over the live picture, with the masked score shown
// live before saving, and the camera's own controls (the Pi camera's rpicam-vid options, or the
// controls a USB camera reports), previewed on the live view before saving.
// Reached at /#camera-settings (the settings page links here).
import { html, useEffect, useRef, useState } from '../lib.js';
import { api, cameraApi } from '../api.js';
import { MaskEditor } from '../components/mask-editor.js';

const LEASE_MS = 15000;
const RENEW_MS = 5000;

function MaskCard({ state, say }) {
  const base = cameraApi(state.camera);
  const [polygons, setPolygons] = useState(null);
  const [saved, setSaved] = useState([]);
  const [previewing, setPreviewing] = useState(false);
  const latest = useRef(null);
  latest.current = { polygons, previewing };

  useEffect(() => {
    api('GET', `${base}/mask`).then(
      (mask) => {
        setPolygons(mask.polygons);
        setSaved(mask.saved.polygons);
      },
      (error) => say(error.message, true),
    );
    // While previewing, the lease is renewed; leaving the view (or the page) lets it lapse.
    const timer = setInterval(() => {
      const now = latest.current;
      if (now.previewing) api('POST', `${base}/mask/preview`, { polygons: now.polygons, leaseMs: LEASE_MS }).catch((error) => say(error.message, true));
    }, RENEW_MS);
    return () => {
      clearInterval(timer);
      if (latest.current.previewing) api('DELETE', `${base}/mask/preview`).catch((error) => console.warn('preview not ended', error.message));
    };
  }, [base]);

  const change = (next) => {
    setPolygons(next);
    api('POST', `${base}/mask/preview`, { polygons: next, leaseMs: LEASE_MS }).then(
      () => setPreviewing(true),
      (error) => say(error.message, true),
    );
  };
  const save = () =>
    api('PUT', `${base}/mask`, { polygons }).then(
      () => {
        setSaved(polygons);
        setPreviewing(false);
        say('Mask saved');
      },
      (error) => say(error.message, true),
    );
  const cancel = () =>
    api('DELETE', `${base}/mask/preview`).then(
      () => {
        setPolygons(saved);
        setPreviewing(false);
      },
      (error) => say(error.message, true),
    );
  const status = state.status;
  const src = state.camera ? `/cameras/${encodeURIComponent(state.camera)}/stream.mjpg` : '/stream.mjpg';
  return html`<section class="card" id="mask-card">
    <h2>Masks and zones</h2>
    <p class="hint">Masks hide motion (trees, a road); zones watch only where they are. The score below is the masked score, live.</p>
    ${polygons === null ? html`<p>Loading…</p>` : html`<${MaskEditor} src=${src} polygons=${polygons} onChange=${change} />`}
    <p id="mask-score" class="score-line">Score <strong id="mask-score-value">${status ? status.score.toFixed(1) : '–'}</strong> · trigger level ${status ? status.triggerLevel : '–'}${previewing ? ' · previewing (not saved)' : ''}</p>
    <div class="row">
      <button id="mask-save" type="button" disabled=${polygons === null} onClick=${save}>Save mask</button>
      <button id="mask-cancel" type="button" disabled=${!previewing} onClick=${cancel}>Cancel</button>
    </div>
  </section>`;
}

const NUMBERS = [
  ['lensPosition', 'Lens position (dioptres)', 0.1],
  ['shutterUs', 'Shutter (µs, 0 = auto)', 100],
  ['gain', 'Gain (0 = auto)', 0.1],
  ['ev', 'EV', 0.1],
  ['brightness', 'Brightness', 0.05],
  ['contrast', 'Contrast', 0.05],
  ['saturation', 'Saturation', 0.05],
  ['sharpness', 'Sharpness', 0.05],
];
const CHOICES = [
  ['autofocusMode', 'Autofocus'],
  ['awb', 'White balance'],
  ['denoise', 'Denoise'],
  ['hdr', 'HDR'],
];

function RpicamForm({ info, values, setValues }) {
  const set = (key, value) => setValues({ ...values, controls: { ...values.controls, [key]: value } });
  const num = (key, v) => set(key, v === '' ? undefined : Number(v));
  return html`<div class="controls-grid">
    ${CHOICES.map(([key, label]) => html`<label key=${key}>${label}
      <select id=${`ctl-${key}`} value=${values.controls[key] ?? ''} onChange=${(e) => set(key, e.currentTarget.value || undefined)}>
        <option value="">(default)</option>
        ${info.options[key].map((o) => html`<option value=${o}>${o}</option>`)}
      </select></label>`)}
    ${NUMBERS.map(([key, label, step]) => html`<label key=${key}>${label}
      <input id=${`ctl-${key}`} type="number" step=${step} min=${info.options.limits[key][0]} max=${info.options.limits[key][1]} value=${values.controls[key] ?? ''} onChange=${(e) => num(key, e.currentTarget.value)} /></label>`)}
    <label><input id="ctl-hflip" type="checkbox" checked=${Boolean(values.controls.hflip)} onChange=${(e) => set('hflip', e.currentTarget.checked || undefined)} /> Mirror</label>
    <label><input id="ctl-vflip" type="checkbox" checked=${Boolean(values.controls.vflip)} onChange=${(e) => set('vflip', e.currentTarget.checked || undefined)} /> Upside down</label>
    <label>Tuning file (NoIR: imx708_noir)
      <input id="ctl-tuningFile" type="text" pattern="[A-Za-z0-9_-]{1,64}" value=${values.controls.tuningFile ?? ''} onChange=${(e) => set('tuningFile', e.currentTarget.value || undefined)} /></label>
    <label>Frame rate <input id="ctl-fps" type="number" step="1" min="1" max="120" value=${values.fps} onChange=${(e) => setValues({ ...values, fps: Number(e.currentTarget.value) })} /></label>
    <label>Size (needs a restart) <input id="ctl-size" type="text" pattern="\\d+x\\d+" value=${`${values.width}x${values.height}`} onChange=${(e) => {
      const [w, h] = e.currentTarget.value.split('x').map(Number);
      setValues({ ...values, width: w, height: h });
    }} /></label>
  </div>`;
}

function V4l2Form({ info, values, setValues }) {
  const set = (name, value) => setValues({ ...values, values: { ...values.values, [name]: value } });
  return html`<div class="controls-grid">
    ${info.controls.filter((c) => ['int', 'bool', 'menu'].includes(c.type)).map((c) => html`<label key=${c.name}>${c.name.replace(/_/g, ' ')}${c.flags.includes('inactive') ? ' (inactive)' : ''}
      ${c.type === 'bool'
        ? html`<input id=${`v4l2-${c.name}`} type="checkbox" checked=${(values.values[c.name] ?? c.value) === 1} onChange=${(e) => set(c.name, e.currentTarget.checked ? 1 : 0)} />`
        : c.type === 'menu'
          ? html`<select id=${`v4l2-${c.name}`} value=${values.values[c.name] ?? c.value} onChange=${(e) => set(c.name, Number(e.currentTarget.value))}>${c.menu.map((m) => html`<option value=${m.index}>${m.label}</option>`)}</select>`
          : html`<input id=${`v4l2-${c.name}`} type="number" min=${c.min} max=${c.max} step=${c.step || 1} value=${values.values[c.name] ?? c.value} onChange=${(e) => set(c.name, Number(e.currentTarget.value))} />`}
    </label>`)}
  </div>`;
}

function ControlsCard({ state, say }) {
  const base = cameraApi(state.camera);
  const [info, setInfo] = useState(null);
  const [values, setValues] = useState(null);
  const [busy, setBusy] = useState(false);
  const load = () =>
    api('GET', `${base}/camera/controls`).then(
      (next) => {
        setInfo(next);
        if (next.kind === 'rpicam') setValues({ controls: next.controls, fps: next.fps, width: next.width, height: next.height });
        if (next.kind === 'v4l2') setValues({ values: {} });
      },
      (error) => say(error.message, true),
    );
  useEffect(() => void load(), [base]);
  const body = () => (info.kind === 'v4l2' ? { values: values.values } : { controls: Object.fromEntries(Object.entries(values.controls).filter(([, v]) => v !== undefined)), fps: values.fps });
  const run = (method, path, payload, done) => {
    setBusy(true);
    api(method, `${base}${path}`, payload)
      .then((result) => {
        say(done(result));
        return load();
      })
      .catch((error) => say(error.message, true))
      .finally(() => setBusy(false));
  };
  if (!info) return html`<section class="card" id="controls-card"><h2>Camera</h2><p>Loading…</p></section>`;
  if (info.kind === 'none') return html`<section class="card" id="controls-card"><h2>Camera</h2><p>${info.source} has no camera controls.</p></section>`;
  const gap = (r) => (r.gapMs !== undefined ? ` (picture back after ${(r.gapMs / 1000).toFixed(1)} s)` : '');
  return html`<section class="card" id="controls-card">
    <h2>Camera</h2>
    ${info.kind === 'rpicam' ? html`<${RpicamForm} info=${info} values=${values} setValues=${setValues} />` : html`<${V4l2Form} info=${info} values=${values} setValues=${setValues} />`}
    <div class="row">
      <button id="controls-preview" type="button" disabled=${busy} onClick=${() => run('POST', '/camera/controls/preview', body(), (r) => `Previewing${gap(r)}`)}>Preview</button>
      ${info.kind === 'rpicam' ? html`<button id="controls-focus" type="button" disabled=${busy} onClick=${() => run('POST', '/camera/focus', undefined, (r) => `Focusing${gap(r)}`)}>Focus now</button>` : null}
      <button id="controls-cancel" type="button" disabled=${busy || !info.preview} onClick=${() => run('POST', '/camera/controls/cancel', undefined, () => 'Back to the saved settings')}>Cancel</button>
      <button id="controls-save" type="button" disabled=${busy} onClick=${() =>
        run('PUT', '/camera/controls', info.kind === 'rpicam' ? { ...body(), width: values.width, height: values.height } : body(), (r) => (r.restartRequired && r.restartRequired.length ? 'Saved; the new size applies after a restart' : 'Saved'))}>Save</button>
    </div>
  </section>`;
}

/** The camera settings view. */
export function CameraSettingsView({ state, store }) {
  const say = (text, error) => store.set({ toast: { text, at: Date.now(), error: Boolean(error) } });
  return html`<div id="camera-settings-view" class="view camera-settings">
    <${MaskCard} state=${state} say=${say} />
    <${ControlsCard} state=${state} say=${say} />
  </div>`;
}
