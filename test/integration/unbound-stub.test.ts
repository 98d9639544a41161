/**
 * gsdns behind a real recursive resolver: unbound with `stub-zone: global` pointing at us, exactly
 * how CoreDNS forwards the zone. Answers and negative answers (with our SOA) must survive the hop.
 */
import test from 'ava';
import { answers, dig } from '../helpers/dig.js';
import { spawnGsdns } from '../helpers/gsdns-process.js';
import { startUnbound } from '../helpers/unbound.js';

test('unbound stub-zone: A answers, NXDOMAIN with our SOA, NODATA', async (t) => {
  const gs = await spawnGsdns(t);
  const ub = await startUnbound(t, 'global', gs.dnsPort);
  if (!ub) return;

  const a = await dig(t, ub.port, ['reviews.bookinfo.global', 'A']);
  t.is(a!.status, 'NOERROR');
  t.deepEqual(answers(a!, 'A'), ['192.0.2.10']);
  t.false(a!.flags.includes('aa'), 'a recursive answer, relayed by unbound');
  t.true(a!.flags.includes('ra'));

  const local = await dig(t, ub.port, ['productpage.bookinfo.global', 'A']);
  t.deepEqual(answers(local!, 'A'), ['10.96.0.20']);

  const nx = await dig(t, ub.port, ['nosuch.bookinfo.global', 'A']);
  t.is(nx!.status, 'NXDOMAIN');
  const soa = nx!.authority.find((r) => r.type === 'SOA');
  t.truthy(soa, `NXDOMAIN through unbound carries our SOA:\n${nx!.raw}`);
  t.is(soa!.name, 'global.');
  t.regex(soa!.data, /^ns\.global\. hostmaster\.global\. /);
  t.true(soa!.ttl <= 5, 'negative TTL is ours (RFC 2308)');

  const nodata = await dig(t, ub.port, ['ratings.bookinfo.global', 'AAAA']);
  t.is(nodata!.status, 'NOERROR');
  t.is(nodata!.answer.length, 0);

  const ent = await dig(t, ub.port, ['bookinfo.global', 'A']);
  t.is(ent!.status, 'NOERROR', 'the namespace ENT is NODATA, so unbound does not cache a NXDOMAIN cut (RFC 8020)');
  const again = await dig(t, ub.port, ['details.bookinfo.global', 'A']);
  t.deepEqual(answers(again!, 'A').sort(), ['10.244.1.5', '10.244.2.7']);
});
