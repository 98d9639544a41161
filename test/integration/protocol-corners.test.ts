/**
 * Protocol corner cases answered as BIND, Knot or NSD answer them (issue 12), with real clients
 * (dig, kdig) and crafted packets, against gsdns in-process with a scripted upstream that would
 * betray any forwarding (it answers everything, CHAOS included, with its own "secret" version):
 *  - a class other than IN gets REFUSED (no AA, no records), in the zone and outside it, and is
 *    never forwarded; QCLASS ANY in a zone gets the IN data, as BIND matches ANY to its IN view;
 *  - CHAOS version.bind / version.server / id.server / hostname.bind come from dns.chaos or are
 *    REFUSED, never forwarded;
 *  - AXFR and IXFR are REFUSED (as BIND without allow-transfer), over TCP and UDP;
 *  - a FORMERR to a query whose OPT was readable carries an OPT (RFC 6891 §6.1.1);
 *  - forwarded answers never carry AA, the first copy nor the cached ones.
 */
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { answers, dig, type DigResult } from '../helpers/dig.js';
import {
  craftQuery,
  kdig,
  optRR,
  ecsOption,
  parseReply,
  rawQuestion,
  requireTool,
  tcpExchange,
  udpExchange,
} from '../helpers/dns-tools.js';
import { startInProcess, tempDir, writeFile } from '../helpers/gsdns-process.js';
import { answerA, buildReply, startScriptedUpstream, txtRecord, type ScriptedUpstream } from '../helpers/scripted-upstream.js';

const CATALOG = `services:
  - {namespace: ns1, name: web, clusterIPs: [10.96.0.10], readyEndpoints: 1, ports: [{name: http, port: 80}]}
`;
const VERSION = 'gsdns-test 1.2.3';
const SECRET = 'upstream-secret 9.9.9';

/** Answers A with 192.0.2.1 (AA set, like an authoritative server), and anything else with a TXT secret. */
async function leakyUpstream(t: ExecutionContext): Promise<ScriptedUpstream> {
  return startScriptedUpstream(t, (q) =>
    q.type === 1 ? answerA(q, ['192.0.2.1'], 60, { aa: true }) : buildReply(q, { aa: true, answers: [txtRecord([SECRET], 60)] }),
  );
}

async function serve(
  t: ExecutionContext,
  up: ScriptedUpstream,
  chaos = `{version: "${VERSION}"}`,
): Promise<Awaited<ReturnType<typeof startInProcess>>> {
  const dir = tempDir(t);
  writeFile(join(dir, 'catalog.yaml'), CATALOG);
  return startInProcess(
    t,
    `cluster: {name: test-local}
dns: {zones: [global], chaos: ${chaos}}
source: {type: file, file: {path: catalog.yaml}}
forward: {upstreams: ["${up.endpoint}"], allowFrom: [127.0.0.0/8]}
`,
    dir,
  );
}

/** Run a tool to completion whatever its exit code (kdig exits 1 on a refused transfer). */
function runTool(cmd: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A REFUSED reply as BIND sends it for a class it has no view for: no AA, no records, no dig warning. */
function assertRefused(t: ExecutionContext, r: DigResult, what: string): void {
  t.is(r.status, 'REFUSED', what);
  t.false(r.flags.includes('aa'), `${what}: no AA`);
  t.deepEqual([r.answer.length, r.authority.length], [0, 0], what);
  t.notRegex(r.raw, /malformed|WARNING/i, `${what}: dig finds nothing wrong`);
}

test('class CH, HS, NONE and unknown classes: REFUSED in the zone and outside it, never IN data, never forwarded', async (t) => {
  const up = await leakyUpstream(t);
  const s = await serve(t, up);
  const first = await dig(t, s.dnsPort, ['-c', 'CH', '-t', 'A', 'web.ns1.global']);
  if (!first) return;
  assertRefused(t, first, 'CH web.ns1.global A');
  for (const klass of ['CH', 'HS', 'NONE', 'CLASS77']) {
    for (const [name, type] of [
      ['web.ns1.global', 'A'],
      ['global', 'SOA'],
      ['nosuch.ns1.global', 'A'],
      ['www.example.org', 'A'],
      ['www.example.org', 'TXT'],
    ] as const) {
      assertRefused(t, (await dig(t, s.dnsPort, ['-c', klass, '-t', type, name]))!, `${klass} ${name} ${type}`);
    }
  }
  // Every reply has arrived; a forwarded query would have reached the upstream before its reply.
  t.is(up.queries.length, 0);
  // kdig agrees.
  const k = (await kdig(t, s.dnsPort, ['-c', 'CLASS4', '-t', 'A', 'web.ns1.global']))!;
  t.is(k[0]!.status, 'REFUSED');
  t.false(k[0]!.flags.includes('aa'));
  t.deepEqual(k[0]!.answer, []);
});

test('QCLASS ANY: the IN data in the zone (as BIND), REFUSED outside it (only class IN is forwarded)', async (t) => {
  const up = await leakyUpstream(t);
  const s = await serve(t, up);
  const inZone = await dig(t, s.dnsPort, ['-c', 'ANY', '-t', 'A', 'web.ns1.global']);
  if (!inZone) return;
  t.is(inZone.status, 'NOERROR');
  t.true(inZone.flags.includes('aa'));
  t.deepEqual(answers(inZone, 'A'), ['10.96.0.10']);
  t.regex(inZone.answer[0]!.data, /^10\.96\.0\.10$/);
  t.regex(inZone.raw, /web\.ns1\.global\.\s+\d+\s+IN\s+A\s+10\.96\.0\.10/, 'the record is class IN');
  t.is((await dig(t, s.dnsPort, ['-c', 'ANY', '-t', 'A', 'nosuch.ns1.global']))!.status, 'NXDOMAIN');
  assertRefused(t, (await dig(t, s.dnsPort, ['-c', 'ANY', '-t', 'A', 'www.example.org']))!, 'ANY www.example.org A');
  t.is(up.queries.length, 0);
});

test('CHAOS version.bind and version.server come from dns.chaos.version; id.server and hostname.bind, unset, are REFUSED; none is forwarded', async (t) => {
  const up = await leakyUpstream(t);
  const s = await serve(t, up);
  for (const name of ['version.bind', 'version.server', 'VERSION.Bind']) {
    for (const type of ['TXT', 'ANY']) {
      const r = await dig(t, s.dnsPort, ['-c', 'CH', '-t', type, name]);
      if (!r) return;
      t.is(r.status, 'NOERROR', `${name} ${type}`);
      t.true(r.flags.includes('aa'), 'answered by gsdns itself, as BIND does');
      t.deepEqual(answers(r, 'TXT'), [`"${VERSION}"`]);
      t.regex(r.raw, new RegExp(`${name}\\.\\s+0\\s+CH\\s+TXT\\s+"${VERSION}"`), "TXT class CH, TTL 0, in the client's case");
      t.notRegex(r.raw, /malformed|WARNING/i);
    }
  }
  for (const name of ['id.server', 'hostname.bind', 'authors.bind'])
    assertRefused(t, (await dig(t, s.dnsPort, ['-c', 'CH', '-t', 'TXT', name]))!, `CH ${name}`);
  assertRefused(t, (await dig(t, s.dnsPort, ['-c', 'CH', '-t', 'A', 'version.bind']))!, 'CH version.bind A');
  // The same names in class IN are ordinary names outside the zones: forwarded (not our concern).
  const k = (await kdig(t, s.dnsPort, ['-c', 'CH', '-t', 'TXT', 'version.server']))!;
  t.is(k[0]!.status, 'NOERROR');
  t.true(
    k[0]!.answer.some((line) => line.includes(`"${VERSION}"`) && /\bCH\b/.test(line)),
    k[0]!.answer.join('\n'),
  );
  t.is(up.queries.length, 0, 'no CHAOS query reached the upstream');
});

test("CHAOS with dns.chaos unset (the default): every server-identity name REFUSED, the upstream's version never shown", async (t) => {
  const up = await leakyUpstream(t);
  const s = await serve(t, up, '{}');
  for (const name of ['version.bind', 'version.server', 'id.server', 'hostname.bind']) {
    const r = await dig(t, s.dnsPort, ['-c', 'CH', '-t', 'TXT', name]);
    if (!r) return;
    assertRefused(t, r, `CH ${name}`);
    t.notRegex(r.raw, /upstream-secret/);
  }
  t.is(up.queries.length, 0);
});

test('dns.chaos.id answers id.server and hostname.bind', async (t) => {
  const up = await leakyUpstream(t);
  const s = await serve(t, up, '{id: gsdns-pod-7f9c}');
  for (const name of ['id.server', 'hostname.bind']) {
    const r = await dig(t, s.dnsPort, ['-c', 'CH', '-t', 'TXT', name]);
    if (!r) return;
    t.deepEqual(answers(r, 'TXT'), ['"gsdns-pod-7f9c"']);
  }
  assertRefused(t, (await dig(t, s.dnsPort, ['-c', 'CH', '-t', 'TXT', 'version.bind']))!, 'version unset');
});

test('AXFR and IXFR of the zone are REFUSED (as BIND without allow-transfer), over TCP and UDP, and never forwarded', async (t) => {
  const up = await leakyUpstream(t);
  const s = await serve(t, up);
  // dig and kdig report a refused transfer as a failure (kdig exits 1), naming the RCODE.
  if (!(await requireTool(t, 'dig')) || !(await requireTool(t, 'kdig'))) return;
  const axfr = await runTool('dig', ['-p', String(s.dnsPort), '@127.0.0.1', '+yaml', '+time=2', '+tries=1', 'global', 'AXFR']);
  t.regex(axfr.stdout, /status: REFUSED/);
  t.regex(axfr.stdout, /Transfer failed/);
  t.notRegex(axfr.stdout, /\bSOA\b/, 'no record of the zone was sent');
  for (const type of ['AXFR', 'IXFR=1']) {
    const k = await runTool('kdig', ['-p', String(s.dnsPort), '@127.0.0.1', '+time=2', '+retry=0', '-t', type, 'global']);
    t.is(k.code, 1, `kdig ${type}`);
    t.regex(k.stdout + k.stderr, /replied with error 'REFUSED'/, `kdig ${type}`);
  }
  for (const [name, type] of [
    ['global', 252],
    ['global', 251],
    ['web.ns1.global', 252],
    ['example.org', 252],
  ] as const) {
    const message = craftQuery({ id: 0x7a7a, questions: [rawQuestion(name, type)] });
    const overTcp = parseReply((await tcpExchange(s.dnsPort, [message]))[0]!);
    t.like(overTcp, { id: 0x7a7a, rcode: 5, aa: false, counts: { qd: 1, an: 0, ns: 0, ar: 0 } }, `${name} ${type} over TCP`);
    const overUdp = parseReply((await udpExchange(s.dnsPort, message))!);
    t.like(overUdp, { rcode: 5, aa: false, counts: { an: 0, ns: 0 } }, `${name} ${type} over UDP`);
  }
  t.is(up.queries.length, 0);
});

test('FORMERR for a malformed ECS or EDNS option carries an OPT (RFC 6891 §6.1.1), with dig and crafted packets', async (t) => {
  const up = await leakyUpstream(t);
  const s = await serve(t, up);
  // dig sends the option bytes as given: a /24 with four address octets is malformed (RFC 7871 §6).
  const r = await dig(t, s.dnsPort, ['web.ns1.global', 'A', '+ednsopt=8:00011800c0000201']);
  if (!r) return;
  t.is(r.status, 'FORMERR');
  t.truthy(r.edns, 'the reply has an OPT pseudo-section');
  t.is(r.edns?.version, 0);
  for (const options of [
    [ecsOption(1, 24, Buffer.from([192, 0, 2, 1]))], // address longer than the prefix
    [ecsOption(3, 8, Buffer.from([1]))], // unknown family
    [ecsOption(1, 24, Buffer.from([192, 0, 2])), ecsOption(1, 24, Buffer.from([192, 0, 2]))], // two ECS
  ]) {
    for (const name of ['web.ns1.global', 'www.example.org']) {
      const reply = parseReply(
        (await udpExchange(
          s.dnsPort,
          craftQuery({ id: 0x0f0f, questions: [rawQuestion(name)], additional: [optRR({ dnssecOk: true, options })] }),
        ))!,
      );
      t.like(reply, { id: 0x0f0f, rcode: 1, counts: { qd: 1, an: 0, ar: 1 } });
      t.like(reply.opt, { udp: 1232, version: 0, dnssecOk: true });
      t.deepEqual(reply.opt?.options, [], 'the malformed option is not echoed');
    }
  }
  // An option that overruns the OPT's RDATA: the OPT header was read, so it comes back too.
  const overrun = parseReply(
    (await udpExchange(s.dnsPort, craftQuery({ additional: [optRR({ rdata: Buffer.from([0, 10, 0, 9, 1]) })] })))!,
  );
  t.like(overrun, { rcode: 1, counts: { ar: 1 } });
  // Without an OPT, none comes back.
  const plain = parseReply(
    (await udpExchange(s.dnsPort, craftQuery({ questions: [rawQuestion('a.b.global')], trailing: Buffer.from([1, 2]) })))!,
  );
  t.like(plain, { rcode: 1, counts: { ar: 0 } });
  t.is(up.queries.length, 0);
});

test('forwarded answers are never AA: not the first copy, not the cached ones, whatever the upstream says', async (t) => {
  const up = await leakyUpstream(t);
  const s = await serve(t, up);
  const first = await dig(t, s.dnsPort, ['www.example.org', 'A']);
  if (!first) return;
  t.is(first.status, 'NOERROR');
  t.deepEqual(answers(first, 'A'), ['192.0.2.1']);
  t.false(first.flags.includes('aa'), `first copy: ${first.flags.join(' ')}`);
  t.true(first.flags.includes('ra'));
  const cached = (await dig(t, s.dnsPort, ['www.example.org', 'A']))!;
  t.false(cached.flags.includes('aa'));
  t.is(up.queries.length, 1, 'the second came from the cache');
  const k = (await kdig(t, s.dnsPort, ['txt.example.org', 'TXT']))!;
  t.is(k[0]!.status, 'NOERROR');
  t.false(k[0]!.flags.includes('aa'), k[0]!.flags.join(' '));
  // In-zone answers are ours: AA.
  t.true((await dig(t, s.dnsPort, ['web.ns1.global', 'A']))!.flags.includes('aa'));
});
