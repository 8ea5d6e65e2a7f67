import { z } from 'zod';
import { applyModeOf, groupOf, isSecretKey, unitOf, type ApplyMode, type ConfigGroup } from './document';
import { configSchema } from './schema';

/** A node of the exported JSON Schema, with Preroll's annotations on every key. */
export interface ConfigJsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  multipleOf?: number;
  enum?: unknown[];
  const?: unknown;
  anyOf?: ConfigJsonSchema[];
  oneOf?: ConfigJsonSchema[];
  maxItems?: number;
  properties?: Record<string, ConfigJsonSchema>;
  items?: ConfigJsonSchema;
  /** The dotted key this node describes. */
  'x-key'?: string;
  /** How a change takes effect: `live`, `camera` (the camera's source restarts) or `restart`. */
  'x-apply'?: ApplyMode;
  /** The settings-page group. */
  'x-group'?: ConfigGroup;
  /** The unit, from the key's name (`ms`, `s`, `%`, `bytes`, …). */
  'x-unit'?: string;
  /** A secret: its value is never returned. */
  'x-secret'?: boolean;
  [other: string]: unknown;
}

let cached: ConfigJsonSchema | null = null;

/**
 * The JSON Schema the configuration file is validated by, generated from the zod schema (so it
 * cannot drift), with descriptions and bounds, and on every key `x-key`, `x-apply`, `x-group`,
 * `x-unit` and `x-secret`. The settings page is rendered from it. Computed once.
 */
export function configJsonSchema(): ConfigJsonSchema {
  if (cached) return cached;
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as ConfigJsonSchema;
  annotate(schema, '');
  cached = Object.freeze(schema);
  return cached;
}

function annotate(node: ConfigJsonSchema, key: string): void {
  if (key) {
    node['x-key'] = key;
    node['x-apply'] = applyModeOf(key);
    node['x-group'] = groupOf(key);
    const unit = unitOf(key);
    if (unit && !node.properties) node['x-unit'] = unit;
    if (isSecretKey(key)) node['x-secret'] = true;
  }
  for (const [name, child] of Object.entries(node.properties ?? {})) annotate(child, key ? `${key}.${name}` : name);
}
