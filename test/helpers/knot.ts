/**
 * Test helper: a real Knot DNS authoritative server (`knotd`, Debian package `knot`) on loopback,
 * serving zones given as zone-file text — the "real upstream" the forwarder is tested against.
 *
 * Owns: a temp dir holding knot.conf, the zone files, rundir (pid file, control socket) and every
 * database (journal, kasp, timers, catalog); the knotd child process in the foreground.
 * Never: touches /etc/knot, /var/lib/knot or /run/knot; signs zones; talks to any remote; listens
 * anywhere but 127.0.0.1.
 *
 * Invariants: startKnot resolves only once every zone answers SOA with NOERROR over UDP and TCP,
 * and registers a t.teardown that stops knotd (SIGTERM, then SIGKILL after 3 s).
 *
 * Tool policy as in dns-tools.ts: no knotd → undefined with a "NOT TESTED" log locally, a failure
 * under CI=true.
 */
import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { craftQuery, missing, parseReply, rawQuestion, tcpExchange, toolAvailable, udpExchange } from './dns-tools.js';
import { tempDir } from './gsdns-process.js';
import { freePort } from './unbound.js';

export interface KnotZone {
  /** Zone apex, e.g. 'example.test' (a trailing dot is ignored). */
  readonly name: string;
  /** Zone file text (RFC 1035 §5 master file); knotd's default `$ORIGIN` is the zone name. */
  readonly text: string;
}

export interface KnotOptions {
  readonly zones: readonly KnotZone[];
  /** Bind this port instead of a free one. */
  readonly port?: number;
  /** UDP and TCP worker threads each; default 1 (tests), more for benchmarks. */
  readonly workers?: number;
  /** How long to wait for the zones to answer; default 10 s. */
  readonly startTimeoutMs?: number;
}

export interface Knot {
  readonly address: string;
  readonly port: number;
  /** "127.0.0.1:PORT", the shape `forward.upstreams` takes. */
  readonly endpoint: string;
  /** knotd's log so far (it logs to stderr at level info). */
  logs(): string;
  /** Stop knotd; idempotent (also registered with t.teardown). */
  stop(): Promise<void>;
}

/** knotd lives in /usr/sbin, which is not on a non-root user's PATH on Debian. */
async function findKnotd(): Promise<string | undefined> {
  if (await toolAvailable('knotd')) return 'knotd';
  for (const path of ['/usr/sbin/knotd', '/usr/local/sbin/knotd']) {
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

function apex(name: string): string {
  return name.replace(/\.$/, '').toLowerCase();
}

function knotConfig(dir: string, port: number, zones: readonly KnotZone[], workers: number): string {
  const q = (s: string): string => JSON.stringify(s); // knot.conf is YAML: JSON strings are valid scalars
  // `user` defaults to root:root; as root say so explicitly, as anyone else leave it out so knotd
  // does not try (and fail) to switch to root.
  const user = process.getuid?.() === 0 ? '  user: root:root\n' : '';
  return `server:
  rundir: ${q(dir)}
${user}  pidfile: ${q(join(dir, 'knot.pid'))}
  listen: 127.0.0.1@${port}
  udp-workers: ${workers}
  tcp-workers: ${workers}
  background-workers: 1
  # No identity, version or NSID answers: nothing host-specific in replies.
  identity: ""
  version: ""
  nsid: ""
  automatic-acl: off
control:
  listen: ${q(join(dir, 'knot.sock'))}
log:
  - target: stderr
    any: info
database:
  storage: ${q(dir)}
  journal-db: ${q(join(dir, 'journal'))}
  kasp-db: ${q(join(dir, 'kasp'))}
  timer-db: ${q(join(dir, 'timers'))}
  catalog-db: ${q(join(dir, 'catalog'))}
template:
  - id: default
    storage: ${q(dir)}
    # Serve the file as written: no signing, no journal, never write the zone file back.
    dnssec-signing: off
    zonefile-load: whole
    zonefile-sync: -1
    journal-content: none
    semantic-checks: on
zone:
${zones.map((z) => `  - domain: ${q(`${apex(z.name)}.`)}\n    file: ${q(join(dir, `${apex(z.name) || 'root'}.zone`))}\n`).join('')}`;
}

/** Start knotd on 127.0.0.1 (UDP+TCP, one port) serving `opts.zones`; undefined when knotd is missing. */
export async function startKnot(t: ExecutionContext, opts: KnotOptions): Promise<Knot | undefined> {
  const knotd = await findKnotd();
  if (!knotd) {
    missing(t, 'knotd is not installed (Debian package knot)');
    return undefined;
  }
  if (opts.zones.length === 0) throw new Error('startKnot needs at least one zone');
  const dir = tempDir(t, 'gsdns-knot-');
  // Written as given (knotd's default origin is the zone name), so its error line numbers match.
  for (const z of opts.zones) writeFileSync(join(dir, `${apex(z.name) || 'root'}.zone`), `${z.text}\n`);
  const timeoutMs = opts.startTimeoutMs ?? 10_000;
  // freePort() cannot reserve the port: another test may bind it first. knotd then exits at once
  // with "address already in use" (its TCP socket does not use SO_REUSEPORT), so try another.
  for (let attempt = 0; ; attempt++) {
    const port = opts.port ?? (await freePort());
    const result = await launch(t, knotd, dir, port, opts, timeoutMs);
    if (result.ok) return result.knot;
    if (!result.addressInUse || opts.port !== undefined || attempt >= 4) throw result.error;
  }
}

type Launch = { ok: true; knot: Knot } | { ok: false; addressInUse: boolean; error: Error };

async function launch(
  t: ExecutionContext,
  knotd: string,
  dir: string,
  port: number,
  opts: KnotOptions,
  timeoutMs: number,
): Promise<Launch> {
  const conf = join(dir, 'knot.conf');
  writeFileSync(conf, knotConfig(dir, port, opts.zones, opts.workers ?? 1));
  const child = spawn(knotd, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  let spawnError: Error | undefined;
  child.on('error', (err) => (spawnError = err));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
    })();
    return stopping;
  };
  t.teardown(stop);

  const zones = opts.zones.map((z) => apex(z.name));
  const soaAnswered = async (zone: string, transport: 'udp' | 'tcp'): Promise<boolean> => {
    const query = craftQuery({ id: 0x6b6e, rd: false, questions: [rawQuestion(zone, 6)] });
    const reply =
      transport === 'udp' ? await udpExchange(port, query, { timeoutMs: 200 }) : (await tcpExchange(port, [query], { timeoutMs: 500 }))[0];
    if (!reply) return false;
    const r = parseReply(reply);
    return r.rcode === 0 && r.aa && r.counts.an >= 1;
  };

  const deadline = Date.now() + timeoutMs;
  let pendingZones = zones;
  while (Date.now() < deadline) {
    if (spawnError) return { ok: false, addressInUse: false, error: new Error(`knotd could not be started: ${spawnError.message}`) };
    if (child.exitCode !== null || child.signalCode !== null) {
      await exited;
      return {
        ok: false,
        addressInUse: /address already in use/i.test(out),
        error: new Error(`knotd exited (${child.exitCode ?? child.signalCode}) before serving on 127.0.0.1@${port}:\n${out}`),
      };
    }
    // A zone that fails to load is logged as "error: [zone.] …" and then answered with SERVFAIL
    // forever: fail now, with knotd's words, rather than at the deadline.
    if (/ error: \[[^\]]*\]/.test(out)) {
      await stop();
      return { ok: false, addressInUse: false, error: new Error(`knotd could not load a zone:\n${out}`) };
    }
    try {
      const still: string[] = [];
      for (const zone of pendingZones) if (!(await soaAnswered(zone, 'udp'))) still.push(zone);
      pendingZones = still;
      if (pendingZones.length === 0 && (await soaAnswered(zones[0]!, 'tcp'))) {
        return {
          ok: true,
          knot: { address: '127.0.0.1', port, endpoint: `127.0.0.1:${port}`, logs: () => out, stop },
        };
      }
    } catch {
      // not listening yet (TCP refused)
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  return {
    ok: false,
    addressInUse: false,
    error: new Error(`knotd did not answer SOA for ${pendingZones.join(', ') || zones[0]} within ${timeoutMs} ms:\n${out}`),
  };
}

// ---------------------------------------------------------------------------------------------
// A default zone for tests
// ---------------------------------------------------------------------------------------------

export interface ExampleZoneOptions {
  /** Zone apex; default 'example.test'. */
  readonly origin?: string;
  /** SOA MINIMUM, the negative-caching TTL field (RFC 2308 §4); default 30. */
  readonly soaMinimum?: number;
  /** TTL of the SOA record itself; default 3600. Negative answers use min(soaTtl, soaMinimum). */
  readonly soaTtl?: number;
  /** Default TTL of the other records; default 300. */
  readonly ttl?: number;
  /** TTL of `short.<origin>`; default 2. */
  readonly shortTtl?: number;
  readonly serial?: number;
}

/** What exampleZone() serves, for assertions (names are relative to the origin). */
export const EXAMPLE_ZONE = Object.freeze({
  /** www: A and AAAA. */
  wwwA: '192.0.2.1',
  wwwAAAA: '2001:db8::1',
  /** multi: three A records. */
  multiA: Object.freeze(['192.0.2.11', '192.0.2.12', '192.0.2.13']),
  /** alias: CNAME to www. */
  aliasTarget: 'www',
  /** svc: HTTPS (type 65) 1 . alpn=h2 (RFC 9460). */
  svcHttps: '1 . alpn=h2',
  /** big: this many TXT records … */
  bigTxtCount: 24,
  /** … each one character-string of this many octets: > 1232 octets in all, so UDP truncates. */
  bigTxtLength: 100,
  /** short: A with TTL shortTtl. */
  shortA: '192.0.2.2',
  nsA: '127.0.0.1',
});

/** The text of `big`'s i-th TXT string (0-based), exactly EXAMPLE_ZONE.bigTxtLength octets. */
export function bigTxtString(i: number): string {
  const head = `big-${String(i).padStart(2, '0')}-`;
  return head + 'x'.repeat(EXAMPLE_ZONE.bigTxtLength - head.length);
}

/**
 * A small zone with A/AAAA (www), three A (multi), a CNAME (alias → www), an HTTPS record (svc),
 * 24 × 100-octet TXT records (big: ≈ 2.7 kB, truncated over UDP even with a 1232-octet EDNS
 * buffer), and a short-TTL A record (short). Unknown names are NXDOMAIN with the SOA.
 */
export function exampleZone(opts: ExampleZoneOptions = {}): string {
  const origin = apex(opts.origin ?? 'example.test');
  const ttl = opts.ttl ?? 300;
  const z = EXAMPLE_ZONE;
  return [
    `$ORIGIN ${origin}.`,
    `$TTL ${ttl}`,
    `@ ${opts.soaTtl ?? 3600} IN SOA ns.${origin}. hostmaster.${origin}. ${opts.serial ?? 1} 3600 600 86400 ${opts.soaMinimum ?? 30}`,
    `@ IN NS ns`,
    `ns IN A ${z.nsA}`,
    `www IN A ${z.wwwA}`,
    `www IN AAAA ${z.wwwAAAA}`,
    ...z.multiA.map((a) => `multi IN A ${a}`),
    `alias IN CNAME ${z.aliasTarget}`,
    `svc IN HTTPS ${z.svcHttps}`,
    ...Array.from({ length: z.bigTxtCount }, (_, i) => `big IN TXT "${bigTxtString(i)}"`),
    `short ${opts.shortTtl ?? 2} IN A ${z.shortA}`,
    '',
  ].join('\n');
}
