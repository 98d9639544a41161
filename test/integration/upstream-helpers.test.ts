/**
 * Self-test of the upstream helpers the forwarder tests stand on: a real knotd serving
 * exampleZone(), and the scripted upstream performing each fault action — both checked with real
 * clients (dig, kdig) or raw exchanges, so a forwarder test that fails is never the helper's fault.
 */
import test from 'ava';
import { answers, dig } from '../helpers/dig.js';
import {
  TcpDnsClient,
  craftQuery,
  kdig,
  optRR,
  parseReply,
  rawQuestion,
  tcpExchange,
  udpCollect,
  udpExchange,
} from '../helpers/dns-tools.js';
import { EXAMPLE_ZONE, bigTxtString, exampleZone, startKnot } from '../helpers/knot.js';
import {
  answerA,
  buildReply,
  closeConnection,
  delayed,
  noAnswer,
  nxdomain,
  servfail,
  startScriptedUpstream,
  truncatedOverUdp,
  txtRecord,
  wrongId,
  wrongQuestion,
} from '../helpers/scripted-upstream.js';

const zone = 'example.test';

// ---------------------------------------------------------------------------------------------
// knotd
// ---------------------------------------------------------------------------------------------

test('knot: A, AAAA, CNAME, HTTPS, short TTL, and NXDOMAIN with the SOA minimum we set', async (t) => {
  const knot = await startKnot(t, { zones: [{ name: zone, text: exampleZone({ soaMinimum: 7, soaTtl: 3600 }) }] });
  if (!knot) return;

  const a = await dig(t, knot.port, [`www.${zone}`, 'A']);
  if (!a) return;
  t.is(a.status, 'NOERROR');
  t.true(a.flags.includes('aa'), 'authoritative');
  t.deepEqual(answers(a, 'A'), [EXAMPLE_ZONE.wwwA]);
  t.is(a.answer[0]!.ttl, 300);

  const aaaa = await dig(t, knot.port, [`www.${zone}`, 'AAAA']);
  t.deepEqual(answers(aaaa!, 'AAAA'), [EXAMPLE_ZONE.wwwAAAA]);

  const multi = await dig(t, knot.port, [`multi.${zone}`, 'A']);
  t.deepEqual(answers(multi!, 'A').sort(), [...EXAMPLE_ZONE.multiA]);

  const alias = await dig(t, knot.port, [`alias.${zone}`, 'A']);
  t.deepEqual(answers(alias!, 'CNAME'), [`www.${zone}.`]);
  t.deepEqual(answers(alias!, 'A'), [EXAMPLE_ZONE.wwwA], 'in-zone CNAME target is chased');

  const https = await kdig(t, knot.port, [`svc.${zone}`, 'HTTPS']);
  t.is(https![0]!.status, 'NOERROR');
  t.is(https![0]!.answer.length, 1);
  t.regex(https![0]!.answer[0]!, /\tHTTPS\t1 \. alpn=h2$/);

  const short = await dig(t, knot.port, [`short.${zone}`, 'A']);
  t.deepEqual(answers(short!, 'A'), [EXAMPLE_ZONE.shortA]);
  t.is(short!.answer[0]!.ttl, 2);

  const nx = await dig(t, knot.port, [`nosuch.${zone}`, 'A']);
  t.is(nx!.status, 'NXDOMAIN');
  const soa = nx!.authority.find((r) => r.type === 'SOA');
  t.truthy(soa, nx!.raw);
  t.is(soa!.name, `${zone}.`);
  t.is(soa!.data.split(' ').pop(), '7', 'SOA MINIMUM as configured');
  t.is(soa!.ttl, 7, 'RFC 2308 §3: the SOA TTL in a negative answer is min(SOA TTL, MINIMUM)');
});

test('knot: the big TXT RRset is truncated over UDP and whole over TCP', async (t) => {
  const knot = await startKnot(t, { zones: [{ name: zone, text: exampleZone() }] });
  if (!knot) return;
  const q = (edns: boolean): Buffer =>
    craftQuery({ id: 0x1234, questions: [rawQuestion(`big.${zone}`, 16)], additional: edns ? [optRR({ udp: 1232 })] : [] });

  const plain = parseReply((await udpExchange(knot.port, q(false)))!);
  t.true(plain.tc, 'TC=1 without EDNS');
  t.true(plain.size <= 512);
  const edns = parseReply((await udpExchange(knot.port, q(true)))!);
  t.true(edns.tc, 'TC=1 with a 1232-octet EDNS buffer');
  t.true(edns.size <= 1232);

  const [full] = await tcpExchange(knot.port, [q(true)]);
  const r = parseReply(full!);
  t.false(r.tc);
  t.true(r.size > 1232, `whole answer is ${r.size} octets`);
  t.is(r.counts.an, EXAMPLE_ZONE.bigTxtCount);
  const strings = r.answers.map((a) => (a['data'] as string[] | string).toString()).sort();
  t.deepEqual(
    strings,
    Array.from({ length: EXAMPLE_ZONE.bigTxtCount }, (_, i) => bigTxtString(i)),
  );

  // The same through a real client: kdig sees TC over UDP (+ignore: no fallback), all 24 over TCP.
  const udp = await kdig(t, knot.port, [`big.${zone}`, 'TXT', '+bufsize=1232', '+ignore']);
  t.true(udp![0]!.flags.includes('tc'));
  const tcp = await kdig(t, knot.port, [`big.${zone}`, 'TXT', '+tcp']);
  t.is(tcp![0]!.answer.length, EXAMPLE_ZONE.bigTxtCount);
  t.is(tcp![0]!.transport, 'TCP');
});

test("knot: several zones, and a broken zone fails start-up with knotd's error", async (t) => {
  const knot = await startKnot(t, {
    zones: [
      { name: 'one.test', text: exampleZone({ origin: 'one.test' }) },
      { name: 'two.test.', text: exampleZone({ origin: 'two.test', soaMinimum: 3 }) },
    ],
  });
  if (!knot) return;
  const one = await dig(t, knot.port, ['www.one.test', 'A']);
  t.deepEqual(answers(one!, 'A'), [EXAMPLE_ZONE.wwwA]);
  const two = await dig(t, knot.port, ['nosuch.two.test', 'A']);
  t.is(two!.authority.find((r) => r.type === 'SOA')!.ttl, 3);

  const error = await t.throwsAsync(
    startKnot(t, { zones: [{ name: 'bad.test', text: '@ IN SOA ns hm 1 2 3 4 5\n@ IN NS ns\nx IN BOGUS 1\n' }] }),
  );
  t.regex(error.message, /\[bad\.test\.\].*line 3/);
});

// ---------------------------------------------------------------------------------------------
// Scripted upstream
// ---------------------------------------------------------------------------------------------

test('scripted: records the raw query (HTTPS type, EDNS options, case) over UDP and TCP; clear()', async (t) => {
  const up = await startScriptedUpstream(t);
  t.is(up.endpoint, `127.0.0.1:${up.port}`);
  // dig, not kdig: kdig lowercases the query name.
  const r = await dig(t, up.port, ['SvC.Example.TEST', 'HTTPS', '+ednsopt=65001:abcd', '+nocookie']);
  if (!r) return;
  t.is(r.status, 'NOERROR');
  t.is(up.queries.length, 1);
  const q = up.queries[0]!;
  t.is(q.transport, 'udp');
  t.is(q.name, 'SvC.Example.TEST', 'name as sent, 0x20 case kept');
  t.is(q.type, 65, 'type dns2 has no codec for');
  t.is(q.klass, 1);
  t.is(q.id, q.raw.readUInt16BE(0));
  t.deepEqual(q.opt?.options, [{ code: 65001, data: Buffer.from('abcd', 'hex') }], 'unknown EDNS option kept');
  t.is(q.from.address, '127.0.0.1');
  t.true(q.receivedAt > 0);

  await kdig(t, up.port, ['www.example.test', 'A', '+tcp']);
  t.is(up.queries.length, 2);
  t.is(up.queries[1]!.transport, 'tcp');
  t.is(up.queries[1]!.type, 1);

  up.clear();
  t.is(up.queries.length, 0);
  await udpExchange(up.port, craftQuery({ questions: [rawQuestion('x.test', 28)] }));
  t.true(await up.waitForQueries(1));
  t.is(up.queries[0]!.type, 28);
});

test('scripted: A records with a given TTL, SERVFAIL, NXDOMAIN with the SOA minimum', async (t) => {
  const up = await startScriptedUpstream(t, (q) => {
    if (q.name.startsWith('fail')) return servfail(q);
    if (q.name.startsWith('nx')) return nxdomain(q, { soaMinimum: 9, soaTtl: 600, zone: 'example.test' });
    return answerA(q, ['192.0.2.7', '192.0.2.8'], 42);
  });
  const a = await dig(t, up.port, ['ok.example.test', 'A']);
  if (!a) return;
  t.is(a.status, 'NOERROR');
  t.deepEqual(answers(a, 'A'), ['192.0.2.7', '192.0.2.8']);
  t.deepEqual(
    a.answer.map((x) => [x.name, x.ttl]),
    [
      ['ok.example.test.', 42],
      ['ok.example.test.', 42],
    ],
  );
  t.truthy(a.edns, 'OPT in the reply because the query had one');

  const f = await dig(t, up.port, ['fail.example.test', 'A']);
  t.is(f!.status, 'SERVFAIL');
  t.is(f!.answer.length, 0);

  const nx = await dig(t, up.port, ['nx.example.test', 'A']);
  t.is(nx!.status, 'NXDOMAIN');
  const soa = nx!.authority.find((r) => r.type === 'SOA')!;
  t.is(soa.name, 'example.test.');
  t.is(soa.ttl, 600);
  t.is(soa.data.split(' ').pop(), '9');
});

test('scripted: never answer, and answer raw bytes after a delay', async (t) => {
  const up = await startScriptedUpstream(t, noAnswer);
  const query = craftQuery({ id: 7, questions: [rawQuestion('silent.test')] });
  t.is(await udpExchange(up.port, query, { timeoutMs: 300 }), null);
  t.is(up.queries.length, 1, 'recorded even though never answered');
  t.deepEqual(up.queries[0]!.raw, query, 'raw bytes exactly as sent');

  const canned = Buffer.from('000881800001000000000000' + '0673696c656e74' + '0474657374' + '00' + '00010001', 'hex');
  up.setScript(() => delayed(canned, 300));
  const started = performance.now();
  const reply = await udpExchange(up.port, craftQuery({ id: 8, questions: [rawQuestion('silent.test')] }), { timeoutMs: 2000 });
  const elapsed = performance.now() - started;
  t.deepEqual(reply, canned, 'sent byte for byte');
  t.true(elapsed >= 280, `answered after ${elapsed.toFixed(0)} ms`);
});

test('scripted: wrong ID, wrong question, and several replies to one query', async (t) => {
  const up = await startScriptedUpstream(t, (q) => {
    if (q.name === 'id.test') return wrongId(q);
    if (q.name === 'qname.test') return wrongQuestion(q, { name: 'other.test' });
    if (q.name === 'qtype.test') return wrongQuestion(q, { type: 28 });
    // a spoof-shaped race: a wrong-ID reply first, then the right one 50 ms later
    return [wrongId(q), delayed(answerA(q, ['192.0.2.9'], 5), 50)];
  });
  const ask = async (name: string): Promise<ReturnType<typeof parseReply>> =>
    parseReply((await udpExchange(up.port, craftQuery({ id: 0x100, questions: [rawQuestion(name)] })))!);

  t.is((await ask('id.test')).id, 0x101);

  const qn = await ask('qname.test');
  t.is(qn.id, 0x100);
  t.deepEqual(qn.rawQuestion, rawQuestion('other.test', 1));
  const qt = await ask('qtype.test');
  t.deepEqual(qt.rawQuestion, rawQuestion('qtype.test', 28));

  const got = await udpCollect(up.port, craftQuery({ id: 0x200, questions: [rawQuestion('race.test')] }), 300);
  t.deepEqual(
    got.map((m) => m.readUInt16BE(0)),
    [0x201, 0x200],
  );
  t.deepEqual(
    parseReply(got[1]!).answers.map((a) => a['address']),
    ['192.0.2.9'],
  );
});

test('scripted: TC=1 over UDP, the full answer over TCP (dig retries over TCP)', async (t) => {
  const strings = Array.from({ length: 20 }, (_, i) => `${i}`.padStart(100, '-'));
  const up = await startScriptedUpstream(t, (q) => truncatedOverUdp(q, { answers: strings.map((s) => txtRecord([s], 60)) }));
  const r = await dig(t, up.port, ['big.test', 'TXT']);
  if (!r) return;
  t.is(r.answer.length, 20);
  t.false(r.flags.includes('tc'));
  t.deepEqual(
    up.queries.map((q) => q.transport),
    ['udp', 'tcp'],
  );
  const udp = parseReply((await udpExchange(up.port, craftQuery({ questions: [rawQuestion('big.test', 16)] })))!);
  t.true(udp.tc);
  t.is(udp.counts.an, 0);
});

test("scripted: reply OPT with an unknown option code and the query's options echoed; extended RCODE", async (t) => {
  const up = await startScriptedUpstream(t, (q) =>
    q.name === 'badvers.test'
      ? buildReply(q, { rcode: 16 })
      : answerA(q, ['192.0.2.1'], 60, { edns: { echoQueryOptions: true, options: [{ code: 65001, data: Buffer.from('hi') }] } }),
  );
  const query = craftQuery({
    questions: [rawQuestion('opt.test')],
    additional: [optRR({ options: [{ code: 65002, data: Buffer.from([1, 2, 3]) }] })],
  });
  const r = parseReply((await udpExchange(up.port, query))!);
  t.deepEqual(r.opt?.options, [
    { code: 65002, data: Buffer.from([1, 2, 3]) },
    { code: 65001, data: Buffer.from('hi') },
  ]);
  t.deepEqual(
    r.answers.map((a) => a['address']),
    ['192.0.2.1'],
  );

  const bv = parseReply((await udpExchange(up.port, craftQuery({ questions: [rawQuestion('badvers.test')], additional: [optRR()] })))!);
  t.is(bv.rcode, 0, 'BADVERS = 16: header RCODE 0 …');
  t.is(bv.opt?.extRcode, 1, '… and extended RCODE 1 in the OPT');
});

test('scripted: close the TCP connection without answering', async (t) => {
  const up = await startScriptedUpstream(t, () => closeConnection());
  const client = await TcpDnsClient.connect(up.port);
  t.teardown(() => client.destroy());
  client.send(craftQuery({ questions: [rawQuestion('close.test')] }));
  t.true(await client.waitFor(() => client.closed, 2000));
  t.is(client.replies.length, 0);
});

test('scripted: down() and up() on the same port', async (t) => {
  const up = await startScriptedUpstream(t);
  const port = up.port;
  const query = craftQuery({ questions: [rawQuestion('www.example.test')] });
  t.truthy(await udpExchange(port, query));
  t.true(up.isUp);

  // A pending delayed reply is dropped when the upstream goes down.
  up.setScript((q) => delayed(answerA(q, ['192.0.2.1'], 60), 200));
  const pending = udpExchange(port, query, { timeoutMs: 500 });
  await up.waitForQueries(2);
  await up.down();
  t.false(up.isUp);
  t.is(await pending, null);
  t.is(await udpExchange(port, query, { timeoutMs: 200 }), null, 'nothing answers UDP');
  const refused = await t.throwsAsync(TcpDnsClient.connect(port));
  t.is((refused as NodeJS.ErrnoException).code, 'ECONNREFUSED');
  t.is(up.queries.length, 2, 'nothing recorded while down');

  await up.up();
  t.true(up.isUp);
  t.is(up.port, port);
  up.setScript((q) => answerA(q, ['192.0.2.5'], 60));
  const back = parseReply((await udpExchange(port, query))!);
  t.deepEqual(
    back.answers.map((a) => a['address']),
    ['192.0.2.5'],
  );
  const [overTcp] = await tcpExchange(port, [query]);
  t.deepEqual(
    parseReply(overTcp!).answers.map((a) => a['address']),
    ['192.0.2.5'],
  );
});
