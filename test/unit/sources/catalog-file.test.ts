import test from 'ava';
import { readFileSync } from 'node:fs';
import { parseCatalogFile, formatCatalogIssue } from '../../../src/sources/catalog-file.js';
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
