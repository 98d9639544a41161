/**
 * Loads the configuration: YAML file, then `GSDNS_*` environment overrides, then `--set` flags;
 * validates it against `schema.ts` plus semantic checks; returns it deeply frozen.
 *
 * Owns: the only reading of the environment and of the config file in gsdns, override
 * precedence, error reporting with key paths (YAML parsing, ajv and the wording of schema errors
 * are shared with the catalog file in `util/yaml-schema.ts`), normalisation (zones lowercased
 * without trailing dot, relative file paths made absolute).
 * Must never: stop at the first error (every problem is reported at once), throw for an invalid
 * configuration (that is a value: `{ ok: false, errors }`), or read `process.env` itself (the
 * composition root passes it in).
 * Invariants: a returned `Config` validated completely, has every default applied, and is frozen.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { formatIssues as formatIssueLines } from '../errors.js';
import { semanticProblems } from './rules.js';
import {
  compileSchema,
  formatPath,
  locate,
  parseYaml,
  suggestKey,
  yamlMessage,
  type ParsedYaml,
  type SchemaValidator,
  type Segment,
} from '../util/yaml-schema.js';
import { configSchema, schemaAt, typesOf, type JsonSchema, type JsonType } from './schema.js';
import type { Config, ConfigIssue, ConfigSource, ConfigSources } from './types.js';

export interface LoadConfigOptions {
  /** Path of the YAML config file. With `text`, only names the file (for relative paths and messages). */
  readonly file?: string | undefined;
  /** YAML text to use instead of reading `file`. */
  readonly text?: string | undefined;
  /** The environment to read `GSDNS_*` overrides from; pass `process.env`. Omitted: no env overrides. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined;
  /** `key.path=value` strings from repeated `--set` flags, applied in order after the environment. */
  readonly sets?: readonly string[] | undefined;
  /** Base folder for relative paths given by env or flags (and by `text` without `file`). Default: process.cwd(). */
  readonly cwd?: string | undefined;
}

export type LoadConfigResult =
  | { readonly ok: true; readonly config: Config; readonly sources: ConfigSources }
  | { readonly ok: false; readonly errors: readonly ConfigIssue[] };

/** Prefix of every configuration environment variable. */
export const ENV_PREFIX = 'GSDNS_';
/** Separator of key path segments in environment variable names. */
export const ENV_SEPARATOR = '__';
/** Names the config file for the CLI (`gsdns serve` without `--config`); never a config key. */
export const CONFIG_FILE_ENV = 'GSDNS_CONFIG';
/** `GSDNS_*` variables that are not config overrides and are ignored by loadConfig. */
export const RESERVED_ENV: ReadonlySet<string> = new Set([CONFIG_FILE_ENV]);

type Data = Record<string, unknown>;

/** Lines like `dns.listen[0].port: must be <= 65535 (file, line 7)`, for `gsdns check-config`. */
export function formatIssues(issues: readonly ConfigIssue[]): string[] {
  return formatIssueLines(issues);
}

/**
 * Absolute path of the embedded demo config, `config/demo.yaml` in the package. This module lives
 * in `src/config/` (tsx) or `dist/config/` (built), so the package root is two folders up.
 */
export function embeddedConfigPath(): string {
  return fileURLToPath(new URL('../../config/demo.yaml', import.meta.url));
}

/** What the layers (file, environment, flags) built, and where each key came from. */
interface Layered {
  data: Data;
  readonly issues: ConfigIssue[];
  readonly origin: Map<string, ConfigSource>;
  readonly sources: { file?: string; env: { name: string; path: string }[]; flags: string[] };
  parsed?: ParsedYaml;
  fromFile: boolean;
  fileBroken: boolean;
}

/** Loads, merges, validates, normalises and freezes the configuration. Never throws for bad input. */
export function loadConfig(options: LoadConfigOptions = {}): LoadConfigResult {
  const cwd = options.cwd ?? process.cwd();
  const file = options.file === undefined ? undefined : resolve(cwd, options.file);
  const layered: Layered = { data: {}, issues: [], origin: new Map(), sources: { env: [], flags: [] }, fromFile: false, fileBroken: false };
  if (file !== undefined) layered.sources.file = file;
  readFileLayer(layered, options.text, file); // 1. The YAML file.
  applyEnvLayer(layered, options.env ?? {}); // 2. GSDNS_* environment variables.
  applyFlagLayer(layered, options.sets ?? []); // 3. --set flags, in order.
  const { data, issues, origin, parsed, fromFile } = layered;
  // A file that does not parse has no keys to validate; report what is known.
  if (layered.fileBroken) return { ok: false, errors: issues };

  const sourceOf = (segments: readonly Segment[]): ConfigSource | undefined => {
    for (let n = segments.length; n > 0; n--) {
      const found = origin.get(formatPath(segments.slice(0, n)));
      if (found !== undefined) return found;
    }
    return fromFile ? 'file' : undefined;
  };
  const issueAt = (segments: readonly Segment[], message: string): ConfigIssue => {
    const source = sourceOf(segments);
    const pos = source === 'file' && parsed !== undefined ? locate(parsed.doc, parsed.lineCounter, segments) : undefined;
    return { path: formatPath(segments), message, source, line: pos?.line, col: pos?.col };
  };

  // 4. Normalise, validate (applying defaults), check what the schema cannot express.
  dropNullBlocks(data, configSchema);
  normaliseZones(data);
  defaultDegradedTtl(data);
  for (const problem of configValidator()(data)) issues.push(issueAt(problem.segments, problem.message));
  for (const problem of semanticProblems(data)) issues.push(issueAt(problem.segments, problem.message));

  if (issues.length > 0) return { ok: false, errors: issues };

  // 5. Absolute paths: relative to the config file's folder when the value came from the file.
  const fileBase = file !== undefined ? dirname(file) : cwd;
  resolvePaths(data, configSchema, [], (segments) => (sourceOf(segments) === 'file' ? fileBase : cwd));

  return { ok: true, config: deepFreeze(data) as unknown as Config, sources: deepFreeze(layered.sources) };
}

/** The YAML file (or the text given instead): a mapping, or issues with their lines. */
function readFileLayer(l: Layered, given: string | undefined, file: string | undefined): void {
  let text = given;
  if (text === undefined && file !== undefined) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      l.issues.push({ path: '', message: `cannot read ${file}: ${(err as Error).message}`, source: 'file' });
      l.fileBroken = true;
    }
  }
  if (text === undefined) return;
  l.fromFile = true;
  const parsed = parseYaml(text);
  l.parsed = parsed;
  for (const err of parsed.issues) {
    l.issues.push({ path: '', message: err.message, source: 'file', line: err.line, col: err.col });
    l.fileBroken = true;
  }
  if (l.fileBroken) return;
  if (isPlainObject(parsed.data)) l.data = parsed.data;
  else if (parsed.data !== null && parsed.data !== undefined) {
    l.issues.push({ path: '', message: 'the config file must be a mapping of keys to values', source: 'file' });
    l.fileBroken = true;
  }
}

/** GSDNS_* variables, in name order so a list is set before its items. */
function applyEnvLayer(l: Layered, env: Readonly<Record<string, string | undefined>>): void {
  for (const name of Object.keys(env).sort()) {
    const raw = env[name];
    if (raw === undefined || !name.startsWith(ENV_PREFIX) || RESERVED_ENV.has(name) || isKubernetesServiceLink(name)) continue;
    const mapped = envNameToPath(name);
    if ('error' in mapped) {
      l.issues.push({ path: mapped.path, message: mapped.error, source: 'env' });
      continue;
    }
    const problem = applyOverride(l.data, mapped.segments, raw, (at) => l.origin.set(formatPath(at), 'env'));
    if (problem !== undefined) {
      l.issues.push({ path: formatPath(mapped.segments), message: `${problem} (from ${name})`, source: 'env' });
      continue;
    }
    l.origin.set(formatPath(mapped.segments), 'env');
    l.sources.env.push({ name, path: formatPath(mapped.segments) });
  }
}

/** --set key.path=value flags, in order. */
function applyFlagLayer(l: Layered, sets: readonly string[]): void {
  for (const set of sets) {
    const eq = set.indexOf('=');
    if (eq <= 0) {
      l.issues.push({ path: set, message: 'expected --set key.path=value', source: 'flag' });
      continue;
    }
    const mapped = flagKeyToPath(set.slice(0, eq).trim());
    if ('error' in mapped) {
      l.issues.push({ path: mapped.path, message: mapped.error, source: 'flag' });
      continue;
    }
    const problem = applyOverride(l.data, mapped.segments, set.slice(eq + 1), (at) => l.origin.set(formatPath(at), 'flag'));
    if (problem !== undefined) {
      l.issues.push({ path: formatPath(mapped.segments), message: problem, source: 'flag' });
      continue;
    }
    l.origin.set(formatPath(mapped.segments), 'flag');
    l.sources.flags.push(formatPath(mapped.segments));
  }
}

// --- validation ---------------------------------------------------------------------------------

let compiled: SchemaValidator | undefined;

function configValidator(): SchemaValidator {
  compiled ??= compileSchema(configSchema);
  return compiled;
}

// --- overrides (env and flags) ------------------------------------------------------------------

/**
 * Kubernetes injects Docker-link variables for every Service in the namespace (unless
 * `enableServiceLinks: false`): a Service `gsdns` yields GSDNS_SERVICE_HOST, GSDNS_PORT_53_UDP...
 * They are not config keys and must not fail startup.
 */
function isKubernetesServiceLink(name: string): boolean {
  return (
    !name.includes(ENV_SEPARATOR) &&
    /_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)$/.test(name)
  );
}

const screaming = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
const camel = (segment: string): string => segment.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

type Mapped = { segments: Segment[] } | { path: string; error: string };

/** `GSDNS_DNS__NEGATIVE_TTL` → ['dns', 'negativeTtl']; `GSDNS_SYNC__PEERS__0__URL` → ['sync', 'peers', 0, 'url']. */
function envNameToPath(name: string): Mapped {
  const parts = name.slice(ENV_PREFIX.length).split(ENV_SEPARATOR);
  const segments: Segment[] = [];
  let node: JsonSchema | undefined = configSchema;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const props: Readonly<Record<string, JsonSchema>> = node?.properties ?? {};
    const key = Object.keys(props).find((k) => screaming(k) === part);
    if (node?.items !== undefined && /^\d+$/.test(part)) {
      segments.push(Number(part));
      node = node.items;
    } else if (key !== undefined) {
      segments.push(key);
      node = props[key];
    } else {
      const rest = parts.slice(i).map((p) => (/^\d+$/.test(p) ? Number(p) : camel(p)));
      const hintKey = suggestKey(camel(part), Object.keys(props));
      const hint =
        hintKey === undefined
          ? ''
          : `, did you mean ${[...parts.slice(0, i), screaming(hintKey)].join(ENV_SEPARATOR).replace(/^/, ENV_PREFIX)}?`;
      return { path: formatPath([...segments, ...rest]), error: `unknown key (from ${name})${hint}` };
    }
  }
  if (segments.length === 0) return { path: '', error: `unknown key (from ${name})` };
  return { segments };
}

/** `dns.listen[0].port` (or `dns.listen.0.port`) → ['dns', 'listen', 0, 'port'], checked against the schema. */
function flagKeyToPath(key: string): Mapped {
  const segments: Segment[] = [];
  const syntax = /^([A-Za-z][A-Za-z0-9]*|\d+)((?:\[\d+\])*)$/;
  for (const part of key.split('.')) {
    const m = syntax.exec(part);
    if (m === null) return { path: key, error: 'is not a key path like dns.listen[0].port' };
    segments.push(/^\d+$/.test(m[1]!) ? Number(m[1]) : m[1]!);
    for (const index of m[2]!.matchAll(/\[(\d+)\]/g)) segments.push(Number(index[1]));
  }
  let node: JsonSchema | undefined = configSchema;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const next: JsonSchema | undefined =
      typeof seg === 'number'
        ? node?.items
        : node?.properties !== undefined && Object.hasOwn(node.properties, seg)
          ? node.properties[seg]
          : undefined;
    if (next === undefined) {
      const hint = typeof seg === 'string' ? suggestKey(seg, Object.keys(node?.properties ?? {})) : undefined;
      const what = typeof seg === 'number' ? `'${formatPath(segments.slice(0, i))}' is not a list` : `unknown key '${seg}'`;
      return { path: formatPath(segments), error: `${what}${hint === undefined ? '' : `, did you mean '${hint}'?`}` };
    }
    node = next;
  }
  return { segments };
}

/**
 * Parses `raw` as a YAML scalar or flow collection and sets it at `segments`; returns a problem or
 * undefined. `created` is told of every container made on the way, so errors inside it are
 * attributed to the override rather than to the file.
 */
function applyOverride(
  data: Data,
  segments: readonly Segment[],
  raw: string,
  created: (segments: readonly Segment[]) => void,
): string | undefined {
  const node = schemaAt(segments);
  const parsed = parseOverrideValue(raw, node === undefined ? [] : typesOf(node));
  if ('error' in parsed) return parsed.error;
  let cur: unknown = data;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const last = i === segments.length - 1;
    const container = cur as Record<string | number, unknown>;
    if (typeof seg === 'number') {
      const list = cur as unknown[];
      if (seg > list.length)
        return `index ${seg} is out of range: ${formatPath(segments.slice(0, i))} has ${list.length} item${list.length === 1 ? '' : 's'}`;
    }
    if (last) {
      container[seg] = parsed.value;
      return undefined;
    }
    const wantList = typeof segments[i + 1] === 'number';
    const child = container[seg];
    // An override wins over whatever the file had there, even a value of the wrong shape. A
    // missing container starts from its default, so `--set dns.listen[0].port=53` edits the
    // default listener instead of creating a listener without an address.
    if (wantList ? !Array.isArray(child) : !isPlainObject(child)) {
      const fallback = schemaAt(segments.slice(0, i + 1))?.default;
      const seeded = wantList ? Array.isArray(fallback) : isPlainObject(fallback);
      container[seg] = seeded ? structuredClone(fallback) : wantList ? [] : {};
      created(segments.slice(0, i + 1));
    }
    cur = container[seg];
  }
  return undefined;
}

/**
 * YAML parsing of an override value, so `[a, b]`, `{address: ::1, port: 53}`, `10` and `true`
 * work. When the key takes a string and the YAML reading is of a type the key does not take
 * (`GSDNS_CLUSTER__REGION=1`, an empty exportSelector), the raw text is used.
 */
function parseOverrideValue(raw: string, types: readonly JsonType[]): { value: unknown } | { error: string } {
  const takesString = types.includes('string');
  const parsedDoc = parseDocument(raw, { prettyErrors: false });
  if (parsedDoc.errors.length > 0) {
    if (takesString) return { value: raw };
    return { error: `cannot parse value as YAML: ${yamlMessage(parsedDoc.errors[0]!.message)}` };
  }
  const value: unknown = parsedDoc.toJS();
  if (types.length === 0 || types.some((t) => admits(t, value))) return { value };
  return takesString ? { value: raw } : { value };
}

function admits(type: JsonType, value: unknown): boolean {
  switch (type) {
    case 'null':
      return value === null;
    case 'string':
      return typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'number':
      return typeof value === 'number';
    case 'integer':
      return Number.isInteger(value);
    case 'array':
      return Array.isArray(value);
    case 'object':
      return isPlainObject(value);
  }
}

// --- normalisation ------------------------------------------------------------------------------

/** `dns:` with every child commented out parses as null; treat such a block as absent. */
function dropNullBlocks(data: Data, schema: JsonSchema): void {
  for (const [key, sub] of Object.entries(schema.properties ?? {})) {
    const value = data[key];
    const types = typesOf(sub);
    if (value === null && types.includes('object') && !types.includes('null')) delete data[key];
    else if (isPlainObject(value)) dropNullBlocks(value, sub);
  }
}

/** DNS names are lowercase with no trailing dot inside gsdns (STYLE.md). */
function normaliseZones(data: Data): void {
  const dns = data['dns'];
  if (!isPlainObject(dns) || !Array.isArray(dns['zones'])) return;
  dns['zones'] = dns['zones'].map((z: unknown) => (typeof z === 'string' && z !== '.' ? z.toLowerCase().replace(/\.$/, '') : z));
}

function resolvePaths(value: unknown, schema: JsonSchema, segments: Segment[], baseOf: (segments: readonly Segment[]) => string): void {
  if (Array.isArray(value) && schema.items !== undefined) {
    value.forEach((item, i) => resolvePaths(item, schema.items!, [...segments, i], baseOf));
  } else if (isPlainObject(value)) {
    for (const [key, sub] of Object.entries(schema.properties ?? {})) {
      const child = value[key];
      if (sub.format === 'file-path' && typeof child === 'string') {
        if (!isAbsolute(child)) value[key] = resolve(baseOf([...segments, key]), child);
      } else {
        resolvePaths(child, sub, [...segments, key], baseOf);
      }
    }
  }
}

// --- helpers ------------------------------------------------------------------------------------

/**
 * dns.degradedTtl must not exceed dns.ttl. When only dns.ttl is given, the default (1) follows it
 * down (dns.ttl: 0 means degradedTtl 0), so no error names a key the user never set.
 */
function defaultDegradedTtl(data: Data): void {
  const dns = asObject(data['dns']);
  if (dns === undefined || dns['degradedTtl'] !== undefined || !isNumber(dns['ttl'])) return;
  const fallback = schemaAt(['dns', 'degradedTtl'])?.default;
  if (isNumber(fallback) && dns['ttl'] >= 0 && dns['ttl'] < fallback) dns['degradedTtl'] = dns['ttl'];
}

function isPlainObject(value: unknown): value is Data {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asObject(value: unknown): Data | undefined {
  return isPlainObject(value) ? value : undefined;
}

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
