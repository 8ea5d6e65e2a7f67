// The toast line: a message, and Undo after a delete. While the player dialog is open it is
// rendered inside it: a modal dialog makes the rest of the page inert, so an Undo outside it
// could be seen but not pressed.
import { html, useEffect } from '../lib.js';

const TOAST_MS = 5000;

/** The toast; messages go after a few seconds, an Undo stays until the undo window ends. */
export function Toast({ toast, store, gallery }) {
  useEffect(() => {
    if (!toast || toast.undo) return undefined;
    const timer = setTimeout(() => store.set((s) => (s.toast === toast ? { toast: null } : null)), TOAST_MS);
    return () => clearTimeout(timer);
  }, [toast]);
  return html`<div id="message" class=${`toast${toast ? ' shown' : ''}${toast && toast.error ? ' error' : ''}`} role="status" aria-live="polite">
    ${toast ? html`<span>${toast.text}</span>` : null}
    ${toast && toast.undo ? html`<button id="undo" type="button" onClick=${() => gallery.undo()}>Undo</button>` : null}
  </div>`;
}
