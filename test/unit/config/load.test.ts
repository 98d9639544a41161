/** loadConfig: YAML file < GSDNS_* env < --set flags, every error at once with its key path, frozen result. */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  configSchema,
  embeddedConfigPath,
  formatIssues,
  loadConfig,
  type Config,
  type ConfigIssue,
  type JsonSchema,
  type LoadConfigOptions,
} from '../../../src/config/index.js';

const fixtures = fileURLToPath(new URL('../../fixtures/config/', import.meta.url));
const fixture = (name: string): string => join(fixtures, name);
const MINIMAL = 'cluster: {name: cluster-a}\nsource: {file: {path: catalog.yaml}}\n';

function ok(t: import('ava').ExecutionContext, options: LoadConfigOptions): Config {
  const r = loadConfig(options);
  if (!r.ok) {
    t.fail(`expected a valid config, got:\n${formatIssues(r.errors).join('\n')}`);
    throw new Error('invalid config');
  }
  return r.config;
}

function errors(t: import('ava').ExecutionContext, options: LoadConfigOptions): readonly ConfigIssue[] {
  const r = loadConfig(options);
  if (r.ok) {
    t.fail('expected configuration errors, got a valid config');
    return [];
  }
  return r.errors;
}

function issueAt(issues: readonly ConfigIssue[], path: string): ConfigIssue | undefined {
  return issues.find((i) => i.path === path);
}

// --- defaults --------------------------------------------------------------------------------------

test('defaults: a minimal file gets every documented default', (t) => {
  const c = ok(t, { file: fixture('minimal.yaml') });
  t.deepEqual(c.cluster, { name: 'cluster-a', gateways: [], weight: 100 });
  t.deepEqual(c.dns, {
    zones: ['global'],
    listen: [{ address: '127.0.0.1', port: 5353 }],
    nameservers: [{ address: '127.0.0.1' }],
    ttl: 5,
    negativeTtl: 5,
    degradedTtl: 1,
    maxAnswers: 8,
    maxLocalAnswers: null,
    policy: 'failover',
    rotate: true,
    localShare: 100,
    splitTtl: 5,
    interfaceRescanMs: 5000,
    answerCache: { enabled: true, maxEntries: 10000, maxBytes: 16777216 },
    tcp: { idleTimeoutMs: 10000, messageTimeoutMs: 1000, maxConnections: 1000, maxConnectionsPerClient: 50, maxInFlightPerConnection: 32 },
    localFailover: true,
    localMinReady: 1,
    chaos: { version: null, id: null },
  });
  t.deepEqual(c.source, {
    type: 'file',
    file: { path: join(fixtures, 'catalog.yaml') },
    kubernetes: { kubeconfig: null, namespaces: [], exportSelector: '', watchdogSeconds: 300, staleAfterSeconds: 300 },
  });
  t.deepEqual(c.forward, {
    upstreams: ['resolv.conf'],
    allowFrom: ['127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
    cache: { maxEntries: 10000, maxBytes: 67108864 },
    maxInFlight: 512,
    forwardClientSubnet: false,
    serveStaleSeconds: 3600,
    timeoutMs: 2000,
    budgetMs: 5000,
  });
  t.is(c.sync, undefined);
  t.deepEqual(c.health, { intervalMs: 1000, timeoutMs: 500, fall: 3, rise: 2, probe: { type: 'tcp' } });
  t.deepEqual(c.locality, { rttMarginMs: 5, ecs: true, geoipPreload: false });
  t.deepEqual(c.http, {
    listen: { address: '127.0.0.1', port: 8080 },
    debug: { enabled: true, listen: null },
    maxConnections: 512,
    idleTimeoutMs: 5000,
    headersTimeoutMs: 5000,
  });
  t.deepEqual(c.log, { level: 'info', format: 'auto', queries: { enabled: false, sampleRate: 1 } });
});

test('defaults: every key with a schema default is present in the loaded config', (t) => {
  const c = ok(t, { file: fixture('spec-example.yaml') });
  const missing: string[] = [];
  const walk = (schema: JsonSchema, value: unknown, path: string): void => {
    if (value === undefined || value === null || typeof value !== 'object') return;
    for (const [key, sub] of Object.entries(schema.properties ?? {})) {
      const child = (value as Record<string, unknown>)[key];
      if (sub.default !== undefined && child === undefined) missing.push(`${path}${key}`);
      walk(sub, child, `${path}${key}.`);
    }
    if (Array.isArray(value) && schema.items !== undefined) value.forEach((v, i) => walk(schema.items!, v, `${path}[${i}].`));
  };
  walk(configSchema, c, '');
  t.deepEqual(missing, []);
});

test('defaults: items of lists get their defaults (gateway port 15443)', (t) => {
  const c = ok(t, {
    text: 'cluster: {name: a, gateways: [{address: 192.0.2.1}, {address: "2001:db8::1", port: 443}]}\nsource: {file: {path: c.yaml}}\n',
  });
  t.deepEqual(c.cluster.gateways, [
    { address: '192.0.2.1', port: 15443 },
    { address: '2001:db8::1', port: 443 },
  ]);
});

test('the documented SPEC §5 example validates and means what it says', (t) => {
  const c = ok(t, { file: fixture('spec-example.yaml') });
  t.is(c.cluster.name, 'cluster-a');
  t.deepEqual(c.cluster.location, { lat: 53.35, lon: -6.26 });
  t.deepEqual(c.cluster.gateways, [{ address: '203.0.113.10', port: 15443 }]);
  t.is(c.source.type, 'file');
  t.is(c.source.file?.path, join(fixtures, 'demo-catalog.yaml'));
  t.is(c.source.kubernetes.kubeconfig, null);
  t.deepEqual(c.sync, {
    listen: { address: '0.0.0.0', port: 7443 },
    trustDomain: 'gsdns.local',
    tls: { ca: join(fixtures, 'ca.pem'), cert: join(fixtures, 'tls.crt'), key: join(fixtures, 'tls.key') },
    peers: [{ name: 'cluster-b', url: 'https://198.51.100.20:7443' }],
    staleAfterSeconds: 300,
    remotePrecedence: ['sync', 'file'],
    applyBudgetPercent: 50,
    maxConnections: 512,
    maxConnectionsPerSource: 16,
    handshakeTimeoutMs: 5000,
    descriptorReserve: null,
    maxCatalogBytes: 2 * 1024 * 1024,
    maxCatalogServices: 10000,
  });
  t.deepEqual(c.health.probe, { type: 'tcp' });
});

test('the embedded demo config exists and validates', (t) => {
  const path = embeddedConfigPath();
  t.true(path.endsWith(join('config', 'demo.yaml')));
  t.true(existsSync(path), path);
  const c = ok(t, { file: path });
  t.is(c.source.type, 'file');
});

// --- every error at once ----------------------------------------------------------------------------

test('a config with many mistakes reports every one of them, with key paths, file source and lines', (t) => {
  const issues = errors(t, { file: fixture('many-mistakes.yaml') });
  const expected: [path: string, message: RegExp][] = [
    ['cluster.name', /must be a lowercase DNS label.*got 'Cluster_A'/],
    ['cluster.location.lat', /must be <= 90/],
    ['cluster.gateways[0].address', /must be an IPv4 or IPv6 address, got '203\.0\.113\.300'/],
    ['dns.ttll', /unknown key 'ttll', did you mean 'ttl'\?/],
    ['dns.listen[0].port', /^must be <= 65535$/],
    ['dns.policy', /must be one of: failover, spread, weighted; got 'nearest'/],
    ['dns.zones[1]', /'svc\.global' is inside zone 'global'/],
    ['dns.degradedTtl', /must be <= dns\.ttl \(5\)/],
    ['source.file', /is required when source\.type is 'file'/],
    ['forward.upstreams[0]', /must be resolv\.conf or an IP address/],
    ['forward.upstreams[1]', /must be resolv\.conf or an IP address/],
    ['forward.allowFrom[0]', /must be a CIDR/],
    ['forward.allowFrom[1]', /must be a CIDR/],
    ['forward.allowFrom[2]', /must be a CIDR/],
    ['health.probe.port', /is required when health\.probe\.type is 'http'/],
    ['health.probe.path', /is required when health\.probe\.type is 'http'/],
    ['log.queries.enabled', /must be true or false, got 'yes'/],
    ['log.queries.sampleRate', /must be <= 1/],
  ];
  for (const [path, message] of expected) {
    const issue = issueAt(issues, path);
    if (issue === undefined) {
      t.fail(`no issue at ${path}; got:\n${formatIssues(issues).join('\n')}`);
      continue;
    }
    t.regex(issue.message, message, path);
    t.is(issue.source, 'file', path);
    t.true(typeof issue.line === 'number' && issue.line > 1, `${path} has a line`);
  }
  t.is(issues.length, expected.length, formatIssues(issues).join('\n'));
  // Lines point into the file: the port of dns.listen is on line 8 of the fixture.
  t.is(issueAt(issues, 'dns.listen[0].port')?.line, 8);
});

test('formatIssues: one line per issue, path first, source last', (t) => {
  const issues = errors(t, { text: `${MINIMAL}dns: {listen: [{address: 127.0.0.1, port: 70000}]}\n`, file: '/etc/gsdns/gsdns.yaml' });
  t.deepEqual(formatIssues(issues), ['dns.listen[0].port: must be <= 65535 (file, line 3)']);
  t.deepEqual(
    formatIssues([
      { path: 'dns.ttl', message: 'must be >= 0', source: 'env' },
      { path: '', message: 'bad indentation', source: 'file', line: 3, col: 4 },
      { path: '', message: 'cannot read it' },
    ]),
    ['dns.ttl: must be >= 0 (env)', 'line 3, column 4: bad indentation (file)', '(config): cannot read it'],
  );
});

// --- unknown keys -----------------------------------------------------------------------------------

const unknownKeys: [title: string, yaml: string, path: string, message: RegExp][] = [
  ['top level', 'clustr: {name: a}\n', 'clustr', /unknown key 'clustr', did you mean 'cluster'\?/],
  ['nested block', 'dns: {ttll: 3}\n', 'dns.ttll', /unknown key 'ttll', did you mean 'ttl'\?/],
  ['deeply nested', 'log: {queries: {enable: true}}\n', 'log.queries.enable', /did you mean 'enabled'\?/],
  ['inside a list item', 'dns: {listen: [{address: 127.0.0.1, port: 53, proto: udp}]}\n', 'dns.listen[0].proto', /^unknown key 'proto'$/],
  ['no near match', 'dns: {frobnicate: 1}\n', 'dns.frobnicate', /^unknown key 'frobnicate'$/],
  ['sync block', 'sync: {trustDomain: a.b, tls: {ca: a, cert: b, key: c}, peer: []}\n', 'sync.peer', /did you mean 'peers'\?/],
];
for (const [title, yaml, path, message] of unknownKeys) {
  test(`unknown key is an error: ${title}`, (t) => {
    const issues = errors(t, { text: `${MINIMAL}${yaml}` });
    const issue = issueAt(issues, path);
    t.truthy(issue, formatIssues(issues).join('\n'));
    t.regex(issue?.message ?? '', message);
    t.is(issue?.source, 'file');
  });
}

// --- YAML syntax ------------------------------------------------------------------------------------

test('YAML syntax errors carry line and column', (t) => {
  const issues = errors(t, { file: fixture('syntax-error.yaml') });
  t.true(issues.length >= 1);
  t.is(issues[0]!.path, '');
  t.is(issues[0]!.source, 'file');
  t.is(issues[0]!.line, 5);
  t.is(typeof issues[0]!.col, 'number');
  t.notRegex(issues[0]!.message, /\n/);
  t.regex(formatIssues(issues)[0]!, /^line 5, column \d+: .+ \(file\)$/);
});

const documentProblems: [title: string, text: string, message: RegExp, line?: number][] = [
  ['duplicate key', 'cluster:\n  name: a\n  name: b\n', /unique/i, 3],
  ['two documents', 'cluster: {name: a}\n---\ncluster: {name: b}\n', /multiple documents|single document/i],
  ['a list instead of a mapping', '- cluster\n', /must be a mapping/],
  ['a scalar instead of a mapping', 'just words\n', /must be a mapping/],
];
for (const [title, text, message, line] of documentProblems) {
  test(`document problem is reported: ${title}`, (t) => {
    const issues = errors(t, { text });
    t.is(issues[0]?.path, '');
    t.regex(issues[0]?.message ?? '', message);
    if (line !== undefined) t.is(issues[0]?.line, line);
  });
}

test('a missing file is one issue naming the file', (t) => {
  const issues = errors(t, { file: fixture('does-not-exist.yaml') });
  t.is(issues.length, 1);
  t.regex(issues[0]!.message, /cannot read .*does-not-exist\.yaml/);
});

test('an empty file is an empty mapping: only the required keys are missing', (t) => {
  const issues = errors(t, { text: '# nothing yet\n' });
  t.deepEqual(
    issues.map((i) => `${i.path}: ${i.message}`),
    ['cluster: is required', "source.file: is required when source.type is 'file'"],
  );
});

test('syntax errors do not hide env and flag key errors', (t) => {
  const issues = errors(t, { file: fixture('syntax-error.yaml'), env: { GSDNS_DNS__TTLL: '1' }, sets: ['dns.nope=1'] });
  t.deepEqual(
    issues.map((i) => [i.path, i.source]),
    [
      ['', 'file'],
      ['dns.ttll', 'env'],
      ['dns.nope', 'flag'],
    ],
  );
});

// --- environment ------------------------------------------------------------------------------------

const envCases: [name: string, value: string, path: (c: Config) => unknown, expected: unknown][] = [
  ['GSDNS_DNS__NEGATIVE_TTL', '10', (c) => c.dns.negativeTtl, 10],
  ['GSDNS_CLUSTER__NAME', 'from-env', (c) => c.cluster.name, 'from-env'],
  ['GSDNS_LOG__QUERIES__ENABLED', 'true', (c) => c.log.queries.enabled, true],
  ['GSDNS_LOG__QUERIES__SAMPLE_RATE', '0.25', (c) => c.log.queries.sampleRate, 0.25],
  ['GSDNS_DNS__ZONES', '[Global., example.org]', (c) => c.dns.zones, ['global', 'example.org']],
  ['GSDNS_DNS__LISTEN', '[{address: "::1", port: 53}]', (c) => c.dns.listen, [{ address: '::1', port: 53 }]],
  ['GSDNS_DNS__TCP__MAX_IN_FLIGHT_PER_CONNECTION', '4', (c) => c.dns.tcp.maxInFlightPerConnection, 4],
  ['GSDNS_FORWARD__UPSTREAMS', '[192.0.2.53, "[2001:db8::53]:5300"]', (c) => c.forward.upstreams, ['192.0.2.53', '[2001:db8::53]:5300']],
  ['GSDNS_CLUSTER__REGION', '1', (c) => c.cluster.region, '1'], // a string key keeps the text
  ['GSDNS_SOURCE__KUBERNETES__EXPORT_SELECTOR', '', (c) => c.source.kubernetes.exportSelector, ''],
  [
    'GSDNS_SOURCE__KUBERNETES__EXPORT_SELECTOR',
    'gsdns.io/export in (true, yes)',
    (c) => c.source.kubernetes.exportSelector,
    'gsdns.io/export in (true, yes)',
  ],
  ['GSDNS_DNS__LISTEN__0__PORT', '5300', (c) => c.dns.listen, [{ address: '127.0.0.1', port: 5300 }]],
  ['GSDNS_LOCALITY__ECS', 'false', (c) => c.locality.ecs, false],
  ['GSDNS_LOCALITY__GEOIP_PRELOAD', 'true', (c) => c.locality.geoipPreload, true],
  ['GSDNS_DNS__CHAOS__VERSION', 'gsdns 1.2', (c) => c.dns.chaos.version, 'gsdns 1.2'],
];
for (const [name, value, get, expected] of envCases) {
  test(`env ${name}=${value}`, (t) => {
    const c = ok(t, { text: `${MINIMAL}dns: {listen: [{address: 127.0.0.1, port: 5353}]}\n`, env: { [name]: value } });
    t.deepEqual(get(c), expected);
  });
}

test('env overrides beat the file, and sources name the variables', (t) => {
  const r = loadConfig({
    text: `${MINIMAL}dns: {ttl: 30, negativeTtl: 30}\n`,
    env: { GSDNS_DNS__TTL: '10', PATH: '/usr/bin', HOME: '/root' },
  });
  t.true(r.ok);
  if (!r.ok) return;
  t.is(r.config.dns.ttl, 10);
  t.is(r.config.dns.negativeTtl, 30);
  t.deepEqual(r.sources.env, [{ name: 'GSDNS_DNS__TTL', path: 'dns.ttl' }]);
});

test('env can supply the whole config, with no file', (t) => {
  const c = ok(t, { env: { GSDNS_CLUSTER__NAME: 'only-env', GSDNS_SOURCE__TYPE: 'kubernetes' } });
  t.is(c.cluster.name, 'only-env');
  t.is(c.source.type, 'kubernetes');
  t.is(c.source.file, undefined);
});

const badEnv: [name: string, value: string, path: string, message: RegExp][] = [
  ['GSDNS_DNS__TTLL', '1', 'dns.ttll', /unknown key \(from GSDNS_DNS__TTLL\), did you mean GSDNS_DNS__TTL\?/],
  ['GSDNS_DSN__TTL', '1', 'dsn.ttl', /unknown key \(from GSDNS_DSN__TTL\), did you mean GSDNS_DNS\?/],
  ['GSDNS_LOGLEVEL', 'debug', 'loglevel', /unknown key \(from GSDNS_LOGLEVEL\)/],
  ['GSDNS_DNS__TTL__X', '1', 'dns.ttl.x', /unknown key/],
  ['GSDNS_', '1', '', /unknown key/],
];
for (const [name, value, path, message] of badEnv) {
  test(`bad env key ${name} is an error with source env`, (t) => {
    const issues = errors(t, { text: MINIMAL, env: { [name]: value } });
    const issue = issueAt(issues, path);
    t.truthy(issue, formatIssues(issues).join('\n'));
    t.regex(issue?.message ?? '', message);
    t.is(issue?.source, 'env');
  });
}

test('an env value that fails validation is reported with source env', (t) => {
  const issues = errors(t, { text: MINIMAL, env: { GSDNS_DNS__MAX_ANSWERS: 'many', GSDNS_DNS__LISTEN__0__PORT: '99999' } });
  t.deepEqual(
    issues.map((i) => [i.path, i.source]),
    [
      ['dns.listen[0].port', 'env'],
      ['dns.maxAnswers', 'env'],
    ],
  );
  t.regex(issueAt(issues, 'dns.maxAnswers')!.message, /must be an integer, got 'many'/);
  t.is(issueAt(issues, 'dns.maxAnswers')!.line, undefined);
});

test('env: an index past the end of a list is an error', (t) => {
  const issues = errors(t, { text: MINIMAL, env: { GSDNS_DNS__LISTEN__3__PORT: '53' } });
  t.regex(issueAt(issues, 'dns.listen[3].port')?.message ?? '', /out of range/);
});

test('env: non-config GSDNS_ variables are ignored (GSDNS_CONFIG, Kubernetes service links), others untouched', (t) => {
  const c = ok(t, {
    text: MINIMAL,
    env: {
      GSDNS_CONFIG: '/etc/gsdns/gsdns.yaml',
      GSDNS_SERVICE_HOST: '10.96.0.53',
      GSDNS_SERVICE_PORT: '53',
      GSDNS_SERVICE_PORT_DNS_TCP: '53',
      GSDNS_PORT: 'udp://10.96.0.53:53',
      GSDNS_PORT_53_UDP: 'udp://10.96.0.53:53',
      GSDNS_PORT_53_UDP_PROTO: 'udp',
      GSDNS_PORT_53_UDP_ADDR: '10.96.0.53',
      GSDNS_SYNC_SERVICE_HOST: '10.96.0.54',
      GSDNS_SYNC_PORT_7443_TCP_PORT: '7443',
      XGSDNS_DNS__TTL: 'x',
      gsdns_dns__ttl: 'x',
      UNSET: undefined,
    },
  });
  t.is(c.dns.ttl, 5);
});

// --- flags ------------------------------------------------------------------------------------------

test('flags beat env, which beats the file; later flags beat earlier ones', (t) => {
  const r = loadConfig({
    text: `${MINIMAL}dns: {ttl: 30, negativeTtl: 30, maxAnswers: 30}\n`,
    env: { GSDNS_DNS__TTL: '20', GSDNS_DNS__NEGATIVE_TTL: '20' },
    sets: ['dns.ttl=10', 'log.level=debug', 'log.level=warn'],
  });
  t.true(r.ok);
  if (!r.ok) return;
  t.is(r.config.dns.ttl, 10);
  t.is(r.config.dns.negativeTtl, 20);
  t.is(r.config.dns.maxAnswers, 30);
  t.is(r.config.log.level, 'warn');
  t.deepEqual(r.sources.flags, ['dns.ttl', 'log.level', 'log.level']);
});

const flagCases: [set: string, get: (c: Config) => unknown, expected: unknown][] = [
  ['dns.listen[0].port=53', (c) => c.dns.listen[0]!.port, 53],
  ['dns.listen.0.port=54', (c) => c.dns.listen[0]!.port, 54],
  ['dns.listen=[{address: 127.0.0.1, port: 0}]', (c) => c.dns.listen, [{ address: '127.0.0.1', port: 0 }]],
  ['http.listen={address: 127.0.0.1, port: 0}', (c) => c.http.listen, { address: '127.0.0.1', port: 0 }],
  ['source.kubernetes.exportSelector=app=web,tier!=db', (c) => c.source.kubernetes.exportSelector, 'app=web,tier!=db'],
  ['cluster.gateways[0].address=192.0.2.7', (c) => c.cluster.gateways, [{ address: '192.0.2.7', port: 15443 }]],
];
for (const [set, get, expected] of flagCases) {
  test(`flag --set ${set}`, (t) => {
    t.deepEqual(get(ok(t, { text: MINIMAL, sets: [set] })), expected);
  });
}

const badFlags: [set: string, path: string, message: RegExp][] = [
  ['dns.ttll=1', 'dns.ttll', /unknown key 'ttll', did you mean 'ttl'\?/],
  ['dns.ttl', 'dns.ttl', /expected --set key\.path=value/],
  ['=1', '=1', /expected --set key\.path=value/],
  ['dns..ttl=1', 'dns..ttl', /is not a key path/],
  ['dns.ttl[0]=1', 'dns.ttl[0]', /'dns\.ttl' is not a list/],
  ['dns.ttl=-1', 'dns.ttl', /must be >= 0/],
  ['dns.listen=[{address: 127.0.0.1', 'dns.listen', /cannot parse value as YAML/],
  ['source.kubernetes.exportSelector=app in (a', 'source.kubernetes.exportSelector', /invalid label selector: at \d+: /],
  ['source.kubernetes.exportSelector="-bad=x"', 'source.kubernetes.exportSelector', /invalid label selector: at 0: invalid key/],
  ['cluster.gatewayService={namespace: istio-system, name: eastwest}', 'cluster.gatewayService', /needs source\.type: kubernetes/],
];
for (const [set, path, message] of badFlags) {
  test(`bad flag --set ${set} is an error with source flag`, (t) => {
    const issues = errors(t, { text: MINIMAL, sets: [set] });
    const issue = issueAt(issues, path);
    t.truthy(issue, formatIssues(issues).join('\n'));
    t.regex(issue?.message ?? '', message);
    t.is(issue?.source, 'flag');
  });
}

// --- relative paths ---------------------------------------------------------------------------------

test('relative paths resolve against the config file folder; env and flags against cwd; absolute stay', (t) => {
  const file = fixture('with-sync.yaml');
  const c = ok(t, { file, cwd: '/srv/work' });
  t.is(c.source.file?.path, join(dirname(file), 'catalogs', 'local.yaml'));
  t.is(c.sync?.tls.ca, join(dirname(file), 'certs', 'ca.pem'));
  t.is(c.sync?.tls.key, '/etc/gsdns/tls.key');

  const overridden = ok(t, {
    file,
    cwd: '/srv/work',
    env: { GSDNS_SYNC__TLS__CERT: 'env/tls.crt', GSDNS_SOURCE__KUBERNETES__KUBECONFIG: '../kube/config' },
    sets: ['source.file.path=flag/catalog.yaml'],
  });
  t.is(overridden.sync?.tls.cert, '/srv/work/env/tls.crt');
  t.is(overridden.sync?.tls.ca, join(dirname(file), 'certs', 'ca.pem'));
  t.is(overridden.source.kubernetes.kubeconfig, '/srv/kube/config');
  t.is(overridden.source.file?.path, '/srv/work/flag/catalog.yaml');
});

test('relative paths: text without a file name resolves against cwd; a relative file name against cwd first', (t) => {
  t.is(ok(t, { text: MINIMAL, cwd: '/opt/gsdns' }).source.file?.path, '/opt/gsdns/catalog.yaml');
  const r = loadConfig({ file: 'conf/gsdns.yaml', text: MINIMAL, cwd: '/opt/gsdns' });
  t.true(r.ok);
  if (!r.ok) return;
  t.is(r.sources.file, '/opt/gsdns/conf/gsdns.yaml');
  t.is(r.config.source.file?.path, '/opt/gsdns/conf/catalog.yaml');
});

// --- frozen -----------------------------------------------------------------------------------------

test('the result is deeply frozen: mutation throws in strict mode', (t) => {
  const c = ok(t, { file: fixture('with-sync.yaml') });
  const mutable = c as unknown as {
    dns: { ttl: number; listen: { port: number }[]; zones: string[] };
    sync: { peers: { name: string }[] };
  } & Record<string, unknown>;
  t.true(Object.isFrozen(c));
  t.throws(
    () => {
      (mutable as Record<string, unknown>)['dns'] = {};
    },
    { instanceOf: TypeError },
  );
  t.throws(
    () => {
      mutable['dns'].ttl = 99;
    },
    { instanceOf: TypeError },
  );
  t.throws(
    () => {
      mutable['dns'].listen[0]!.port = 1;
    },
    { instanceOf: TypeError },
  );
  t.throws(
    () => {
      mutable['dns'].zones.push('evil');
    },
    { instanceOf: TypeError },
  );
  t.throws(
    () => {
      mutable['sync'].peers[0]!.name = 'x';
    },
    { instanceOf: TypeError },
  );
  t.throws(
    () => {
      (mutable as Record<string, unknown>)['newKey'] = 1;
    },
    { instanceOf: TypeError },
  );
  t.is(c.dns.ttl, 5);
});

test('loading twice gives independent results (defaults are not shared objects)', (t) => {
  const a = ok(t, { text: MINIMAL });
  const b = ok(t, { text: MINIMAL, sets: ['dns.listen[0].port=1'] });
  t.is(a.dns.listen[0]!.port, 5353);
  t.is(b.dns.listen[0]!.port, 1);
});

// --- sync block -------------------------------------------------------------------------------------

test('sync is optional: absent, or an empty `sync:` line, means no peers', (t) => {
  t.is(ok(t, { text: MINIMAL }).sync, undefined);
  t.is(ok(t, { text: `${MINIMAL}sync:\n` }).sync, undefined);
});

test('sync, when present, gets its defaults and requires trustDomain and tls', (t) => {
  const c = ok(t, { text: `${MINIMAL}sync: {trustDomain: mesh.example, tls: {ca: /a, cert: /b, key: /c}}\n` });
  t.deepEqual(c.sync, {
    listen: { address: '0.0.0.0', port: 7443 },
    trustDomain: 'mesh.example',
    tls: { ca: '/a', cert: '/b', key: '/c' },
    peers: [],
    staleAfterSeconds: 300,
    remotePrecedence: ['sync', 'file'],
    applyBudgetPercent: 50,
    maxConnections: 512,
    maxConnectionsPerSource: 16,
    handshakeTimeoutMs: 5000,
    descriptorReserve: null,
    maxCatalogBytes: 2 * 1024 * 1024,
    maxCatalogServices: 10000,
  });
  const issues = errors(t, { text: `${MINIMAL}sync: {peers: []}\n` });
  t.deepEqual(
    issues.map((i) => `${i.path}: ${i.message}`),
    ['sync.trustDomain: is required', 'sync.tls: is required'],
  );
});

// --- source -----------------------------------------------------------------------------------------

test('source.type kubernetes needs nothing more; file needs file.path', (t) => {
  const k = ok(t, {
    text: 'cluster: {name: a}\nsource: {type: kubernetes, kubernetes: {namespaces: [bookinfo], kubeconfig: kube.yaml}}\n',
    file: '/etc/gsdns/c.yaml',
  });
  t.is(k.source.type, 'kubernetes');
  t.deepEqual(k.source.kubernetes, {
    kubeconfig: '/etc/gsdns/kube.yaml',
    namespaces: ['bookinfo'],
    exportSelector: '',
    watchdogSeconds: 300,
    staleAfterSeconds: 300,
  });
  const issues = errors(t, { text: 'cluster: {name: a}\n' });
  t.deepEqual(
    issues.map((i) => `${i.path}: ${i.message}`),
    ["source.file: is required when source.type is 'file'"],
  );
  const noPath = errors(t, { text: 'cluster: {name: a}\nsource: {file: {}}\n' });
  t.deepEqual(
    noPath.map((i) => i.path),
    ['source.file.path'],
  );
});

// --- semantic checks --------------------------------------------------------------------------------

const semantic: [title: string, yaml: string, path: string, message: RegExp][] = [
  ['duplicate zones after normalisation', 'dns: {zones: [global, Global.]}\n', 'dns.zones[1]', /duplicates dns\.zones\[0\]/],
  ['nested zones', 'dns: {zones: [b.global, global]}\n', 'dns.zones[0]', /'b\.global' is inside zone 'global'/],
  ['degradedTtl above ttl', 'dns: {ttl: 2, degradedTtl: 3}\n', 'dns.degradedTtl', /must be <= dns\.ttl \(2\)/],
  [
    'per-client TCP limit above the total',
    'dns: {tcp: {maxConnections: 10, maxConnectionsPerClient: 20}}\n',
    'dns.tcp.maxConnectionsPerClient',
    /must be <= dns\.tcp\.maxConnections \(10\)/,
  ],
  ['per-try timeout above the budget', 'forward: {timeoutMs: 6000}\n', 'forward.timeoutMs', /must be <= forward\.budgetMs \(5000\)/],
  [
    'duplicate peer names',
    'sync: {trustDomain: m.x, tls: {ca: a, cert: b, key: c}, peers: [{name: b, url: "https://b1"}, {name: b, url: "https://b2"}]}\n',
    'sync.peers[1].name',
    /duplicates sync\.peers\[0\]\.name 'b'/,
  ],
  [
    'a peer named like this cluster',
    'sync: {trustDomain: m.x, tls: {ca: a, cert: b, key: c}, peers: [{name: cluster-a, url: "https://a"}]}\n',
    'sync.peers[0].name',
    /this cluster's own name/,
  ],
  [
    'duplicate peer URLs',
    'sync: {trustDomain: m.x, tls: {ca: a, cert: b, key: c}, peers: [{name: b, url: "https://p"}, {name: c, url: "https://p"}]}\n',
    'sync.peers[1].url',
    /duplicates sync\.peers\[0\]\.url/,
  ],
  ['a path on a tcp probe', 'health: {probe: {type: tcp, path: /healthz}}\n', 'health.probe.path', /only used by 'http' probes/],
  [
    'two DNS listeners on one socket',
    'dns: {listen: [{address: 127.0.0.1, port: 53}, {address: 127.0.0.1, port: 53}]}\n',
    'dns.listen[1]',
    /conflicts with dns\.listen\[0\]/,
  ],
  [
    'HTTP on the DNS port of a wildcard',
    'dns: {listen: [{address: 0.0.0.0, port: 53}]}\nhttp: {listen: {address: 127.0.0.1, port: 53}}\n',
    'http.listen',
    /conflicts with dns\.listen\[0\]/,
  ],
];
for (const [title, yaml, path, message] of semantic) {
  test(`semantic check: ${title}`, (t) => {
    const issues = errors(t, { text: `cluster: {name: cluster-a}\nsource: {file: {path: c.yaml}}\n${yaml}` });
    const issue = issueAt(issues, path);
    t.truthy(issue, formatIssues(issues).join('\n'));
    t.regex(issue?.message ?? '', message);
    t.is(issues.length, 1, formatIssues(issues).join('\n'));
  });
}

test('semantic checks pass on sensible neighbours: port 0 twice, distinct zones, equal TTLs, http probe', (t) => {
  const c = ok(t, {
    text: `${MINIMAL}dns: {zones: [global, Example.ORG., global.example.com], ttl: 3, degradedTtl: 3, listen: [{address: 127.0.0.1, port: 0}, {address: "::1", port: 0}]}
http: {listen: {address: 127.0.0.1, port: 0}}
health: {probe: {type: http, port: 15021, path: /healthz/ready}}
`,
  });
  t.deepEqual(c.dns.zones, ['global', 'example.org', 'global.example.com']);
  t.deepEqual(c.health.probe, { type: 'http', port: 15021, path: '/healthz/ready' });
});

// --- fixtures are what the tests claim --------------------------------------------------------------

test('the SPEC example fixture is the YAML block of SPEC §5', (t) => {
  const text = readFileSync(fixture('spec-example.yaml'), 'utf8');
  for (const key of ['cluster:', 'dns:', 'source:', 'forward:', 'sync:', 'health:', 'locality:', 'http:', 'log:']) {
    t.true(text.includes(`\n${key}`), key);
  }
});

test('a single-address listener may give only the port (or only the address)', (t) => {
  const c = ok(t, {
    text: `${MINIMAL}http: {listen: {port: 9090}}\nsync: {listen: {address: "::"}, trustDomain: m.x, tls: {ca: /a, cert: /b, key: /c}}\n`,
  });
  t.deepEqual(c.http.listen, { address: '127.0.0.1', port: 9090 });
  t.deepEqual(c.sync?.listen, { address: '::', port: 7443 });
});

test('cluster.gatewayService with kubernetes: accepted with port 15443 by default; not together with cluster.gateways', (t) => {
  const sets = ['source.type=kubernetes', 'cluster.gatewayService={namespace: istio-system, name: istio-eastwestgateway}'];
  const c = ok(t, { text: MINIMAL, sets });
  t.deepEqual(c.cluster.gatewayService, { namespace: 'istio-system', name: 'istio-eastwestgateway', port: 15443 });
  const issues = errors(t, { text: MINIMAL, sets: [...sets, 'cluster.gateways=[{address: 192.0.2.1}]'] });
  t.regex(issueAt(issues, 'cluster.gatewayService')?.message ?? '', /either cluster\.gateways or cluster\.gatewayService/);
});

test('a valid exportSelector in Kubernetes syntax is accepted', (t) => {
  const c = ok(t, { text: MINIMAL, sets: ['source.kubernetes.exportSelector=gsdns.io/export notin (false),tier in (web, api),!legacy'] });
  t.is(c.source.kubernetes.exportSelector, 'gsdns.io/export notin (false),tier in (web, api),!legacy');
});

// --- corner cases (issue 13) ------------------------------------------------------------------------

test('dns.ttl: 0 alone loads: the unset degradedTtl follows it down; set above it, it is still an error', (t) => {
  const c = ok(t, { text: `${MINIMAL}dns: {ttl: 0}\n` });
  t.is(c.dns.ttl, 0);
  t.is(c.dns.degradedTtl, 0);
  t.is(ok(t, { text: `${MINIMAL}dns: {ttl: 3}\n` }).dns.degradedTtl, 1, 'the default is kept when it fits');
  t.is(ok(t, { text: MINIMAL, sets: ['dns.ttl=0'] }).dns.degradedTtl, 0, 'from a flag too');
  const issues = errors(t, { text: `${MINIMAL}dns: {ttl: 0, degradedTtl: 1}\n` });
  t.deepEqual(
    issues.map((i) => i.path),
    ['dns.degradedTtl'],
  );
});

test('YAML merge keys (<<) share blocks instead of being rejected as unknown keys', (t) => {
  const merged = ok(t, {
    text: `cluster:
  name: cluster-a
  gateways:
    - &first {address: 203.0.113.10, port: 15000}
    - {<<: *first, address: 203.0.113.11}
source: {file: {path: catalog.yaml}}
`,
  });
  t.deepEqual(
    merged.cluster.gateways.map((g) => ({ ...g })),
    [
      { address: '203.0.113.10', port: 15000 },
      { address: '203.0.113.11', port: 15000 },
    ],
  );
});

// --- traffic policies (issue 16) -----------------------------------------------------------------

test('traffic keys: set values load, from the file, env and flags', (t) => {
  const c = ok(t, {
    text: `cluster: {name: cluster-a, weight: 0}
source: {file: {path: catalog.yaml}}
dns: {policy: weighted, rotate: false, localShare: 90, splitTtl: 0}
locality: {rttMarginMs: 2.5}
`,
  });
  t.is(c.cluster.weight, 0, 'weight 0 drains, and is allowed');
  t.is(c.dns.policy, 'weighted');
  t.false(c.dns.rotate);
  t.is(c.dns.localShare, 90);
  t.is(c.dns.splitTtl, 0);
  t.is(c.locality.rttMarginMs, 2.5);
  const fromEnv = ok(t, { text: MINIMAL, env: { GSDNS_CLUSTER__WEIGHT: '1000', GSDNS_DNS__LOCAL_SHARE: '0' } });
  t.is(fromEnv.cluster.weight, 1000);
  t.is(fromEnv.dns.localShare, 0);
  const fromFlags = ok(t, { text: MINIMAL, sets: ['dns.policy=spread', 'dns.rotate=false', 'locality.rttMarginMs=0'] });
  t.is(fromFlags.dns.policy, 'spread');
  t.false(fromFlags.dns.rotate);
  t.is(fromFlags.locality.rttMarginMs, 0);
});

test('traffic keys: every bad value is reported at once, at its key path and line', (t) => {
  const issues = errors(t, {
    text: `cluster: {name: cluster-a, weight: 1001}
source: {file: {path: catalog.yaml}}
dns: {policy: random, rotate: sometimes, localShare: 101, splitTtl: -1}
locality: {rttMarginMs: -0.5}
`,
  });
  const expected: [path: string, message: RegExp, line: number][] = [
    ['cluster.weight', /must be <= 1000/, 1],
    ['dns.policy', /must be one of: failover, spread, weighted; got 'random'/, 3],
    ['dns.rotate', /must be true or false/, 3],
    ['dns.localShare', /must be <= 100/, 3],
    ['dns.splitTtl', /must be >= 0/, 3],
    ['locality.rttMarginMs', /must be >= 0/, 4],
  ];
  for (const [path, message, line] of expected) {
    const issue = issueAt(issues, path);
    if (issue === undefined) {
      t.fail(`no issue at ${path}; got:\n${formatIssues(issues).join('\n')}`);
      continue;
    }
    t.regex(issue.message, message, path);
    t.is(issue.line, line, path);
  }
  t.is(issues.length, expected.length, formatIssues(issues).join('\n'));
  for (const [text, path] of [
    ['cluster: {name: cluster-a, weight: 2.5}\nsource: {file: {path: catalog.yaml}}\n', 'cluster.weight'],
    ['cluster: {name: cluster-a, weight: -1}\nsource: {file: {path: catalog.yaml}}\n', 'cluster.weight'],
    [`${MINIMAL}dns: {localShare: 50.5}\n`, 'dns.localShare'],
    [`${MINIMAL}dns: {localShare: -1}\n`, 'dns.localShare'],
  ] as const) {
    t.deepEqual(
      errors(t, { text }).map((i) => i.path),
      [path],
      text,
    );
  }
});
