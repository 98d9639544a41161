/**
 * The DNS edge against real protocol peers (dig, kdig) and crafted packets, with the fake zone of
 * test/helpers/fake-handler.ts behind it. Every server binds 127.0.0.1 port 0 and is closed in
 * t.teardown.
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
  toolAvailable,
  udpExchange,
} from '../helpers/dns-tools.js';
import { startEdge } from '../helpers/fake-handler.js';

// ---------------------------------------------------------------------------------------------
// answers over UDP and TCP, same port
// ---------------------------------------------------------------------------------------------

test('dig over UDP: authoritative answer, NXDOMAIN with SOA', async (t) => {
  const { port, server } = await startEdge(t);
  const r = await dig(t, port, ['a.test.global', 'A']);
  if (!r) return;
  t.is(r.status, 'NOERROR');
  t.true(r.flags.includes('aa'));
  t.false(r.flags.includes('ra'));
  t.deepEqual(answers(r, 'A'), ['10.0.0.1']);
  t.regex(r.raw, /socket_protocol: UDP/);
  const nx = await dig(t, port, ['nope.test.global', 'A']);
  t.is(nx?.status, 'NXDOMAIN');
  t.deepEqual(
    nx?.authority.map((a) => a.type),
    ['SOA'],
  );
  t.is(server.stats().queries.udp, 2);
});

test('dig over TCP on the same port', async (t) => {
  const { port, server } = await startEdge(t);
  const r = await dig(t, port, ['+tcp', 'svc.test.global', 'A']);
  if (!r) return;
  t.is(r.status, 'NOERROR');
  t.deepEqual(answers(r, 'A'), ['10.0.0.4']);
  t.regex(r.raw, /socket_protocol: TCP/);
  t.is(server.stats().queries.tcp, 1);
  t.is(server.stats().tcpConnectionsAccepted, 1);
  const srv = await dig(t, port, ['+tcp', '_http._tcp.svc.test.global', 'SRV']);
  t.deepEqual(answers(srv!, 'SRV'), ['0 0 8080 svc.test.global.']);
  t.deepEqual(
    srv!.additional.map((a) => a.data),
    ['10.0.0.4'],
  );
});

test('an IPv6 listen address (::1) serves UDP and TCP on one port', async (t) => {
  const { port } = await startEdge(t, { address: '::1' });
  const udp = await dig(t, port, ['a.test.global'], '::1');
  if (!udp) return;
  t.deepEqual(answers(udp, 'A'), ['10.0.0.1']);
  const tcp = await dig(t, port, ['+tcp', 'a.test.global'], '::1');
  t.deepEqual(answers(tcp!, 'A'), ['10.0.0.1']);
  t.regex(tcp!.raw, /socket_protocol: TCP/);
});

test('kdig +keepopen sends several queries over one TCP connection', async (t) => {
  const { port, server } = await startEdge(t);
  const names = ['a.test.global', 'svc.test.global', 'big.test.global', 'nope.test.global'];
  const kept = await kdig(t, port, ['+tcp', '+keepopen', ...names]);
  if (!kept) return;
  t.deepEqual(
    kept.map((m) => m.status),
    ['NOERROR', 'NOERROR', 'NOERROR', 'NXDOMAIN'],
  );
  t.true(kept.every((m) => m.transport === 'TCP'));
  t.is(kept[2]!.answer.length, 100);
  t.is(server.stats().tcpConnectionsAccepted, 1, 'one connection for four queries');
  t.is(server.stats().queries.tcp, 4);
  // the counter does tell connections apart: without +keepopen kdig opens one per query
  const separate = await kdig(t, port, ['+tcp', ...names.slice(0, 2)]);
  t.is(separate!.length, 2);
  t.is(server.stats().tcpConnectionsAccepted, 3);
});

test('TCP pipelining: replies come back out of order, matched by ID (RFC 7766 §6.2.1.1)', async (t) => {
  const { port } = await startEdge(t, { zone: { slowMs: 150 } });
  const slow = craftQuery({ id: 1, questions: [rawQuestion('slow.test.global')] });
  const fast = craftQuery({ id: 2, questions: [rawQuestion('a.test.global')] });
  const replies = await tcpExchange(port, [slow, fast]);
  t.deepEqual(
    replies.map((r) => parseReply(r).id),
    [2, 1],
  );
  t.deepEqual(
    parseReply(replies[1]!).answers.map((a) => a['address']),
    ['10.0.0.5'],
  );
});

// ---------------------------------------------------------------------------------------------
// EDNS and ECS
// ---------------------------------------------------------------------------------------------

test('EDNS on: the OPT comes back advertising 1232 even when the client offers 4096', async (t) => {
  const { port } = await startEdge(t);
  const r = await dig(t, port, ['+bufsize=4096', 'a.test.global']);
  if (!r) return;
  t.is(r.edns?.udp, 1232);
  t.is(r.edns?.version, 0);
  const dnssec = await dig(t, port, ['+dnssec', 'a.test.global']);
  t.regex(String(dnssec!.edns?.flags), /do/, 'DO echoed (RFC 3225)');
});

test('EDNS off: no OPT in the reply', async (t) => {
  const { port } = await startEdge(t);
  const r = await dig(t, port, ['+noedns', 'a.test.global']);
  if (!r) return;
  t.is(r.status, 'NOERROR');
  t.is(r.edns, undefined);
  t.notRegex(r.raw, /OPT_PSEUDOSECTION/);
});

test('+subnet is ignored entirely when ECS is off: no ECS option in the reply, none seen by the handler', async (t) => {
  const { port, zone } = await startEdge(t, { ecsEnabled: false });
  const r = await dig(t, port, ['+subnet=192.0.2.0/24', 'ecs.test.global']);
  if (!r) return;
  t.is(r.status, 'NOERROR');
  t.truthy(r.edns);
  t.is(r.edns?.['CLIENT-SUBNET'], undefined);
  t.notRegex(r.raw, /CLIENT-SUBNET/);
  t.is(zone.calls.at(-1)?.edns?.ecs, undefined);
});

test('with ECS on, the option is echoed with the scope the answer depended on', async (t) => {
  const { port, zone } = await startEdge(t, { ecsEnabled: true });
  const r = await dig(t, port, ['+subnet=192.0.2.0/24', 'ecs.test.global']);
  if (!r) return;
  t.is(r.edns?.['CLIENT-SUBNET'], '192.0.2.0/24/24');
  t.like(zone.calls.at(-1)?.edns?.ecs, { family: 1, sourcePrefix: 24, address: '192.0.2.0' });
  // an answer that does not depend on the subnet: scope 0
  const other = await dig(t, port, ['+subnet=192.0.2.0/24', 'a.test.global']);
  t.is(other!.edns?.['CLIENT-SUBNET'], '192.0.2.0/24/0');
});

// ---------------------------------------------------------------------------------------------
// case, truncation
// ---------------------------------------------------------------------------------------------

test('the question and the answer owner echo the client case', async (t) => {
  const { port, zone } = await startEdge(t);
  const r = await dig(t, port, ['A.tEsT.gLoBaL', 'A']);
  if (!r) return;
  t.deepEqual(r.question, ['A.tEsT.gLoBaL. IN A']);
  t.is(r.answer[0]?.name, 'A.tEsT.gLoBaL.');
  t.deepEqual(answers(r, 'A'), ['10.0.0.1']);
  t.is(zone.calls[0]?.question.name, 'a.test.global', 'matching is case-insensitive');
});

test('a UDP answer too big for 1232 octets: TC=1 with OPT kept (+ignore), then dig retries over TCP', async (t) => {
  const { port, server } = await startEdge(t);
  const truncated = await dig(t, port, ['+ignore', 'big.test.global']);
  if (!truncated) return;
  t.true(truncated.flags.includes('tc'));
  t.truthy(truncated.edns, 'OPT present in the truncated reply');
  t.true(truncated.answer.length > 0 && truncated.answer.length < 100);
  const size = Number(/message_size: (\d+)b/.exec(truncated.raw)?.[1]);
  t.true(size <= 1232, `truncated reply is ${size} octets`);
  const full = await dig(t, port, ['big.test.global']);
  t.false(full!.flags.includes('tc'));
  t.is(full!.answer.length, 100);
  t.regex(full!.raw, /socket_protocol: TCP/);
  t.is(server.stats().truncated, 2);
});

test('without EDNS the truncation limit is 512 octets', async (t) => {
  const { port } = await startEdge(t);
  const reply = await udpExchange(port, craftQuery({ questions: [rawQuestion('big.test.global')] }));
  const r = parseReply(reply!);
  t.true(r.tc);
  t.true(r.size <= 512);
  t.is(r.opt, undefined);
});

// ---------------------------------------------------------------------------------------------
// FORMERR / NOTIMP read from raw replies, UDP and TCP
// ---------------------------------------------------------------------------------------------

// The third element: whether the FORMERR carries an OPT. It does when the one OPT was found and its
// fixed part read, even if an option in it is malformed (RFC 6891 §6.1.1).
const formerrCases: Array<[string, Buffer, boolean?]> = [
  ['QDCOUNT=2', craftQuery({ id: 0x0102, questions: [rawQuestion('a.test.global'), rawQuestion('svc.test.global')] })],
  ['two OPT records', craftQuery({ id: 0x0103, additional: [optRR(), optRR()] })],
  ['an OPT option overrunning its RDATA', craftQuery({ id: 0x0104, additional: [optRR({ rdata: Buffer.from([0, 99, 0, 40, 1]) })] }), true],
];
for (const [title, message, withOpt] of formerrCases) {
  test(`FORMERR for ${title}, over UDP and TCP`, async (t) => {
    const { port, zone, server } = await startEdge(t);
    const udp = parseReply((await udpExchange(port, message))!);
    const [tcpReply] = await tcpExchange(port, [message]);
    const tcp = parseReply(tcpReply!);
    for (const r of [udp, tcp]) {
      t.like(r, { id: message.readUInt16BE(0), qr: true, rcode: 1, rd: true, counts: { an: 0, ns: 0 } });
      if (withOpt) t.like(r.opt, { udp: 1232, version: 0, options: [] }, 'the OPT was readable: the FORMERR has one');
      else t.is(r.opt, undefined, 'no OPT: the query had no valid one');
    }
    t.is(zone.calls.length, 0);
    t.is(server.stats().formerr, 2);
  });
}

for (const [opcode, label] of [
  [4, 'NOTIFY'],
  [2, 'STATUS'],
  [5, 'UPDATE'],
] as const) {
  test(`NOTIMP for opcode ${opcode} (${label}), opcode and question echoed`, async (t) => {
    const { port, zone, server } = await startEdge(t);
    const message = craftQuery({ id: 0x2000 + opcode, opcode });
    for (const raw of [await udpExchange(port, message), (await tcpExchange(port, [message]))[0]]) {
      const r = parseReply(raw!);
      t.like(r, { id: 0x2000 + opcode, opcode, rcode: 4, qr: true });
      t.deepEqual(r.rawQuestion, rawQuestion('a.test.global'));
    }
    t.is(zone.calls.length, 0);
    t.is(server.stats().notimp, 2);
  });
}

// ---------------------------------------------------------------------------------------------
// handler failures
// ---------------------------------------------------------------------------------------------

for (const name of ['throw.test.global', 'reject.test.global', 'badrecord.test.global']) {
  test(`${name}: SERVFAIL and exactly one log line, over UDP and TCP`, async (t) => {
    const { port, server, log } = await startEdge(t);
    const message = craftQuery({ id: 99, questions: [rawQuestion(name)], additional: [optRR()] });
    const udp = parseReply((await udpExchange(port, message))!);
    t.like(udp, { id: 99, rcode: 2 });
    t.truthy(udp.opt, 'SERVFAIL still carries OPT');
    const tcp = parseReply((await tcpExchange(port, [message]))[0]!);
    t.like(tcp, { id: 99, rcode: 2 });
    t.is(server.stats().servfailOnException, 2);
    t.is(log.lines.filter((l) => l.level === 'error').length, 2);
  });
}

// ---------------------------------------------------------------------------------------------
// TCP lifecycle
// ---------------------------------------------------------------------------------------------

test('TCP idle timeout destroys the connection; an active one stays open', async (t) => {
  // 2 s of idleness; the active connection is never quiet for more than a round trip and 50 ms, so
  // only a stall of seconds (not a busy machine's usual delays) could make it look idle.
  const { port, server } = await startEdge(t, { limits: { tcpIdleTimeoutMs: 2000 } });
  const idle = await TcpDnsClient.connect(port, { allowHalfOpen: true });
  const active = await TcpDnsClient.connect(port);
  t.teardown(() => {
    idle.destroy();
    active.destroy();
  });
  const started = Date.now();
  // Keep `active` busy, a query after each answer, until the server closes the idle one (bounded).
  let sent = 0;
  while (sent < 5000 && !(idle.ended || idle.closed) && Date.now() - started < 30_000) {
    active.send(craftQuery({ id: sent & 0xffff }));
    sent++;
    await active.waitFor(() => active.replies.length === sent, 10_000);
    await new Promise((r) => setTimeout(r, 50));
  }
  t.true(idle.ended || idle.closed, 'idle connection closed by the server');
  const elapsed = Date.now() - started;
  t.true(elapsed >= 1900, `closed after ${elapsed} ms (idle timeout 2000)`);
  t.is(active.replies.length, sent);
  t.false(active.closed, 'the active connection is still open');
  t.is(server.stats().tcpIdleTimeouts, 1);
  // server side the idle socket is gone entirely, although the client never closed its side
  t.is(server.stats().tcpConnectionsOpen, 1);
});

test('a framed message shorter than a header closes the connection', async (t) => {
  const { port, zone } = await startEdge(t);
  const client = await TcpDnsClient.connect(port);
  t.teardown(() => client.destroy());
  client.sendRaw(Buffer.from([0, 5, 1, 2, 3, 4, 5]));
  t.true(await client.waitFor(() => client.closed || client.ended, 1000));
  t.is(client.replies.length, 0);
  const zeroLength = await TcpDnsClient.connect(port);
  t.teardown(() => zeroLength.destroy());
  zeroLength.sendRaw(Buffer.from([0, 0]));
  t.true(await zeroLength.waitFor(() => zeroLength.closed || zeroLength.ended, 1000));
  t.is(zone.calls.length, 0);
});

test('a message split across many tiny TCP segments is reassembled', async (t) => {
  // The message deadline (1 s by default) is another test's subject: room for a busy machine here.
  const { port } = await startEdge(t, { limits: { tcpMessageTimeoutMs: 30_000 } });
  const client = await TcpDnsClient.connect(port);
  t.teardown(() => client.destroy());
  client.socket.setNoDelay(true);
  const framed = Buffer.concat([Buffer.from([0, 0]), craftQuery({ id: 7 })]);
  framed.writeUInt16BE(framed.length - 2, 0);
  for (const byte of framed) {
    client.sendRaw(Buffer.from([byte]));
    await new Promise((r) => setImmediate(r));
  }
  t.true(await client.waitFor(() => client.replies.length === 1, 20_000));
  t.is(parseReply(client.replies[0]!).id, 7);
});

test('close() stops both listeners and destroys open connections', async (t) => {
  const { port, server } = await startEdge(t);
  const client = await TcpDnsClient.connect(port);
  t.teardown(() => client.destroy());
  await server.close();
  t.true(await client.waitFor(() => client.closed || client.ended, 1000));
  t.is(await udpExchange(port, craftQuery(), { timeoutMs: 200 }), null);
  await t.throwsAsync(TcpDnsClient.connect(port));
  t.deepEqual(server.addresses(), []);
});

test('start() with port 0 gives UDP and TCP the same port, and addresses() reports it', async (t) => {
  const { port, server } = await startEdge(t);
  t.deepEqual(server.addresses(), [{ address: '127.0.0.1', port, family: 'IPv4' }]);
  t.truthy(await udpExchange(port, craftQuery()));
  t.is((await tcpExchange(port, [craftQuery()])).length, 1);
});

test('the tool policy helper reports installed tools', async (t) => {
  // dig/kdig are what this file relies on; make the environment visible in the test output
  for (const tool of ['dig', 'kdig']) t.log(`${tool}: ${(await toolAvailable(tool)) ? 'installed' : 'MISSING'}`);
  t.false(await toolAvailable('definitely-not-a-dns-tool'));
});
