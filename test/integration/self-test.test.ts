/**
 * The stub-wiring self-test (selfTest.*) against real resolvers: unbound with and without a stub
 * zone for `global`, a second gsdns replica, a resolver that never answers. The verdict is read
 * where an operator reads it: /debug/selftest, /metrics and /readyz of a spawned gsdns.
 */
import test, { type ExecutionContext } from 'ava';
import { createSocket, type Socket } from 'node:dgram';
import { spawnGsdns, type SpawnedServer } from '../helpers/gsdns-process.js';
import { freePort } from '../helpers/unbound.js';
import { startCustomUnbound } from '../helpers/unbound.js';
import { requireTool } from '../helpers/dns-tools.js';

/**
 * At most this many of this file's tests start processes at once: eight gsdns (plus unbound)
 * starting together on a loaded 2-core machine can miss the spawn helper's 10 s start limit.
 */
const PARALLEL = 3;
let running = 0;
const queue: Array<() => void> = [];
function limited(body: (t: ExecutionContext) => Promise<void>): (t: ExecutionContext) => Promise<void> {
  return async (t) => {
    if (running >= PARALLEL) await new Promise<void>((resolve) => queue.push(resolve));
    else running++;
    try {
      await body(t);
    } finally {
      const next = queue.shift();
      if (next) next();
      else running--;
    }
  };
}

interface SelfTestBody {
  enabled: boolean;
  ok?: boolean;
  reason?: string;
  resolver?: string;
  zone?: string;
  reachedThisReplica?: boolean;
  runs?: number;
  failures?: number;
  lastName?: string;
  hint?: string;
}

interface ReadyBody {
  ready: boolean;
  components: Record<string, { ready: boolean; detail?: string }>;
}

async function getJson<T>(port: number, path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: (await res.json()) as T };
}

/** POST /debug/selftest/run: one self-test now (a GET never runs one). */
async function runSelfTest(port: number): Promise<{ status: number; body: SelfTestBody }> {
  const res = await fetch(`http://127.0.0.1:${port}/debug/selftest/run`, { method: 'POST' });
  return { status: res.status, body: (await res.json()) as SelfTestBody };
}

async function metricsText(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return res.text();
}

/** The value of one exposition line `name{labels} value` (labels verbatim, '' for none). */
function metricValue(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

/** Two distinct free loopback ports. */
async function twoPorts(): Promise<[number, number]> {
  const a = await freePort();
  for (;;) {
    const b = await freePort();
    if (b !== a) return [a, b];
  }
}

function selfTestArgs(resolver: string, opts: { intervalSeconds?: number; timeoutMs?: number } = {}): string[] {
  return [
    '--set',
    'selfTest.enabled=true',
    '--set',
    `selfTest.resolver=${resolver}`,
    '--set',
    `selfTest.intervalSeconds=${opts.intervalSeconds ?? 3600}`,
    '--set',
    `selfTest.timeoutMs=${opts.timeoutMs ?? 2000}`,
  ];
}

/** A gsdns on a pre-chosen DNS port (so a resolver can be configured to point at it first). */
function spawnOnPort(t: ExecutionContext, dnsPort: number, extra: string[]): Promise<SpawnedServer> {
  return spawnGsdns(t, ['--set', `dns.listen=[{address: 127.0.0.1, port: ${dnsPort}}]`, ...extra]);
}

/** A loopback UDP socket that answers every query with `rcode` (or never, with undefined). */
async function fakeResolver(t: ExecutionContext, rcode: number | undefined): Promise<{ port: number; received: () => number }> {
  const socket: Socket = createSocket('udp4');
  let received = 0;
  socket.on('message', (msg, rinfo) => {
    received++;
    if (rcode === undefined || msg.length < 12) return;
    const reply = Buffer.from(msg);
    reply[2] = 0x80 | (msg[2]! & 0x79); // QR, opcode and RD echoed
    reply[3] = 0x80 | rcode; // RA, rcode
    socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { port: socket.address().port, received: () => received };
}

async function assertFailingVerdict(t: ExecutionContext, gs: SpawnedServer, reasonPattern: RegExp): Promise<SelfTestBody> {
  const { status, body } = await runSelfTest(gs.httpPort);
  t.is(status, 200);
  t.true(body.enabled);
  t.false(body.ok, `verdict: ${JSON.stringify(body)}`);
  t.false(body.reachedThisReplica);
  t.regex(body.reason ?? '', reasonPattern);
  const metrics = await metricsText(gs.httpPort);
  t.is(metricValue(metrics, 'gsdns_stub_wiring_ok'), 0);
  t.true((metricValue(metrics, 'gsdns_stub_wiring_checks_total', '{result="failed"}') ?? 0) >= 1);
  const ready = await getJson<ReadyBody>(gs.httpPort, '/readyz');
  t.is(ready.status, 200, 'a broken stub domain never fails readiness');
  t.true(ready.body.ready);
  t.regex(ready.body.components['stubWiring']?.detail ?? '', /^FAILING/);
  return body;
}

test(
  'wired: unbound with a stub zone for global reaches this gsdns',
  limited(async (t) => {
    if (!(await requireTool(t, 'unbound'))) return;
    const [gsPort, ubPort] = await twoPorts();
    // The resolver first (it does not need gsdns up to start), then gsdns on the port it points at.
    const ub = await startCustomUnbound(t, {
      port: ubPort,
      serverLines: ['domain-insecure: "global"'],
      clauses: `stub-zone:\n  name: "global"\n  stub-addr: 127.0.0.1@${gsPort}\n`,
    });
    if (!ub) return;
    const gs = await spawnOnPort(t, gsPort, selfTestArgs(`127.0.0.1:${ubPort}`));

    const { status, body } = await runSelfTest(gs.httpPort);
    t.is(status, 200);
    t.true(body.enabled);
    t.true(body.ok, `verdict: ${JSON.stringify(body)}\nunbound:\n${ub.logs()}`);
    t.true(body.reachedThisReplica);
    t.is(body.resolver, `127.0.0.1:${ubPort}`);
    t.regex(body.reason ?? '', new RegExp(`resolver 127\\.0\\.0\\.1:${ubPort} forwarded _selftest-[0-9a-f]+\\.global`));
    t.regex(body.lastName ?? '', /^_selftest-[0-9a-f]+\.global$/);
    t.true((body.runs ?? 0) >= 1);

    const metrics = await metricsText(gs.httpPort);
    t.is(metricValue(metrics, 'gsdns_stub_wiring_ok'), 1);
    t.true((metricValue(metrics, 'gsdns_stub_wiring_checks_total', '{result="ok"}') ?? 0) >= 1);

    const ready = await getJson<ReadyBody>(gs.httpPort, '/readyz');
    t.is(ready.status, 200);
    t.regex(ready.body.components['stubWiring']?.detail ?? '', /^ok: /);
  }),
);

test(
  'not wired: unbound serves global itself (static zone, its own SOA)',
  limited(async (t) => {
    const ub = await startCustomUnbound(t, {
      serverLines: [
        'local-zone: "global." static',
        'local-data: "global. 3600 IN SOA ns.example.net. admin.example.net. 1 3600 900 86400 300"',
      ],
    });
    if (!ub) return;
    const gs = await spawnGsdns(t, selfTestArgs(`127.0.0.1:${ub.port}`));
    const body = await assertFailingVerdict(
      t,
      gs,
      /NXDOMAIN .*SOA global\. ns\.example\.net\., which is not gsdns.*no stub domain for 'global'/,
    );
    t.regex(body.reason ?? '', new RegExp(`^resolver 127\\.0\\.0\\.1:${ub.port} `));
  }),
);

test(
  'not wired: unbound answers NXDOMAIN without any SOA',
  limited(async (t) => {
    const ub = await startCustomUnbound(t, { serverLines: ['local-zone: "global." static'] });
    if (!ub) return;
    const gs = await spawnGsdns(t, selfTestArgs(`127.0.0.1:${ub.port}`));
    await assertFailingVerdict(t, gs, /NXDOMAIN .*without gsdns's SOA .*stub domain for 'global' is missing or points elsewhere/);
  }),
);

test(
  'not wired: the stub domain points at a server that fails (unbound SERVFAILs)',
  limited(async (t) => {
    // Where the zone is sent, a broken server answers SERVFAIL (a dead port would make unbound try
    // for longer than any sensible timeout; the "did not answer" verdict has its own test).
    const broken = await fakeResolver(t, 2);
    const ub = await startCustomUnbound(t, {
      serverLines: ['domain-insecure: "global"'],
      clauses: `forward-zone:\n  name: "global"\n  forward-addr: 127.0.0.1@${broken.port}\n`,
    });
    if (!ub) return;
    const gs = await spawnGsdns(t, selfTestArgs(`127.0.0.1:${ub.port}`));
    await assertFailingVerdict(t, gs, /answered SERVFAIL for _selftest-[0-9a-f]+\.global: its stub domain for 'global'/);
    t.true(broken.received() >= 1, 'unbound did send the name to the configured address');
  }),
);

test(
  'another replica answered: a second gsdns with the same config matches by SOA',
  limited(async (t) => {
    const other = await spawnGsdns(t);
    const gs = await spawnGsdns(t, selfTestArgs(`127.0.0.1:${other.dnsPort}`));
    const { body } = await runSelfTest(gs.httpPort);
    t.true(body.ok, `verdict: ${JSON.stringify(body)}`);
    t.false(body.reachedThisReplica);
    t.regex(body.reason ?? '', /answered _selftest-[0-9a-f]+\.global as gsdns does \(NXDOMAIN, SOA ns\.global\.\): another gsdns replica/);
    const metrics = await metricsText(gs.httpPort);
    t.is(metricValue(metrics, 'gsdns_stub_wiring_ok'), 1);
  }),
);

test(
  'no reply: a resolver that never answers fails after timeoutMs',
  limited(async (t) => {
    const silent = await fakeResolver(t, undefined);
    const timeoutMs = 600;
    const gs = await spawnGsdns(t, selfTestArgs(`127.0.0.1:${silent.port}`, { timeoutMs }));
    // Let the automatic first run (1 s after start) finish, so the POST times a run of its own.
    const deadline = Date.now() + 10_000;
    while (((await getJson<SelfTestBody>(gs.httpPort, '/debug/selftest')).body.runs ?? 0) < 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const started = performance.now();
    const { body } = await runSelfTest(gs.httpPort);
    const elapsed = performance.now() - started;
    t.false(body.ok);
    t.false(body.reachedThisReplica);
    t.regex(
      body.reason ?? '',
      new RegExp(`resolver 127\\.0\\.0\\.1:${silent.port} did not answer _selftest-[0-9a-f]+\\.global within ${timeoutMs} ms`),
    );
    t.true(elapsed >= timeoutMs - 50, `the run waited for the timeout (${elapsed.toFixed(0)} ms)`);
    t.true(elapsed < timeoutMs + 2000, `the run ended soon after the timeout (${elapsed.toFixed(0)} ms)`);
    t.true(silent.received() >= 2, 'one query per run reached the resolver');
    t.is(metricValue(await metricsText(gs.httpPort), 'gsdns_stub_wiring_ok'), 0);
  }),
);

test(
  'the periodic run happens by itself',
  limited(async (t) => {
    const resolver = await fakeResolver(t, undefined);
    const gs = await spawnGsdns(t, selfTestArgs(`127.0.0.1:${resolver.port}`, { intervalSeconds: 1, timeoutMs: 200 }));
    const deadline = Date.now() + 8000;
    let body: SelfTestBody = { enabled: true };
    while (Date.now() < deadline) {
      body = (await getJson<SelfTestBody>(gs.httpPort, '/debug/selftest')).body;
      if ((body.runs ?? 0) >= 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    t.true((body.runs ?? 0) >= 2, `runs without a POST: ${JSON.stringify(body)}`);
    t.is(body.failures, body.runs);
    t.true(resolver.received() >= 2, 'each run sent a query to the resolver');
    const metrics = await metricsText(gs.httpPort);
    t.true((metricValue(metrics, 'gsdns_stub_wiring_checks_total', '{result="failed"}') ?? 0) >= 2);
  }),
);

test(
  'disabled by default: /debug/selftest says so and no gsdns_stub_wiring_ok',
  limited(async (t) => {
    const gs = await spawnGsdns(t);
    const { status, body } = await runSelfTest(gs.httpPort);
    t.is(status, 409, 'nothing to run');
    t.false(body.enabled);
    t.regex(body.hint ?? '', /selfTest\.enabled/);
    const read = await getJson<SelfTestBody>(gs.httpPort, '/debug/selftest');
    t.is(read.status, 200);
    t.false(read.body.enabled);
    const metrics = await metricsText(gs.httpPort);
    t.true(metrics.includes('gsdns_build_info'), 'the exposition itself is there');
    t.false(/^gsdns_stub_wiring_ok /m.test(metrics));
    t.false(/^gsdns_stub_wiring_checks_total/m.test(metrics));
    const ready = await getJson<ReadyBody>(gs.httpPort, '/readyz');
    t.false('stubWiring' in ready.body.components, 'no stubWiring component');
  }),
);

test('schedule: a failed run is retried soon, a passing one waits for the interval', async (t) => {
  const { SelfTest } = await import('../../src/ops/self-test.js');
  // A resolver that never answers, and one that answers every query as gsdns would (NXDOMAIN + SOA).
  const silent = createSocket('udp4');
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', () => resolve()));
  t.teardown(() => silent.close());
  const quiet = { info() {}, warn() {} };
  const failing = new SelfTest({
    zone: 'global',
    resolver: { address: '127.0.0.1', port: silent.address().port },
    intervalMs: 60_000,
    timeoutMs: 100,
    retryAfterFailureMs: 150,
    expected: () => ({ rcode: 3 }),
    logger: quiet,
  });
  t.teardown(() => failing.stop());
  failing.start(10);
  await new Promise((r) => setTimeout(r, 1500));
  t.true(
    failing.status().runs >= 3,
    `failed runs are retried within retryAfterFailureMs, not the 60 s interval: ${failing.status().runs} runs`,
  );
  t.is(failing.status().failures, failing.status().runs);
  t.false(failing.status().ok);
  // A passing run: the query reaches "us" (noteQuery) before the reply comes.
  const responder = createSocket('udp4');
  await new Promise<void>((resolve) => responder.bind(0, '127.0.0.1', () => resolve()));
  t.teardown(() => responder.close());
  let passing: InstanceType<typeof SelfTest> | undefined;
  responder.on('message', (msg, rinfo) => {
    const name = readQname(msg);
    passing?.noteQuery(name, rinfo.address);
    const reply = Buffer.from(msg);
    reply[2] = 0x81; // QR, RD
    reply[3] = 0x83; // RA, NXDOMAIN
    responder.send(reply, rinfo.port, rinfo.address);
  });
  passing = new SelfTest({
    zone: 'global',
    resolver: { address: '127.0.0.1', port: responder.address().port },
    intervalMs: 60_000,
    timeoutMs: 500,
    retryAfterFailureMs: 150,
    expected: () => ({ rcode: 3 }),
    logger: quiet,
  });
  t.teardown(() => passing?.stop());
  passing.start(10);
  await new Promise((r) => setTimeout(r, 1000));
  t.is(passing.status().runs, 1, 'a pass waits for the interval');
  t.true(passing.status().ok);
  t.true(passing.status().reachedThisReplica);
});

/** The question name of a query, lowercase, without the trailing dot. */
function readQname(msg: Buffer): string {
  const labels: string[] = [];
  let pos = 12;
  while (pos < msg.length && msg[pos]! > 0) {
    labels.push(msg.subarray(pos + 1, pos + 1 + msg[pos]!).toString('latin1'));
    pos += 1 + msg[pos]!;
  }
  return labels.join('.').toLowerCase();
}
