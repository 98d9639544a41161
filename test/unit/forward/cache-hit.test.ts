/**
 * Forwarded cache hits (issue 15): a fresh hit is answered synchronously from a render kept per
 * client shape and age (src/forward/cache.ts hitRender), patched per client (relay-store.ts
 * patchHit). Through the DNS edge's message handling with a scripted upstream and an injected
 * clock: TTLs count down with age, the ID, RD, CD, AD and the question's case are the asker's,
 * every shape gets its own fitting, serve-stale is unchanged, and the observer (metrics, query
 * log) sees every hit with source `cache`.
 */
import test, { type ExecutionContext } from 'ava';
import { MessageHandler } from '../../../src/dns/message.js';
import { newCounters } from '../../../src/dns/server.js';
import { AnswerCache, HIT_RENDERS_PER_ENTRY } from '../../../src/forward/cache.js';
import { Forwarder, type ForwarderOptions } from '../../../src/forward/forwarder.js';
import { resolveUpstreams } from '../../../src/forward/upstreams.js';
import { responseSource } from '../../../src/wire/labels.js';
import { parseReply as parseRelayed } from '../../../src/wire/relay.js';
import { hitShape, storeReply } from '../../../src/wire/relay-store.js';
import type { ForwardResult, QueryEvent } from '../../../src/wire/types.js';
import { craftQuery, optRR, parseReply, rawQuestion, wireName } from '../../helpers/dns-tools.js';
import {
  aRecord,
  answerA,
  buildReply,
  startScriptedUpstream,
  type ScriptedUpstream,
  type UpstreamScript,
} from '../../helpers/scripted-upstream.js';

const T0 = 1_700_000_000_000;
const CLIENT = { address: '127.0.0.1', port: 40000, family: 'IPv4' as const };
const SILENT = { debug: () => undefined, warn: () => undefined, error: () => undefined };

interface Rig {
  readonly upstream: ScriptedUpstream;
  readonly forwarder: Forwarder;
  readonly events: QueryEvent[];
  readonly clock: { ms: number };
  /** The reply, and whether it came back synchronously (no promise). */
  ask(message: Buffer, transport?: 'udp' | 'tcp'): Promise<{ reply: Buffer; sync: boolean; event: QueryEvent }>;
}

/** A forwarder over one scripted upstream (by default two A records of TTL `ttl`), asked through the edge. */
async function rig(
  t: ExecutionContext,
  ttl = 60,
  spec: Parameters<typeof answerA>[3] = {},
  options: { readonly script?: UpstreamScript; readonly forwarder?: Partial<ForwarderOptions> } = {},
): Promise<Rig> {
  const upstream = await startScriptedUpstream(t, options.script ?? ((q) => answerA(q, ['192.0.2.1', '192.0.2.2'], ttl, spec)));
  const clock = { ms: T0 };
  const forwarder = new Forwarder({
    upstreams: resolveUpstreams([upstream.endpoint], undefined),
    allowFrom: ['127.0.0.0/8'],
    timeoutMs: 300,
    budgetMs: 600,
    serveStaleSeconds: 60,
    cache: { maxEntries: 100, maxBytes: 1 << 20 },
    maxInFlight: 16,
    forwardClientSubnet: false,
    failsToDown: 1,
    healthCheckIntervalMs: 60_000,
    now: () => clock.ms,
    ...options.forwarder,
  });
  t.teardown(() => forwarder.close());
  const events: QueryEvent[] = [];
  const edge = new MessageHandler({
    handler: (request) => forwarder.resolve(request),
    ecsEnabled: false,
    observer: { observe: (e) => events.push(e) },
    counters: newCounters(),
    log: SILENT,
  });
  return {
    upstream,
    forwarder,
    events,
    clock,
    async ask(message, transport = 'udp') {
      const out = edge.handle(message, transport, CLIENT);
      const sync = !(out instanceof Promise);
      const reply = await out;
      if (reply === null) throw new Error('no reply');
      return { reply, sync, event: events[events.length - 1]! };
    },
  };
}

const query = (
  name: string,
  o: { id?: number; rd?: boolean; cd?: boolean; ad?: boolean; edns?: { udp?: number; dnssecOk?: boolean } } = {},
) => {
  const q = craftQuery({
    id: o.id ?? 1,
    rd: o.rd ?? true,
    cd: o.cd ?? false,
    questions: [rawQuestion(name)],
    additional: o.edns ? [optRR({ udp: o.edns.udp ?? 1232, dnssecOk: o.edns.dnssecOk ?? false })] : [],
  });
  if (o.ad) q[3]! |= 0x20;
  return q;
};

const source = (e: QueryEvent): string | undefined => (e.result as ForwardResult | undefined)?.source;
const ttls = (reply: Buffer): number[] => parseReply(reply).answers.map((a) => a['ttl'] as number);

test("a fresh hit is answered synchronously with source cache; its TTLs count down with age; ID, RD and question case are the asker's", async (t) => {
  const r = await rig(t);
  const first = await r.ask(query('www.example.com', { id: 1 }));
  t.false(first.sync);
  t.is(source(first.event), 'upstream');
  t.is(responseSource(first.event.outcome, first.event.result), 'forward');
  t.deepEqual(ttls(first.reply), [60, 60]);

  r.clock.ms = T0 + 1500;
  const hit = await r.ask(query('WwW.ExAmPlE.cOm', { id: 0xbeef, rd: false }));
  t.true(hit.sync, 'no promise on a fresh hit');
  t.is(source(hit.event), 'cache');
  t.is(responseSource(hit.event.outcome, hit.event.result), 'cache', 'the metrics and query log label');
  t.like(hit.event.result, { ageSeconds: 1, remainingSeconds: 59, rcode: 0, truncated: false });
  const p = parseReply(hit.reply);
  t.like(p, { id: 0xbeef, qr: true, aa: false, rd: false, ra: true, cd: false, rcode: 0 });
  t.deepEqual(p.rawQuestion, rawQuestion('WwW.ExAmPlE.cOm'));
  t.deepEqual(ttls(hit.reply), [59, 59]);

  // Same second, another asker: same TTLs, its own ID and RD.
  const again = await r.ask(query('www.example.com', { id: 7, rd: true }));
  t.like(parseReply(again.reply), { id: 7, rd: true });
  t.deepEqual(ttls(again.reply), [59, 59]);

  r.clock.ms = T0 + 42_999;
  t.deepEqual(ttls((await r.ask(query('www.example.com'))).reply), [18, 18]);
  r.clock.ms = T0 + 59_999;
  const last = await r.ask(query('www.example.com'));
  t.true(last.sync);
  t.deepEqual(ttls(last.reply), [1, 1]);

  t.is(r.upstream.queries.length, 1, 'every hit came from the cache');
  t.like(r.forwarder.stats(), { queries: 5, cacheHits: 4, cacheMisses: 1 });
  t.deepEqual(
    r.events.map((e) => responseSource(e.outcome, e.result)),
    ['forward', 'cache', 'cache', 'cache', 'cache'],
    'the observer hears of every query',
  );
});

test('at the TTL the entry is no longer a hit: the next query goes upstream again', async (t) => {
  const r = await rig(t, 10);
  await r.ask(query('a.example'));
  r.clock.ms = T0 + 9_999;
  t.true((await r.ask(query('a.example'))).sync);
  r.clock.ms = T0 + 10_000;
  const expired = await r.ask(query('a.example'));
  t.false(expired.sync);
  t.is(source(expired.event), 'upstream');
  t.deepEqual(ttls(expired.reply), [10, 10]);
  t.is(r.upstream.queries.length, 2);
});

test('CD and DO are part of the key; AD goes to hits that asked with AD or DO, as the upstream set it', async (t) => {
  const r = await rig(t, 60, { ad: true });
  await r.ask(query('ad.example'));
  r.clock.ms = T0 + 2000;
  const adBit = (reply: Buffer): boolean => (reply[3]! & 0x20) !== 0;
  t.false(adBit((await r.ask(query('ad.example'))).reply), 'no AD, no DO: no AD');
  t.true(adBit((await r.ask(query('ad.example', { ad: true }))).reply), 'AD asked: AD');
  // DO and CD are other keys: each fetched once, then hits.
  await r.ask(query('ad.example', { edns: { dnssecOk: true } }));
  await r.ask(query('ad.example', { cd: true }));
  t.is(r.upstream.queries.length, 3);
  const doHit = await r.ask(query('ad.example', { edns: { dnssecOk: true } }));
  t.true(doHit.sync);
  t.true(adBit(doHit.reply), 'DO: AD');
  t.true(parseReply(doHit.reply).opt?.dnssecOk);
  const cdHit = await r.ask(query('ad.example', { cd: true, id: 9 }));
  t.true(cdHit.sync);
  t.like(parseReply(cdHit.reply), { id: 9, cd: true });
  t.is(r.upstream.queries.length, 3);
});

test('every client shape gets its own fitting (size limit, OPT), also when more shapes than kept renders take turns', async (t) => {
  // 40 A records of 16 octets after 29 of header and question: 512 octets hold 30 of them, 1232 all.
  const addresses = Array.from({ length: 40 }, (_, i) => `192.0.2.${i + 1}`);
  const r = await rig(
    t,
    300,
    {},
    {
      script: (q) => buildReply(q, { answers: addresses.map((a) => aRecord(a, 300)) }),
      forwarder: { serveStaleSeconds: 0, cache: { maxEntries: 10, maxBytes: 1 << 20 }, maxInFlight: 4 },
    },
  );
  const ask = async (m: Buffer, transport: 'udp' | 'tcp' = 'udp') => (await r.ask(m, transport)).reply;
  await ask(query('big.example', { edns: { udp: 4096 } }));
  const fit = (limit: number, opt: boolean): number => Math.min(40, Math.floor((limit - 29 - (opt ? 11 : 0)) / 16));
  const shapes = [
    { what: 'UDP without EDNS (512)', m: () => query('big.example'), transport: 'udp' as const, an: fit(512, false), opt: false },
    { what: 'UDP, EDNS 1232', m: () => query('big.example', { edns: { udp: 1232 } }), transport: 'udp' as const, an: 40, opt: true },
    {
      what: 'UDP, EDNS 600',
      m: () => query('big.example', { edns: { udp: 600 } }),
      transport: 'udp' as const,
      an: fit(600, true),
      opt: true,
    },
    { what: 'TCP without EDNS', m: () => query('big.example'), transport: 'tcp' as const, an: 40, opt: false },
  ];
  t.deepEqual(
    shapes.map((s) => s.an),
    [30, 40, 35, 40],
  );
  t.true(shapes.length > HIT_RENDERS_PER_ENTRY);
  for (const round of [1, 2]) {
    r.clock.ms = T0 + round * 1000;
    for (const s of shapes) {
      const reply = await ask(s.m(), s.transport);
      const p = parseReply(reply);
      t.like(p, { tc: s.an < 40, counts: { an: s.an } }, `${s.what}, round ${round}`);
      t.is(p.opt !== undefined, s.opt, s.what);
      t.true(reply.length <= (s.transport === 'tcp' ? 65535 : s.opt ? 1232 : 512), s.what);
      t.deepEqual(ttls(reply), new Array<number>(s.an).fill(300 - round), s.what);
    }
  }
  t.is(r.upstream.queries.length, 1);
});

test('serve-stale is unchanged: past the TTL with every upstream failing, the stale answer (TTL 30, source stale) is served', async (t) => {
  const r = await rig(t, 10);
  await r.ask(query('stale.example', { edns: {} }));
  await r.upstream.down();
  r.clock.ms = T0 + 15_000;
  const stale = await r.ask(query('stale.example', { id: 3, edns: {} }));
  t.false(stale.sync);
  t.is(source(stale.event), 'stale');
  t.is(responseSource(stale.event.outcome, stale.event.result), 'cache');
  const p = parseReply(stale.reply);
  t.is(p.id, 3);
  t.deepEqual(ttls(stale.reply), [30, 30]);
  t.deepEqual(p.opt?.options, [{ code: 15, data: Buffer.from([0, 3]) }], 'EDE 3, Stale Answer');
  t.like(r.forwarder.stats(), { staleServed: 1, cacheHits: 0 });
});

// ---------------------------------------------------------------------------------------------
// The renders an entry keeps (src/forward/cache.ts)
// ---------------------------------------------------------------------------------------------

function storedA(ttl: number): ReturnType<typeof storeReply> {
  const q = rawQuestion('kept.example');
  const reply = Buffer.concat([Buffer.from([0, 0, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]), q, aRecord('192.0.2.9', ttl)]);
  const parsed = parseRelayed(reply);
  if (!parsed.ok) throw new Error(parsed.reason);
  return storeReply(reply, parsed.reply);
}

test('hitRender keeps one render per shape and age, re-renders when the age moves on, and keeps at most HIT_RENDERS_PER_ENTRY', (t) => {
  const c = new AnswerCache({ maxEntries: 10, maxBytes: 1 << 20, serveStaleSeconds: 0 });
  c.store('k', storedA(100), T0);
  const e = c.fresh('k', T0)!;
  const udp = hitShape(512, undefined);
  const edns = hitShape(1232, { dnssecOk: false });
  const tcp = hitShape(65535, undefined);
  const a = c.hitRender(e, udp, 0);
  t.is(c.hitRender(e, udp, 0), a, 'the same render while shape and age hold');
  const b = c.hitRender(e, udp, 1);
  t.not(b, a);
  t.is(b.message.readUInt32BE(b.message.length - 10), 99, 'TTL counted down by the new age');
  t.is(e.renders.length, 1, 'the older age of the same shape is replaced');
  const x = c.hitRender(e, edns, 1);
  t.is(e.renders.length, 2);
  t.is(c.hitRender(e, udp, 1), b, 'both shapes kept');
  t.is(c.hitRender(e, edns, 1), x);
  c.hitRender(e, tcp, 1);
  t.is(e.renders.length, HIT_RENDERS_PER_ENTRY, 'bounded: the oldest shape went');
  t.deepEqual(
    e.renders.map((r) => r.shape),
    [edns, tcp],
  );
  t.not(c.hitRender(e, udp, 1), b, 'a shape that went is rendered again');
});

test('fresh() is a hit only before the TTL, and a replaced answer starts with no renders', (t) => {
  const c = new AnswerCache({ maxEntries: 10, maxBytes: 1 << 20, serveStaleSeconds: 60 });
  c.store('k', storedA(10), T0);
  const e = c.fresh('k', T0 + 9_999);
  t.not(e, undefined);
  c.hitRender(e!, hitShape(512, undefined), 9);
  t.is(c.fresh('k', T0 + 10_000), undefined, 'stale is not fresh');
  t.is(c.lookup('k', T0 + 10_000)?.state, 'stale', 'and is left for lookup() to serve stale');
  c.store('k', storedA(10), T0 + 10_000);
  t.deepEqual(c.fresh('k', T0 + 10_000)?.renders, []);
  t.is(c.fresh('nope', T0), undefined);
});

// wireName is imported for a name with a dot inside a label: its case is patched like any other.
test('a question whose label holds a dot is still patched only in case', async (t) => {
  const r = await rig(t);
  const dotted = (upper: boolean) =>
    craftQuery({ id: 5, questions: [Buffer.concat([wireName([upper ? 'A.B' : 'a.b', 'example']), Buffer.from([0, 1, 0, 1])])] });
  await r.ask(dotted(false));
  const hit = await r.ask(dotted(true));
  t.true(hit.sync);
  t.deepEqual(parseReply(hit.reply).rawQuestion, dotted(true).subarray(12));
});
