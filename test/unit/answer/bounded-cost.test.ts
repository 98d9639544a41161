/**
 * The cost of one question is bounded by its answer, not by the service (issue 12): a local
 * headless service with 10,000 or 100,000 endpoints is answered with at most `maxRecords` (the
 * budget the edge computes from the transport and EDNS size) and at most `dns.maxLocalAnswers`
 * address records, and answering reads neither its endpoints nor more of its precomputed ready
 * addresses than it returns. Work is counted by behaviour (reads through Proxies), never by time.
 */
import test from 'ava';
import { answer } from '../../../src/answer/answer.js';
import { RRType, type AnswerContext, type AnswerOptions } from '../../../src/answer/types.js';
import { readyAddressesOf } from '../../../src/registry/records.js';
import { Registry } from '../../../src/registry/registry.js';
import type { Endpoint, HeadlessService, LocalService, ReadyAddresses, RegistryReader } from '../../../src/registry/types.js';
import { BASE_OPTIONS, FakeHealth, HTTP, INITIAL_SERIAL, rr, summarize } from './fixture.js';

/** 10.x.y.z for i; one endpoint in ten is not ready, and those must never be answered. */
const v4 = (i: number): string => `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
const v6 = (i: number): string => `fd00::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`;
const isReady = (i: number): boolean => i % 10 !== 9;

function endpoints(n: number, address: (i: number) => string = v4): Endpoint[] {
  return Array.from({ length: n }, (_, i) => ({ address: address(i), ready: isReady(i) }));
}

/** Counts element reads of an array (index, iteration, length): the work done on it. */
function counted<T>(items: readonly T[]): { list: readonly T[]; reads: () => number; reset: () => void } {
  let reads = 0;
  const list = new Proxy(items as T[], {
    get(target, key, receiver) {
      if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
  return { list, reads: () => reads, reset: () => (reads = 0) };
}

function headless(name: string, eps: readonly Endpoint[]): HeadlessService {
  return { kind: 'headless', namespace: 'bench', name, ports: [HTTP], endpoints: eps };
}

function ctxOf(registry: RegistryReader, options: Partial<AnswerOptions> = {}): AnswerContext {
  return { options: { ...BASE_OPTIONS, ...options }, registry, health: new FakeHealth(), client: {}, sourceReady: true };
}

const ask = (ctx: AnswerContext, name: string, type: number, maxRecords?: number, explain = false) =>
  answer({ name, type, class: 1 }, ctx, { explain, maxRecords });

test('100,000 endpoints: answer() reads none of them per question, only as many ready addresses as it returns', (t) => {
  const eps = counted(endpoints(100_000));
  const registry = new Registry({ initialSerial: INITIAL_SERIAL });
  registry.replaceLocal([headless('large', eps.list)]);
  t.true(eps.reads() >= 100_000, 'the registry derives the ready addresses once, on write');
  eps.reset();

  // A reader that hands out the registry's precomputed lists through counting proxies.
  const ready = registry.readyAddresses('bench', 'large')!;
  const readsV4 = counted(ready.v4);
  const reader: RegistryReader = {
    serial: () => registry.serial(),
    localService: (ns, name) => registry.localService(ns, name),
    remoteExports: (ns, name) => registry.remoteExports(ns, name),
    hasNamespace: (ns) => registry.hasNamespace(ns),
    localServices: () => registry.localServices(),
    remoteCatalogs: () => registry.remoteCatalogs(),
    readyAddresses: (ns, name) => (ns === 'bench' && name === 'large' ? { ...ready, v4: readsV4.list } : registry.readyAddresses(ns, name)),
  };
  const ctx = ctxOf(reader);
  for (const budget of [1, 31, 77, 4094]) {
    readsV4.reset();
    const d = ask(ctx, 'large.bench.global', RRType.A, budget);
    t.is(d.kind, 'local');
    t.is(d.answers.length, budget, `budget ${budget}`);
    t.true(readsV4.reads() <= budget, `budget ${budget}: read ${readsV4.reads()} ready addresses`);
  }
  t.is(eps.reads(), 0, 'no endpoint was read while answering');
});

test('the answer is the leading distinct ready addresses, A before AAAA, cut at the budget and at dns.maxLocalAnswers', (t) => {
  const dual = [...endpoints(10_000), ...endpoints(10_000, v6)];
  // duplicates and not-ready endpoints first: neither may take a place in the answer
  const eps: Endpoint[] = [{ address: v4(9), ready: true }, { address: v4(0), ready: true }, ...dual];
  const registry = new Registry({ initialSerial: INITIAL_SERIAL });
  registry.replaceLocal([headless('large', eps)]);
  const readyV4 = [
    v4(9),
    ...Array.from({ length: 10_000 }, (_, i) => i)
      .filter((i) => i !== 9 && isReady(i))
      .map(v4),
  ];
  const readyV6 = Array.from({ length: 10_000 }, (_, i) => i)
    .filter(isReady)
    .map(v6);
  t.is(readyV4.length, 9_001);

  const cases: Array<{ type: number; budget?: number; cap?: number | null; want: string[] }> = [
    { type: RRType.A, want: readyV4 }, // unbounded (/debug/resolve): every ready address once
    { type: RRType.A, budget: 31, want: readyV4.slice(0, 31) },
    { type: RRType.A, budget: 31, cap: 5, want: readyV4.slice(0, 5) },
    { type: RRType.A, budget: 31, cap: 100, want: readyV4.slice(0, 31) },
    { type: RRType.A, cap: null, budget: 4094, want: readyV4.slice(0, 4094) },
    { type: RRType.AAAA, budget: 18, want: readyV6.slice(0, 18) },
    { type: RRType.ANY, budget: 40, want: readyV4.slice(0, 40) },
    { type: RRType.ANY, budget: 10_000, want: [...readyV4, ...readyV6.slice(0, 10_000 - readyV4.length)] },
  ];
  for (const c of cases) {
    const ctx = ctxOf(registry, c.cap === undefined ? {} : { maxLocalAnswers: c.cap });
    const d = ask(ctx, 'large.bench.global', c.type, c.budget);
    const label = `type ${c.type} budget ${c.budget ?? '∞'} cap ${c.cap ?? '∞'}`;
    t.is(d.kind, 'local', label);
    t.deepEqual(
      d.answers.map((a) => (a.data as { address: string }).address),
      c.want,
      label,
    );
    t.true(
      d.answers.every((a) => a.name === 'large.bench.global' && a.ttl === BASE_OPTIONS.ttlSeconds),
      label,
    );
  }
});

test('SRV of a large headless service: one SRV, and the additional section bounded the same way', (t) => {
  const registry = new Registry({ initialSerial: INITIAL_SERIAL });
  registry.replaceLocal([headless('large', endpoints(10_000))]);
  for (const [budget, cap, want] of [
    [31, null, 31],
    [4094, null, 4094],
    [4094, 8, 8],
  ] as const) {
    const d = ask(ctxOf(registry, { maxLocalAnswers: cap }), '_http._tcp.large.bench.global', RRType.SRV, budget);
    t.deepEqual(d.answers.map(rr), ['_http._tcp.large.bench.global 5 SRV 0 0 9080 large.bench.global']);
    t.is(d.additional.length, want, `budget ${budget} cap ${cap}`);
    t.true(
      d.additional.every(
        (a) => a.data.type === RRType.A && isReady(Number(a.data.address.split('.')[3]) + 256 * Number(a.data.address.split('.')[2])),
      ),
    );
  }
});

test('the budget changes how many records, never which answer: same decision as unbounded, cut', (t) => {
  // A budget that exceeds the answer, and services of every kind, give exactly the unbounded decision.
  const locals: LocalService[] = [
    headless('large', endpoints(2_000)),
    headless('small', endpoints(3)),
    headless(
      'idle',
      endpoints(9).map((e) => ({ ...e, ready: false })),
    ),
    { kind: 'clusterIP', namespace: 'bench', name: 'cip', clusterIPs: ['10.96.0.1', 'fd00::1'], readyEndpoints: 1, ports: [HTTP] },
  ];
  const registry = new Registry({ initialSerial: INITIAL_SERIAL });
  registry.replaceLocal(locals);
  const ctx = ctxOf(registry);
  for (const name of ['large', 'small', 'idle', 'cip', 'nothing']) {
    for (const type of [RRType.A, RRType.AAAA, RRType.ANY, RRType.TXT]) {
      const unbounded = summarize(ask(ctx, `${name}.bench.global`, type));
      const big = summarize(ask(ctx, `${name}.bench.global`, type, 100_000));
      t.deepEqual(big, unbounded, `${name} ${type}`);
      const small = summarize(ask(ctx, `${name}.bench.global`, type, 2));
      t.deepEqual({ ...small, answers: [] }, { ...unbounded, answers: [] }, `${name} ${type}: same kind, rcode, sections`);
      t.deepEqual(small.answers, unbounded.answers.slice(0, 2), `${name} ${type}`);
    }
  }
});

test('a reader without precomputed ready addresses gets the same decisions; readiness counts ready endpoints, duplicates included', (t) => {
  const eps: Endpoint[] = [
    { address: '10.0.0.1', ready: true },
    { address: '10.0.0.1', ready: true },
    { address: '10.0.0.2', ready: false },
    { address: 'fd00::1', ready: true },
  ];
  const registry = new Registry({ initialSerial: INITIAL_SERIAL });
  registry.replaceLocal([headless('dup', eps)]);
  t.deepEqual(registry.readyAddresses('bench', 'dup'), { v4: ['10.0.0.1'], v6: ['fd00::1'], ready: 3 });
  t.deepEqual(readyAddressesOf(headless('dup', eps)), registry.readyAddresses('bench', 'dup')!);
  const bare: RegistryReader = {
    serial: () => registry.serial(),
    localService: (ns, name) => registry.localService(ns, name),
    remoteExports: () => [],
    hasNamespace: (ns) => registry.hasNamespace(ns),
    localServices: () => registry.localServices(),
    remoteCatalogs: () => [],
  };
  for (const minReady of [1, 3, 4]) {
    for (const type of [RRType.A, RRType.AAAA, RRType.ANY]) {
      const options = { localMinReady: minReady };
      const withIndex = summarize(ask(ctxOf(registry, options), 'dup.bench.global', type, 31));
      t.deepEqual(summarize(ask(ctxOf(bare, options), 'dup.bench.global', type, 31)), withIndex, `minReady ${minReady} type ${type}`);
    }
  }
  // 3 ready endpoints (one address twice) meet localMinReady 3, not 4 (then: no remote, answered locally anyway)
  t.deepEqual(
    ask(ctxOf(registry, { localMinReady: 3 }), 'dup.bench.global', RRType.A, 31, true).explanation.steps.some((s) =>
      s.includes('fewer than dns.localMinReady'),
    ),
    false,
  );
  t.true(
    ask(ctxOf(registry, { localMinReady: 4 }), 'dup.bench.global', RRType.A, 31, true).explanation.steps.some((s) =>
      s.includes('fewer than dns.localMinReady'),
    ),
  );
});

test('the registry keeps the ready addresses in step with every write of a local service', (t) => {
  const registry = new Registry({ initialSerial: INITIAL_SERIAL });
  registry.putLocal(headless('svc', endpoints(20)));
  t.is(registry.readyAddresses('bench', 'svc')!.v4.length, 18);
  registry.putLocal(headless('svc', endpoints(5)));
  t.deepEqual(registry.readyAddresses('bench', 'svc')!.v4, [v4(0), v4(1), v4(2), v4(3), v4(4)]);
  registry.putLocal({ kind: 'clusterIP', namespace: 'bench', name: 'svc', clusterIPs: ['10.96.0.9'], readyEndpoints: 1, ports: [HTTP] });
  t.is(registry.readyAddresses('bench', 'svc'), undefined, 'no longer headless');
  registry.putLocal(headless('svc', endpoints(2)));
  registry.replaceLocal([headless('other', endpoints(1))]);
  t.is(registry.readyAddresses('bench', 'svc'), undefined, 'gone after a replace');
  t.deepEqual(registry.readyAddresses('bench', 'other'), { v4: [v4(0)], v6: [], ready: 1 } satisfies ReadyAddresses);
  registry.removeLocal('bench', 'other');
  t.is(registry.readyAddresses('bench', 'other'), undefined, 'gone after a remove');
});

test('the explanation says when and why a local answer was cut', (t) => {
  const registry = new Registry({ initialSerial: INITIAL_SERIAL });
  registry.replaceLocal([headless('large', endpoints(1_000))]);
  const byBudget = ask(ctxOf(registry), 'large.bench.global', RRType.A, 31, true);
  t.true(
    byBudget.explanation.steps.some((s) => s.includes('31 of the ready A addresses kept') && s.includes('what the reply can hold')),
    byBudget.explanation.steps.join('\n'),
  );
  const byCap = ask(ctxOf(registry, { maxLocalAnswers: 4 }), 'large.bench.global', RRType.A, 31, true);
  t.true(
    byCap.explanation.steps.some((s) => s.includes('4 of the ready A addresses kept') && s.includes('dns.maxLocalAnswers (4)')),
    byCap.explanation.steps.join('\n'),
  );
  const whole = ask(ctxOf(registry), 'large.bench.global', RRType.A, 4094, true);
  t.false(whole.explanation.steps.some((s) => s.includes('addresses kept')));
  t.is(whole.answers.length, 900);
});
