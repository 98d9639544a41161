/**
 * Test helper: a throwaway PKI for the sync tests, made at test time by the real `openssl` CLI
 * through src/sync/certs.ts: one shared root CA, a certificate per cluster, and the certificates a
 * peer must be rejected for (another CA, another cluster's name, no cluster name, another trust
 * domain, expired). Everything lives in one temporary folder removed in t.teardown.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import {
  CA_CERT_FILE,
  CA_KEY_FILE,
  DEFAULT_TRUST_DOMAIN,
  clusterIdentityNames,
  initCa,
  issueCertificate,
  issueClusterCert,
} from '../../src/sync/certs.js';

const execFileAsync = promisify(execFile);

/** PEM file paths for one TLS endpoint: the CA it trusts (and that signed it), its certificate and key. */
export interface TlsFiles {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** The same, read into memory, ready for `tls.createServer` / `tls.connect` / `https.Agent` options. */
export interface TlsMaterial {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface Pki {
  /** The temporary folder everything is written under. */
  readonly dir: string;
  readonly trustDomain: string;
  /** The shared root CA: certificate (`sync.tls.ca`) and key. */
  readonly ca: string;
  readonly caKey: string;
  /** Each requested cluster's good certificate, named in both SAN forms, signed by the shared CA. */
  readonly clusters: Readonly<Record<string, TlsFiles>>;
  /** Names `cluster` correctly but is signed by a fresh, unrelated CA (`ca` is that foreign CA). */
  foreignCert(cluster: string): Promise<TlsFiles>;
  /** Signed by the shared CA and filed as `cluster`'s, but its SANs name `claims` (both forms). */
  wrongClusterCert(cluster: string, claims: string): Promise<TlsFiles>;
  /** Signed by the shared CA with no cluster identity at all: only `DNS:localhost` and `IP:127.0.0.1`. */
  noIdentityCert(): Promise<TlsFiles>;
  /** Signed by the shared CA, naming `cluster` (both forms) in another trust domain. */
  otherTrustDomainCert(cluster: string, trustDomain?: string): Promise<TlsFiles>;
  /** Signed by the shared CA, naming `cluster` correctly, but valid only from 2020-01-01 to 2020-01-02. */
  expiredCert(cluster: string): Promise<TlsFiles>;
}

export interface PkiOptions {
  readonly trustDomain?: string;
  readonly clusters: readonly string[];
}

/** Reads a TlsFiles' three PEM files. */
export function loadTls(files: TlsFiles): TlsMaterial {
  return { ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key) };
}

export async function makePki(t: ExecutionContext, options: PkiOptions): Promise<Pki> {
  const trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  const dir = mkdtempSync(join(tmpdir(), 'gsdns-pki-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const caDir = join(dir, 'ca');
  const ca = await initCa({ outDir: caDir, days: 30, commonName: 'gsdns test root CA' });
  const clusters: Record<string, TlsFiles> = {};
  for (const cluster of options.clusters) {
    const issued = await issueClusterCert({ caDir, outDir: join(dir, 'clusters'), cluster, trustDomain, days: 2 });
    clusters[cluster] = { ca: issued.ca, cert: issued.cert, key: issued.key };
  }
  let n = 0;
  // Each negative certificate gets its own folder, so asking twice never overwrites a file in use.
  const nextDir = (kind: string): string => join(dir, `${kind}-${++n}`);
  const bothNames = (cluster: string, domain: string): string[] => {
    const names = clusterIdentityNames(cluster, domain);
    return [`DNS:${names.dnsName}`, `URI:${names.uri}`];
  };
  const pick = (f: TlsFiles): TlsFiles => ({ ca: f.ca, cert: f.cert, key: f.key });

  return {
    dir,
    trustDomain,
    ca: ca.cert,
    caKey: ca.key,
    clusters,
    async foreignCert(cluster) {
      const foreignDir = nextDir('foreign');
      await initCa({ outDir: foreignDir, days: 30, commonName: 'gsdns test foreign CA' });
      return pick(await issueClusterCert({ caDir: foreignDir, outDir: foreignDir, cluster, trustDomain, days: 2 }));
    },
    async wrongClusterCert(cluster, claims) {
      return pick(
        await issueCertificate({
          caDir,
          outDir: nextDir('wrong-cluster'),
          name: cluster,
          subjectAltNames: bothNames(claims, trustDomain),
          days: 2,
        }),
      );
    },
    async noIdentityCert() {
      return pick(
        await issueCertificate({
          caDir,
          outDir: nextDir('no-identity'),
          name: 'localhost',
          subjectAltNames: ['DNS:localhost', 'IP:127.0.0.1'],
          days: 2,
        }),
      );
    },
    async otherTrustDomainCert(cluster, otherDomain = 'other.example') {
      return pick(
        await issueCertificate({
          caDir,
          outDir: nextDir('other-domain'),
          name: cluster,
          subjectAltNames: bothNames(cluster, otherDomain),
          days: 2,
        }),
      );
    },
    async expiredCert(cluster) {
      return signExpired(caDir, nextDir('expired'), cluster, bothNames(cluster, trustDomain));
    },
  };
}

/**
 * `openssl x509 -req` (OpenSSL 3.0) can only start a certificate now (-not_before/-not_after
 * arrived in 3.4), so an expired certificate is signed with `openssl ca`, whose -startdate and
 * -enddate exist in every version. `openssl ca` needs a database and a folder for copies of what it
 * signs; both live in the certificate's own temporary folder.
 */
async function signExpired(caDir: string, outDir: string, cluster: string, sans: readonly string[]): Promise<TlsFiles> {
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const ca = join(caDir, CA_CERT_FILE);
  const key = join(outDir, `${cluster}.key`);
  const csr = join(outDir, `${cluster}.csr`);
  const cert = join(outDir, `${cluster}.crt`);
  const config = join(outDir, 'openssl.cnf');
  const db = join(outDir, 'index.txt');
  writeFileSync(db, '');
  writeFileSync(
    config,
    [
      '[ca]',
      'default_ca = gsdns_test_ca',
      '[gsdns_test_ca]',
      `database = ${db}`,
      `new_certs_dir = ${outDir}`,
      'rand_serial = yes',
      'default_md = sha256',
      'policy = gsdns_any',
      'unique_subject = no',
      'copy_extensions = none',
      '[gsdns_any]',
      'commonName = supplied',
      '[req]',
      'distinguished_name = gsdns_dn',
      'prompt = no',
      '[gsdns_dn]',
      '[gsdns_leaf]',
      'basicConstraints = critical,CA:FALSE',
      'keyUsage = critical,digitalSignature,keyAgreement',
      'extendedKeyUsage = serverAuth,clientAuth',
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid:always',
      `subjectAltName = ${sans.join(',')}`,
      '',
    ].join('\n'),
  );
  await execFileAsync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  await execFileAsync('openssl', ['req', '-new', '-config', config, '-key', key, '-subj', `/CN=${cluster}`, '-out', csr]);
  await execFileAsync('openssl', [
    'ca',
    '-batch',
    '-notext',
    '-config',
    config,
    '-cert',
    ca,
    '-keyfile',
    join(caDir, CA_KEY_FILE),
    '-in',
    csr,
    '-out',
    cert,
    '-extensions',
    'gsdns_leaf',
    '-startdate',
    '20200101000000Z',
    '-enddate',
    '20200102000000Z',
  ]);
  return { ca, cert, key };
}
