/**
 * YAML documents validated by a JSON Schema, each problem reported with a key path and a
 * line:column (PURE). Shared by the config loader and the catalog file codec; each adds its own
 * checks across keys on top.
 *
 * Owns: parsing YAML text with line tracking, and without it (`loadYamlFast`, for large documents
 * that are most likely valid); the one ajv instance, which knows the custom string
 * formats of `formats.ts`; turning ajv errors into problems worded for people ("unknown key 'ttll',
 * did you mean 'ttl'?", "must be <= 65535", "must be an IPv4 or IPv6 address, got 'x'"); key paths
 * (`services[2].ports[0]`) and finding them in the YAML source.
 * Must never: read files, log, use timers, or throw for bad input: a document that does not parse
 * or validate is a list of problems.
 * Invariants: every ajv error becomes one problem, except the `if` wrapper of a failing `then`
 * (the `then` is reported itself); a (path, message) pair is reported once; a position is 1-based
 * and points at the deepest key or list item of the path that the source has.
 */
import { Ajv, type ErrorObject, type SchemaObject } from 'ajv';
import { FAILSAFE_SCHEMA, load as jsYamlLoad, Type as JsYamlType } from 'js-yaml';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { formats, type FormatName } from './formats.js';

/** One step of a key path: a mapping key, or a list index. */
export type Segment = string | number;

/** 1-based line and column in the YAML source. */
export interface SourcePosition {
  readonly line: number;
  readonly col: number;
}

/** One problem with a YAML document: where it is (as far as known) and what is wrong. */
export interface YamlIssue {
  /** Key path, e.g. `services[2].clusterIPs[0]`; "" for the document as a whole (and syntax errors). */
  readonly path: string;
  /** Human message, e.g. `must be <= 65535`. */
  readonly message: string;
  /** 1-based position in the YAML source, when known. */
  readonly line?: number | undefined;
  readonly col?: number | undefined;
}

export interface ParsedYaml {
  /** The document as plain values; `undefined` when there are syntax issues (or an empty document). */
  readonly data: unknown;
  readonly doc: Document;
  readonly lineCounter: LineCounter;
  /** Syntax issues (path ""), every one of them; empty when the text parsed. */
  readonly issues: readonly YamlIssue[];
}

/** A schema problem at a key path, e.g. `{ segments: ['dns', 'listen', 0, 'port'], message: 'must be <= 65535' }`. */
export interface SchemaProblem {
  readonly segments: readonly Segment[];
  readonly message: string;
}

/** Validates `data` in place (ajv applies defaults) and returns every problem; none means valid. */
export type SchemaValidator = (data: unknown) => SchemaProblem[];

/**
 * The parts of a JSON Schema node that error conversion reads. Both the config schema
 * (`JsonSchema`) and the catalog schema (`as const` literals) fit it.
 */
export interface SchemaNode {
  readonly type?: unknown;
  readonly enum?: unknown;
  readonly format?: unknown;
  readonly const?: unknown;
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly items?: SchemaNode;
  readonly if?: SchemaNode;
}

// --- YAML ---------------------------------------------------------------------------------------

/** Parses YAML text, keeping line positions; duplicate keys are syntax issues. Never throws. */
export function parseYaml(text: string): ParsedYaml {
  const lineCounter = new LineCounter();
  // merge: YAML merge keys (`<<: *defaults`), which operators use to share blocks between entries.
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true, merge: true });
  const issues = doc.errors.map((err): YamlIssue => {
    const pos = err.linePos?.[0];
    return { path: '', message: yamlMessage(err.message), line: pos?.line, col: pos?.col };
  });
  if (issues.length > 0) return { data: undefined, doc, lineCounter, issues };
  try {
    return { data: doc.toJS({ maxAliasCount: 100 }), doc, lineCounter, issues };
  } catch (err) {
    // toJS throws when aliases expand beyond maxAliasCount (a "billion laughs" document).
    return { data: undefined, doc, lineCounter, issues: [{ path: '', message: (err as Error).message }] };
  }
}

/**
 * The YAML 1.2 core schema exactly as the `yaml` package resolves plain scalars (its
 * `schema/core`: the same patterns, the same conversions), for js-yaml. js-yaml's own CORE_SCHEMA
 * differs: it reads `1_000` and `0b101` as integers and `1_0.5` as a float, which `yaml` (and
 * YAML 1.2) read as strings.
 */
const core12 = (() => {
  const INT_DEC = /^[-+]?[0-9]+$/;
  const INT_OCT = /^0o[0-7]+$/;
  const INT_HEX = /^0x[0-9a-fA-F]+$/;
  const FLOAT_NAN = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
  const FLOAT_EXP = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/;
  const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/;
  const scalar = (tag: string, test: (s: string) => boolean, construct: (s: string) => unknown): JsYamlType =>
    new JsYamlType(`tag:yaml.org,2002:${tag}`, {
      kind: 'scalar',
      resolve: (s: unknown) => typeof s === 'string' && test(s),
      construct: (s: string) => construct(s),
    });
  return FAILSAFE_SCHEMA.extend({
    implicit: [
      scalar(
        'null',
        (s) => /^(?:~|[Nn]ull|NULL)?$/.test(s),
        () => null,
      ),
      scalar(
        'bool',
        (s) => /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/.test(s),
        (s) => s[0] === 't' || s[0] === 'T',
      ),
      scalar(
        'int',
        (s) => INT_DEC.test(s) || INT_OCT.test(s) || INT_HEX.test(s),
        (s) => (INT_OCT.test(s) ? parseInt(s.substring(2), 8) : INT_HEX.test(s) ? parseInt(s.substring(2), 16) : parseInt(s, 10)),
      ),
      scalar(
        'float',
        (s) => FLOAT_NAN.test(s) || FLOAT_EXP.test(s) || FLOAT.test(s),
        (s) =>
          FLOAT_NAN.test(s)
            ? s.slice(-3).toLowerCase() === 'nan'
              ? NaN
              : s[0] === '-'
                ? Number.NEGATIVE_INFINITY
                : Number.POSITIVE_INFINITY
            : parseFloat(s),
      ),
    ],
  });
})();

/**
 * What `loadYamlFast` leaves to `parseYaml`, found in the text (a false alarm only costs the
 * slower reading): node properties, anchors `&a` and tags `!t`, where a node may begin (after a
 * space, a flow indicator or a JSON-like key's `:`); explicit keys `? `; a flow collection used as
 * a key (`[a]: b`); a `#` right after a flow indicator or a quote (`yaml` refuses a comment not
 * separated by white space, js-yaml reads it as one); a directive (`%YAML 1.1` would switch `yaml`
 * to the YAML 1.1 schema); a tab in the indentation of a line with content (`yaml` refuses it,
 * js-yaml lets some through).
 */
const NEEDS_POSITIONED_READING = /(?:^|[\s,[{:])(?:&\S|!)|(?:^|[\s,[{])\?(?:\s|$)|[\]}][ \t]*:|[\]}"',:[{]#|^%|^[ \t]*\t[ \t]*\S/gm;
/** A line whose first character other than blanks is `#`: a comment, or text inside a scalar. */
const COMMENT_LINE = /^[ \t]*#/;

/**
 * Whether `text` has something of NEEDS_POSITIONED_READING outside lines that start with `#`. Such
 * a line is a comment or the inside of a block or multi-line scalar, and neither holds syntax, so
 * `# Generated! Do not edit & see ...` above a large catalog keeps it on the fast reading.
 */
function needsPositionedReading(text: string): boolean {
  const re = NEEDS_POSITIONED_READING;
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    // The line of the match's last character (a match may start at the previous line's end).
    let at = m.index + m[0].length - 1;
    if (text[at] === '\n' && at > m.index) at--;
    const lineStart = text.lastIndexOf('\n', at) + 1;
    const next = text.indexOf('\n', at + 1);
    if (!COMMENT_LINE.test(text.slice(lineStart, next < 0 ? text.length : next))) return true;
    if (next < 0) return false;
    re.lastIndex = next + 1;
  }
  return false;
}

/**
 * The document as plain values (`value`; `null` or `undefined` for an empty document), fast and
 * without line positions (js-yaml: 7 to 15 times faster than `parseYaml` on large catalogs, and a
 * fraction of its garbage), or `undefined` when this cannot vouch that `parseYaml` reads the text
 * the same way. Then `parseYaml` decides, and says where the problems are. Left to it:
 * - anchors and aliases: `parseYaml` bounds alias expansion (maxAliasCount) and resolves merges;
 * - tags: js-yaml knows other ones, and resolves some explicit ones differently;
 * - collections as keys: js-yaml turns `[name]` into the key `name`, `yaml` into `[ name ]`;
 * - directives, and whatever js-yaml refuses or warns about: syntax errors, duplicate keys,
 *   several documents, a flow collection's lines indented less than its parent's (which `yaml`
 *   refuses and js-yaml only warns about).
 * A `<<` merge key is an ordinary key here, so a schema that names no `<<` refuses it, and the
 * caller's fallback to `parseYaml` merges it.
 * Never throws.
 */
export function loadYamlFast(text: string): { readonly value: unknown } | undefined {
  if (needsPositionedReading(text)) return undefined;
  let warned = false;
  try {
    const value = jsYamlLoad(text, {
      schema: core12,
      onWarning: () => {
        warned = true;
      },
    });
    return warned ? undefined : { value };
  } catch {
    return undefined;
  }
}

/** The first line of a yaml error, without its " at line L, column C:" tail (reported separately). */
export function yamlMessage(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '').trim();
}

/** Line and column of the deepest key (or list item) of `segments` present in the YAML source. */
export function locate(doc: Document, lineCounter: LineCounter, segments: readonly Segment[]): SourcePosition | undefined {
  let node: unknown = doc.contents;
  let offset: number | undefined;
  for (const seg of segments) {
    if (typeof seg === 'string' && isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === seg);
      if (pair === undefined) break;
      offset = isScalar(pair.key) ? pair.key.range?.[0] : undefined;
      node = pair.value;
    } else if (typeof seg === 'number' && isSeq(node)) {
      const item: unknown = node.items[seg];
      if (item === undefined) break;
      offset = (item as { range?: [number, number, number] }).range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return offset === undefined ? undefined : lineCounter.linePos(offset);
}

/** `['dns', 'listen', 0, 'port']` → `dns.listen[0].port`. */
export function formatPath(segments: readonly Segment[]): string {
  let out = '';
  for (const seg of segments) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  return out;
}

// --- schema -------------------------------------------------------------------------------------

let sharedAjv: Ajv | undefined;

function ajv(): Ajv {
  sharedAjv ??= new Ajv({
    allErrors: true, // every problem at once
    useDefaults: true,
    strict: true,
    strictRequired: false, // `then: {required: [...]}` names keys declared in `properties`, by design
    formats: Object.fromEntries(Object.entries(formats).map(([name, f]) => [name, { type: 'string', validate: f.validate }])),
  });
  return sharedAjv;
}

/** Compiles `schema` with the shared ajv instance and formats; the validator reports problems worded for people. */
export function compileSchema(schema: SchemaNode): SchemaValidator {
  const validate = ajv().compile(schema as SchemaObject);
  return (data) => {
    validate(data);
    const problems: SchemaProblem[] = [];
    const seen = new Set<string>();
    for (const err of validate.errors ?? []) {
      const problem = convertAjvError(err, data, schema);
      if (problem === undefined) continue;
      const id = `${formatPath(problem.segments)}\0${problem.message}`;
      if (seen.has(id)) continue;
      seen.add(id);
      problems.push(problem);
    }
    return problems;
  };
}

/** The sub-schema at a key path (numbers index lists), or undefined when the schema has no such key. */
export function schemaNodeAt<S extends SchemaNode>(root: S, segments: readonly Segment[]): S | undefined {
  let node: SchemaNode | undefined = root;
  for (const seg of segments) {
    if (node === undefined) return undefined;
    if (typeof seg === 'number') {
      node = node.items;
    } else {
      const props: Readonly<Record<string, SchemaNode>> | undefined = node.properties;
      node = props !== undefined && Object.hasOwn(props, seg) ? props[seg] : undefined;
    }
  }
  return node as S | undefined;
}

/** The closest of `known` to `key` within edit distance 2 (case-insensitive), to turn a typo into a hint. */
export function suggestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

const TYPE_PHRASE: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  boolean: 'true or false',
  null: 'null',
};

function convertAjvError(err: ErrorObject, data: unknown, schema: SchemaNode): SchemaProblem | undefined {
  const segments = pointerToSegments(err.instancePath, data);
  const value = valueAt(data, segments);
  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'if':
      return undefined; // the failing `then` is reported on its own
    case 'additionalProperties': {
      const key = String(p['additionalProperty']);
      const known = Object.keys(schemaNodeAt(schema, segments)?.properties ?? {});
      const hint = suggestKey(key, known);
      return { segments: [...segments, key], message: `unknown key '${key}'${hint === undefined ? '' : `, did you mean '${hint}'?`}` };
    }
    case 'required': {
      const key = String(p['missingProperty']);
      return { segments: [...segments, key], message: `is required${conditionOf(err.schemaPath, segments, schema)}` };
    }
    case 'type': {
      const types = String(p['type']).split(',');
      return { segments, message: `must be ${types.map((t) => TYPE_PHRASE[t] ?? t).join(' or ')}, got ${describe(value)}` };
    }
    case 'format': {
      const name = String(p['format']);
      const phrase = Object.hasOwn(formats, name) ? formats[name as FormatName].phrase : `in format ${name}`;
      return { segments, message: `must be ${phrase}, got ${describe(value)}` };
    }
    case 'enum': {
      const allowed = (p['allowedValues'] as unknown[]).map((v) => String(v)).join(', ');
      return { segments, message: `must be one of: ${allowed}; got ${describe(value)}` };
    }
    case 'minItems': {
      const n = Number(p['limit']);
      return { segments, message: `must have at least ${n} item${n === 1 ? '' : 's'}` };
    }
    case 'minLength': {
      const n = Number(p['limit']);
      return { segments, message: n === 1 ? 'must not be empty' : `must be at least ${n} characters long` };
    }
    case 'uniqueItems':
      return { segments, message: `must not repeat items (items ${String(p['j'])} and ${String(p['i'])} are equal)` };
    default:
      return { segments, message: err.message ?? `fails ${err.keyword}` };
  }
}

/** For a `required` coming from an `if`/`then`, the condition, e.g. ` when source.type is 'file'`. */
function conditionOf(schemaPath: string, instance: readonly Segment[], schema: SchemaNode): string {
  const parts = schemaPath.replace(/^#\//, '').split('/');
  const thenAt = parts.lastIndexOf('then');
  if (thenAt < 0) return '';
  let node: unknown = schema;
  for (const part of parts.slice(0, thenAt)) node = (node as Record<string, unknown> | undefined)?.[decodePointer(part)];
  const cond = (node as SchemaNode | undefined)?.if?.properties;
  if (cond === undefined) return '';
  const clauses = Object.entries(cond).map(([k, s]) => `${formatPath([...instance, k])} is '${String(s.const)}'`);
  return clauses.length > 0 ? ` when ${clauses.join(' and ')}` : '';
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return `'${value}'`;
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' ? String(value) : typeof value;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

function decodePointer(part: string): string {
  return part.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** An ajv instance path (`/services/2/ports/0`) as segments; a part indexing a list becomes a number. */
function pointerToSegments(pointer: string, data: unknown): Segment[] {
  if (pointer === '') return [];
  const segments: Segment[] = [];
  let cur: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const part = decodePointer(raw);
    const seg: Segment = Array.isArray(cur) ? Number(part) : part;
    segments.push(seg);
    cur = (cur as Record<string | number, unknown> | undefined)?.[seg];
  }
  return segments;
}

function valueAt(data: unknown, segments: readonly Segment[]): unknown {
  let cur: unknown = data;
  for (const seg of segments) cur = (cur as Record<string | number, unknown> | null | undefined)?.[seg];
  return cur;
}
