/**
 * Protocol behaviour of the whole server (config → file source → registry → answer → edge), with
 * dig and kdig: a 100-endpoint headless service truncates over UDP and is complete over TCP, and
 * kdig pipelines several queries over one TCP connection.
 */
import test from 'ava';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { answers, dig } from '../helpers/dig.js';
import { kdig } from '../helpers/dns-tools.js';
import { startInProcess, tempDir } from '../helpers/gsdns-process.js';

const config = `cluster: {name: local, region: r1, zone: r1a}
source: {type: file, file: {path: catalog.yaml}}
`;

function bigCatalog(): string {
  const endpoints = Array.from({ length: 100 }, (_, i) => `      - {address: 10.1.${Math.floor(i / 250)}.${(i % 250) + 1}}`).join('\n');
  return `services:
  - namespace: data
    name: cassandra
    headless: true
    ports: [{name: cql, port: 9042}]
    endpoints:
${endpoints}
  - {namespace: data, name: small, clusterIPs: [10.96.1.1, "fd00::1"], readyEndpoints: 1}
`;
}

test('headless service with 100 endpoints: TC=1 over UDP (OPT kept), all 100 over TCP', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'catalog.yaml'), bigCatalog());
  const s = await startInProcess(t, config, dir);

  const udp = await dig(t, s.dnsPort, ['cassandra.data.global', 'A', '+ignore', '+bufsize=1232']);
  if (!udp) return;
  t.true(udp.flags.includes('tc'), 'truncated');
  t.true(udp.answer.length < 100);
  t.is(udp.edns?.udp, 1232, 'OPT survives truncation (RFC 6891 §7)');

  const noEdns = await dig(t, s.dnsPort, ['cassandra.data.global', 'A', '+ignore', '+noedns']);
  t.true(noEdns!.flags.includes('tc'));
  t.is(noEdns!.edns, undefined, 'no OPT when the query had none');

  const retried = await dig(t, s.dnsPort, ['cassandra.data.global', 'A']);
  t.false(retried!.flags.includes('tc'));
  t.is(answers(retried!, 'A').length, 100, 'dig retried over TCP and got every endpoint');

  const tcp = await dig(t, s.dnsPort, ['cassandra.data.global', 'A', '+tcp']);
  t.is(new Set(answers(tcp!, 'A')).size, 100);
});

test('kdig +tcp +keepopen pipelines several queries on one connection', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'catalog.yaml'), bigCatalog());
  const s = await startInProcess(t, config, dir);
  const msgs = await kdig(t, s.dnsPort, [
    '+tcp',
    '+keepopen',
    'small.data.global',
    'A',
    'small.data.global',
    'AAAA',
    'nosuch.data.global',
    'A',
    'global',
    'SOA',
  ]);
  if (!msgs) return;
  t.is(msgs.length, 4);
  t.true(msgs.every((m) => m.transport === 'TCP'));
  t.deepEqual(
    msgs.map((m) => m.status),
    ['NOERROR', 'NOERROR', 'NXDOMAIN', 'NOERROR'],
  );
  t.true(msgs[0]!.answer.some((a) => a.includes('10.96.1.1')));
  t.true(msgs[1]!.answer.some((a) => a.includes('fd00::1')));
});

test('question case is echoed and EDNS is answered only when asked', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'catalog.yaml'), bigCatalog());
  const s = await startInProcess(t, `${config}locality: {ecs: false}\n`, dir);
  const r = await dig(t, s.dnsPort, ['SmAlL.DaTa.GlObAl', 'A']);
  if (!r) return;
  t.deepEqual(r.question, ['SmAlL.DaTa.GlObAl. IN A']);
  t.is(r.answer[0]!.name, 'SmAlL.DaTa.GlObAl.');
  t.is(r.edns?.udp, 1232, 'payload is min(client 1232, ours 1232)');
  const big = await dig(t, s.dnsPort, ['small.data.global', 'A', '+bufsize=4096']);
  t.is(big!.edns?.udp, 1232, 'never advertise more than 1232 (DNS Flag Day 2020)');
  const plain = await dig(t, s.dnsPort, ['small.data.global', 'A', '+noedns']);
  t.is(plain!.edns, undefined);
  const ecs = await dig(t, s.dnsPort, ['small.data.global', 'A', '+subnet=198.51.100.0/24']);
  t.is(ecs!.status, 'NOERROR');
  t.false(/CLIENT-SUBNET|ECS/i.test(JSON.stringify(ecs!.edns ?? {})), `+subnet is ignored while locality.ecs is off:\n${ecs!.raw}`);
  t.deepEqual(answers(ecs!, 'A'), ['10.96.1.1']);
});
