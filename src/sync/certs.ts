/**
 * Certificate tooling for trying sync out (edge): a root CA and per-cluster certificates for the
 * mutual TLS of SPEC §2 "Sync protocol", made by the `openssl` CLI (`gsdns certs init | issue`).
 *
 * Owns: key generation (EC P-256), the extensions each certificate carries, and writing the PEM
 * files: `ca.pem` + `ca-key.pem` for the CA, `<name>.crt` + `<name>.key` for a leaf.
 * Must never: run a shell (openssl is started with execFile and an argument vector), read the
 * system openssl.cnf for `req` (a private config is passed), leave a key readable by others, or
 * leave temporary files behind.
 * Invariants:
 * - a cluster certificate names its cluster in BOTH identity forms the sync server accepts:
 *   SAN `DNS:<cluster>.<trustDomain>` and `URI:spiffe://<trustDomain>/cluster/<cluster>`;
 * - every key file is written with mode 0600, every file by write-to-temporary-then-rename, so a
 *   reader never sees half a file and an overwritten key is never briefly world-readable;
 * - an existing CA is only replaced with `force`; cluster certificates are replaced (re-issued);
 * - every failure is a CertsError (GSDNS_ERR_CERTS) with a `reason`, and openssl's stderr when it ran.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CertsError } from '../errors.js';
import { isDnsLabel, isDomainName } from '../util/formats.js';

/** File names in a CA folder. */
export const CA_CERT_FILE = 'ca.pem';
export const CA_KEY_FILE = 'ca-key.pem';
export const DEFAULT_TRUST_DOMAIN = 'gsdns.local';

const KEY_MODE = 0o600;
const CERT_MODE = 0o644;
const OPENSSL_TIMEOUT_MS = 60_000;

/** Options shared by every function here. */
export interface OpensslOptions {
  /** The openssl executable, looked up on PATH unless it is a path (default `openssl`). */
  readonly openssl?: string;
}

export interface InitCaOptions extends OpensslOptions {
  /** Folder for `ca.pem` and `ca-key.pem`; created (mode 0700) when missing. */
  readonly outDir: string;
  /** Validity in days from now (default 3650). */
  readonly days?: number;
  /** Subject CN (default `gsdns root CA`). */
  readonly commonName?: string;
  /** Replace an existing CA (default false: refuse). */
  readonly force?: boolean;
}

export interface CaFiles {
  /** Absolute path of the CA certificate (PEM). */
  readonly cert: string;
  /** Absolute path of the CA private key (PEM, PKCS#8, mode 0600). */
  readonly key: string;
}

export interface IssueCertificateOptions extends OpensslOptions {
  /** Folder holding `ca.pem` and `ca-key.pem` (as written by initCa). */
  readonly caDir: string;
  /** Folder for `<name>.crt` and `<name>.key`; created (mode 0700) when missing. */
  readonly outDir: string;
  /** File base name: letters, digits, `.`, `_`, `-`; not starting with `.` or `-`. */
  readonly name: string;
  /** Subject CN, at most 64 characters (default: `name`). Informational: identity lives in the SANs. */
  readonly commonName?: string;
  /** SAN entries in openssl's `TYPE:value` form, e.g. `DNS:a.gsdns.local`, `URI:spiffe://…`, `IP:127.0.0.1`. */
  readonly subjectAltNames: readonly string[];
  /** Validity in days from now (default 365). */
  readonly days?: number;
}

export interface IssueClusterCertOptions extends OpensslOptions {
  /** Folder holding `ca.pem` and `ca-key.pem` (as written by initCa). */
  readonly caDir: string;
  /** Folder for `<cluster>.crt` and `<cluster>.key`; created (mode 0700) when missing. */
  readonly outDir: string;
  /** The cluster's name: a lowercase DNS label, as in `cluster.name` and `sync.peers[].name`. */
  readonly cluster: string;
  /** `sync.trustDomain`: a lowercase domain name (default `gsdns.local`). */
  readonly trustDomain?: string;
  /** Validity in days from now (default 365). */
  readonly days?: number;
}

export interface CertFiles {
  /** Absolute path of the CA certificate that signed `cert` (for `sync.tls.ca`). */
  readonly ca: string;
  /** Absolute path of the certificate (PEM). */
  readonly cert: string;
  /** Absolute path of its private key (PEM, PKCS#8, mode 0600). */
  readonly key: string;
}

export interface ClusterIdentityNames {
  /** `<cluster>.<trustDomain>`, the SAN DNS name form. */
  readonly dnsName: string;
  /** `spiffe://<trustDomain>/cluster/<cluster>`, the SAN URI form. */
  readonly uri: string;
}

export interface ClusterCertFiles extends CertFiles, ClusterIdentityNames {
  readonly cluster: string;
  readonly trustDomain: string;
}

/** The two names a cluster certificate carries (SPEC §2). Does not validate; see issueClusterCert. */
export function clusterIdentityNames(cluster: string, trustDomain: string): ClusterIdentityNames {
  return { dnsName: `${cluster}.${trustDomain}`, uri: `spiffe://${trustDomain}/cluster/${cluster}` };
}

/** Creates a self-signed root CA: `outDir/ca.pem` and `outDir/ca-key.pem` (EC P-256). */
export async function initCa(options: InitCaOptions): Promise<CaFiles> {
  const days = checkDays(options.days ?? 3650);
  const commonName = checkCommonName(options.commonName ?? 'gsdns root CA');
  const outDir = resolve(options.outDir);
  const files: CaFiles = { cert: join(outDir, CA_CERT_FILE), key: join(outDir, CA_KEY_FILE) };
  if (options.force !== true) {
    const existing = [];
    for (const path of [files.cert, files.key]) if (await exists(path)) existing.push(path);
    if (existing.length > 0) {
      throw new CertsError(
        'exists',
        `a CA already exists (${existing.join(', ')}); pass force (--force) to replace it, which invalidates every certificate it signed`,
      );
    }
  }
  const openssl = options.openssl ?? 'openssl';
  await withTempDir(async (tmp) => {
    const key = join(tmp, 'ca.key');
    const cert = join(tmp, 'ca.crt');
    const config = join(tmp, 'openssl.cnf');
    await writeTemp(config, [
      ...REQ_SECTION,
      '[gsdns_ca]',
      // pathlen:0: this CA signs cluster certificates only, never another CA.
      'basicConstraints = critical,CA:TRUE,pathlen:0',
      'keyUsage = critical,keyCertSign,cRLSign',
      'subjectKeyIdentifier = hash',
    ]);
    await generateKey(openssl, key);
    await runOpenssl(openssl, [
      'req',
      '-new',
      '-x509',
      '-utf8',
      '-config',
      config,
      '-extensions',
      'gsdns_ca',
      '-key',
      key,
      '-subj',
      subject(commonName),
      '-days',
      String(days),
      '-sha256',
      '-set_serial',
      randomSerial(),
      '-out',
      cert,
    ]);
    await publish(outDir, [
      { path: files.key, data: await readTemp(key), mode: KEY_MODE },
      { path: files.cert, data: await readTemp(cert), mode: CERT_MODE },
    ]);
  });
  return files;
}

/**
 * Issues a cluster certificate signed by `caDir`'s CA: `outDir/<cluster>.crt` and
 * `outDir/<cluster>.key`, for both TLS server and client use, naming the cluster in both SAN forms.
 * An existing certificate and key of that cluster in `outDir` are replaced.
 */
export async function issueClusterCert(options: IssueClusterCertOptions): Promise<ClusterCertFiles> {
  const trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  const { cluster } = options;
  if (!isDnsLabel(cluster)) {
    throw new CertsError(
      'invalid-argument',
      `cluster ${JSON.stringify(cluster)} must be a lowercase DNS label (RFC 1123: a-z, 0-9 and "-", at most 63, alphanumeric at both ends)`,
    );
  }
  if (!isDomainName(trustDomain)) {
    throw new CertsError(
      'invalid-argument',
      `trust domain ${JSON.stringify(trustDomain)} must be a lowercase domain name without a trailing dot`,
    );
  }
  const names = clusterIdentityNames(cluster, trustDomain);
  if (!isDomainName(names.dnsName)) {
    throw new CertsError(
      'invalid-argument',
      `${names.dnsName} is longer than a domain name may be (253 characters); use a shorter cluster name or trust domain`,
    );
  }
  const files = await issueCertificate({
    caDir: options.caDir,
    outDir: options.outDir,
    name: cluster,
    commonName: names.dnsName.length <= 64 ? names.dnsName : cluster,
    subjectAltNames: [`DNS:${names.dnsName}`, `URI:${names.uri}`],
    days: options.days ?? 365,
    ...(options.openssl === undefined ? {} : { openssl: options.openssl }),
  });
  return { ...files, ...names, cluster, trustDomain };
}

/**
 * Issues a leaf certificate with the given SANs, signed by `caDir`'s CA: `outDir/<name>.crt` and
 * `outDir/<name>.key` (EC P-256), extendedKeyUsage serverAuth+clientAuth. issueClusterCert is
 * this with the cluster's two identity names; tests use it for certificates with other names.
 */
export async function issueCertificate(options: IssueCertificateOptions): Promise<CertFiles> {
  const days = checkDays(options.days ?? 365);
  const { name } = options;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name)) {
    throw new CertsError(
      'invalid-argument',
      `file name ${JSON.stringify(name)} must be 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
  }
  const commonName = checkCommonName(options.commonName ?? name);
  if (options.subjectAltNames.length === 0) throw new CertsError('invalid-argument', 'a certificate needs at least one subjectAltName');
  const sanLines = sanSection(options.subjectAltNames);
  const caDir = resolve(options.caDir);
  const ca: CaFiles = { cert: join(caDir, CA_CERT_FILE), key: join(caDir, CA_KEY_FILE) };
  const missing = [];
  for (const path of [ca.cert, ca.key]) if (!(await exists(path))) missing.push(path);
  if (missing.length > 0) {
    throw new CertsError('no-ca', `no CA in ${caDir} (missing ${missing.join(', ')}); create one with "gsdns certs init --out ${caDir}"`);
  }
  const outDir = resolve(options.outDir);
  const files: CertFiles = { ca: ca.cert, cert: join(outDir, `${name}.crt`), key: join(outDir, `${name}.key`) };
  const openssl = options.openssl ?? 'openssl';
  await withTempDir(async (tmp) => {
    const { key, cert } = await signLeaf(openssl, tmp, { ca, days, commonName, sanLines });
    await publish(outDir, [
      { path: files.key, data: await readTemp(key), mode: KEY_MODE },
      { path: files.cert, data: await readTemp(cert), mode: CERT_MODE },
    ]);
  });
  return files;
}

/** A leaf key and certificate for `commonName` and its SANs, signed by the CA, written under `tmp`. */
async function signLeaf(
  openssl: string,
  tmp: string,
  leaf: { ca: CaFiles; days: number; commonName: string; sanLines: readonly string[] },
): Promise<{ key: string; cert: string }> {
  const key = join(tmp, 'leaf.key');
  const csr = join(tmp, 'leaf.csr');
  const cert = join(tmp, 'leaf.crt');
  const config = join(tmp, 'openssl.cnf');
  await writeTemp(config, [
    ...REQ_SECTION,
    '[gsdns_leaf]',
    'basicConstraints = critical,CA:FALSE',
    // EC keys sign (ECDHE-ECDSA handshakes); keyEncipherment is for RSA key transport.
    'keyUsage = critical,digitalSignature,keyAgreement',
    'extendedKeyUsage = serverAuth,clientAuth',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid:always',
    'subjectAltName = @gsdns_san',
    '[gsdns_san]',
    ...leaf.sanLines,
  ]);
  await generateKey(openssl, key);
  await runOpenssl(openssl, [
    'req',
    '-new',
    '-utf8',
    '-config',
    config,
    '-key',
    key,
    '-subj',
    subject(leaf.commonName),
    '-sha256',
    '-out',
    csr,
  ]);
  // -set_serial: a random serial, and no `ca.srl` file written next to the CA (-CAcreateserial).
  // -extfile/-extensions rather than -addext or -copy_extensions, whose behaviour varies across
  // OpenSSL versions; x509 -req copies no extension from the request unless told to.
  // prettier-ignore
  await runOpenssl(openssl, [
    'x509', '-req', '-in', csr, '-CA', leaf.ca.cert, '-CAkey', leaf.ca.key, '-set_serial', randomSerial(),
    '-days', String(leaf.days), '-sha256', '-extfile', config, '-extensions', 'gsdns_leaf', '-out', cert,
  ]);
  return { key, cert };
}

/** C0 controls and DEL, which a subject name must not carry. */
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x1f || c === 0x7f) return true;
  }
  return false;
}

// A private `req` config: the system openssl.cnf is never read, and -subj supplies the name.
const REQ_SECTION = ['[req]', 'distinguished_name = gsdns_dn', 'prompt = no', '[gsdns_dn]'];

function checkDays(days: number): number {
  if (!Number.isSafeInteger(days) || days < 1)
    throw new CertsError('invalid-argument', `days must be a positive integer (got ${String(days)})`);
  return days;
}

function checkCommonName(cn: string): string {
  // RFC 5280 ub-common-name: 64 characters.
  if (cn.length === 0 || cn.length > 64 || hasControlCharacter(cn)) {
    throw new CertsError('invalid-argument', `common name ${JSON.stringify(cn)} must be 1-64 characters without control characters`);
  }
  return cn;
}

/** `-subj` text for one CN; "\", "/" and "+" are escaped (openssl's -subj syntax). */
function subject(cn: string): string {
  return `/CN=${cn.replace(/[\\/+]/g, (c) => `\\${c}`)}`;
}

/**
 * The `[gsdns_san]` section lines, `DNS.1 = …`, one entry per line. Values are restricted to
 * characters that openssl's config syntax takes literally (no `$` expansion, `#` comment, quote,
 * backslash, comma or space).
 */
function sanSection(sans: readonly string[]): string[] {
  const counts = new Map<string, number>();
  return sans.map((san) => {
    const m = /^(DNS|URI|IP|email):([A-Za-z0-9._~:/?@!&()*+=%[\]-]+)$/.exec(san);
    if (m === null) {
      throw new CertsError(
        'invalid-argument',
        `subjectAltName ${JSON.stringify(san)} must be DNS:, URI:, IP: or email: followed by a value without spaces, quotes, "$", "#", "," or "\\"`,
      );
    }
    const n = (counts.get(m[1]!) ?? 0) + 1;
    counts.set(m[1]!, n);
    return `${m[1]!}.${n} = ${m[2]!}`;
  });
}

/** 16 random octets, positive (RFC 5280 §4.1.2.2: at most 20 octets, non-negative, non-zero). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return `0x${bytes.toString('hex')}`;
}

async function generateKey(openssl: string, path: string): Promise<void> {
  await runOpenssl(openssl, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
}

interface ExecFailure extends Error {
  code?: string | number | null;
  killed?: boolean;
  signal?: string | null;
}

/** Runs openssl with an argument vector (no shell); resolves with stdout, rejects with a CertsError. */
function runOpenssl(openssl: string, args: readonly string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(openssl, args, { timeout: OPENSSL_TIMEOUT_MS, maxBuffer: 1 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err === null) {
        resolvePromise(stdout);
        return;
      }
      const e = err as ExecFailure;
      if (e.code === 'ENOENT' || e.code === 'EACCES') {
        reject(
          new CertsError(
            'openssl-missing',
            `cannot run ${JSON.stringify(openssl)} (${e.code}): the openssl command-line tool is required; install OpenSSL 3 (Debian/Ubuntu: apt-get install openssl)`,
            { cause: err },
          ),
        );
        return;
      }
      const how =
        e.killed === true
          ? `timed out after ${OPENSSL_TIMEOUT_MS} ms`
          : typeof e.code === 'number'
            ? `exit ${e.code}`
            : `signal ${String(e.signal)}`;
      const text = stderr.trim();
      reject(
        new CertsError('openssl-failed', `openssl ${args[0]!} failed (${how})${text === '' ? '' : `:\n${text}`}`, {
          cause: err,
          stderr: text,
        }),
      );
    });
  });
}

/** A private (0700) temporary folder for keys, requests and configs, removed whatever happens. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await io('create a temporary folder', () => mkdtemp(join(tmpdir(), 'gsdns-certs-')));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function writeTemp(path: string, lines: readonly string[]): Promise<void> {
  await io(`write ${path}`, () => writeFile(path, `${lines.join('\n')}\n`, { mode: KEY_MODE }));
}

function readTemp(path: string): Promise<Buffer> {
  return io(`read ${path}`, () => readFile(path));
}

interface OutputFile {
  readonly path: string;
  readonly data: Buffer;
  readonly mode: number;
}

/**
 * Writes each file next to its destination with its mode, then renames them all into place:
 * readers see old files or new ones, never a partial file, and a key is never briefly readable
 * by others (a mode given at creation, not a chmod afterwards).
 */
async function publish(dir: string, files: readonly OutputFile[]): Promise<void> {
  await io(`create ${dir}`, () => mkdir(dir, { recursive: true, mode: 0o700 }));
  const suffix = `.${randomBytes(6).toString('hex')}.tmp`;
  try {
    for (const f of files)
      await io(`write ${f.path}${suffix}`, () => writeFile(`${f.path}${suffix}`, f.data, { mode: f.mode, flag: 'wx' }));
    for (const f of files) await io(`rename ${f.path}${suffix} to ${f.path}`, () => rename(`${f.path}${suffix}`, f.path));
  } finally {
    await Promise.all(files.map((f) => rm(`${f.path}${suffix}`, { force: true })));
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new CertsError('io', `cannot check ${path}: ${(err as Error).message}`, { cause: err });
  }
}

async function io<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new CertsError('io', `cannot ${what}: ${(err as Error).message}`, { cause: err });
  }
}
