/**
 * QueryLog (log.queries): sampling with an injected random source, the fields of one line, and
 * replyFlags (CoreDNS's {>rflags}) over crafted reply headers.
 */
import test from 'ava';
import { QueryLog, replyFlags } from '../../../src/ops/query-log.js';
import type { QueryEvent } from '../../../src/wire/types.js';

type HandlerResult = NonNullable<QueryEvent['result']>;
import type { Logger } from '../../../src/log.js';

interface Line {
  readonly obj: Record<string, unknown>;
  readonly msg: string;
}

/** A hand-written logger that keeps every call (pino's LogFn overloads take (obj, msg)). */
function capture(): { logger: Pick<Logger, 'info'>; lines: Line[] } {
  const lines: Line[] = [];
  const info = (...args: unknown[]): void => {
    lines.push({ obj: args[0] as Record<string, unknown>, msg: String(args[1]) });
  };
  return { lines, logger: { info } };
}

/** A reply header (12 octets) with the given flag octets. */
function header(hi: number, lo: number): Buffer {
  return Buffer.from([0x12, 0x34, hi, lo, 0, 1, 0, 1, 0, 0, 0, 0]);
}

function decision(kind: string, clusters: string[] = []): HandlerResult {
  return {
    kind,
    rcode: 0,
    authoritative: true,
    answers: [],
    authority: [],
    additional: [],
    clusters,
    ecsScopePrefix: 0,
  } as unknown as HandlerResult;
}

function event(id: number, overrides: Partial<QueryEvent> = {}): QueryEvent {
  return {
    transport: 'udp',
    client: { address: '192.0.2.1', port: 40000 + id, family: 'IPv4' },
    size: 40,
    id,
    question: { name: 'productpage.bookinfo.global', type: 1, class: 1 },
    outcome: 'answered',
    result: decision('local'),
    reply: header(0x85, 0x00),
    durationSeconds: 0.001,
    ...overrides,
  };
}

/** A random source that returns `values` in order and fails the test when asked for more. */
function sequence(values: readonly number[]): () => number {
  let i = 0;
  return () => {
    if (i >= values.length) throw new Error('random() called more often than there were queries');
    return values[i++]!;
  };
}

test('sampling at 0.25 logs exactly the queries whose draw is below the rate', (t) => {
  const draws = [0.1, 0.3, 0.2499, 0.25, 0.9, 0, 0.75, 0.26, 0.05, 0.5];
  const { logger, lines } = capture();
  const log = new QueryLog({ sampleRate: 0.25, logger, localCluster: 'here', random: sequence(draws) });
  draws.forEach((_, i) => log.log(event(i), 'local'));
  t.deepEqual(
    lines.map((l) => l.obj['id']),
    [0, 2, 5, 8],
  );
  t.true(lines.every((l) => l.msg === 'query'));
});

test('sampleRate 1 logs every query without drawing; 0 logs none', (t) => {
  const all = capture();
  const never = () => {
    throw new Error('random() must not be called at rate 1');
  };
  const every = new QueryLog({ sampleRate: 1, logger: all.logger, localCluster: 'here', random: never });
  for (let i = 0; i < 5; i++) every.log(event(i), 'local');
  t.is(all.lines.length, 5);

  const none = capture();
  const zero = new QueryLog({ sampleRate: 0, logger: none.logger, localCluster: 'here', random: () => 0 });
  for (let i = 0; i < 5; i++) zero.log(event(i), 'local');
  t.is(none.lines.length, 0);
});

test('one line: fields of a local, remote, negative and dropped query', (t) => {
  const { logger, lines } = capture();
  const log = new QueryLog({ sampleRate: 1, logger, localCluster: 'here' });
  log.log(event(1), 'local');
  log.log(
    event(2, {
      result: decision('remote', ['west', 'east']),
      transport: 'tcp',
      edns: { udpPayloadSize: 1400, version: 0, dnssecOk: true, options: [] },
    }),
    'remote',
  );
  log.log(event(3, { question: { name: '', type: 2, class: 3 }, result: decision('nxdomain'), reply: header(0x84, 0x03) }), 'negative');
  log.log(event(4, { question: undefined, outcome: 'dropped', result: undefined, reply: null }), undefined);
  t.like(lines[0]!.obj, {
    remote: '192.0.2.1',
    port: 40001,
    id: 1,
    type: 'A',
    class: 'IN',
    name: 'productpage.bookinfo.global.',
    proto: 'udp',
    size: 40,
    do: false,
    bufsize: 512,
    rcode: 'NOERROR',
    rflags: 'qr,aa,rd',
    rsize: 12,
    duration: 0.001,
    source: 'local',
    cluster: 'here',
  });
  t.like(lines[1]!.obj, { proto: 'tcp', do: true, bufsize: 1400, source: 'remote', cluster: 'west' });
  t.like(lines[2]!.obj, { name: '.', type: 'NS', class: 'CH', rcode: 'NXDOMAIN', rflags: 'qr,aa', source: 'negative', cluster: undefined });
  t.like(lines[3]!.obj, { id: 4, rcode: '-', rflags: '-', rsize: 0, source: 'dropped', cluster: undefined });
});

const flagCases: Array<[string, number, number, string]> = [
  ['nothing set', 0x00, 0x00, ''],
  ['qr only', 0x80, 0x00, 'qr'],
  ['authoritative answer to RD', 0x85, 0x00, 'qr,aa,rd'],
  ['recursive answer', 0x81, 0x80, 'qr,rd,ra'],
  ['truncated', 0x82, 0x00, 'qr,tc'],
  ['ad and cd', 0x80, 0x30, 'qr,ad,cd'],
  ['every flag, in header order', 0x87, 0xb0, 'qr,aa,tc,rd,ra,ad,cd'],
  ['opcode bits are not flags', 0x78 | 0x80, 0x00, 'qr'],
  ['Z bit and rcode bits are not flags', 0x80, 0x4f, 'qr'],
];
for (const [title, hi, lo, expected] of flagCases) {
  test(`replyFlags: ${title}`, (t) => {
    t.is(replyFlags(header(hi, lo)), expected);
  });
}

test('replyFlags: a message shorter than the flags is no flags', (t) => {
  t.is(replyFlags(Buffer.from([0x12, 0x34, 0x85])), '');
  t.is(replyFlags(Buffer.alloc(0)), '');
});
