/**
 * The fake Kubernetes API server (test/helpers/fake-kube-apiserver.ts) against the REAL
 * @kubernetes/client-node 1.4.0: its generated API classes and its ListWatch informer, loaded from
 * the kubeconfig the helper writes. These tests prove the fake speaks the list/watch protocol
 * (paging over a snapshot, RV replay, 410 after compaction, selectors, bookmarks, HTTPS) and pin
 * down how client-node 1.4.0 reacts to each fault, which gsdns's Kubernetes source must survive
 * (see /work/shared/KNOWN-DEFECTS.md).
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import test, { type ExecutionContext } from 'ava';
import {
  ApiException,
  CoreV1Api,
  DiscoveryV1Api,
  ListWatch,
  Watch,
  makeInformer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1EndpointSlice,
  type V1Service,
} from '@kubernetes/client-node';
import {
  endpointSlice,
  listAllPages,
  loadKubeConfig,
  namespace,
  service,
  startFakeKubeApiServer,
  waitUntil,
  type FakeKubeApiServer,
} from '../helpers/fake-kube-apiserver.js';

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

interface Seen {
  readonly verb: 'add' | 'update' | 'delete';
  readonly key: string;
  readonly rv: string | undefined;
}

interface Harness<T extends KubernetesObject> {
  readonly informer: ListWatch<T>;
  readonly seen: Seen[];
  readonly errors: unknown[];
  readonly connects: number[];
}

/** A real ListWatch (autoStart false) with every callback recorded; stopped in t.teardown. */
function harness<T extends KubernetesObject>(
  t: ExecutionContext,
  kc: KubeConfig,
  path: string,
  listFn: () => Promise<KubernetesListObject<T>>,
  labelSelector?: string,
): Harness<T> {
  const informer = new ListWatch<T>(path, new Watch(kc), listFn, false, labelSelector);
  const h: Harness<T> = { informer, seen: [], errors: [], connects: [] };
  for (const verb of ['add', 'update', 'delete'] as const) {
    informer.on(verb, (o) =>
      h.seen.push({ verb, key: `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`, rv: o.metadata?.resourceVersion }),
    );
  }
  informer.on('error', (err) => h.errors.push(err));
  informer.on('connect', () => h.connects.push(Date.now()));
  t.teardown(() => informer.stop());
  return h;
}

function servicesListFn(kc: KubeConfig, limit?: number, labelSelector?: string): () => Promise<KubernetesListObject<V1Service>> {
  const api = kc.makeApiClient(CoreV1Api);
  return () => listAllPages((c) => api.listServiceForAllNamespaces({ limit, _continue: c, labelSelector }));
}

async function startServices(t: ExecutionContext, fake: FakeKubeApiServer, labelSelector?: string): Promise<Harness<V1Service>> {
  const kc = loadKubeConfig(t, fake);
  const h = harness(t, kc, '/api/v1/services', servicesListFn(kc, undefined, labelSelector), labelSelector);
  const open = fake.openWatches('services');
  await h.informer.start();
  await fake.waitFor(() => fake.openWatches('services') === open + 1, 5000, 'the informer watch');
  return h;
}

const has = (seen: readonly Seen[], verb: Seen['verb'], key: string): boolean => seen.some((s) => s.verb === verb && s.key === key);

/** client-node's ApiException carries the response body as text: parse the Status out of it. */
function statusOf(err: unknown): Record<string, unknown> {
  assertApiException(err);
  return JSON.parse(err.body as string) as Record<string, unknown>;
}

function assertApiException(err: unknown): asserts err is ApiException<unknown> {
  if (!(err instanceof ApiException)) throw new Error(`not an ApiException: ${String(err)}`);
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface RawWatch {
  readonly status: Promise<number>;
  readonly headers: Promise<IncomingHttpHeaders>;
  readonly events: { type: string; object: Record<string, unknown> & { metadata?: Record<string, unknown> } }[];
  readonly ended: Promise<void>;
  close(): void;
}

/** A watch over plain node:http, reading the chunked body line by line. */
function rawWatch(t: ExecutionContext, fake: FakeKubeApiServer, path: string, query: Record<string, string>): RawWatch {
  const url = new URL(path, fake.url);
  url.searchParams.set('watch', 'true');
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const events: RawWatch['events'] = [];
  let resolveHead!: (v: [number, IncomingHttpHeaders]) => void;
  const head = new Promise<[number, IncomingHttpHeaders]>((r) => (resolveHead = r));
  let resolveEnd!: () => void;
  const ended = new Promise<void>((r) => (resolveEnd = r));
  const req = httpRequest(url, { headers: { Authorization: `Bearer ${fake.token}` } }, (res) => {
    resolveHead([res.statusCode ?? 0, res.headers]);
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) events.push(JSON.parse(line) as RawWatch['events'][number]);
      }
    });
    res.on('end', () => resolveEnd());
    res.on('close', () => resolveEnd());
  });
  req.on('error', () => resolveEnd());
  req.end();
  t.teardown(() => req.destroy());
  return { status: head.then(([s]) => s), headers: head.then(([, h]) => h), events, ended, close: () => req.destroy() };
}

// ---------------------------------------------------------------------------------------------
// The fake on its own, through client-node's generated API classes
// ---------------------------------------------------------------------------------------------

test('generated APIs list and read services, endpoint slices and namespaces; errors are Status objects', async (t) => {
  const fake = await startFakeKubeApiServer(t);
  fake.create('namespaces', namespace('bookinfo', { team: 'books' }));
  fake.create('services', service({ namespace: 'bookinfo', name: 'productpage', clusterIP: '10.96.0.20', labels: { app: 'productpage' } }));
  fake.create('services', service({ namespace: 'bookinfo', name: 'details', clusterIP: 'None' }));
  fake.create('services', service({ namespace: 'bookinfo', name: 'dual', clusterIPs: ['10.96.0.30', 'fd00::30'] }));
  fake.create(
    'services',
    service({ namespace: 'istio-system', name: 'eastwest', loadBalancerIngress: [{ ip: '192.0.2.10' }, { hostname: 'gw.example.com' }] }),
  );
  fake.create('services', service({ namespace: 'other', name: 'ext', externalName: 'db.example.com' }));
  fake.create(
    'endpointslices',
    endpointSlice({
      namespace: 'bookinfo',
      name: 'details-abc',
      service: 'details',
      endpoints: [{ addresses: ['10.244.1.5'] }, { addresses: ['10.244.3.9'], ready: false }],
    }),
  );
  fake.create(
    'endpointslices',
    endpointSlice({ namespace: 'bookinfo', name: 'dual-v6', service: 'dual', addressType: 'IPv6', endpoints: [] }),
  );

  const kc = loadKubeConfig(t, fake);
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);

  const all = await core.listServiceForAllNamespaces();
  t.is(all.kind, 'ServiceList');
  t.is(all.apiVersion, 'v1');
  t.is(all.metadata?.resourceVersion, fake.resourceVersion);
  t.deepEqual(
    all.items.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`),
    ['bookinfo/details', 'bookinfo/dual', 'bookinfo/productpage', 'istio-system/eastwest', 'other/ext'],
    'sorted by the etcd key, namespace then name',
  );
  t.true(
    all.items.every(
      (s) => s.kind === 'Service' && s.apiVersion === 'v1' && /^\d+$/.test(s.metadata?.resourceVersion ?? '') && !!s.metadata?.uid,
    ),
  );

  const inNs = await core.listNamespacedService({ namespace: 'bookinfo' });
  t.deepEqual(
    inNs.items.map((s) => s.metadata?.name),
    ['details', 'dual', 'productpage'],
  );
  const dual = inNs.items[1]!;
  t.deepEqual(dual.spec?.clusterIPs, ['10.96.0.30', 'fd00::30']);
  t.deepEqual(dual.spec?.ipFamilies, ['IPv4', 'IPv6']);
  t.is(dual.spec?.ipFamilyPolicy, 'RequireDualStack');
  t.is(inNs.items[0]!.spec?.clusterIP, 'None');

  const pp = await core.readNamespacedService({ namespace: 'bookinfo', name: 'productpage' });
  t.is(pp.spec?.clusterIP, '10.96.0.20');
  t.is(pp.metadata?.labels?.app, 'productpage');
  t.true(pp.metadata?.creationTimestamp instanceof Date, 'client-node deserializes timestamps of API results into Date');
  const gw = await core.readNamespacedService({ namespace: 'istio-system', name: 'eastwest' });
  t.is(gw.spec?.type, 'LoadBalancer');
  t.deepEqual(
    gw.status?.loadBalancer?.ingress?.map((i) => i.ip ?? i.hostname),
    ['192.0.2.10', 'gw.example.com'],
  );
  const ext = await core.readNamespacedService({ namespace: 'other', name: 'ext' });
  t.is(ext.spec?.type, 'ExternalName');
  t.is(ext.spec?.externalName, 'db.example.com');
  t.is(ext.spec?.clusterIP, undefined);

  const slices = await discovery.listEndpointSliceForAllNamespaces();
  t.is(slices.kind, 'EndpointSliceList');
  t.is(slices.apiVersion, 'discovery.k8s.io/v1');
  t.is(slices.items.length, 2);
  const nsSlices = await discovery.listNamespacedEndpointSlice({
    namespace: 'bookinfo',
    labelSelector: 'kubernetes.io/service-name=details',
  });
  t.is(nsSlices.items.length, 1);
  const details = nsSlices.items[0]!;
  t.is(details.addressType, 'IPv4');
  t.deepEqual(
    details.endpoints.map((e) => [e.addresses[0], e.conditions?.ready, e.conditions?.serving, e.conditions?.terminating]),
    [
      ['10.244.1.5', true, true, false],
      ['10.244.3.9', false, false, false],
    ],
  );
  const empty = await discovery.listNamespacedEndpointSlice({ namespace: 'bookinfo', fieldSelector: 'metadata.name=dual-v6' });
  t.is(
    empty.items[0]!.endpoints,
    null as unknown as V1EndpointSlice['endpoints'],
    'an empty slice has endpoints: null, as real servers send it',
  );

  const nss = await core.listNamespace();
  t.is(nss.kind, 'NamespaceList');
  t.deepEqual(
    nss.items.map((n) => [n.metadata?.name, n.metadata?.labels?.['kubernetes.io/metadata.name'], n.status?.phase]),
    [['bookinfo', 'bookinfo', 'Active']],
  );

  t.is((await core.readNamespace({ name: 'bookinfo' })).metadata?.labels?.team, 'books');
  const oneSlice = await fetch(`${fake.url}/apis/discovery.k8s.io/v1/namespaces/bookinfo/endpointslices/details-abc`, {
    headers: { Authorization: `Bearer ${fake.token}` },
  });
  t.like(await oneSlice.json(), {
    kind: 'EndpointSlice',
    apiVersion: 'discovery.k8s.io/v1',
    metadata: { name: 'details-abc', labels: { 'kubernetes.io/service-name': 'details' } },
  });

  const missing = await t.throwsAsync(core.readNamespacedService({ namespace: 'bookinfo', name: 'nosuch' }));
  t.true(missing instanceof ApiException);
  t.is((missing as ApiException<unknown>).code, 404);
  t.is(typeof (missing as ApiException<unknown>).body, 'string', 'client-node 1.4.0 leaves the Status as unparsed text');
  t.like(statusOf(missing), { kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404 });

  const unknown = await fetch(`${fake.url}/api/v1/pods`, { headers: { Authorization: `Bearer ${fake.token}` } });
  t.is(unknown.status, 404);
  t.like(await unknown.json(), { kind: 'Status', apiVersion: 'v1', reason: 'NotFound', code: 404 });
  const anonymous = await fetch(`${fake.url}/api/v1/services`);
  t.is(anonymous.status, 401);
  t.like(await anonymous.json(), { kind: 'Status', reason: 'Unauthorized', code: 401 });
  const badToken = await t.throwsAsync(loadKubeConfig(t, fake, { token: 'wrong' }).makeApiClient(CoreV1Api).listNamespace());
  t.is((badToken as ApiException<unknown>).code, 401);
});

test('LIST pages over a consistent snapshot; a continue token older than the compaction point is 410 Expired', async (t) => {
  const fake = await startFakeKubeApiServer(t);
  for (const name of ['b', 'c', 'd', 'e', 'f']) fake.create('services', service({ namespace: 'ns', name }));
  const api = loadKubeConfig(t, fake).makeApiClient(CoreV1Api);

  const p1 = await api.listNamespacedService({ namespace: 'ns', limit: 2 });
  const snapshot = p1.metadata?.resourceVersion;
  t.deepEqual(
    p1.items.map((s) => s.metadata?.name),
    ['b', 'c'],
  );
  t.is(p1.metadata?.remainingItemCount, 3);
  t.truthy(p1.metadata?._continue);
  const token = JSON.parse(Buffer.from(p1.metadata!._continue!, 'base64url').toString()) as { v: string; rv: number; start: string };
  t.deepEqual(token, { v: 'meta.k8s.io/v1', rv: Number(snapshot), start: 'ns/c\u0000' }, 'the real apiserver token format');

  // Changes between pages are not seen by the rest of the paged list...
  fake.create('services', service({ namespace: 'ns', name: 'a' }));
  fake.remove('services', 'ns', 'e');
  fake.modify('services', 'ns', 'd', (o) => {
    o.metadata.labels = { changed: 'yes' };
  });
  const p2 = await api.listNamespacedService({ namespace: 'ns', limit: 2, _continue: p1.metadata?._continue });
  t.deepEqual(
    p2.items.map((s) => s.metadata?.name),
    ['d', 'e'],
  );
  t.is(p2.items[0]!.metadata?.labels, undefined, 'd as of the snapshot');
  t.is(p2.metadata?.resourceVersion, snapshot);
  const p3 = await api.listNamespacedService({ namespace: 'ns', limit: 2, _continue: p2.metadata?._continue });
  t.deepEqual(
    p3.items.map((s) => s.metadata?.name),
    ['f'],
  );
  t.is(p3.metadata?._continue, undefined);
  t.is(p3.metadata?.remainingItemCount, undefined);

  // ...but a watch from the snapshot RV replays them, in order.
  const w = rawWatch(t, fake, '/api/v1/namespaces/ns/services', { resourceVersion: snapshot! });
  await waitUntil(() => w.events.length === 3);
  t.deepEqual(
    w.events.map((e) => [e.type, e.object.metadata?.name]),
    [
      ['ADDED', 'a'],
      ['DELETED', 'e'],
      ['MODIFIED', 'd'],
    ],
  );

  // With a selector the remaining count is unknown, as on a real server.
  const sel = await api.listNamespacedService({ namespace: 'ns', limit: 1, labelSelector: '!changed' });
  t.truthy(sel.metadata?._continue);
  t.is(sel.metadata?.remainingItemCount, undefined);

  const current = await api.listNamespacedService({ namespace: 'ns', limit: 2 });
  fake.create('services', service({ namespace: 'ns', name: 'g' }));
  fake.compact();
  const expired = await t.throwsAsync(api.listNamespacedService({ namespace: 'ns', limit: 2, _continue: current.metadata?._continue }));
  t.is((expired as ApiException<unknown>).code, 410);
  t.like(statusOf(expired), { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410 });
  t.is(fake.requests.at(-1)?.status, 410);
});

test('failNext counts requests per resource and kind', async (t) => {
  const fake = await startFakeKubeApiServer(t);
  fake.create('namespaces', namespace('ns'));
  const core = loadKubeConfig(t, fake).makeApiClient(CoreV1Api);
  fake.failNext('*', { status: 503, count: 2, on: 'list' });
  fake.failNext('services', { status: 403, on: 'get' });
  const codes = async (p: Promise<unknown>): Promise<number> =>
    p.then(
      () => 200,
      (e: unknown) => (e as ApiException<unknown>).code,
    );
  t.is(await codes(core.readNamespacedService({ namespace: 'ns', name: 'x' })), 403);
  t.is(await codes(core.listNamespace()), 503);
  t.is(await codes(core.listServiceForAllNamespaces()), 503);
  t.is(await codes(core.listServiceForAllNamespaces()), 200);
  t.is(await codes(core.readNamespacedService({ namespace: 'ns', name: 'x' })), 404);
  t.deepEqual(
    fake.requests.map((r) => r.status),
    [403, 503, 503, 200, 404],
  );
});

test('label selectors take the full syntax and field selectors metadata.name/namespace', async (t) => {
  const fake = await startFakeKubeApiServer(t);
  fake.create('services', service({ namespace: 'a', name: 's1', labels: { app: 'web', tier: 'front', weight: '10' } }));
  fake.create('services', service({ namespace: 'a', name: 's2', labels: { app: 'db', tier: 'back', weight: '3' } }));
  fake.create('services', service({ namespace: 'a', name: 's3', labels: { app: 'web', 'example.com/export': '' } }));
  fake.create('services', service({ namespace: 'b', name: 's4' }));
  const api = loadKubeConfig(t, fake).makeApiClient(CoreV1Api);
  const names = async (labelSelector?: string, fieldSelector?: string): Promise<string[]> =>
    (await api.listServiceForAllNamespaces({ labelSelector, fieldSelector })).items.map((s) => s.metadata!.name!);

  const cases: [string, string[]][] = [
    ['', ['s1', 's2', 's3', 's4']],
    ['app=web', ['s1', 's3']],
    ['app==web', ['s1', 's3']],
    ['app!=web', ['s2', 's4']],
    ['app in (web,db)', ['s1', 's2', 's3']],
    ['app in ( db )', ['s2']],
    ['app notin (web)', ['s2', 's4']],
    ['tier', ['s1', 's2']],
    ['!tier', ['s3', 's4']],
    ['app=web,tier', ['s1']],
    ['app in (web), !tier', ['s3']],
    ['example.com/export', ['s3']],
    ['example.com/export=', ['s3']],
    ['weight>5', ['s1']],
    ['weight<5', ['s2']],
    ['app=nosuch', []],
  ];
  for (const [selector, expected] of cases) t.deepEqual(await names(selector), expected, `labelSelector '${selector}'`);

  t.deepEqual(await names(undefined, 'metadata.name=s2'), ['s2']);
  t.deepEqual(await names(undefined, 'metadata.name==s2'), ['s2']);
  t.deepEqual(await names(undefined, 'metadata.namespace!=a'), ['s4']);
  t.deepEqual(await names('app=web', 'metadata.namespace=a,metadata.name!=s1'), ['s3']);

  for (const bad of ['app=(', 'app in web', 'a b', 'app=web,', '=x', 'app=web=x']) {
    const err = await t.throwsAsync(names(bad), undefined, `labelSelector '${bad}'`);
    t.is((err as ApiException<unknown>).code, 400, `labelSelector '${bad}'`);
  }
  const badField = await t.throwsAsync(names(undefined, 'spec.type=ClusterIP'));
  t.is((badField as ApiException<unknown>).code, 400);
  t.like(statusOf(badField), { reason: 'BadRequest', message: 'field label not supported: spec.type' });
});

test('raw watch: chunked NDJSON, replay from an RV, "" and "0" start now, compacted RV gets an ERROR 410 event, timeoutSeconds ends cleanly', async (t) => {
  const fake = await startFakeKubeApiServer(t);
  const first = fake.create('services', service({ namespace: 'ns', name: 'one' }));
  fake.create('services', service({ namespace: 'ns', name: 'two' }));

  const replay = rawWatch(t, fake, '/api/v1/services', { resourceVersion: first.metadata.resourceVersion! });
  t.is(await replay.status, 200);
  const headers = await replay.headers;
  t.is(headers['transfer-encoding'], 'chunked');
  t.is(headers['content-type'], 'application/json');
  await waitUntil(() => replay.events.length === 1);
  t.deepEqual(
    replay.events.map((e) => [e.type, e.object.metadata?.name]),
    [['ADDED', 'two']],
  );
  t.like(replay.events[0]!.object, { kind: 'Service', apiVersion: 'v1' });

  const fromEmpty = rawWatch(t, fake, '/api/v1/services', { resourceVersion: '' });
  const fromZero = rawWatch(t, fake, '/api/v1/services', { resourceVersion: '0' });
  await fake.waitFor(() => fake.openWatches('services') === 3);
  const three = fake.create('services', service({ namespace: 'ns', name: 'three' }));
  await waitUntil(() => fromEmpty.events.length >= 1 && fromZero.events.length >= 1 && replay.events.length >= 2);
  for (const w of [fromEmpty, fromZero])
    t.deepEqual(
      w.events.map((e) => [e.type, e.object.metadata?.name, e.object.metadata?.resourceVersion]),
      [['ADDED', 'three', three.metadata.resourceVersion]],
    );

  fake.remove('services', 'ns', 'one');
  await waitUntil(() => replay.events.length === 3);
  const deleted = replay.events[2]!;
  t.is(deleted.type, 'DELETED');
  t.is(deleted.object.metadata?.resourceVersion, fake.resourceVersion, 'a DELETED object carries the deletion RV');

  fake.compact();
  const expired = rawWatch(t, fake, '/api/v1/services', { resourceVersion: first.metadata.resourceVersion! });
  t.is(await expired.status, 200, 'a real apiserver answers 200 and sends the 410 in-stream');
  await expired.ended;
  t.is(expired.events.length, 1);
  t.is(expired.events[0]!.type, 'ERROR');
  t.like(expired.events[0]!.object, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410 });

  fake.expiredWatchMode = 'http';
  const expiredHttp = rawWatch(t, fake, '/api/v1/services', { resourceVersion: first.metadata.resourceVersion! });
  t.is(await expiredHttp.status, 410);
  // Watching exactly at the compaction point is still fine.
  const atCompaction = rawWatch(t, fake, '/api/v1/services', { resourceVersion: fake.compactedResourceVersion });
  t.is(await atCompaction.status, 200);

  // Real servers answer a watch from "" / "0" with synthetic ADDED events first; the option mimics that.
  const realistic = await startFakeKubeApiServer(t, { initialEventsOnUnsetRv: true });
  realistic.create('services', service({ namespace: 'ns', name: 'existing' }));
  const initial = rawWatch(t, realistic, '/api/v1/namespaces/ns/services', { resourceVersion: '0' });
  await waitUntil(() => initial.events.length === 1);
  t.deepEqual(
    initial.events.map((e) => [e.type, e.object.metadata?.name]),
    [['ADDED', 'existing']],
  );

  const timed = rawWatch(t, fake, '/api/v1/services', { resourceVersion: fake.resourceVersion, timeoutSeconds: '1' });
  t.is(await timed.status, 200);
  const started = Date.now();
  await timed.ended;
  const tookMs = Date.now() - started;
  t.true(tookMs >= 900 && tookMs < 3000, `ended after ${tookMs} ms`);
});

test("bookmarks arrive on the raw stream when allowed; client-node's ListWatch never asks for them", async (t) => {
  const fake = await startFakeKubeApiServer(t, { bookmarkIntervalMs: 30 });
  fake.create('services', service({ namespace: 'ns', name: 'one' }));
  const w = rawWatch(t, fake, '/api/v1/services', { resourceVersion: fake.resourceVersion, allowWatchBookmarks: 'true' });
  const noBookmarks = rawWatch(t, fake, '/api/v1/services', { resourceVersion: fake.resourceVersion });
  await waitUntil(() => w.events.filter((e) => e.type === 'BOOKMARK').length >= 2);
  t.deepEqual(w.events[0], {
    type: 'BOOKMARK',
    object: { kind: 'Service', apiVersion: 'v1', metadata: { resourceVersion: fake.resourceVersion } },
  });
  fake.create('services', service({ namespace: 'ns', name: 'two' }));
  await waitUntil(() => w.events.some((e) => e.type === 'BOOKMARK' && e.object.metadata?.resourceVersion === fake.resourceVersion));
  t.true(noBookmarks.events.every((e) => e.type !== 'BOOKMARK'));

  // client-node's Watch passes BOOKMARK events to the callback...
  const kc = loadKubeConfig(t, fake);
  const types: string[] = [];
  const controller = await new Watch(kc).watch(
    '/api/v1/services',
    { allowWatchBookmarks: true, resourceVersion: fake.resourceVersion },
    (type) => types.push(type),
    () => {},
  );
  t.teardown(() => controller.abort());
  await waitUntil(() => types.includes('BOOKMARK'));
  // ...but ListWatch sends only resourceVersion (and selectors), so an informer never gets one.
  const h = await startServices(t, fake);
  const watchReq = fake.requestsFor('services', 'watch').at(-1)!;
  t.is(watchReq.query.allowWatchBookmarks, undefined);
  t.deepEqual(Object.keys(watchReq.query).sort(), ['resourceVersion', 'watch']);
  t.is(h.errors.length, 0);
});

// ---------------------------------------------------------------------------------------------
// client-node's real informer against the fake
// ---------------------------------------------------------------------------------------------

test('informer: the initial list pages 1200 services with limit 500, then watches from the snapshot RV', async (t) => {
  const fake = await startFakeKubeApiServer(t);
  for (let i = 0; i < 1200; i++) fake.create('services', service({ namespace: `ns${i % 7}`, name: `svc-${String(i).padStart(4, '0')}` }));
  const snapshot = fake.resourceVersion;
  const kc = loadKubeConfig(t, fake);
  const h = harness(t, kc, '/api/v1/services', servicesListFn(kc, 500));
  await h.informer.start();
  await fake.waitFor(() => fake.openWatches('services') === 1);

  t.is(h.seen.length, 1200);
  t.true(h.seen.every((s) => s.verb === 'add'));
  t.is(h.informer.list().length, 1200);
  const lists = fake.requestsFor('services', 'list');
  t.deepEqual(
    lists.map((r) => [r.query.limit, r.query.continue !== undefined]),
    [
      ['500', false],
      ['500', true],
      ['500', true],
    ],
  );
  const watch = fake.requestsFor('services', 'watch')[0]!;
  t.is(watch.query.resourceVersion, snapshot);
  t.is(h.informer.latestResourceVersion(), snapshot);
  t.is(h.errors.length, 0);
  t.is(h.connects.length, 1);
});

test('informer: ADDED, MODIFIED and DELETED reach the callbacks (ListWatch and makeInformer)', async (t) => {
  const fake = await startFakeKubeApiServer(t);
  fake.create('services', service({ namespace: 'ns', name: 'before' }));
  const h = await startServices(t, fake);
  t.deepEqual(
    h.seen.map((s) => [s.verb, s.key]),
    [['add', 'ns/before']],
  );

  const kc = loadKubeConfig(t, fake);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const slices = makeInformer<V1EndpointSlice>(kc, '/apis/discovery.k8s.io/v1/endpointslices', () =>
    discovery.listEndpointSliceForAllNamespaces(),
  );
  const sliceEvents: string[] = [];
  slices.on('add', (s) => sliceEvents.push(`add ${s.metadata?.name} ${s.endpoints?.length ?? 'null'}`));
  slices.on('update', (s) => sliceEvents.push(`update ${s.metadata?.name} ${s.endpoints?.length ?? 'null'}`));
  slices.on('delete', (s) => sliceEvents.push(`delete ${s.metadata?.name}`));
  t.teardown(() => slices.stop());
  await slices.start();
  await fake.waitFor(() => fake.openWatches('endpointslices') === 1);

  const created = fake.create('services', service({ namespace: 'ns', name: 'web' }));
  const modified = fake.patchLabels('services', 'ns', 'web', { version: 'v2' });
  const removed = fake.remove('services', 'ns', 'web');
  await waitUntil(() => h.seen.length === 4);
  t.deepEqual(h.seen.slice(1), [
    { verb: 'add', key: 'ns/web', rv: created.metadata.resourceVersion },
    { verb: 'update', key: 'ns/web', rv: modified.metadata.resourceVersion },
    { verb: 'delete', key: 'ns/web', rv: removed.metadata.resourceVersion },
  ]);
  t.is(h.informer.get('web', 'ns'), undefined);
  t.truthy(h.informer.get('before', 'ns'));
  t.is(h.informer.latestResourceVersion(), removed.metadata.resourceVersion!);

  fake.create('endpointslices', endpointSlice({ namespace: 'ns', name: 'web-1', service: 'web', endpoints: [] }));
  fake.modify('endpointslices', 'ns', 'web-1', (o) => {
    o.endpoints = [{ addresses: ['10.244.0.9'], conditions: { ready: true } }];
  });
  fake.remove('endpointslices', 'ns', 'web-1');
  await waitUntil(() => sliceEvents.length === 3);
  t.deepEqual(sliceEvents, ['add web-1 null', 'update web-1 1', 'delete web-1']);
  t.is(h.errors.length, 0);
});

test('informer: a watch the server closes cleanly is reopened at once from the last RV, with no backoff and no relist', async (t) => {
  const fake = await startFakeKubeApiServer(t);
  fake.create('services', service({ namespace: 'ns', name: 'one' }));
  const h = await startServices(t, fake);
  const rvBefore = h.informer.latestResourceVersion();

  // A fixed number of closes (not "as many as fit in a second"): the count must not depend on how
  // busy the machine is. What tells "no backoff" apart is the gap, which a backoff would grow.
  const gapsMs: number[] = [];
  let closes = 0;
  const CLOSES = 20;
  while (closes < CLOSES) {
    await fake.waitFor(() => fake.openWatches('services') === 1, 2000, 'the reopened watch');
    const closedAt = Date.now();
    const watchesBefore = fake.requestsFor('services', 'watch').length;
    closes += fake.closeWatches('services');
    await fake.waitFor(() => fake.requestsFor('services', 'watch').length > watchesBefore, 2000, 'a new watch request');
    gapsMs.push(fake.requestsFor('services', 'watch').at(-1)!.at - closedAt);
  }
  const watches = fake.requestsFor('services', 'watch');
  gapsMs.sort((a, b) => a - b);
  const medianMs = gapsMs[gapsMs.length >> 1]!;
  t.log(
    `client-node 1.4.0: ${closes} clean closes → ${watches.length} watch requests; close→reopen median ${medianMs} ms, max ${gapsMs.at(-1)} ms`,
  );
  // Any backoff (client-go's starts at 800 ms and doubles) puts the median of 20 reconnects in
  // seconds; an immediate reopen is a few milliseconds, with a wide margin for a loaded machine.
  t.true(medianMs < 500, `reopened without backoff: median close→reopen ${medianMs} ms`);
  t.is(watches.length, closes + 1);
  t.true(
    watches.every((w) => w.query.resourceVersion === rvBefore),
    'every reopen resumes from the last RV',
  );
  t.is(fake.requestsFor('services', 'list').length, 1, 'no relist');
  t.is(h.connects.length, closes + 1, 'a connect event per (re)connect');
  t.is(h.errors.length, 0);
  t.deepEqual(
    h.seen.map((s) => s.verb),
    ['add'],
  );
});

for (const mode of ['event', 'http'] as const) {
  test(`informer: 410 after compaction (${mode === 'event' ? 'ERROR event in a 200 stream' : 'HTTP 410'}) → relist, delete for an object removed during the outage`, async (t) => {
    const fake = await startFakeKubeApiServer(t, { expiredWatchMode: mode });
    fake.create('services', service({ namespace: 'ns', name: 'stays' }));
    fake.create('services', service({ namespace: 'ns', name: 'goes' }));
    const h = await startServices(t, fake);
    const oldRv = h.informer.latestResourceVersion();

    // The outage: the open watch hears nothing while an object goes, one arrives, and etcd compacts.
    fake.stallWatches('services');
    fake.remove('services', 'ns', 'goes');
    fake.create('services', service({ namespace: 'ns', name: 'new' }));
    fake.compact();
    fake.stallWatches('services', false);
    fake.closeWatches('services');

    await waitUntil(() => has(h.seen, 'delete', 'ns/goes') && has(h.seen, 'add', 'ns/new'), 5000, 'relist events');
    await fake.waitFor(() => fake.openWatches('services') === 1);
    const after = fake.requests.slice(fake.requests.findIndex((r) => r.watch && r.query.resourceVersion === oldRv) + 1);
    const expiredWatch = fake.requestsFor('services', 'watch')[1]!;
    t.is(expiredWatch.query.resourceVersion, oldRv);
    t.is(expiredWatch.status, mode === 'event' ? 200 : 410);
    t.deepEqual(
      after.slice(after.indexOf(expiredWatch) + 1).map((r) => (r.watch ? `watch ${r.query.resourceVersion}` : 'list')),
      ['list', `watch ${fake.resourceVersion}`],
    );
    t.deepEqual(
      h.seen.map((s) => `${s.verb} ${s.key}`),
      ['add ns/goes', 'add ns/stays', 'delete ns/goes', 'add ns/new'],
    );
    t.is(h.errors.length, 0, '410 is the one failure client-node recovers from');
    t.deepEqual(
      h.informer
        .list()
        .map((s) => s.metadata?.name)
        .sort(),
      ['new', 'stays'],
    );

    // An event proves the new watch is connected on the client side too (see the next tests: a
    // stop() while the watch request is in flight would not reach it).
    fake.create('services', service({ namespace: 'ns', name: 'sentinel' }));
    await waitUntil(() => has(h.seen, 'add', 'ns/sentinel'));
    await h.informer.stop();
    await fake.waitFor(() => fake.openWatches('services') === 0, 2000, 'stop() to close the watch');
    t.pass();
  });
}

test('informer: a 500 on the list emits error and the informer stops for good; start() still resolves', async (t) => {
  const fake = await startFakeKubeApiServer(t);
  fake.create('services', service({ namespace: 'ns', name: 'one' }));
  fake.failNext('services', { status: 500, on: 'list' });
  const kc = loadKubeConfig(t, fake);
  const h = harness(t, kc, '/api/v1/services', servicesListFn(kc));
  await t.notThrowsAsync(h.informer.start(), 'start() resolves although the list failed');
  t.is(h.errors.length, 1);
  const err = h.errors[0];
  t.true(err instanceof ApiException);
  t.is((err as ApiException<unknown>).code, 500);
  t.like(statusOf(err), { kind: 'Status', reason: 'InternalError', code: 500 });
  await delay(300);
  t.is(fake.requestsFor('services').length, 1, 'no retry');
  t.is(h.connects.length, 1);
  t.is(h.informer.list().length, 0);
});

test('informer: a failed watch (HTTP 500/403/503), a dropped watch and an API server that went away each emit error and stop it', async (t) => {
  const fake = await startFakeKubeApiServer(t);
  fake.create('services', service({ namespace: 'ns', name: 'one' }));
  const outcomes: string[] = [];
  for (const status of [500, 403, 503]) {
    const h = await startServices(t, fake);
    fake.failNext('services', { status, on: 'watch' });
    const before = fake.requests.length;
    fake.closeWatches('services');
    await waitUntil(() => h.errors.length > 0);
    const err = h.errors[0] as Error & { statusCode?: number };
    outcomes.push(`watch ${status}: error ${err.constructor.name} statusCode=${err.statusCode} message=${JSON.stringify(err.message)}`);
    t.is(err.statusCode, status);
    await delay(100);
    t.is(fake.requests.length, before + 1, `after ${status}: one failed watch request, no retry`);
    t.is(fake.openWatches('services'), 0);
    await h.informer.stop();
  }

  const dropped = await startServices(t, fake);
  const watchesBeforeDrop = fake.requestsFor('services', 'watch').length;
  fake.dropWatches('services');
  await waitUntil(
    () => dropped.errors.length > 0 || fake.requestsFor('services', 'watch').length > watchesBeforeDrop,
    5000,
    'error or reconnect',
  );
  await delay(100);
  const dropErr = dropped.errors[0] as (Error & { code?: string }) | undefined;
  const reconnects = fake.requestsFor('services', 'watch').length - watchesBeforeDrop;
  outcomes.push(
    `dropped watch socket: ${dropErr ? `error ${dropErr.constructor.name} code=${dropErr.code} message=${JSON.stringify(dropErr.message)}` : 'no error'}; reconnects=${reconnects}`,
  );
  t.is(reconnects, 0);
  t.truthy(dropErr, 'a dropped connection is an error, not a clean close');
  t.is(fake.openWatches('services'), 0);
  await dropped.informer.stop();

  const gone = await startServices(t, fake);
  const requestsBefore = fake.requests.length;
  fake.setDown(true);
  await waitUntil(() => gone.errors.length > 0, 5000, 'an error');
  await delay(100);
  const goneErr = gone.errors[0] as Error & { code?: string };
  outcomes.push(
    `server went away: error ${goneErr.constructor.name} code=${goneErr.code} message=${JSON.stringify(goneErr.message)}; requests after=${fake.requests.length - requestsBefore}`,
  );
  t.is(fake.requests.length, requestsBefore, 'no reconnect attempt');
  t.is(gone.errors.length, 1);
  fake.setDown(false);
  for (const o of outcomes) t.log(o);
});

test('informer: a stalled (half-open) watch delivers nothing and raises no error; stop() then emits an AbortError', async (t) => {
  const fake = await startFakeKubeApiServer(t);
  fake.create('services', service({ namespace: 'ns', name: 'one' }));
  const h = await startServices(t, fake);
  fake.stallWatches('services');
  fake.create('services', service({ namespace: 'ns', name: 'unheard' }));
  fake.remove('services', 'ns', 'one');
  await delay(400);
  t.deepEqual(
    h.seen.map((s) => `${s.verb} ${s.key}`),
    ['add ns/one'],
    'nothing after the stall',
  );
  t.is(h.errors.length, 0, 'and no error: 1.4.0 has no working inactivity timeout');
  t.is(fake.openWatches('services'), 1);
  t.is(fake.requestsFor('services').length, 2);

  await h.informer.stop();
  await fake.waitFor(() => fake.openWatches('services') === 0, 2000, 'the aborted watch to close');
  await delay(50);
  const errs = h.errors.map((e) => `${(e as Error).name}: ${(e as Error).message}`);
  t.log(`errors emitted by stop() on an open watch: ${JSON.stringify(errs)}`);
  t.is(h.errors.length, 1, 'stop() aborts the watch and the abort reaches the error callback');
  t.is((h.errors[0] as Error).name, 'AbortError');
});

test('informer: a watch that never gets response headers cannot be aborted by stop()', async (t) => {
  const fake = await startFakeKubeApiServer(t);
  fake.create('services', service({ namespace: 'ns', name: 'one' }));
  const h = await startServices(t, fake);
  fake.stallWatches('services', true, { headers: false });
  fake.closeWatches('services');
  await fake.waitFor(() => fake.requestsFor('services', 'watch').length === 2 && fake.openWatches('services') === 1);
  t.is(fake.requestsFor('services', 'watch')[1]!.status, 0, 'no response sent');
  await h.informer.stop();
  await delay(200);
  t.is(fake.openWatches('services'), 1, 'the pending request is not the one stop() aborts');
  t.is(h.errors.length, 0);
});

test('informer: stop() while a watch request is in flight does not abort it; the stopped informer keeps emitting its events', async (t) => {
  const fake = await startFakeKubeApiServer(t);
  fake.create('services', service({ namespace: 'ns', name: 'one' }));
  const h = await startServices(t, fake);
  fake.holdWatches('services');
  fake.closeWatches('services');
  await fake.waitFor(() => fake.requestsFor('services', 'watch').length === 2, 2000, 'the reconnect');
  await h.informer.stop();
  fake.holdWatches('services', false);
  fake.create('services', service({ namespace: 'ns', name: 'after-stop' }));
  await waitUntil(() => has(h.seen, 'add', 'ns/after-stop'), 2000, 'the event on the leaked watch');
  t.is(fake.openWatches('services'), 1, 'the watch opened after stop() is live');
  t.is(h.informer.get('after-stop', 'ns')?.metadata?.name, 'after-stop', "and feeds the stopped informer's cache");
  await h.informer.stop();
  await fake.waitFor(() => fake.openWatches('services') === 0, 2000, 'a second stop() to close it');
  t.pass();
});

test('informer: with a label selector, an object that stops matching is DELETED and one that starts matching is ADDED', async (t) => {
  const fake = await startFakeKubeApiServer(t);
  fake.create('services', service({ namespace: 'ns', name: 'exported', labels: { 'gsdns.io/export': 'true' } }));
  fake.create('services', service({ namespace: 'ns', name: 'private' }));
  const selector = 'gsdns.io/export=true';
  const h = await startServices(t, fake, selector);
  t.is(fake.requestsFor('services', 'watch')[0]!.query.labelSelector, selector);
  t.deepEqual(
    h.seen.map((s) => `${s.verb} ${s.key}`),
    ['add ns/exported'],
  );

  const raw = rawWatch(t, fake, '/api/v1/services', { resourceVersion: fake.resourceVersion, labelSelector: selector });
  await fake.waitFor(() => fake.openWatches('services') === 2);
  const unmatched = fake.patchLabels('services', 'ns', 'exported', { 'gsdns.io/export': null });
  fake.patchLabels('services', 'ns', 'exported', { note: 'still private' });
  const rematched = fake.patchLabels('services', 'ns', 'private', { 'gsdns.io/export': 'true' });
  await waitUntil(() => h.seen.length === 3 && raw.events.length === 2);
  t.deepEqual(
    h.seen.slice(1).map((s) => `${s.verb} ${s.key} ${s.rv}`),
    [`delete ns/exported ${unmatched.metadata.resourceVersion}`, `add ns/private ${rematched.metadata.resourceVersion}`],
  );
  const del = raw.events[0]!;
  t.is(del.type, 'DELETED');
  t.deepEqual(
    (del.object.metadata as { labels?: unknown }).labels,
    { 'gsdns.io/export': 'true' },
    'the previous content (as the watch cache sends it)',
  );
  t.is(del.object.metadata?.resourceVersion, unmatched.metadata.resourceVersion, 'with the event RV');
  t.is(raw.events[1]!.type, 'ADDED');
  t.deepEqual(
    h.informer.list().map((s) => s.metadata?.name),
    ['private'],
  );
  t.is(h.errors.length, 0);
});

test('HTTPS: the informer works with the generated CA; without it TLS fails; plain HTTP needs insecure-skip-tls-verify', async (t) => {
  const fake = await startFakeKubeApiServer(t, { tls: true });
  t.true(fake.url.startsWith('https://127.0.0.1:'));
  t.regex(fake.caPem ?? '', /BEGIN CERTIFICATE/);
  fake.create('services', service({ namespace: 'ns', name: 'secure' }));
  const h = await startServices(t, fake);
  t.deepEqual(
    h.seen.map((s) => `${s.verb} ${s.key}`),
    ['add ns/secure'],
  );
  fake.create('services', service({ namespace: 'ns', name: 'later' }));
  await waitUntil(() => has(h.seen, 'add', 'ns/later'));
  t.is(h.errors.length, 0);

  const noCa = loadKubeConfig(t, fake, { withCa: false });
  const untrusted = harness(t, noCa, '/api/v1/services', servicesListFn(noCa));
  await untrusted.informer.start();
  t.is(untrusted.errors.length, 1);
  t.regex(String((untrusted.errors[0] as Error).message), /self[- ]signed|unable to (get|verify)/i);

  const plain = await startFakeKubeApiServer(t);
  const strict = loadKubeConfig(t, plain, { insecureSkipTlsVerify: false });
  const refused = harness(t, strict, '/api/v1/services', servicesListFn(strict));
  await refused.informer.start();
  t.is(refused.errors.length, 1);
  t.is((refused.errors[0] as Error).message, 'HTTP protocol is not allowed when skipTLSVerify is not set or false');
  t.is(plain.requests.length, 0, 'refused before any request');
});
