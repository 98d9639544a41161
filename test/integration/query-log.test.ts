/**
 * The query log (log.queries) of a spawned gsdns: one JSON line per message received, with
 * CoreDNS's `log` fields plus gsdns's source and cluster, for answered, negative, forwarded,
 * rejected and dropped messages over UDP and TCP; none when off or sampled at 0.
 */
import test, { type ExecutionContext } from 'ava';
import { createSocket, type Socket } from 'node:dgram';
import { craftQuery, kdig, optRR, rawQuestion } from '../helpers/dns-tools.js';
import { dig } from '../helpers/dig.js';
import { spawnGsdns, type SpawnedServer } from '../helpers/gsdns-process.js';

interface QueryLine {
  readonly level: number;
  readonly module?: string;
  readonly msg: string;
  readonly remote: string;
  readonly port: number;
  readonly id: number;
  readonly type?: string;
  readonly class?: string;
  readonly name?: string;
  readonly proto: string;
  readonly size: number;
  readonly do: boolean;
  readonly bufsize: number;
  readonly rcode: string;
  readonly rflags: string;
  readonly rsize: number;
  readonly duration: number;
  readonly source: string;
  readonly cluster?: string;
  readonly upstream?: string;
}

function queryLines(gs: SpawnedServer): QueryLine[] {
  return gs
    .logs()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as QueryLine)
    .filter((r) => r.msg === 'query');
}

/** Send one datagram from a fresh socket; its local port and the reply (null after timeoutMs). */
/**
 * One datagram from a socket of its own. With `held`, the socket stays open (the caller closes
 * those), so the kernel cannot give its port to the next case: lines are told apart by port.
 */
async function udpFrom(
  port: number,
  message: Buffer,
  timeoutMs = 3000,
  held?: Socket[],
): Promise<{ localPort: number; reply: Buffer | null }> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const localPort = socket.address().port;
  try {
    const reply = await new Promise<Buffer | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      socket.once('message', (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      socket.send(message, port, '127.0.0.1');
    });
    return { localPort, reply };
  } finally {
    if (held) held.push(socket);
    else socket.close();
  }
}

async function waitForLines(gs: SpawnedServer, count: number, limitMs = 5000): Promise<QueryLine[]> {
  const deadline = Date.now() + limitMs;
  while (queryLines(gs).length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  // A little longer, so that an extra line would show up too.
  await new Promise((r) => setTimeout(r, 300));
  return queryLines(gs);
}

const COMMON_FIELDS = ['remote', 'port', 'id', 'proto', 'size', 'do', 'bufsize', 'rcode', 'rflags', 'rsize', 'duration', 'source'] as const;
const QUESTION_FIELDS = ['type', 'class', 'name'] as const;

function flagsOf(line: QueryLine): string[] {
  return line.rflags.split(',');
}

interface UdpCase {
  readonly title: string;
  readonly message: Buffer;
  readonly expect: Partial<QueryLine>;
  /** The reply is expected (false: the message is dropped). */
  readonly replied: boolean;
  readonly question: boolean;
}

const udpCases: UdpCase[] = [
  {
    title: 'A, local',
    message: craftQuery({ id: 0x1001, questions: [rawQuestion('productpage.bookinfo.global')] }),
    expect: {
      type: 'A',
      class: 'IN',
      name: 'productpage.bookinfo.global.',
      do: false,
      bufsize: 512,
      rcode: 'NOERROR',
      source: 'local',
      cluster: 'demo-local',
    },
    replied: true,
    question: true,
  },
  {
    title: 'A, remote',
    message: craftQuery({ id: 0x1002, questions: [rawQuestion('reviews.bookinfo.global')] }),
    expect: { type: 'A', class: 'IN', name: 'reviews.bookinfo.global.', rcode: 'NOERROR', source: 'remote', cluster: 'cluster-west' },
    replied: true,
    question: true,
  },
  {
    title: 'AAAA with EDNS (4096)',
    message: craftQuery({ id: 0x1003, questions: [rawQuestion('productpage.bookinfo.global', 28)], additional: [optRR({ udp: 4096 })] }),
    expect: { type: 'AAAA', class: 'IN', name: 'productpage.bookinfo.global.', do: false, bufsize: 4096, rcode: 'NOERROR' },
    replied: true,
    question: true,
  },
  {
    title: 'NXDOMAIN',
    message: craftQuery({ id: 0x1004, questions: [rawQuestion('nope.bookinfo.global')] }),
    expect: { type: 'A', name: 'nope.bookinfo.global.', rcode: 'NXDOMAIN', source: 'negative' },
    replied: true,
    question: true,
  },
  {
    title: 'out of zone (forwarding to a closed port)',
    message: craftQuery({ id: 0x1005, questions: [rawQuestion('example.com', 1)] }),
    expect: { type: 'A', name: 'example.com.', rcode: 'SERVFAIL', source: 'error' },
    replied: true,
    question: true,
  },
  {
    title: 'QDCOUNT=2 (FORMERR)',
    message: craftQuery({ id: 0x1006, questions: [rawQuestion('productpage.bookinfo.global'), rawQuestion('reviews.bookinfo.global')] }),
    expect: { rcode: 'FORMERR', source: 'error', type: '-', class: '-', name: '-' },
    replied: true,
    question: false,
  },
  {
    title: 'a response (QR=1), dropped',
    message: craftQuery({ id: 0x1007, qr: true, questions: [rawQuestion('productpage.bookinfo.global')] }),
    expect: { rcode: '-', rflags: '-', rsize: 0, source: 'dropped', type: '-', class: '-', name: '-' },
    replied: false,
    question: false,
  },
];

function assertCommonFields(t: ExecutionContext, line: QueryLine, what: string): void {
  for (const f of COMMON_FIELDS) t.true(f in line, `${what}: field ${f} in ${JSON.stringify(line)}`);
  t.is(line.level, 30, `${what}: info level`);
  t.is(line.remote, '127.0.0.1', what);
  t.true(typeof line.duration === 'number' && line.duration >= 0 && line.duration < 10, `${what}: duration ${line.duration}`);
}

test('one line per message, with the CoreDNS log fields plus source and cluster', async (t) => {
  const gs = await spawnGsdns(t, ['--set', 'log.queries.enabled=true', '--set', 'log.queries.sampleRate=1']);
  t.is(queryLines(gs).length, 0, 'no query lines before any query');

  const sentUdp: Array<{ c: UdpCase; localPort: number; reply: Buffer | null }> = [];
  const held: Socket[] = [];
  t.teardown(() => {
    for (const s of held) s.close();
  });
  for (const c of udpCases) {
    const { localPort, reply } = await udpFrom(gs.dnsPort, c.message, c.replied ? 6000 : 500, held);
    t.is(reply !== null, c.replied, `${c.title}: replied`);
    sentUdp.push({ c, localPort, reply });
  }
  const tcp = await kdig(t, gs.dnsPort, ['+tcp', 'details.bookinfo.global', 'A']);
  if (!tcp) return;
  const dnssec = await dig(t, gs.dnsPort, ['+dnssec', '+bufsize=1400', 'legacy.bookinfo.global', 'A']);
  if (!dnssec) return;
  const expected = udpCases.length + 2;

  const lines = await waitForLines(gs, expected);
  t.is(lines.length, expected, `exactly one line per message:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`);

  for (const { c, localPort, reply } of sentUdp) {
    const mine = lines.filter((l) => l.proto === 'udp' && l.port === localPort);
    t.is(mine.length, 1, `${c.title}: one line from port ${localPort}`);
    const line = mine[0];
    if (!line) continue;
    assertCommonFields(t, line, c.title);
    if (c.question) for (const f of QUESTION_FIELDS) t.true(f in line, `${c.title}: field ${f}`);
    t.like(line, { id: c.message.readUInt16BE(0), proto: 'udp', size: c.message.length, ...c.expect }, c.title);
    if (reply) {
      t.is(line.rsize, reply.length, `${c.title}: rsize`);
      t.true(flagsOf(line).includes('qr'), `${c.title}: rflags ${line.rflags}`);
      t.true(flagsOf(line).includes('rd'), `${c.title}: RD copied from the query`);
    }
    if (c.expect.source === 'local' || c.expect.source === 'remote' || c.expect.source === 'negative') {
      t.true(flagsOf(line).includes('aa'), `${c.title}: in-zone answers are authoritative (${line.rflags})`);
    }
    if (c.expect.cluster === undefined && c.expect.source !== undefined && c.expect.source !== 'local' && c.expect.source !== 'remote') {
      t.is(line.cluster, undefined, `${c.title}: no cluster`);
    }
  }

  const tcpLines = lines.filter((l) => l.proto === 'tcp');
  t.is(tcpLines.length, 1);
  t.like(tcpLines[0], {
    id: tcp[0]!.id,
    type: 'A',
    class: 'IN',
    name: 'details.bookinfo.global.',
    rcode: 'NOERROR',
    source: 'local',
    cluster: 'demo-local',
  });
  if (tcpLines[0]) {
    assertCommonFields(t, tcpLines[0], 'kdig +tcp');
    t.true(tcpLines[0].port > 0);
    t.true(flagsOf(tcpLines[0]).includes('aa') && flagsOf(tcpLines[0]).includes('qr'), tcpLines[0].rflags);
  }

  const dnssecLines = lines.filter((l) => l.name === 'legacy.bookinfo.global.');
  t.is(dnssecLines.length, 1);
  t.like(dnssecLines[0], {
    proto: 'udp',
    type: 'A',
    do: true,
    bufsize: 1400,
    rcode: 'NOERROR',
    source: 'degraded',
    cluster: 'cluster-east',
  });
  if (dnssecLines[0]) assertCommonFields(t, dnssecLines[0], 'dig +dnssec');
});

for (const [title, sets] of [
  ['sampleRate 0 logs no query', ['log.queries.enabled=true', 'log.queries.sampleRate=0']],
  ['enabled false logs no query', ['log.queries.enabled=false', 'log.queries.sampleRate=1']],
] as const) {
  test(title, async (t) => {
    const gs = await spawnGsdns(
      t,
      sets.flatMap((s) => ['--set', s]),
    );
    for (let i = 0; i < 20; i++) {
      const { reply } = await udpFrom(
        gs.dnsPort,
        craftQuery({ id: 0x2000 + i, questions: [rawQuestion(i % 2 ? 'productpage.bookinfo.global' : 'nope.bookinfo.global')] }),
      );
      t.truthy(reply, `query ${i} answered`);
    }
    await udpFrom(gs.dnsPort, craftQuery({ id: 0x2100, qr: true }), 200);
    await new Promise((r) => setTimeout(r, 500));
    t.regex(gs.logs(), /gsdns serving/, 'the log is captured');
    t.is(queryLines(gs).length, 0);
  });
}
