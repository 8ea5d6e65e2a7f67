// The live view: the picture, the three controls people need at once (record, photo, motion)
// right under it, the sensitivity card with the score chart, and the recording modes.
import { html, useState } from '../lib.js';
import { api, cameraApi } from '../api.js';
import { formatLevel, formatMinutes, mbPerHour } from '../format.js';
import { saveSetting, QUALITIES } from '../store.js';
import { LivePlayer } from '../components/live-player.js';
import { ScoreChart } from '../components/chart.js';

/** Runs an action; its error becomes a toast. */
export function useAct(store) {
  return (fn) =>
    fn().catch((error) => {
      if (error.status !== 401) store.set({ toast: { text: error.message, error: true, at: Date.now() } });
    });
}

function say(store, text) {
  store.set({ toast: { text, at: Date.now() } });
}

/**
 * Whether this visitor may change things (record, detection, levels): not a viewer, and a
 * scope of `control` or more. The server refuses the rest anyway; the page does not offer it.
 */
export function mayControl(me) {
  return !me || (me.role !== 'viewer' && (me.scope === 'control' || me.scope === 'admin'));
}

function PrimaryControls({ state, store, act }) {
  const { status, camera } = state;
  const online = state.connection.state === 'open' && status !== null;
  const manual = Boolean(status && status.manualRecording);
  const motionOn = Boolean(status && status.motionEnabled);
  const record = () =>
    act(async () => {
      await api('POST', `${cameraApi(camera)}${manual ? '/record/stop' : '/record/start'}`);
      say(store, manual ? 'Recording stopped.' : 'Recording (with pre-roll)…');
    });
  const photo = () =>
    act(async () => {
      const taken = await api('POST', `${cameraApi(camera)}/photo`);
      say(store, `Photo saved (${new Date(taken.startedAt).toLocaleTimeString()}, ${taken.width}×${taken.height}).`);
    });
  const motion = () => act(() => api('POST', `${cameraApi(camera)}/motion`, { enabled: !motionOn }));
  if (!mayControl(state.me)) return null;
  return html`<div class="primary-controls">
    <button id="record-toggle" type="button" class=${manual ? 'recording' : ''} aria-pressed=${manual ? 'true' : 'false'} disabled=${!online} onClick=${record}>
      ${manual ? '■ Stop' : '● Record'}
    </button>
    <button id="snapshot" type="button" disabled=${!online} onClick=${photo} title="a full-resolution still with a thumbnail, in the gallery as a photo">Photo</button>
    <button id="motion-toggle" type="button" aria-pressed=${motionOn ? 'true' : 'false'} disabled=${!online} onClick=${motion} class=${motionOn ? 'on' : 'off'}>
      Motion ${status ? (motionOn ? 'on' : 'off') : '–'}
    </button>
  </div>`;
}

function MotionCard({ state, store, act }) {
  const { status, camera, scores } = state;
  const online = state.connection.state === 'open' && status !== null;
  const [calibration, setCalibration] = useState(null);
  const [draft, setDraft] = useState(null);
  const level = status ? status.triggerLevel : null;
  const put = (body) => act(() => api('PUT', `${cameraApi(camera)}/trigger-level`, body).then((r) => store.set((s) => ({ status: s.status && { ...s.status, triggerLevel: r.triggerLevel } }))));
  const calibrate = () =>
    act(async () => {
      const result = await api('POST', `${cameraApi(camera)}/calibrate`, { apply: true });
      setCalibration({
        text: result.applied
          ? `Noise floor ${result.noiseFloor.toFixed(2)} over ${result.spanS.toFixed(1)} s: trigger level ${formatLevel(result.previousTriggerLevel)} → ${formatLevel(result.triggerLevel)}.`
          : `The scene was not quiet (or too short): level stays ${formatLevel(result.previousTriggerLevel)} (suggestion ${formatLevel(result.suggestedTriggerLevel)} not applied). Keep the scene still and try again.`,
        undo: result.applied && result.previousTriggerLevel !== result.triggerLevel ? result.previousTriggerLevel : null,
      });
    });
  const undoCalibration = (previous) =>
    act(async () => {
      await put({ value: previous });
      setCalibration({ text: `Trigger level back to ${formatLevel(previous)}.`, undo: null });
    });
  const submit = (event) => {
    event.preventDefault();
    put({ value: Number(draft ?? level) });
    setDraft(null);
  };
  const trigger = status && status.trigger ? status.trigger : null;
  const auto = trigger && trigger.mode === 'auto' && typeof trigger.autoLevel === 'number' ? trigger.autoLevel : null;
  return html`<section class="card" aria-labelledby="motion-title">
    <h2 id="motion-title">Sensitivity</h2>
    <div class="score-line">
      <div><span class="label">score</span> <strong id="score">${status ? status.score.toFixed(1) : '–'}</strong></div>
      <div><span class="label">trigger level</span> <strong id="level">${formatLevel(level)}</strong></div>
      ${auto !== null ? html`<div><span class="label">auto level</span> <strong id="auto-level">${formatLevel(auto)}</strong></div>` : null}
    </div>
    <${ScoreChart}
      id="chart"
      points=${scores}
      level=${level}
      spanMs=${60_000}
      greyed=${Boolean(status && !status.motionEnabled)}
      trigger=${trigger}
      label=${`motion score over the last minute${status ? `: now ${status.score.toFixed(1)}, trigger level ${formatLevel(level)}` : ''}`}
    />
    <p class="muted small">The score of each analysed frame over the last minute${status && typeof status.analysisFps === 'number' && status.analysisFps > 0 ? html` (<span id="analysis-fps">${status.analysisFps.toFixed(1)}</span> a second)` : null}; the red line is the trigger level. Raise it until noise stays below the line.</p>
    <div class="buttons" hidden=${!mayControl(state.me)}>
      <button id="level-down" type="button" disabled=${!online} onClick=${() => put({ step: -1 })} title="a lower level: more sensitive">− more sensitive</button>
      <button id="level-up" type="button" disabled=${!online} onClick=${() => put({ step: 1 })} title="a higher level: less sensitive">+ less sensitive</button>
      <form id="level-form" class="inline" onSubmit=${submit}>
        <input id="level-input" type="number" min="0.1" max="65025" step="any" aria-label="exact trigger level" value=${draft ?? (level ?? '')} onInput=${(e) => setDraft(e.currentTarget.value)} />
        <button type="submit" disabled=${!online}>Set</button>
      </form>
      <button id="calibrate" type="button" disabled=${!online} onClick=${calibrate} title="keep the scene still for a few seconds first">Auto-calibrate</button>
      ${trigger
        ? html`<button id="level-auto" type="button" aria-pressed=${trigger.mode === 'auto' ? 'true' : 'false'} disabled=${!online || trigger.mode === 'auto'} onClick=${() => put({ mode: 'auto' })} title="the level follows the scene's noise; +/− move it over the auto level">Auto level</button>`
        : null}
    </div>
    <p id="calibrate-result" class="muted small reserve" role="status">
      ${calibration ? calibration.text : ''}
      ${calibration && calibration.undo !== null ? html` <button type="button" onClick=${() => undoCalibration(calibration.undo)}>Undo</button>` : null}
    </p>
  </section>`;
}

function memoryLine(memory) {
  if (memory.pending) {
    const inS = memory.pending.saveAt ? Math.max(0, Math.round((Date.parse(memory.pending.saveAt) - Date.now()) / 1000)) : null;
    return memory.pending.held
      ? `Button held: ${formatMinutes(memory.pending.lookbackS / 60)} so far, more while it is held…`
      : `Saving the last ${formatMinutes(memory.pending.lookbackS / 60)} in ${inS} s; press again for ${formatMinutes(memory.stepMinutes)} more.`;
  }
  if (memory.saving) return 'Saving the memory…';
  if (memory.lastError) return `Memory not saved: ${memory.lastError.message}`;
  if (memory.last) return `Memory saved: ${memory.last.durationS.toFixed(0)} s (${memory.last.id}).`;
  if (!memory.available) return 'Memories need continuous recording (switch it on here) or the look-back (recording.lookback.enabled in the configuration).';
  return `Look-back: ${formatMinutes(memory.lookback.availableS / 60)} on disk.`;
}

function ModesCard({ state, store, act }) {
  const { status, camera } = state;
  const online = state.connection.state === 'open' && status !== null;
  const continuous = Boolean(status && status.continuous && status.continuous.enabled);
  const memory = status && status.memory;
  const toggleContinuous = () =>
    act(async () => {
      await api('POST', `${cameraApi(camera)}/continuous`, { enabled: !continuous });
      say(store, continuous ? 'Continuous recording off.' : 'Continuous recording on.');
    });
  const saveMemory = () =>
    act(async () => {
      const pending = await api('POST', `${cameraApi(camera)}/memories`, {});
      say(store, `Saving the last ${formatMinutes(pending.minutes)}…`);
    });
  const chooseQuality = (id) => {
    saveSetting(localStorage, 'quality', id);
    store.set({ quality: id });
  };
  const toggleBoxes = () => {
    saveSetting(localStorage, 'showBoxes', !state.showBoxes);
    store.set({ showBoxes: !state.showBoxes });
  };
  const live = state.live;
  return html`<section class="card" aria-labelledby="modes-title">
    <h2 id="modes-title">Live and recording</h2>
    <div class="quality" role="group" aria-label="live quality">
      ${QUALITIES.map((q) => {
        // This camera's measured cost (the server's running average), else what this browser measured.
        const measured = status && status.live && status.live.bytesPerS ? status.live.bytesPerS[q.id] : null;
        const rate = mbPerHour(typeof measured === 'number' ? measured : state.rates[q.id]);
        return html`<button key=${q.id} id=${`quality-${q.id}`} type="button" aria-pressed=${state.quality === q.id ? 'true' : 'false'} onClick=${() => chooseQuality(q.id)} title=${typeof measured === 'number' ? 'measured on this camera (running average)' : ''}>
          <span>${q.label}</span><span class="small muted">${rate ? `≈ ${rate}` : q.detail}</span>
        </button>`;
      })}
    </div>
    <p id="live-info" class="small muted reserve" role="status">
      ${live.mode === 'video' ? 'H.264 video' : live.mode === 'saver' ? 'Data saver: one picture a second' : live.mode === 'jpeg' ? 'JPEG pictures' : ''}
      ${live.bytesPerS !== null && live.mode ? ` · ${mbPerHour(live.bytesPerS)} now` : ''}
      ${live.behindS !== null && live.mode === 'video' ? ` · ${live.behindS.toFixed(2)} s behind live` : ''}
      ${live.reason ? ` · ${live.reason}` : ''}
    </p>
    <div class="buttons">
      <button id="boxes-toggle" type="button" aria-pressed=${state.showBoxes ? 'true' : 'false'} onClick=${toggleBoxes}>Motion boxes</button>
      <button id="continuous-toggle" hidden=${!mayControl(state.me)} type="button" aria-pressed=${continuous ? 'true' : 'false'} disabled=${!online} onClick=${toggleContinuous} title="record everything in segments (dashcam); the oldest segments are overwritten first">
        Continuous: ${status ? (continuous ? 'on' : 'off') : '–'}
      </button>
      <button id="memory" hidden=${!mayControl(state.me)} type="button" class="primary" disabled=${!online || !memory || !memory.available} onClick=${saveMemory} title="saves the last minutes as one video; press again within a few seconds for more">
        ${memory && memory.pending ? `+ ${formatMinutes(memory.stepMinutes)} (saving ${formatMinutes(memory.pending.lookbackS / 60)})` : `Save the last ${memory ? formatMinutes(memory.defaultMinutes) : '…'}`}
      </button>
    </div>
    <p id="memory-status" class=${`small reserve ${memory && memory.lastError && !memory.pending ? 'error' : 'muted'}`} role="status">${memory ? memoryLine(memory) : ''}</p>
  </section>`;
}

/** The live view. */
export function LiveView({ state, store, connection }) {
  const act = useAct(store);
  const toggleMotion = mayControl(state.me) ? () => act(() => api('POST', `${cameraApi(state.camera)}/motion`, { enabled: true })) : null;
  return html`<section id="live-view" class="view live-grid" aria-label="live">
    <div class="live-card">
      <${LivePlayer} state=${state} store=${store} connection=${connection} onToggleMotion=${toggleMotion} />
      <${PrimaryControls} state=${state} store=${store} act=${act} />
    </div>
    <${MotionCard} state=${state} store=${store} act=${act} />
    <${ModesCard} state=${state} store=${store} act=${act} />
  </section>`;
}
