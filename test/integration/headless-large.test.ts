/**
 * A headless service with 10,000 endpoints over real sockets (issue 12): its answers are cut to
 * what the reply can hold. Over UDP the reply carries TC=1, the records that fit and (with EDNS)
 * the OPT, within 512 / 1232 octets (SPEC §1, D10, D11); over TCP every A record that fits in
 * 65,535 octets and every AAAA record, all distinct ready endpoints, never a not-ready one.
 */
import test, { type ExecutionContext } from 'ava';
import { join } from 'node:path';
import { craftQuery, kdig, optRR, parseReply, rawQuestion, udpExchange } from '../helpers/dns-tools.js';
import { startInProcess, tempDir, writeFile } from '../helpers/gsdns-process.js';

const V4_COUNT = 8_000;
const V6_COUNT = 2_000; // 10,000 endpoints in all
const v4 = (i: number): string => `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
const v6 = (i: number): string => `fd00::1:${i.toString(16)}`;
/** One endpoint in ten is not ready; those must never be answered. */
const ready = (i: number): boolean => i % 10 !== 9;

const READY_V4 = new Set(
  Array.from({ length: V4_COUNT }, (_, i) => i)
    .filter(ready)
    .map(v4),
);
const READY_V6 = new Set(
  Array.from({ length: V6_COUNT }, (_, i) => i)
    .filter(ready)
    .map(v6),
);
const NOT_READY = new Set([
  ...Array.from({ length: V4_COUNT }, (_, i) => i)
    .filter((i) => !ready(i))
    .map(v4),
  ...Array.from({ length: V6_COUNT }, (_, i) => i)
    .filter((i) => !ready(i))
    .map(v6),
]);

const NAME = 'large.bench.global';
/** QNAME (1+5 + 1+5 + 1+6 + 1 octets) + QTYPE + QCLASS. */
const QUESTION_OCTETS = rawQuestion(NAME).length;
const HEADER = 12;
const OPT = 11;
/** An A record whose owner is a pointer to the question: 2 + 10 + 4 octets; AAAA: 2 + 10 + 16. */
const A_RR = 16;
const AAAA_RR = 28;
const fitting = (limit: number, edns: boolean, rrSize: number): number =>
  Math.floor((limit - HEADER - QUESTION_OCTETS - (edns ? OPT : 0)) / rrSize);

function catalog(): string {
  const lines = [
    'services:',
    `  - {namespace: bench, name: large, headless: true, ports: [{name: http, port: 8080, protocol: TCP}], endpoints: [`,
  ];
  // interleave the families, as a dual-stack EndpointSlice pair would arrive
  for (let i = 0; i < V4_COUNT; i++) {
    lines.push(`      {address: ${v4(i)}, ready: ${ready(i)}},`);
    if (i < V6_COUNT) lines.push(`      {address: "${v6(i)}", ready: ${ready(i)}},`);
  }
  lines.push('    ]}');
  return lines.join('\n') + '\n';
}

async function start(t: import('ava').ExecutionContext, dnsExtra = ''): Promise<number> {
  const dir = tempDir(t);
  writeFile(join(dir, 'catalog.yaml'), catalog());
  const s = await startInProcess(
    t,
    `cluster: {name: test-local}\ndns: {zones: [global]${dnsExtra}}\nsource: {type: file, file: {path: catalog.yaml}}\n`,
    dir,
  );
  return s.dnsPort;
}

function addressesOf(records: ReadonlyArray<Record<string, unknown>>): string[] {
  return records.map((r) => String(r['address']));
}

test('UDP: TC=1 with the A records that fit, within 512 octets without EDNS and 1232 with it, the OPT kept', async (t) => {
  const port = await start(t);
  for (const edns of [false, true]) {
    const label = edns ? 'EDNS 4096 (capped at 1232)' : 'no EDNS';
    const query = craftQuery({ questions: [rawQuestion(NAME, 1)], additional: edns ? [optRR({ udp: 4096 })] : [] });
    const reply = await udpExchange(port, query, { timeoutMs: 10_000 });
    if (reply === null) return t.fail(`${label}: no reply`);
    const limit = edns ? 1232 : 512;
    const r = parseReply(reply);
    t.true(r.tc, `${label}: TC`);
    t.true(r.aa, label);
    t.true(reply.length <= limit, `${label}: ${reply.length} octets`);
    t.is(r.counts.an, fitting(limit, edns, A_RR), label);
    t.is(r.opt !== undefined, edns, `${label}: OPT iff the query had one`);
    const got = addressesOf(r.answers);
    t.is(new Set(got).size, got.length, `${label}: distinct`);
    t.true(
      got.every((a) => READY_V4.has(a)),
      `${label}: only ready endpoints`,
    );
  }
});

test('TCP (kdig +tcp): every A record that fits in 65535 octets and every AAAA record, distinct and ready', async (t) => {
  const port = await start(t);
  for (const [type, rrSize, all] of [
    ['A', A_RR, READY_V4],
    ['AAAA', AAAA_RR, READY_V6],
  ] as const) {
    const replies = await kdig(t, port, ['+tcp', '+bufsize=1232', NAME, type]);
    if (!replies) return;
    t.is(replies.length, 1, type);
    const r = replies[0]!;
    t.is(r.transport, 'TCP', type);
    const expected = Math.min(all.size, fitting(65535, true, rrSize));
    // "large.bench.global.  5  IN  A  10.100.0.0"
    const records = r.answer.map((line) => line.split(/\s+/));
    const got = records.filter((f) => f[3] === type).map((f) => f[4]!);
    t.is(r.status, 'NOERROR', type);
    t.is(got.length, expected, `${type}: ${got.length} records`);
    t.is(new Set(got).size, got.length, `${type}: distinct`);
    t.true(
      got.every((a) => all.has(a) && !NOT_READY.has(a)),
      `${type}: only ready endpoints`,
    );
    // 7,200 ready A records cannot fit (TC: the client learns the answer is partial); 1,800 AAAA can.
    t.is(r.flags.includes('tc'), all.size > expected, `${type}: TC iff records were left out`);
    t.true(
      records.every((f) => f[0] === `${NAME}.` && f[1] === '5' && f[3] === type),
      type,
    );
  }
  // The two families together: 4093 A records already fill the message.
  t.is(fitting(65535, true, A_RR), 4093);
});

test('dns.maxLocalAnswers caps the answer on both transports, without TC: a complete (capped) answer', async (t) => {
  const port = await start(t, ', maxLocalAnswers: 20');
  const readyV4 = Array.from({ length: V4_COUNT }, (_, i) => i)
    .filter(ready)
    .map(v4);
  const readyV6 = Array.from({ length: V6_COUNT }, (_, i) => i)
    .filter(ready)
    .map(v6);
  const reply = await udpExchange(port, craftQuery({ questions: [rawQuestion(NAME, 1)] }), { timeoutMs: 10_000 });
  if (reply === null) return t.fail('no UDP reply');
  const r = parseReply(reply);
  t.false(r.tc);
  // Ready addresses rotate from query to query (dns.rotate, issue 16): 20 of them, in ready order
  // from where this query's rotation starts.
  assertCyclicWindow(t, addressesOf(r.answers), readyV4, 20);
  const replies = await kdig(t, port, ['+tcp', NAME, 'AAAA']);
  if (!replies) return;
  t.false(replies[0]!.flags.includes('tc'));
  assertCyclicWindow(
    t,
    replies[0]!.answer.map((line) => line.split(/\s+/)[4]!),
    readyV6,
    20,
  );
});

/**
 * `got` is `n` ready addresses taken in ready order from where the rotation starts, wrapping at most
 * once to the start of the candidates the reply could hold (the canonical list the draw rotates).
 */
function assertCyclicWindow(t: ExecutionContext, got: readonly string[], all: readonly string[], n: number): void {
  t.is(got.length, n);
  const at = got.map((a) => all.indexOf(a));
  t.false(at.includes(-1), `every address is ready: ${got.join(' ')}`);
  let wraps = 0;
  for (let i = 1; i < at.length; i++) {
    if (at[i]! === at[i - 1]! + 1) continue;
    wraps++;
    t.is(at[i], 0, `after a wrap the rotation goes on from the first candidate: ${got.join(' ')}`);
  }
  t.true(wraps <= 1, `${got.join(' ')}`);
}
