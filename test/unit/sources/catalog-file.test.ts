import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { parseCatalogFile, parseCatalogFileWithPositions, formatCatalogIssue } from '../../../src/sources/catalog-file.js';
import { decodeCatalogFileBytes, freshServices, rebuildLocals } from '../../../src/sources/catalog-file-decoder.js';
import { loadYamlFast } from '../../../src/util/yaml-schema.js';
import { fileURLToPath } from 'node:url';

const demoCatalog = fileURLToPath(new URL('../../../config/demo-catalog.yaml', import.meta.url));

test('the demo catalog parses into the documented services', (t) => {
  const r = parseCatalogFile(readFileSync(demoCatalog, 'utf8'));
  if (!r.ok) return t.fail(JSON.stringify(r.issues));
  t.deepEqual(
    r.catalog.services.map((s) => `${s.kind} ${s.namespace}/${s.name}`),
    ['clusterIP bookinfo/productpage', 'headless bookinfo/details', 'clusterIP bookinfo/reviews'],
  );
  t.deepEqual(
    r.catalog.remotes.map((c) => c.cluster),
    ['cluster-west', 'cluster-east'],
  );
  const east = r.catalog.remotes[1]!;
  t.deepEqual(
    east.services.map((s) => [s.name, s.ready]),
    [
      ['reviews', true],
      ['ratings', true],
      ['legacy', false],
    ],
  );
  t.deepEqual(east.gateways, [{ address: '198.51.100.10', port: 15443 }]);
});

test('defaults: port protocol TCP, endpoint ready, gateway port 15443, IPv6 canonical', (t) => {
  const r = parseCatalogFile(`services:
  - {namespace: a, name: h, headless: true, endpoints: [{address: "2001:DB8:0:0::1"}], ports: [{name: dns, port: 53}]}
remotes:
  - {cluster: c1, gateways: [{address: 192.0.2.1}], services: [{namespace: a, name: b}]}
`);
  if (!r.ok) return t.fail(JSON.stringify(r.issues));
  const h = r.catalog.services[0]!;
  t.is(h.kind, 'headless');
  if (h.kind === 'headless') t.deepEqual(h.endpoints, [{ address: '2001:db8::1', ready: true }]);
  t.deepEqual(h.ports, [{ name: 'dns', port: 53, protocol: 'TCP' }]);
  t.deepEqual(r.catalog.remotes[0]!.gateways, [{ address: '192.0.2.1', port: 15443 }]);
  t.true(r.catalog.remotes[0]!.services[0]!.ready);
});

test('traffic settings: the policy, weight and localShare become its traffic; remotes carry weight and policy', (t) => {
  const text = `services:
  - {namespace: a, name: w, clusterIPs: [10.0.0.1], readyEndpoints: 1, policy: weighted, weight: 0, localShare: 90}
  - {namespace: a, name: h, headless: true, endpoints: [], localShare: 0}
  - {namespace: a, name: x, externalName: x.example, policy: spread}
  - {namespace: a, name: plain, clusterIPs: [10.0.0.2], readyEndpoints: 1}
remotes:
  - cluster: c1
    gateways: [{address: 192.0.2.1}]
    weight: 300
    policy: spread
    services: [{namespace: a, name: w, weight: 50, policy: failover}, {namespace: a, name: plain}]
  - {cluster: c2, gateways: [], services: [{namespace: a, name: w}]}
`;
  const r = parseCatalogFile(text);
  if (!r.ok) return t.fail(JSON.stringify(r.issues));
  t.is(r.reading, 'fast');
  const [w, h, x, plain] = r.catalog.services;
  t.deepEqual(w!.traffic, { policy: 'weighted', weight: 0, localShare: 90 });
  t.deepEqual(h!.traffic, { localShare: 0 });
  t.deepEqual(x!.traffic, { policy: 'spread' });
  t.false('traffic' in plain!, 'no settings, no traffic key (its fingerprint is unchanged)');
  const [c1, c2] = r.catalog.remotes;
  t.is(c1!.weight, 300);
  t.is(c1!.policy, 'spread');
  t.deepEqual({ ...c1!.services[0]! }, { namespace: 'a', name: 'w', ready: true, ports: [], weight: 50, policy: 'failover' });
  t.false('weight' in c1!.services[1]! || 'policy' in c1!.services[1]!);
  t.false('weight' in c2! || 'policy' in c2!, 'absent at catalog level: left out');
  const positioned = parseCatalogFileWithPositions(text);
  t.deepEqual(positioned.ok && positioned.catalog, r.catalog, 'both readings agree');
});

const bad: [string, string, RegExp[]][] = [
  [
    'unknown key with line',
    'services:\n  - {namespace: a, name: b, clusterIPs: [10.0.0.1], readyEndpoints: 1, colour: x}\n',
    [/^f:2:\d+: services\[0\]\.colour: unknown key 'colour'$/],
  ],
  [
    'bad IP and bad label together',
    'services:\n  - namespace: A_B\n    name: b\n    clusterIPs: [300.1.1.1]\n    readyEndpoints: 1\n',
    [
      /services\[0\]\.namespace: must be a lowercase DNS label/,
      /^f:4:\d+: services\[0\]\.clusterIPs\[0\]: must be an IPv4 or IPv6 address, got '300\.1\.1\.1'$/,
    ],
  ],
  [
    'two shapes',
    'services:\n  - {namespace: a, name: b, clusterIPs: [10.0.0.1], readyEndpoints: 1, headless: true}\n',
    [/needs exactly one of/],
  ],
  [
    'clusterIP without readyEndpoints',
    'services:\n  - {namespace: a, name: b, clusterIPs: [10.0.0.1]}\n',
    [/services\[0\]\.readyEndpoints: is required with clusterIPs/],
  ],
  [
    'duplicate service',
    'services:\n  - {namespace: a, name: b, clusterIPs: [10.0.0.1], readyEndpoints: 1}\n  - {namespace: a, name: b, clusterIPs: [10.0.0.2], readyEndpoints: 1}\n',
    [/services\[1\]: duplicate service a\/b/],
  ],
  [
    'duplicate cluster',
    'remotes:\n  - {cluster: x, gateways: []}\n  - {cluster: x, gateways: []}\n',
    [/remotes\[1\]\.cluster: duplicate cluster x/],
  ],
  ['missing gateways', 'remotes:\n  - {cluster: x}\n', [/remotes\[0\]\.gateways: is required/]],
  [
    'port out of range',
    'remotes:\n  - {cluster: x, gateways: [{address: 192.0.2.1, port: 70000}]}\n',
    [/remotes\[0\]\.gateways\[0\]\.port: must be <= 65535/],
  ],
  ['yaml syntax', 'services: [\n', [/^f:\d+:\d+: \(yaml\): /]],
  [
    'traffic fields of a local service out of range, each at its line',
    'services:\n  - namespace: a\n    name: b\n    clusterIPs: [10.0.0.1]\n    readyEndpoints: 1\n    policy: random\n    weight: 1001\n    localShare: 101\n',
    [
      /^f:6:\d+: services\[0\]\.policy: must be one of: failover, spread, weighted; got 'random'$/,
      /^f:7:\d+: services\[0\]\.weight: must be <= 1000$/,
      /^f:8:\d+: services\[0\]\.localShare: must be <= 100$/,
    ],
  ],
  [
    'a negative or fractional weight',
    'services:\n  - {namespace: a, name: b, externalName: x.example, weight: -1}\n  - {namespace: a, name: c, externalName: x.example, weight: 2.5}\n',
    [/^f:2:\d+: services\[0\]\.weight: must be >= 0$/, /^f:3:\d+: services\[1\]\.weight: must be an integer/],
  ],
  [
    'traffic fields of a remote catalog and its services out of range',
    'remotes:\n  - cluster: x\n    gateways: []\n    weight: 5000\n    policy: nearest\n    services:\n      - {namespace: a, name: b, weight: -3, policy: Spread}\n',
    [
      /^f:4:\d+: remotes\[0\]\.weight: must be <= 1000$/,
      /^f:5:\d+: remotes\[0\]\.policy: must be one of: failover, spread, weighted; got 'nearest'$/,
      /^f:7:\d+: remotes\[0\]\.services\[0\]\.weight: must be >= 0$/,
      /^f:7:\d+: remotes\[0\]\.services\[0\]\.policy: must be one of/,
    ],
  ],
  [
    'localShare is a local setting: refused in a remote catalog',
    'remotes:\n  - {cluster: x, gateways: [], services: [{namespace: a, name: b, localShare: 50}]}\n',
    [/remotes\[0\]\.services\[0\]\.localShare: unknown key 'localShare'/],
  ],
  [
    'endpoints in a remote catalog are refused',
    'remotes:\n  - {cluster: x, gateways: [], services: [{namespace: a, name: b, endpoints: []}]}\n',
    [/remotes\[0\]\.services\[0\]\.endpoints: unknown key 'endpoints'/],
  ],
];

for (const [title, text, expected] of bad) {
  test(`rejects: ${title}`, (t) => {
    const r = parseCatalogFile(text);
    t.false(r.ok);
    if (r.ok) return;
    const lines = r.issues.map((i) => formatCatalogIssue('f', i));
    for (const re of expected)
      t.true(
        lines.some((l) => re.test(l)),
        `${re} not in:\n${lines.join('\n')}`,
      );
  });
}

test('every error is reported at once', (t) => {
  const r = parseCatalogFile('services:\n  - {namespace: A, name: B, clusterIPs: [x], readyEndpoints: -1, extra: 1}\n');
  t.false(r.ok);
  if (!r.ok) t.true(r.issues.length >= 5, JSON.stringify(r.issues));
});

test('an alias bomb is a YAML issue, not a throw', (t) => {
  let text = 'a: &a [x, x]\n';
  for (let i = 0; i < 12; i++) text += `b${i}: &b${i} [*${i === 0 ? 'a' : `b${i - 1}`}, *${i === 0 ? 'a' : `b${i - 1}`}]\n`;
  const r = parseCatalogFile(text);
  t.false(r.ok);
  if (!r.ok) t.regex(formatCatalogIssue('f', r.issues[0]!), /^f: \(yaml\): .*alias/i);
});

test('an empty, whitespace-only or comment-only file is refused (a writer may be halfway); `services: []` is an empty catalog', (t) => {
  for (const text of ['', '\n\n', '   \t\n', '# nothing yet\n', '---\n', '# a\n\n# b\n']) {
    const r = parseCatalogFile(text);
    t.false(r.ok, JSON.stringify(text));
    if (!r.ok) t.regex(formatCatalogIssue('f', r.issues[0]!), /^f: \(root\): the catalog is empty .*services: \[\]/, JSON.stringify(text));
  }
  const r = parseCatalogFile('services: []\n');
  t.true(r.ok);
  if (r.ok) t.deepEqual(r.catalog, { services: [], remotes: [] });
});

// --- issue 15: the fast reading, and the positioned one it falls back to ----------------------------

/** yaml warns (process.emitWarning) about a collection used as a key, which some texts here do on purpose. */
function muteYamlWarnings(t: ExecutionContext): void {
  const original = Object.getOwnPropertyDescriptor(process, 'emitWarning')!;
  Object.defineProperty(process, 'emitWarning', { ...original, value: () => undefined });
  t.teardown(() => {
    Object.defineProperty(process, 'emitWarning', original);
  });
}

/** A result without the `reading` that produced it, to compare what the two readings decide. */
const decision = (r: ReturnType<typeof parseCatalogFile>): unknown => (r.ok ? { ok: true, catalog: r.catalog } : r);

test('an invalid file is read fast, refused by validation, then read again for its lines, worded as before', (t) => {
  for (const [title, text] of bad) {
    if (title === 'yaml syntax') {
      t.is(loadYamlFast(text), undefined, 'a syntax error: the fast reading gives up');
      continue;
    }
    // The fast reading parsed it: the problems below come from the fallback after validation failed.
    t.true(typeof loadYamlFast(text)?.value === 'object', title);
    const r = parseCatalogFile(text);
    t.false(r.ok, title);
    t.deepEqual(r, parseCatalogFileWithPositions(text), title);
    if (!r.ok)
      t.true(
        r.issues.every((i) => i.line !== undefined || i.path === '(root)'),
        `${title}: ${JSON.stringify(r.issues)}`,
      );
  }
});

/** `n` ClusterIP services, one per line (line i + 2 holds services[i]); `edit` may rewrite any line. */
function bigCatalog(n: number, edit: (i: number, line: string) => string = (_i, l) => l): string {
  const lines = ['services:'];
  for (let i = 0; i < n; i++) {
    const line = `  - {namespace: ns${i % 100}, name: svc${i}, clusterIPs: [10.0.${(i >> 8) & 255}.${i & 255}], readyEndpoints: 1, ports: [{name: http, port: 80}]}`;
    lines.push(edit(i, line));
  }
  return lines.join('\n') + '\n';
}

test('a 10,000-service file: read fast when valid; one bad entry is reported at its line', (t) => {
  const good = parseCatalogFile(bigCatalog(10_000));
  t.true(good.ok);
  if (good.ok) {
    t.is(good.reading, 'fast');
    t.is(good.catalog.services.length, 10_000);
  }
  // A schema problem (the fast reading validates, fails, and the positioned reading places it).
  const badIp = parseCatalogFile(
    bigCatalog(10_000, (i, l) => (i === 6000 ? l.replace(/clusterIPs: \[[^\]]*\]/, 'clusterIPs: [10.0.0.300]') : l)),
  );
  t.false(badIp.ok);
  if (!badIp.ok) {
    t.deepEqual(
      badIp.issues.map((i) => formatCatalogIssue('f', i)),
      ["f:6002:50: services[6000].clusterIPs[0]: must be an IPv4 or IPv6 address, got '10.0.0.300'"],
    );
  }
  // A problem across keys (schema-valid, so only the conversion finds it).
  const dup = parseCatalogFile(bigCatalog(10_000, (i, l) => (i === 9999 ? l.replace('svc9999', 'svc10').replace('ns99', 'ns10') : l)));
  t.false(dup.ok);
  if (!dup.ok)
    t.deepEqual(
      dup.issues.map((i) => formatCatalogIssue('f', i)),
      ['f:10001:5: services[9999]: duplicate service ns10/svc10'],
    );
});

test('what the fast reading leaves to the positioned one: anchors and merges, tags, directives, collections as keys', (t) => {
  muteYamlWarnings(t);
  const positioned = (text: string) => {
    const r = parseCatalogFile(text);
    t.deepEqual(decision(r), decision(parseCatalogFileWithPositions(text)), text);
    if (r.ok) t.is(r.reading, 'positioned', text);
    return r;
  };
  const merged = positioned(`services:
  - &web {namespace: a, name: web, clusterIPs: [10.0.0.1], readyEndpoints: 1}
  - {<<: *web, name: api}
`);
  t.deepEqual(merged.ok && merged.catalog.services.map((s) => `${s.namespace}/${s.name}`), ['a/web', 'a/api']);
  // A merge key without an anchor is an unknown key to the fast reading's schema; the fallback merges.
  const inline = positioned('services:\n  - {<<: {namespace: a, clusterIPs: [10.0.0.1], readyEndpoints: 1}, name: b}\n');
  t.true(inline.ok);
  const tagged = positioned('services:\n  - {namespace: a, name: b, clusterIPs: [10.0.0.1], readyEndpoints: !!int "3"}\n');
  t.deepEqual(tagged.ok && tagged.catalog.services[0], {
    kind: 'clusterIP',
    namespace: 'a',
    name: 'b',
    ports: [],
    clusterIPs: ['10.0.0.1'],
    readyEndpoints: 3,
  });
  // YAML 1.1 reads 010 as octal: the directive is the positioned reading's business.
  const v11 = positioned(
    '%YAML 1.1\n---\nservices:\n  - {namespace: a, name: b, clusterIPs: [10.0.0.1], readyEndpoints: 1, ports: [{port: 010}]}\n',
  );
  t.deepEqual(v11.ok && v11.catalog.services[0]!.ports, [{ name: '', port: 8, protocol: 'TCP' }]);
  // js-yaml would make the key `name` of `[name]`; yaml makes it `[ name ]`, an unknown key.
  const key = positioned('services:\n  - {namespace: a, [name]: b, clusterIPs: [10.0.0.1], readyEndpoints: 1}\n');
  t.false(key.ok);
});

test('comment lines are no reason to give up the fast reading, whatever punctuation they hold', (t) => {
  const text = `# Generated by catalogd! Do not edit & see https://example.org/?q=1
#  ? %YAML [x]: y &anchor !tag
services:
  # [a]: b !
  - {namespace: a, name: b, clusterIPs: [10.0.0.1], readyEndpoints: 1}
`;
  const r = parseCatalogFile(text);
  t.true(r.ok && r.reading === 'fast', JSON.stringify(r));
  t.deepEqual(decision(r), decision(parseCatalogFileWithPositions(text)));
  // The same characters outside a comment line do send the text to the positioned reading.
  const tagged = parseCatalogFile(text.replace('readyEndpoints: 1', 'readyEndpoints: !!int 1'));
  t.true(tagged.ok && tagged.reading === 'positioned');
});

test('the fast reading resolves scalars as YAML 1.2 and the yaml package do, and refuses what yaml refuses', (t) => {
  const svc = (ready: string) => `services:\n  - {namespace: a, name: b, clusterIPs: [10.0.0.1], readyEndpoints: ${ready}}\n`;
  for (const [ready, want] of [
    ['0o17', 15],
    ['0x1F', 31],
    ['+7', 7],
    ['012', 12], // YAML 1.2: decimal, not octal
    ['1e1', 10],
  ] as const) {
    const r = parseCatalogFile(svc(ready));
    t.deepEqual(
      r.ok && [r.reading, r.catalog.services[0]!.kind === 'clusterIP' && r.catalog.services[0]!.readyEndpoints],
      ['fast', want],
      ready,
    );
  }
  // Strings to YAML 1.2 and to yaml (js-yaml's own core schema reads them as numbers).
  for (const ready of ['1_000', '0b11', '1_0.5', 'yes']) {
    const r = parseCatalogFile(svc(ready));
    t.false(r.ok, ready);
    if (!r.ok)
      t.regex(
        formatCatalogIssue('f', r.issues[0]!),
        new RegExp(`^f:2:\\d+: services\\[0\\]\\.readyEndpoints: must be an integer, got '${ready}'$`),
      );
  }
  // Flow content indented less than its block (yaml refuses it; js-yaml only warns), and a comment
  // glued to a flow indicator (yaml refuses it; js-yaml reads a comment).
  for (const text of [
    'services:\n  - {namespace: a, name: b,\n  clusterIPs: [10.0.0.1], readyEndpoints: 1}\n',
    'services:\n  - {namespace: a, name: b, clusterIPs: [10.0.0.1], readyEndpoints: 1}#note\n',
  ]) {
    const r = parseCatalogFile(text);
    t.false(r.ok, text);
    t.deepEqual(r, parseCatalogFileWithPositions(text));
  }
});

// Catalog texts in the shapes operators and generators write (flow and block, quoted and plain,
// comments, IPv6, YAML 1.2 number spellings), then 0-2 random edits with YAML's own punctuation.
// Mostly valid values (so that most texts are catalogs), some that only one YAML reading accepts.
const mostly = (valid: readonly string[], odd: readonly string[]) =>
  fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...valid) }, { weight: 1, arbitrary: fc.constantFrom(...odd) });
const scalarArb = mostly(['a', 'ns1', 'svc-2', '"q"', "'s'", '"a\\x62"'], ['NS1', "'a''b'", '0x1f', '1', 'a b', 'x # c', '~', 'true']);
const ipArb = mostly(['10.0.0.1', '2001:db8::1', '::1', '"10.0.0.2"', "'::2'", '2001:DB8::3'], ['300.1.1.1', '10.0.0.1 # x', '[10.0.0.1]']);
const intArb = mostly(['1', '0', '0x10', '0o7', '+3', '012', '1.0', '1e1', '80'], ['1_0', '0b1', '"1"', '-1', '~', '.inf']);
const policyArb = mostly(['failover', 'spread', 'weighted', '"weighted"'], ['Weighted', 'random', '1', '~']);
const weightArb = mostly(['0', '100', '1000', '0x10', '+3', '1e2'], ['1001', '-1', '2.5', '"100"', '.inf']);
const shareArb = mostly(['0', '90', '100', '0o7'], ['101', '-1', '50.5', '"90"']);
const portArb = mostly(['1', '80', '0x10', '0o7', '+3', '012', '1e1', '65535'], ['0', '1_0', '0b1', '"1"', '70000', '.nan']);
const serviceArb = fc.record({
  namespace: scalarArb,
  name: mostly(['svc'], ['svc0', 'svc1', 'Svc', '"svc"', '1e3']),
  shape: fc.constantFrom('clusterIP', 'headless', 'externalName'),
  ip: ipArb,
  ready: intArb,
  port: fc.option(portArb),
  policy: fc.option(policyArb),
  weight: fc.option(weightArb),
  localShare: fc.option(shareArb),
  flow: fc.boolean(),
  comment: fc.boolean(),
});
/** One edit of a text: a character deleted, or YAML punctuation inserted or written over one. */
const editArb = fc.record({
  at: fc.double({ min: 0, max: 1, noNaN: true }),
  op: fc.constantFrom('delete', 'insert', 'replace'),
  with: fc.constantFrom(
    ...[' ', '\n', '  ', '\n  ', '\t', ':', ',', '[', ']', '{', '}', '-', '#', '"', "'", '?', '|', '>', '&a ', '*a', '!!str ', '<<: '],
  ),
});
const catalogTextArb = fc
  .record({
    header: fc.constantFrom('', '# generated! do not edit & see ?\n', '#  [a]: b %x\n', '---\n'),
    services: fc.array(serviceArb, { minLength: 1, maxLength: 3 }),
    remote: fc.option(
      fc.record({
        gateway: ipArb,
        service: scalarArb,
        weight: fc.option(weightArb),
        policy: fc.option(policyArb),
        serviceWeight: fc.option(weightArb),
        servicePolicy: fc.option(policyArb),
      }),
    ),
    edits: fc.oneof({ weight: 2, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(editArb, { minLength: 1, maxLength: 2 }) }),
  })
  .map(({ header, services, remote, edits }) => {
    const lines = [`${header}services:`];
    for (const [i, s] of services.entries()) {
      const fields: [string, string][] = [
        ['namespace', s.namespace],
        ['name', s.name === 'svc' ? `svc${i}` : s.name],
      ];
      if (s.shape === 'clusterIP') fields.push(['clusterIPs', `[${s.ip}]`], ['readyEndpoints', s.ready]);
      else if (s.shape === 'headless') fields.push(['headless', 'true'], ['endpoints', `[{address: ${s.ip}}]`]);
      else fields.push(['externalName', s.namespace]);
      if (s.port !== null) fields.push(['ports', `[{name: http, port: ${s.port}}]`]);
      if (s.policy !== null) fields.push(['policy', s.policy]);
      if (s.weight !== null) fields.push(['weight', s.weight]);
      if (s.localShare !== null) fields.push(['localShare', s.localShare]);
      if (s.flow)
        lines.push(`  - {${fields.map(([k, v]) => `${k}: ${v.replace(/\n\s*/g, ' ')}`).join(', ')}}${s.comment ? ' # note' : ''}`);
      else lines.push(...fields.map(([k, v], j) => `${j === 0 ? '  - ' : '    '}${k}: ${v}${s.comment && j === 1 ? ' # note' : ''}`));
    }
    if (remote !== null) {
      const svc = [`namespace: a`, `name: ${remote.service}`];
      if (remote.serviceWeight !== null) svc.push(`weight: ${remote.serviceWeight}`);
      if (remote.servicePolicy !== null) svc.push(`policy: ${remote.servicePolicy}`);
      lines.push('remotes:', '  - cluster: c1', `    gateways: [{address: ${remote.gateway}}]`, `    services: [{${svc.join(', ')}}]`);
      if (remote.weight !== null) lines.push(`    weight: ${remote.weight}`);
      if (remote.policy !== null) lines.push(`    policy: ${remote.policy}`);
    }
    let text = lines.join('\n') + '\n';
    for (const e of edits) {
      const at = Math.floor(e.at * text.length);
      if (e.op === 'delete') text = text.slice(0, at) + text.slice(at + 1);
      else if (e.op === 'insert') text = text.slice(0, at) + e.with + text.slice(at);
      else text = text.slice(0, at) + e.with + text.slice(at + 1);
    }
    return text;
  });

test('property: the fast reading never changes what a file decides (catalog, or problems and their lines)', (t) => {
  let fast = 0;
  let valid = 0;
  muteYamlWarnings(t); // some edits make collections into keys
  fc.assert(
    fc.property(catalogTextArb, (text) => {
      const r = parseCatalogFile(text);
      if (r.ok) valid++;
      if (r.ok && r.reading === 'fast') fast++;
      return isDeepStrictEqual(decision(r), decision(parseCatalogFileWithPositions(text)));
    }),
    { numRuns: 3000 },
  );
  t.log(`${valid} of 3000 valid, ${fast} of them read fast`);
  // Not vacuous: a good share of the texts is valid, and most valid ones were read fast.
  t.true(valid > 300 && fast > valid / 2, `${valid} valid, ${fast} fast`);
});

test('a reply that crosses threads carries the fresh services as JSON, and they come back the same', (t) => {
  const text =
    bigCatalog(50) +
    '  - {namespace: a, name: h, headless: true, endpoints: [{address: "2001:DB8::1"}, {address: 10.1.1.1, ready: false}]}\n' +
    '  - {namespace: a, name: e, externalName: Example.COM., ports: [{name: dns, port: 53, protocol: UDP}]}\n';
  const req = { bytes: new TextEncoder().encode(text), lastHash: undefined, baseFingerprints: new Float64Array(0) };
  const objects = decodeCatalogFileBytes(req);
  const json = decodeCatalogFileBytes({ ...req, freshAsJson: true });
  if (objects.kind !== 'catalog' || json.kind !== 'catalog') return t.fail(`${objects.kind} ${json.kind}`);
  t.is(json.fresh.length, 0);
  t.is(typeof json.freshJson, 'string');
  t.deepEqual(freshServices(json), objects.fresh);
  t.deepEqual(json.fingerprints, objects.fingerprints);
  t.deepEqual(rebuildLocals(new Map(), json), rebuildLocals(new Map(), objects));
  // What is held is sent as the base: only the changed service crosses, as JSON.
  const edited = decodeCatalogFileBytes({
    ...req,
    bytes: new TextEncoder().encode(text.replace('10.0.0.7]', '10.9.9.9]')),
    baseFingerprints: objects.fingerprints,
    freshAsJson: true,
  });
  if (edited.kind !== 'catalog') return t.fail(edited.kind);
  t.deepEqual(
    freshServices(edited).map((s) => s.kind === 'clusterIP' && s.clusterIPs),
    [['10.9.9.9']],
  );
});
