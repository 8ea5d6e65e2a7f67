// The settings form, generated from the configuration's JSON Schema (GET /api/config): every
// key becomes a field of its group with its description, unit and bounds. It knows no key by
// name: a part of the page that has a better editor for a key (a mask drawn on the picture)
// registers it with `registerEditor`, and the form renders that editor in the key's place.
import { html } from '../lib.js';

const REDACTED = '[redacted]';
const editors = new Map();

/**
 * Registers a custom editor for a dotted key (e.g. `detector.mask`). `component` is rendered
 * with `{ key, schema, value, original, readOnly, error, onChange(value) }`; `onChange(null)`
 * resets the key to its default.
 */
export function registerEditor(key, component) {
  editors.set(key, component);
}

/** The value at a dotted key of a document. Pure. */
export function valueAt(doc, key) {
  let node = doc;
  for (const part of key.split('.')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
    node = node[part];
  }
  return node;
}

/** How a schema node is edited: `boolean`, `number`, `integer`, `choice`, `text`, `json`. Pure. */
export function kindOf(schema) {
  if (schema.enum) return 'choice';
  if (schema.anyOf) {
    const options = schema.anyOf.filter((s) => s.type !== 'null');
    if (options.every((s) => s.const !== undefined)) return 'choice';
    if (options.length === 1) return kindOf(options[0]);
    return 'json';
  }
  if (schema.type === 'boolean') return 'boolean';
  if (schema.type === 'integer') return 'integer';
  if (schema.type === 'number') return 'number';
  if (schema.type === 'string') return 'text';
  return 'json';
}

/** The choices of a `choice` node. Pure. */
function choicesOf(schema) {
  if (schema.enum) return schema.enum;
  return schema.anyOf.filter((s) => s.type !== 'null').map((s) => s.const);
}

/** The bounds of a number node (through a nullable anyOf). Pure. */
function numberSchema(schema) {
  return schema.anyOf ? schema.anyOf.find((s) => s.type === 'number' || s.type === 'integer') || schema : schema;
}

/** True when a node accepts null (`anyOf` with a null branch). Pure. */
function nullable(schema) {
  return Boolean(schema.anyOf && schema.anyOf.some((s) => s.type === 'null'));
}

/**
 * The fields of a schema in order: one per leaf key, or per key with a registered editor, or
 * per free-form object or array (edited as JSON). Each with its group and section. Pure.
 */
export function fieldsOf(schema) {
  const out = [];
  const walk = (node, key) => {
    if (key && editors.has(key)) return void out.push({ key, schema: node, custom: true });
    if (node.type === 'object' && node.properties && !node.anyOf) {
      for (const [name, child] of Object.entries(node.properties)) walk(child, key ? `${key}.${name}` : name);
      return;
    }
    if (key) out.push({ key, schema: node, custom: false });
  };
  walk(schema, '');
  return out.map((field) => ({ ...field, group: field.schema['x-group'] || 'System', section: field.key.split('.').slice(0, -1).join('.') || field.key }));
}

/**
 * Checks a value against its node's bounds, as the server would; returns a message or null.
 * The server's answer is final (it names the key too); this only saves a round trip.
 */
export function checkValue(schema, value) {
  if (value === null) return null;
  const kind = kindOf(schema);
  if (kind === 'number' || kind === 'integer') {
    const bounds = numberSchema(schema);
    if (typeof value !== 'number' || Number.isNaN(value)) return 'a number is needed';
    if (kind === 'integer' && !Number.isInteger(value)) return 'a whole number is needed';
    if (bounds.minimum !== undefined && value < bounds.minimum) return `at least ${bounds.minimum}`;
    if (bounds.maximum !== undefined && value > bounds.maximum) return `at most ${bounds.maximum}`;
    if (bounds.multipleOf !== undefined && Math.abs(value / bounds.multipleOf - Math.round(value / bounds.multipleOf)) > 1e-9) return `a multiple of ${bounds.multipleOf}`;
  }
  if (kind === 'text' && typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) return `at least ${schema.minLength} characters`;
    if (schema.maxLength !== undefined && value.length > schema.maxLength) return `at most ${schema.maxLength} characters`;
  }
  return null;
}

/** A short text of a value for the list of changes (secrets never shown). Pure. */
export function showValue(schema, value) {
  if (value === undefined || value === null) return 'default';
  if (schema['x-secret']) return '••••••';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function idOf(key) {
  return `setting-${key.replace(/[^A-Za-z0-9_-]/g, '-')}`;
}

/** The input of one field. */
function Input({ field, value, readOnly, onChange, onInvalid }) {
  const { key, schema } = field;
  const id = idOf(key);
  const kind = kindOf(schema);
  if (kind === 'boolean') {
    return html`<input id=${id} type="checkbox" checked=${Boolean(value)} disabled=${readOnly} onChange=${(e) => onChange(e.currentTarget.checked)} />`;
  }
  if (kind === 'choice') {
    const choices = choicesOf(schema);
    return html`<select id=${id} disabled=${readOnly} onChange=${(e) => onChange(choices[Number(e.currentTarget.value)])}>
      ${value === undefined ? html`<option value="" selected>(not set)</option>` : null}
      ${choices.map((choice, index) => html`<option key=${String(choice)} value=${index} selected=${choice === value}>${String(choice)}</option>`)}
    </select>`;
  }
  if (kind === 'number' || kind === 'integer') {
    const bounds = numberSchema(schema);
    const step = bounds.multipleOf || (kind === 'integer' ? 1 : 'any');
    return html`<input id=${id} type="number" inputmode="decimal" min=${bounds.minimum} max=${bounds.maximum} step=${step} value=${value === null || value === undefined ? '' : value}
      placeholder=${nullable(schema) ? 'none' : ''} disabled=${readOnly}
      onInput=${(e) => {
        const text = e.currentTarget.value.trim();
        onChange(text === '' ? (nullable(schema) ? null : undefined) : Number(text));
      }} />`;
  }
  if (kind === 'text') {
    const secret = Boolean(schema['x-secret']);
    return html`<input id=${id} type=${secret ? 'password' : 'text'} autocomplete="off" spellcheck="false" disabled=${readOnly}
      value=${secret && value === REDACTED ? '' : (value ?? '')} placeholder=${secret && value === REDACTED ? '(unchanged)' : ''}
      onInput=${(e) => onChange(e.currentTarget.value === '' && secret ? REDACTED : e.currentTarget.value)} />`;
  }
  // Arrays and free-form objects: JSON, checked as it is typed.
  const text = value === undefined ? '' : JSON.stringify(value, null, 2);
  return html`<textarea id=${id} rows=${Math.min(12, Math.max(2, text.split('\n').length))} spellcheck="false" disabled=${readOnly}
    onInput=${(e) => {
      const source = e.currentTarget.value.trim();
      if (source === '') return onChange(null);
      try {
        onChange(JSON.parse(source));
      } catch (error) {
        onInvalid(`not valid JSON: ${error.message}`);
      }
    }}>${text}</textarea>`;
}

const ORIGIN_NOTE = { env: 'Set by the environment (read-only here).', flag: 'Set by a command-line flag (read-only here).' };
const APPLY_NOTE = { live: 'Applies at once.', camera: 'Restarts the camera (the clip being written is finished first).', restart: 'Needs a restart of Preroll.' };

/** One field: label, input (or the registered editor), unit, description, where it comes from, its error, reset. */
export function Field({ field, value, original, origin, error, edited, onChange, onInvalid }) {
  const { key, schema } = field;
  const readOnly = origin === 'env' || origin === 'flag';
  const Editor = field.custom ? editors.get(key) : null;
  const name = key.split('.').pop();
  return html`<div class=${`setting${edited ? ' edited' : ''}${error ? ' invalid' : ''}`} data-key=${key}>
    <label for=${idOf(key)} class="setting-name"><code>${name}</code>${schema['x-unit'] ? html` <span class="unit">(${schema['x-unit']})</span>` : null}</label>
    <div class="setting-input">
      ${Editor
        ? html`<${Editor} key=${key} schema=${schema} value=${value} original=${original} readOnly=${readOnly} error=${error} onChange=${onChange} />`
        : html`<${Input} field=${field} value=${value} readOnly=${readOnly} onChange=${onChange} onInvalid=${onInvalid} />`}
      ${!readOnly && (origin === 'file' || edited)
        ? html`<button type="button" class="small reset" title="back to the default" aria-label=${`reset ${key} to its default`} onClick=${() => onChange(null)}>Default</button>`
        : null}
    </div>
    ${error ? html`<p class="error setting-error" role="alert">${error}</p>` : null}
    <p class="small muted setting-help">${schema.description || ''}${' '}<span class="apply">${ORIGIN_NOTE[origin] || APPLY_NOTE[schema['x-apply']] || ''}</span></p>
  </div>`;
}
