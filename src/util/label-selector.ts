/**
 * Kubernetes label selectors (PURE): a neutral parser shared by the config loader (which validates
 * `source.kubernetes.exportSelector`) and the Kubernetes source (which filters Services with it).
 *
 * Owns: the string form of label selectors exactly as `k8s.io/apimachinery/pkg/labels`
 * `Parse` accepts it (the syntax of `kubectl get -l` and of `?labelSelector=`), the label key and
 * value syntax (`validation.IsQualifiedName`, `IsValidLabelValue`), the matching semantics of
 * `Requirement.Matches`, and a canonical rendering.
 * Never: does I/O, imports any adapter or client-node, or throws — any input string yields a value,
 * `{ ok: false, error }` naming the 0-based offset of the offending token and the problem.
 * Invariants:
 *  - a string is accepted iff apimachinery accepts it, and then matches the same label sets,
 *    with two deliberate exceptions: a NUL character is an ordinary (hence invalid) character
 *    here, where Go's lexer treats it as the end of the string; and positions count UTF-16 code
 *    units where Go counts bytes (only non-ASCII input, which is always invalid, differs);
 *  - `toString()` is canonical — requirements sorted by key then text, exact duplicates dropped,
 *    values sorted and de-duplicated, `==` spelled `=` — and parses back to a selector that
 *    matches exactly the same label sets and renders to the same string;
 *  - the empty (or all-whitespace) selector has no requirements and matches everything.
 *
 * Syntax notes that follow apimachinery and surprise people (all are accepted):
 *  - `key=` and `key in ()` require the value to be the empty string, `key!=` and `key notin ()`
 *    require it not to be; empty list entries mean "" too (`in (a,)`, `in (,a)`, `in (a,,b)`);
 *  - `>` and `<` compare the label value as a base-10 int64 (a non-integer label never matches);
 *  - `in` and `notin` are keywords only in operator position, so `in in (notin)` is a valid key
 *    `in` with value `notin`.
 */

/**
 * apimachinery's `selection.Operator` values, except that `==` is folded into `=` (same meaning).
 * `!` is DoesNotExist; `gt`/`lt` are `>`/`<`.
 */
export type LabelOperator = 'exists' | '!' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt';

/** One requirement; a selector is the AND of its requirements. */
export interface LabelRequirement {
  readonly key: string;
  readonly operator: LabelOperator;
  /** Sorted, no duplicates. Empty for `exists`/`!`; exactly one for `=`, `!=`, `gt`, `lt`. */
  readonly values: readonly string[];
}

export interface LabelSelector {
  /** True when there are no requirements: the selector matches every label set. */
  readonly empty: boolean;
  /** Canonical order (see `toString`). */
  readonly requirements: readonly LabelRequirement[];
  /** apimachinery semantics: `!=`/`notin` match an absent key; `=`/`in`/`gt`/`lt` need it present. */
  matches(labels: Readonly<Record<string, string>> | undefined): boolean;
  /** Canonical string form; `parseLabelSelector(s.toString())` is equivalent to `s`. */
  toString(): string;
}

export type LabelSelectorParseResult =
  { readonly ok: true; readonly selector: LabelSelector } | { readonly ok: false; readonly error: string };

// ---------------------------------------------------------------------------------------------
// label key and value syntax (apimachinery util/validation)
// ---------------------------------------------------------------------------------------------

const QUALIFIED_NAME_MAX = 63;
const LABEL_VALUE_MAX = 63;
const DNS1123_SUBDOMAIN_MAX = 253;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const CHARSET = "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/** Why `key` is not a valid label key (`[prefix/]name`), or undefined when it is. */
export function labelKeyProblem(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) return 'a key is an optional DNS subdomain prefix and "/" followed by a name; it has more than one "/"';
  const name = parts[parts.length - 1] as string;
  if (parts.length === 2) {
    const prefix = parts[0] as string;
    if (prefix === '') return 'prefix part must be non-empty';
    // Length first: it also bounds the regex's backtracking.
    if (prefix.length > DNS1123_SUBDOMAIN_MAX) return `prefix part must be no more than ${DNS1123_SUBDOMAIN_MAX} characters`;
    if (!DNS1123_SUBDOMAIN.test(prefix)) {
      return "prefix part must be a lowercase RFC 1123 subdomain: lowercase alphanumeric characters, '-' or '.', each label starting and ending with an alphanumeric character";
    }
  }
  if (name === '') return 'name part must be non-empty';
  if (name.length > QUALIFIED_NAME_MAX) return `name part must be no more than ${QUALIFIED_NAME_MAX} characters`;
  if (!QUALIFIED_NAME.test(name)) return `name part must consist of ${CHARSET}`;
  return undefined;
}

/** Why `value` is not a valid label value, or undefined when it is (the empty string is valid). */
export function labelValueProblem(value: string): string | undefined {
  if (value.length > LABEL_VALUE_MAX) return `must be no more than ${LABEL_VALUE_MAX} characters`;
  if (!LABEL_VALUE.test(value)) return `must be empty or consist of ${CHARSET}`;
  return undefined;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Go's `strconv.ParseInt(s, 10, 64)`: optional sign, decimal digits, int64 range. */
function parseInt64(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const n = BigInt(s);
  return n < INT64_MIN || n > INT64_MAX ? undefined : n;
}

// ---------------------------------------------------------------------------------------------
// lexer (apimachinery Lexer)
// ---------------------------------------------------------------------------------------------

type TokenKind = 'ident' | 'in' | 'notin' | '!' | '!=' | '=' | '==' | '>' | '<' | '(' | ')' | ',' | 'end';

interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  /** 0-based offset in the selector string. */
  readonly pos: number;
}

const isWhitespace = (c: string): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const SPECIAL = new Set(['=', '!', '(', ')', ',', '>', '<']);

function lex(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  for (;;) {
    while (i < text.length && isWhitespace(text[i] as string)) i++;
    if (i >= text.length) {
      tokens.push({ kind: 'end', text: '', pos: text.length });
      return tokens;
    }
    const start = i;
    const c = text[i] as string;
    if (SPECIAL.has(c)) {
      // Longest match over the symbol table; the only two-character symbols are "!=" and "==".
      const two = text.slice(i, i + 2);
      const sym = two === '!=' || two === '==' ? two : c;
      i += sym.length;
      tokens.push({ kind: sym as TokenKind, text: sym, pos: start });
      continue;
    }
    while (i < text.length && !SPECIAL.has(text[i] as string) && !isWhitespace(text[i] as string)) i++;
    const word = text.slice(start, i);
    tokens.push({ kind: word === 'in' || word === 'notin' ? word : 'ident', text: word, pos: start });
  }
}

// ---------------------------------------------------------------------------------------------
// parser (apimachinery Parser, including its quirks in value lists)
// ---------------------------------------------------------------------------------------------

/** Where and why parsing stopped; the parser returns it as a value, the API formats it. */
class SyntaxProblem {
  constructor(
    readonly pos: number,
    readonly message: string,
  ) {}
}

const quote = (s: string): string => JSON.stringify(s);
/** In value context (apimachinery's `Values`) the keywords are plain identifiers. */
const isValueToken = (t: Token): boolean => t.kind === 'ident' || t.kind === 'in' || t.kind === 'notin';
const unexpected = (t: Token, expected: string): SyntaxProblem =>
  new SyntaxProblem(t.pos, `expected ${expected}, found ${t.kind === 'end' ? 'end of input' : quote(t.text)}`);

const OPERATORS: Partial<Record<TokenKind, LabelOperator>> = {
  '=': '=',
  '==': '=',
  '!=': '!=',
  in: 'in',
  notin: 'notin',
  '>': 'gt',
  '<': 'lt',
};

class Parser {
  private i = 0;

  constructor(private readonly tokens: readonly Token[]) {}

  private peek(): Token {
    return this.tokens[this.i] as Token;
  }

  private next(): Token {
    const t = this.tokens[this.i] as Token;
    // Never step past the end token, so peek() and next() always return a token.
    if (t.kind !== 'end') this.i++;
    return t;
  }

  parse(): LabelRequirement[] | SyntaxProblem {
    const requirements: LabelRequirement[] = [];
    if (this.peek().kind === 'end') return requirements;
    for (;;) {
      const t = this.peek();
      if (!isValueToken(t) && t.kind !== '!') {
        return unexpected(t, requirements.length === 0 ? 'a key, "!" or end of input' : 'a key or "!" after ","');
      }
      const r = this.requirement();
      if (r instanceof SyntaxProblem) return r;
      requirements.push(r);
      const sep = this.next();
      if (sep.kind === 'end') return requirements;
      if (sep.kind !== ',') return unexpected(sep, `"," or end of input after ${quote(renderRequirement(r))}`);
    }
  }

  private requirement(): LabelRequirement | SyntaxProblem {
    let negated = false;
    let keyToken = this.next();
    if (keyToken.kind === '!') {
      negated = true;
      keyToken = this.next();
      if (!isValueToken(keyToken)) return unexpected(keyToken, 'a key after "!"');
    }
    const key = keyToken.text;
    const keyProblem = labelKeyProblem(key);
    if (keyProblem !== undefined) return new SyntaxProblem(keyToken.pos, `invalid key ${quote(key)}: ${keyProblem}`);
    // apimachinery: "!key" is complete as it stands; whatever follows must be "," or the end.
    if (negated) return { key, operator: '!', values: [] };
    const after = this.peek();
    if (after.kind === 'end' || after.kind === ',') return { key, operator: 'exists', values: [] };

    const opToken = this.next();
    const operator = OPERATORS[opToken.kind];
    if (operator === undefined) {
      return unexpected(opToken, `an operator (=, ==, !=, in, notin, >, <), "," or end of input after key ${quote(key)}`);
    }
    const values = operator === 'in' || operator === 'notin' ? this.valueList(opToken) : this.exactValue(opToken);
    if (values instanceof SyntaxProblem) return values;

    if (operator === 'gt' || operator === 'lt') {
      const [v] = values as [Valued];
      if (parseInt64(v.value) === undefined) {
        return new SyntaxProblem(v.pos, `value ${quote(v.value)} for "${opToken.text}" must be a base-10 integer in the int64 range`);
      }
    }
    for (const v of values) {
      const problem = labelValueProblem(v.value);
      if (problem !== undefined) return new SyntaxProblem(v.pos, `invalid value ${quote(v.value)} for key ${quote(key)}: ${problem}`);
    }
    return { key, operator, values: [...new Set(values.map((v) => v.value))].sort(compareStrings) };
  }

  /** apimachinery `parseExactValue`: "key=" (followed by "," or the end) means the empty value. */
  private exactValue(op: Token): [Valued] | SyntaxProblem {
    const t = this.peek();
    if (t.kind === 'end' || t.kind === ',') return [{ value: '', pos: t.pos }];
    this.next();
    if (!isValueToken(t)) return unexpected(t, `a value after ${quote(op.text)}`);
    return [{ value: t.text, pos: t.pos }];
  }

  /**
   * apimachinery `parseValues` + `parseIdentifiersList`, step for step: "()" is the set {""}, and
   * an empty list entry is "" — except that a ",," pair is consumed as one step, which makes
   * "(a,,)" and "(,,)" errors while "(a,)", "(,)" and "(,,,)" are accepted. Kept for fidelity.
   */
  private valueList(op: Token): Valued[] | SyntaxProblem {
    const open = this.next();
    if (open.kind !== '(') return unexpected(open, `"(" after ${quote(op.text)}`);
    const first = this.peek();
    if (first.kind === ')') {
      this.next();
      return [{ value: '', pos: first.pos }];
    }
    if (!isValueToken(first) && first.kind !== ',') return unexpected(first, 'a value, "," or ")" after "("');
    const values: Valued[] = [];
    for (;;) {
      const t = this.next();
      if (isValueToken(t)) {
        values.push({ value: t.text, pos: t.pos });
        const after = this.peek();
        if (after.kind === ')') break;
        if (after.kind !== ',') return unexpected(after, `"," or ")" after value ${quote(t.text)}`);
      } else if (t.kind === ',') {
        if (values.length === 0) values.push({ value: '', pos: t.pos });
        const after = this.peek();
        if (after.kind === ')') {
          values.push({ value: '', pos: after.pos });
          break;
        }
        if (after.kind === ',') {
          this.next();
          values.push({ value: '', pos: after.pos });
        }
      } else {
        return unexpected(t, 'a value or ","');
      }
    }
    this.next(); // the ")" seen above
    return values;
  }
}

interface Valued {
  readonly value: string;
  readonly pos: number;
}

// ---------------------------------------------------------------------------------------------
// selector
// ---------------------------------------------------------------------------------------------

/** Go's `sort.Strings` order (bytes); identical to UTF-16 order for the ASCII that keys and values are. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function renderRequirement(r: LabelRequirement): string {
  switch (r.operator) {
    case 'exists':
      return r.key;
    case '!':
      return `!${r.key}`;
    case '=':
    case '!=':
      return `${r.key}${r.operator}${r.values[0] ?? ''}`;
    case 'gt':
      return `${r.key}>${r.values[0] ?? ''}`;
    case 'lt':
      return `${r.key}<${r.values[0] ?? ''}`;
    case 'in':
    case 'notin':
      return `${r.key} ${r.operator} (${r.values.join(',')})`;
  }
}

function hasLabel(labels: Readonly<Record<string, string>>, key: string): boolean {
  // Own properties only: "constructor" and "toString" are valid label keys.
  return Object.hasOwn(labels, key);
}

/** apimachinery `Requirement.Matches`. */
function matchesRequirement(r: LabelRequirement, labels: Readonly<Record<string, string>>): boolean {
  const present = hasLabel(labels, r.key);
  switch (r.operator) {
    case 'exists':
      return present;
    case '!':
      return !present;
    case '=':
    case 'in':
      return present && r.values.includes(labels[r.key] as string);
    case '!=':
    case 'notin':
      return !present || !r.values.includes(labels[r.key] as string);
    case 'gt':
    case 'lt': {
      if (!present) return false;
      const actual = parseInt64(labels[r.key] as string);
      const bound = parseInt64(r.values[0] ?? '');
      if (actual === undefined || bound === undefined) return false;
      return r.operator === 'gt' ? actual > bound : actual < bound;
    }
  }
}

function makeSelector(parsed: readonly LabelRequirement[]): LabelSelector {
  const byText = new Map<string, LabelRequirement>();
  for (const r of parsed) byText.set(renderRequirement(r), r);
  const ordered = [...byText.entries()].sort(([ta, a], [tb, b]) => compareStrings(a.key, b.key) || compareStrings(ta, tb));
  const requirements = Object.freeze(
    ordered.map(([, r]) => Object.freeze({ key: r.key, operator: r.operator, values: Object.freeze([...r.values]) })),
  );
  const text = ordered.map(([t]) => t).join(',');
  return Object.freeze({
    empty: requirements.length === 0,
    requirements,
    matches(labels: Readonly<Record<string, string>> | undefined): boolean {
      const ls = labels ?? {};
      return requirements.every((r) => matchesRequirement(r, ls));
    },
    toString: () => text,
  });
}

/** Parse the string form of a label selector; never throws. */
export function parseLabelSelector(text: string): LabelSelectorParseResult {
  // Callers from plain JavaScript or untyped config could pass anything.
  if (typeof text !== 'string') return { ok: false, error: 'at 0: a label selector must be a string' };
  const parsed = new Parser(lex(text)).parse();
  if (parsed instanceof SyntaxProblem) return { ok: false, error: `at ${parsed.pos}: ${parsed.message}` };
  return { ok: true, selector: makeSelector(parsed) };
}
