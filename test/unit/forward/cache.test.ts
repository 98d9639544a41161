/**
 * The forwarding cache (src/forward/cache.ts) with injected times: freshness (TTL), the RFC 8767
 * stale window, SERVFAIL never displacing a stale-servable answer, and the LRU bounds.
 */
import test from 'ava';
import { AnswerCache, HIT_RENDERS_PER_ENTRY, type CacheOptions } from '../../../src/forward/cache.js';
import { parseReply } from '../../../src/wire/relay.js';
import { storeReply, type AnswerClass, type StoredAnswer } from '../../../src/wire/relay-store.js';

const RCODE: Record<AnswerClass, number> = { positive: 0, nodata: 0, nxdomain: 3, servfail: 2, other: 5 };

/** A real StoredAnswer (from storeReply) to start from: `. IN A`, NOERROR, no records. */
function base(): StoredAnswer {
  const reply = Buffer.from('00008180000100000000000000000100 01'.replace(/\s+/g, ''), 'hex');
  const parsed = parseReply(reply);
  if (!parsed.ok) throw new Error(parsed.reason);
  return storeReply(reply, parsed.reply);
}

/** A StoredAnswer of the given class and lifetime; the body's first octet tells answers apart. */
function answer(
  answerClass: AnswerClass,
  ttlSeconds: number,
  opts: { tag?: number; bodyLength?: number; records?: number } = {},
): StoredAnswer {
  const records = opts.records ?? 1;
  return {
    ...base(),
    body: Buffer.alloc(opts.bodyLength ?? 64, opts.tag ?? 0),
    sections: new Array<0>(records).fill(0),
    ends: Array.from({ length: records }, (_, i) => 17 + (i + 1) * 11),
    ttlOffsets: Array.from({ length: records }, (_, i) => 17 + i * 11 + 5),
    rcode: RCODE[answerClass],
    answerClass,
    ttlSeconds,
  };
}

const cache = (o: Partial<CacheOptions> = {}): AnswerCache =>
  new AnswerCache({ maxEntries: 100, maxBytes: 1 << 20, serveStaleSeconds: 60, ...o });

const T0 = 1_700_000_000_000;

/** A cache entry as stored, before any hit rendered it (renders: see cache-hit.test.ts). */
const entry = (stored: StoredAnswer, storedAtMs: number) => ({ stored, storedAtMs, renders: [] });
const s = (seconds: number): number => T0 + seconds * 1000;

// ---------------------------------------------------------------------------------------------
// freshness and the stale window
// ---------------------------------------------------------------------------------------------

test('fresh from storing until just before the TTL, with age and remaining seconds', (t) => {
  const c = cache();
  const a = answer('positive', 10);
  t.true(c.store('k', a, T0));
  for (const [at, age, remaining] of [
    [T0, 0, 10],
    [T0 + 999, 0, 10],
    [T0 + 1000, 1, 9],
    [T0 + 2500, 2, 8],
    [T0 + 9000, 9, 1],
    [T0 + 9999, 9, 1],
  ] as const) {
    const hit = c.lookup('k', at);
    t.deepEqual(hit, { state: 'fresh', entry: entry(a, T0), ageSeconds: age, remainingSeconds: remaining }, `at +${at - T0} ms`);
    t.is(hit?.entry.stored, a);
  }
});

for (const kind of ['positive', 'nxdomain', 'nodata'] as const) {
  test(`${kind}: stale from the TTL for serveStaleSeconds, then gone (and deleted)`, (t) => {
    const c = cache({ serveStaleSeconds: 60 });
    const a = answer(kind, 10);
    c.store('k', a, T0);
    t.is(c.lookup('k', s(10) - 1)?.state, 'fresh');
    t.deepEqual(c.lookup('k', s(10)), { state: 'stale', entry: entry(a, T0), ageSeconds: 10 });
    t.deepEqual(c.lookup('k', s(70) - 1), { state: 'stale', entry: entry(a, T0), ageSeconds: 69 });
    t.is(c.stale('k', s(70) - 1)?.stored, a);
    t.is(c.size, 1);
    t.is(c.stale('k', s(70)), undefined);
    t.is(c.lookup('k', s(70)), undefined);
    t.is(c.size, 0);
    // deleted: even an earlier time no longer finds it
    t.is(c.lookup('k', T0), undefined);
  });
}

for (const kind of ['servfail', 'other'] as const) {
  test(`${kind}: never stale, gone at its TTL`, (t) => {
    const c = cache({ serveStaleSeconds: 3600 });
    c.store('k', answer(kind, 5), T0);
    t.is(c.lookup('k', s(5) - 1)?.state, 'fresh');
    t.is(c.stale('k', s(5)), undefined);
    t.is(c.lookup('k', s(5)), undefined);
    t.is(c.size, 0);
  });
}

test('serveStaleSeconds 0: a positive answer is gone exactly at its TTL', (t) => {
  const c = cache({ serveStaleSeconds: 0 });
  c.store('k', answer('positive', 30), T0);
  t.is(c.lookup('k', s(30) - 1)?.state, 'fresh');
  t.is(c.stale('k', s(30)), undefined);
  t.is(c.lookup('k', s(30)), undefined);
});

test('a clock that went backwards counts as age 0 (fresh, full TTL remaining)', (t) => {
  const c = cache();
  const a = answer('positive', 10);
  c.store('k', a, T0);
  t.deepEqual(c.lookup('k', T0 - 5000), { state: 'fresh', entry: entry(a, T0), ageSeconds: 0, remainingSeconds: 10 });
});

test('stale() returns a servable entry (fresh or stale) without deleting anything; lookup of an unknown key is undefined', (t) => {
  const c = cache({ serveStaleSeconds: 5 });
  const a = answer('nxdomain', 10);
  c.store('k', a, T0);
  t.deepEqual(c.stale('k', T0), entry(a, T0));
  t.deepEqual(c.stale('k', s(14)), entry(a, T0));
  t.is(c.stale('k', s(15)), undefined);
  t.is(c.size, 1, 'stale() does not delete');
  t.is(c.stale('nope', T0), undefined);
  t.is(c.lookup('nope', T0), undefined);
});

test('keys are independent', (t) => {
  const c = cache();
  const a = answer('positive', 10, { tag: 1 });
  const b = answer('positive', 20, { tag: 2 });
  c.store('a', a, T0);
  c.store('b', b, s(5));
  t.is(c.lookup('a', s(12))?.state, 'stale');
  t.like(c.lookup('b', s(12)), { state: 'fresh', ageSeconds: 7, remainingSeconds: 13 });
  t.is(c.lookup('b', s(12))?.entry.stored, b);
});

// ---------------------------------------------------------------------------------------------
// store
// ---------------------------------------------------------------------------------------------

for (const ttl of [0, -1]) {
  test(`store ignores ttlSeconds ${ttl}`, (t) => {
    const c = cache();
    t.false(c.store('k', answer('positive', ttl), T0));
    t.is(c.size, 0);
    t.is(c.lookup('k', T0), undefined);
  });
}

test('store with ttlSeconds 0 leaves an existing entry alone', (t) => {
  const c = cache();
  const a = answer('positive', 10);
  c.store('k', a, T0);
  t.false(c.store('k', answer('other', 0), s(1)));
  t.is(c.lookup('k', s(1))?.entry.stored, a);
});

test('a newer answer replaces an older one and restarts its clock', (t) => {
  const c = cache();
  const a = answer('positive', 10, { tag: 1 });
  const b = answer('positive', 10, { tag: 2 });
  c.store('k', a, T0);
  t.true(c.store('k', b, s(8)));
  t.deepEqual(c.lookup('k', s(9)), { state: 'fresh', entry: entry(b, s(8)), ageSeconds: 1, remainingSeconds: 9 });
  t.is(c.size, 1);
});

const SERVFAIL_CASES: ReadonlyArray<readonly [string, ((c: AnswerCache) => void) | undefined, number, boolean]> = [
  ['nothing', undefined, 0, true],
  ['a fresh positive answer', (c) => c.store('k', answer('positive', 10, { tag: 1 }), T0), 5, false],
  ['a stale positive answer', (c) => c.store('k', answer('positive', 10, { tag: 1 }), T0), 30, false],
  ['a stale nxdomain answer', (c) => c.store('k', answer('nxdomain', 10, { tag: 1 }), T0), 69, false],
  ['a stale nodata answer', (c) => c.store('k', answer('nodata', 10, { tag: 1 }), T0), 69, false],
  ['a positive answer past its stale window', (c) => c.store('k', answer('positive', 10, { tag: 1 }), T0), 70, true],
  ['an expired SERVFAIL', (c) => c.store('k', answer('servfail', 5, { tag: 1 }), T0), 30, true],
  ['a fresh SERVFAIL', (c) => c.store('k', answer('servfail', 5, { tag: 1 }), T0), 1, true],
  ['a fresh "other" answer', (c) => c.store('k', answer('other', 5, { tag: 1 }), T0), 1, true],
];

for (const [what, before, at, replaces] of SERVFAIL_CASES) {
  test(`a SERVFAIL over ${what} ${replaces ? 'is stored' : 'is not stored'}`, (t) => {
    const c = cache({ serveStaleSeconds: 60 });
    before?.(c);
    const old = c.stale('k', s(at)) ?? undefined;
    const sf = answer('servfail', 5, { tag: 9 });
    t.is(c.store('k', sf, s(at)), replaces);
    if (replaces) {
      t.deepEqual(c.lookup('k', s(at)), { state: 'fresh', entry: entry(sf, s(at)), ageSeconds: 0, remainingSeconds: 5 });
    } else {
      t.not(old, undefined);
      t.is(c.stale('k', s(at))?.stored, old?.stored);
      t.is(c.lookup('k', s(at))?.entry.stored.body[0], 1);
    }
  });
}

test('serveStaleSeconds 0: a SERVFAIL is not stored over a fresh answer, but is once it expired', (t) => {
  const c = cache({ serveStaleSeconds: 0 });
  c.store('k', answer('positive', 10, { tag: 1 }), T0);
  t.false(c.store('k', answer('servfail', 5), s(9)));
  t.true(c.store('k', answer('servfail', 5, { tag: 2 }), s(10)));
  t.is(c.lookup('k', s(10))?.entry.stored.answerClass, 'servfail');
});

test('any non-SERVFAIL answer replaces a stale-servable one', (t) => {
  for (const kind of ['positive', 'nxdomain', 'nodata', 'other'] as const) {
    const c = cache();
    c.store('k', answer('positive', 10, { tag: 1 }), T0);
    const fresh = answer(kind, 10, { tag: 2 });
    t.true(c.store('k', fresh, s(20)), kind);
    t.is(c.lookup('k', s(20))?.entry.stored, fresh, kind);
  }
});

// ---------------------------------------------------------------------------------------------
// bounds (least recently used go first)
// ---------------------------------------------------------------------------------------------

test('maxEntries: the least recently used entry is evicted; lookup refreshes recency', (t) => {
  const c = cache({ maxEntries: 3 });
  for (const k of ['a', 'b', 'c']) c.store(k, answer('positive', 100), T0);
  t.is(c.lookup('a', s(1))?.state, 'fresh');
  c.store('d', answer('positive', 100), s(2));
  t.is(c.size, 3);
  t.deepEqual(
    ['a', 'b', 'c', 'd'].map((k) => c.stale(k, s(3)) !== undefined),
    [true, false, true, true],
  );
});

test('maxEntries: stale() does not refresh recency', (t) => {
  const c = cache({ maxEntries: 2 });
  c.store('a', answer('positive', 100), T0);
  c.store('b', answer('positive', 100), T0);
  t.not(c.stale('a', s(1)), undefined);
  c.store('c', answer('positive', 100), s(2));
  t.deepEqual(
    ['a', 'b', 'c'].map((k) => c.stale(k, s(3)) !== undefined),
    [false, true, true],
  );
});

test('bytes grows with the body length and the record count, and shrinks on replacement and clear()', (t) => {
  const c = cache();
  t.is(c.bytes, 0);
  c.store('a', answer('positive', 100, { bodyLength: 100, records: 1 }), T0);
  const one = c.bytes;
  t.true(one >= 100, `${one}`);
  c.store('b', answer('positive', 100, { bodyLength: 300, records: 1 }), T0);
  // The body, and room for the renders its hits may keep (each as long as the body, at most).
  const longer = 200 * (1 + HIT_RENDERS_PER_ENTRY);
  t.is(c.bytes, 2 * one + longer, 'a body 200 octets longer counts 200 more, and as much again per hit render');
  c.store('c', answer('positive', 100, { bodyLength: 100, records: 5 }), T0);
  const five = c.bytes - (2 * one + longer);
  t.true(five > one, 'more records count more');
  c.store('b', answer('positive', 100, { bodyLength: 100, records: 1 }), T0);
  t.is(c.size, 3);
  t.is(c.bytes, 2 * one + five);
  c.clear();
  t.is(c.size, 0);
  t.is(c.bytes, 0);
  t.is(c.lookup('a', T0), undefined);
});

test('maxBytes: storing past the byte budget evicts the least recently used entries', (t) => {
  const probe = cache();
  probe.store('x', answer('positive', 100, { bodyLength: 200 }), T0);
  const size = probe.bytes;
  // room for exactly three such entries
  const c = cache({ maxBytes: 3 * size + size / 2 });
  for (const k of ['a', 'b', 'c']) c.store(k, answer('positive', 100, { bodyLength: 200 }), T0);
  t.is(c.size, 3);
  t.is(c.bytes, 3 * size);
  c.lookup('a', s(1));
  c.store('d', answer('positive', 100, { bodyLength: 200 }), s(2));
  t.deepEqual(
    ['a', 'b', 'c', 'd'].map((k) => c.stale(k, s(3)) !== undefined),
    [true, false, true, true],
  );
  t.true(c.bytes <= 3 * size + size / 2);
  // one entry twice as large (give or take an octet) pushes out two of the least recently used
  probe.store('y', answer('positive', 100, { bodyLength: 201 }), T0);
  const perOctet = probe.bytes - 2 * size;
  c.store('e', answer('positive', 100, { bodyLength: 200 + Math.ceil(size / perOctet) }), s(4));
  t.deepEqual(
    ['a', 'c', 'd', 'e'].map((k) => c.stale(k, s(5)) !== undefined),
    [false, false, true, true],
  );
  t.true(c.bytes <= 3 * size + size / 2);
});

test('maxBytes: an answer larger than the whole budget is not kept, and store says so', (t) => {
  const c = cache({ maxBytes: 1000 });
  const small = answer('positive', 100, { bodyLength: 50, tag: 1 });
  t.true(c.store('k', small, T0));
  // The oversized answer cannot be held. store() reports whether the answer was kept.
  t.false(c.store('big', answer('positive', 100, { bodyLength: 5000 }), T0));
  t.is(c.lookup('big', T0), undefined);
  t.is(c.lookup('k', T0)?.entry.stored, small);
});
