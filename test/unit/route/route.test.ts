/**
 * The query path's decisions (src/route/route.ts), exhaustively over the steps: the edge verdict
 * for every decoder finding, the self-test tap, in-zone answers, forward or REFUSED by the ACL and
 * never for another class or a zone transfer, the ECS context read only for queries with ECS, and
 * createRouter running the forward step only when the route says so.
 */
import test from 'ava';
import { Rcode, RRClass, RRType, type AnswerContext } from '../../../src/answer/types.js';
import {
  createRouter,
  edgeVerdict,
  FAILURE_RCODE,
  FORWARD,
  route,
  routeExplained,
  type RouteEnv,
  type SubnetRef,
} from '../../../src/route/route.js';
import type { DnsRequest, HandlerResult } from '../../../src/wire/types.js';
import { context } from '../answer/fixture.js';

function request(name: string, type: number = RRType.A, klass: number = RRClass.IN, over: Partial<DnsRequest> = {}): DnsRequest {
  return {
    id: 1,
    question: { name, type, class: klass },
    rawQuestion: Buffer.alloc(0),
    flags: { rd: true, ad: false, cd: false },
    edns: undefined,
    transport: 'udp',
    client: { address: '10.0.0.1', port: 5353, family: 'IPv4' },
    ...over,
  };
}

interface Calls {
  readonly notes: string[];
  readonly degraded: string[];
  readonly forwarded: string[];
  readonly contexts: SubnetRef[];
  readonly allowsAsked: string[];
}

const RELAY: HandlerResult = { kind: 'relay', message: Buffer.from('relayed'), truncated: false };

function env(opts: { allow?: (address: string) => boolean; ecs?: boolean } = {}): { env: RouteEnv; calls: Calls } {
  const calls: Calls = { notes: [], degraded: [], forwarded: [], contexts: [], allowsAsked: [] };
  const ctx: AnswerContext = context();
  return {
    calls,
    env: {
      context: ctx,
      contextFor:
        opts.ecs === false
          ? undefined
          : (ecs) => {
              calls.contexts.push(ecs);
              return ctx;
            },
      forward: {
        allows: (address) => {
          calls.allowsAsked.push(address);
          return (opts.allow ?? (() => true))(address);
        },
        resolve: (req) => {
          calls.forwarded.push(req.question.name);
          return Promise.resolve(RELAY);
        },
      },
      selfTest: { prefix: '_selftest-', note: (name) => calls.notes.push(name) },
      onDegraded: (name) => calls.degraded.push(name),
      recordBudget: () => 100,
    },
  };
}

test('step 1: every decoder finding has its verdict, and a failing step is SERVFAIL', (t) => {
  t.is(edgeVerdict('drop'), 'drop');
  t.is(edgeVerdict('formerr'), Rcode.FORMERR);
  t.is(edgeVerdict('notimp'), Rcode.NOTIMP);
  t.is(edgeVerdict('badvers'), Rcode.BADVERS);
  t.is(FAILURE_RCODE, Rcode.SERVFAIL);
});

test('step 2: the self-test tap notes names with its prefix, and only those; the name is still answered', (t) => {
  const { env: e, calls } = env();
  const tapped = route(request('_selftest-abc.global'), e);
  route(request('_other.global'), e);
  route(request('productpage.bookinfo.global'), e);
  t.deepEqual(calls.notes, ['_selftest-abc.global']);
  t.not(tapped, FORWARD);
  if (tapped !== FORWARD) t.is(tapped.rcode, Rcode.NXDOMAIN, 'an unknown in-zone name');
});

test('step 3: in-zone names are answered by the answer core, never forwarded, whatever the ACL says', (t) => {
  for (const allow of [true, false]) {
    const { env: e, calls } = env({ allow: () => allow });
    const local = route(request('productpage.bookinfo.global'), e);
    const missing = route(request('nosuch.bookinfo.global'), e);
    const apex = route(request('global', RRType.SOA), e);
    t.true(local !== FORWARD && local.kind === 'local' && local.rcode === Rcode.NOERROR);
    t.true(missing !== FORWARD && missing.rcode === Rcode.NXDOMAIN);
    t.true(apex !== FORWARD && apex.kind === 'apex');
    t.deepEqual(calls.allowsAsked, [], 'the ACL is not consulted for in-zone names');
  }
});

test('step 4: outside every zone, forward for an allowed client, REFUSED (not authoritative) otherwise', (t) => {
  const allowed = env({ allow: (a) => a === '10.0.0.1' });
  t.is(route(request('example.com'), allowed.env), FORWARD);
  const refused = route(
    request('example.com', RRType.A, RRClass.IN, { client: { address: '192.0.2.9', port: 1, family: 'IPv4' } }),
    allowed.env,
  );
  t.true(refused !== FORWARD && refused.kind === 'outOfZone' && refused.rcode === Rcode.REFUSED && !refused.authoritative);
  t.deepEqual(allowed.calls.allowsAsked, ['10.0.0.1', '192.0.2.9']);
});

test('another class and zone transfers are REFUSED and never forwarded, even for allowed clients', (t) => {
  const { env: e, calls } = env();
  for (const name of ['example.com', 'productpage.bookinfo.global', 'global']) {
    for (const [type, klass] of [
      [RRType.A, RRClass.CH],
      [RRType.A, RRClass.HS],
      [252 /* AXFR */, RRClass.IN],
      [251 /* IXFR */, RRClass.IN],
    ] as const) {
      const d = route(request(name, type, klass), e);
      t.true(d !== FORWARD && d.rcode === Rcode.REFUSED, `${name} type ${type} class ${klass}`);
    }
  }
  t.deepEqual(calls.allowsAsked, []);
});

test('the ECS context is built only for a query with ECS, and only when ECS changes answers', (t) => {
  const ecs = { family: 1 as const, sourcePrefix: 24, scopePrefix: 0, address: '81.2.69.0', addressBytes: Buffer.from([81, 2, 69]) };
  const withEcs = request('productpage.bookinfo.global', RRType.A, RRClass.IN, {
    edns: { udpPayloadSize: 1232, version: 0, dnssecOk: false, options: [], ecs },
  });
  const on = env();
  route(request('productpage.bookinfo.global'), on.env);
  t.is(on.calls.contexts.length, 0);
  route(withEcs, on.env);
  t.is(on.calls.contexts.length, 1);
  t.is(on.calls.contexts[0]!.address, '81.2.69.0');
  const off = env({ ecs: false });
  t.notThrows(() => route(withEcs, off.env));
  t.is(off.calls.contexts.length, 0);
});

test('a fail-open answer is told to onDegraded', (t) => {
  // legacy is exported by cluster-east with no ready endpoints: nothing healthy, so it fails open
  // (SPEC row 3), as in test/unit/answer/rows.test.ts.
  const { env: e, calls } = env();
  const d = route(request('legacy.bookinfo.global'), e);
  t.true(d !== FORWARD && d.kind === 'degraded');
  route(request('productpage.bookinfo.global'), e);
  t.deepEqual(calls.degraded, ['legacy.bookinfo.global']);
});

test('createRouter: the decision for in-zone names, the forwarder for FORWARD', async (t) => {
  const { env: e, calls } = env();
  const handler = createRouter(e);
  const inZone = await handler(request('productpage.bookinfo.global'));
  t.is(inZone.kind, 'local');
  const out = await handler(request('example.com'));
  t.is(out, RELAY);
  t.deepEqual(calls.forwarded, ['example.com']);
});

test('routeExplained (/debug/resolve): explanations on; the ACL is asked without counting', (t) => {
  const counted: (boolean | undefined)[] = [];
  const forward = {
    allows: (_a: string, o?: { count?: boolean }) => {
      counted.push(o?.count);
      return true;
    },
    resolve: () => RELAY,
  };
  const d = routeExplained({ name: 'productpage.bookinfo.global', type: RRType.A, class: RRClass.IN }, context(), '10.0.0.1', forward);
  t.true(d !== FORWARD && d.explanation.steps.length > 0);
  t.is(routeExplained({ name: 'example.com', type: RRType.A, class: RRClass.IN }, context(), '10.0.0.1', forward), FORWARD);
  t.deepEqual(counted, [false]);
});
