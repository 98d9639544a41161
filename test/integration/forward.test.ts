/**
 * The forwarder against scripted upstreams (dns2-based, test/helpers/scripted-upstream.ts) on real
 * loopback sockets: failover and time bounds, anti-spoofing, TC → TCP, SERVFAIL, serve-stale,
 * caching and TTL countdown, RFC 2308 negative caching, coalescing, limits, the allow-list, and
 * the guarantee that in-zone names never go upstream. Clients are dig/kdig or raw sockets.
 */
import test, { type ExecutionContext } from 'ava';
import { dig, answers } from '../helpers/dig.js';
import { craftQuery, ecsOption, optRR, parseReply, rawQuestion, tcpExchange, udpExchange, kdig } from '../helpers/dns-tools.js';
import { startInProcess, tempDir, writeFile } from '../helpers/gsdns-process.js';
import {
  aRecord,
  answerA,
  buildReply,
  nxdomain,
  servfail,
  startScriptedUpstream,
  truncatedOverUdp,
  txtRecord,
  wrongId,
  wrongQuestion,
  defaultScript,
  noAnswer,
  type RecordedQuery,
  type ScriptedUpstream,
  type UpstreamScript,
} from '../helpers/scripted-upstream.js';
import { spawnSync } from 'node:child_process';
import { until } from '../helpers/poll.js';
import { join } from 'node:path';

const CATALOG = `services:
  - {namespace: ns1, name: web, clusterIPs: [10.96.0.10], readyEndpoints: 2, ports: [{name: http, port: 80}]}
`;

interface Options {
  readonly upstreams: readonly ScriptedUpstream[] | readonly string[];
  readonly timeoutMs?: number;
  readonly budgetMs?: number;
  readonly allowFrom?: readonly string[];
  readonly serveStaleSeconds?: number;
  readonly maxInFlight?: number;
  readonly extra?: string;
}

async function gsdns(t: ExecutionContext, o: Options) {
  const dir = tempDir(t);
  writeFile(join(dir, 'catalog.yaml'), CATALOG);
  const ups = o.upstreams.map((u) => (typeof u === 'string' ? u : u.endpoint));
  const yaml = `cluster: {name: test-local}
dns: {zones: [global]}
source: {type: file, file: {path: catalog.yaml}}
forward:
  upstreams: [${ups.map((u) => JSON.stringify(u)).join(', ')}]
  timeoutMs: ${o.timeoutMs ?? 1000}
  budgetMs: ${o.budgetMs ?? 2500}
  serveStaleSeconds: ${o.serveStaleSeconds ?? 3600}
  maxInFlight: ${o.maxInFlight ?? 512}
${o.allowFrom ? `  allowFrom: [${o.allowFrom.map((c) => JSON.stringify(c)).join(', ')}]\n` : ''}${o.extra ?? ''}`;
  return startInProcess(t, yaml, dir);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * GET an ops endpoint of an in-process gsdns, bounded at 30 s. Under two CPU hogs such a request
 * once never came back; if it fails, the log says what else that instance still did at that moment
 * (/healthz on the same listener, a DNS answer, the forwarder's counters), so a recurrence tells a
 * dead HTTP listener from a stuck handler from a starved process.
 */
async function getJson(
  t: ExecutionContext,
  s: { httpPort: number; dnsPort: number; forwarder: { stats(): unknown }; metrics: { render(): Promise<{ body: string }> } },
  path: string,
): Promise<Record<string, unknown>> {
  const started = Date.now();
  try {
    const res = await fetch(`http://127.0.0.1:${s.httpPort}${path}`, { signal: AbortSignal.timeout(30_000) });
    return (await res.json()) as Record<string, unknown>;
  } catch (err) {
    t.log(`GET ${path} failed after ${Date.now() - started} ms: ${String(err)}`);
    // The kernel's view of every TCP socket on that port (is a connection queued, unread?), and the
    // server's connection counters.
    const sockets = spawnSync('ss', ['-tanoi', `( sport = :${s.httpPort} or dport = :${s.httpPort} )`], { encoding: 'utf8' });
    t.log(`ss: ${sockets.stdout || sockets.error?.message || sockets.stderr}`);
    const { body } = await s.metrics.render();
    t.log(
      body
        .split('\n')
        .filter((l) => l.startsWith('gsdns_http_'))
        .join('; '),
    );
    const health = await fetch(`http://127.0.0.1:${s.httpPort}/healthz`, { signal: AbortSignal.timeout(10_000) }).then(
      (r) => `${r.status}`,
      (e: unknown) => String(e),
    );
    const dnsReply = await udpExchange(s.dnsPort, query('web.ns1.global'), { timeoutMs: 5000 });
    t.log(
      `then: /healthz ${health}; DNS ${dnsReply === null ? 'no reply' : `rcode ${parseReply(dnsReply).rcode}`}; forwarder ${JSON.stringify(s.forwarder.stats())}`,
    );
    throw err;
  }
}

let nextId = 1;
/** A query with EDNS (payload 1232) for name/type, as raw bytes. */
function query(name: string, type = 1, opts: { edns?: boolean; options?: Parameters<typeof optRR>[0] } = {}): Buffer {
  return craftQuery({
    id: nextId++ & 0xffff,
    questions: [rawQuestion(name, type)],
    additional: opts.edns === false ? [] : [optRR(opts.options ?? {})],
  });
}

async function ask(port: number, message: Buffer, timeoutMs = 3000) {
  const reply = await udpExchange(port, message, { timeoutMs });
  if (reply === null) throw new Error('no reply');
  return parseReply(reply);
}

const ttlsOf = (r: ReturnType<typeof parseReply>): number[] => r.answers.map((a) => Number(a['ttl']));
const addressesOf = (r: ReturnType<typeof parseReply>): string[] => r.answers.map((a) => String(a['address']));

test('an upstream that never answers is passed over for the next, within the per-try timeout', async (t) => {
  const silent = await startScriptedUpstream(t, noAnswer);
  const good = await startScriptedUpstream(t);
  const s = await gsdns(t, { upstreams: [silent, good], timeoutMs: 600, budgetMs: 3000 });
  const started = Date.now();
  const r = await ask(s.dnsPort, query('www.example.test'));
  const elapsed = Date.now() - started;
  t.is(r.rcode, 0);
  t.deepEqual(addressesOf(r), ['192.0.2.1']);
  t.true(r.ra, 'RA set: we recurse for this client');
  t.is(silent.queries.length, 1);
  t.is(good.queries.length, 1);
  t.true(elapsed >= 580, `took ${elapsed} ms: one 600 ms timeout, then the next upstream`);
});

test('each try uses a new random ID and the question bytes of the client, case kept', async (t) => {
  const up = await startScriptedUpstream(t, noAnswer);
  const good = await startScriptedUpstream(t);
  const s = await gsdns(t, { upstreams: [up, good] });
  const r = await ask(s.dnsPort, query('WwW.Example.TEST'));
  t.is(r.rcode, 0);
  t.deepEqual(r.rawQuestion, rawQuestion('WwW.Example.TEST'), 'question echoed in the client case');
  const sent = [...up.queries, ...good.queries];
  t.is(sent.length, 2);
  t.is(sent[0]!.name, 'WwW.Example.TEST');
  t.not(sent[0]!.id, sent[1]!.id);
  t.not(sent[0]!.from.port, sent[1]!.from.port, 'a fresh source port per try');
  t.is(sent[0]!.opt?.udp, 1232, 'EDNS payload 1232 upstream');
});

test('replies with a wrong ID or a wrong question are ignored; the genuine reply is used', async (t) => {
  const up = await startScriptedUpstream(t, (q) => [
    wrongId(q, answerA(q, ['192.0.2.66'], 60)),
    wrongQuestion(q, { name: 'evil.example.test' }, { answers: [aRecord('192.0.2.67', 60)] }),
    wrongQuestion(q, { type: 28 }, { answers: [aRecord('192.0.2.68', 60)] }),
    { send: answerA(q, ['192.0.2.1'], 60), delayMs: 50 },
  ]);
  const s = await gsdns(t, { upstreams: [up] });
  const r = await ask(s.dnsPort, query('spoof.example.test'));
  t.deepEqual(addressesOf(r), ['192.0.2.1']);
  const stats = s.forwarder.stats().upstreams[0]!;
  t.is(stats.mismatched, 3);
});

test('an upstream that only sends mismatching replies counts as a timeout and the next is used', async (t) => {
  const spoofer = await startScriptedUpstream(t, (q) => wrongId(q));
  const good = await startScriptedUpstream(t);
  const s = await gsdns(t, { upstreams: [spoofer, good] });
  const r = await ask(s.dnsPort, query('x.example.test'));
  t.deepEqual(addressesOf(r), ['192.0.2.1']);
  t.is(s.forwarder.stats().upstreams[0]!.timeouts, 1);
});

const bigTxt = (q: RecordedQuery): Buffer =>
  buildReply(q, { answers: Array.from({ length: 30 }, (_, i) => txtRecord([`${String(i).padStart(2, '0')}-${'y'.repeat(90)}`], 60)) });

const tcScript: UpstreamScript = (q) => (q.transport === 'udp' ? truncatedOverUdp(q, {}) : bigTxt(q));

test('a TC reply is retried over TCP; a TCP client gets everything, a UDP client a fitted reply with TC', async (t) => {
  const up = await startScriptedUpstream(t, tcScript);
  const s = await gsdns(t, { upstreams: [up] });
  const [tcpReply] = await tcpExchange(s.dnsPort, [query('big.example.test', 16)]);
  const full = parseReply(tcpReply!);
  t.is(full.counts.an, 30);
  t.false(full.tc);
  t.deepEqual(
    up.queries.map((q) => q.transport),
    ['udp', 'tcp'],
  );
  // From the cache now: the UDP client gets what fits into 1232 octets, with TC=1 and OPT kept.
  const raw = await udpExchange(s.dnsPort, query('big.example.test', 16));
  t.truthy(raw);
  t.true(raw!.length <= 1232, `${raw!.length} octets`);
  const fitted = parseReply(raw!);
  t.true(fitted.tc);
  t.true(fitted.counts.an > 0 && fitted.counts.an < 30);
  t.truthy(fitted.opt, 'OPT kept in the truncated reply');
  // Without EDNS: 512 octets.
  const raw512 = await udpExchange(s.dnsPort, query('big.example.test', 16, { edns: false }));
  t.true(raw512!.length <= 512);
  t.true(parseReply(raw512!).tc);
  t.is(parseReply(raw512!).opt, undefined, 'no OPT for a client that sent none');
  // dig retries over TCP by itself and ends with all 30.
  const d = await dig(t, s.dnsPort, ['big.example.test', 'TXT']);
  if (d) t.is(answers(d, 'TXT').length, 30);
  t.is(up.queries.length, 2, 'everything after the first fetch came from the cache');
});

test('SERVFAIL from one upstream moves on to the next', async (t) => {
  const bad = await startScriptedUpstream(t, (q) => servfail(q));
  const good = await startScriptedUpstream(t);
  const s = await gsdns(t, { upstreams: [bad, good] });
  const r = await ask(s.dnsPort, query('sf.example.test'));
  t.is(r.rcode, 0);
  t.deepEqual(addressesOf(r), ['192.0.2.1']);
  t.true(s.forwarder.stats().upstreams[0]!.healthy, 'an upstream that answers SERVFAIL is alive');
});

test('SERVFAIL from every upstream reaches the client and is cached only briefly', async (t) => {
  const bad = await startScriptedUpstream(t, (q) => servfail(q));
  const s = await gsdns(t, { upstreams: [bad] });
  const r = await ask(s.dnsPort, query('sf.example.test'));
  t.is(r.rcode, 2);
  const again = await ask(s.dnsPort, query('sf.example.test'));
  t.is(again.rcode, 2);
  t.is(bad.queries.length, 1, 'the second SERVFAIL came from the cache');
  bad.setScript(defaultScript);
  await sleep(5200);
  const later = await ask(s.dnsPort, query('sf.example.test'));
  t.is(later.rcode, 0, 'SERVFAIL is not cached beyond 5 s');
  t.is(bad.queries.length, 2);
});

test('every upstream down with a stale entry: served stale with TTL 30 and EDE 3', async (t) => {
  const up = await startScriptedUpstream(t, (q) => answerA(q, ['192.0.2.9'], 1));
  // Tries of 10 s in a budget of 20 s: a loaded machine's slow first answer still fills the cache,
  // and "served at once" (the closed port refuses at once) stays 10 s away from "after the budget".
  const s = await gsdns(t, { upstreams: [up], timeoutMs: 10_000, budgetMs: 20_000 });
  const first = await ask(s.dnsPort, query('stale.example.test'), 10_000);
  t.deepEqual(addressesOf(first), ['192.0.2.9']);
  await up.down();
  await sleep(1300); // the answer's TTL of 1 s runs out: the entry is stale
  const started = Date.now();
  const r = await ask(s.dnsPort, query('stale.example.test'), 25_000);
  t.true(Date.now() - started < 10_000, 'served without waiting for the budget (20 s)');
  t.is(r.rcode, 0);
  t.deepEqual(addressesOf(r), ['192.0.2.9']);
  t.deepEqual(ttlsOf(r), [30]);
  const ede = r.opt?.options.find((o) => o.code === 15);
  t.truthy(ede, 'Extended DNS Error present');
  t.is(ede!.data.readUInt16BE(0), 3, 'EDE 3: Stale Answer');
  t.true(s.forwarder.stats().staleServed >= 1);
});

test('every upstream down and nothing cached: SERVFAIL within the budget', async (t) => {
  const a = await startScriptedUpstream(t, noAnswer);
  const b = await startScriptedUpstream(t, noAnswer);
  const c = await startScriptedUpstream(t, noAnswer);
  // Three tries of 2 s would take 6 s; the budget ends it at 3 s. The margins tell the two apart on
  // a loaded machine (two CPU hogs beside the suite made a 900 ms budget answer after 2,085 ms).
  const s = await gsdns(t, { upstreams: [a, b, c], timeoutMs: 2000, budgetMs: 3000 });
  const started = Date.now();
  const r = await ask(s.dnsPort, query('nothing.example.test'), 10_000);
  const elapsed = Date.now() - started;
  t.is(r.rcode, 2);
  t.true(elapsed >= 2900 && elapsed < 5500, `SERVFAIL after ${elapsed} ms, budget 3000 (three full tries: 6000)`);
  t.is(a.queries.length, 1);
  // The second gets what is left of the budget (1 s), the third nothing, if the machine is busy.
  t.true(b.queries.length <= 1);
  t.true(c.queries.length <= 1);
});

test('a stopped upstream (port closed) fails fast and the next is used', async (t) => {
  const gone = await startScriptedUpstream(t);
  await gone.down();
  const good = await startScriptedUpstream(t);
  // An 8 s try: waiting it out is far from the prompt failure ICMP port unreachable gives.
  const s = await gsdns(t, { upstreams: [gone, good], timeoutMs: 8000, budgetMs: 10_000 });
  const started = Date.now();
  const r = await ask(s.dnsPort, query('fast.example.test'), 10_000);
  t.deepEqual(addressesOf(r), ['192.0.2.1']);
  t.true(Date.now() - started < 4000, 'ICMP port unreachable is not waited out');
});

test('a failing upstream is marked down, skipped, and revived by the background check', async (t) => {
  const flaky = await startScriptedUpstream(t, noAnswer);
  const good = await startScriptedUpstream(t);
  const s = await gsdns(t, { upstreams: [flaky, good], timeoutMs: 800, budgetMs: 2000 });
  await ask(s.dnsPort, query('h1.example.test'));
  await ask(s.dnsPort, query('h2.example.test'));
  t.false(s.forwarder.stats().upstreams[0]!.healthy, 'down after two failed tries');
  const before = flaky.queries.filter((q) => q.name !== '').length;
  await ask(s.dnsPort, query('h3.example.test'));
  // The verdict is where the query went, not how long it took.
  t.is(flaky.queries.filter((q) => q.name !== '').length, before, 'no client query went to the down upstream');
  flaky.setScript(defaultScript);
  const revived = await flaky.waitFor((qs) => qs.some((q) => q.name === '' && q.type === 2), 15_000);
  t.true(revived, 'a root NS health check was sent');
  // The check's answer marks it up: wait for that state, not for a fixed time.
  await until(t, 'the revived upstream is marked healthy', () => s.forwarder.stats().upstreams[0]!.healthy, 15_000);
  await ask(s.dnsPort, query('h4.example.test'));
  t.true(
    flaky.queries.some((q) => q.name === 'h4.example.test'),
    'used again once revived',
  );
});

test('cached TTLs count down and the cache answers without asking upstream', async (t) => {
  const up = await startScriptedUpstream(t, (q) => answerA(q, ['192.0.2.1'], 60));
  const s = await gsdns(t, { upstreams: [up] });
  const first = await ask(s.dnsPort, query('ttl.example.test'));
  t.deepEqual(ttlsOf(first), [60]);
  await sleep(2100);
  const second = await ask(s.dnsPort, query('ttl.example.test'));
  const ttl = ttlsOf(second)[0]!;
  t.true(ttl >= 57 && ttl <= 58, `TTL ${ttl} after 2.1 s`);
  t.is(up.queries.length, 1);
});

test('NXDOMAIN is cached for the SOA MINIMUM (RFC 2308), not the SOA TTL', async (t) => {
  // A minimum of 10 s: the second query lands inside it even on a machine slow enough to take
  // seconds between two queries; the SOA TTL (3600) would keep it for an hour.
  const up = await startScriptedUpstream(t, (q) => nxdomain(q, { soaMinimum: 10, soaTtl: 3600, zone: 'example.test' }));
  const s = await gsdns(t, { upstreams: [up], timeoutMs: 4000, budgetMs: 6000 });
  const first = await ask(s.dnsPort, query('gone.example.test'), 10_000);
  const firstAt = Date.now();
  t.is(first.rcode, 3);
  t.is(Number(first.authority[0]!['ttl']), 10, 'the SOA is served with the negative TTL');
  const cached = await ask(s.dnsPort, query('gone.example.test'), 10_000);
  t.is(cached.rcode, 3);
  t.is(up.queries.length, 1, 'answered from the cache within the minimum');
  await sleep(Math.max(0, 10_200 - (Date.now() - firstAt))); // the minimum runs out
  const expired = await ask(s.dnsPort, query('gone.example.test'), 10_000);
  t.is(expired.rcode, 3);
  t.is(up.queries.length, 2, 'asked again after the SOA minimum');
});

test('identical queries in flight go upstream once', async (t) => {
  const up = await startScriptedUpstream(t, (q) => ({ send: answerA(q, ['192.0.2.1'], 60), delayMs: 300 }));
  // Tries long enough that a loaded machine does not time the one upstream exchange out.
  const s = await gsdns(t, { upstreams: [up], timeoutMs: 5000, budgetMs: 8000 });
  const replies = await Promise.all(Array.from({ length: 10 }, () => ask(s.dnsPort, query('same.example.test'), 10_000)));
  t.true(replies.every((r) => r.rcode === 0 && addressesOf(r)[0] === '192.0.2.1'));
  t.is(up.queries.length, 1);
  t.is(s.forwarder.stats().coalesced, 9);
});

test('in-flight exchanges are bounded; beyond the bound SERVFAIL at once, counted', async (t) => {
  // The upstream holds each answer 4 s, so "at once" (under 3 s) stays apart from "after the
  // upstream" on a machine busy with two CPU hogs; the client waits long enough for both.
  const up = await startScriptedUpstream(t, (q) => ({ send: answerA(q, ['192.0.2.1'], 60), delayMs: 4000 }));
  const s = await gsdns(t, { upstreams: [up], maxInFlight: 2, timeoutMs: 8000, budgetMs: 9000 });
  const started = Date.now();
  const results = await Promise.all(
    [1, 2, 3, 4, 5].map(async (i) => {
      const r = await ask(s.dnsPort, query(`n${i}.example.test`), 15_000);
      return { rcode: r.rcode, ms: Date.now() - started };
    }),
  );
  const ok = results.filter((r) => r.rcode === 0);
  const rejected = results.filter((r) => r.rcode === 2);
  t.is(ok.length, 2);
  t.is(rejected.length, 3);
  t.true(
    rejected.every((r) => r.ms < 3000),
    'rejected at once (accepted ones take 4000 ms)',
  );
  t.is(s.forwarder.stats().overloadRejected, 3);
  t.is(up.queries.length, 2);
});

test('unknown qtypes (HTTPS, 65) go upstream as asked and the reply comes back byte for byte', async (t) => {
  // RFC 9460 HTTPS RDATA: priority 1, target root, alpn=h2 (key 1, length 3, "\x02h2").
  const rdata = Buffer.from([0, 1, 0, 0, 1, 0, 3, 2, 0x68, 0x32]);
  const httpsRecord = Buffer.concat([Buffer.from([0xc0, 0x0c]), Buffer.from([0, 65, 0, 1, 0, 0, 0, 60, 0, rdata.length]), rdata]);
  const up = await startScriptedUpstream(t, (q) => buildReply(q, { answers: [httpsRecord] }));
  const s = await gsdns(t, { upstreams: [up] });
  const d = await dig(t, s.dnsPort, ['svc.example.test', 'HTTPS']);
  t.is(up.queries[0]?.type, 65, 'qtype 65 sent upstream');
  if (d) {
    t.is(d.status, 'NOERROR');
    t.deepEqual(answers(d, 'HTTPS'), ['1 . alpn="h2"']);
  }
  const raw = await udpExchange(s.dnsPort, query('svc.example.test', 65));
  t.true(raw!.includes(rdata), 'RDATA relayed unchanged');
});

test('EDNS COOKIE and unknown options reach the upstream, and its options reach the client', async (t) => {
  const cookie = { code: 10, data: Buffer.from('0102030405060708', 'hex') };
  const unknown = { code: 65001, data: Buffer.from('hello') };
  const up = await startScriptedUpstream(t, (q) =>
    answerA(q, ['192.0.2.1'], 60, {
      edns: { echoQueryOptions: true, options: [{ code: 65002, data: Buffer.from('from-upstream') }] },
    }),
  );
  const s = await gsdns(t, { upstreams: [up] });
  const r = await ask(s.dnsPort, query('cookie.example.test', 1, { options: { options: [cookie, unknown] } }));
  t.deepEqual(up.queries[0]!.opt?.options, [cookie, unknown], 'client options forwarded byte for byte');
  t.deepEqual(
    r.opt?.options.map((o) => o.code),
    [10, 65001, 65002],
    'upstream options relayed to the client whose query fetched the answer',
  );
  // A different client, served from the cache, does not get someone else's cookie.
  const other = await ask(s.dnsPort, query('cookie.example.test'));
  t.deepEqual(
    other.opt?.options.map((o) => o.code),
    [65001, 65002],
  );
  // kdig's own cookie round trip through gsdns to an upstream that echoes it.
  const k = await kdig(t, s.dnsPort, ['+cookie', 'kcookie.example.test']);
  if (k) t.is(k[0]!.status, 'NOERROR');
  t.is(up.queries.at(-1)?.opt?.options.find((o) => o.code === 10)?.data.length, 8, "kdig's client cookie went upstream");
});

test('EDNS Client Subnet is not forwarded unless configured', async (t) => {
  const up = await startScriptedUpstream(t);
  const s = await gsdns(t, { upstreams: [up] });
  const ecs = ecsOption(1, 24, Buffer.from([198, 51, 100]));
  await ask(s.dnsPort, query('ecs.example.test', 1, { options: { options: [ecs] } }));
  t.deepEqual(up.queries[0]!.opt?.options, []);

  const up2 = await startScriptedUpstream(t);
  const s2 = await gsdns(t, { upstreams: [up2], extra: '  forwardClientSubnet: true\n' });
  await ask(s2.dnsPort, query('ecs.example.test', 1, { options: { options: [ecs] } }));
  t.deepEqual(up2.queries[0]!.opt?.options, [ecs]);
});

/**
 * An upstream that answers per client subnet (RFC 7871): 198.51.100.0/24 → 192.0.2.51,
 * 203.0.113.0/24 → 192.0.2.203, no ECS → 192.0.2.1; scope 24 echoed. Replies are held until
 * release(), so the test decides when the first exchange ends: which clients joined it is then
 * decided by the coalescing key, not by timing.
 */
function subnetUpstreamScript(): { script: UpstreamScript; release: () => void } {
  const held: Array<() => void> = [];
  let released = false;
  const script: UpstreamScript = async (q) => {
    const ecs = q.opt?.options.find((o) => o.code === 8);
    const prefix = ecs ? [...ecs.data.subarray(4)].join('.') : '';
    const address = prefix === '198.51.100' ? '192.0.2.51' : prefix === '203.0.113' ? '192.0.2.203' : '192.0.2.1';
    // RFC 7871 §7.2.1: FAMILY, SOURCE PREFIX-LENGTH and ADDRESS as asked, our SCOPE.
    const options = ecs ? [{ code: 8, data: Buffer.concat([ecs.data.subarray(0, 3), Buffer.from([24]), ecs.data.subarray(4)]) }] : [];
    if (!released) await new Promise<void>((resolve) => held.push(resolve));
    return answerA(q, [address], 60, { edns: { options } });
  };
  return {
    script,
    release: () => {
      released = true;
      for (const resolve of held.splice(0)) resolve();
    },
  };
}

/** The ECS option of a reply as "a.b.c.d/source/scope", or undefined. */
function ecsOf(r: ReturnType<typeof parseReply>): string | undefined {
  const o = r.opt?.options.find((x) => x.code === 8);
  if (!o) return undefined;
  const address = [...o.data.subarray(4), 0, 0, 0, 0].slice(0, 4).join('.');
  return `${address}/${o.data[2]}/${o.data[3]}`;
}

/** Wait (bounded) until the forwarder counts `n` coalesced clients: the query reached it and joined. */
async function coalescedReaches(s: { forwarder: { stats(): { coalesced: number } } }, n: number, timeoutMs = 5000): Promise<boolean> {
  for (const started = Date.now(); Date.now() - started < timeoutMs;) {
    if (s.forwarder.stats().coalesced >= n) return true;
    await sleep(10);
  }
  return s.forwarder.stats().coalesced >= n;
}

test('forwardClientSubnet: clients of different subnets never share an exchange; the same subnet still coalesces', async (t) => {
  const { script, release } = subnetUpstreamScript();
  t.teardown(release);
  const up = await startScriptedUpstream(t, script);
  const s = await gsdns(t, { upstreams: [up], timeoutMs: 8000, budgetMs: 10000, extra: '  forwardClientSubnet: true\n' });
  const X = ecsOption(1, 24, Buffer.from([198, 51, 100]));
  const Y = ecsOption(1, 24, Buffer.from([203, 0, 113]));
  const ecsQuery = (o: typeof X): Buffer => query('geo.example.test', 1, { options: { options: [o] } });

  const first = ask(s.dnsPort, ecsQuery(X), 12000);
  t.true(await up.waitForQueries(1, 5000), "the first client's query is upstream, its reply held");
  // Another subnet while the first exchange is in flight: an exchange of its own.
  const other = ask(s.dnsPort, ecsQuery(Y), 12000);
  t.true(await up.waitForQueries(2, 5000), 'the second subnet went upstream instead of joining the first exchange');
  // The first subnet again: it joins the first exchange.
  const same = ask(s.dnsPort, ecsQuery(X), 12000);
  t.true(await coalescedReaches(s, 1), 'the same subnet joined the in-flight exchange');
  release();

  const [a, b, c] = await Promise.all([first, other, same]);
  t.deepEqual(addressesOf(a), ['192.0.2.51']);
  t.is(ecsOf(a), '198.51.100.0/24/24');
  t.deepEqual(addressesOf(b), ['192.0.2.203'], 'the second subnet gets the answer for its own subnet');
  t.is(ecsOf(b), '203.0.113.0/24/24', 'with its own subnet and scope');
  t.deepEqual(addressesOf(c), ['192.0.2.51'], "the coalesced client of the same subnet gets that subnet's answer");
  t.is(ecsOf(c), '198.51.100.0/24/24', "and the upstream's scope for it");
  t.is(up.queries.length, 2);
  t.deepEqual(
    up.queries.map((q) =>
      q.opt?.options
        .find((o) => o.code === 8)
        ?.data.subarray(4)
        .join('.'),
    ),
    ['198.51.100', '203.0.113'],
  );
  t.is(s.forwarder.stats().coalesced, 1);
  // Answers scoped to a subnet are not cached (RFC 7871 §7.3.1): the next one goes upstream again.
  const again = ask(s.dnsPort, ecsQuery(Y), 12000);
  t.true(await up.waitForQueries(3, 5000));
  t.deepEqual(addressesOf(await again), ['192.0.2.203']);
});

test('without forwardClientSubnet the subnet goes nowhere, so clients of any subnet share one exchange', async (t) => {
  const { script, release } = subnetUpstreamScript();
  t.teardown(release);
  const up = await startScriptedUpstream(t, script);
  const s = await gsdns(t, { upstreams: [up], timeoutMs: 8000, budgetMs: 10000 });
  const first = ask(
    s.dnsPort,
    query('geo.example.test', 1, { options: { options: [ecsOption(1, 24, Buffer.from([198, 51, 100]))] } }),
    12000,
  );
  t.true(await up.waitForQueries(1, 5000));
  const other = ask(
    s.dnsPort,
    query('geo.example.test', 1, { options: { options: [ecsOption(1, 24, Buffer.from([203, 0, 113]))] } }),
    12000,
  );
  t.true(await coalescedReaches(s, 1), 'the other subnet joined: the upstream is not told about subnets');
  release();
  const [a, b] = await Promise.all([first, other]);
  t.deepEqual(addressesOf(a), ['192.0.2.1']);
  t.deepEqual(addressesOf(b), ['192.0.2.1']);
  t.is(up.queries.length, 1);
  t.deepEqual(up.queries[0]!.opt?.options, []);
});

test('DO and CD are forwarded and keep separate cache entries', async (t) => {
  const up = await startScriptedUpstream(t);
  const s = await gsdns(t, { upstreams: [up] });
  await ask(s.dnsPort, query('do.example.test', 1, { options: { dnssecOk: true } }));
  t.true(up.queries[0]!.opt?.dnssecOk);
  await ask(s.dnsPort, query('do.example.test'));
  t.false(up.queries[1]!.opt?.dnssecOk);
  await ask(s.dnsPort, craftQuery({ cd: true, questions: [rawQuestion('do.example.test')], additional: [optRR()] }));
  t.true(up.queries[2]!.cd);
  t.is(up.queries.length, 3);
});

test('a client outside allowFrom gets REFUSED for outside names, but in-zone answers', async (t) => {
  const up = await startScriptedUpstream(t);
  const s = await gsdns(t, { upstreams: [up], allowFrom: ['127.0.0.1/32'] });
  const refused = await dig(t, s.dnsPort, ['-b', '127.0.0.2', 'www.example.test']);
  if (!refused) return;
  t.is(refused.status, 'REFUSED');
  const inZone = await dig(t, s.dnsPort, ['-b', '127.0.0.2', 'web.ns1.global']);
  t.is(inZone!.status, 'NOERROR');
  t.deepEqual(answers(inZone!, 'A'), ['10.96.0.10']);
  t.is(up.queries.length, 0);
  const allowed = await dig(t, s.dnsPort, ['-b', '127.0.0.1', 'www.example.test']);
  t.is(allowed!.status, 'NOERROR');
  t.is(up.queries.length, 1);
  t.is(s.forwarder.stats().refused, 1);
});

test('in-zone names are never sent upstream, whatever their shape or case', async (t) => {
  const up = await startScriptedUpstream(t);
  const s = await gsdns(t, { upstreams: [up] });
  const names: Array<[string, number]> = [
    ['web.ns1.global', 1],
    ['WEB.NS1.GLOBAL', 28],
    ['nosuch.ns1.global', 1],
    ['a.b.c.d.global', 1],
    ['ns1.global', 1],
    ['global', 6],
    ['global', 2],
    ['x.global', 16],
    ['_http._tcp.web.ns1.global', 33],
    ['global', 65],
  ];
  for (const [name, type] of names) {
    const r = await ask(s.dnsPort, query(name, type));
    t.not(r.rcode, 5, `${name} answered, not refused`);
  }
  t.is(up.queries.length, 0);
  // The root NS query CoreDNS uses as a health check is forwarded and well-formed.
  const root = await ask(s.dnsPort, query('', 2));
  t.is(root.rcode, 0);
  t.is(up.queries.length, 1);
});

test('/debug/resolve shows where a forwarded answer came from', async (t) => {
  // Once, under two CPU hogs, this test never finished (ava's 120 s timeout): every step is logged
  // and the requests are bounded, so a recurrence names the step that hung.
  const up = await startScriptedUpstream(t);
  t.log('upstream up');
  const s = await gsdns(t, { upstreams: [up] });
  t.log('gsdns started');
  const get = (): Promise<Record<string, unknown>> => getJson(t, s, '/debug/resolve?name=dbg.example.test&type=A');
  const first = await get();
  t.log('first /debug/resolve answered');
  t.is(first['kind'], 'forward');
  t.is(first['source'], 'upstream');
  t.is(first['upstream'], up.endpoint);
  t.deepEqual(first['answers'], ['dbg.example.test.\t60\tIN\tA\t192.0.2.1']);
  const second = await get();
  t.is(second['source'], 'cache');
  t.true((second['remainingTtlSeconds'] as number) <= 60);
  t.regex(String(second['text']), /cache hit, \d+s of TTL left/);
  t.is(up.queries.length, 1);
});

test('/debug/forward reports upstream health and cache counters', async (t) => {
  // The counters are checked against what the two upstreams saw, not against a count that assumes
  // the good upstream always beats the per-try timeout: on a loaded CI machine it once did not
  // (good: 1 timeout + 1 NOERROR, silent: 2 timeouts), and the exact-count version failed.
  const silent = await startScriptedUpstream(t, noAnswer);
  const good = await startScriptedUpstream(t);
  const s = await gsdns(t, { upstreams: [silent, good], timeoutMs: 2000 });
  await ask(s.dnsPort, query('f1.example.test'));
  await ask(s.dnsPort, query('f1.example.test'));
  t.log('two queries answered');
  const body = (await getJson(t, s, '/debug/forward')) as unknown as {
    upstreams: Array<{ upstream: string; healthy: boolean; timeouts: number; responses: Record<string, number> }>;
    cacheHits: number;
    cacheMisses: number;
    cacheEntries: number;
  };
  t.deepEqual(
    body.upstreams.map((u) => u.upstream),
    [silent.endpoint, good.endpoint],
  );
  const [quiet, answering] = body.upstreams;
  // The silent upstream never answers: every try it got is a timeout, and it has no responses.
  t.true(quiet!.timeouts >= 1);
  t.true(quiet!.timeouts <= silent.queries.length);
  t.deepEqual(quiet!.responses, {});
  // The good one answered at least once, and never more often than it was asked.
  t.true((answering!.responses['NOERROR'] ?? 0) >= 1);
  t.true((answering!.responses['NOERROR'] ?? 0) + answering!.timeouts <= good.queries.length);
  // Both queries went through the cache: the first is a miss that stored the answer; the second
  // is a hit unless the first try failed (then it is a second miss).
  t.is(body.cacheHits + body.cacheMisses, 2);
  t.true(body.cacheMisses >= 1);
  t.is(body.cacheEntries, 1);
  t.is(body.cacheHits, answering!.timeouts === 0 ? 1 : body.cacheHits);
});

test('zone transfers (AXFR, IXFR) of outside names are refused, not relayed', async (t) => {
  const up = await startScriptedUpstream(t);
  const s = await gsdns(t, { upstreams: [up] });
  const [axfr] = await tcpExchange(s.dnsPort, [query('example.test', 252)]);
  t.is(parseReply(axfr!).rcode, 5);
  const [ixfr] = await tcpExchange(s.dnsPort, [query('example.test', 251)]);
  t.is(parseReply(ixfr!).rcode, 5);
  t.is(up.queries.length, 0);
});
