// Export a time range of continuous recording as one MP4: two times (filled by dragging over the
// zoomed timeline, or typed), then the server joins the segments without re-encoding; progress
// is polled until the new recording can be opened.
import { html, useEffect, useRef, useState } from '../lib.js';
import { api } from '../api.js';

/** `HH:MM:SS` of an instant in local time. Pure. */
export function clockOf(ms) {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/** The instant of `HH:MM[:SS]` on local day `YYYY-MM-DD`, or NaN. Pure. */
export function instantOf(day, clock) {
  return /^\d{2}:\d{2}(:\d{2})?$/.test(clock) ? new Date(`${day}T${clock.length === 5 ? `${clock}:00` : clock}`).getTime() : Number.NaN;
}

const POLL_MS = 500;

/**
 * The export form of one day. `selection` ({startMs, endMs} or null) comes from a drag over the
 * timeline; `onOpen(id)` opens the finished export in the player.
 */
export function RangeExport({ day, selection, onOpen }) {
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [job, setJob] = useState(null);
  const [error, setError] = useState(null);
  const timer = useRef(null);
  useEffect(() => {
    if (!selection) return;
    setFrom(clockOf(selection.startMs));
    setTo(clockOf(selection.endMs));
  }, [selection && selection.startMs, selection && selection.endMs]);
  useEffect(() => () => clearTimeout(timer.current), []);

  const poll = (id) => {
    timer.current = setTimeout(async () => {
      try {
        const next = await api('GET', `/api/exports/${encodeURIComponent(id)}`);
        setJob(next);
        if (next.state === 'running') poll(id);
        else if (next.state === 'failed') setError(next.error ? next.error.message : 'the export failed');
      } catch (failure) {
        setError(failure.message);
      }
    }, POLL_MS);
  };
  const start = async (submit) => {
    submit.preventDefault();
    setError(null);
    setJob(null);
    const fromMs = instantOf(day, from);
    const toMs = instantOf(day, to);
    if (!Number.isFinite(fromMs) || !Number.isFinite(toMs)) {
      setError('give a start and an end time');
      return;
    }
    try {
      const started = await api('POST', '/api/exports', { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() });
      setJob(started);
      poll(started.id);
    } catch (failure) {
      setError(failure.message);
    }
  };
  const running = job && job.state === 'running';
  return html`<form class="range-export" aria-label="export a time range as one video" onSubmit=${start}>
    <label>From <input id="export-from" type="time" step="1" required value=${from} onInput=${(e) => setFrom(e.currentTarget.value)} /></label>
    <label>to <input id="export-to" type="time" step="1" required value=${to} onInput=${(e) => setTo(e.currentTarget.value)} /></label>
    <button id="export-start" type="submit" disabled=${running}>Export as one video</button>
    ${job ? html`<progress id="export-progress" max="1" value=${job.progress} aria-label="export progress">${Math.round(job.progress * 100)} %</progress>` : null}
    ${job && job.state === 'done' ? html`<button id="export-open" type="button" onClick=${() => onOpen(job.eventId)}>Open the video</button>` : null}
    <span id="export-status" class=${`small${error ? ' error' : ' muted'}`} role="status">${error || (running ? 'Joining the recordings…' : job && job.state === 'done' ? 'Saved as a memory (kept from clean-up).' : 'Drag over the timeline to choose a range.')}</span>
  </form>`;
}
