/**
 * /debug behind its own listener (http.debug, issue 12): split, on the ops listener (the default)
 * and disabled; no GET with side effects (the self-test runs on POST only); 405 with Allow.
 * Real sockets on loopback, in-process gsdns.
 */
import test, { type ExecutionContext } from 'ava';
import { createSocket } from 'node:dgram';
import { startInProcess, tempDir, demoCatalog } from '../helpers/gsdns-process.js';

const DEBUG_GETS = [
  '/debug/services',
  '/debug/clusters',
  '/debug/forward',
  '/debug/source',
  '/debug/selftest',
  '/debug/resolve?name=reviews.bookinfo.global&type=A',
];
const OPS_GETS = ['/healthz', '/readyz', '/metrics'];

function config(http: string, extra = ''): string {
  return `cluster: {name: demo-local, region: eu-west-1, zone: eu-west-1a, gateways: [{address: 203.0.113.10}]}
dns: {zones: [global]}
source: {type: file, file: {path: ${JSON.stringify(demoCatalog)}}}
http:
${http}
${extra}`;
}

async function status(port: number, path: string, method = 'GET'): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, signal: AbortSignal.timeout(10_000) });
  await res.arrayBuffer();
  return res.status;
}

async function json<T>(port: number, path: string, method = 'GET'): Promise<{ status: number; headers: Headers; body: T }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as T };
}

/** A UDP resolver that answers every query REFUSED at once, counting what it receives. */
async function refusingResolver(t: ExecutionContext): Promise<{ port: number; received: () => number }> {
  const socket = createSocket('udp4');
  let received = 0;
  socket.on('message', (msg, rinfo) => {
    received++;
    if (msg.length < 12) return;
    const reply = Buffer.from(msg);
    reply[2] = 0x80 | (msg[2]! & 0x79);
    reply[3] = 0x80 | 5; // RA, REFUSED
    socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { port: socket.address().port, received: () => received };
}

test('split: /debug/* is 404 on the ops listener and served on its own; /healthz, /readyz, /metrics only on the ops listener', async (t) => {
  const dir = tempDir(t);
  const s = await startInProcess(t, config('  debug: {listen: {address: 127.0.0.1, port: 0}}'), dir);
  const debugPort = s.debugHttpPort;
  if (debugPort === undefined) return t.fail('no debug listener');
  t.not(debugPort, s.httpPort);
  for (const path of DEBUG_GETS) {
    t.is(await status(s.httpPort, path), 404, `ops ${path}`);
    t.is(await status(debugPort, path), 200, `debug ${path}`);
  }
  t.is(await status(s.httpPort, '/debug/selftest/run', 'POST'), 404, 'the self-test trigger is not on the ops listener either');
  for (const path of OPS_GETS) {
    t.is(await status(s.httpPort, path), 200, `ops ${path}`);
    t.is(await status(debugPort, path), 404, `debug ${path}`);
  }
  // The ops listener's 404 does not advertise /debug.
  const notFound = await json<{ endpoints: string[] }>(s.httpPort, '/debug/clusters');
  t.false(
    notFound.body.endpoints.some((e) => e.includes('/debug')),
    notFound.body.endpoints.join(' '),
  );
  const resolved = await json<{ kind: string }>(debugPort, '/debug/resolve?name=reviews.bookinfo.global&type=A');
  t.is(resolved.body.kind, 'remote');
  // Both listeners are counted.
  const metrics = await (await fetch(`http://127.0.0.1:${s.httpPort}/metrics`)).text();
  t.regex(metrics, /^gsdns_http_connections\{listener="debug"\} \d+$/m);
  t.regex(metrics, /^gsdns_http_connections\{listener="ops"\} \d+$/m);
});

test('default: /debug/* is served on the ops listener, with no listener of its own', async (t) => {
  const dir = tempDir(t);
  const s = await startInProcess(t, config('  maxConnections: 512'), dir);
  t.is(s.debugHttpPort, undefined);
  for (const path of [...DEBUG_GETS, ...OPS_GETS]) t.is(await status(s.httpPort, path), 200, path);
});

test('disabled: /debug/* is served nowhere; the ops endpoints stay', async (t) => {
  const dir = tempDir(t);
  // listen is set too: enabled false wins, and no listener is made for it.
  const s = await startInProcess(t, config('  debug: {enabled: false, listen: {address: 127.0.0.1, port: 0}}'), dir);
  t.is(s.debugHttpPort, undefined);
  for (const path of DEBUG_GETS) t.is(await status(s.httpPort, path), 404, path);
  t.is(await status(s.httpPort, '/debug/selftest/run', 'POST'), 404);
  for (const path of OPS_GETS) t.is(await status(s.httpPort, path), 200, path);
});

test('the self-test runs on POST /debug/selftest/run only; GET /debug/selftest?run is 400 and runs nothing', async (t) => {
  const resolver = await refusingResolver(t);
  const dir = tempDir(t);
  const s = await startInProcess(
    t,
    config(
      '  debug: {listen: {address: 127.0.0.1, port: 0}}',
      `selfTest: {enabled: true, resolver: "127.0.0.1:${resolver.port}", intervalSeconds: 3600, timeoutMs: 2000}`,
    ),
    dir,
  );
  const debugPort = s.debugHttpPort!;
  // No scheduled run from here on; one run (joining any in flight) so nothing is pending.
  s.selfTest!.stop();
  await s.selfTest!.runOnce();
  type Verdict = { enabled: boolean; runs: number; ok?: boolean; error?: string };
  const before = await json<Verdict>(debugPort, '/debug/selftest');
  t.is(before.status, 200);
  const queries = resolver.received();

  // A GET with ?run used to await a run before answering: had it run one, the next read would show it.
  const get = await json<Verdict>(debugPort, '/debug/selftest?run');
  t.is(get.status, 400);
  t.regex(get.body.error ?? '', /POST \/debug\/selftest\/run/);
  t.is(await status(debugPort, '/debug/selftest?run', 'HEAD'), 400);
  t.is((await json<Verdict>(debugPort, '/debug/selftest')).body.runs, before.body.runs);
  t.is(resolver.received(), queries, 'no query went to the resolver');

  const post = await json<Verdict>(debugPort, '/debug/selftest/run', 'POST');
  t.is(post.status, 200);
  t.true(post.body.enabled);
  t.is(post.body.runs, before.body.runs + 1);
  t.false(post.body.ok, 'a REFUSED resolver is a failing verdict');
  t.is(resolver.received(), queries + 1, 'the run sent its query');
  t.is((await json<Verdict>(debugPort, '/debug/selftest')).body.runs, before.body.runs + 1);
});

test('other methods get 405 with Allow; unknown paths 404', async (t) => {
  const dir = tempDir(t);
  const s = await startInProcess(t, config('  debug: {listen: {address: 127.0.0.1, port: 0}}'), dir);
  const debugPort = s.debugHttpPort!;
  const cases: [port: number, path: string, method: string, allow: string][] = [
    [debugPort, '/debug/selftest/run', 'GET', 'POST'],
    [debugPort, '/debug/selftest/run', 'PUT', 'POST'],
    [debugPort, '/debug/selftest', 'POST', 'GET, HEAD'],
    [debugPort, '/debug/resolve?name=x.global', 'POST', 'GET, HEAD'],
    [debugPort, '/debug/clusters', 'DELETE', 'GET, HEAD'],
    [s.httpPort, '/healthz', 'POST', 'GET, HEAD'],
    [s.httpPort, '/metrics', 'PUT', 'GET, HEAD'],
  ];
  for (const [port, path, method, allow] of cases) {
    const res = await json<{ error: string }>(port, path, method);
    t.is(res.status, 405, `${method} ${path}`);
    t.is(res.headers.get('allow'), allow, `${method} ${path}`);
  }
  t.is(await status(debugPort, '/debug/nope'), 404);
  t.is(await status(s.httpPort, '/nope', 'POST'), 404);
});

test('config: http.debug.listen on the ops address and port is an error', async (t) => {
  const { loadConfig } = await import('../../src/config/index.js');
  const r = loadConfig({
    text: 'cluster: {name: a}\nsource: {file: {path: c.yaml}}\nhttp: {listen: {address: 0.0.0.0, port: 8080}, debug: {listen: {port: 8080}}}\n',
    env: {},
    sets: [],
  });
  t.false(r.ok);
  if (!r.ok)
    t.true(
      r.errors.some((e) => e.path === 'http.debug.listen' && /conflicts with http\.listen/.test(e.message)),
      JSON.stringify(r.errors),
    );
  const off = loadConfig({ text: 'cluster: {name: a}\nsource: {file: {path: c.yaml}}\nhttp: {debug: {listen: {}}}\n', env: {}, sets: [] });
  t.true(off.ok);
  if (off.ok) t.deepEqual(off.config.http.debug, { enabled: true, listen: { address: '127.0.0.1', port: 8081 } }, 'loopback by default');
});
