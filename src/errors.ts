/**
 * The catalogue of gsdns error classes.
 *
 * Owns: every error class gsdns throws, each with a stable `code` (`GSDNS_ERR_*`) that logs,
 * tests and callers can match on instead of the message (the pattern of undici
 * `lib/core/errors.js` and fastify `lib/errors.js`).
 * Must never: import anything with side effects; this module is imported everywhere.
 * Invariants: a code, once published, never changes meaning; the underlying failure is attached
 * as `cause` (ES2022 `{ cause }`), never flattened into the message.
 *
 * Expected outcomes (NXDOMAIN, a peer that is down, an invalid config) are values, not throws;
 * these classes exist for the edges that do throw, and to carry a value across one.
 */
import type { YamlIssue } from './util/yaml-schema.js';

/** Where a config value came from, in override order: file < env < flag. */
export type ConfigSource = 'file' | 'env' | 'flag';

/**
 * One problem with the configuration, e.g. `dns.listen[0].port`: `must be <= 65535`. `loadConfig`
 * reports all of them at once. `line`/`col` are set for syntax errors and for keys found in the file.
 */
export interface ConfigIssue extends YamlIssue {
  readonly source?: ConfigSource | undefined;
}

/** Every stable error code, in one place. Add new codes here, with their class below. */
export const ErrorCode = {
  GENERIC: 'GSDNS_ERR',
  CONFIG: 'GSDNS_ERR_CONFIG',
  CATALOG: 'GSDNS_ERR_CATALOG',
  KUBE_CREDENTIALS: 'GSDNS_ERR_KUBE_CREDENTIALS',
  CERTS: 'GSDNS_ERR_CERTS',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class: every gsdns error has a stable `code`; `cause` carries the underlying failure. */
export class GsdnsError extends Error {
  override name = 'GsdnsError';
  readonly code: string = ErrorCode.GENERIC;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The configuration is invalid. `issues` lists every problem found, not just the first. */
export class ConfigError extends GsdnsError {
  override name = 'ConfigError';
  override readonly code: string = ErrorCode.CONFIG;
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], options?: { cause?: unknown }) {
    const n = issues.length;
    super(`invalid configuration (${n} issue${n === 1 ? '' : 's'}):\n  ${formatIssues(issues).join('\n  ')}`, options);
    this.issues = Object.freeze([...issues]);
  }
}

/** The Kubernetes API cannot even be addressed: an unreadable kubeconfig, or no in-cluster credentials. */
export class KubeCredentialsError extends GsdnsError {
  override name = 'KubeCredentialsError';
  override readonly code: string = ErrorCode.KUBE_CREDENTIALS;
}

/**
 * Why certificate tooling (`gsdns certs`, src/sync/certs.ts) failed:
 * - `invalid-argument`: a cluster name, trust domain, SAN, file name or day count is malformed;
 * - `exists`: the CA is already there and `force` was not given;
 * - `no-ca`: the CA folder holds no CA to sign with;
 * - `openssl-missing`: the `openssl` executable cannot be run;
 * - `openssl-failed`: openssl exited non-zero (its stderr is in the message and in `stderr`);
 * - `io`: reading or writing a file failed.
 */
export type CertsFailure = 'invalid-argument' | 'exists' | 'no-ca' | 'openssl-missing' | 'openssl-failed' | 'io';

/** Certificate tooling failed; `reason` says how, `stderr` carries openssl's own words when it ran. */
export class CertsError extends GsdnsError {
  override name = 'CertsError';
  override readonly code: string = ErrorCode.CERTS;
  readonly reason: CertsFailure;
  readonly stderr: string | undefined;

  constructor(reason: CertsFailure, message: string, options?: { cause?: unknown; stderr?: string | undefined }) {
    super(message, options);
    this.reason = reason;
    this.stderr = options?.stderr;
  }
}

/** Where in a catalog file a problem is, as precisely as it is known. */
export interface CatalogLocation {
  /** The catalog file, when the catalog came from one. */
  readonly file?: string | undefined;
  /** Key path inside the catalog, e.g. `services[2].ports[0].port`. */
  readonly path?: string | undefined;
  /** 1-based line and column, when known (YAML syntax errors, or a located node). */
  readonly line?: number | undefined;
  readonly col?: number | undefined;
}

/** A catalog (the file source's catalog file, or a peer's catalog) cannot be parsed or is invalid. */
export class CatalogError extends GsdnsError {
  override name = 'CatalogError';
  override readonly code: string = ErrorCode.CATALOG;
  readonly location: CatalogLocation;

  constructor(message: string, location: CatalogLocation = {}, options?: { cause?: unknown }) {
    super(`${formatLocation(location)}${message}`, options);
    this.location = Object.freeze({ ...location });
  }
}

/** True when `err` is a gsdns error, optionally with the given code. */
export function isGsdnsError(err: unknown, code?: string): err is GsdnsError {
  return err instanceof GsdnsError && (code === undefined || err.code === code);
}

/**
 * One line per issue, for `gsdns check-config` and for ConfigError's message, e.g.
 * `dns.listen[0].port: must be <= 65535 (file, line 7)` or `line 3, column 5: <yaml error> (file)`.
 */
export function formatIssues(issues: readonly ConfigIssue[]): string[] {
  return issues.map((issue) => {
    const where = issue.path !== '' ? issue.path : issue.line !== undefined ? `line ${issue.line}, column ${issue.col ?? 1}` : '(config)';
    const origin: string[] = [];
    if (issue.source !== undefined) origin.push(issue.source);
    if (issue.path !== '' && issue.line !== undefined) origin.push(`line ${issue.line}`);
    return `${where}: ${issue.message}${origin.length > 0 ? ` (${origin.join(', ')})` : ''}`;
  });
}

function formatLocation(loc: CatalogLocation): string {
  const parts: string[] = [];
  if (loc.file !== undefined) parts.push(loc.file);
  if (loc.line !== undefined) parts.push(String(loc.line), String(loc.col ?? 1));
  const head = parts.join(':');
  if (loc.path !== undefined && loc.path !== '') return `${head === '' ? '' : `${head}: `}${loc.path}: `;
  return head === '' ? '' : `${head}: `;
}
