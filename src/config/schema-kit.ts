/**
 * The building blocks of the config schema (PURE): the JSON Schema subset it uses, and the
 * helpers its sections are written with (addresses, ports, listeners, blocks, integers).
 *
 * Owns: the `JsonSchema` shape and the conventions every section follows: an object block has
 * `additionalProperties: false` and defaults to `{}`, so its own defaults apply.
 * Must never: hold a config key of its own (keys are schema.ts's and its sections').
 */
import type { FormatName } from '../util/formats.js';

/** The subset of JSON Schema that this schema uses; enough to walk it for docs and overrides. */
export interface JsonSchema {
  readonly $schema?: string;
  readonly $id?: string;
  readonly title?: string;
  readonly description?: string;
  readonly type?: JsonType | readonly JsonType[];
  readonly default?: unknown;
  readonly enum?: readonly unknown[];
  readonly const?: unknown;
  readonly format?: FormatName;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: string;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly uniqueItems?: boolean;
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean;
  readonly items?: JsonSchema;
  readonly if?: JsonSchema;
  readonly then?: JsonSchema;
  readonly allOf?: readonly JsonSchema[];
}

export type JsonType = 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean' | 'null';

// --- building blocks ----------------------------------------------------------------------------

export const TTL_MAX = 2147483647; // RFC 2181 §8: TTLs are unsigned 31-bit values.

export const ip = (description: string): JsonSchema => ({ type: 'string', format: 'ip', description });

export const port = (description: string, defaultPort?: number): JsonSchema => ({
  type: 'integer',
  minimum: 1,
  maximum: 65535,
  description,
  ...(defaultPort === undefined ? {} : { default: defaultPort }),
});

export const listen = (description: string, address: string, listenPort: number): JsonSchema => ({
  type: 'object',
  description,
  additionalProperties: false,
  default: { address, port: listenPort },
  properties: {
    address: { ...ip('Address to bind.'), default: address },
    port: { type: 'integer', minimum: 0, maximum: 65535, default: listenPort, description: 'Port to bind; 0 picks a free port.' },
  },
});

export const block = (description: string, properties: Record<string, JsonSchema>, extra: Partial<JsonSchema> = {}): JsonSchema => ({
  type: 'object',
  description,
  additionalProperties: false,
  default: {},
  properties,
  ...extra,
});

export const int = (description: string, def: number, minimum: number, maximum?: number): JsonSchema => ({
  type: 'integer',
  description,
  default: def,
  minimum,
  ...(maximum === undefined ? {} : { maximum }),
});
