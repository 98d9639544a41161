/**
 * The Kubernetes source end to end: client-node's real informers inside gsdns, against the fake API
 * server (real list/watch protocol, test/helpers/fake-kube-apiserver.ts), checked through real DNS
 * queries and the ops endpoints. Covers convergence, failover to remote catalogs, readiness, and
 * recovery from dropped watches, 410, 500, stalled watches and reconnect storms with changes made
 * during each outage.
 */
import test, { type ExecutionContext } from 'ava';
import { join } from 'node:path';
import { craftQuery, parseReply, rawQuestion, udpExchange } from '../helpers/dns-tools.js';
import { dig, answers } from '../helpers/dig.js';
import { startInProcess, tempDir, writeFile } from '../helpers/gsdns-process.js';
import { endpointSlice, service, startFakeKubeApiServer, writeKubeconfig, type FakeKubeApiServer } from '../helpers/fake-kube-apiserver.js';

const REMOTES = `services: []
remotes:
  - cluster: cluster-west
    region: r1
    gateways: [{address: 192.0.2.10, port: 15443}]
    services:
      - {namespace: shop, name: cart, ready: true, ports: [{name: http, port: 80}]}
`;

interface Options {
  readonly namespaces?: readonly string[];
  readonly exportSelector?: string;
  readonly watchdogSeconds?: number;
  readonly gatewayService?: string;
}

async function setup(t: ExecutionContext, o: Options = {}, api?: FakeKubeApiServer) {
  const fake = api ?? (await startFakeKubeApiServer(t));
  const dir = tempDir(t);
  const kubeconfig = writeKubeconfig(dir, fake);
  writeFile(join(dir, 'remotes.yaml'), REMOTES);
  const yaml = `cluster: {name: test-local, region: r1${o.gatewayService ? `, gatewayService: ${o.gatewayService}` : ''}}
dns: {zones: [global]}
source:
  type: kubernetes
  file: {path: remotes.yaml}
  kubernetes:
    kubeconfig: ${JSON.stringify(kubeconfig)}
    namespaces: ${JSON.stringify(o.namespaces ?? [])}
    exportSelector: ${JSON.stringify(o.exportSelector ?? '')}
    watchdogSeconds: ${o.watchdogSeconds ?? 300}
`;
  const s = await startInProcess(t, yaml, dir);
  return { fake, s };
}

let nextId = 1;
async function resolve(port: number, name: string, type = 1): Promise<{ rcode: number; addresses: string[] }> {
  const reply = await udpExchange(port, craftQuery({ id: nextId++ & 0xffff, questions: [rawQuestion(name, type)] }), { timeoutMs: 5000 });
  if (reply === null) throw new Error(`no reply for ${name}`);
  const r = parseReply(reply);
  return {
    rcode: r.rcode,
    addresses: r.answers.map((a) => {
      const v = a['address'] ?? a['domain'];
      return typeof v === 'string' ? v : '';
    }),
  };
}

/** Poll DNS until the answer satisfies `ok`; returns the elapsed time. Fails the test on timeout. */
async function until(
  t: ExecutionContext,
  port: number,
  name: string,
  ok: (r: { rcode: number; addresses: string[] }) => boolean,
  what: string,
  timeoutMs = 8000,
  type = 1,
): Promise<number> {
  const started = Date.now();
  let last: { rcode: number; addresses: string[] } | undefined;
  while (Date.now() - started < timeoutMs) {
    last = await resolve(port, name, type);
    if (ok(last)) {
      t.pass(what);
      return Date.now() - started;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  t.fail(`${what}: still ${JSON.stringify(last)} after ${timeoutMs} ms`);
  return timeoutMs;
}

const NOERROR = 0;
const SERVFAIL = 2;
const NXDOMAIN = 3;
const is = (rcode: number, addresses?: string[]) => (r: { rcode: number; addresses: string[] }) =>
  r.rcode === rcode && (addresses === undefined || JSON.stringify([...r.addresses].sort()) === JSON.stringify([...addresses].sort()));

function cart(fake: FakeKubeApiServer, ready: boolean[], clusterIP = '10.96.5.5'): void {
  const svc = service({ namespace: 'shop', name: 'cart', clusterIP });
  if (fake.get('services', 'shop', 'cart')) fake.update('services', svc);
  else fake.create('services', svc);
  const slice = endpointSlice({
    namespace: 'shop',
    name: 'cart-abc',
    service: 'cart',
    endpoints: ready.map((r, i) => ({ addresses: [`10.244.0.${i + 1}`], ready: r })),
  });
  if (fake.get('endpointslices', 'shop', 'cart-abc')) fake.update('endpointslices', slice);
  else fake.create('endpointslices', slice);
}

test('a service appears, resolves locally, fails over when not ready, and goes away when deleted', async (t) => {
  const { fake, s } = await setup(t);
  await until(t, s.dnsPort, 'cart.shop.global', is(NOERROR, ['192.0.2.10']), 'synced: remote only');
  cart(fake, [true, true]);
  await until(t, s.dnsPort, 'cart.shop.global', is(NOERROR, ['10.96.5.5']), 'local answer');
  // Its endpoints go not ready: fail over to the remote catalog.
  cart(fake, [false, false]);
  await until(t, s.dnsPort, 'cart.shop.global', is(NOERROR, ['192.0.2.10']), 'failover to cluster-west');
  cart(fake, [false, true]);
  await until(t, s.dnsPort, 'cart.shop.global', is(NOERROR, ['10.96.5.5']), 'local again');
  // Deleted: the remote export remains; a name only known locally becomes NXDOMAIN.
  fake.create('services', service({ namespace: 'shop', name: 'solo', clusterIP: '10.96.5.6' }));
  fake.create(
    'endpointslices',
    endpointSlice({ namespace: 'shop', name: 'solo-1', service: 'solo', endpoints: [{ addresses: ['10.244.1.1'] }] }),
  );
  await until(t, s.dnsPort, 'solo.shop.global', is(NOERROR, ['10.96.5.6']), 'solo local');
  fake.remove('services', 'shop', 'solo');
  fake.remove('services', 'shop', 'cart');
  await until(t, s.dnsPort, 'solo.shop.global', is(NXDOMAIN), 'solo deleted');
  await until(t, s.dnsPort, 'cart.shop.global', is(NOERROR, ['192.0.2.10']), 'cart deleted locally: remote');
});

test('headless (both families), dual-stack ClusterIP and ExternalName through dig', async (t) => {
  const { fake, s } = await setup(t);
  fake.create('services', service({ namespace: 'db', name: 'pg', clusterIP: 'None' }));
  fake.create(
    'endpointslices',
    endpointSlice({
      namespace: 'db',
      name: 'pg-v4',
      service: 'pg',
      endpoints: [{ addresses: ['10.244.2.1'] }, { addresses: ['10.244.2.2'], ready: false }],
    }),
  );
  fake.create(
    'endpointslices',
    endpointSlice({ namespace: 'db', name: 'pg-v6', service: 'pg', addressType: 'IPv6', endpoints: [{ addresses: ['fd00::21'] }] }),
  );
  fake.create('services', service({ namespace: 'db', name: 'api', clusterIPs: ['10.96.9.9', 'fd00::99'] }));
  fake.create(
    'endpointslices',
    endpointSlice({ namespace: 'db', name: 'api-1', service: 'api', endpoints: [{ addresses: ['10.244.3.1'] }] }),
  );
  fake.create('services', service({ namespace: 'db', name: 'ext', externalName: 'Backend.Example.COM.' }));
  await until(t, s.dnsPort, 'pg.db.global', is(NOERROR, ['10.244.2.1']), 'headless A');
  const aaaa = await dig(t, s.dnsPort, ['pg.db.global', 'AAAA']);
  if (!aaaa) return;
  t.deepEqual(answers(aaaa, 'AAAA'), ['fd00::21']);
  const api6 = await dig(t, s.dnsPort, ['api.db.global', 'AAAA']);
  t.deepEqual(answers(api6!, 'AAAA'), ['fd00::99']);
  const ext = await dig(t, s.dnsPort, ['ext.db.global', 'A']);
  t.deepEqual(answers(ext!, 'CNAME'), ['backend.example.com.']);
  // publishNotReadyAddresses: the not-ready address is answered too.
  fake.modify('services', 'db', 'pg', (o) => {
    (o as unknown as { spec: { publishNotReadyAddresses?: boolean } }).spec.publishNotReadyAddresses = true;
  });
  await until(t, s.dnsPort, 'pg.db.global', is(NOERROR, ['10.244.2.1', '10.244.2.2']), 'publishNotReadyAddresses');
});

test('export selection: label selector, namespace list, and kube-system only when listed', async (t) => {
  const { fake, s } = await setup(t, { namespaces: ['shop', 'kube-system'], exportSelector: 'gsdns.io/export notin (false)' });
  const mk = (ns: string, name: string, labels: Record<string, string> = {}) => {
    fake.create('services', service({ namespace: ns, name, clusterIP: `10.96.7.${name.length}`, labels }));
    fake.create(
      'endpointslices',
      endpointSlice({ namespace: ns, name: `${name}-1`, service: name, endpoints: [{ addresses: ['10.244.9.9'] }] }),
    );
  };
  mk('shop', 'shown');
  mk('shop', 'hidden', { 'gsdns.io/export': 'false' });
  mk('other', 'elsewhere');
  mk('kube-system', 'kdns');
  await until(t, s.dnsPort, 'shown.shop.global', is(NOERROR), 'exported');
  await until(t, s.dnsPort, 'kdns.kube-system.global', is(NOERROR), 'kube-system listed explicitly');
  t.is((await resolve(s.dnsPort, 'hidden.shop.global')).rcode, NXDOMAIN);
  t.is((await resolve(s.dnsPort, 'elsewhere.other.global')).rcode, NXDOMAIN);
  // Labelled out later: withdrawn.
  fake.patchLabels('services', 'shop', 'shown', { 'gsdns.io/export': 'false' });
  await until(t, s.dnsPort, 'shown.shop.global', is(NXDOMAIN), 'label removed it from export');
  // One informer per listed namespace, none cluster-wide.
  t.false(fake.requests.some((r) => r.path === '/api/v1/services'));
});

test('kube-system is not exported when every namespace is watched', async (t) => {
  const { fake, s } = await setup(t);
  fake.create('services', service({ namespace: 'kube-system', name: 'kube-dns', clusterIP: '10.96.0.10' }));
  fake.create('services', service({ namespace: 'shop', name: 'web', clusterIP: '10.96.0.11' }));
  fake.create(
    'endpointslices',
    endpointSlice({ namespace: 'shop', name: 'web-1', service: 'web', endpoints: [{ addresses: ['10.244.0.9'] }] }),
  );
  await until(t, s.dnsPort, 'web.shop.global', is(NOERROR), 'web');
  t.is((await resolve(s.dnsPort, 'kube-dns.kube-system.global')).rcode, NXDOMAIN);
});

test('SERVFAIL and /readyz 503 before the first list; 200 and answers once it succeeds', async (t) => {
  const fake = await startFakeKubeApiServer(t);
  cart(fake, [true]);
  // Every list of services fails until the test has seen the not-ready state: the informer's
  // restart (about 1 s after a failure) must not race the checks below on a loaded machine.
  fake.failNext('services', { status: 500, on: 'list', count: Infinity });
  const { s } = await setup(t, {}, fake);
  const early = await resolve(s.dnsPort, 'cart.shop.global');
  t.is(early.rcode, SERVFAIL);
  const ready = await fetch(`http://127.0.0.1:${s.httpPort}/readyz`);
  t.is(ready.status, 503);
  const body = (await ready.json()) as { reasons: string[] };
  t.regex(body.reasons.join('\n'), /kubernetes: waiting for the first list of services/);
  t.true(fake.requestsFor('services', 'list').length >= 1, 'the failing list was made');
  t.is(fake.clearFailures('services'), 1, 'the held fault is released');
  // The informer stopped on the 500; our restart (with backoff) lists again.
  // Generous: a slow observation above means several failed restarts, and backoff doubles (≤ 30 s).
  await until(t, s.dnsPort, 'cart.shop.global', is(NOERROR, ['10.96.5.5']), 'after the restart', 45_000);
  t.is((await fetch(`http://127.0.0.1:${s.httpPort}/readyz`)).status, 200);
  const source = (await (await fetch(`http://127.0.0.1:${s.httpPort}/debug/source`)).json()) as {
    informers: { resource: string; restarts: number; lastError?: string }[];
  };
  const svcInformer = source.informers.find((i) => i.resource === 'services')!;
  t.true(svcInformer.restarts >= 1, `restarted after the 500 (${svcInformer.restarts} restarts)`);
  t.regex(svcInformer.lastError ?? '', /500/);
});

test('a dropped watch recovers with no lost update', async (t) => {
  const { fake, s } = await setup(t);
  cart(fake, [true]);
  await until(t, s.dnsPort, 'cart.shop.global', is(NOERROR, ['10.96.5.5']), 'initial');
  fake.dropWatches();
  cart(fake, [false]); // during the outage
  await until(t, s.dnsPort, 'cart.shop.global', is(NOERROR, ['192.0.2.10']), 'converged after the drop');
  t.is((await fetch(`http://127.0.0.1:${s.httpPort}/readyz`)).status, 200, 'stays ready while restarting');
});

test('410 Gone after deletions during the outage: relist replaces wholesale, no stale leftovers', async (t) => {
  const { fake, s } = await setup(t);
  cart(fake, [true]);
  fake.create('services', service({ namespace: 'shop', name: 'gone', clusterIP: '10.96.5.7' }));
  fake.create(
    'endpointslices',
    endpointSlice({ namespace: 'shop', name: 'gone-1', service: 'gone', endpoints: [{ addresses: ['10.244.4.1'] }] }),
  );
  await until(t, s.dnsPort, 'gone.shop.global', is(NOERROR), 'initial');
  // Make watches hang on, mutate behind them, compact the history, then let them reconnect.
  fake.stallWatches(undefined, true);
  fake.remove('services', 'shop', 'gone');
  fake.remove('endpointslices', 'shop', 'gone-1');
  cart(fake, [false]);
  fake.compact();
  fake.stallWatches(undefined, false);
  fake.closeWatches();
  await until(t, s.dnsPort, 'gone.shop.global', is(NXDOMAIN), 'deleted service gone after relist');
  await until(t, s.dnsPort, 'cart.shop.global', is(NOERROR, ['192.0.2.10']), 'cart converged');
  t.true(fake.requestsFor('services', 'list').length >= 2, 'relisted');
});

test('a 500 on the watch stops client-node; gsdns restarts it and converges', async (t) => {
  const { fake, s } = await setup(t);
  cart(fake, [true]);
  await until(t, s.dnsPort, 'cart.shop.global', is(NOERROR, ['10.96.5.5']), 'initial');
  fake.failNext('endpointslices', { status: 500, on: 'watch', count: 1 });
  fake.closeWatches('endpointslices');
  cart(fake, [false]);
  await until(t, s.dnsPort, 'cart.shop.global', is(NOERROR, ['192.0.2.10']), 'converged after the 500');
  const report = (await (await fetch(`http://127.0.0.1:${s.httpPort}/readyz`)).json()) as { ready: boolean };
  t.true(report.ready);
});

test('a stalled (half-open) watch is restarted by the watchdog and converges', async (t) => {
  const { fake, s } = await setup(t, { watchdogSeconds: 2 });
  cart(fake, [true]);
  await until(t, s.dnsPort, 'cart.shop.global', is(NOERROR, ['10.96.5.5']), 'initial');
  const restarts = async () =>
    (
      (await (await fetch(`http://127.0.0.1:${s.httpPort}/debug/source`)).json()) as { informers: { watchdogRestarts: number }[] }
    ).informers.reduce((n, i) => n + i.watchdogRestarts, 0);
  const restartsBefore = await restarts();
  const watchesBefore = fake.requestsFor('endpointslices', 'watch').length;
  fake.stallWatches(undefined, true, { headers: true });
  fake.closeWatches(); // reconnect into the stall: 200 headers, then silence forever
  cart(fake, [false]);
  // Reconnects are rate-limited; wait until the new watch has really opened into the stall.
  await fake.waitFor(() => fake.requestsFor('endpointslices', 'watch').length > watchesBefore, 30_000, 'reconnect into the stall');
  fake.stallWatches(undefined, false);
  await until(t, s.dnsPort, 'cart.shop.global', is(NOERROR, ['192.0.2.10']), 'watchdog restart', 30_000);
  // The change could only arrive through a new watch: the stalled one never sends it.
  t.true((await restarts()) > restartsBefore, 'converged through a watchdog restart');
});

test('a black-holed watch (no response headers) is abandoned by the watchdog too', async (t) => {
  const { fake, s } = await setup(t, { watchdogSeconds: 2 });
  cart(fake, [true]);
  await until(t, s.dnsPort, 'cart.shop.global', is(NOERROR, ['10.96.5.5']), 'initial');
  const restarts = async () =>
    (
      (await (await fetch(`http://127.0.0.1:${s.httpPort}/debug/source`)).json()) as { informers: { watchdogRestarts: number }[] }
    ).informers.reduce((n, i) => n + i.watchdogRestarts, 0);
  const restartsBefore = await restarts();
  const watchesBefore = fake.requestsFor('endpointslices', 'watch').length;
  fake.stallWatches(undefined, true, { headers: false });
  fake.closeWatches();
  cart(fake, [false]);
  await fake.waitFor(() => fake.requestsFor('endpointslices', 'watch').length > watchesBefore, 30_000, 'reconnect into the black hole');
  fake.stallWatches(undefined, false);
  await until(t, s.dnsPort, 'cart.shop.global', is(NOERROR, ['192.0.2.10']), 'watchdog restart', 30_000);
  t.true((await restarts()) > restartsBefore, 'converged through a watchdog restart');
});

test('watches closed in a loop are reopened at a bounded rate, and data still converges', async (t) => {
  const { fake, s } = await setup(t);
  cart(fake, [true]);
  await until(t, s.dnsPort, 'cart.shop.global', is(NOERROR, ['10.96.5.5']), 'initial');
  const before = fake.requestsFor('services', 'watch').length;
  const started = Date.now();
  while (Date.now() - started < 2000) {
    fake.closeWatches('services');
    await new Promise((r) => setTimeout(r, 10));
  }
  const reopened = fake.requestsFor('services', 'watch').length - before;
  // client-node alone reopens about 160 times a second here (see fake-kube-apiserver.test.ts).
  t.true(reopened <= 12, `${reopened} watch requests in 2 s`);
  fake.modify('services', 'shop', 'cart', (o) => {
    (o as unknown as { spec: { clusterIP: string; clusterIPs: string[] } }).spec.clusterIP = '10.96.5.50';
    (o as unknown as { spec: { clusterIP: string; clusterIPs: string[] } }).spec.clusterIPs = ['10.96.5.50'];
  });
  await until(t, s.dnsPort, 'cart.shop.global', is(NOERROR, ['10.96.5.50']), 'converged after the storm', 40_000);
});

test('cluster.gatewayService: LoadBalancer ingress IPs become the local gateways and follow changes', async (t) => {
  const fake = await startFakeKubeApiServer(t);
  fake.create(
    'services',
    service({ namespace: 'istio-system', name: 'eastwest', loadBalancerIngress: [{ ip: '203.0.113.10' }, { hostname: 'localhost' }] }),
  );
  const { s } = await setup(t, { gatewayService: '{namespace: istio-system, name: eastwest, port: 15443}' }, fake);
  const gateways = async () =>
    (
      (await (await fetch(`http://127.0.0.1:${s.httpPort}/debug/clusters`)).json()) as {
        local: { gateways: { address: string; port: number }[] };
      }
    ).local.gateways
      .map((g) => `${g.address}:${g.port}`)
      .sort();
  await fake.waitFor(() => s.localGateways().length >= 2, 5000, 'gateways resolved');
  t.deepEqual(
    (await gateways()).filter((g) => !g.startsWith('::1')),
    ['127.0.0.1:15443', '203.0.113.10:15443'],
  );
  fake.modify('services', 'istio-system', 'eastwest', (o) => {
    (o as unknown as { status: { loadBalancer: { ingress: { ip: string }[] } } }).status.loadBalancer.ingress = [{ ip: '203.0.113.20' }];
  });
  await fake.waitFor(() => s.localGateways().some((g) => g.address === '203.0.113.20'), 5000, 'gateway change');
  t.deepEqual(await gateways(), ['203.0.113.20:15443']);
});

test('an unreadable kubeconfig, or no in-cluster credentials, stops the start with a clear error and exit 3', async (t) => {
  const { execFile } = await import('node:child_process');
  const { binPath, loopbackSets, CLOSED_UPSTREAM_SET } = await import('../helpers/gsdns-process.js');
  const run = (sets: string[]) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const env = { ...process.env };
      delete env['KUBERNETES_SERVICE_HOST'];
      delete env['KUBERNETES_SERVICE_PORT'];
      execFile(
        process.execPath,
        [binPath, 'serve', ...[...loopbackSets, CLOSED_UPSTREAM_SET, 'source.type=kubernetes', ...sets].flatMap((s) => ['--set', s])],
        { env, timeout: 15_000 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, out: stdout + stderr }),
      );
    });
  const missing = await run(['source.kubernetes.kubeconfig=/nonexistent/kubeconfig']);
  t.is(missing.code, 3);
  t.regex(missing.out, /source\.kubernetes\.kubeconfig: cannot load \/nonexistent\/kubeconfig/);
  const outside = await run([]);
  t.is(outside.code, 3);
  t.regex(outside.out, /not a Kubernetes pod/);
});

test('an HTTPS API server verified against the kubeconfig CA', async (t) => {
  const fake = await startFakeKubeApiServer(t, { tls: true });
  cart(fake, [true]);
  const { s } = await setup(t, {}, fake);
  await until(t, s.dnsPort, 'cart.shop.global', is(NOERROR, ['10.96.5.5']), 'answer over an HTTPS API server');
});
