/**
 * The embedded demo, as a newcomer runs it: the real `bin/gsdns serve` with no config, queried with
 * the README's dig commands over UDP and TCP. These are the answers the README promises.
 */
import test from 'ava';
import { answers, dig } from '../helpers/dig.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { binPath, spawnGsdns } from '../helpers/gsdns-process.js';

test('README dig examples give the documented answers (UDP and TCP)', async (t) => {
  const s = await spawnGsdns(t);
  for (const transport of [[], ['+tcp']]) {
    const reviews = await dig(t, s.dnsPort, ['reviews.bookinfo.global', 'A', ...transport]);
    if (!reviews) return;
    t.is(reviews.status, 'NOERROR');
    t.true(reviews.flags.includes('aa'));
    t.deepEqual(answers(reviews, 'A'), ['192.0.2.10'], 'failover to cluster-west, the same region');
    t.is(reviews.answer[0]!.ttl, 5);

    const productpage = await dig(t, s.dnsPort, ['productpage.bookinfo.global', 'A', ...transport]);
    t.deepEqual(answers(productpage!, 'A'), ['10.96.0.20'], 'local ClusterIP');

    const details = await dig(t, s.dnsPort, ['details.bookinfo.global', 'A', ...transport]);
    t.deepEqual(answers(details!, 'A').sort(), ['10.244.1.5', '10.244.2.7'], 'headless: ready endpoints only');

    const legacy = await dig(t, s.dnsPort, ['legacy.bookinfo.global', 'A', ...transport]);
    t.deepEqual(answers(legacy!, 'A'), ['198.51.100.10'], 'fail open to the only exporter');
    t.true(legacy!.answer[0]!.ttl <= 1, 'degraded TTL');

    const ratings6 = await dig(t, s.dnsPort, ['ratings.bookinfo.global', 'AAAA', ...transport]);
    t.is(ratings6!.status, 'NOERROR');
    t.is(ratings6!.answer.length, 0, 'NODATA');
    t.is(ratings6!.authority[0]?.type, 'SOA');

    const missing = await dig(t, s.dnsPort, ['nosuch.bookinfo.global', 'A', ...transport]);
    t.is(missing!.status, 'NXDOMAIN');
    t.is(missing!.authority[0]?.type, 'SOA');
    t.is(missing!.authority[0]?.ttl, 5);

    const ent = await dig(t, s.dnsPort, ['bookinfo.global', 'A', ...transport]);
    t.is(ent!.status, 'NOERROR', 'namespace is an empty non-terminal (RFC 8020)');
    t.is(ent!.answer.length, 0);

    const srv = await dig(t, s.dnsPort, ['_http._tcp.productpage.bookinfo.global', 'SRV', ...transport]);
    t.deepEqual(answers(srv!, 'SRV'), ['0 0 9080 productpage.bookinfo.global.']);
    t.deepEqual(
      srv!.additional.filter((r) => r.type === 'A').map((r) => r.data),
      ['10.96.0.20'],
    );

    const soa = await dig(t, s.dnsPort, ['global', 'SOA', ...transport]);
    t.is(soa!.answer[0]?.type, 'SOA');
    t.regex(soa!.answer[0]!.data, /^ns\.global\. hostmaster\.global\. \d+ /);

    const ns = await dig(t, s.dnsPort, ['global', 'NS', ...transport]);
    t.deepEqual(answers(ns!, 'NS'), ['ns.global.']);
    t.deepEqual(
      ns!.additional.filter((r) => r.type === 'A').map((r) => `${r.name} ${r.data}`),
      ['ns.global. 127.0.0.1'],
    );

    // Outside every zone: forwarded (tests point forwarding at a closed loopback port, so SERVFAIL).
    const outside = await dig(t, s.dnsPort, ['example.com', 'A', ...transport]);
    t.is(outside!.status, 'SERVFAIL', 'outside every zone: forwarded, and no upstream answers here');

    // CoreDNS's forward health check asks ". NS"; it must always get a well-formed reply.
    const root = await dig(t, s.dnsPort, ['.', 'NS', ...transport]);
    t.is(root!.status, 'SERVFAIL');
    t.deepEqual(root!.question, ['. IN NS']);
  }
});

test('ops endpoints: /healthz, /readyz and /debug/resolve explain the demo answers', async (t) => {
  const s = await spawnGsdns(t);
  const base = `http://127.0.0.1:${s.httpPort}`;
  t.is((await fetch(`${base}/healthz`)).status, 200);
  const ready = await fetch(`${base}/readyz`);
  t.is(ready.status, 200);
  t.true(((await ready.json()) as { ready: boolean }).ready);

  const res = await fetch(`${base}/debug/resolve?name=reviews.bookinfo.global&type=A`);
  t.is(res.status, 200);
  const body = (await res.json()) as {
    rcode: string;
    kind: string;
    clusters: string[];
    explanation: { candidates: { cluster: string; kept: boolean }[] };
  };
  t.is(body.rcode, 'NOERROR');
  t.is(body.kind, 'remote');
  t.deepEqual(body.clusters, ['cluster-west']);
  const byCluster = Object.fromEntries(body.explanation.candidates.map((c) => [c.cluster, c.kept]));
  t.deepEqual(byCluster, { 'cluster-east': false, 'cluster-west': true });

  const services = (await (await fetch(`${base}/debug/services`)).json()) as { local: unknown[] };
  t.is(services.local.length, 3);
  t.is((await fetch(`${base}/debug/resolve`)).status, 400);
  t.is((await fetch(`${base}/nope`)).status, 404);
});

test('SIGTERM stops the server with exit code 0', async (t) => {
  const s = await spawnGsdns(t);
  t.is(await s.stop('SIGTERM'), 0);
});

test('gsdns explain asks the running server and prints the candidates', async (t) => {
  const s = await spawnGsdns(t);
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [binPath, 'explain', 'reviews.bookinfo.global', '--server', `http://127.0.0.1:${s.httpPort}`],
    {
      timeout: 10_000,
    },
  );
  t.regex(stdout, /reviews\.bookinfo\.global\. A → NOERROR \(remote\) via cluster-west/);
  t.regex(stdout, /#1 kept +cluster-west/);
  t.regex(stdout, /dropped cluster-east/);
  t.regex(stdout, /reviews\.bookinfo\.global\.\t5\tIN\tA\t192\.0\.2\.10/);
});
