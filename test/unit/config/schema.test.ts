/** The schema's custom formats and its own hygiene: typos are errors, every key is documented. */
import test from 'ava';
import {
  configSchema,
  formats,
  isCidr,
  isDnsLabel,
  isDomainName,
  parseHostPort,
  parseUpstream,
  type JsonSchema,
} from '../../../src/config/index.js';

const upstreams: [input: string, expected: ReturnType<typeof parseUpstream>][] = [
  ['resolv.conf', 'resolv.conf'],
  ['192.0.2.53', { address: '192.0.2.53', port: 53 }],
  ['192.0.2.54:5300', { address: '192.0.2.54', port: 5300 }],
  ['2001:db8::53', { address: '2001:db8::53', port: 53 }],
  ['[2001:db8::53]:5300', { address: '2001:db8::53', port: 5300 }],
  ['[2001:db8::53]', { address: '2001:db8::53', port: 53 }],
  ['::1', { address: '::1', port: 53 }],
  ['dns.example.com', undefined],
  ['dns.example.com:53', undefined],
  ['192.0.2.53:0', undefined],
  ['192.0.2.53:65536', undefined],
  ['192.0.2.53:', undefined],
  ['192.0.2.53:53x', undefined],
  ['[192.0.2.53]:53', undefined],
  ['[2001:db8::53]:', undefined],
  ['2001:db8::53:5300x', undefined],
  ['256.0.0.1', undefined],
  ['', undefined],
  ['resolv.conf:53', undefined],
];
for (const [input, expected] of upstreams) {
  test(`parseUpstream(${JSON.stringify(input)})`, (t) => {
    t.deepEqual(parseUpstream(input), expected);
  });
}

test('parseHostPort uses the given default port', (t) => {
  t.deepEqual(parseHostPort('192.0.2.1', 15443), { address: '192.0.2.1', port: 15443 });
  t.deepEqual(parseHostPort('[::1]:8', 15443), { address: '::1', port: 8 });
});

const cidrs: [string, boolean][] = [
  ['10.0.0.0/8', true],
  ['0.0.0.0/0', true],
  ['192.168.1.1/32', true],
  ['::1/128', true],
  ['fc00::/7', true],
  ['::/0', true],
  ['10.0.0.0/33', false],
  ['fc00::/129', false],
  ['10.0.0.0', false],
  ['10.0.0.0/', false],
  ['10.0.0.0/-1', false],
  ['10.0.0/8', false],
  ['example.com/8', false],
  ['10.0.0.0/8/8', false],
];
for (const [input, expected] of cidrs) {
  test(`isCidr(${input}) is ${expected}`, (t) => t.is(isCidr(input), expected));
}

const labels: [string, boolean][] = [
  ['cluster-a', true],
  ['a', true],
  ['0', true],
  ['a'.repeat(63), true],
  ['a'.repeat(64), false],
  ['Cluster-A', false],
  ['-a', false],
  ['a-', false],
  ['a_b', false],
  ['a.b', false],
  ['', false],
];
for (const [input, expected] of labels) {
  test(`isDnsLabel(${JSON.stringify(input.length > 20 ? `${input.slice(0, 5)}…(${input.length})` : input)}) is ${expected}`, (t) =>
    t.is(isDnsLabel(input), expected));
}

const domains: [string, boolean][] = [
  ['global', true],
  ['svc.example.org', true],
  ['xn--bcher-kva.example', true],
  ['global.', false],
  ['Global', false],
  ['a..b', false],
  ['.global', false],
  ['', false],
  [`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`, true],
  [`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(62)}`, false],
];
for (const [input, expected] of domains) {
  test(`isDomainName(${input.length > 20 ? `…(${input.length})` : JSON.stringify(input)}) is ${expected}`, (t) =>
    t.is(isDomainName(input), expected));
}

test('https-url and ip formats', (t) => {
  t.true(formats['https-url'].validate('https://198.51.100.20:7443'));
  t.true(formats['https-url'].validate('https://[2001:db8::1]:7443/base'));
  t.false(formats['https-url'].validate('http://198.51.100.20:7443'));
  t.false(formats['https-url'].validate('https://user:pw@host'));
  t.false(formats['https-url'].validate('not a url'));
  t.true(formats.ip.validate('203.0.113.10'));
  t.true(formats.ip.validate('2001:db8::1'));
  t.false(formats.ip.validate('203.0.113.300'));
  t.false(formats.ip.validate('localhost'));
});

function nodes(schema: JsonSchema, path: string, visit: (node: JsonSchema, path: string) => void): void {
  visit(schema, path);
  for (const [key, sub] of Object.entries(schema.properties ?? {})) nodes(sub, path === '' ? key : `${path}.${key}`, visit);
  if (schema.items !== undefined) nodes(schema.items, `${path}[]`, visit);
}

test('every object in the schema forbids unknown keys', (t) => {
  const open: string[] = [];
  nodes(configSchema, '', (node, path) => {
    if (node.properties !== undefined && node.additionalProperties !== false) open.push(path || '(root)');
  });
  t.deepEqual(open, []);
});

test('every key in the schema has a description, and every format is defined', (t) => {
  const undocumented: string[] = [];
  nodes(configSchema, '', (node, path) => {
    if (path !== '' && !path.endsWith('[]') && (node.description ?? '') === '') undocumented.push(path);
    if (node.format !== undefined) t.truthy(formats[node.format], `${path}: format ${node.format}`);
  });
  t.deepEqual(undocumented, []);
});

test('the SPEC §5 keys are all in the schema', (t) => {
  const paths = new Set<string>();
  nodes(configSchema, '', (_node, path) => paths.add(path));
  for (const key of [
    'cluster.name',
    'cluster.region',
    'cluster.zone',
    'cluster.location.lat',
    'cluster.location.lon',
    'cluster.gateways[].address',
    'cluster.gateways[].port',
    'dns.zones',
    'dns.listen[].address',
    'dns.listen[].port',
    'dns.nameservers[].address',
    'dns.ttl',
    'dns.negativeTtl',
    'dns.degradedTtl',
    'dns.maxAnswers',
    'dns.policy',
    'dns.rotate',
    'dns.localShare',
    'dns.splitTtl',
    'cluster.weight',
    'locality.rttMarginMs',
    'source.type',
    'source.file.path',
    'source.kubernetes.kubeconfig',
    'source.kubernetes.namespaces',
    'source.kubernetes.exportSelector',
    'forward.upstreams',
    'forward.allowFrom',
    'forward.cache.maxEntries',
    'sync.listen.address',
    'sync.listen.port',
    'sync.trustDomain',
    'sync.tls.ca',
    'sync.tls.cert',
    'sync.tls.key',
    'sync.peers[].name',
    'sync.peers[].url',
    'sync.staleAfterSeconds',
    'health.intervalMs',
    'health.timeoutMs',
    'health.fall',
    'health.rise',
    'health.probe.type',
    'health.probe.port',
    'health.probe.path',
    'locality.ecs',
    'http.listen.address',
    'http.listen.port',
    'log.level',
    'log.queries.enabled',
    'log.queries.sampleRate',
  ]) {
    t.true(paths.has(key), key);
  }
});
