/**
 * HTTP listeners that cannot be held hostage (issue 12): a flood of silent connections, a low
 * descriptor limit, headers/idle timeouts that fire promptly, and the cap's choice (the connection
 * idle longest goes; a new one is refused only when every connection is busy). Real sockets on
 * loopback; the flooding connections are opened from this worker (well under its descriptor
 * limit), against gsdns in a child process or in-process. The tests run one at a time
 * (test.serial): each floods this worker's event loop, which must not stretch another's timeouts.
 */
import test, { type ExecutionContext } from 'ava';
import { createSocket, type RemoteInfo } from 'node:dgram';
import { get, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { demoCatalog, spawnGsdns, startInProcess, tempDir } from '../helpers/gsdns-process.js';
import { craftQuery, parseReply, rawQuestion, tcpExchange } from '../helpers/dns-tools.js';
import { parseExposition, scrape } from '../helpers/metrics.js';

interface Silent {
  readonly socket: Socket;
  /** 'server' when the server closed it (FIN, or RST), else what went wrong. */
  readonly closed: Promise<string>;
  readonly openedAt: number;
}

/** One connection that never sends a byte. Resolves once connected (or failed). */
function openSilent(port: number): Promise<Silent> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const openedAt = performance.now();
    let outcome = 'closed without FIN or RST';
    const closed = new Promise<string>((done) => socket.once('close', () => done(outcome)));
    socket.on('end', () => (outcome = 'server'));
    socket.on(
      'error',
      (err: NodeJS.ErrnoException) => (outcome = err.code === 'ECONNRESET' ? 'server' : `error ${err.code ?? err.message}`),
    );
    // Flowing, so the FIN is seen ('end') and the socket closes.
    socket.resume();
    socket.once('connect', () => resolve({ socket, closed, openedAt }));
    socket.once('error', () => resolve({ socket, closed, openedAt }));
  });
}

/** `count` silent connections, `batch` at a time, each batch connected before the next. */
async function openSilentMany(t: ExecutionContext, port: number, count: number, batch: number, into: Silent[]): Promise<void> {
  t.teardown(() => into.forEach((c) => c.socket.destroy()));
  for (let opened = 0; opened < count; opened += batch) {
    into.push(...(await Promise.all(Array.from({ length: Math.min(batch, count - opened) }, () => openSilent(port)))));
  }
}

/** A GET on a fresh connection (as the kubelet probes), with a failure guard. */
function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false, timeout: 15_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer within 15 s`)));
    req.on('error', reject);
  });
}

const QUERY = craftQuery({ id: 0x1234, questions: [rawQuestion('reviews.bookinfo.global')] });

/** A DNS-over-TCP query on a connection of its own: the demo's answer, or a failure message. */
async function dnsOverTcp(port: number): Promise<string | undefined> {
  const replies = await tcpExchange(port, [QUERY], { timeoutMs: 15_000 });
  if (replies.length !== 1) return `DNS over TCP: ${replies.length} replies`;
  const reply = parseReply(replies[0]!);
  if (reply.rcode !== 0 || reply.answers.length === 0) return `DNS over TCP: rcode ${reply.rcode}, ${reply.answers.length} answers`;
  return undefined;
}

/** Rejects with `what` when `promise` has not settled within `ms` (a failure guard only). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))),
  ]);
}

/** Every connection was closed by the server; returns how the others ended. */
async function allClosedByServer(conns: readonly Silent[], guardMs: number): Promise<string[]> {
  const outcomes = await within(Promise.all(conns.map((c) => c.closed)), guardMs, 'silent connections closed by the server');
  return outcomes.filter((o) => o !== 'server');
}

test.serial(
  '3,000 silent connections: /healthz, /readyz, /metrics stay 200, DNS over TCP answers, the server closes every one and counts why',
  async (t) => {
    const MAX = 512; // the default http.maxConnections
    const s = await spawnGsdns(t, ['--set', 'http.idleTimeoutMs=2000']);
    const conns: Silent[] = [];
    let flooding = true;
    const flood = openSilentMany(t, s.httpPort, 3000, 100, conns).finally(() => (flooding = false));
    const failures: string[] = [];
    let rounds = 0;
    let roundsAtCap = 0;
    let maxOpen = 0;
    // Probes on fresh connections for as long as the flood lasts, then three more rounds.
    let after = 0;
    while ((flooding || after++ < 3) && rounds < 2000) {
      rounds++;
      const atCap = conns.length >= MAX;
      for (const path of ['/healthz', '/readyz', '/metrics']) {
        try {
          const r = await httpGet(s.httpPort, path);
          if (r.status !== 200) failures.push(`${path} ${r.status} with ${conns.length} opened`);
          if (path === '/metrics') maxOpen = Math.max(maxOpen, parseExposition(r.body).sum('gsdns_http_connections', { listener: 'ops' }));
        } catch (err) {
          failures.push(`${path}: ${(err as Error).message} with ${conns.length} opened`);
        }
      }
      try {
        const dnsFailure = await dnsOverTcp(s.dnsPort);
        if (dnsFailure) failures.push(dnsFailure);
      } catch (err) {
        failures.push(`DNS over TCP: ${(err as Error).message}`);
      }
      if (atCap) roundsAtCap++;
    }
    await flood;
    t.deepEqual(failures, []);
    t.true(roundsAtCap >= 3, `probes ran while the listener was at its cap (${roundsAtCap} of ${rounds} rounds)`);
    t.true(maxOpen <= MAX, `open connections stayed within http.maxConnections (at most ${maxOpen})`);

    t.deepEqual(await allClosedByServer(conns, 60_000), [], 'every silent connection was closed by the server');
    const m = await scrape(s.httpPort);
    const evicted = m.sum('gsdns_http_connections_closed_total', { listener: 'ops', reason: 'evicted' });
    const silent = m.sum('gsdns_http_connections_closed_total', { listener: 'ops', reason: 'silent' });
    t.true(evicted >= 3000 - MAX, `evicted at the cap: ${evicted}`);
    t.true(silent >= 1, `closed for silence: ${silent}`);
    t.true(evicted + silent >= 3000, `every silent connection is counted (${evicted} + ${silent})`);
    t.is(
      m.sum('gsdns_http_connections_closed_total', { listener: 'ops', reason: 'refused' }),
      0,
      'no connection was refused: silent ones make room',
    );
  },
);

test.serial('descriptor limit 1,100 and 1,150 silent HTTP connections: /healthz and DNS over TCP still work', async (t) => {
  // The default silence bound (5 s): every silent connection is closed well within the 60 s wait.
  const s = await spawnGsdns(t, ['--set', 'http.idleTimeoutMs=5000'], {}, { nofile: 1100 });
  const limits = readFileSync(`/proc/${s.child.pid!}/limits`, 'utf8');
  t.regex(limits, /^Max open files\s+1100\s+1100\s/m, 'the server runs under the limit');
  const conns: Silent[] = [];
  await openSilentMany(t, s.httpPort, 1150, 50, conns);
  for (let i = 0; i < 3; i++) {
    t.is((await httpGet(s.httpPort, '/healthz')).status, 200);
    t.is(await dnsOverTcp(s.dnsPort), undefined);
  }
  t.deepEqual(await allClosedByServer(conns, 60_000), []);
  t.is((await httpGet(s.httpPort, '/healthz')).status, 200);
  t.false(/EMFILE/.test(s.logs()), 'the server never ran out of descriptors');
});

test.serial(
  'timeouts: silent, partial headers (408), keep-alive idle and malformed requests are closed promptly and counted',
  async (t) => {
    const dir = tempDir(t);
    const headersTimeoutMs = 1000;
    const idleTimeoutMs = 1500;
    const s = await startInProcess(
      t,
      `cluster: {name: demo-local, gateways: [{address: 203.0.113.10}]}
source: {type: file, file: {path: ${JSON.stringify(demoCatalog)}}}
http: {headersTimeoutMs: ${headersTimeoutMs}, idleTimeoutMs: ${idleTimeoutMs}}
`,
      dir,
    );
    const port = s.httpPort;
    const exchange = (payload: string): Promise<{ reply: string; ms: number; closedAt: number; startedAt: number }> =>
      new Promise((resolve, reject) => {
        const socket = connect({ port, host: '127.0.0.1' });
        let reply = '';
        const startedAt = performance.now();
        socket.setEncoding('utf8');
        socket.on('data', (d: string) => (reply += d));
        socket.on('error', reject);
        socket.on('connect', () => payload && socket.write(payload));
        socket.on('close', () => resolve({ reply, ms: performance.now() - startedAt, closedAt: performance.now(), startedAt }));
      });

    const [silent, partial, keepAlive, malformed] = await within(
      Promise.all([
        exchange(''),
        exchange('GET /healthz HTTP/1.1\r\nHost: x\r\n'),
        exchange('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n'),
        exchange('NOT HTTP AT ALL\r\n\r\n'),
      ]),
      20_000,
      'every connection closed',
    );
    // Node's own check runs every 30 s unless connectionsCheckingInterval is set: 10 s is a guard
    // that still tells the two apart.
    t.true(silent.ms >= headersTimeoutMs - 50 && silent.ms < 10_000, `silent connection closed after ${silent.ms.toFixed(0)} ms`);
    t.is(silent.reply, '');
    t.true(partial.ms >= headersTimeoutMs - 50 && partial.ms < 10_000, `partial headers closed after ${partial.ms.toFixed(0)} ms`);
    t.regex(partial.reply, /^HTTP\/1\.1 408 /);
    t.regex(keepAlive.reply, /^HTTP\/1\.1 200 /);
    t.true(keepAlive.ms >= idleTimeoutMs - 50 && keepAlive.ms < 10_000, `keep-alive connection closed after ${keepAlive.ms.toFixed(0)} ms`);
    t.regex(malformed.reply, /^HTTP\/1\.1 400 /);

    const m = parseExposition((await s.metrics.render()).body);
    const closed = (reason: string): number => m.sum('gsdns_http_connections_closed_total', { listener: 'ops', reason });
    t.deepEqual(
      {
        silent: closed('silent'),
        headers: closed('headers'),
        idle: closed('idle'),
        malformed: closed('malformed'),
        evicted: closed('evicted'),
        refused: closed('refused'),
      },
      { silent: 1, headers: 1, idle: 1, malformed: 1, evicted: 0, refused: 0 },
    );
  },
);

/** A UDP upstream that holds every query until release() answers them all (NXDOMAIN). */
async function heldUpstream(t: ExecutionContext): Promise<{ port: number; arrived: (n: number) => Promise<void>; release: () => void }> {
  const socket = createSocket('udp4');
  const held: [Buffer, RemoteInfo][] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  socket.on('message', (msg, rinfo) => {
    held.push([msg, rinfo]);
    for (const w of waiters.filter((w) => held.length >= w.n)) w.resolve();
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return {
    port: socket.address().port,
    arrived: (n) => (held.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    release: () => {
      for (const [msg, rinfo] of held.splice(0)) {
        const reply = Buffer.from(msg);
        reply[2] = 0x80 | (msg[2]! & 0x79);
        reply[3] = 0x80 | 3; // RA, NXDOMAIN
        socket.send(reply, rinfo.port, rinfo.address);
      }
    },
  };
}

/** A request whose response is read in full; `settled` tells how it ended. */
function slowGet(port: number, path: string): Promise<{ status: number } | { error: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end();
  });
}

test.serial(
  'at the cap: the idle connection is closed to admit a new one; a new one is refused only when every connection is busy',
  async (t) => {
    const upstream = await heldUpstream(t);
    const dir = tempDir(t);
    const s = await startInProcess(
      t,
      `cluster: {name: demo-local, gateways: [{address: 203.0.113.10}]}
source: {type: file, file: {path: ${JSON.stringify(demoCatalog)}}}
forward: {upstreams: ["127.0.0.1:${upstream.port}"], timeoutMs: 60000, budgetMs: 60000}
http: {maxConnections: 2, debug: {listen: {address: 127.0.0.1, port: 0}}}
`,
      dir,
    );
    const port = s.debugHttpPort!;
    // A: a request in progress (its forward waits on the held upstream).
    const a = slowGet(port, '/debug/resolve?name=a.example.test');
    await within(upstream.arrived(1), 15_000, 'the first forwarded query');
    // B: silent. C then needs a slot: B (idle) goes, A (busy) stays.
    const b = await openSilent(port);
    const c = slowGet(port, '/debug/resolve?name=c.example.test');
    t.is(await within(b.closed, 15_000, 'the idle connection closed'), 'server');
    await within(upstream.arrived(2), 15_000, 'the second forwarded query');
    // A and C are both busy: D is refused.
    const d = await slowGet(port, '/debug/clusters');
    t.true('error' in d, `refused: ${JSON.stringify(d)}`);
    upstream.release();
    t.deepEqual(
      await within(Promise.all([a, c]), 15_000, 'the busy requests'),
      [{ status: 200 }, { status: 200 }],
      'busy requests were never cut',
    );
    // With nothing busy any more, a new connection is admitted again.
    t.is((await httpGet(port, '/debug/clusters')).status, 200);
    const m = parseExposition((await s.metrics.render()).body);
    t.is(m.sum('gsdns_http_connections_closed_total', { listener: 'debug', reason: 'evicted' }), 1);
    t.is(m.sum('gsdns_http_connections_closed_total', { listener: 'debug', reason: 'refused' }), 1);
    t.is(m.sum('gsdns_http_connections_closed_total', { listener: 'ops' }), 0, 'the ops listener has a cap of its own');
  },
);
