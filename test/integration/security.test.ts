/**
 * SECURITY.md claims that no other test file owns.
 *
 * "TLS 1.2 or later only": clients offering only TLS 1.0/1.1, with a valid certificate, fail the
 * handshake on the sync port; TLS 1.2 and 1.3 clients are served.
 *
 * "No secrets or key material in logs": a gsdns process with sync over mutual TLS, at
 * log level trace, is attacked on its sync port by every kind of refused client (a foreign CA, no
 * certificate, a certificate without a cluster identity, garbage instead of a ClientHello) and
 * itself talks to a peer that presents a foreign certificate. Then it is started with a private
 * key that does not match its certificate. No line it printed in either run may carry PEM
 * material or any part of a private key.
 */
import test, { type ExecutionContext } from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect, type SecureVersion } from 'node:tls';
import { request, createServer as createHttpsServer } from 'node:https';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { binPath, spawnGsdns, startInProcess, tempDir } from '../helpers/gsdns-process.js';
import { freePort } from '../helpers/unbound.js';
import { loadTls, makePki, type TlsFiles } from '../helpers/pki.js';

const TD = 'gsdns.local';

/** Every line of base64 inside the PEM blocks of these files (what must never appear in a log). */
function secretLines(files: readonly string[]): string[] {
  const out: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const line of text.split('\n')) {
      const l = line.trim();
      if (l.length >= 16 && !l.startsWith('-----')) out.push(l);
    }
  }
  return out;
}

function assertNoKeyMaterial(t: ExecutionContext, log: string, keyFiles: readonly string[], what: string): void {
  t.true(log.length > 0, `${what}: the process logged something`);
  t.notRegex(log, /-----BEGIN/, `${what}: no PEM block`);
  t.notRegex(log, /PRIVATE KEY/, `${what}: no private key marker`);
  const lines = secretLines(keyFiles);
  t.true(lines.length > 0, 'the key files hold base64 lines to look for');
  for (const secret of lines) {
    // Any 16-character window of a key line would be a leak; checking each line's halves is enough
    // to catch a key printed whole, wrapped differently, or cut.
    for (const part of [secret.slice(0, 16), secret.slice(-16)]) t.false(log.includes(part), `${what}: key material "${part}…" in the log`);
  }
}

/** A GET of /v1/catalog with the given client TLS material; resolves with the status or the error text. */
function getCatalog(port: number, tls: Partial<TlsFiles> & { ca: string }): Promise<string> {
  return new Promise((resolve) => {
    const m = {
      ca: readFileSync(tls.ca),
      cert: tls.cert ? readFileSync(tls.cert) : undefined,
      key: tls.key ? readFileSync(tls.key) : undefined,
    };
    const req = request(
      { host: '127.0.0.1', port, path: '/v1/catalog', ...m, checkServerIdentity: () => undefined, agent: false, timeout: 10_000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.statusCode)));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve(err.message));
    req.end();
  });
}

/** Sends bytes that are not a TLS ClientHello and waits for the server to close the connection. */
function garbageHandshake(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: '127.0.0.1', port }, () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    s.on('error', () => resolve());
    s.on('close', () => resolve());
    s.resume();
  });
}

test('no key material in the logs of refused handshakes, refused peers, and a key that does not match', async (t) => {
  t.timeout(120_000);
  const pki = await makePki(t, { clusters: ['alpha', 'beta'], trustDomain: TD });
  const dir = tempDir(t);
  const own = pki.clusters['alpha']!;
  writeFileSync(
    join(dir, 'catalog.yaml'),
    'services:\n  - {namespace: shop, name: cart, clusterIPs: [10.96.0.9], readyEndpoints: 1, ports: [{name: http, port: 80}]}\n',
  );

  // The peer "beta" answers with a certificate from a foreign CA: our client must refuse it.
  const foreignBeta = loadTls(await pki.foreignCert('beta'));
  const peer = createHttpsServer({ ...foreignBeta, requestCert: false }, (_req, res) => res.end('{}'));
  await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => peer.close(() => resolve())));
  const peerPort = (peer.address() as { port: number }).port;
  const peerContacted = new Promise<void>((resolve) => peer.once('tlsClientError', () => resolve()));

  const syncPort = await freePort();
  const config = join(dir, 'gsdns.yaml');
  writeFileSync(
    config,
    `cluster: {name: alpha, gateways: [{address: 192.0.2.1, port: 15443}]}
source: {type: file, file: {path: catalog.yaml}}
log: {level: trace}
sync:
  listen: {address: 127.0.0.1, port: ${syncPort}}
  trustDomain: ${TD}
  tls: {ca: ${JSON.stringify(own.ca)}, cert: ${JSON.stringify(own.cert)}, key: ${JSON.stringify(own.key)}}
  peers: [{name: beta, url: "https://127.0.0.1:${peerPort}"}]
`,
  );
  const server = await spawnGsdns(t, ['--config', config]);

  const foreign = await pki.foreignCert('beta');
  const anonymous = await pki.noIdentityCert();
  const outcomes = await Promise.all([
    getCatalog(syncPort, { ca: own.ca, cert: foreign.cert, key: foreign.key }),
    getCatalog(syncPort, { ca: own.ca }),
    getCatalog(syncPort, { ca: own.ca, cert: anonymous.cert, key: anonymous.key }),
    garbageHandshake(syncPort).then(() => 'closed'),
  ]);
  t.not(outcomes[0], '200', 'a foreign CA is refused');
  t.not(outcomes[1], '200', 'no client certificate is refused');
  t.is(outcomes[2], '403', 'a certificate without a cluster identity gets 403');
  t.is(outcomes[3], 'closed');
  // The good peer certificate is served: the attacks did not take the port down.
  t.is(await getCatalog(syncPort, { ca: own.ca, cert: pki.clusters['beta']!.cert, key: pki.clusters['beta']!.key }), '200');
  await peerContacted; // our client met the foreign peer certificate and refused it
  t.is(await server.stop(), 0);
  const keyFiles = [own.key, foreign.key, anonymous.key, pki.clusters['beta']!.key, pki.caKey];
  assertNoKeyMaterial(t, server.logs(), keyFiles, 'serving');

  // A key that does not belong to the certificate: start fails, naming the file, not its content.
  const mismatched = join(dir, 'gsdns-bad-key.yaml');
  writeFileSync(mismatched, readFileSync(config, 'utf8').replace(JSON.stringify(own.key), JSON.stringify(pki.clusters['beta']!.key)));
  const child = spawn(
    process.execPath,
    [
      binPath,
      'serve',
      '--config',
      mismatched,
      '--set',
      'dns.listen=[{address: 127.0.0.1, port: 0}]',
      '--set',
      'http.listen={address: 127.0.0.1, port: 0}',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.teardown(() => void child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  t.not(code, 0, `a mismatched key stops the start:\n${out}`);
  assertNoKeyMaterial(t, out, keyFiles, 'mismatched key');
});

/** A TLS handshake with only the given protocol versions; resolves with the negotiated version or the error code. */
function handshake(port: number, files: TlsFiles, min: SecureVersion, max: SecureVersion): Promise<string> {
  const m = loadTls(files);
  return new Promise((resolve) => {
    // SECLEVEL=0 lets this client offer the old versions at all (OpenSSL 3 refuses them locally).
    const s = tlsConnect(
      {
        host: '127.0.0.1',
        port,
        ...m,
        minVersion: min,
        maxVersion: max,
        ciphers: 'DEFAULT@SECLEVEL=0',
        checkServerIdentity: () => undefined,
      },
      () => {
        const version = s.getProtocol() ?? '?';
        s.destroy();
        resolve(version);
      },
    );
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

test('the sync port negotiates TLS 1.2 or 1.3 only: a TLS 1.0/1.1 client with a valid certificate is refused', async (t) => {
  const pki = await makePki(t, { clusters: ['alpha', 'beta'], trustDomain: TD });
  const dir = tempDir(t);
  writeFileSync(join(dir, 'catalog.yaml'), 'services: []\n');
  const own = pki.clusters['alpha']!;
  const syncPort = await freePort();
  await startInProcess(
    t,
    `cluster: {name: alpha, gateways: [{address: 192.0.2.1, port: 15443}]}
source: {type: file, file: {path: catalog.yaml}}
sync:
  listen: {address: 127.0.0.1, port: ${syncPort}}
  trustDomain: ${TD}
  tls: {ca: ${JSON.stringify(own.ca)}, cert: ${JSON.stringify(own.cert)}, key: ${JSON.stringify(own.key)}}
  peers: []
`,
    dir,
  );
  const peer = pki.clusters['beta']!;
  t.is(await handshake(syncPort, peer, 'TLSv1.3', 'TLSv1.3'), 'TLSv1.3');
  t.is(await handshake(syncPort, peer, 'TLSv1.2', 'TLSv1.2'), 'TLSv1.2');
  const old = await handshake(syncPort, peer, 'TLSv1', 'TLSv1.1');
  t.false(old.startsWith('TLSv1'), `TLS 1.0/1.1 refused (got ${old})`);
  t.regex(old, /ERR_SSL|ECONNRESET|EPROTO/);
});
