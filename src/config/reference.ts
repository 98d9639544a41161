/**
 * Renders the configuration reference (a Markdown table) from the JSON Schema.
 *
 * Owns: docs/configuration.md's reference table, which `scripts/gen-config-reference.ts`
 * writes and `test/unit/config/reference.test.ts` keeps in step with `schema.ts`.
 * Must never: do I/O. Invariants: output is deterministic (schema order), one row per key,
 * arrays of objects shown as `key[].child`.
 */
import type { JsonSchema } from './schema.js';

/** A Markdown table of every key: path, type, default, description. */
export function renderConfigReference(schema: JsonSchema): string {
  const rows: string[] = ['| Key | Type | Default | Description |', '|---|---|---|---|'];
  walk(schema, '', rows);
  return rows.join('\n');
}

function walk(node: JsonSchema, prefix: string, rows: string[]): void {
  const required = new Set(node.required ?? []);
  for (const [key, sub] of Object.entries(node.properties ?? {})) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    const description = `${required.has(key) ? '**Required.** ' : ''}${sub.description ?? ''}`.trim();
    rows.push(`| \`${path}\` | ${cell(typeLabel(sub))} | ${cell(defaultLabel(sub))} | ${cell(description)} |`);
    if (sub.properties !== undefined) walk(sub, path, rows);
    if (sub.items?.properties !== undefined) walk(sub.items, `${path}[]`, rows);
  }
}

function typeLabel(node: JsonSchema): string {
  if (node.enum !== undefined) return node.enum.map((v) => `\`${String(v)}\``).join(' | ');
  const types = node.type === undefined ? [] : typeof node.type === 'string' ? [node.type] : node.type;
  let label = types
    .map((t) => (t === 'array' ? `list of ${node.items === undefined ? 'any' : typeLabel(node.items)}` : t === 'object' ? 'mapping' : t))
    .join(' | ');
  if (node.format !== undefined) label += ` (${node.format})`;
  const range = rangeLabel(node);
  if (range !== '') label += ` ${range}`;
  return label;
}

function rangeLabel(node: JsonSchema): string {
  const { minimum: min, maximum: max } = node;
  if (min !== undefined && max !== undefined) return `${min}..${max}`;
  if (min !== undefined) return `>= ${min}`;
  if (max !== undefined) return `<= ${max}`;
  return '';
}

function defaultLabel(node: JsonSchema): string {
  const value = node.default;
  if (value === undefined) return '';
  // `{}` only makes a block's own defaults apply; it says nothing to a reader.
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0) return '';
  return `\`${flow(value)}\``;
}

/** YAML flow style, as a user would write the value in the config file. */
function flow(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(flow).join(', ')}]`;
  if (value === null) return 'null';
  if (typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${k}: ${flow(v)}`)
      .join(', ')}}`;
  }
  if (typeof value === 'string') return /^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(value) ? value : JSON.stringify(value);
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : typeof value;
}

function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}
