/**
 * src/sync/certs.ts against the real openssl: what it writes parses with node:crypto, chains to
 * the CA, carries exactly the two identity names, and carries a real mutual-TLS handshake on
 * loopback; a certificate from another CA does not. Also the helper's negative certificates.
 */
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { promisify } from 'node:util';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { CertsError, ErrorCode, isGsdnsError } from '../../../src/errors.js';
import { CA_CERT_FILE, CA_KEY_FILE, initCa, issueCertificate, issueClusterCert } from '../../../src/sync/certs.js';
import { tempDir } from '../../helpers/gsdns-process.js';
import { loadTls, makePki, type TlsFiles } from '../../helpers/pki.js';

const execFileAsync = promisify(execFile);
const DAY_MS = 86_400_000;

function cert(path: string): X509Certificate {
  return new X509Certificate(readFileSync(path));
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

/** openssl's own reading of one or more extensions, e.g. "X509v3 Basic Constraints: critical\n    CA:TRUE". */
async function extensions(path: string, names: string): Promise<string> {
  return (await execFileAsync('openssl', ['x509', '-in', path, '-noout', '-ext', names])).stdout;
}

async function rejectsWith(
  t: ExecutionContext,
  promise: Promise<unknown>,
  reason: CertsError['reason'],
  message?: RegExp,
): Promise<CertsError> {
  const err = await t.throwsAsync(promise);
  t.true(err instanceof CertsError, String(err));
  const e = err as CertsError;
  t.is(e.code, ErrorCode.CERTS);
  t.true(isGsdnsError(e, 'GSDNS_ERR_CERTS'));
  t.is(e.reason, reason, e.message);
  if (message) t.regex(e.message, message);
  return e;
}

test('initCa writes a self-signed EC P-256 root CA with the CA flags, key 0600', async (t) => {
  const dir = join(tempDir(t), 'ca');
  const before = Date.now();
  const files = await initCa({ outDir: dir });
  t.deepEqual(files, { cert: join(dir, CA_CERT_FILE), key: join(dir, CA_KEY_FILE) });
  t.deepEqual(readdirSync(dir).sort(), [CA_KEY_FILE, CA_CERT_FILE].sort(), 'no temporary files left behind');
  t.is(mode(files.key), 0o600);
  t.is(mode(files.cert) & 0o022, 0, 'certificate not writable by others');

  const ca = cert(files.cert);
  t.true(ca.ca);
  t.is(ca.subject, 'CN=gsdns root CA');
  t.is(ca.issuer, ca.subject);
  t.true(ca.verify(ca.publicKey), 'self-signed');
  t.true(ca.checkIssued(ca));
  t.is(ca.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const key = createPrivateKey(readFileSync(files.key));
  t.true(ca.checkPrivateKey(key));
  const days = (Date.parse(ca.validTo) - before) / DAY_MS;
  t.true(days > 3649 && days < 3651, `valid ${days} days`);

  const ext = await extensions(files.cert, 'basicConstraints,keyUsage,subjectKeyIdentifier');
  t.regex(ext, /Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
  t.regex(ext, /Key Usage: critical\s+Certificate Sign, CRL Sign\s/);
  t.regex(ext, /Subject Key Identifier:\s+[0-9A-F:]{59}/);
});

test('issueClusterCert: signed by the CA, both SAN forms exactly, client+server, key 0600, random serials', async (t) => {
  const dir = tempDir(t);
  const caDir = join(dir, 'ca');
  const out = join(dir, 'out');
  await initCa({ outDir: caDir, days: 10, commonName: 'test / CA + "quotes"' });
  // One CN holding "/" and "+" literally (node prints it RFC 2253-escaped), not a multi-valued RDN.
  t.is(cert(join(caDir, CA_CERT_FILE)).subject, 'CN=test / CA \\+ \\"quotes\\"', '-subj escaping');
  const before = Date.now();
  const a = await issueClusterCert({ caDir, outDir: out, cluster: 'cluster-a' });
  t.deepEqual(a, {
    ca: join(caDir, CA_CERT_FILE),
    cert: join(out, 'cluster-a.crt'),
    key: join(out, 'cluster-a.key'),
    cluster: 'cluster-a',
    trustDomain: 'gsdns.local',
    dnsName: 'cluster-a.gsdns.local',
    uri: 'spiffe://gsdns.local/cluster/cluster-a',
  });
  const b = await issueClusterCert({ caDir, outDir: out, cluster: 'b', trustDomain: 'mesh.example.org', days: 7 });
  t.deepEqual(readdirSync(out).sort(), ['b.crt', 'b.key', 'cluster-a.crt', 'cluster-a.key']);
  t.deepEqual(readdirSync(caDir).sort(), [CA_KEY_FILE, CA_CERT_FILE].sort(), 'no serial file (ca.srl) beside the CA');

  const ca = cert(join(caDir, CA_CERT_FILE));
  const caKeyId = (await extensions(join(caDir, CA_CERT_FILE), 'subjectKeyIdentifier')).split('\n')[1]!.trim();
  for (const [files, sans, days] of [
    [a, 'DNS:cluster-a.gsdns.local, URI:spiffe://gsdns.local/cluster/cluster-a', 365],
    [b, 'DNS:b.mesh.example.org, URI:spiffe://mesh.example.org/cluster/b', 7],
  ] as const) {
    const leaf = cert(files.cert);
    t.false(leaf.ca);
    t.true(leaf.verify(ca.publicKey), 'signed by the CA');
    t.true(leaf.checkIssued(ca));
    t.false(leaf.verify(leaf.publicKey));
    t.is(leaf.subjectAltName, sans);
    t.deepEqual([...(leaf.keyUsage ?? [])].sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'extendedKeyUsage serverAuth, clientAuth');
    t.is(leaf.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    t.true(leaf.checkPrivateKey(createPrivateKey(readFileSync(files.key))));
    t.is(mode(files.key), 0o600);
    const validDays = (Date.parse(leaf.validTo) - before) / DAY_MS;
    t.true(validDays > days - 1 && validDays < days + 1, `valid ${validDays} days`);
    const ext = await extensions(files.cert, 'basicConstraints,keyUsage,authorityKeyIdentifier');
    t.regex(ext, /Basic Constraints: critical\s+CA:FALSE/);
    t.regex(ext, /Key Usage: critical\s+Digital Signature, Key Agreement\s/);
    t.regex(ext, new RegExp(`Authority Key Identifier:\\s+${caKeyId}`), 'authorityKeyIdentifier is the CA key id');
    const verified = await execFileAsync('openssl', ['verify', '-CAfile', join(caDir, CA_CERT_FILE), '-purpose', 'sslclient', files.cert]);
    t.regex(verified.stdout, /: OK/);
  }
  t.not(cert(a.cert).serialNumber, cert(b.cert).serialNumber);
  t.regex(cert(a.cert).serialNumber, /^[4-7][0-9A-F]{31}$/, '16 random octets, positive');

  // Re-issuing replaces the pair (a new key), still 0600.
  const oldKey = readFileSync(a.key, 'utf8');
  await issueClusterCert({ caDir, outDir: out, cluster: 'cluster-a' });
  t.not(readFileSync(a.key, 'utf8'), oldKey);
  t.is(mode(a.key), 0o600);
  t.true(cert(a.cert).checkPrivateKey(createPrivateKey(readFileSync(a.key))));
});

test('a 63-character cluster name works: the CN falls back to the label when NAME.DOMAIN exceeds 64', async (t) => {
  const dir = tempDir(t);
  await initCa({ outDir: dir });
  const cluster = 'c'.repeat(63);
  const issued = await issueClusterCert({ caDir: dir, outDir: dir, cluster });
  const leaf = cert(issued.cert);
  t.is(leaf.subject, `CN=${cluster}`);
  t.is(leaf.subjectAltName, `DNS:${cluster}.gsdns.local, URI:spiffe://gsdns.local/cluster/${cluster}`);
});

test('initCa refuses to overwrite a CA unless forced', async (t) => {
  const dir = tempDir(t);
  const first = await initCa({ outDir: dir });
  const pem = readFileSync(first.cert, 'utf8');
  const key = readFileSync(first.key, 'utf8');
  const leaf = await issueClusterCert({ caDir: dir, outDir: dir, cluster: 'a' });

  const err = await rejectsWith(t, initCa({ outDir: dir }), 'exists', /already exists/);
  t.true(err.message.includes(first.cert));
  t.is(readFileSync(first.cert, 'utf8'), pem, 'unchanged');
  t.is(readFileSync(first.key, 'utf8'), key, 'unchanged');

  // Only the key left (a half-copied folder) is still a CA not to clobber.
  const keyOnly = tempDir(t);
  writeFileSync(join(keyOnly, CA_KEY_FILE), key, { mode: 0o600 });
  await rejectsWith(t, initCa({ outDir: keyOnly }), 'exists');

  await initCa({ outDir: dir, force: true });
  t.not(readFileSync(first.cert, 'utf8'), pem);
  t.is(mode(first.key), 0o600);
  t.false(cert(leaf.cert).verify(cert(first.cert).publicKey), 'the old certificate no longer chains to the new CA');
});

test('bad cluster names, trust domains, day counts and SANs are rejected before anything is written', async (t) => {
  const dir = tempDir(t);
  await initCa({ outDir: join(dir, 'ca') });
  const caDir = join(dir, 'ca');
  const out = join(dir, 'out');
  for (const cluster of ['Cluster-A', '-a', 'a-', 'a_b', 'a.b', '', 'c'.repeat(64), 'ünï', 'a b', '../a']) {
    await rejectsWith(t, issueClusterCert({ caDir, outDir: out, cluster }), 'invalid-argument', /must be a lowercase DNS label/);
  }
  for (const trustDomain of [
    'Gsdns.local',
    'gsdns.local.',
    'a..b',
    'has space',
    '',
    'x_y.local',
    `${'d'.repeat(63)}.`.repeat(4).slice(0, 254),
  ]) {
    await rejectsWith(
      t,
      issueClusterCert({ caDir, outDir: out, cluster: 'a', trustDomain }),
      'invalid-argument',
      /trust domain .* must be a lowercase domain name/,
    );
  }
  // Each part valid, together longer than a domain name may be.
  const longDomain = Array.from({ length: 4 }, () => 'd'.repeat(61)).join('.');
  await rejectsWith(
    t,
    issueClusterCert({ caDir, outDir: out, cluster: 'c'.repeat(10), trustDomain: longDomain }),
    'invalid-argument',
    /longer than a domain name/,
  );
  for (const days of [0, -1, 1.5, Number.NaN]) {
    await rejectsWith(
      t,
      issueClusterCert({ caDir, outDir: out, cluster: 'a', days }),
      'invalid-argument',
      /days must be a positive integer/,
    );
    await rejectsWith(t, initCa({ outDir: join(dir, 'ca2'), days }), 'invalid-argument', /days must be a positive integer/);
  }
  for (const san of ['DNS:a b', 'DNS:$HOME', 'DNS:a,DNS:b', 'DNS:a#b', 'dirName:x', 'localhost']) {
    await rejectsWith(t, issueCertificate({ caDir, outDir: out, name: 'x', subjectAltNames: [san] }), 'invalid-argument', /subjectAltName/);
  }
  await rejectsWith(t, issueCertificate({ caDir, outDir: out, name: 'x', subjectAltNames: [] }), 'invalid-argument');
  await rejectsWith(t, issueCertificate({ caDir, outDir: out, name: '../x', subjectAltNames: ['DNS:x'] }), 'invalid-argument', /file name/);
  await rejectsWith(t, initCa({ outDir: join(dir, 'ca2'), commonName: 'x'.repeat(65) }), 'invalid-argument', /common name/);
  t.deepEqual(readdirSync(dir), ['ca'], 'nothing written');
});

test('no CA in the CA folder, a missing openssl, and openssl failures are CertsErrors that say what to do', async (t) => {
  const dir = tempDir(t);
  await rejectsWith(
    t,
    issueClusterCert({ caDir: join(dir, 'none'), outDir: dir, cluster: 'a' }),
    'no-ca',
    /no CA in .*gsdns certs init --out/,
  );

  const missing = await rejectsWith(
    t,
    initCa({ outDir: join(dir, 'ca'), openssl: join(dir, 'no-such-openssl') }),
    'openssl-missing',
    /openssl command-line tool is required; install/,
  );
  t.is((missing.cause as NodeJS.ErrnoException).code, 'ENOENT');

  // A CA certificate that is not PEM: openssl itself fails, and its stderr comes along.
  const caDir = join(dir, 'ca');
  await initCa({ outDir: caDir });
  writeFileSync(join(caDir, CA_CERT_FILE), 'not a certificate\n');
  const failed = await rejectsWith(
    t,
    issueClusterCert({ caDir, outDir: join(dir, 'out'), cluster: 'a' }),
    'openssl-failed',
    /^openssl x509 failed \(exit \d+\):\n/,
  );
  t.truthy(failed.stderr);
  t.true(failed.message.includes(failed.stderr!));
  t.regex(failed.stderr!, /certificate/i);
  t.deepEqual(readdirSync(join(dir)).sort(), ['ca'], 'no output folder with partial files');
});

interface HandshakeResult {
  /** What the client received from the server: `hello <client SANs>` only when both sides accepted. */
  readonly received: string;
  readonly clientError?: string;
  readonly serverError?: string;
}

/**
 * A node:tls server with `server`'s certificate that requires and verifies client certificates
 * (the sync server's shape), and a client with `client`'s that verifies the server against its own
 * CA and the server's cluster name (`serverName`).
 */
async function handshake(t: ExecutionContext, server: TlsFiles, client: TlsFiles, serverName: string): Promise<HandshakeResult> {
  const s = loadTls(server);
  let serverError: string | undefined;
  const srv = tls.createServer({ ...s, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, (socket) => {
    const peer = socket.getPeerX509Certificate();
    socket.end(`hello ${peer?.subjectAltName ?? '?'}`);
  });
  // Node verifies the client certificate after the handshake and destroys the socket: the error
  // itself is a bare ECONNRESET "socket hang up"; the reason is the socket's authorizationError.
  srv.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
    serverError = String(socket.authorizationError ?? err.code ?? err.message);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.teardown(() => srv.close());
  const { port } = srv.address() as AddressInfo;
  const c = loadTls(client);
  return new Promise((resolve) => {
    let received = '';
    let clientError: string | undefined;
    const socket = tls.connect({ host: '127.0.0.1', port, servername: serverName, ...c });
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (received += d));
    socket.on('error', (err: NodeJS.ErrnoException) => (clientError = err.code ?? err.message));
    socket.on('close', () => {
      // The server's tlsClientError may follow the client's close by a tick.
      setImmediate(() =>
        resolve({ received, ...(clientError === undefined ? {} : { clientError }), ...(serverError === undefined ? {} : { serverError }) }),
      );
    });
  });
}

test('mutual TLS on loopback: A serves, B connects, both verify against the shared CA', async (t) => {
  const pki = await makePki(t, { clusters: ['cluster-a', 'cluster-b'] });
  const ok = await handshake(t, pki.clusters['cluster-a']!, pki.clusters['cluster-b']!, 'cluster-a.gsdns.local');
  t.is(ok.received, 'hello DNS:cluster-b.gsdns.local, URI:spiffe://gsdns.local/cluster/cluster-b');
  t.is(ok.clientError, undefined);
  t.is(ok.serverError, undefined);

  // The client checks the server's name too: A's certificate does not name cluster-b.
  const wrongName = await handshake(t, pki.clusters['cluster-a']!, pki.clusters['cluster-b']!, 'cluster-b.gsdns.local');
  t.is(wrongName.received, '');
  t.is(wrongName.clientError, 'ERR_TLS_CERT_ALTNAME_INVALID');
});

test('a certificate from another CA fails the handshake, in either direction', async (t) => {
  const pki = await makePki(t, { clusters: ['cluster-a', 'cluster-b'] });
  const foreign = await pki.foreignCert('cluster-b');
  t.is(
    cert(foreign.cert).subjectAltName,
    'DNS:cluster-b.gsdns.local, URI:spiffe://gsdns.local/cluster/cluster-b',
    'the right name, the wrong CA',
  );
  t.not(foreign.ca, pki.ca);

  // Foreign client: the server refuses it (the client presents it with the shared CA as its trust).
  const asClient = await handshake(t, pki.clusters['cluster-a']!, { ...foreign, ca: pki.ca }, 'cluster-a.gsdns.local');
  t.is(asClient.received, '');
  t.is(asClient.serverError, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'the server rejected the client certificate');

  // Foreign server: the client refuses it.
  const asServer = await handshake(t, { ...foreign, ca: pki.ca }, pki.clusters['cluster-a']!, 'cluster-b.gsdns.local');
  t.is(asServer.received, '');
  t.is(asServer.clientError, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
});

test('pki helper: each negative certificate is what its name says', async (t) => {
  const pki = await makePki(t, { trustDomain: 'mesh.test', clusters: ['a'] });
  const ca = cert(pki.ca);
  t.is(cert(pki.clusters['a']!.cert).subjectAltName, 'DNS:a.mesh.test, URI:spiffe://mesh.test/cluster/a');

  const foreign = cert((await pki.foreignCert('a')).cert);
  t.false(foreign.verify(ca.publicKey));
  t.is(foreign.subjectAltName, 'DNS:a.mesh.test, URI:spiffe://mesh.test/cluster/a');

  const wrong = await pki.wrongClusterCert('a', 'b');
  t.true(wrong.cert.endsWith('a.crt'));
  t.true(cert(wrong.cert).verify(ca.publicKey));
  t.is(cert(wrong.cert).subjectAltName, 'DNS:b.mesh.test, URI:spiffe://mesh.test/cluster/b');

  const anonymous = cert((await pki.noIdentityCert()).cert);
  t.true(anonymous.verify(ca.publicKey));
  t.is(anonymous.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1');

  const other = cert((await pki.otherTrustDomainCert('a')).cert);
  t.true(other.verify(ca.publicKey));
  t.is(other.subjectAltName, 'DNS:a.other.example, URI:spiffe://other.example/cluster/a');

  const expiredFiles = await pki.expiredCert('a');
  const expired = cert(expiredFiles.cert);
  t.true(expired.verify(ca.publicKey));
  t.is(expired.subjectAltName, 'DNS:a.mesh.test, URI:spiffe://mesh.test/cluster/a');
  t.true(Date.parse(expired.validTo) < Date.now());
  t.true(expired.checkPrivateKey(createPrivateKey(readFileSync(expiredFiles.key))));
  const expiredAsServer = await handshake(t, expiredFiles, pki.clusters['a']!, 'a.mesh.test');
  t.is(expiredAsServer.clientError, 'CERT_HAS_EXPIRED');
  const expiredAsClient = await handshake(t, pki.clusters['a']!, expiredFiles, 'a.mesh.test');
  t.is(expiredAsClient.received, '');
  t.is(expiredAsClient.serverError, 'CERT_HAS_EXPIRED');

  // Asking twice never overwrites the first (each lives in its own folder).
  const again = await pki.wrongClusterCert('a', 'c');
  t.not(again.cert, wrong.cert);
  t.is(cert(wrong.cert).subjectAltName, 'DNS:b.mesh.test, URI:spiffe://mesh.test/cluster/b');
});
