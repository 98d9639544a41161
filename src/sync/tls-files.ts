/**
 * TLS material for sync (edge): the CA, certificate and key files, reloaded when they change.
 *
 * Owns: reading the three PEM files, checking that they form a usable pair, and noticing
 * rotation (cert-manager rewrites a Secret volume by swapping a symlink) by polling mtimes.
 * Never: swaps in a half-rotated pair — a new certificate whose key does not match yet is
 * retried on the next poll while the previous material stays in use.
 * Invariants: `current()` always returns material that tls.createSecureContext accepted; its
 * `version` increases by one on every accepted change, so users can rebuild agents and contexts.
 */
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { Logger } from '../log.js';
import { GsdnsError } from '../errors.js';

export interface TlsPaths {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

export interface TlsMaterial {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
  /** The certificate's subjectAltName text (Node's format), for identity checks. */
  readonly subjectAltName: string | undefined;
  readonly notAfter: string;
  readonly version: number;
}

export class TlsFiles {
  private material: TlsMaterial;
  private stamp: string;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(m: TlsMaterial) => void>();
  reloads = 0;
  lastError: string | undefined;

  /**
   * `validate` may refuse material (e.g. a rotated certificate that names another cluster); it
   * returns why, or undefined. Refused material at start throws; after rotation it is not used.
   */
  constructor(
    private readonly paths: TlsPaths,
    private readonly logger: Logger,
    private readonly validate: (m: TlsMaterial) => string | undefined = () => undefined,
  ) {
    this.stamp = this.mtimes();
    this.material = this.read(1);
  }

  current(): TlsMaterial {
    return this.material;
  }

  onChange(listener: (m: TlsMaterial) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Poll for rotation every `pollMs`. */
  start(pollMs = 1000): void {
    this.timer = setInterval(() => this.check(), pollMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reload now if any file changed (also called by the poll). */
  check(): void {
    let stamp: string;
    try {
      stamp = this.mtimes();
    } catch (err) {
      this.lastError = (err as Error).message;
      return;
    }
    if (stamp === this.stamp) return;
    try {
      const next = this.read(this.material.version + 1);
      this.stamp = stamp;
      this.material = next;
      this.reloads++;
      this.lastError = undefined;
      this.logger.info({ cert: this.paths.cert, notAfter: next.notAfter }, 'sync TLS files changed; new connections use them');
      for (const l of this.listeners) l(next);
    } catch (err) {
      // Mid-rotation (cert written, key not yet) or a bad file: keep serving with what we have.
      this.lastError = (err as Error).message;
      this.logger.warn({ err: this.lastError }, 'sync TLS files changed but are not usable yet; keeping the previous ones');
    }
  }

  private mtimes(): string {
    return [this.paths.ca, this.paths.cert, this.paths.key]
      .map((p) => {
        const s = statSync(p);
        return `${s.mtimeMs}:${s.size}:${s.ino}`;
      })
      .join('|');
  }

  private read(version: number): TlsMaterial {
    let ca: Buffer;
    let cert: Buffer;
    let key: Buffer;
    try {
      ca = readFileSync(this.paths.ca);
      cert = readFileSync(this.paths.cert);
      key = readFileSync(this.paths.key);
    } catch (err) {
      throw new GsdnsError(`sync.tls: cannot read ${(err as { path?: string }).path ?? 'a TLS file'}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    try {
      createSecureContext({ ca, cert, key });
    } catch (err) {
      throw new GsdnsError(
        `sync.tls: ${this.paths.cert} and ${this.paths.key} are not a usable certificate and key: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const x509 = new X509Certificate(cert);
    const material = { ca, cert, key, subjectAltName: x509.subjectAltName, notAfter: x509.validTo, version };
    const problem = this.validate(material);
    if (problem) throw new GsdnsError(`sync.tls.cert ${this.paths.cert}: ${problem}`);
    return material;
  }
}
