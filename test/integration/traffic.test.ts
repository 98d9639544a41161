/**
 * Traffic policies end to end (issue 16), on a real gsdns process and real sockets: weighted shares
 * of the first address through the answer cache, matched by /metrics; rotation of equal clusters;
 * drain; a service's own policy from the catalog file; SRV priorities and weights, and their
 * `C.S.N.Z` targets, through unbound configured as a stub zone (as CoreDNS forwards).
 */
import test, { type ExecutionContext } from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { answers, dig } from '../helpers/dig.js';
import { craftQuery, parseReply, rawQuestion, udpExchange } from '../helpers/dns-tools.js';
import { spawnGsdns, tempDir, type SpawnedServer } from '../helpers/gsdns-process.js';
import { resolveA, until } from '../helpers/poll.js';
import { startUnbound } from '../helpers/unbound.js';

const HEAVY = '192.0.2.1';
const LIGHT = '198.51.100.1';
const FAR = '203.0.113.1';

/**
 * heavy (weight 300) and light (100) in the client's region, far in another; `spread` exported by
 * all three; `pinned` asks for policy weighted itself; `drained` is exported by heavy at weight 0.
 */
function catalog(): string {
  const svc = (name: string, extra = '') =>
    `      - {namespace: shop, name: ${name}, ready: true, ports: [{name: http, port: 8080, protocol: TCP}]${extra}}`;
  return `services: []
remotes:
  - cluster: heavy
    region: eu-west-1
    weight: 300
    gateways: [{address: ${HEAVY}, port: 15443}]
    services:
${svc('cart')}
${svc('pinned', ', policy: weighted')}
${svc('drained', ', weight: 0')}
  - cluster: light
    region: eu-west-1
    gateways: [{address: ${LIGHT}, port: 15443}]
    services:
${svc('cart')}
${svc('pinned', ', policy: weighted')}
${svc('drained')}
  - cluster: far
    region: us-east-1
    gateways: [{address: ${FAR}, port: 15443}]
    services:
${svc('cart')}
`;
}

async function serve(t: ExecutionContext, policy: string): Promise<SpawnedServer> {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'catalog.yaml'), catalog());
  writeFileSync(
    join(dir, 'gsdns.yaml'),
    `cluster: {name: here, region: eu-west-1}
dns: {zones: [global], policy: ${policy}}
source: {type: file, file: {path: catalog.yaml}}
health: {probe: {type: none}}
`,
  );
  const gs = await spawnGsdns(t, ['--config', join(dir, 'gsdns.yaml')]);
  // Event-driven: answering the catalog's names, whatever the machine's load.
  await until(t, 'gsdns answers cart', async () => (await resolveA(gs.dnsPort, 'cart.shop.global', 10_000)).rcode === 0);
  return gs;
}

/** The first A address of `count` queries for `name`, sent one after another. */
async function firsts(port: number, name: string, count: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    // A generous per-query guard: loopback UDP does not lose datagrams, a busy machine delays them.
    const reply = await udpExchange(port, craftQuery({ id: i & 0xffff, questions: [rawQuestion(name, 1)] }), { timeoutMs: 30_000 });
    if (reply === null) throw new Error(`no reply to query ${i}`);
    const address = parseReply(reply).answers[0]?.['address'];
    const first = typeof address === 'string' ? address : '-';
    seen.set(first, (seen.get(first) ?? 0) + 1);
  }
  return seen;
}

async function cacheHits(httpPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return Number(/^gsdns_dns_answer_cache_hits_total (\d+)$/m.exec(text)?.[1] ?? 0);
}

async function byCluster(httpPort: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    const hit = /^gsdns_dns_answers_by_cluster_total\{cluster="([^"]+)"\} (\d+)$/.exec(line);
    if (hit) m.set(hit[1]!, Number(hit[2]));
  }
  return m;
}

test.serial(
  'weighted 300/100 over real UDP and the answer cache: heavy first in 75% ± 4% of 4,000 queries, as /metrics counts',
  async (t) => {
    const gs = await serve(t, 'weighted');
    const n = 4000;
    // The readiness probe was answered and counted too: compare what these queries added.
    const before = await byCluster(gs.httpPort);
    const cacheBefore = await cacheHits(gs.httpPort);
    const seen = await firsts(gs.dnsPort, 'cart.shop.global', n);
    const heavy = seen.get(HEAVY) ?? 0;
    t.true(Math.abs(heavy / n - 0.75) <= 0.04, `heavy first in ${heavy} of ${n}`);
    t.is((seen.get(HEAVY) ?? 0) + (seen.get(LIGHT) ?? 0), n, 'only the best tier (the far region is not used)');
    const counted = await byCluster(gs.httpPort);
    const added = (c: string): number => (counted.get(c) ?? 0) - (before.get(c) ?? 0);
    t.is(added('heavy'), heavy, 'gsdns_dns_answers_by_cluster_total{cluster="heavy"}');
    t.is(added('light'), n - heavy);
    const hits = (await cacheHits(gs.httpPort)) - cacheBefore;
    t.true(hits >= n - 1, `${hits} answers from the answer cache, each drawn anew`);
  },
);

test.serial('failover rotates the two equal clusters; weight 0 drains; a service asks for weighted itself', async (t) => {
  const gs = await serve(t, 'failover');
  const n = 1000;
  const cart = await firsts(gs.dnsPort, 'cart.shop.global', n);
  for (const a of [HEAVY, LIGHT]) t.true(Math.abs((cart.get(a) ?? 0) / n - 0.5) <= 0.05, `${a} first in ${cart.get(a)} of ${n}`);
  const drained = await firsts(gs.dnsPort, 'drained.shop.global', 200);
  t.deepEqual([...drained.keys()], [LIGHT], 'heavy exports drained at weight 0');
  const pinned = await firsts(gs.dnsPort, 'pinned.shop.global', 2000);
  t.true(
    Math.abs((pinned.get(HEAVY) ?? 0) / 2000 - 0.75) <= 0.04,
    `policy weighted from the catalog: heavy first in ${pinned.get(HEAVY)} of 2000`,
  );
});

test.serial('unbound stub-zone: SRV priority by tier and weight by cluster, and unbound resolves the C.S.N.Z targets', async (t) => {
  const gs = await serve(t, 'spread');
  const ub = await startUnbound(t, 'global', gs.dnsPort);
  if (!ub) return;
  const srv = await dig(t, ub.port, ['_http._tcp.cart.shop.global', 'SRV']);
  t.is(srv!.status, 'NOERROR');
  t.deepEqual(answers(srv!, 'SRV').sort(), [
    '0 100 15443 light.cart.shop.global.',
    '0 300 15443 heavy.cart.shop.global.',
    '1 100 15443 far.cart.shop.global.',
  ]);
  for (const [cluster, address] of [
    ['heavy', HEAVY],
    ['light', LIGHT],
    ['far', FAR],
  ] as const) {
    const a = await dig(t, ub.port, [`${cluster}.cart.shop.global`, 'A']);
    t.deepEqual(answers(a!, 'A'), [address], `${cluster}.cart.shop.global through unbound`);
  }
  const nx = await dig(t, ub.port, ['nowhere.cart.shop.global', 'A']);
  t.is(nx!.status, 'NXDOMAIN');
});
