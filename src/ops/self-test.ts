/**
 * Stub-wiring self-test (edge). A missing or broken CoreDNS stub domain is the most common support
 * failure of cluster DNS add-ons: pods then resolve `*.global` through the public internet (or
 * not at all) while gsdns itself looks healthy. Every `selfTest.intervalSeconds`, this resolves a
 * unique name `_selftest-<random>.<zone>` through the cluster resolver, the way a pod would, and
 * checks that the query reached gsdns.
 *
 * Owns: the probe query, its verdict and reason, and the status shown in /readyz detail (never
 * failing readiness), /debug/selftest and gsdns_stub_wiring_ok.
 * Never: fails readiness (a broken stub domain is CoreDNS's configuration, and restarting gsdns
 * cannot fix it); sends anything but one A query per run to the configured resolver.
 * Invariants: a run passes when the name reached this process, or when the resolver's reply is the
 * one gsdns gives for that name (same RCODE and the zone's own SOA), which is how a query that
 * the Service sent to another replica is recognised. Every verdict carries a reason an operator
 * can act on.
 */
import { createSocket, type RemoteInfo } from 'node:dgram';
import { randomBytes, randomInt } from 'node:crypto';
import { Packet } from 'dns2';
import type { Logger } from '../log.js';
import { rcodeName } from './presentation.js';
import { encodeQuestion } from '../wire/wire.js';
import { settleOnce } from '../util/settle-once.js';

/** The next run after a failed one comes at most this soon (see start()). */
const RETRY_AFTER_FAILURE_MS = 10_000;

/** The first label of every self-test name; the DNS handler tells the self-test when it sees one. */
export const SELF_TEST_LABEL_PREFIX = '_selftest-';

/** What gsdns itself answers for a name: its RCODE and the SOA in the authority section, if any. */
export interface ExpectedReply {
  readonly rcode: number;
  readonly soa?: { readonly mname: string; readonly rname: string } | undefined;
}

export interface SelfTestOptions {
  readonly zone: string;
  readonly resolver: { readonly address: string; readonly port: number };
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** The next run after a failed one comes at most this soon. Default 10000. */
  readonly retryAfterFailureMs?: number | undefined;
  /** What gsdns answers for `name` (the answer core, as if synced). */
  readonly expected: (name: string) => ExpectedReply;
  readonly logger: Pick<Logger, 'info' | 'warn'>;
  readonly onResult?: ((ok: boolean) => void) | undefined;
}

export interface SelfTestStatus {
  readonly resolver: string;
  readonly zone: string;
  /** Undefined until the first run finished. */
  readonly ok?: boolean | undefined;
  readonly reason: string;
  readonly lastRunMs?: number | undefined;
  readonly lastName?: string | undefined;
  /** The last run's query arrived at this process (rather than another replica). */
  readonly reachedThisReplica?: boolean | undefined;
  readonly runs: number;
  readonly failures: number;
}

type Exchange =
  | { readonly kind: 'reply'; readonly message: Buffer }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'error'; readonly message: string };

const fqdn = (name: string): string => (name.endsWith('.') ? name : `${name}.`);
const sameName = (a: string, b: string): boolean => fqdn(a.toLowerCase()) === fqdn(b.toLowerCase());

export class SelfTest {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private pending: { name: string; reachedFrom?: string | undefined } | undefined;
  private current: SelfTestStatus;
  private running: Promise<SelfTestStatus> | undefined;

  constructor(private readonly opts: SelfTestOptions) {
    this.current = { resolver: this.resolverLabel(), zone: opts.zone, reason: 'not run yet', runs: 0, failures: 0 };
  }

  /**
   * First run shortly after start, then every intervalMs, but at most 10 s after a failed run: a
   * pod is not behind its Service until it is ready, so the first run may fail, and an operator who
   * just fixed the Corefile wants to see it pass soon.
   */
  start(firstDelayMs = Math.min(5000, this.opts.intervalMs)): void {
    this.stopped = false;
    this.schedule(firstDelayMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  status(): SelfTestStatus {
    return this.current;
  }

  /** The DNS handler saw `name` (lowercase) from `client`: mark the pending run as reached. */
  noteQuery(name: string, client: string): void {
    if (this.pending && this.pending.name === name) this.pending.reachedFrom ??= client;
  }

  /** One run now (concurrent callers share it). */
  runOnce(): Promise<SelfTestStatus> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private resolverLabel(): string {
    const { address, port } = this.opts.resolver;
    return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runOnce().then((status) =>
        this.schedule(
          status.ok === false
            ? Math.min(this.opts.intervalMs, this.opts.retryAfterFailureMs ?? RETRY_AFTER_FAILURE_MS)
            : this.opts.intervalMs,
        ),
      );
    }, delayMs);
    this.timer.unref();
  }

  private async run(): Promise<SelfTestStatus> {
    const name = `${SELF_TEST_LABEL_PREFIX}${randomBytes(6).toString('hex')}.${this.opts.zone}`;
    this.pending = { name };
    const exchange = await this.exchange(name);
    const reachedFrom = this.pending.reachedFrom;
    this.pending = undefined;
    const verdict = this.judge(name, exchange, reachedFrom);
    const previous = this.current.ok;
    this.current = {
      resolver: this.resolverLabel(),
      zone: this.opts.zone,
      ok: verdict.ok,
      reason: verdict.reason,
      lastRunMs: Date.now(),
      lastName: name,
      reachedThisReplica: reachedFrom !== undefined,
      runs: this.current.runs + 1,
      failures: this.current.failures + (verdict.ok ? 0 : 1),
    };
    if (verdict.ok !== previous) {
      if (verdict.ok) this.opts.logger.info({ resolver: this.resolverLabel(), reason: verdict.reason }, 'stub-wiring self-test passed');
      else
        this.opts.logger.warn(
          { resolver: this.resolverLabel(), reason: verdict.reason },
          'stub-wiring self-test FAILED: pods cannot reach gsdns through the cluster resolver',
        );
    }
    this.opts.onResult?.(verdict.ok);
    return this.current;
  }

  /** The verdict on one run (exported logic kept here: it needs only values). */
  private judge(name: string, exchange: Exchange, reachedFrom: string | undefined): { ok: boolean; reason: string } {
    const via = this.resolverLabel();
    const zone = this.opts.zone;
    if (reachedFrom !== undefined)
      return { ok: true, reason: `resolver ${via} forwarded ${name} to this gsdns (query from ${reachedFrom})` };
    if (exchange.kind === 'timeout') {
      return {
        ok: false,
        reason: `resolver ${via} did not answer ${name} within ${this.opts.timeoutMs} ms: either the resolver is unreachable (is it the cluster DNS? selfTest.resolver overrides /etc/resolv.conf), or its stub domain for '${zone}' forwards to an address where nothing answers (check the 'forward' address against the gsdns Service's ClusterIP)`,
      };
    }
    if (exchange.kind === 'error') return { ok: false, reason: `cannot query resolver ${via}: ${exchange.message}` };
    let packet: Packet;
    try {
      packet = Packet.parse(exchange.message);
    } catch (err) {
      return { ok: false, reason: `resolver ${via} sent an unreadable reply: ${(err as Error).message}` };
    }
    const rcode = packet.header.rcode;
    const expected = this.opts.expected(name);
    const soa = packet.authorities.find((rr) => rr.type === Packet.TYPE.SOA) as
      { name: string; primary?: string; admin?: string } | undefined;
    if (
      rcode === expected.rcode &&
      expected.soa &&
      soa &&
      sameName(soa.name, zone) &&
      sameName(soa.primary ?? '', expected.soa.mname) &&
      sameName(soa.admin ?? '', expected.soa.rname)
    ) {
      return {
        ok: true,
        reason: `resolver ${via} answered ${name} as gsdns does (${rcodeName(rcode)}, SOA ${fqdn(expected.soa.mname)}): another gsdns replica got the query`,
      };
    }
    if (rcode === 2) {
      return {
        ok: false,
        reason: `resolver ${via} answered SERVFAIL for ${name}: its stub domain for '${zone}' may point at an address where gsdns does not answer (check the forward address against the gsdns Service's ClusterIP and that the Service has ready endpoints)`,
      };
    }
    if (rcode === 5) return { ok: false, reason: `resolver ${via} REFUSED ${name}: it does not serve this pod` };
    if (soa) {
      return {
        ok: false,
        reason: `resolver ${via} answered ${rcodeName(rcode)} for ${name} with SOA ${fqdn(soa.name)} ${fqdn(soa.primary ?? '')}, which is not gsdns (expected ${fqdn(zone)} ${fqdn(expected.soa?.mname ?? '?')}): the resolver has no stub domain for '${zone}' and sends it elsewhere. Add the 'forward' block from the Helm chart's NOTES to CoreDNS's Corefile`,
      };
    }
    return {
      ok: false,
      reason: `resolver ${via} answered ${rcodeName(rcode)} for ${name} without gsdns's SOA and the query never reached this gsdns: the stub domain for '${zone}' is missing or points elsewhere`,
    };
  }

  private exchange(name: string): Promise<Exchange> {
    const { address, port } = this.opts.resolver;
    const id = randomInt(0, 0x10000);
    // Header: our ID, RD=1 (a stub resolver's query), QDCOUNT=1; then the question (A, IN).
    const header = Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    const query = Buffer.concat([header, encodeQuestion(name, 1, 1)]);
    const socket = createSocket(address.includes(':') ? 'udp6' : 'udp4');
    const op = settleOnce<Exchange>({
      timeoutMs: this.opts.timeoutMs,
      onTimeout: () => ({ kind: 'timeout' }),
      cleanup: () => {
        try {
          socket.close();
        } catch {
          // already closed
        }
      },
    });
    op.listen(socket, 'error', (err: Error) => op.resolve({ kind: 'error', message: err.message }));
    op.listen(socket, 'message', (msg: Buffer, rinfo: RemoteInfo) => {
      // RFC 5452: only the resolver's reply to our ID and question counts.
      if (rinfo.port !== port || msg.length < 12 || msg.readUInt16BE(0) !== id || (msg[2]! & 0x80) === 0) return;
      op.resolve({ kind: 'reply', message: msg });
    });
    socket.connect(port, address, () => {
      if (op.settled) return; // timed out while connecting: the socket is closed
      socket.send(query, (err) => {
        if (err) op.resolve({ kind: 'error', message: err.message });
      });
    });
    return op.promise;
  }
}
