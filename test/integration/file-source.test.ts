/**
 * File source over real sockets: edits reach answers within a second; a corrupt edit keeps the last
 * good catalog (and says so in /readyz); a catalog that is invalid at start gives SERVFAIL in-zone
 * and a failing /readyz.
 */
import test from 'ava';
import { join } from 'node:path';
import { writeFileSync, renameSync } from 'node:fs';
import { answers, dig } from '../helpers/dig.js';
import { startInProcess, tempDir } from '../helpers/gsdns-process.js';

const config = `cluster: {name: test-local, region: r1, zone: r1a}
dns: {zones: [global]}
source: {type: file, file: {path: catalog.yaml}}
`;

const catalog = (ip: string): string => `services:
  - {namespace: ns1, name: web, clusterIPs: [${ip}], readyEndpoints: 2, ports: [{name: http, port: 80}]}
`;

/** Poll until `ok`; `ms` is only a failure guard (the verdict is the value), generous for a loaded machine. */
async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<{ value: T; elapsedMs: number }> {
  const start = Date.now();
  for (;;) {
    const value = await fn();
    if (ok(value) || Date.now() - start > ms) return { value, elapsedMs: Date.now() - start };
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('an edit reaches answers; a corrupt edit keeps the last good catalog', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'catalog.yaml');
  writeFileSync(path, catalog('10.0.0.1'));
  const s = await startInProcess(t, config, dir);
  const first = await dig(t, s.dnsPort, ['web.ns1.global', 'A']);
  if (!first) return;
  t.deepEqual(answers(first, 'A'), ['10.0.0.1']);
  const source = (await (await fetch(`http://127.0.0.1:${s.httpPort}/debug/source`)).json()) as { lastReading?: string };
  t.is(source.lastReading, 'fast', 'read without positions: positions are only for a file with problems');

  writeFileSync(path, catalog('10.0.0.2'));
  const changed = await until(
    () => dig(t, s.dnsPort, ['web.ns1.global', 'A']),
    (r) => answers(r!, 'A')[0] === '10.0.0.2',
  );
  t.deepEqual(answers(changed.value!, 'A'), ['10.0.0.2']);
  // How fast is the benchmarks' business (pollMs is 250 ms); here only that it arrives.
  t.log(`reload reached answers after ${changed.elapsedMs} ms`);

  // Atomic replace by rename, as editors and ConfigMap updates do.
  writeFileSync(join(dir, 'next.yaml'), catalog('10.0.0.3'));
  renameSync(join(dir, 'next.yaml'), path);
  const renamed = await until(
    () => dig(t, s.dnsPort, ['web.ns1.global', 'A']),
    (r) => answers(r!, 'A')[0] === '10.0.0.3',
  );
  t.deepEqual(answers(renamed.value!, 'A'), ['10.0.0.3']);

  writeFileSync(path, 'services:\n  - {namespace: ns1, name: web, clusterIPs: [not-an-ip], readyEndpoints: 1}\n');
  const detail = await until(
    async () =>
      (await (await fetch(`http://127.0.0.1:${s.httpPort}/readyz`)).json()) as {
        ready: boolean;
        components: Record<string, { detail?: string }>;
      },
    (r) => (r.components['source']?.detail ?? '').includes('rejected'),
  );
  t.true(detail.value.ready, 'still ready: serving the last good catalog');
  t.regex(
    detail.value.components['source']!.detail!,
    /catalog\.yaml:2:\d+: services\[0\]\.clusterIPs\[0\]: must be an IPv4 or IPv6 address, got 'not-an-ip'/,
  );
  const still = await dig(t, s.dnsPort, ['web.ns1.global', 'A']);
  t.deepEqual(answers(still!, 'A'), ['10.0.0.3'], 'last good answer still served');

  writeFileSync(path, 'services: [\n');
  // Event, not sleep: the source reports the YAML error of this edit, and only then is it checked.
  const yamlError = await until(
    async () =>
      (await (await fetch(`http://127.0.0.1:${s.httpPort}/readyz`)).json()) as { components: Record<string, { detail?: string }> },
    (r) => /\(yaml\)/.test(r.components['source']?.detail ?? ''),
  );
  t.regex(yamlError.value.components['source']?.detail ?? '', /\(yaml\)/, 'the YAML error of this edit was reported');
  t.deepEqual(answers((await dig(t, s.dnsPort, ['web.ns1.global', 'A']))!, 'A'), ['10.0.0.3'], 'YAML syntax error: last good kept');
});

test('invalid catalog at start: server starts, SERVFAIL in-zone, /readyz 503 with the reason', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'catalog.yaml');
  writeFileSync(path, 'services:\n  - {namespace: ns1, name: web, readyEndpoints: 1, color: blue}\n');
  const s = await startInProcess(t, config, dir);
  const r = await dig(t, s.dnsPort, ['web.ns1.global', 'A']);
  if (!r) return;
  t.is(r.status, 'SERVFAIL');
  t.is((await dig(t, s.dnsPort, ['global', 'SOA']))!.status, 'SERVFAIL');
  const ready = await fetch(`http://127.0.0.1:${s.httpPort}/readyz`);
  t.is(ready.status, 503);
  const body = (await ready.json()) as { reasons: string[] };
  t.true(
    body.reasons.some((x) => x.includes("unknown key 'color'")),
    JSON.stringify(body.reasons),
  );

  writeFileSync(path, catalog('10.0.0.9'));
  const fixed = await until(
    () => dig(t, s.dnsPort, ['web.ns1.global', 'A']),
    (x) => x!.status === 'NOERROR',
  );
  t.deepEqual(answers(fixed.value!, 'A'), ['10.0.0.9'], 'fixing the file makes it ready');
  t.is((await fetch(`http://127.0.0.1:${s.httpPort}/readyz`)).status, 200);
});

test('a missing catalog file at start is not ready, and recovers when the file appears', async (t) => {
  const dir = tempDir(t);
  const s = await startInProcess(t, config, dir);
  t.is((await fetch(`http://127.0.0.1:${s.httpPort}/readyz`)).status, 503);
  writeFileSync(join(dir, 'catalog.yaml'), catalog('10.0.0.7'));
  const r = await until(
    () => dig(t, s.dnsPort, ['web.ns1.global', 'A']),
    (x) => x!.status === 'NOERROR',
  );
  if (!r.value) return;
  t.deepEqual(answers(r.value, 'A'), ['10.0.0.7']);
});
