/**
 * A large catalog reload never stops DNS (issue 13: 8.1 s without answers at 50,000 services when
 * the file was parsed on the DNS thread). The file is hashed, parsed, validated and compared in a
 * worker thread; the DNS thread answers throughout and then applies only what changed, at once.
 * Verdicts are events: queries answered while /debug/source says the reload is decoding, and the
 * changed services visible together afterwards. Timing belongs to `npm run bench:reload`.
 */
import test from 'ava';
import { writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { craftQuery, parseReply, rawQuestion, udpExchange } from '../helpers/dns-tools.js';
import { startInProcess, tempDir } from '../helpers/gsdns-process.js';

const SERVICES = 20_000; // bench:reload measures 50,000; this size already decodes for about a second

function catalogText(version: number): string {
  const lines = ['services:'];
  for (let i = 0; i < SERVICES; i++) {
    // Every 1,000th service moves its ClusterIP with each version: 20 changed services per reload.
    const ip =
      i % 1000 === 0 ? `10.${100 + (version % 100)}.${(i >> 8) & 255}.${i & 255}` : `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    lines.push(`  - {namespace: ns${i % 100}, name: svc${i}, clusterIPs: [${ip}], readyEndpoints: 1, ports: [{name: http, port: 80}]}`);
  }
  return lines.join('\n') + '\n';
}

let nextId = 1;
async function a(port: number, name: string): Promise<string> {
  const reply = await udpExchange(port, craftQuery({ id: nextId++ & 0xffff, questions: [rawQuestion(name, 1)] }), { timeoutMs: 5000 });
  if (reply === null) return 'timeout';
  const r = parseReply(reply);
  return r.rcode === 0 ? r.answers.map((x) => String(x['address'])).join(',') : `rcode ${r.rcode}`;
}

interface SourceView {
  decoding: boolean;
  reloads: number;
  lastChanged?: number;
}

test('a 20,000-service reload: queries are answered while it decodes, then the 20 changed services appear together', async (t) => {
  t.timeout(180_000);
  const dir = tempDir(t);
  const path = join(dir, 'catalog.yaml');
  writeFileSync(path, catalogText(0));
  const s = await startInProcess(
    t,
    `cluster: {name: test-local}\ndns: {zones: [global]}\nsource: {type: file, file: {path: catalog.yaml}}\n`,
    dir,
  );
  const view = async () => (await (await fetch(`http://127.0.0.1:${s.httpPort}/debug/source`)).json()) as SourceView;
  t.is(await a(s.dnsPort, 'svc0.ns0.global'), '10.100.0.0');
  const before = await view();

  // Up to 5 reloads (each a new version): in one of them, the test must see the decode under way
  // and get answers meanwhile. A DNS thread that parsed would answer nothing until it finished.
  let answeredWhileDecoding = 0;
  let version = 0;
  for (let attempt = 0; attempt < 5 && answeredWhileDecoding === 0; attempt++) {
    version++;
    const reloads = (await view()).reloads;
    writeFileSync(path + '.tmp', catalogText(version));
    renameSync(path + '.tmp', path);
    // Wait for the decode to start (an event the server reports), bounded.
    for (let i = 0; i < 2000 && !(await view()).decoding && (await view()).reloads === reloads; i++)
      await new Promise((r) => setTimeout(r, 5));
    let answered = 0;
    for (let q = 0; q < 20; q++) if ((await a(s.dnsPort, `svc${q + 1}.ns${(q + 1) % 100}.global`)).startsWith('10.')) answered++;
    // Count them only if the decode was still going after the 20th answer.
    const after = await view();
    if (after.decoding && after.reloads === reloads) answeredWhileDecoding = answered;
    // Let this reload land before the next attempt.
    for (let i = 0; i < 6000 && (await view()).reloads === reloads; i++) await new Promise((r) => setTimeout(r, 10));
  }
  t.is(answeredWhileDecoding, 20, 'every query answered while the 20,000-service file was decoding');
  const done = await view();
  t.true(done.reloads > before.reloads);
  t.is(done.lastChanged, 20, 'only the changed services crossed to the DNS thread');
  // The changed services are all there, and the others unchanged.
  t.is(await a(s.dnsPort, 'svc0.ns0.global'), `10.${100 + version}.0.0`);
  t.is(await a(s.dnsPort, 'svc19000.ns0.global'), `10.${100 + version}.74.56`);
  t.is(await a(s.dnsPort, 'svc1.ns1.global'), '10.0.0.1');
});
