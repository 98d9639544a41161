/**
 * DNS over TCP that slow clients cannot hold hostage (issue 12), against the whole server started
 * in process: 1,000 connections from 25 addresses trickling one octet every 5 s leave TCP (fresh,
 * pipelined, and the fallback after a truncated UDP answer) and /healthz working for everyone
 * else; at the total cap the least recently active idle or incomplete connection makes room, and a
 * newcomer is refused only when every connection has a query in flight; a trickle never restarts
 * the idle clock, and a query in flight is not idleness.
 *
 * Serial: the flood takes a few thousand sockets and a lot of the machine's attention.
 */
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { answers, dig } from '../helpers/dig.js';
import { TcpDnsClient, craftQuery, frame, optRR, parseReply, rawQuestion } from '../helpers/dns-tools.js';
import { startInProcess, tempDir } from '../helpers/gsdns-process.js';
import { scrape } from '../helpers/metrics.js';
import { answerA, startScriptedUpstream, type ScriptedUpstream } from '../helpers/scripted-upstream.js';

// ---------------------------------------------------------------------------------------------
// The server: a catalog with a small service and a 100-endpoint headless one (TC over UDP)
// ---------------------------------------------------------------------------------------------

const CATALOG = `services:
  - {namespace: data, name: small, clusterIPs: [10.96.1.1], readyEndpoints: 1}
  - namespace: data
    name: cassandra
    headless: true
    ports: [{name: cql, port: 9042}]
    endpoints:
${Array.from({ length: 100 }, (_, i) => `      - {address: 10.1.0.${i + 1}}`).join('\n')}
`;

async function gsdns(t: ExecutionContext, extra = '') {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'catalog.yaml'), CATALOG);
  return startInProcess(t, `cluster: {name: local}\nsource: {type: file, file: {path: catalog.yaml}}\n${extra}`, dir);
}

let nextId = 1;
function query(name: string): Buffer {
  return craftQuery({ id: nextId++ & 0xffff, questions: [rawQuestion(name)], additional: [optRR()] });
}

/** Connect (from `localAddress`) and have one query answered, so the server has admitted it. */
async function answeredConnection(port: number, localAddress?: string): Promise<TcpDnsClient> {
  const client = await TcpDnsClient.connect(port, localAddress ? { localAddress } : {});
  client.send(query('small.data.global'));
  if (!(await client.waitFor(() => client.replies.length === 1, 5000))) throw new Error('connection was not answered');
  return client;
}

const closedTotal = async (httpPort: number, reason: string): Promise<number> =>
  (await scrape(httpPort)).sum('gsdns_dns_tcp_connections_closed_total', { reason });

// ---------------------------------------------------------------------------------------------
// The attacker: slow clients that trickle a valid query, one octet per interval
// ---------------------------------------------------------------------------------------------

const SLOW_SOURCES = Array.from({ length: 25 }, (_, i) => `127.0.0.${i + 2}`);

/**
 * `count` connections spread over SLOW_SOURCES, each sending the first octet of a framed query at
 * once and one more every `intervalMs`. A connection the server closes is reopened (a real
 * attacker keeps trying) until stop(); reopenings are bounded by `maxReopen`.
 */
class SlowFlood {
  /** The first `count` connections (their closing is what the test awaits). */
  readonly firstWave: Promise<void>[] = [];
  /** Connections of the first wave that the server closed. */
  firstWaveClosedByServer = 0;
  reopened = 0;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private readonly message = frame(craftQuery({ id: 0x5105, questions: [rawQuestion('small.data.global')] }));

  constructor(
    private readonly port: number,
    private readonly intervalMs: number,
    private readonly maxReopen: number,
  ) {}

  /** Open `count` connections; resolves once every one of them is connected. */
  async start(count: number): Promise<void> {
    const connected: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const { connected: c, closed } = this.open(SLOW_SOURCES[i % SLOW_SOURCES.length]!, true);
      connected.push(c);
      this.firstWave.push(closed);
    }
    await Promise.all(connected);
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    for (const socket of this.sockets) socket.destroy();
  }

  private open(localAddress: string, firstWave: boolean): { connected: Promise<void>; closed: Promise<void> } {
    const socket = connect({ port: this.port, host: '127.0.0.1', localAddress });
    this.sockets.add(socket);
    let sent = 0;
    const trickle = (): void => {
      if (sent < this.message.length && !socket.destroyed) socket.write(this.message.subarray(sent, ++sent));
    };
    let timer: NodeJS.Timeout | undefined;
    socket.on('error', () => {}); // ECONNRESET when the server destroys a socket with unread data
    const connected = new Promise<void>((resolve, reject) => {
      socket.once('connect', () => {
        trickle();
        timer = setInterval(trickle, this.intervalMs);
        this.timers.add(timer);
        resolve();
      });
      socket.once('error', reject);
    });
    const closed = new Promise<void>((resolve) => {
      socket.once('close', () => {
        if (timer) {
          clearInterval(timer);
          this.timers.delete(timer);
        }
        this.sockets.delete(socket);
        if (!this.stopped) {
          if (firstWave) this.firstWaveClosedByServer++;
          if (this.reopened < this.maxReopen) {
            this.reopened++;
            // swallow: a reopening that fails (e.g. after stop) is not the test's verdict
            this.open(localAddress, false).connected.catch(() => {});
          }
        }
        resolve();
      });
    });
    return { connected, closed };
  }
}

// ---------------------------------------------------------------------------------------------
// What every other client must keep getting during the flood
// ---------------------------------------------------------------------------------------------

async function freshConnectionQuery(t: ExecutionContext, port: number): Promise<void> {
  const client = await TcpDnsClient.connect(port);
  try {
    client.send(query('small.data.global'));
    t.true(await client.waitFor(() => client.replies.length === 1, 5000), 'a fresh TCP connection is answered');
    const reply = parseReply(client.replies[0]!);
    t.is(reply.rcode, 0);
    t.deepEqual(
      reply.answers.map((a) => a['address']),
      ['10.96.1.1'],
    );
  } finally {
    client.destroy();
  }
}

async function pipelinedQueries(t: ExecutionContext, port: number, n: number): Promise<void> {
  const client = await TcpDnsClient.connect(port);
  try {
    const sent = Array.from({ length: n }, (_, i) => query(i % 2 ? 'small.data.global' : 'cassandra.data.global'));
    client.socket.write(Buffer.concat(sent.map(frame)));
    t.true(await client.waitFor(() => client.replies.length === n, 5000), `${client.replies.length} of ${n} pipelined queries answered`);
    t.deepEqual(new Set(client.replies.map((r) => parseReply(r).id)), new Set(sent.map((m) => m.readUInt16BE(0))));
  } finally {
    client.destroy();
  }
}

async function truncatedThenTcp(t: ExecutionContext, port: number): Promise<boolean> {
  // dig asks over UDP, gets TC=1 and retries over TCP (`;; Truncated, retrying in TCP mode.`)
  const r = await dig(t, port, ['cassandra.data.global', 'A']);
  if (!r) return false;
  t.regex(r.raw, /socket_protocol: TCP/, 'the answer came over TCP');
  t.false(r.flags.includes('tc'));
  t.is(answers(r, 'A').length, 100, 'every endpoint after the TCP retry');
  return true;
}

async function healthz(t: ExecutionContext, httpPort: number): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
  t.is(res.status, 200, '/healthz');
  await res.arrayBuffer();
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

test.serial(
  '1,000 slow clients from 25 addresses, one octet every 5 s: TCP, the TC fallback and /healthz keep working; the server closes every slow connection',
  async (t) => {
    const s = await gsdns(t);
    const flood = new SlowFlood(s.dnsPort, 5000, 20_000);
    t.teardown(() => flood.stop());
    await flood.start(1000);
    t.log(`1000 slow connections open from ${SLOW_SOURCES.length} addresses`);

    // While they run (and reopen as they are closed), everyone else is served. A round is a handful
    // of operations; each has a failure guard, none a deadline on how fast it must be.
    const rounds = 5;
    for (let round = 0; round < rounds; round++) {
      await freshConnectionQuery(t, s.dnsPort);
      await pipelinedQueries(t, s.dnsPort, 10);
      if (!(await truncatedThenTcp(t, s.dnsPort))) return;
      await healthz(t, s.httpPort);
    }

    // Every connection of the first wave is closed by the server, not by us: await each 'close'.
    const allClosed = Promise.all(flood.firstWave).then(() => true);
    const guard = new Promise<false>((resolve) => {
      const timer = setTimeout(() => resolve(false), 60_000);
      void allClosed.then(() => clearTimeout(timer));
    });
    t.true(await Promise.race([allClosed, guard]), `${flood.firstWaveClosedByServer} of 1000 slow connections closed by the server`);
    t.is(flood.firstWaveClosedByServer, 1000);
    t.log(`reopened ${flood.reopened} times during the test`);

    // …and the metrics say why: no message of theirs arrived whole within dns.tcp.messageTimeoutMs
    // (or one was closed at the cap to admit a good client); none survived to an idle timeout.
    const m = await scrape(s.httpPort);
    const byReason = (reason: string): number => m.sum('gsdns_dns_tcp_connections_closed_total', { reason });
    t.true(
      byReason('message_timeout') + byReason('evicted_incomplete') >= 1000,
      `message_timeout ${byReason('message_timeout')}, evicted_incomplete ${byReason('evicted_incomplete')}`,
    );
    t.is(byReason('malformed'), 0);
    t.is(m.sum('gsdns_dns_tcp_connections_rejected_total'), 0, 'no one was refused: slow connections are never busy');
    flood.stop();
    await healthz(t, s.httpPort);
  },
);

test.serial('at dns.tcp.maxConnections the least recently active idle or incomplete connection makes room for a new client', async (t) => {
  const s = await gsdns(
    t,
    'dns: {tcp: {maxConnections: 50, maxConnectionsPerClient: 50, idleTimeoutMs: 600000, messageTimeoutMs: 60000}}\n',
  );
  const held: TcpDnsClient[] = [];
  t.teardown(() => held.forEach((c) => c.destroy()));
  // 50 connections from five other addresses, admitted in order; every second one then sends the
  // first octets of its next query (incomplete, for the rest of the test)
  for (let i = 0; i < 50; i++) held.push(await answeredConnection(s.dnsPort, `127.0.0.${2 + (i % 5)}`));
  for (let i = 1; i < 50; i += 2) held[i]!.sendRaw(frame(query('small.data.global')).subarray(0, 3));
  // the first connection is active again, so the second (incomplete) and third (idle) are oldest
  held[0]!.send(query('small.data.global'));
  t.true(await held[0]!.waitFor(() => held[0]!.replies.length === 2, 5000));

  const newcomer = await answeredConnection(s.dnsPort);
  held.push(newcomer);
  t.true(await held[1]!.waitFor(() => held[1]!.closed, 5000), 'the least recently active (incomplete) connection was closed');
  t.false(held[0]!.closed, 'a recently active connection was kept');
  t.is(await closedTotal(s.httpPort, 'evicted_incomplete'), 1);

  const second = await answeredConnection(s.dnsPort);
  held.push(second);
  t.true(await held[2]!.waitFor(() => held[2]!.closed, 5000), 'then the next least recently active (idle) one');
  t.is(await closedTotal(s.httpPort, 'evicted_idle'), 1);
  const m = await scrape(s.httpPort);
  t.is(m.sum('gsdns_dns_tcp_connections'), 50);
  t.is(m.sum('gsdns_dns_tcp_connections_rejected_total'), 0);
  // the survivors still work
  for (const c of [held[0]!, held[3]!, newcomer]) {
    const before = c.replies.length;
    c.send(query('small.data.global'));
    t.true(await c.waitFor(() => c.replies.length === before + 1, 5000));
  }
});

/** Upstream that never answers names starting with "hold" (forwarded queries stay in flight). */
async function holdingUpstream(t: ExecutionContext): Promise<ScriptedUpstream> {
  return startScriptedUpstream(t, (q) => (q.name.startsWith('hold') ? null : answerA(q, ['192.0.2.1'], 60)));
}

test.serial('at dns.tcp.maxConnections with every connection busy (a query in flight), a new connection is refused', async (t) => {
  const up = await holdingUpstream(t);
  const s = await gsdns(
    t,
    `dns: {tcp: {maxConnections: 5, maxConnectionsPerClient: 5}}\nforward: {upstreams: ["${up.endpoint}"], timeoutMs: 20000, budgetMs: 20000}\n`,
  );
  const busy: TcpDnsClient[] = [];
  t.teardown(() => busy.forEach((c) => c.destroy()));
  for (let i = 0; i < 5; i++) busy.push(await answeredConnection(s.dnsPort, `127.0.0.${2 + i}`));
  // distinct names, so the forwarder cannot coalesce them into one upstream exchange
  busy.forEach((c, i) => c.send(query(`hold${i}.example`)));
  t.true(await up.waitFor((qs) => new Set(qs.map((q) => q.name)).size === 5, 10_000), 'five forwarded queries in flight');

  const refused = await TcpDnsClient.connect(s.dnsPort);
  busy.push(refused);
  refused.send(query('small.data.global'));
  t.true(await refused.waitFor(() => refused.closed || refused.ended, 5000), 'the newcomer was closed');
  t.is(refused.replies.length, 0, 'and not answered');
  const m = await scrape(s.httpPort);
  t.is(m.sum('gsdns_dns_tcp_connections_rejected_total'), 1);
  t.is(m.sum('gsdns_dns_tcp_connections_closed_total'), 0, 'no busy connection was closed');
  t.false(busy.slice(0, 5).some((c) => c.closed));
});

test.serial('a trickle never restarts the idle clock, and a query in flight is not idleness', async (t) => {
  const up = await startScriptedUpstream(t, (q) =>
    q.name.startsWith('late') ? { send: answerA(q, ['192.0.2.9'], 60), delayMs: 2500 } : answerA(q, ['192.0.2.1'], 60),
  );
  // the message clock is out of the way (60 s), so only the idle clock can close the trickler
  const s = await gsdns(
    t,
    `dns: {tcp: {idleTimeoutMs: 1500, messageTimeoutMs: 60000}}\nforward: {upstreams: ["${up.endpoint}"], timeoutMs: 10000, budgetMs: 10000}\n`,
  );

  // one octet every 300 ms: if octets restarted the idle clock this connection would never close
  const trickler = await TcpDnsClient.connect(s.dnsPort);
  t.teardown(() => trickler.destroy());
  const message = frame(query('small.data.global'));
  let sent = 0;
  const timer = setInterval(() => {
    if (sent < message.length && !trickler.closed) trickler.sendRaw(message.subarray(sent, ++sent));
  }, 300);
  t.teardown(() => clearInterval(timer));

  // a forwarded answer that takes longer than the idle timeout still arrives on its connection
  const waiting = await TcpDnsClient.connect(s.dnsPort);
  t.teardown(() => waiting.destroy());
  waiting.send(query('late.example'));

  t.true(await trickler.waitFor(() => trickler.closed, 20_000), 'the trickling connection was closed');
  t.is(trickler.replies.length, 0);
  // Nothing but the idle clock could have closed it (≥ 1: on a slow machine `waiting` may already
  // have been answered and gone idle too)
  const m = await scrape(s.httpPort);
  t.true(m.sum('gsdns_dns_tcp_connections_closed_total', { reason: 'idle' }) >= 1);
  t.is(
    m.sum('gsdns_dns_tcp_connections_closed_total') - m.sum('gsdns_dns_tcp_connections_closed_total', { reason: 'idle' }),
    0,
    'no other reason',
  );
  t.true(await waiting.waitFor(() => waiting.replies.length === 1 || waiting.closed, 20_000));
  t.is(waiting.replies.length, 1, 'the slow forwarded answer arrived: in flight is not idle');
  t.deepEqual(
    parseReply(waiting.replies[0]!).answers.map((a) => a['address']),
    ['192.0.2.9'],
  );
  t.is(await closedTotal(s.httpPort, 'message_timeout'), 0);
});

test.serial('a message not whole within dns.tcp.messageTimeoutMs of its first octet closes the connection', async (t) => {
  const s = await gsdns(t, 'dns: {tcp: {idleTimeoutMs: 600000, messageTimeoutMs: 300}}\n');
  const client = await answeredConnection(s.dnsPort);
  t.teardown(() => client.destroy());
  // the length prefix and half the message, then nothing
  const message = frame(query('small.data.global'));
  client.sendRaw(message.subarray(0, message.length >> 1));
  t.true(await client.waitFor(() => client.closed, 10_000), 'closed by the server');
  t.is(await closedTotal(s.httpPort, 'message_timeout'), 1);
  t.is(await closedTotal(s.httpPort, 'idle'), 0);
});
