/**
 * The metrics module's pure parts, exhaustively: the `source` of every handler result, the RCODE
 * read back from a reply, the qtype folding, and the hot-path families' exposition (cumulative
 * buckets, +Inf, sum and count) through prom-client's Registry.
 */
import test from 'ava';
import type { Metrics } from '../../../src/ops/metrics.js';
import { replyRcode, responseSource, typeLabel, type ResponseSource } from '../../../src/wire/labels.js';
import { DURATION_BUCKETS, SIZE_BUCKETS } from '../../../src/dns/metrics.js';
import { createMetrics } from '../../../src/metrics-plan.js';
import { newCounters } from '../../../src/dns/server.js';
import type { Decision, DecisionKind } from '../../../src/answer/types.js';
import type { ForwardResult } from '../../../src/forward/forwarder.js';
import type { QueryEvent } from '../../../src/wire/types.js';
import { parseExposition } from '../../helpers/metrics.js';

const decision = (kind: DecisionKind): Decision =>
  ({
    kind,
    rcode: 0,
    authoritative: true,
    answers: [],
    authority: [],
    additional: [],
    clusters: [],
    ecsScopePrefix: 0,
    explanation: {},
  }) as unknown as Decision;
const relay = (source: ForwardResult['source']): ForwardResult => ({
  kind: 'relay',
  message: Buffer.alloc(12),
  truncated: false,
  source,
  rcode: 0,
  tries: [],
});

test('every decision kind and forward source maps to one documented source', (t) => {
  const kinds: Record<DecisionKind, ResponseSource> = {
    local: 'local',
    apex: 'local',
    remote: 'remote',
    degraded: 'degraded',
    nodata: 'negative',
    nxdomain: 'negative',
    notReady: 'error',
    outOfZone: 'refused',
    chaos: 'local',
    refused: 'refused',
  };
  for (const [kind, source] of Object.entries(kinds)) t.is(responseSource('answered', decision(kind as DecisionKind)), source, kind);
  const forwards: Record<ForwardResult['source'], ResponseSource> = {
    cache: 'cache',
    stale: 'cache',
    upstream: 'forward',
    coalesced: 'forward',
    servfail: 'error',
    overload: 'error',
  };
  for (const [src, source] of Object.entries(forwards))
    t.is(responseSource('answered', relay(src as ForwardResult['source'])), source, src);
  for (const outcome of ['formerr', 'notimp', 'badvers', 'servfail', 'dropped'] as const)
    t.is(responseSource(outcome, decision('local')), 'error', outcome);
});

test('the RCODE label is read from the reply header; BADVERS from the outcome', (t) => {
  const reply = (rcode: number) => Buffer.from([0, 1, 0x81, 0x80 | rcode, 0, 1, 0, 0, 0, 0, 0, 0]);
  const names = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
  names.forEach((name, rcode) => t.is(replyRcode('answered', reply(rcode)), name));
  t.is(replyRcode('answered', reply(9)), 'RCODE9');
  t.is(replyRcode('badvers', reply(0)), 'BADVERS');
});

test('qtypes fold to a fixed set plus "other"', (t) => {
  t.is(typeLabel(1), 'A');
  t.is(typeLabel(28), 'AAAA');
  t.is(typeLabel(65), 'HTTPS');
  t.is(typeLabel(33), 'SRV');
  t.is(typeLabel(12345), 'other');
  t.is(typeLabel(0), 'other');
  t.is(typeLabel(undefined), 'other');
  const labels = new Set(Array.from({ length: 0x10000 }, (_, i) => typeLabel(i)));
  t.true(labels.size <= 20, `bounded: ${labels.size} values over every qtype`);
});

test('buckets: CoreDNS exponential durations and sizes', (t) => {
  t.is(DURATION_BUCKETS.length, 16);
  t.is(DURATION_BUCKETS[0], 0.00025);
  t.is(DURATION_BUCKETS[15], 0.00025 * 2 ** 15);
  t.deepEqual(SIZE_BUCKETS.slice(0, 6), [0, 100, 200, 300, 400, 511]);
});

function metrics(): Metrics {
  const none = () => undefined;
  return createMetrics(
    {
      dnsEdge: newCounters,
      forward: () => ({
        queries: 0,
        refused: 0,
        cacheHits: 0,
        cacheMisses: 0,
        coalesced: 0,
        staleServed: 0,
        servfail: 0,
        overloadRejected: 0,
        cacheEntries: 0,
        cacheBytes: 0,
        inFlight: 0,
        inFlightHighWater: 0,
        upstreams: [],
      }),
      registry: () => ({ local: 0, remote: 0 }),
      sync: none,
      health: none,
      kubernetes: none,
      stubWiring: none,
      failOpenAnswers: () => 0,
    },
    { sync: false, health: false, kubernetes: false, selfTest: false },
    { version: 'test', nodeVersion: 'v0' },
  );
}

const event = (over: Partial<QueryEvent>): QueryEvent => ({
  transport: 'udp',
  client: { address: '127.0.0.1', port: 5000, family: 'IPv4' },
  size: 40,
  question: { name: 'a.global', type: 1, class: 1 },
  outcome: 'answered',
  result: decision('local'),
  reply: Buffer.from([0, 1, 0x85, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]),
  durationSeconds: 0.0003,
  ...over,
});

test('hot-path families: cumulative buckets, +Inf, sum and count, per label', async (t) => {
  const m = metrics();
  m.observeQuery(event({ durationSeconds: 0.0001 }));
  m.observeQuery(event({ durationSeconds: 0.0003 }));
  m.observeQuery(event({ durationSeconds: 100 })); // beyond the last bucket: only +Inf
  m.observeQuery(
    event({
      transport: 'tcp',
      client: { address: '::1', port: 1, family: 'IPv6' },
      question: { name: 'x', type: 28, class: 1 },
      result: decision('nxdomain'),
    }),
  );
  t.is(m.observeQuery(event({ reply: null, outcome: 'dropped', result: undefined, question: undefined })), undefined);
  const s = parseExposition((await m.render()).body);
  t.is(s.sum('gsdns_dns_requests_total'), 5);
  t.is(s.sum('gsdns_dns_requests_total', { proto: 'tcp', family: '2', type: 'AAAA' }), 1);
  t.is(s.sum('gsdns_dns_requests_total', { type: 'other' }), 1);
  t.is(s.sum('gsdns_dns_responses_total', { rcode: 'NOERROR', source: 'local' }), 3);
  t.is(s.sum('gsdns_dns_responses_total', { source: 'negative' }), 1);
  const le = (v: string) => s.sum('gsdns_dns_request_duration_seconds_bucket', { source: 'local', le: v });
  t.is(le('0.00025'), 1);
  t.is(le('0.0005'), 2);
  t.is(le('8.192'), 2);
  t.is(le('+Inf'), 3);
  t.is(s.sum('gsdns_dns_request_duration_seconds_count', { source: 'local' }), 3);
  t.true(Math.abs(s.sum('gsdns_dns_request_duration_seconds_sum', { source: 'local' }) - 100.0004) < 1e-9);
  t.is(s.sum('gsdns_dns_request_size_bytes_count', { proto: 'udp' }), 4, 'the dropped message counts as a request');
  t.is(s.sum('gsdns_dns_response_size_bytes_count', { proto: 'udp' }), 3);
  t.is(s.sum('gsdns_dns_response_size_bytes_bucket', { proto: 'udp', le: '0' }), 0);
  t.is(s.sum('gsdns_dns_response_size_bytes_bucket', { proto: 'udp', le: '100' }), 3);
  t.is(s.types['gsdns_dns_request_duration_seconds'], 'histogram');
  t.is(s.types['gsdns_dns_requests_total'], 'counter');
});
