/**
 * Forwarding configuration at the process level: upstreams from resolv.conf (IPv4 and IPv6),
 * IPv6 upstreams and clients on ::1, and a forwarding loop to ourselves refused at start.
 */
import test from 'ava';
import { join } from 'node:path';
import { dig, answers } from '../helpers/dig.js';
import { spawnGsdns, tempDir, writeFile, startInProcess } from '../helpers/gsdns-process.js';
import { startScriptedUpstream } from '../helpers/scripted-upstream.js';
import { freePort } from '../helpers/unbound.js';
import { loadConfig } from '../../src/config/index.js';
import { upstreamsFromConfig } from '../../src/main.js';
import { silentLogger } from '../../src/log.js';

test('resolv.conf nameservers (IPv4 and IPv6) become upstreams in place of the word, in order', (t) => {
  const dir = tempDir(t);
  const resolvConf = join(dir, 'resolv.conf');
  writeFile(
    resolvConf,
    '# generated\nsearch default.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\nnameserver fd00::a ; second\nnameserver fe80::1%eth0\noptions ndots:5\n',
  );
  const file = join(dir, 'gsdns.yaml');
  writeFile(
    file,
    'cluster: {name: c}\nforward: {upstreams: ["192.0.2.53:5300", resolv.conf, "[2001:db8::53]:53"]}\nsource: {type: file, file: {path: x.yaml}}\n',
  );
  const loaded = loadConfig({ file, env: {} });
  if (!loaded.ok) return t.fail(JSON.stringify(loaded.errors));
  const ups = upstreamsFromConfig(loaded.config, silentLogger(), resolvConf);
  t.deepEqual(
    ups.map((u) => u.label),
    ['192.0.2.53:5300', '10.96.0.10:53', '[fd00::a]:53', '[2001:db8::53]:53'],
  );
});

test('an IPv6 upstream and an IPv6 client on ::1', async (t) => {
  const up = await startScriptedUpstream(t, undefined, { address: '::1' });
  const dir = tempDir(t);
  writeFile(join(dir, 'catalog.yaml'), 'services: []\n');
  const s = await startInProcess(
    t,
    `cluster: {name: c}
source: {type: file, file: {path: catalog.yaml}}
forward: {upstreams: ["[::1]:${up.port}"], timeoutMs: 500, budgetMs: 1000}
`,
    dir,
  );
  // The in-process helper listens on 127.0.0.1; ask over IPv4 here and check the IPv6 leg upstream.
  const d = await dig(t, s.dnsPort, ['v6.example.test']);
  if (!d) return;
  t.is(d.status, 'NOERROR');
  t.deepEqual(answers(d, 'A'), ['192.0.2.1']);
  t.is(up.queries[0]?.from.address, '::1');
});

test('an IPv6 client in allowFrom (::1/128) is served; the listener is [::1]', async (t) => {
  const up = await startScriptedUpstream(t);
  const port = await freePort();
  const s = await spawnGsdns(t, [
    '--set',
    `dns.listen=[{address: "::1", port: ${port}}]`,
    '--set',
    `forward.upstreams=["${up.endpoint}"]`,
    '--set',
    'forward.allowFrom=["::1/128"]',
  ]);
  const d = await dig(t, s.dnsPort, ['-6', 'v6client.example.test'], '::1');
  if (!d) return;
  t.is(d.status, 'NOERROR');
  t.deepEqual(answers(d, 'A'), ['192.0.2.1']);
});

test('an upstream that is gsdns itself is dropped at start (no forwarding loop)', async (t) => {
  const port = await freePort();
  const s = await spawnGsdns(t, [
    '--set',
    `dns.listen=[{address: 127.0.0.1, port: ${port}}]`,
    '--set',
    `forward.upstreams=["127.0.0.1:${port}"]`,
  ]);
  t.regex(s.logs(), /forwarding loop/);
  const started = Date.now();
  const d = await dig(t, s.dnsPort, ['loop.example.test']);
  if (!d) return;
  t.is(d.status, 'SERVFAIL');
  t.true(Date.now() - started < 1500, 'answered at once: nothing was sent to ourselves');
});
