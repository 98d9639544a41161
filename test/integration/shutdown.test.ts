/**
 * Graceful shutdown of `gsdns serve` (shutdown.lameDuckSeconds): on SIGTERM/SIGINT /readyz goes
 * 503 at once while DNS and /healthz keep answering for the lame duck, then the process exits 0;
 * a second signal exits at once. Plus fatalHandler (uncaught exceptions, unhandled rejections).
 */
import test, { type ExecutionContext } from 'ava';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { spawnGsdns, type SpawnedServer } from '../helpers/gsdns-process.js';
import { craftQuery, parseReply, rawQuestion, tcpExchange, udpExchange } from '../helpers/dns-tools.js';
import { fatalHandler } from '../../src/serve.js';
import { createLogger } from '../../src/log.js';

const NAME = 'productpage.bookinfo.global';
const ADDRESS = '10.96.0.20';

interface Sent {
  readonly id: number;
  readonly atMs: number;
  /** 'ok' (NOERROR with the A record), 'bad' (a wrong reply), 'timeout'. */
  outcome?: 'ok' | 'bad' | 'timeout';
  detail?: string;
}

/**
 * A steady UDP query load: one query every `everyMs` from one socket, replies matched by ID, a
 * query without a reply within `timeoutMs` counts as a timeout. stop() resolves once every query
 * sent has an outcome.
 */
function startLoad(port: number, everyMs = 10, timeoutMs = 1000): { sent: Sent[]; stop: () => Promise<Sent[]> } {
  const socket = createSocket('udp4');
  const sent: Sent[] = [];
  const open = new Map<number, { entry: Sent; timer: NodeJS.Timeout }>();
  let nextId = 1;
  let drained: (() => void) | undefined;
  const settle = (id: number, outcome: NonNullable<Sent['outcome']>, detail?: string): void => {
    const o = open.get(id);
    if (!o) return;
    clearTimeout(o.timer);
    open.delete(id);
    o.entry.outcome = outcome;
    if (detail !== undefined) o.entry.detail = detail;
    if (open.size === 0) drained?.();
  };
  socket.on('message', (msg) => {
    try {
      const r = parseReply(msg);
      const addresses = r.answers.map((a) => a['address']);
      if (r.qr && r.rcode === 0 && addresses.length === 1 && addresses[0] === ADDRESS) settle(r.id, 'ok');
      else settle(r.id, 'bad', `rcode ${r.rcode} answers ${JSON.stringify(addresses)}`);
    } catch (err) {
      if (msg.length >= 2) settle(msg.readUInt16BE(0), 'bad', (err as Error).message);
    }
  });
  socket.on('error', () => undefined); // ICMP unreachable after exit shows up as timeouts
  const send = (): void => {
    const id = nextId++;
    const entry: Sent = { id, atMs: performance.now() };
    sent.push(entry);
    open.set(id, { entry, timer: setTimeout(() => settle(id, 'timeout'), timeoutMs) });
    socket.send(craftQuery({ id, questions: [rawQuestion(NAME)] }), port, '127.0.0.1');
  };
  const interval = setInterval(send, everyMs);
  send();
  return {
    sent,
    stop: async () => {
      clearInterval(interval);
      if (open.size > 0) await new Promise<void>((resolve) => (drained = resolve));
      socket.close();
      return sent;
    },
  };
}

async function httpStatus(port: number, path: string): Promise<{ status: number; body: string } | 'refused'> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
    return { status: res.status, body: await res.text() };
  } catch {
    return 'refused';
  }
}

/** Poll /readyz until it is 503; the time (performance.now()) and body of the first 503. */
async function waitNotReady(port: number, limitMs: number): Promise<{ atMs: number; body: string } | undefined> {
  const deadline = performance.now() + limitMs;
  while (performance.now() < deadline) {
    const r = await httpStatus(port, '/readyz');
    if (r !== 'refused' && r.status === 503) return { atMs: performance.now(), body: r.body };
    await new Promise((res) => setTimeout(res, 20));
  }
  return undefined;
}

function exitOf(gs: SpawnedServer): Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }> {
  return new Promise((resolve) => gs.child.once('exit', (code, signal) => resolve({ code, signal, atMs: performance.now() })));
}

async function tcpRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

async function assertReadyFirst(t: ExecutionContext, gs: SpawnedServer): Promise<void> {
  const r = await httpStatus(gs.httpPort, '/readyz');
  t.true(r !== 'refused' && r.status === 200, 'ready before the signal');
}

test('SIGTERM under load: not ready at once, every query answered through the lame duck, exit 0 after it', async (t) => {
  const lameDuckMs = 2000;
  const gs = await spawnGsdns(t, ['--set', `shutdown.lameDuckSeconds=${lameDuckMs / 1000}`]);
  await assertReadyFirst(t, gs);
  const exited = exitOf(gs);
  const load = startLoad(gs.dnsPort);
  await new Promise((r) => setTimeout(r, 300));

  const signalAt = performance.now();
  gs.child.kill('SIGTERM');
  const notReady = await waitNotReady(gs.httpPort, 1500);
  t.truthy(notReady, '/readyz turned 503 during the lame duck');
  if (notReady) {
    t.log(`/readyz was 503 ${(notReady.atMs - signalAt).toFixed(0)} ms after SIGTERM`);
    const body = JSON.parse(notReady.body) as { ready: boolean; shuttingDown: boolean; reasons: string[] };
    t.false(body.ready);
    t.true(body.shuttingDown);
    t.true(body.reasons.includes('shutting down'), notReady.body);
  }

  // Mid lame duck: liveness still passes, and TCP still answers as well as UDP.
  await new Promise((r) => setTimeout(r, Math.max(0, signalAt + 800 - performance.now())));
  const healthz = await httpStatus(gs.httpPort, '/healthz');
  t.true(healthz !== 'refused' && healthz.status === 200, `/healthz during the lame duck: ${JSON.stringify(healthz)}`);
  const [tcpReply] = await tcpExchange(gs.dnsPort, [craftQuery({ id: 0x7cb, questions: [rawQuestion(NAME)] })]);
  t.truthy(tcpReply, 'a TCP query during the lame duck is answered');
  if (tcpReply) {
    const r = parseReply(tcpReply);
    t.is(r.rcode, 0);
    t.deepEqual(
      r.answers.map((a) => a['address']),
      [ADDRESS],
    );
  }
  t.is(gs.child.exitCode, null, 'still running mid lame duck');

  const exit = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), lameDuckMs + 20_000))]);
  const sent = await load.stop();
  t.truthy(exit, 'the process exited');
  if (!exit) return;
  const took = exit.atMs - signalAt;
  t.is(exit.code, 0, gs.logs());
  t.is(exit.signal, null);
  t.true(took >= lameDuckMs - 100, `waited for the lame duck: exited ${took.toFixed(0)} ms after SIGTERM`);

  const before = sent.filter((s) => s.atMs < signalAt);
  const during = sent.filter((s) => s.atMs >= signalAt && s.atMs <= signalAt + lameDuckMs - 200);
  t.true(before.length >= 10, `${before.length} queries before the signal`);
  t.true(during.length >= 40, `${during.length} queries during the lame duck`);
  t.log(
    `503 after ${notReady ? (notReady.atMs - signalAt).toFixed(0) : '-'} ms; exit after ${took.toFixed(0)} ms; ${before.length} queries before, ${during.length} during`,
  );
  const failed = [...before, ...during].filter((s) => s.outcome !== 'ok');
  t.deepEqual(
    failed.map((s) => `#${s.id} at +${(s.atMs - signalAt).toFixed(0)} ms: ${s.outcome} ${s.detail ?? ''}`),
    [],
    'every query before and during the lame duck got NOERROR with the A record',
  );

  // After exit the port is gone: no DNS reply over UDP, TCP and HTTP refused.
  t.is(await udpExchange(gs.dnsPort, craftQuery({ id: 0x55, questions: [rawQuestion(NAME)] }), { timeoutMs: 300 }), null);
  t.true(await tcpRefused(gs.dnsPort), 'DNS TCP port refused after exit');
  t.true(await tcpRefused(gs.httpPort), 'HTTP port refused after exit');
  t.regex(gs.logs(), /shutting down: not ready, still answering during lame duck/);
  t.regex(gs.logs(), /"msg":"stopped"/);
});

test('a second signal exits at once with code 1', async (t) => {
  const gs = await spawnGsdns(t, ['--set', 'shutdown.lameDuckSeconds=120']);
  const exited = exitOf(gs);
  gs.child.kill('SIGTERM');
  t.truthy(await waitNotReady(gs.httpPort, 3000), 'the first signal was handled (not ready)');
  t.is(gs.child.exitCode, null, 'still in the lame duck');
  const secondAt = performance.now();
  gs.child.kill('SIGINT');
  // Far inside the 120 s lame duck, however busy the machine: only the second signal ends it.
  const exit = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 30_000))]);
  t.truthy(exit, 'exited after the second signal');
  if (!exit) return;
  const took = exit.atMs - secondAt;
  t.true(took < 30_000, `exited ${took.toFixed(0)} ms after the second signal (lame duck was 120 s)`);
  t.is(exit.code, 1);
  t.regex(gs.logs(), /second signal/);
});

test('SIGINT behaves like SIGTERM: not ready first, answering, then exit 0', async (t) => {
  const gs = await spawnGsdns(t, ['--set', 'shutdown.lameDuckSeconds=5']);
  await assertReadyFirst(t, gs);
  const exited = exitOf(gs);
  const signalAt = performance.now();
  gs.child.kill('SIGINT');
  const notReady = await waitNotReady(gs.httpPort, 4000);
  t.truthy(notReady, '/readyz 503 during the lame duck');
  const reply = await udpExchange(gs.dnsPort, craftQuery({ id: 0x1e7, questions: [rawQuestion(NAME)] }), { timeoutMs: 3000 });
  t.truthy(reply, 'DNS answers during the lame duck');
  if (reply) t.is(parseReply(reply).rcode, 0);
  const exit = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 20_000))]);
  t.truthy(exit);
  if (!exit) return;
  const took = exit.atMs - signalAt;
  t.is(exit.code, 0);
  t.true(took >= 4900, `waited for the lame duck: ${took.toFixed(0)} ms`);
  t.regex(gs.logs(), /"signal":"SIGINT"/);
});

test('fatalHandler logs at fatal with the error and exits 70, for both kinds', (t) => {
  for (const [what, text] of [
    ['uncaughtException', 'uncaught exception'],
    ['unhandledRejection', 'unhandled promise rejection'],
  ] as const) {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    });
    const logger = createLogger('info', sink);
    const exits: number[] = [];
    const handler = fatalHandler(logger, (code) => exits.push(code));
    const err = new Error(`boom from ${what}`);
    handler(what, err);
    t.deepEqual(exits, [70], what);
    t.is(lines.length, 1, what);
    const rec = JSON.parse(lines[0]!) as {
      level: number;
      msg: string;
      event: string;
      err: { type: string; message: string; stack: string };
    };
    t.is(rec.level, 60, 'pino fatal');
    t.is(rec.event, what);
    t.true(rec.msg.startsWith(text), rec.msg);
    t.is(rec.err.message, `boom from ${what}`);
    t.is(rec.err.type, 'Error');
    t.regex(rec.err.stack, /shutdown\.test/);
  }
  // A rejection with a non-Error reason is still logged and still exits 70.
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  const exits: number[] = [];
  fatalHandler(createLogger('info', sink), (code) => exits.push(code))('unhandledRejection', 'just a string');
  t.deepEqual(exits, [70]);
  t.regex(lines.join(''), /"level":60.*just a string/);
});
