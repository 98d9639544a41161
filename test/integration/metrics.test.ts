/**
 * /metrics end to end: a real gsdns answers a known mix of queries over real sockets, and each
 * family moves by exactly what that mix implies (a local answer increments source="local", a
 * forwarded one "forward", its repeat "cache", and so on). Also the sync, health and Kubernetes
 * families against real peers over mTLS, real probes and the fake API server, and the label rule:
 * no label ever carries a client address or a name (SPEC §5).
 */
import test, { type ExecutionContext } from 'ava';
import { createSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { craftQuery, parseReply, rawQuestion, udpExchange } from '../helpers/dns-tools.js';
import { dig } from '../helpers/dig.js';
import { spawnGsdns, startInProcess, tempDir, writeFile } from '../helpers/gsdns-process.js';
import { scrape, parseExposition, type Scrape } from '../helpers/metrics.js';
import { answerA, startScriptedUpstream } from '../helpers/scripted-upstream.js';
import { endpointSlice, service, startFakeKubeApiServer, writeKubeconfig } from '../helpers/fake-kube-apiserver.js';
import { makePki } from '../helpers/pki.js';
import { freePort } from '../helpers/unbound.js';

let nextId = 1;
async function query(port: number, name: string, type = 1, from?: string): Promise<number> {
  const message = craftQuery({ id: nextId++ & 0xffff, questions: [rawQuestion(name, type)] });
  if (from === undefined) {
    const reply = await udpExchange(port, message, { timeoutMs: 3000 });
    if (reply === null) throw new Error(`no reply for ${name}`);
    return parseReply(reply).rcode;
  }
  // From another loopback source address (outside forward.allowFrom).
  const socket = createSocket('udp4');
  try {
    await new Promise<void>((resolve) => socket.bind(0, from, () => resolve()));
    return await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply for ${name} from ${from}`)), 3000);
      socket.once('message', (reply) => {
        clearTimeout(timer);
        resolve(parseReply(reply).rcode);
      });
      socket.send(message, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

/** The difference of every sample between two scrapes, keyed `name{labels}`. */
function delta(before: Scrape, after: Scrape, name: string, labels: Record<string, string> = {}): number {
  return after.sum(name, labels) - before.sum(name, labels);
}

const IPV4 = /\b\d{1,3}(\.\d{1,3}){3}\b/;
const IPV6 = /^[0-9a-f:]*:[0-9a-f:]*$/i;

/** SPEC §5: no label carries an address or a name (`upstream` is a position in forward.upstreams). */
function assertBoundedLabels(t: ExecutionContext, s: Scrape, forbidden: readonly string[]): void {
  const bad = s.samples.flatMap((sample) =>
    Object.entries(sample.labels)
      .filter(([k]) => k !== 'le' && k !== 'version' && k !== 'nodejs')
      .filter(([, v]) => IPV4.test(v) || (v.includes(':') && IPV6.test(v)) || forbidden.some((f) => v.includes(f)))
      .map(([k, v]) => `${sample.name}{${k}="${v}"}`),
  );
  t.deepEqual(bad, [], 'no label value is an address or a name');
}

test('each DNS and forwarding family moves by what a known query mix implies', async (t) => {
  const upstream = await startScriptedUpstream(t);
  const g = await spawnGsdns(t, ['--set', `forward.upstreams=["${upstream.endpoint}"]`, '--set', 'forward.allowFrom=[127.0.0.1/32]']);
  // Warm up (first-use paths), then take the baseline.
  await query(g.dnsPort, 'productpage.bookinfo.global');
  const before = await scrape(g.httpPort);

  t.is(await query(g.dnsPort, 'productpage.bookinfo.global'), 0);
  t.is(await query(g.dnsPort, 'productpage.bookinfo.global'), 0);
  t.is(await query(g.dnsPort, 'reviews.bookinfo.global'), 0); // 0 ready locally → remote gateway
  t.is(await query(g.dnsPort, 'legacy.bookinfo.global'), 0); // not ready anywhere → fail open
  t.is(await query(g.dnsPort, 'nope.bookinfo.global'), 3);
  t.is(await query(g.dnsPort, 'productpage.bookinfo.global', 28), 0); // AAAA: NODATA → negative
  t.is(await query(g.dnsPort, 'www.example.com'), 0); // forwarded
  t.is(await query(g.dnsPort, 'www.example.com'), 0); // cache
  t.is(await query(g.dnsPort, 'www.example.com', 1, '127.0.0.2'), 5); // not in allowFrom
  t.is(await query(g.dnsPort, 'productpage.bookinfo.global', 12345), 0); // NODATA, type "other"
  const tcp = await dig(t, g.dnsPort, ['+tcp', 'productpage.bookinfo.global', 'A']);
  t.is(tcp?.status, 'NOERROR');
  // Two questions: FORMERR from the edge. A response (QR=1): dropped, nothing sent.
  const formerr = await udpExchange(g.dnsPort, craftQuery({ questions: [rawQuestion('a.global'), rawQuestion('b.global')] }), {
    timeoutMs: 2000,
  });
  t.is(formerr && parseReply(formerr).rcode, 1);
  t.is(await udpExchange(g.dnsPort, craftQuery({ qr: true }), { timeoutMs: 300 }), null);

  const after = await scrape(g.httpPort);
  const responses = (rcode: string, source: string) => delta(before, after, 'gsdns_dns_responses_total', { rcode, source });
  t.is(responses('NOERROR', 'local'), 3, 'two UDP and one TCP local answers');
  // The two UDP productpage queries repeat the warm-up's question: the answer cache answers them,
  // and metrics still count them as local answers (above).
  t.true(delta(before, after, 'gsdns_dns_answer_cache_hits_total') >= 2, 'answer cache hits');
  t.is(responses('NOERROR', 'remote'), 1);
  t.is(responses('NOERROR', 'degraded'), 1);
  t.is(responses('NXDOMAIN', 'negative'), 1);
  t.is(responses('NOERROR', 'negative'), 2, 'AAAA and type 12345 NODATA');
  t.is(responses('NOERROR', 'forward'), 1);
  t.is(responses('NOERROR', 'cache'), 1);
  t.is(responses('REFUSED', 'refused'), 1);
  t.is(responses('FORMERR', 'error'), 1);
  t.is(delta(before, after, 'gsdns_dns_responses_total'), 12, 'one response per answered message, none for the dropped one');

  const requests = (labels: Record<string, string>) => delta(before, after, 'gsdns_dns_requests_total', labels);
  t.is(requests({}), 13, 'every received message, the dropped one included');
  t.is(requests({ proto: 'tcp', type: 'A' }), 1);
  t.is(requests({ proto: 'udp', type: 'AAAA' }), 1);
  t.is(requests({ type: 'other' }), 3, 'type 12345, and the FORMERR and dropped messages without a readable type');
  t.is(requests({ family: '1' }), 13);
  t.is(delta(before, after, 'gsdns_dns_dropped_total'), 1);
  t.is(delta(before, after, 'gsdns_dns_fail_open_answers_total'), 1);

  t.is(delta(before, after, 'gsdns_dns_request_duration_seconds_count', { source: 'local' }), 3);
  t.is(delta(before, after, 'gsdns_dns_request_duration_seconds_count'), 12);
  t.true(delta(before, after, 'gsdns_dns_request_duration_seconds_sum', { source: 'forward' }) > 0);
  t.is(delta(before, after, 'gsdns_dns_request_size_bytes_count', { proto: 'tcp' }), 1);
  t.is(delta(before, after, 'gsdns_dns_response_size_bytes_count', { proto: 'udp' }), 11);
  // Buckets are cumulative and end in +Inf = count.
  const buckets = after.samples.filter((s) => s.name === 'gsdns_dns_request_duration_seconds_bucket' && s.labels['source'] === 'local');
  t.is(buckets.length, 17, "CoreDNS's 16 exponential buckets plus +Inf");
  t.is(buckets[0]!.labels['le'], '0.00025');
  t.true(buckets.every((b, i) => i === 0 || b.value >= buckets[i - 1]!.value));
  t.is(buckets.at(-1)!.value, after.sum('gsdns_dns_request_duration_seconds_count', { source: 'local' }));

  t.is(delta(before, after, 'gsdns_forward_cache_misses_total'), 1);
  t.is(delta(before, after, 'gsdns_forward_cache_hits_total'), 1);
  t.is(delta(before, after, 'gsdns_forward_refused_total'), 1);
  t.is(after.sum('gsdns_forward_cache_entries'), 1);
  t.is(delta(before, after, 'gsdns_forward_upstream_requests_total', { upstream: '0', rcode: 'NOERROR' }), 1);
  t.is(delta(before, after, 'gsdns_forward_upstream_request_duration_seconds_count', { upstream: '0' }), 1);
  t.is(
    after.sum('gsdns_forward_upstream_healthy', { upstream: '0' }),
    1,
    'upstream is the position in forward.upstreams, never the address',
  );
  t.is(after.sum('gsdns_forward_stale_served_total'), 0);

  t.is(after.sum('gsdns_registry_services', { origin: 'local' }), 3);
  t.is(after.sum('gsdns_registry_services', { origin: 'remote' }), 5);
  t.is(after.sum('gsdns_build_info', { version: '0.1.0' }), 1);
  t.true(after.has('process_resident_memory_bytes'), "prom-client's default process metrics");
  t.is(after.types['gsdns_dns_responses_total'], 'counter');
  t.is(after.types['gsdns_dns_request_duration_seconds'], 'histogram');
  t.is(after.types['gsdns_registry_services'], 'gauge');
  // Optional modules are absent: no misleading zeros.
  t.false(after.has('gsdns_stub_wiring_ok'));
  t.false(after.has('gsdns_sync_peer_state'));
  t.false(after.has('gsdns_kubernetes_synced'));
  assertBoundedLabels(t, after, ['bookinfo', 'example', 'productpage', 'global']);
});

test('forwarding: stale answers and upstream failures are counted', async (t) => {
  let up = true;
  // Answers with TTL 1 while up; silent (every try times out) once down. Tries of 1 s: the first
  // answer must not time out on a loaded machine (tries of 300 ms did, CI on 2026-12-04).
  const upstream = await startScriptedUpstream(t, (q) => (up ? answerA(q, ['192.0.2.1'], 1) : null));
  const dir = tempDir(t);
  writeFile(join(dir, 'catalog.yaml'), 'services: []\n');
  const s = await startInProcess(
    t,
    `cluster: {name: test-local}
dns: {zones: [global]}
source: {type: file, file: {path: catalog.yaml}}
forward: {upstreams: ["${upstream.endpoint}"], timeoutMs: 1000, budgetMs: 2500, serveStaleSeconds: 3600}
`,
    dir,
  );
  t.is(await query(s.dnsPort, 'stale.example.com'), 0);
  await new Promise((r) => setTimeout(r, 1100)); // the TTL of 1 s runs out
  up = false;
  const before = await scrape(s.httpPort);
  t.is(await query(s.dnsPort, 'stale.example.com'), 0, 'served stale');
  t.is(await query(s.dnsPort, 'never.example.com'), 2, 'nothing to serve: SERVFAIL');
  const after = await scrape(s.httpPort);
  t.is(delta(before, after, 'gsdns_forward_stale_served_total'), 1);
  t.is(delta(before, after, 'gsdns_dns_responses_total', { rcode: 'NOERROR', source: 'cache' }), 1, 'stale answers come from the cache');
  t.is(delta(before, after, 'gsdns_dns_responses_total', { rcode: 'SERVFAIL', source: 'error' }), 1);
  t.true(delta(before, after, 'gsdns_forward_upstream_requests_total', { upstream: '0', rcode: 'timeout' }) >= 2);
});

test('sync families: peer state, catalog updates, last change, errors by reason, fetches by identity', async (t) => {
  const pki = await makePki(t, { trustDomain: 'gsdns.local', clusters: ['eu', 'us'] });
  const [euPort, usPort] = [await freePort(), await freePort()];
  const node = async (name: string, port: number, peer: string, peerPort: number, services: string) => {
    const dir = tempDir(t, `gsdns-metrics-${name}-`);
    writeFile(join(dir, 'catalog.yaml'), services);
    const tls = pki.clusters[name]!;
    return startInProcess(
      t,
      `cluster: {name: ${name}, region: r-${name}, gateways: [{address: 192.0.2.${name === 'eu' ? 10 : 20}, port: 15443}]}
dns: {zones: [global]}
source: {type: file, file: {path: catalog.yaml}}
sync:
  listen: {address: 127.0.0.1, port: ${port}}
  trustDomain: gsdns.local
  tls: {ca: ${JSON.stringify(tls.ca)}, cert: ${JSON.stringify(tls.cert)}, key: ${JSON.stringify(tls.key)}}
  peers: [{name: ${peer}, url: "https://127.0.0.1:${peerPort}"}]
`,
      dir,
    );
  };
  const eu = await node(
    'eu',
    euPort,
    'us',
    usPort,
    'services:\n  - {namespace: shop, name: cart, clusterIPs: [10.96.0.1], readyEndpoints: 1}\n',
  );
  const us = await node('us', usPort, 'eu', euPort, 'services: []\n');
  let s = await scrape(us.httpPort);
  for (let i = 0; i < 200 && s.sum('gsdns_sync_peer_state', { peer: 'eu', state: 'synced' }) !== 1; i++) {
    await new Promise((r) => setTimeout(r, 25));
    s = await scrape(us.httpPort);
  }
  t.is(s.sum('gsdns_sync_peer_state', { peer: 'eu', state: 'synced' }), 1);
  t.is(s.sum('gsdns_sync_peer_state', { peer: 'eu' }), 1, 'exactly one state is 1');
  t.is(s.samples.filter((x) => x.name === 'gsdns_sync_peer_state' && x.labels['peer'] === 'eu').length, 5, 'every state is listed');
  t.true(s.sum('gsdns_sync_catalog_updates_total', { peer: 'eu' }) >= 1);
  t.true(
    s.samples.some((x) => x.name === 'gsdns_sync_catalog_deltas_total' && x.labels['peer'] === 'eu'),
    'deltas received are counted per peer',
  );
  const changed = s.sum('gsdns_sync_last_change_timestamp_seconds', { peer: 'eu' });
  t.true(Math.abs(changed - Date.now() / 1000) < 60, `last change ${changed} is recent`);
  t.is(s.sum('gsdns_registry_services', { origin: 'remote' }), 1);
  const e = await scrape(eu.httpPort);
  t.true(e.sum('gsdns_sync_server_fetches_total', { peer: 'us' }) >= 1, 'eu served its catalog to the us identity');
  t.true(
    e.samples.some((x) => x.name === 'gsdns_sync_server_deltas_total'),
    'deltas served are counted',
  );
  // eu goes away: us counts errors by reason and leaves "synced" (within staleAfterSeconds it is stale or connecting).
  await eu.close();
  for (let i = 0; i < 200 && s.sum('gsdns_sync_errors_total', { peer: 'eu' }) === 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
    s = await scrape(us.httpPort);
  }
  const reasons = s.samples
    .filter((x) => x.name === 'gsdns_sync_errors_total' && x.labels['peer'] === 'eu' && x.value > 0)
    .map((x) => x.labels['reason']);
  t.true(reasons.length > 0, `errors counted by reason: ${reasons.join(', ')}`);
  assertBoundedLabels(t, s, ['shop', 'cart']);
});

test('health families: healthy gateways per cluster, probe durations and failures', async (t) => {
  const listener: Server = createServer((c) => c.destroy());
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => listener.close(() => resolve())));
  const open = (listener.address() as { port: number }).port;
  const closed = await freePort();
  const dir = tempDir(t);
  writeFile(
    join(dir, 'catalog.yaml'),
    `services: []
remotes:
  - cluster: up-cluster
    gateways: [{address: 127.0.0.1, port: ${open}}]
    services: [{namespace: shop, name: cart, ready: true}]
  - cluster: down-cluster
    gateways: [{address: 127.0.0.1, port: ${closed}}]
    services: [{namespace: shop, name: cart, ready: true}]
`,
  );
  const s = await startInProcess(
    t,
    `cluster: {name: test-local}
dns: {zones: [global]}
source: {type: file, file: {path: catalog.yaml}}
health: {intervalMs: 100, timeoutMs: 200, fall: 2, rise: 1, probe: {type: tcp}}
`,
    dir,
  );
  let m = await scrape(s.httpPort);
  for (
    let i = 0;
    i < 100 &&
    (m.sum('gsdns_gateway_healthy', { cluster: 'down-cluster' }) !== 0 ||
      m.sum('gsdns_gateway_probe_failures_total', { cluster: 'down-cluster' }) < 2);
    i++
  ) {
    await new Promise((r) => setTimeout(r, 50));
    m = await scrape(s.httpPort);
  }
  t.is(m.sum('gsdns_gateway_healthy', { cluster: 'up-cluster' }), 1);
  t.is(m.sum('gsdns_gateway_healthy', { cluster: 'down-cluster' }), 0);
  t.true(m.sum('gsdns_gateway_probe_failures_total', { cluster: 'down-cluster' }) >= 2);
  t.is(m.sum('gsdns_gateway_probe_failures_total', { cluster: 'up-cluster' }), 0);
  t.true(m.sum('gsdns_gateway_probe_duration_seconds_count', { cluster: 'up-cluster' }) >= 1);
  assertBoundedLabels(t, m, ['shop', 'cart']);
});

test('Kubernetes families: programming duration from the slice trigger time, watch restarts', async (t) => {
  const fake = await startFakeKubeApiServer(t);
  const dir = tempDir(t);
  const kubeconfig = writeKubeconfig(dir, fake);
  const s = await startInProcess(
    t,
    `cluster: {name: test-local}
dns: {zones: [global]}
source: {type: kubernetes, kubernetes: {kubeconfig: ${JSON.stringify(kubeconfig)}}}
`,
    dir,
  );
  fake.create('services', service({ namespace: 'shop', name: 'cart', clusterIP: '10.96.5.5' }));
  let m = await scrape(s.httpPort);
  for (let i = 0; i < 200 && m.sum('gsdns_kubernetes_synced') !== 1; i++) {
    await new Promise((r) => setTimeout(r, 25));
    m = await scrape(s.httpPort);
  }
  t.is(m.sum('gsdns_kubernetes_synced'), 1);
  t.is(m.sum('gsdns_kubernetes_programming_duration_seconds_count'), 0);
  // The controller stamped the change 2 s ago: the programming duration is at least that.
  const slice = endpointSlice({ namespace: 'shop', name: 'cart-1', service: 'cart', endpoints: [{ addresses: ['10.244.0.1'] }] });
  (slice.metadata as { annotations?: Record<string, string> }).annotations = {
    'endpoints.kubernetes.io/last-change-trigger-time': new Date(Date.now() - 2000).toISOString().replace(/\.\d+Z$/, 'Z'),
  };
  fake.create('endpointslices', slice);
  // One without the annotation is not measured.
  fake.create(
    'endpointslices',
    endpointSlice({ namespace: 'shop', name: 'cart-2', service: 'cart', endpoints: [{ addresses: ['10.244.0.2'] }] }),
  );
  for (let i = 0; i < 200 && m.sum('gsdns_kubernetes_events_total', { resource: 'endpointslices' }) < 2; i++) {
    await new Promise((r) => setTimeout(r, 25));
    m = await scrape(s.httpPort);
  }
  t.is(m.sum('gsdns_kubernetes_programming_duration_seconds_count'), 1);
  const seconds = m.sum('gsdns_kubernetes_programming_duration_seconds_sum');
  t.true(seconds >= 1 && seconds < 10, `programming duration ${seconds} s covers the 2 s since the trigger (second resolution)`);
  // A failed watch restarts the informer: counted per resource.
  const restartsBefore = m.sum('gsdns_kubernetes_watch_restarts_total', { resource: 'services' });
  fake.failNext('services', { status: 500 });
  fake.dropWatches('services');
  for (let i = 0; i < 300 && m.sum('gsdns_kubernetes_watch_restarts_total', { resource: 'services' }) === restartsBefore; i++) {
    await new Promise((r) => setTimeout(r, 25));
    m = await scrape(s.httpPort);
  }
  t.true(m.sum('gsdns_kubernetes_watch_restarts_total', { resource: 'services' }) > restartsBefore);
  assertBoundedLabels(t, m, ['shop', 'cart']);
});

test('the exposition parser used above reads what it must (and rejects garbage)', (t) => {
  const s = parseExposition('# TYPE a_total counter\na_total{x="1",y="q\\"uote"} 3\nb 4.5\nc_bucket{le="+Inf"} 2\n');
  t.is(s.sum('a_total', { x: '1' }), 3);
  t.is(s.samples[0]!.labels['y'], 'q"uote');
  t.is(s.sum('b'), 4.5);
  t.is(s.types['a_total'], 'counter');
  t.throws(() => parseExposition('not a metric line at all {'));
});
