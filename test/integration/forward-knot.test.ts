/**
 * The forwarder against a real authoritative upstream (Knot DNS, `knotd`) on loopback, queried by
 * real clients (dig, kdig) and by unbound configured exactly as CoreDNS would be: a stub zone for
 * `global` pointing at gsdns, and `.` forwarded to gsdns.
 */
import test from 'ava';
import { join } from 'node:path';
import { answers, dig } from '../helpers/dig.js';
import { kdig } from '../helpers/dns-tools.js';
import { startInProcess, tempDir, writeFile } from '../helpers/gsdns-process.js';
import { bigTxtString, EXAMPLE_ZONE, exampleZone, startKnot } from '../helpers/knot.js';
import type { ExecutionContext } from 'ava';

const CATALOG = `services:
  - {namespace: ns1, name: web, clusterIPs: [10.96.0.10], readyEndpoints: 2, ports: [{name: http, port: 80}]}
`;

async function setup(t: ExecutionContext, zone = exampleZone({ soaMinimum: 2, soaTtl: 3600 })) {
  const knot = await startKnot(t, { zones: [{ name: 'example.test', text: zone }] });
  if (!knot) return undefined;
  const dir = tempDir(t);
  writeFile(join(dir, 'catalog.yaml'), CATALOG);
  const s = await startInProcess(
    t,
    `cluster: {name: test-local}
dns: {zones: [global]}
source: {type: file, file: {path: catalog.yaml}}
forward: {upstreams: ["${knot.endpoint}"], timeoutMs: 1000, budgetMs: 3000}
`,
    dir,
  );
  return { knot, s };
}

test('A, AAAA, CNAME and several records come back from knotd through gsdns', async (t) => {
  const env = await setup(t);
  if (!env) return;
  const { s } = env;
  const a = await dig(t, s.dnsPort, ['www.example.test', 'A']);
  if (!a) return;
  t.is(a.status, 'NOERROR');
  t.deepEqual(answers(a, 'A'), [EXAMPLE_ZONE.wwwA]);
  t.true(a.flags.includes('ra'));
  const aaaa = await dig(t, s.dnsPort, ['www.example.test', 'AAAA']);
  t.deepEqual(answers(aaaa!, 'AAAA'), [EXAMPLE_ZONE.wwwAAAA]);
  const alias = await dig(t, s.dnsPort, ['alias.example.test', 'A']);
  t.deepEqual(answers(alias!, 'CNAME'), ['www.example.test.']);
  t.deepEqual(answers(alias!, 'A'), [EXAMPLE_ZONE.wwwA]);
  const multi = await dig(t, s.dnsPort, ['multi.example.test', 'A']);
  t.deepEqual([...answers(multi!, 'A')].sort(), [...EXAMPLE_ZONE.multiA].sort());
});

test('HTTPS (type 65) is relayed intact from knotd', async (t) => {
  const env = await setup(t);
  if (!env) return;
  const d = await dig(t, env.s.dnsPort, ['svc.example.test', 'HTTPS']);
  if (!d) return;
  t.is(d.status, 'NOERROR');
  t.deepEqual(answers(d, 'HTTPS'), ['1 . alpn="h2"']);
  const k = await kdig(t, env.s.dnsPort, ['svc.example.test', 'TYPE65']);
  if (k) t.regex(k[0]!.answer.join('\n'), /HTTPS\s+1 \. alpn=h2/);
});

test('NXDOMAIN from knotd carries the SOA with the negative TTL min(SOA TTL, MINIMUM), counted down', async (t) => {
  const env = await setup(t, exampleZone({ soaMinimum: 4, soaTtl: 3600 }));
  if (!env) return;
  const first = await dig(t, env.s.dnsPort, ['nosuch.example.test']);
  if (!first) return;
  t.is(first.status, 'NXDOMAIN');
  t.is(first.authority[0]?.type, 'SOA');
  t.is(first.authority[0]?.ttl, 4);
  await new Promise((r) => setTimeout(r, 1100));
  const cached = await dig(t, env.s.dnsPort, ['nosuch.example.test']);
  t.is(cached!.status, 'NXDOMAIN');
  t.true(cached!.authority[0]!.ttl <= 3, `SOA TTL ${cached!.authority[0]!.ttl} counts down`);
});

test('a large TXT set: TC over UDP, complete over TCP, and dig falls back by itself', async (t) => {
  const env = await setup(t);
  if (!env) return;
  const { s } = env;
  const udp = await dig(t, s.dnsPort, ['big.example.test', 'TXT', '+ignore', '+bufsize=1232']);
  if (!udp) return;
  t.true(udp.flags.includes('tc'), `flags ${udp.flags.join(' ')}`);
  const tcp = await dig(t, s.dnsPort, ['big.example.test', 'TXT', '+tcp']);
  const expected = Array.from({ length: EXAMPLE_ZONE.bigTxtCount }, (_, i) => `"${bigTxtString(i)}"`).sort();
  t.deepEqual([...answers(tcp!, 'TXT')].sort(), expected);
  const auto = await dig(t, s.dnsPort, ['big.example.test', 'TXT']);
  t.is(answers(auto!, 'TXT').length, EXAMPLE_ZONE.bigTxtCount);
  const noEdns = await dig(t, s.dnsPort, ['big.example.test', 'TXT', '+ignore', '+noedns']);
  t.true(noEdns!.flags.includes('tc'));
  t.is(noEdns!.edns, undefined);
});

test('a short TTL expires in the cache and is fetched again from knotd', async (t) => {
  const env = await setup(t, exampleZone({ shortTtl: 1 }));
  if (!env) return;
  const { s } = env;
  const first = await dig(t, s.dnsPort, ['short.example.test']);
  if (!first) return;
  t.deepEqual(answers(first, 'A'), [EXAMPLE_ZONE.shortA]);
  const missesBefore = s.forwarder.stats().cacheMisses;
  await new Promise((r) => setTimeout(r, 1200));
  const again = await dig(t, s.dnsPort, ['short.example.test']);
  t.deepEqual(answers(again!, 'A'), [EXAMPLE_ZONE.shortA]);
  t.is(again!.answer[0]!.ttl, 1, 'a fresh copy, full TTL');
  t.is(s.forwarder.stats().cacheMisses, missesBefore + 1);
});

test('a knotd that goes away: the cached answer is served stale, new names get SERVFAIL', async (t) => {
  const env = await setup(t, exampleZone({ shortTtl: 1 }));
  if (!env) return;
  const { s, knot } = env;
  const first = await dig(t, s.dnsPort, ['short.example.test']);
  if (!first) return;
  await knot.stop();
  await new Promise((r) => setTimeout(r, 1200));
  const stale = await dig(t, s.dnsPort, ['short.example.test']);
  t.is(stale!.status, 'NOERROR');
  t.deepEqual(answers(stale!, 'A'), [EXAMPLE_ZONE.shortA]);
  t.is(stale!.answer[0]!.ttl, 30);
  const none = await dig(t, s.dnsPort, ['www.example.test']);
  t.is(none!.status, 'SERVFAIL');
});
