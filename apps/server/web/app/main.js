// Starts the page: one store, the connection to the recorder, the gallery's actions, the app.
import { html, render } from './lib.js';
import { createStore, initialState } from './store.js';
import { createConnection } from './connection.js';
import { createGallery } from './gallery.js';
import { App } from './app.js';

const store = createStore(initialState(localStorage));
const gallery = createGallery(store);
const connection = createConnection({ store, onRecording: (event) => gallery.arrived(event), onLabelled: (event) => gallery.labelled(event) });

render(html`<${App} store=${store} connection=${connection} gallery=${gallery} />`, document.getElementById('app'));
// A notification (or any link) to `/#event=<id>` opens that event in the player.
window.openEventById = (id) => gallery.openById(id).catch((error) => console.warn('cannot open event', id, error.message));
const linked = /^#event=([A-Za-z0-9_-]{1,100})$/.exec(location.hash);
if (linked) window.openEventById(linked[1]);
// `/#camera-settings` opens the camera settings (masks, zones, camera controls).
if (location.hash === '#camera-settings') store.set({ view: 'camera-settings' });
connection.start();
gallery.refreshCounts();
// A delete still inside its undo window is sent when the page goes away.
addEventListener('pagehide', () => gallery.flush());

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch((error) => console.warn('service worker not registered', error.message));
}
