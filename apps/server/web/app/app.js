// The page: a one-row header, the tabs (a bottom bar on a phone), the view on show, the
// event player and the toast line. Everything renders from the store's state.
import { html, useEffect } from './lib.js';
import { useNow, useStore } from './hooks.js';
import { LiveView, useAct } from './views/live.js';
import { GalleryView } from './views/gallery.js';
import { SystemView } from './views/system.js';
import { CamerasView } from './views/cameras.js';
import { SettingsView } from './views/settings.js';
import { api } from './api.js';
import { CameraSettingsView } from './views/camera-settings.js';
import { EventPlayer } from './views/event-player.js';
import { Toast } from './components/toast.js';

function Clock() {
  const now = useNow(1000);
  return html`<span id="clock" class="clock">${new Date(now).toLocaleTimeString()}</span>`;
}

function Tab({ id, view, current, onShow, children, hidden }) {
  if (hidden) return null;
  return html`<button id=${`tab-${id}`} type="button" class="tab" aria-current=${current === view ? 'page' : undefined} aria-controls=${`${view}-view`} onClick=${() => onShow(view)}>${children}</button>`;
}

/** The app. */
export function App({ store, connection, gallery }) {
  const state = useStore(store);
  const act = useAct(store);
  const { status, connection: conn, view } = state;
  const cameras = (status && status.cameras) || [];
  const several = cameras.length > 1;
  const show = (next) => store.set({ view: next });
  const chooseCamera = (id) => {
    store.set({ camera: id, scores: [], view: 'live' });
    connection.reloadHistory();
  };
  // Who is logged in: the settings are an admin's page.
  useEffect(() => {
    api('GET', '/api/me').then((me) => store.set({ me }), (error) => console.warn('who am I?', error.message));
  }, []);
  const admin = Boolean(state.me && state.me.scope === 'admin');
  useEffect(() => {
    document.title = state.unreviewed ? `(${state.unreviewed}) Preroll` : 'Preroll';
  }, [state.unreviewed]);
  const connText = conn.state === 'open' ? 'connected' : conn.state === 'connecting' ? 'connecting…' : 'no connection';
  return html`
    <header class="topbar">
      <h1>Preroll</h1>
      <span id="conn" class=${`conn ${conn.state}`} role="status" title="connection to the recorder">${connText}</span>
      ${several
        ? html`<select id="camera-pick" aria-label="camera" value=${state.camera || cameras[0].id} onChange=${(e) => chooseCamera(e.currentTarget.value)}>
            ${cameras.map((c) => html`<option key=${c.id} value=${c.id}>${c.id}</option>`)}
          </select>`
        : null}
      <${Clock} />
      <nav class="tabs" aria-label="views">
        <${Tab} id="live" view="live" current=${view} onShow=${show}>Live<//>
        <${Tab} id="cameras" view="cameras" current=${view} onShow=${show} hidden=${!several}>Cameras<//>
        <${Tab} id="gallery" view="gallery" current=${view} onShow=${show}>
          Events<span id="unreviewed-badge" class="badge" aria-label=${state.unreviewed ? `${state.unreviewed} not reviewed` : undefined}>${state.unreviewed ? state.unreviewed : ''}</span>
        <//>
        <${Tab} id="settings" view="settings" current=${view} onShow=${show} hidden=${!admin}>Settings<//>
        <${Tab} id="system" view="system" current=${view} onShow=${show}>System<//>
      </nav>
    </header>
    <main>
      ${view === 'live' ? html`<${LiveView} state=${state} store=${store} connection=${connection} />` : null}
      ${view === 'cameras' ? html`<${CamerasView} state=${state} onChoose=${chooseCamera} />` : null}
      ${view === 'gallery' ? html`<${GalleryView} state=${state} gallery=${gallery} act=${act} />` : null}
      ${view === 'settings' && admin ? html`<${SettingsView} state=${state} store=${store} act=${act} />` : null}
      ${view === 'system' ? html`<${SystemView} state=${state} store=${store} gallery=${gallery} act=${act} />` : null}
      ${view === 'camera-settings' && admin ? html`<${CameraSettingsView} state=${state} store=${store} />` : null}
    </main>
    <${EventPlayer} state=${state} store=${store} gallery=${gallery} act=${act} />
    ${state.openEvent ? null : html`<${Toast} toast=${state.toast} store=${store} gallery=${gallery} />`}
  `;
}
