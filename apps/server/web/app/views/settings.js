// The settings view (admins): the configuration in groups, generated from its schema, with
// the changes listed before they are saved, the server's answer next to the field it names,
// what was applied and what needs a restart, and backup/restore. Another page's save (the
// WebSocket says so) reloads it; unsaved edits are kept and the next save is checked against it.
import { html, useEffect, useMemo, useState } from '../lib.js';
import { api, ApiError } from '../api.js';
import { Field, checkValue, fieldsOf, showValue, valueAt } from './settings-form.js';

function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A merge patch from one object to another: keys left out become null (removed). Pure. */
function mergeDiff(before, after) {
  if (!isObject(before) || !isObject(after)) return after;
  const out = {};
  for (const key of Object.keys(before)) if (!(key in after)) out[key] = null;
  for (const [key, value] of Object.entries(after)) if (JSON.stringify(value) !== JSON.stringify(before[key])) out[key] = mergeDiff(before[key], value);
  return out;
}

/**
 * The JSON merge patch that turns the edits into a change of the file: nested keys, null
 * resets, and an object edited as JSON replaced whole (its removed keys sent as null). Pure.
 */
export function patchOf(edits, config) {
  const patch = {};
  for (const [key, value] of Object.entries(edits)) {
    const parts = key.split('.');
    let node = patch;
    for (const part of parts.slice(0, -1)) node = node[part] ??= {};
    node[parts[parts.length - 1]] = mergeDiff(valueAt(config, key), value);
  }
  return patch;
}

/** Sends a conditional request with the version it was made against. */
async function send(method, path, body, version) {
  const response = await fetch(path, {
    method,
    headers: { 'Content-Type': 'application/json', 'If-Match': `"${version}"` },
    body: JSON.stringify(body),
    cache: 'no-store',
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new ApiError(response.status, data.code || 'HTTP_ERROR', data.message || response.statusText), { key: data.key, version: data.version });
  return data;
}

function Group({ name, fields, data, edits, errors, onChange, onInvalid, open }) {
  let section = null;
  return html`<details class="card settings-group" id=${`group-${name.replace(/\W+/g, '-').toLowerCase()}`} open=${open}>
    <summary><h2>${name}</h2></summary>
    ${fields.map((field) => {
      const heading = field.section !== section ? ((section = field.section), html`<h3 key=${`h${field.section}`} class="settings-section"><code>${field.section}</code></h3>`) : null;
      const edited = Object.prototype.hasOwnProperty.call(edits, field.key);
      const value = edited ? (edits[field.key] === null ? field.schema.default : edits[field.key]) : valueAt(data.config, field.key);
      return html`${heading}<${Field} key=${field.key} field=${field} value=${value} original=${valueAt(data.config, field.key)}
        origin=${data.origins[field.key] || (edited ? 'file' : 'default')} error=${errors[field.key]} edited=${edited}
        onChange=${(next) => onChange(field, next)} onInvalid=${(message) => onInvalid(field, message)} />`;
    })}
  </details>`;
}

function Backup({ data, reload, say, act }) {
  const withSecrets = () =>
    act(async () => {
      if (!confirm('The backup will contain passwords and keys in plain text. Download it anyway?')) return;
      const bundle = await api('POST', '/api/config/backup', { includeSecrets: true, confirm: 'include secrets' });
      const link = document.createElement('a');
      link.href = URL.createObjectURL(new Blob([JSON.stringify(bundle, null, 2)], { type: 'application/json' }));
      link.download = `preroll-backup-with-secrets-${new Date().toISOString().slice(0, 10)}.json`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    });
  const restore = (event) =>
    act(async () => {
      const file = event.currentTarget.files[0];
      event.currentTarget.value = '';
      if (!file) return;
      let bundle;
      try {
        bundle = JSON.parse(await file.text());
      } catch (error) {
        throw new ApiError(400, 'CONFIG_BAD_BACKUP', `${file.name} is not JSON: ${error.message}`);
      }
      const result = await send('POST', '/api/config/restore', bundle, data.version);
      say(`Restored: ${result.changed.length} settings changed${result.restartRequired.length ? `; a restart is needed for ${result.restartRequired.join(', ')}` : ''}.`);
      await reload();
    });
  return html`<div class="card" id="settings-backup">
    <h2>Backup and restore</h2>
    <p class="small muted">One JSON file: the configuration, the switches of each camera and the list of API tokens. Passwords and keys are left out unless you ask for them; a restore keeps this server's.</p>
    <div class="buttons">
      <a id="backup-download" class="button" href="/api/config/backup" download>Download a backup</a>
      <button id="backup-secrets" type="button" onClick=${withSecrets}>…with passwords and keys</button>
      <label class="button" for="restore-file">Restore from a file…</label>
      <input id="restore-file" type="file" accept="application/json,.json" hidden disabled=${!data.editable} onChange=${restore} />
    </div>
  </div>`;
}

/** The settings view. */
export function SettingsView({ state, store, act }) {
  const [data, setData] = useState(null);
  const [edits, setEdits] = useState({});
  const [errors, setErrors] = useState({});
  const [reviewing, setReviewing] = useState(false);
  const [result, setResult] = useState(null);
  const say = (text, error = false) => store.set({ toast: { text, error, at: Date.now() } });
  const reload = async () => {
    const next = await api('GET', '/api/config');
    setData(next);
    return next;
  };
  useEffect(() => {
    act(reload);
  }, []);
  // Saved from another page (or edited by hand): show the new version; unsaved edits stay.
  useEffect(() => {
    if (data && state.configVersion && state.configVersion !== data.version) act(reload);
  }, [state.configVersion]);
  const fields = useMemo(() => (data ? fieldsOf(data.schema) : []), [data && data.schema]);
  if (!data) return html`<section id="settings-view" class="view" aria-label="settings"><div class="card"><p>Loading the settings…</p></div></section>`;

  const byKey = new Map(fields.map((f) => [f.key, f]));
  const onChange = (field, value) => {
    setErrors((e) => ({ ...e, [field.key]: checkValue(field.schema, value) || undefined }));
    setResult(null);
    setEdits((current) => {
      const next = { ...current };
      // Back to what is saved: no longer a change.
      if (value !== null && JSON.stringify(value) === JSON.stringify(valueAt(data.config, field.key))) delete next[field.key];
      else next[field.key] = value === undefined ? null : value;
      return next;
    });
  };
  const onInvalid = (field, message) => setErrors((e) => ({ ...e, [field.key]: message }));
  const pending = Object.keys(edits).sort();
  const blocked = pending.some((key) => errors[key]);
  const save = () =>
    act(async () => {
      try {
        const answer = await send('PATCH', '/api/config', patchOf(edits, data.config), data.version);
        setEdits({});
        setErrors({});
        setReviewing(false);
        setResult(answer);
        store.set({ configVersion: answer.version });
        await reload();
        say(answer.restartRequired.length ? `Saved. Needs a restart of Preroll: ${answer.restartRequired.join(', ')}` : 'Saved and applied.');
      } catch (error) {
        if (error.key) {
          // The server names the key: the message goes next to its field (or the nearest one above it).
          const field = pending.find((k) => k === error.key || error.key.startsWith(`${k}.`)) || pending.find((k) => k.startsWith(`${error.key}.`)) || error.key;
          setErrors((e) => ({ ...e, [field]: error.message }));
          setReviewing(false);
          say(`Not saved: ${error.key}: ${error.message}`, true);
          return;
        }
        if (error.code === 'CONFIG_VERSION_CONFLICT') {
          await reload();
          say('Changed elsewhere meanwhile: the page shows the new settings with your edits on top; review and save again.', true);
          return;
        }
        throw error;
      }
    });
  const groups = data.groups.map((name) => ({ name, fields: fields.filter((f) => f.group === name) })).filter((g) => g.fields.length);
  return html`<section id="settings-view" class="view" aria-label="settings">
    ${data.error
      ? html`<div class="card error-card" id="settings-file-error" role="alert">
          <h2>The configuration file has an error</h2>
          <p>${data.error.message}</p>
          <p class="small">Preroll goes on with the last good settings. Saving here writes a corrected file.</p>
        </div>`
      : null}
    ${!data.editable ? html`<div class="card"><p id="settings-readonly">Preroll was started without a configuration file (<code>--config FILE</code>): settings are shown but cannot be saved.</p></div>` : null}
    ${data.restartRequired.length ? html`<div class="card"><p id="settings-restart" class="small">A restart of Preroll is needed for: ${data.restartRequired.join(', ')}</p></div>` : null}
    <div class="card settings-actions" id="settings-actions">
      <p id="settings-pending" class="small">${pending.length ? `${pending.length} unsaved change${pending.length > 1 ? 's' : ''}` : 'No unsaved changes'}</p>
      <div class="buttons">
        <button id="settings-review" type="button" class="primary" disabled=${!pending.length || blocked || !data.editable} onClick=${() => setReviewing(true)}>Review and save…</button>
        <button id="settings-discard" type="button" disabled=${!pending.length} onClick=${() => (setEdits({}), setErrors({}), setReviewing(false))}>Discard</button>
      </div>
      ${reviewing
        ? html`<div id="settings-diff" class="diff">
            <table>
              <thead><tr><th>setting</th><th>now</th><th>after saving</th></tr></thead>
              <tbody>
                ${pending.map((key) => {
                  const schema = byKey.get(key)?.schema || {};
                  return html`<tr key=${key}><td><code>${key}</code></td><td>${showValue(schema, valueAt(data.config, key))}</td><td>${edits[key] === null ? `default (${showValue(schema, schema.default)})` : showValue(schema, edits[key])}</td></tr>`;
                })}
              </tbody>
            </table>
            <div class="buttons">
              <button id="settings-save" type="button" class="primary" onClick=${save}>Save</button>
              <button type="button" onClick=${() => setReviewing(false)}>Back</button>
            </div>
          </div>`
        : null}
      ${result
        ? html`<p id="settings-result" class="small">Applied: ${result.applied.join(', ') || 'nothing'}${result.restartRequired.length ? `. Needs a restart: ${result.restartRequired.join(', ')}` : ''}</p>`
        : null}
    </div>
    ${groups.map((group, index) => html`<${Group} key=${group.name} name=${group.name} fields=${group.fields} data=${data} edits=${edits} errors=${errors} onChange=${onChange} onInvalid=${onInvalid} open=${index === 1} />`)}
    <${Backup} data=${data} reload=${reload} say=${say} act=${act} />
  </section>`;
}
