/**
 * Label selectors as apimachinery parses and matches them: tables of accepted and refused text
 * (with the exact error and its position), a matrix of every operator against an absent key, the
 * listed value, another value and the empty value, the int64 comparisons, apimachinery's own test
 * vectors, and properties: parsing never throws, the canonical form round-trips, and a selector
 * written from random requirements matches exactly what a naive evaluator says. Also the export
 * namespace rule.
 */
import test from 'ava';
import fc from 'fast-check';
import {
  isExportedNamespace,
  labelKeyProblem,
  labelValueProblem,
  parseLabelSelector,
  type LabelSelector,
} from '../../../../src/sources/kubernetes/selector.js';

type Labels = Readonly<Record<string, string>>;

function mustParse(text: string): LabelSelector {
  const r = parseLabelSelector(text);
  if (!r.ok) throw new Error(`${JSON.stringify(text)} did not parse: ${r.error}`);
  return r.selector;
}

const a63 = 'a'.repeat(63);
const prefix253 = `${'p'.repeat(63)}.${'q'.repeat(63)}.${'r'.repeat(63)}.${'s'.repeat(61)}`;

// ---------------------------------------------------------------------------------------------
// accepted text → canonical form
// ---------------------------------------------------------------------------------------------

const accepted: readonly (readonly [input: string, canonical: string])[] = [
  // empty selector
  ['', ''],
  ['   ', ''],
  [' \t\r\n', ''],
  // every operator
  ['app', 'app'],
  ['!app', '!app'],
  ['app=web', 'app=web'],
  ['app==web', 'app=web'],
  ['app!=web', 'app!=web'],
  ['app in (web)', 'app in (web)'],
  ['app notin (web)', 'app notin (web)'],
  ['tier>1', 'tier>1'],
  ['tier<7', 'tier<7'],
  // whitespace around every token, or none where the lexer allows it
  ['  app  =  web  ', 'app=web'],
  ['app\t==\tweb', 'app=web'],
  ['! app', '!app'],
  ['app in(web)', 'app in (web)'],
  ['app notin(web,db)', 'app notin (db,web)'],
  ['app in ( web , db )', 'app in (db,web)'],
  ['foo  in\t (abc)', 'foo in (abc)'],
  ['x notin\n (abc)', 'x notin (abc)'],
  ['\rx', 'x'],
  ['a ', 'a'],
  ['a , b', 'a,b'],
  // empty values
  ['x=', 'x='],
  ['x= ', 'x='],
  ['x=,z= ', 'x=,z='],
  ['x!=', 'x!='],
  ['x in ()', 'x in ()'],
  ['x notin ( )', 'x notin ()'],
  ['x in (abc,)', 'x in (,abc)'],
  ['x notin (, a)', 'x notin (,a)'],
  ['x in (foo,,baz)', 'x in (,baz,foo)'],
  ['x in (,)', 'x in ()'],
  ['x in (,,,)', 'x in ()'],
  // in/notin are keywords only in operator position
  ['in', 'in'],
  ['!notin', '!notin'],
  ['in in (notin)', 'in in (notin)'],
  ['notin=in', 'notin=in'],
  ['notin notin (in,notin)', 'notin notin (in,notin)'],
  ['a in (x,y,notin, z,in)', 'a in (in,notin,x,y,z)'],
  ['innot', 'innot'],
  // keys
  ['example.com/tier=db', 'example.com/tier=db'],
  ['this-is-a-dns.domain.com/key-with-dash', 'this-is-a-dns.domain.com/key-with-dash'],
  ['0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)', '0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)'],
  ['MyName', 'MyName'],
  ['my.name_x-y', 'my.name_x-y'],
  ['1234', '1234'],
  [a63, a63],
  [`${prefix253}/${a63}`, `${prefix253}/${a63}`],
  // values
  [`k=${a63}`, `k=${a63}`],
  ['k=A.b_c-D', 'k=A.b_c-D'],
  ['k in (a,b,c,a)', 'k in (a,b,c)'],
  // integers
  ['k>0', 'k>0'],
  ['k>007', 'k>007'],
  ['k<9223372036854775807', 'k<9223372036854775807'],
  // canonical order: by key, then text; exact duplicates dropped
  ['x=a,a=x', 'a=x,x=a'],
  ['z,b=c,a', 'a,b=c,z'],
  ['b,a,a,b=c,b==c', 'a,b,b=c'],
  ['k!=a,k,!k,k=b', '!k,k,k!=a,k=b'],
  ['x notin (abc,def),bar,z in (),w', 'bar,w,x notin (abc,def),z in ()'],
];

test('accepted selectors and their canonical form', (t) => {
  for (const [input, canonical] of accepted) {
    const r = parseLabelSelector(input);
    if (!r.ok) {
      t.fail(`${JSON.stringify(input)}: ${r.error}`);
      continue;
    }
    t.is(r.selector.toString(), canonical, JSON.stringify(input));
    t.is(`${r.selector as unknown as string}`, canonical, 'template literals use toString too');
    t.is(r.selector.empty, canonical === '', JSON.stringify(input));
    t.is(mustParse(canonical).toString(), canonical, `canonical form of ${JSON.stringify(input)} is a fixed point`);
  }
});

test('requirements: key, operator and sorted, de-duplicated values', (t) => {
  t.deepEqual(mustParse('z notin (b,a,,b),!y,x==1,w!=,v>3,u<4,t,s in ()').requirements, [
    { key: 's', operator: 'in', values: [''] },
    { key: 't', operator: 'exists', values: [] },
    { key: 'u', operator: 'lt', values: ['4'] },
    { key: 'v', operator: 'gt', values: ['3'] },
    { key: 'w', operator: '!=', values: [''] },
    { key: 'x', operator: '=', values: ['1'] },
    { key: 'y', operator: '!', values: [] },
    { key: 'z', operator: 'notin', values: ['', 'a', 'b'] },
  ]);
  t.deepEqual(mustParse('').requirements, []);
});

test('a parsed selector is immutable', (t) => {
  const s = mustParse('a in (x,y)');
  t.true(Object.isFrozen(s));
  t.true(Object.isFrozen(s.requirements));
  t.true(Object.isFrozen(s.requirements[0]));
  t.true(Object.isFrozen(s.requirements[0]?.values));
});

// ---------------------------------------------------------------------------------------------
// refused text → error naming the position and the problem
// ---------------------------------------------------------------------------------------------

const CHARSET = "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const OPS = '(=, ==, !=, in, notin, >, <)';
const SUBDOMAIN =
  "prefix part must be a lowercase RFC 1123 subdomain: lowercase alphanumeric characters, '-' or '.', each label starting and ending with an alphanumeric character";

const refused: readonly (readonly [input: string, error: string])[] = [
  // the example from the brief
  ['env in x', 'at 7: expected "(" after "in", found "x"'],
  // `in`/`notin` without parentheses
  ['env in', 'at 6: expected "(" after "in", found end of input'],
  ['env notin web', 'at 10: expected "(" after "notin", found "web"'],
  ['env in web,db', 'at 7: expected "(" after "in", found "web"'],
  ['env in )', 'at 7: expected "(" after "in", found ")"'],
  ['x nott in (y)', `at 2: expected an operator ${OPS}, "," or end of input after key "x", found "nott"`],
  // unbalanced or malformed parentheses
  ['env in (', 'at 8: expected a value, "," or ")" after "(", found end of input'],
  ['a notin(', 'at 8: expected a value, "," or ")" after "(", found end of input'],
  ['env in (web', 'at 11: expected "," or ")" after value "web", found end of input'],
  ['env in (web,', 'at 12: expected a value or ",", found end of input'],
  ['env in (web))', 'at 12: expected "," or end of input after "env in (web)", found ")"'],
  ['env in ((web))', 'at 8: expected a value, "," or ")" after "(", found "("'],
  ['env in (web db)', 'at 12: expected "," or ")" after value "web", found "db"'],
  ['a in (xyz abc)', 'at 10: expected "," or ")" after value "xyz", found "abc"'],
  ['env in (web=db)', 'at 11: expected "," or ")" after value "web", found "="'],
  ['a (', `at 2: expected an operator ${OPS}, "," or end of input after key "a", found "("`],
  ['(', 'at 0: expected a key, "!" or end of input, found "("'],
  [')', 'at 0: expected a key, "!" or end of input, found ")"'],
  ['a in (xyz)b notin ()', 'at 10: expected "," or end of input after "a in (xyz)", found "b"'],
  // apimachinery consumes ",," as one step, so a ",," right before ")" is refused
  ['x in (a,,)', 'at 9: expected a value or ",", found ")"'],
  ['x in (,,)', 'at 8: expected a value or ",", found ")"'],
  // commas
  ['a,', 'at 2: expected a key or "!" after ",", found end of input'],
  ['a=b,', 'at 4: expected a key or "!" after ",", found end of input'],
  ['a in (xyz),', 'at 11: expected a key or "!" after ",", found end of input'],
  [',a', 'at 0: expected a key, "!" or end of input, found ","'],
  [',', 'at 0: expected a key, "!" or end of input, found ","'],
  ['x,,y', 'at 2: expected a key or "!" after ",", found ","'],
  ['a, =b', 'at 3: expected a key or "!" after ",", found "="'],
  // operators without keys
  ['=a', 'at 0: expected a key, "!" or end of input, found "="'],
  ['==a', 'at 0: expected a key, "!" or end of input, found "=="'],
  ['!=a', 'at 0: expected a key, "!" or end of input, found "!="'],
  ['>1', 'at 0: expected a key, "!" or end of input, found ">"'],
  ['<1', 'at 0: expected a key, "!" or end of input, found "<"'],
  ['in (a)', `at 3: expected an operator ${OPS}, "," or end of input after key "in", found "("`],
  ['!', 'at 1: expected a key after "!", found end of input'],
  ['! =a', 'at 2: expected a key after "!", found "="'],
  ['!!a', 'at 1: expected a key after "!", found "!"'],
  ['a,!', 'at 3: expected a key after "!", found end of input'],
  // a key followed by something that is not an operator
  ['a b', `at 2: expected an operator ${OPS}, "," or end of input after key "a", found "b"`],
  ['a !b', `at 2: expected an operator ${OPS}, "," or end of input after key "a", found "!"`],
  ['a)', `at 1: expected an operator ${OPS}, "," or end of input after key "a", found ")"`],
  // "!key" stands alone
  ['!x=a', 'at 2: expected "," or end of input after "!x", found "="'],
  ['!x in (a)', 'at 3: expected "," or end of input after "!x", found "in"'],
  ['!a b', 'at 3: expected "," or end of input after "!a", found "b"'],
  // values in the wrong place
  ['x==a==b', 'at 4: expected "," or end of input after "x=a", found "=="'],
  ['a=b=c', 'at 3: expected "," or end of input after "a=b", found "="'],
  ['a===b', 'at 3: expected a value after "==", found "="'],
  ['a=(b)', 'at 2: expected a value after "=", found "("'],
  ['a!=!b', 'at 3: expected a value after "!=", found "!"'],
  ['a=b c', 'at 4: expected "," or end of input after "a=b", found "c"'],
  // bad keys
  ['-a', `at 0: invalid key "-a": name part must consist of ${CHARSET}`],
  ['a-', `at 0: invalid key "a-": name part must consist of ${CHARSET}`],
  ['a@b', `at 0: invalid key "a@b": name part must consist of ${CHARSET}`],
  ['x=1,_a=1', `at 4: invalid key "_a": name part must consist of ${CHARSET}`],
  [`${a63}b`, `at 0: invalid key "${a63}b": name part must be no more than 63 characters`],
  ['a'.repeat(254), `at 0: invalid key "${'a'.repeat(254)}": name part must be no more than 63 characters`],
  ['/a', 'at 0: invalid key "/a": prefix part must be non-empty'],
  ['a/', 'at 0: invalid key "a/": name part must be non-empty'],
  ['a/b/c', 'at 0: invalid key "a/b/c": a key is an optional DNS subdomain prefix and "/" followed by a name; it has more than one "/"'],
  ['Example.com/a', `at 0: invalid key "Example.com/a": ${SUBDOMAIN}`],
  ['my_domain.com/a', `at 0: invalid key "my_domain.com/a": ${SUBDOMAIN}`],
  ['-x.com/a', `at 0: invalid key "-x.com/a": ${SUBDOMAIN}`],
  ['x..com/a', `at 0: invalid key "x..com/a": ${SUBDOMAIN}`],
  [`p${prefix253}/a`, `at 0: invalid key "p${prefix253}/a": prefix part must be no more than 253 characters`],
  ['!-a', `at 1: invalid key "-a": name part must consist of ${CHARSET}`],
  ['é=1', `at 0: invalid key "é": name part must consist of ${CHARSET}`],
  // NUL is an ordinary (invalid) character here; Go's lexer would stop at it
  ['a\0b', `at 0: invalid key "a\\u0000b": name part must consist of ${CHARSET}`],
  // bad values
  ['a=-b', `at 2: invalid value "-b" for key "a": must be empty or consist of ${CHARSET}`],
  ['a!=b-', `at 3: invalid value "b-" for key "a": must be empty or consist of ${CHARSET}`],
  ['x=a||y=b', `at 2: invalid value "a||y" for key "x": must be empty or consist of ${CHARSET}`],
  [`a=${a63}b`, `at 2: invalid value "${a63}b" for key "a": must be no more than 63 characters`],
  ['a in (ok, b@d)', `at 10: invalid value "b@d" for key "a": must be empty or consist of ${CHARSET}`],
  ['a notin (.x)', `at 9: invalid value ".x" for key "a": must be empty or consist of ${CHARSET}`],
  // a syntax error later in a list wins over a bad value earlier in it, as in apimachinery
  ['a in (-b, c d)', 'at 12: expected "," or ")" after value "c", found "d"'],
  // integers for > and <
  ['x<a', 'at 2: value "a" for "<" must be a base-10 integer in the int64 range'],
  ['x>', 'at 2: value "" for ">" must be a base-10 integer in the int64 range'],
  ['x>,y', 'at 2: value "" for ">" must be a base-10 integer in the int64 range'],
  ['x>1.5', 'at 2: value "1.5" for ">" must be a base-10 integer in the int64 range'],
  ['x>1e3', 'at 2: value "1e3" for ">" must be a base-10 integer in the int64 range'],
  ['x<9223372036854775808', 'at 2: value "9223372036854775808" for "<" must be a base-10 integer in the int64 range'],
  ['x>-1', `at 2: invalid value "-1" for key "x": must be empty or consist of ${CHARSET}`],
  ['x>(1)', 'at 2: expected a value after ">", found "("'],
];

test('refused selectors: the position and the problem', (t) => {
  for (const [input, error] of refused) {
    const r = parseLabelSelector(input);
    t.false(r.ok, JSON.stringify(input));
    if (!r.ok) t.is(r.error, error, JSON.stringify(input));
  }
});

test('a non-string from untyped callers is an error value, not a throw', (t) => {
  for (const bad of [undefined, null, 42, {}, ['a']]) {
    t.deepEqual(parseLabelSelector(bad as string), { ok: false, error: 'at 0: a label selector must be a string' });
  }
});

// ---------------------------------------------------------------------------------------------
// apimachinery's own vectors (labels/selector_test.go)
// ---------------------------------------------------------------------------------------------

test('apimachinery TestSelectorParse: good strings re-string to themselves minus spaces; bad ones fail', (t) => {
  for (const good of ['x=a,y=b,z=c', '', 'x!=a,y=b', 'x=', 'x= ', 'x=,z= ', 'x= ,z= ', '!x', 'x>1', 'x>1,z<5']) {
    t.is(mustParse(good).toString(), good.replaceAll(' ', ''), good);
  }
  for (const bad of ['x=a||y=b', 'x==a==b', '!x=a', 'x<a']) t.false(parseLabelSelector(bad).ok, bad);
});

test('apimachinery TestSelectorMatches', (t) => {
  const yes: readonly (readonly [string, Labels])[] = [
    ['', { x: 'y' }],
    ['x=y', { x: 'y' }],
    ['x=y,z=w', { x: 'y', z: 'w' }],
    ['x!=y,z!=w', { x: 'z', z: 'a' }],
    ['notin=in', { notin: 'in' }],
    ['x', { x: 'z' }],
    ['!x', { y: 'z' }],
    ['x>1', { x: '2' }],
    ['x<1', { x: '0' }],
    ['foo=bar,baz=blah', { foo: 'bar', baz: 'blah' }],
    ['x notin (),y', { y: '' }],
    ['!x,y', { y: '' }],
  ];
  const no: readonly (readonly [string, Labels])[] = [
    ['x=z', {}],
    ['x=y', { x: 'z' }],
    ['x=y,z=w', { x: 'w', z: 'w' }],
    ['x!=y,z!=w', { x: 'z', z: 'w' }],
    ['x', { y: 'z' }],
    ['!x', { x: 'z' }],
    ['x>1', { x: '0' }],
    ['x<1', { x: '2' }],
    ['foo=blah', { foo: 'bar', baz: 'blah' }],
    ['foo=bar,foobar=bar,baz=blah', { foo: 'bar', baz: 'blah' }],
    ['x notin (),!y', { y: '' }],
    ['x in ()', { y: 'baz' }],
    ['z>1', { z: 'v2' }],
  ];
  for (const [sel, labels] of yes) t.true(mustParse(sel).matches(labels), `${sel} ~ ${JSON.stringify(labels)}`);
  for (const [sel, labels] of no) t.false(mustParse(sel).matches(labels), `${sel} !~ ${JSON.stringify(labels)}`);
});

// ---------------------------------------------------------------------------------------------
// matching: every operator × key absent / listed value / other value / empty value
// ---------------------------------------------------------------------------------------------

/** The columns of the matrix below. */
const labelSets: readonly (Labels | undefined)[] = [
  undefined, // 0 no labels at all
  {}, // 1 empty
  { other: 'v' }, // 2 key absent, value present under another key
  { k: 'v' }, // 3
  { k: 'w' }, // 4
  { k: 'x' }, // 5
  { k: '' }, // 6
  { k: '5' }, // 7
  { k: '6' }, // 8
  { k: '4' }, // 9
  { k: 'v', other: 'w' }, // 10
];

const matrix: readonly (readonly [selector: string, expected: string])[] = [
  //                  01234567890
  ['', '11111111111'],
  ['k', '00011111111'],
  ['!k', '11100000000'],
  ['k=v', '00010000001'],
  ['k==v', '00010000001'],
  ['k!=v', '11101111110'],
  ['k in (v)', '00010000001'],
  ['k in (v,w)', '00011000001'],
  ['k notin (v)', '11101111110'],
  ['k notin (v,w)', '11100111110'],
  ['k=', '00000010000'],
  ['k!=', '11111101111'],
  ['k in ()', '00000010000'],
  ['k notin ()', '11111101111'],
  ['k in (,v)', '00010010001'],
  ['k notin (,v)', '11101101110'],
  ['k>5', '00000000100'],
  ['k<5', '00000000010'],
  ['k>4', '00000001100'],
  ['k<6', '00000001010'],
  ['k=5', '00000001000'],
  // AND of requirements
  ['k,other', '00000000001'],
  ['k=v,other=w', '00000000001'],
  ['k=v,!other', '00010000000'],
  ['k,k!=v', '00001111110'],
  ['k=v,k=w', '00000000000'],
  ['other notin (w),k', '00011111110'],
];

test('matching matrix: every operator against absent, listed, other and empty values', (t) => {
  for (const [selector, expected] of matrix) {
    const s = mustParse(selector);
    const got = labelSets.map((l) => (s.matches(l) ? '1' : '0')).join('');
    t.is(got, expected, selector);
  }
});

test('> and < compare the label value as a base-10 int64', (t) => {
  const cases: readonly (readonly [selector: string, value: string, expected: boolean])[] = [
    ['k>5', '6', true],
    ['k>5', '5', false],
    ['k>5', '+6', true],
    ['k>5', '007', true],
    ['k<5', '-3', true],
    ['k>0', '-0', false],
    ['k<1', '-0', true],
    ['k>9223372036854775806', '9223372036854775807', true], // beyond double precision
    ['k<9223372036854775807', '9223372036854775806', true],
    ['k<9223372036854775807', '-9223372036854775808', true],
    ['k<9223372036854775807', '-9223372036854775809', false], // out of int64: not an integer
    ['k>0', '9223372036854775808', false],
    ['k>5', '6.0', false],
    ['k>5', ' 6', false],
    ['k>5', '0x10', false],
    ['k>5', '1_0', false],
    ['k<5', '', false],
    ['k<5', 'v2', false],
  ];
  for (const [selector, value, expected] of cases) {
    t.is(mustParse(selector).matches({ k: value }), expected, `${selector} on k=${JSON.stringify(value)}`);
  }
});

test('only own properties are labels: Object.prototype names are ordinary keys', (t) => {
  t.false(mustParse('constructor').matches({}));
  t.true(mustParse('!constructor').matches({}));
  t.false(mustParse('toString=x').matches(undefined));
  t.true(mustParse('hasOwnProperty notin (x)').matches({}));
  t.true(mustParse('hasOwnProperty=y').matches({ hasOwnProperty: 'y' }));
  const bare = Object.create(null) as Record<string, string>;
  bare.k = 'v';
  t.true(mustParse('k=v,!constructor').matches(bare));
});

// ---------------------------------------------------------------------------------------------
// label key and value syntax
// ---------------------------------------------------------------------------------------------

test('labelKeyProblem and labelValueProblem', (t) => {
  for (const ok of ['a', 'A', '1', 'a.b-c_d', a63, 'k8s.io/x', `${prefix253}/${a63}`, 'x/y']) t.is(labelKeyProblem(ok), undefined, ok);
  for (const bad of ['', '.a', 'a.', 'a b', `${a63}a`, 'a/b/c', '/a', 'a/', 'K8s.io/x', `x${prefix253}/a`]) {
    t.not(labelKeyProblem(bad), undefined, bad);
  }
  for (const ok of ['', 'a', '1', 'A-b.c_d', a63]) t.is(labelValueProblem(ok), undefined, ok);
  for (const bad of ['-', '_a', 'a_', 'a/b', 'a b', `${a63}a`, 'é']) t.not(labelValueProblem(bad), undefined, bad);
});

// ---------------------------------------------------------------------------------------------
// properties (fast-check)
// ---------------------------------------------------------------------------------------------

const KEYS = ['a', 'b', 'app', 'example.com/tier', 'in', 'notin', 'constructor'] as const;
const VALUES = ['', 'x', 'y', 'in', 'notin', '1', '10', '007'] as const;
const INTEGERS = ['0', '1', '10', '007', '9223372036854775807'] as const;
const LABEL_VALUES = [...VALUES, '+5', '-3', '9223372036854775808', 'v2'] as const;

const labelsArb: fc.Arbitrary<Labels> = fc.dictionary(fc.constantFrom(...KEYS), fc.constantFrom(...LABEL_VALUES), {
  maxKeys: KEYS.length,
});

/** Symbols the grammar uses, plus words that are keys, values, keywords and junk. */
const SOUP = [
  'a',
  'b',
  'x',
  'in',
  'notin',
  'example.com/',
  '1',
  '-',
  '_',
  '.',
  '@',
  '/',
  ' ',
  ' ',
  '\t',
  ',',
  ',',
  '(',
  ')',
  '!',
  '=',
  '==',
  '!=',
  '>',
  '<',
] as const;
const soupArb = fc.array(fc.constantFrom(...SOUP), { maxLength: 16 }).map((parts) => parts.join(''));

function assertResultShape(text: string): ReturnType<typeof parseLabelSelector> {
  const r = parseLabelSelector(text);
  if (r.ok) {
    if (typeof r.selector.toString() !== 'string' || typeof r.selector.matches({}) !== 'boolean') throw new Error('bad selector');
  } else {
    const m = /^at (\d+): \S/.exec(r.error);
    if (m === null || Number(m[1]) > text.length) throw new Error(`bad error ${JSON.stringify(r.error)} for ${JSON.stringify(text)}`);
  }
  return r;
}

test('property: parsing never throws, and every error names a position inside the input', (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (s) => void assertResultShape(s)),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(soupArb, (s) => void assertResultShape(s)),
    { numRuns: 5000 },
  );
  t.pass();
});

function assertEquivalent(original: LabelSelector, labelSets: readonly Labels[]): void {
  const text = original.toString();
  const reparsed = parseLabelSelector(text);
  if (!reparsed.ok) throw new Error(`canonical ${JSON.stringify(text)} did not parse: ${reparsed.error}`);
  if (reparsed.selector.toString() !== text) throw new Error(`${JSON.stringify(text)} re-rendered as ${reparsed.selector.toString()}`);
  if (reparsed.selector.empty !== original.empty) throw new Error('empty differs');
  for (const labels of labelSets) {
    if (reparsed.selector.matches(labels) !== original.matches(labels)) {
      throw new Error(`${JSON.stringify(text)} disagrees on ${JSON.stringify(labels)}`);
    }
  }
}

test('property: parse(toString(sel)) is equivalent to sel (selectors from token soup)', (t) => {
  let parsed = 0;
  fc.assert(
    fc.property(soupArb, fc.array(labelsArb, { minLength: 1, maxLength: 8 }), (text, sets) => {
      const r = parseLabelSelector(text);
      if (!r.ok) return;
      parsed++;
      assertEquivalent(r.selector, sets);
    }),
    { numRuns: 5000 },
  );
  t.true(parsed > 200, `only ${parsed} of the generated strings parsed; the generator no longer exercises the round trip`);
});

// A model of requirements, written out as text with random spelling, and a naive evaluator.

type ModelOp = '=' | '==' | '!=' | 'in' | 'notin' | 'exists' | '!' | '>' | '<';
interface ModelRequirement {
  readonly key: string;
  readonly op: ModelOp;
  readonly values: readonly string[];
}

const gap = fc.constantFrom('', ' ', '  ', '\t', '\n');
const wideGap = fc.constantFrom(' ', '  ', '\t', ' \n ');

const requirementArb: fc.Arbitrary<{ req: ModelRequirement; text: string }> = fc
  .record({
    key: fc.constantFrom(...KEYS),
    op: fc.constantFrom<ModelOp>('=', '==', '!=', 'in', 'notin', 'exists', '!', '>', '<'),
    values: fc.uniqueArray(fc.constantFrom(...VALUES), { minLength: 1, maxLength: 4 }),
    integer: fc.constantFrom(...INTEGERS),
    g: fc.array(gap, { minLength: 6, maxLength: 6 }),
    w: wideGap,
  })
  .map(({ key, op, values, integer, g, w }) => {
    const [g0, g1, g2, g3, g4, g5] = g as [string, string, string, string, string, string];
    switch (op) {
      case 'exists':
        return { req: { key, op, values: [] }, text: `${g0}${key}${g1}` };
      case '!':
        return { req: { key, op, values: [] }, text: `${g0}!${g1}${key}${g2}` };
      case '>':
      case '<':
        return { req: { key, op, values: [integer] }, text: `${g0}${key}${g1}${op}${g2}${integer}${g3}` };
      case '=':
      case '==':
      case '!=': {
        const v = values[0] as string;
        return { req: { key, op, values: [v] }, text: `${g0}${key}${g1}${op}${g2}${v}${g3}` };
      }
      case 'in':
      case 'notin': {
        // "" is written as a leading empty entry or, alone, as "()": the spellings that mean {""}
        // without apimachinery's ",," quirk (which the token-soup property covers).
        const listed = [...values.filter((v) => v === ''), ...values.filter((v) => v !== '')];
        const inner = listed.length === 1 && listed[0] === '' ? g4 : listed.join(`${g4},${g5}`);
        return { req: { key, op, values }, text: `${g0}${key}${w}${op}${g1}(${g2}${inner}${g3})${g4}` };
      }
    }
  });

function naiveInt64(s: string): bigint | undefined {
  if (!/^[+-]?\d+$/.test(s)) return undefined;
  const n = BigInt(s);
  return n >= -(2n ** 63n) && n < 2n ** 63n ? n : undefined;
}

function naiveMatches(reqs: readonly ModelRequirement[], labels: Labels): boolean {
  return reqs.every(({ key, op, values }) => {
    const has = Object.keys(labels).includes(key);
    const value = has ? labels[key] : undefined;
    switch (op) {
      case 'exists':
        return has;
      case '!':
        return !has;
      case '=':
      case '==':
      case 'in':
        return has && values.includes(value as string);
      case '!=':
      case 'notin':
        return !has || !values.includes(value as string);
      case '>':
      case '<': {
        const a = has ? naiveInt64(value as string) : undefined;
        const b = naiveInt64(values[0] as string);
        if (a === undefined || b === undefined) return false;
        return op === '>' ? a > b : a < b;
      }
    }
  });
}

test('property: a selector written from random requirements matches exactly what a naive evaluator says', (t) => {
  fc.assert(
    fc.property(fc.array(requirementArb, { maxLength: 5 }), fc.array(labelsArb, { minLength: 1, maxLength: 10 }), (reqs, sets) => {
      const text = reqs.map((r) => r.text).join(',');
      const r = parseLabelSelector(text);
      if (!r.ok) throw new Error(`${JSON.stringify(text)} did not parse: ${r.error}`);
      const model = reqs.map((x) => x.req);
      if (r.selector.empty !== (model.length === 0)) throw new Error('empty is wrong');
      for (const labels of sets) {
        if (r.selector.matches(labels) !== naiveMatches(model, labels)) {
          throw new Error(`${JSON.stringify(text)} on ${JSON.stringify(labels)}: model says ${naiveMatches(model, labels)}`);
        }
      }
      assertEquivalent(r.selector, sets);
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test('property: the canonical form ignores requirement order and repetition', (t) => {
  fc.assert(
    fc.property(fc.array(requirementArb, { minLength: 1, maxLength: 5 }), fc.nat(), (reqs, seed) => {
      const texts = reqs.map((r) => r.text);
      const shuffled = [...texts, ...texts.slice(0, seed % (texts.length + 1))].sort(
        (x, y) => ((x.length * 31 + seed) % 7) - ((y.length * 31 + seed) % 7),
      );
      const a = mustParse(texts.join(',')).toString();
      const b = mustParse(shuffled.join(',')).toString();
      if (a !== b) throw new Error(`${a} vs ${b}`);
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

// ---------------------------------------------------------------------------------------------
// export namespaces
// ---------------------------------------------------------------------------------------------

test('isExportedNamespace: every namespace but kube-system when none is listed, else only the listed ones', (t) => {
  const cases: readonly (readonly [namespace: string, listed: readonly string[], expected: boolean])[] = [
    ['default', [], true],
    ['bookinfo', [], true],
    ['kube-public', [], true],
    ['kube-system', [], false],
    ['bookinfo', ['bookinfo'], true],
    ['bookinfo', ['default', 'bookinfo'], true],
    ['default', ['bookinfo'], false],
    ['kube-system', ['bookinfo'], false],
    ['kube-system', ['kube-system'], true],
    ['kube-system', ['bookinfo', 'kube-system'], true],
    ['bookinfo', ['kube-system'], false],
    ['bookinfo-2', ['bookinfo'], false],
  ];
  for (const [namespace, listed, expected] of cases) {
    t.is(isExportedNamespace(namespace, listed), expected, `${namespace} with [${listed.join(', ')}]`);
  }
});
