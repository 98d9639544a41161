/**
 * One test per dns2 defect of KNOWN-DEFECTS.md that the DNS edge must neutralise (D1–D11; D12/D13
 * belong to the forwarder). Crafted packets go over UDP and TCP where the defect applies, and after
 * each attack the server must still answer a normal query within 100 ms.
 *
 * Serial on purpose: these tests measure bounded time and back-pressure, and must not compete with
 * each other for the CPU.
 */
import test from 'ava';
import { connect } from 'node:net';
import { isUnanswerableSource } from '../../src/dns/server.js';
import {
  TcpDnsClient,
  assertStillAnswers,
  craftQuery,
  frame,
  nameOf,
  optRR,
  parseReply,
  rawQuestion,
  rawRR,
  requireRawUdp,
  sendRawUdp,
  tcpExchange,
  udpCollect,
  udpExchange,
  wireName,
} from '../helpers/dns-tools.js';
import { startEdge } from '../helpers/fake-handler.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// D1: impossible section counts cost nothing
// ---------------------------------------------------------------------------------------------

test.serial('D1: headers with all counts 0xFFFF get FORMERR at once, over UDP and TCP, and never reach the handler', async (t) => {
  const { port, zone, server } = await startEdge(t);
  const attack = craftQuery({ id: 0xd1d1, questions: [], counts: { qd: 0xffff, an: 0xffff, ns: 0xffff, ar: 0xffff } });
  t.is(attack.length, 12);
  const started = process.hrtime.bigint();
  // five of them, as in the original report, over each transport
  const udp = await Promise.all(Array.from({ length: 5 }, () => udpExchange(port, attack, { timeoutMs: 1000 })));
  const tcp = await tcpExchange(
    port,
    Array.from({ length: 5 }, () => attack),
  );
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  for (const reply of [...udp, ...tcp]) {
    t.like(parseReply(reply!), { id: 0xd1d1, qr: true, rcode: 1, counts: { qd: 0, an: 0, ns: 0, ar: 0 } });
  }
  t.is(tcp.length, 5);
  t.log(`ten replies took ${elapsedMs.toFixed(0)} ms`);
  t.is(zone.calls.length, 0);
  t.is(server.stats().formerr, 10);
  await assertStillAnswers(t, port);
});

// ---------------------------------------------------------------------------------------------
// D2: size caps and linear parsing
// ---------------------------------------------------------------------------------------------

test.serial('D2: a 65 KB TCP query with a huge unknown EDNS option is answered quickly and stalls nothing', async (t) => {
  const { port, zone } = await startEdge(t);
  const base = craftQuery({ id: 0xd2, additional: [optRR({ options: [{ code: 65001, data: Buffer.alloc(0) }] })] });
  const pad = 65535 - base.length;
  const huge = craftQuery({ id: 0xd2, additional: [optRR({ options: [{ code: 65001, data: Buffer.alloc(pad, 0xab) }] })] });
  t.is(huge.length, 65535);
  const client = await TcpDnsClient.connect(port);
  t.teardown(() => client.destroy());
  const started = process.hrtime.bigint();
  client.send(huge);
  // while it is in flight, another client is served
  await assertStillAnswers(t, port);
  t.true(await client.waitFor(() => client.replies.length === 1, 2000), 'the huge query is answered');
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  const r = parseReply(client.replies[0]!);
  t.like(r, { id: 0xd2, rcode: 0 });
  t.deepEqual(
    r.answers.map((a) => a['address']),
    ['10.0.0.1'],
  );
  t.truthy(r.opt, 'unknown option ignored, OPT answered');
  t.log(`answered in ${elapsedMs.toFixed(0)} ms`);
  t.is(zone.calls.length, 2);
  await assertStillAnswers(t, port);
});

test.serial('D2: oversized UDP queries are dropped unparsed (>4096, or >512 without EDNS)', async (t) => {
  const { port, zone, server } = await startEdge(t);
  const over4096 = craftQuery({ additional: [optRR({ options: [{ code: 65001, data: Buffer.alloc(4097 - 46) }] })] });
  t.true(over4096.length > 4096);
  const noEdns600 = craftQuery({ additional: [rawRR({ type: 99, rdata: Buffer.alloc(560) })] });
  t.true(noEdns600.length > 512);
  const edns600 = craftQuery({ id: 0x600, additional: [optRR({ options: [{ code: 65001, data: Buffer.alloc(560) }] })] });
  t.is(await udpExchange(port, over4096, { timeoutMs: 300 }), null);
  t.is(await udpExchange(port, noEdns600, { timeoutMs: 300 }), null);
  t.like(parseReply((await udpExchange(port, edns600))!), { id: 0x600, rcode: 0 });
  t.is(server.stats().dropped, 2);
  t.is(zone.calls.length, 1);
  await assertStillAnswers(t, port);
});

// ---------------------------------------------------------------------------------------------
// D3: never answer a response
// ---------------------------------------------------------------------------------------------

test.serial('D3: a message with QR=1 gets no reply over UDP, and closes a TCP connection', async (t) => {
  const { port, zone, server } = await startEdge(t);
  const response = craftQuery({ qr: true, id: 0xd3 });
  t.deepEqual(await udpCollect(port, response, 300), []);
  const client = await TcpDnsClient.connect(port);
  t.teardown(() => client.destroy());
  client.send(response);
  t.true(await client.waitFor(() => client.closed || client.ended, 1000), 'connection closed');
  t.is(client.replies.length, 0);
  t.is(zone.calls.length, 0);
  t.is(server.stats().dropped, 2);
  await assertStillAnswers(t, port);
});

test.serial("D3: a response spoofed from the server's own address and port does not start a self-loop", async (t) => {
  if (!(await requireRawUdp(t))) return;
  const { port, zone, server } = await startEdge(t);
  // Source = destination = the server's socket: if it answered, it would answer itself forever.
  // Datagrams to one socket are handled in order, so a probe answered after the spoof shows what the
  // spoof caused: had the server answered itself, its own reply would have been queued before the
  // probe, and a loop keeps queueing more.
  await sendRawUdp({ src: '127.0.0.1', srcPort: port, dst: '127.0.0.1', dstPort: port, payload: craftQuery({ qr: true, id: 0x5e1f }) });
  await assertStillAnswers(t, port);
  const after = server.stats();
  t.is(after.queries.udp, 2, 'the spoofed message arrived exactly once, then the probe, and nothing else');
  t.is(after.dropped, 1);
  t.is(zone.calls.length, 1, 'only the probe reached the zone');
  // The same spoof with QR=0 is answered — to itself — once, and that answer (QR=1) is dropped:
  // the loop is broken after one round. The answer to itself is sent while the query is handled,
  // which is before the first probe is answered, so it is queued before the second probe.
  await sendRawUdp({ src: '127.0.0.1', srcPort: port, dst: '127.0.0.1', dstPort: port, payload: craftQuery({ id: 0x5e20 }) });
  await assertStillAnswers(t, port);
  await assertStillAnswers(t, port);
  const looped = server.stats();
  t.is(looped.queries.udp, 6, 'the query, our own reply to it, and the two probes');
  t.is(looped.dropped, 2);
  await assertStillAnswers(t, port);
  t.is(server.stats().queries.udp, 7, 'nothing arrived between two probes');
});

// ---------------------------------------------------------------------------------------------
// D4: source port 0 and failed sends
// ---------------------------------------------------------------------------------------------

test.serial('D4: source port 0 is recognised as unanswerable (unit level)', (t) => {
  t.true(isUnanswerableSource({ port: 0 }));
  t.false(isUnanswerableSource({ port: 53 }));
  t.false(isUnanswerableSource({ port: 65535 }));
});

test.serial('D4: a real datagram from source port 0 (raw socket) is dropped without a send', async (t) => {
  if (!(await requireRawUdp(t))) return;
  const { port, zone, server } = await startEdge(t);
  await sendRawUdp({ src: '127.0.0.1', srcPort: 0, dst: '127.0.0.1', dstPort: port, payload: craftQuery({ id: 0xd4 }) });
  // Datagrams to one socket are handled in order: once a later query is answered, the raw one was
  // handled too (no sleep standing in for "nothing happened").
  await assertStillAnswers(t, port);
  const s = server.stats();
  t.is(s.queries.udp, 2, 'the datagram arrived, then the probe');
  t.is(s.dropped, 1);
  t.is(s.sendErrors, 0, 'no send was attempted');
  t.is(zone.calls.length, 1, 'only the probe reached the zone');
});

test.serial('D4: a send that fails (the socket closed while the answer was computed) never crashes the process', async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => process.off('unhandledRejection', onUnhandled));
  const { port, zone, server } = await startEdge(t, { zone: { slowMs: 150 } });
  // slow.test.global resolves 150 ms later; by then the UDP socket is closed, so send() throws
  // ERR_SOCKET_DGRAM_NOT_RUNNING synchronously — what dns2 turns into an unhandled rejection.
  const sent = udpExchange(port, craftQuery({ questions: [rawQuestion('slow.test.global')] }), { timeoutMs: 400 });
  await sleep(50);
  t.is(zone.pending(), 1);
  await server.close();
  t.is(await sent, null);
  t.is(zone.pending(), 0);
  await sleep(50);
  t.is(server.stats().sendErrors, 1, 'the failed send was caught and counted');
  t.deepEqual(unhandled, []);
  // the process is alive and a fresh server works
  const fresh = await startEdge(t);
  await assertStillAnswers(t, fresh.port);
});

// ---------------------------------------------------------------------------------------------
// D5: no question; throwing handlers
// ---------------------------------------------------------------------------------------------

test.serial('D5: a query with no question gets FORMERR and never reaches the handler', async (t) => {
  const { port, zone } = await startEdge(t);
  const empty = craftQuery({ id: 0xd5, questions: [] });
  const udp = parseReply((await udpExchange(port, empty))!);
  const tcp = parseReply((await tcpExchange(port, [empty]))[0]!);
  for (const r of [udp, tcp]) t.like(r, { id: 0xd5, rcode: 1, counts: { qd: 0 } });
  t.is(zone.calls.length, 0);
  await assertStillAnswers(t, port);
});

test.serial('D5: an async handler that rejects gets SERVFAIL; the rejection never escapes', async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => process.off('unhandledRejection', onUnhandled));
  const { port, log } = await startEdge(t);
  for (const name of ['reject.test.global', 'throw.test.global']) {
    const r = parseReply((await udpExchange(port, craftQuery({ questions: [rawQuestion(name)] })))!);
    t.is(r.rcode, 2, name);
  }
  await sleep(20);
  t.deepEqual(unhandled, []);
  t.is(log.lines.filter((l) => l.level === 'error').length, 2, 'one log line per failure');
  await assertStillAnswers(t, port);
});

// ---------------------------------------------------------------------------------------------
// D6: idle connections are destroyed; connection caps
// ---------------------------------------------------------------------------------------------

test.serial('D6: an idle client that ignores FIN is destroyed, not left half-open', async (t) => {
  const { port, server } = await startEdge(t, { limits: { tcpIdleTimeoutMs: 300 } });
  // allowHalfOpen: this client never closes its side when the server's FIN arrives
  const client = await TcpDnsClient.connect(port, { allowHalfOpen: true });
  t.teardown(() => client.destroy());
  client.send(craftQuery({ id: 1 }));
  t.true(await client.waitFor(() => client.replies.length === 1, 1000));
  t.is(server.stats().tcpConnectionsOpen, 1);
  t.true(await client.waitFor(() => client.ended, 2000), 'the server closed its side');
  t.false(client.closed, 'the client still holds its half');
  await sleep(50);
  t.is(server.stats().tcpConnectionsOpen, 0, 'server-side socket fully released');
  t.is(server.stats().tcpIdleTimeouts, 1);
  // A destroyed socket answers further data with RST (so the next write fails with EPIPE or
  // ECONNRESET); a merely half-closed one would have read and answered it.
  client.send(craftQuery({ id: 2 }));
  await sleep(50);
  client.send(craftQuery({ id: 3 }));
  t.true(await client.waitFor(() => client.error !== undefined, 1000), 'peer is gone (RST)');
  t.regex(String(client.error?.code), /EPIPE|ECONNRESET/);
  t.is(client.replies.length, 1);
  await assertStillAnswers(t, port);
});

/** Connect, and have one query answered, so the server has accepted it (in this order). */
async function answeredConnection(port: number, id: number, localAddress?: string): Promise<TcpDnsClient> {
  const client = await TcpDnsClient.connect(port, localAddress ? { localAddress } : {});
  client.send(craftQuery({ id }));
  if (!(await client.waitFor(() => client.replies.length === 1, 5000))) throw new Error(`connection ${id} was not answered`);
  return client;
}

/** Bounded wait for a condition only the server can see (e.g. the handler's pending count). */
async function until(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  for (const started = Date.now(); Date.now() - started < timeoutMs; await sleep(10)) if (predicate()) return true;
  return predicate();
}

const slowQuery = (id: number): Buffer => craftQuery({ id, questions: [rawQuestion('slow.test.global')] });

// Issue 12 changed the policy: at a cap, an idle connection makes room instead of the newcomer
// being refused; refusal is left for when every connection has a query in flight.
test.serial('D6: at the total cap the oldest idle connection makes room; when all are busy the newcomer is refused', async (t) => {
  const { port, server, zone } = await startEdge(t, { limits: { maxTcpConnections: 3 }, zone: { slowMs: 3000 } });
  const clients: TcpDnsClient[] = [];
  t.teardown(() => clients.forEach((c) => c.destroy()));
  for (let i = 0; i < 3; i++) clients.push(await answeredConnection(port, i));
  const [oldest, second, third] = clients as [TcpDnsClient, TcpDnsClient, TcpDnsClient];
  // the oldest becomes the most recently active; `second` is now the least recently active
  oldest.send(craftQuery({ id: 10 }));
  t.true(await oldest.waitFor(() => oldest.replies.length === 2, 5000));

  const extra = await answeredConnection(port, 3);
  clients.push(extra);
  t.true(await second.waitFor(() => second.closed, 5000), 'the least recently active connection was closed');
  t.false(oldest.closed || third.closed);
  t.like(server.stats(), { tcpEvictedIdle: 1, tcpConnectionsRejected: 0, tcpConnectionsOpen: 3 });

  // every open connection now has a query in flight: nothing may be evicted
  for (const [i, c] of [oldest, third, extra].entries()) c.send(slowQuery(20 + i));
  t.true(await until(() => zone.pending() === 3, 5000), 'three queries in flight');
  const refused = await TcpDnsClient.connect(port);
  clients.push(refused);
  refused.send(craftQuery({ id: 30 }));
  t.true(await refused.waitFor(() => refused.closed || refused.ended, 5000), 'the newcomer was refused');
  t.is(refused.replies.length, 0);
  t.like(server.stats(), { tcpConnectionsRejected: 1, tcpEvictedIdle: 1 });
  // the busy connections were untouched and get their answers
  for (const [c, expected] of [
    [oldest, 3],
    [third, 2],
    [extra, 2],
  ] as const) {
    t.true(await c.waitFor(() => c.replies.length === expected, 10_000), 'the slow answer arrived');
  }
  await assertStillAnswers(t, port);
});

test.serial("D6: at the per-client cap the client's own oldest idle connection makes room; other clients are unaffected", async (t) => {
  const { port, server, zone } = await startEdge(t, {
    limits: { maxTcpConnectionsPerClient: 2, maxTcpConnections: 10 },
    zone: { slowMs: 3000 },
  });
  const clients: TcpDnsClient[] = [];
  t.teardown(() => clients.forEach((c) => c.destroy()));
  // 127.0.0.2 is another client (all of 127/8 is loopback on Linux); its connection is the oldest
  const other = await answeredConnection(port, 1, '127.0.0.2');
  const mine1 = await answeredConnection(port, 2);
  const mine2 = await answeredConnection(port, 3);
  const mine3 = await answeredConnection(port, 4);
  clients.push(other, mine1, mine2, mine3);
  t.true(await mine1.waitFor(() => mine1.closed, 5000), "the client's own oldest connection made room");
  t.false(other.closed, "another client's older connection was not touched");
  other.send(craftQuery({ id: 5 }));
  t.true(await other.waitFor(() => other.replies.length === 2, 5000), 'another client is served');
  t.like(server.stats(), { tcpEvictedIdle: 1, tcpConnectionsRejected: 0 });

  // both of this client's connections busy: its next one is refused, while other clients still get in
  mine2.send(slowQuery(6));
  mine3.send(slowQuery(7));
  t.true(await until(() => zone.pending() === 2, 5000), 'two queries in flight');
  const refused = await TcpDnsClient.connect(port);
  clients.push(refused);
  t.true(await refused.waitFor(() => refused.closed || refused.ended, 5000), "the client's third connection was refused");
  const another = await answeredConnection(port, 8, '127.0.0.3');
  clients.push(another);
  t.like(server.stats(), { tcpConnectionsRejected: 1, tcpEvictedIdle: 1 });
  await assertStillAnswers(t, port);
});

// ---------------------------------------------------------------------------------------------
// D7: back-pressure
// ---------------------------------------------------------------------------------------------

test.serial('D7: a client that pipelines thousands of queries and never reads is throttled, not buffered', async (t) => {
  const { port, zone, server } = await startEdge(t, { limits: { tcpIdleTimeoutMs: 1500 } });
  const query = frame(craftQuery({ questions: [rawQuestion('big.test.global')] }));
  const total = 20_000; // ≈ 33 MB of replies (1.6 KB each) if all were answered
  const socket = connect({ port, host: '127.0.0.1' });
  socket.pause(); // never read
  socket.on('error', () => {});
  t.teardown(() => socket.destroy());
  await new Promise((r) => socket.once('connect', r));
  socket.write(Buffer.concat(Array.from({ length: total }, () => query)));

  // wait until the server stops taking queries
  let answered = -1;
  for (let i = 0; i < 50 && answered !== zone.calls.length; i++) {
    answered = zone.calls.length;
    await sleep(100);
  }
  const s = server.stats();
  t.true(s.tcpReadPauses >= 1, 'reading was paused');
  t.true(answered < total / 2, `only ${answered} of ${total} queries were taken while the client did not read`);
  t.true(s.tcpWriteBacklogHighWater < 64 * 1024, `user-space write backlog peaked at ${s.tcpWriteBacklogHighWater} octets`);
  // ≈ 700 KB of queries were sent; the server stopped reading instead of buffering them
  t.true(s.tcpReadBacklogHighWater < 256 * 1024, `user-space read backlog peaked at ${s.tcpReadBacklogHighWater} octets`);
  // steady: nothing more is processed while the client stays silent
  await sleep(300);
  t.is(zone.calls.length, answered);
  // others are still served meanwhile
  await assertStillAnswers(t, port);
  // and the stuck connection is reclaimed by the idle timeout (no octet moves either way)
  for (let i = 0; i < 40 && server.stats().tcpConnectionsOpen > 0; i++) await sleep(100);
  t.is(server.stats().tcpConnectionsOpen, 0);
  t.is(server.stats().tcpIdleTimeouts, 1);
  await assertStillAnswers(t, port);
});

test.serial('D7: in-flight queries per connection never exceed the cap; reading resumes as they complete', async (t) => {
  const cap = 8;
  const { port, zone, server } = await startEdge(t, { limits: { maxInFlightPerConnection: cap }, zone: { slowMs: 30 } });
  let maxPending = 0;
  const client = await TcpDnsClient.connect(port);
  t.teardown(() => client.destroy());
  const watch = setInterval(() => {
    maxPending = Math.max(maxPending, zone.pending());
  }, 1);
  t.teardown(() => clearInterval(watch));
  const n = 100;
  for (let i = 0; i < n; i++) client.send(craftQuery({ id: i, questions: [rawQuestion('slow.test.global')] }));
  t.true(await client.waitFor(() => client.replies.length === n, 5000), `${client.replies.length} of ${n} answered`);
  t.deepEqual(new Set(client.replies.map((r) => parseReply(r).id)).size, n, 'every query answered once');
  const s = server.stats();
  t.is(s.tcpInFlightHighWater, cap, 'the cap was reached and never exceeded');
  t.true(maxPending <= cap, `handler saw at most ${maxPending} concurrent queries`);
  t.true(s.tcpReadPauses >= 1);
  await assertStillAnswers(t, port);
});

// ---------------------------------------------------------------------------------------------
// D8: a label containing '.'
// ---------------------------------------------------------------------------------------------

test.serial('D8: a label containing "." is echoed byte for byte and does not resolve as the two-label name', async (t) => {
  const { port, zone } = await startEdge(t);
  const dotted = rawQuestion(wireName([Buffer.from('A.b'), 'TeSt', 'global']));
  const query = craftQuery({ id: 0xd8, questions: [dotted], additional: [optRR()] });
  for (const raw of [await udpExchange(port, query), (await tcpExchange(port, [query]))[0]]) {
    const r = parseReply(raw!);
    t.deepEqual(r.rawQuestion, dotted, 'question echoed byte for byte');
    t.is(r.rcode, 3, 'NXDOMAIN: "a\\.b" is one label');
    t.is(r.counts.an, 0);
  }
  t.is(zone.calls[0]?.question.name, 'a\\.b.test.global');
  // the real two-label name does resolve
  const two = parseReply((await udpExchange(port, craftQuery({ questions: [rawQuestion('a.b.test.global')] })))!);
  t.deepEqual(
    two.answers.map((a) => a['address']),
    ['10.0.0.2'],
  );
  await assertStillAnswers(t, port);
});

// ---------------------------------------------------------------------------------------------
// D9: EDNS errors
// ---------------------------------------------------------------------------------------------

const d9Formerr: Array<[string, Buffer]> = [
  ['two OPT records', craftQuery({ id: 0xd901, additional: [optRR(), optRR()] })],
  ['OPT in the answer section', craftQuery({ id: 0xd902, answers: [optRR()] })],
  ['OPT in the authority section', craftQuery({ id: 0xd903, authority: [optRR()] })],
  ['a non-root OPT owner', craftQuery({ id: 0xd904, additional: [optRR({ owner: nameOf('evil') })] })],
];
for (const [title, query] of d9Formerr) {
  test.serial(`D9: ${title} → FORMERR over UDP and TCP`, async (t) => {
    const { port, zone } = await startEdge(t);
    for (const raw of [await udpExchange(port, query), (await tcpExchange(port, [query]))[0]]) {
      t.like(parseReply(raw!), { id: query.readUInt16BE(0), rcode: 1, qr: true });
    }
    t.is(zone.calls.length, 0);
    await assertStillAnswers(t, port);
  });
}

test.serial('D9: EDNS version 1 → BADVERS, carried in an OPT (header rcode 0, extended rcode 1)', async (t) => {
  const { port, zone, server } = await startEdge(t);
  const query = craftQuery({ id: 0xd9, additional: [optRR({ version: 1, dnssecOk: true })] });
  for (const raw of [await udpExchange(port, query), (await tcpExchange(port, [query]))[0]]) {
    const r = parseReply(raw!);
    t.like(r, { id: 0xd9, rcode: 0 });
    t.like(r.opt, { extRcode: 1, version: 0, udp: 1232, dnssecOk: true });
    t.deepEqual(r.rawQuestion, rawQuestion('a.test.global'));
  }
  t.is(zone.calls.length, 0);
  t.is(server.stats().badvers, 2);
  await assertStillAnswers(t, port);
});

test.serial('D9: the general path — a record dns2 cannot decode (A with 3-octet RDATA) → FORMERR with OPT', async (t) => {
  const { port, zone } = await startEdge(t);
  const query = craftQuery({
    id: 0xd99,
    additional: [rawRR({ owner: Buffer.from([0xc0, 12]), type: 1, rdata: Buffer.from([1, 2, 3]) }), optRR()],
  });
  for (const raw of [await udpExchange(port, query), (await tcpExchange(port, [query]))[0]]) {
    const r = parseReply(raw!);
    t.like(r, { id: 0xd99, rcode: 1 });
    t.truthy(r.opt, 'the OPT itself was valid, so the FORMERR carries one');
  }
  t.is(zone.calls.length, 0);
  // the same shape with a well-formed record passes the general path and is answered
  const fine = craftQuery({ additional: [rawRR({ owner: Buffer.from([0xc0, 12]), type: 1, rdata: Buffer.from([1, 2, 3, 4]) }), optRR()] });
  t.is(parseReply((await udpExchange(port, fine))!).rcode, 0);
  await assertStillAnswers(t, port);
});

// ---------------------------------------------------------------------------------------------
// D10, D11: UDP sizing
// ---------------------------------------------------------------------------------------------

test.serial('D10: a truncated UDP reply carries the OPT record', async (t) => {
  const { port } = await startEdge(t);
  const r = parseReply(
    (await udpExchange(port, craftQuery({ questions: [rawQuestion('big.test.global')], additional: [optRR({ udp: 1232 })] })))!,
  );
  t.true(r.tc);
  t.true(r.counts.an > 0);
  t.like(r.opt, { udp: 1232, version: 0 });
  await assertStillAnswers(t, port);
});

test.serial('D11: a client advertising 65000 octets gets UDP replies of at most 1232', async (t) => {
  const { port } = await startEdge(t);
  const r = parseReply(
    (await udpExchange(port, craftQuery({ questions: [rawQuestion('big.test.global')], additional: [optRR({ udp: 65000 })] })))!,
  );
  t.true(r.size <= 1232, `reply is ${r.size} octets`);
  t.true(r.size > 1100, 'and uses the room it has');
  t.true(r.tc);
  t.is(r.opt?.udp, 1232);
  await assertStillAnswers(t, port);
});
