// The cameras view (several cameras): one MJPEG tile per camera, streaming only while on screen.
import { html } from '../lib.js';
import { formatLevel } from '../format.js';

/** The cameras view. */
export function CamerasView({ state, onChoose }) {
  const cameras = (state.status && state.status.cameras) || [];
  return html`<section id="cameras-view" class="view" aria-label="cameras">
    <div id="camera-grid" class="camera-grid">
      ${cameras.map(
        (camera) => html`<button key=${camera.id} type="button" class="camera-tile" data-id=${camera.id} onClick=${() => onChoose(camera.id)}>
          <img alt=${`live view of ${camera.id}`} width="320" height="180" src=${`/cameras/${encodeURIComponent(camera.id)}/stream.mjpg`} />
          <span class="camera-label">${camera.id} · ${camera.captureState}${camera.recording ? ' · ● REC' : ''} · score ${camera.score.toFixed(1)} / ${formatLevel(camera.triggerLevel)}</span>
        </button>`,
      )}
    </div>
  </section>`;
}
