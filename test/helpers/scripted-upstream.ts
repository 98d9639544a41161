/**
 * Test helper: a scripted upstream DNS server for fault injection against the forwarder.
 *
 * Owns: one UDP socket and one TCP listener on the same loopback port (dns2's UDPServer and
 * TCPServer, with dns2's parser bypassed), the list of queries received, and the timers of
 * delayed replies. For every query it records the RAW bytes and asks a script what to send.
 *
 * Never: parses a query with dns2 (real clients send types such as HTTPS (65) and EDNS options
 * that dns2 drops or rejects, and the point of this helper is to see exactly what the forwarder
 * sent); sizes, truncates or otherwise rewrites a reply the script returned — dns2's
 * `UDPServer.response` would cut a raw buffer to 512 octets and set TC, so replies go through
 * `dgram.send` directly. Fault injection needs byte-exact control.
 *
 * Invariants: `down()` closes both listeners, every open TCP connection and every pending delayed
 * reply; `up()` binds the same port again. `stop()` is registered with t.teardown.
 *
 * The builders at the bottom work on raw bytes, so they can express what dns2 cannot: wrong IDs,
 * a question that does not match, TC=1 with no records, unknown EDNS option codes, the query's
 * own EDNS options echoed back, extended RCODEs.
 */
import type { RemoteInfo } from 'node:dgram';
import type { Socket } from 'node:net';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ExecutionContext } from 'ava';
import { TCPServer, UDPServer } from 'dns2';
import { nameOf, optRR, rawQuestion, rawRR, type EdnsOptionSpec } from './dns-tools.js';
import { freePort } from './unbound.js';

// ---------------------------------------------------------------------------------------------
// Recorded queries
// ---------------------------------------------------------------------------------------------

export type UpstreamTransport = 'udp' | 'tcp';

/** The EDNS OPT record of a query (RFC 6891 §6.1.2), as received. */
export interface QueryOpt {
  readonly udp: number;
  readonly extRcode: number;
  readonly version: number;
  readonly dnssecOk: boolean;
  readonly options: readonly EdnsOptionSpec[];
}

export interface RecordedQuery {
  readonly transport: UpstreamTransport;
  /** The whole message exactly as received (without the TCP length prefix). */
  readonly raw: Buffer;
  /** Header ID; -1 when the message is shorter than a header. */
  readonly id: number;
  /** First question's name as sent (case kept, no trailing dot, '' for the root); '' when unreadable. */
  readonly name: string;
  /** First question's type; -1 when unreadable. */
  readonly type: number;
  /** First question's class; -1 when unreadable. */
  readonly klass: number;
  readonly rd: boolean;
  readonly cd: boolean;
  readonly opt?: QueryOpt | undefined;
  /** The first question's bytes as received (name + type + class), for echoing; empty when unreadable. */
  readonly questionBytes: Buffer;
  /** performance.now() when it arrived (monotonic milliseconds): compare these, not Date.now(). */
  readonly receivedAt: number;
  readonly from: { readonly address: string; readonly port: number };
}

/**
 * What to do about one query. A Buffer is sent at once; `{ send, delayMs }` after the delay;
 * `{ close: true }` destroys the TCP connection the query came on (nothing happens over UDP).
 */
export type UpstreamAction =
  Buffer | { readonly send: Buffer; readonly delayMs?: number } | { readonly close: true; readonly delayMs?: number };

/** null, undefined or [] means "never answer". Several actions run independently (each its own delay). */
export type ScriptResult = UpstreamAction | readonly UpstreamAction[] | null | undefined;

export type UpstreamScript = (query: RecordedQuery) => ScriptResult | Promise<ScriptResult>;

export interface ScriptedUpstream {
  readonly address: string;
  readonly port: number;
  /** "127.0.0.1:PORT", the shape `forward.upstreams` takes. */
  readonly endpoint: string;
  /** Every query received since start or the last clear(), oldest first (a live array). */
  readonly queries: readonly RecordedQuery[];
  readonly isUp: boolean;
  /** Forget the recorded queries. */
  clear(): void;
  /** Replace the script for queries arriving from now on. */
  setScript(script: UpstreamScript): void;
  /** Resolve true once `predicate(queries)` holds, false after timeoutMs (default 2000). */
  waitFor(predicate: (queries: readonly RecordedQuery[]) => boolean, timeoutMs?: number): Promise<boolean>;
  /** Resolve true once at least `count` queries were recorded, false after timeoutMs (default 2000). */
  waitForQueries(count: number, timeoutMs?: number): Promise<boolean>;
  /** Simulate the upstream going away: close both listeners, open connections and pending replies. */
  down(): Promise<void>;
  /** Come back on the same port (UDP and TCP). */
  up(): Promise<void>;
  /** down() for good; idempotent, and registered with t.teardown. */
  stop(): Promise<void>;
}

export interface ScriptedUpstreamOptions {
  /** Bind this port instead of a free one. */
  readonly port?: number;
  /** Default 127.0.0.1; '::1' works too. */
  readonly address?: string;
}

/** The default script: A queries get 192.0.2.1 with TTL 60, anything else NOERROR with no answer. */
export const defaultScript: UpstreamScript = (q) => (q.type === 1 ? answerA(q, ['192.0.2.1'], 60) : buildReply(q));

/** dns2's UDP socket with its parser bypassed: raw datagrams come straight to us. */
class RawUdpSocket extends UDPServer {
  constructor(
    type: 'udp4' | 'udp6',
    private readonly onDatagram: (data: Buffer, rinfo: RemoteInfo) => void,
  ) {
    super({ type });
    this.on('error', () => {
      // A send to a vanished client (ICMP unreachable) must not crash the test process.
    });
  }
  override handle(data: Buffer, rinfo: RemoteInfo): void {
    this.onDatagram(data, rinfo);
  }
}

/** dns2's TCP server (allowHalfOpen), with its connection handler replaced by our framing loop. */
class RawTcpServer extends TCPServer {
  constructor(private readonly onConnection: (socket: Socket) => void) {
    super();
  }
  handle(socket: Socket): void {
    this.onConnection(socket);
  }
}

/** Start a scripted upstream on loopback; it is stopped in t.teardown. */
export async function startScriptedUpstream(
  t: ExecutionContext,
  script: UpstreamScript = defaultScript,
  opts: ScriptedUpstreamOptions = {},
): Promise<ScriptedUpstream> {
  const address = opts.address ?? '127.0.0.1';
  let current = script;
  const queries: RecordedQuery[] = [];
  const waiters = new Set<() => void>();
  const timers = new Set<NodeJS.Timeout>();
  const connections = new Set<Socket>();
  let udp: RawUdpSocket | undefined;
  let tcp: RawTcpServer | undefined;
  let port = opts.port ?? 0;
  let stopped = false;

  const wake = (): void => {
    for (const w of [...waiters]) w();
  };

  const later = (delayMs: number | undefined, fn: () => void): void => {
    if (!delayMs || delayMs <= 0) {
      fn();
      return;
    }
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, delayMs);
    timers.add(timer);
  };

  const dispatch = (query: RecordedQuery, send: (bytes: Buffer) => void, close: () => void): void => {
    queries.push(query);
    wake();
    void (async () => {
      let result: ScriptResult;
      try {
        result = await current(query);
      } catch (err) {
        // A broken script is a broken test: say so loudly, and do not answer. (t.log throws once
        // the test has finished; the query is still recorded either way.)
        try {
          t.log(`scripted upstream: script threw: ${String(err)}`);
        } catch {
          // test already over
        }
        return;
      }
      if (result == null) return;
      const actions: readonly UpstreamAction[] = Buffer.isBuffer(result)
        ? [result]
        : Array.isArray(result)
          ? result
          : [result as UpstreamAction];
      for (const action of actions) {
        if (Buffer.isBuffer(action)) later(0, () => send(action));
        else if ('send' in action) later(action.delayMs, () => send(action.send));
        else later(action.delayMs, close);
      }
    })();
  };

  const onDatagram = (socket: RawUdpSocket, data: Buffer, rinfo: RemoteInfo): void => {
    const query = recordQuery('udp', data, rinfo.address, rinfo.port);
    dispatch(
      query,
      (bytes) => {
        if (udp !== socket) return; // went down meanwhile
        socket.send(bytes, rinfo.port, rinfo.address, () => {
          // errors are ignored: the client may be gone
        });
      },
      () => undefined,
    );
  };

  const onConnection = (socket: Socket): void => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      // RFC 1035 §4.2.2 framing; RFC 7766 §6.2.1.1 pipelining: every complete message is a query.
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const message = Buffer.from(pending.subarray(2, 2 + pending.readUInt16BE(0)));
        pending = pending.subarray(2 + message.length);
        const query = recordQuery('tcp', message, socket.remoteAddress ?? '', socket.remotePort ?? 0);
        dispatch(
          query,
          (bytes) => {
            if (socket.destroyed || !socket.writable) return;
            const prefix = Buffer.alloc(2);
            prefix.writeUInt16BE(bytes.length, 0);
            socket.write(Buffer.concat([prefix, bytes]));
          },
          () => socket.destroy(),
        );
      }
    });
    // allowHalfOpen: a client that half-closes after its query still gets its replies; we close
    // when it is idle for long (the forwarder under test decides when to close, not us).
    socket.setTimeout(30_000, () => socket.destroy());
  };

  const bindUdp = (p: number): Promise<RawUdpSocket> =>
    new Promise((resolve, reject) => {
      const socket: RawUdpSocket = new RawUdpSocket(isIPv6(address) ? 'udp6' : 'udp4', (data, rinfo) => onDatagram(socket, data, rinfo));
      const onError = (err: Error): void => {
        socket.close();
        reject(err);
      };
      socket.once('error', onError);
      socket.bind(p, address, () => {
        socket.off('error', onError);
        resolve(socket);
      });
    });

  const bindTcp = (p: number): Promise<RawTcpServer> =>
    new Promise((resolve, reject) => {
      const server = new RawTcpServer(onConnection);
      server.once('error', reject);
      server.listen(p, address, () => {
        server.off('error', reject);
        server.on('error', () => undefined);
        resolve(server);
      });
    });

  const bindBoth = async (p: number): Promise<void> => {
    const u = await bindUdp(p);
    try {
      tcp = await bindTcp(p);
    } catch (err) {
      await new Promise<void>((resolve) => u.close(() => resolve()));
      throw err;
    }
    udp = u;
  };

  const down = async (): Promise<void> => {
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    const u = udp;
    const s = tcp;
    udp = undefined;
    tcp = undefined;
    for (const c of connections) c.destroy();
    connections.clear();
    await Promise.all([
      u ? new Promise<void>((resolve) => u.close(() => resolve())) : undefined,
      s ? new Promise<void>((resolve) => s.close(() => resolve())) : undefined,
    ]);
  };

  if (port !== 0) await bindBoth(port);
  else {
    // freePort() checks both protocols, but another test file may take the port before we bind.
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      try {
        await bindBoth(port);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 5) throw err;
      }
    }
  }

  const upstream: ScriptedUpstream = {
    address,
    port,
    endpoint: isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`,
    queries,
    get isUp() {
      return udp !== undefined;
    },
    clear() {
      queries.length = 0;
    },
    setScript(s) {
      current = s;
    },
    waitFor(predicate, timeoutMs = 2000) {
      if (predicate(queries)) return Promise.resolve(true);
      return new Promise((resolve) => {
        const check = (): void => {
          if (!predicate(queries)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(true);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          resolve(predicate(queries));
        }, timeoutMs);
        waiters.add(check);
      });
    },
    waitForQueries(count, timeoutMs) {
      return upstream.waitFor((qs) => qs.length >= count, timeoutMs);
    },
    down,
    async up() {
      if (stopped) throw new Error('scripted upstream was stopped; start a new one');
      if (udp) return;
      await bindBoth(port);
    },
    async stop() {
      stopped = true;
      await down();
    },
  };
  t.teardown(() => upstream.stop());
  return upstream;
}

// ---------------------------------------------------------------------------------------------
// Reading queries (by hand: dns2 would reject or lose what we need to see)
// ---------------------------------------------------------------------------------------------

/** Read a possibly compressed name at `pos`; returns its labels and where the name ends. */
function readName(buf: Buffer, start: number): { labels: string[]; end: number } {
  const labels: string[] = [];
  let pos = start;
  let end = -1;
  for (let hops = 0; hops < 128; hops++) {
    const len = buf[pos];
    if (len === undefined) throw new Error('name runs past the message');
    if (len === 0) return { labels, end: end < 0 ? pos + 1 : end };
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) throw new Error('truncated pointer');
      if (end < 0) end = pos + 2;
      pos = ((len & 0x3f) << 8) | buf[pos + 1]!;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new Error('bad label type');
    if (pos + 1 + len > buf.length) throw new Error('label runs past the message');
    labels.push(buf.toString('latin1', pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  throw new Error('pointer loop');
}

/** Decode what the recorder needs from a raw query; anything unreadable is left at its "unknown" value. */
export function recordQuery(transport: UpstreamTransport, raw: Buffer, address: string, port: number): RecordedQuery {
  const receivedAt = performance.now();
  const base = {
    transport,
    raw,
    id: raw.length >= 2 ? raw.readUInt16BE(0) : -1,
    rd: raw.length >= 3 && (raw[2]! & 0x01) !== 0,
    cd: raw.length >= 4 && (raw[3]! & 0x10) !== 0,
    receivedAt,
    from: { address, port },
  };
  const unknown = { ...base, name: '', type: -1, klass: -1, questionBytes: Buffer.alloc(0), opt: undefined };
  if (raw.length < 12) return unknown;
  try {
    const qd = raw.readUInt16BE(4);
    const counts = raw.readUInt16BE(6) + raw.readUInt16BE(8) + raw.readUInt16BE(10);
    let pos = 12;
    let name = '';
    let type = -1;
    let klass = -1;
    let questionBytes = Buffer.alloc(0);
    for (let i = 0; i < qd; i++) {
      const { labels, end } = readName(raw, pos);
      if (end + 4 > raw.length) throw new Error('question runs past the message');
      if (i === 0) {
        name = labels.join('.');
        type = raw.readUInt16BE(end);
        klass = raw.readUInt16BE(end + 2);
        questionBytes = Buffer.from(raw.subarray(pos, end + 4));
      }
      pos = end + 4;
    }
    let opt: QueryOpt | undefined;
    for (let i = 0; i < counts; i++) {
      const owner = readName(raw, pos);
      pos = owner.end;
      const rrType = raw.readUInt16BE(pos);
      const rdlen = raw.readUInt16BE(pos + 8);
      if (rrType === 41 && owner.labels.length === 0) {
        const options: EdnsOptionSpec[] = [];
        for (let p = pos + 10; p + 4 <= pos + 10 + rdlen;) {
          const len = raw.readUInt16BE(p + 2);
          options.push({ code: raw.readUInt16BE(p), data: Buffer.from(raw.subarray(p + 4, p + 4 + len)) });
          p += 4 + len;
        }
        opt = {
          udp: raw.readUInt16BE(pos + 2),
          extRcode: raw[pos + 4]!,
          version: raw[pos + 5]!,
          dnssecOk: (raw[pos + 6]! & 0x80) !== 0,
          options,
        };
      }
      pos += 10 + rdlen;
    }
    return { ...base, name, type, klass, questionBytes, opt };
  } catch {
    return unknown;
  }
}

// ---------------------------------------------------------------------------------------------
// Building replies on raw bytes
// ---------------------------------------------------------------------------------------------

export const Rcodes = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;

/** An owner name: a presentation name, raw wire bytes, or undefined for "the question's name" (pointer 0xC00C). */
export type Owner = string | Buffer | undefined;

function ownerBytes(owner: Owner): Buffer {
  if (owner === undefined) return Buffer.from([0xc0, 0x0c]); // RFC 1035 §4.1.4: pointer to the question name
  if (Buffer.isBuffer(owner)) return owner;
  return nameOf(owner.replace(/\.$/, ''));
}

export function ipv4Bytes(address: string): Buffer {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${address}`);
  return Buffer.from(parts);
}

export function ipv6Bytes(address: string): Buffer {
  const [head = '', tail] = address.split('::');
  const h = head === '' ? [] : head.split(':');
  const tl = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - tl.length).fill('0'), ...tl];
  if (groups.length !== 8) throw new Error(`not an IPv6 address: ${address}`);
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** One resource record; owner defaults to the question name. */
export function rr(opts: { owner?: Owner; type: number; ttl: number; rdata: Buffer; klass?: number }): Buffer {
  return rawRR({ owner: ownerBytes(opts.owner), type: opts.type, klass: opts.klass ?? 1, ttl: opts.ttl, rdata: opts.rdata });
}

export function aRecord(address: string, ttl: number, owner?: Owner): Buffer {
  return rr({ owner, type: 1, ttl, rdata: ipv4Bytes(address) });
}

export function aaaaRecord(address: string, ttl: number, owner?: Owner): Buffer {
  return rr({ owner, type: 28, ttl, rdata: ipv6Bytes(address) });
}

export function cnameRecord(target: string, ttl: number, owner?: Owner): Buffer {
  return rr({ owner, type: 5, ttl, rdata: nameOf(target.replace(/\.$/, '')) });
}

/** TXT with one character-string per entry (each ≤ 255 octets). */
export function txtRecord(strings: readonly string[], ttl: number, owner?: Owner): Buffer {
  const rdata = Buffer.concat(strings.map((s) => Buffer.concat([Buffer.from([Buffer.byteLength(s, 'latin1')]), Buffer.from(s, 'latin1')])));
  return rr({ owner, type: 16, ttl, rdata });
}

/** SOA for `zone` (RFC 1035 §3.3.13); `minimum` is the RFC 2308 negative-caching TTL field. */
export function soaRecord(zone: string, opts: { ttl: number; minimum: number; serial?: number }): Buffer {
  const z = zone.replace(/\.$/, '');
  const nums = Buffer.alloc(20);
  nums.writeUInt32BE(opts.serial ?? 1, 0);
  nums.writeUInt32BE(3600, 4); // refresh
  nums.writeUInt32BE(600, 8); // retry
  nums.writeUInt32BE(86400, 12); // expire
  nums.writeUInt32BE(opts.minimum, 16);
  const mname = nameOf(z === '' ? 'ns' : `ns.${z}`);
  const rname = nameOf(z === '' ? 'hostmaster' : `hostmaster.${z}`);
  return rr({ owner: z, type: 6, ttl: opts.ttl, rdata: Buffer.concat([mname, rname, nums]) });
}

/** EDNS in a reply: 'auto' (default) adds a plain OPT iff the query had one; false never adds one. */
export type ReplyEdns =
  | 'auto'
  | false
  | {
      readonly udp?: number;
      readonly version?: number;
      readonly dnssecOk?: boolean;
      /** Options to put in the reply's OPT, e.g. unknown codes (RFC 6891 §6.1.2: must be ignored). */
      readonly options?: readonly EdnsOptionSpec[];
      /** Put every option of the query's OPT first (before `options`). */
      readonly echoQueryOptions?: boolean;
    };

export interface ReplySpec {
  /** Full RCODE (RFC 6891 §6.1.3): the low 4 bits go in the header, the rest in the OPT (if any). */
  readonly rcode?: number;
  /** Default: the query's ID. */
  readonly id?: number;
  /** Default false (the upstream looks like a resolver). */
  readonly aa?: boolean;
  readonly tc?: boolean;
  /** Default true. */
  readonly ra?: boolean;
  readonly ad?: boolean;
  /** Default: the query's question bytes echoed exactly; a Buffer is used as is; null: no question. */
  readonly question?: Buffer | { readonly name: string; readonly type: number; readonly klass?: number } | null;
  readonly answers?: readonly Buffer[];
  readonly authority?: readonly Buffer[];
  /** Records other than OPT (OPT comes from `edns`). */
  readonly additional?: readonly Buffer[];
  readonly edns?: ReplyEdns;
}

/** A response to `query` assembled from raw sections (header counts follow the sections). */
export function buildReply(query: RecordedQuery, spec: ReplySpec = {}): Buffer {
  const rcode = spec.rcode ?? 0;
  const question =
    spec.question === null
      ? undefined
      : spec.question === undefined
        ? query.questionBytes.length > 0
          ? query.questionBytes
          : undefined
        : Buffer.isBuffer(spec.question)
          ? spec.question
          : rawQuestion(spec.question.name.replace(/\.$/, ''), spec.question.type, spec.question.klass ?? 1);
  const additional = [...(spec.additional ?? [])];
  const edns = spec.edns ?? 'auto';
  if (edns === 'auto' ? query.opt !== undefined : edns !== false) {
    const o = typeof edns === 'object' ? edns : {};
    const options = [...(o.echoQueryOptions ? (query.opt?.options ?? []) : []), ...(o.options ?? [])];
    additional.push(optRR({ udp: o.udp ?? 1232, version: o.version ?? 0, dnssecOk: o.dnssecOk ?? false, extRcode: rcode >> 4, options }));
  } else if (rcode > 15) {
    throw new Error(`RCODE ${rcode} needs an OPT record (RFC 6891 §6.1.3)`);
  }
  const header = Buffer.alloc(12);
  header.writeUInt16BE(spec.id ?? Math.max(query.id, 0), 0);
  const opcode = query.raw.length > 2 ? query.raw[2]! & 0x78 : 0;
  header[2] = 0x80 | opcode | (spec.aa ? 0x04 : 0) | (spec.tc ? 0x02 : 0) | (query.rd ? 0x01 : 0);
  header[3] = (spec.ra === false ? 0 : 0x80) | (spec.ad ? 0x20 : 0) | (query.cd ? 0x10 : 0) | (rcode & 0x0f);
  header.writeUInt16BE(question ? 1 : 0, 4);
  header.writeUInt16BE(spec.answers?.length ?? 0, 6);
  header.writeUInt16BE(spec.authority?.length ?? 0, 8);
  header.writeUInt16BE(additional.length, 10);
  return Buffer.concat([header, ...(question ? [question] : []), ...(spec.answers ?? []), ...(spec.authority ?? []), ...additional]);
}

/** NOERROR with one A record per address, owned by the question name, with the given TTL. */
export function answerA(query: RecordedQuery, addresses: readonly string[], ttl: number, spec: ReplySpec = {}): Buffer {
  return buildReply(query, { ...spec, answers: addresses.map((a) => aRecord(a, ttl)) });
}

export function servfail(query: RecordedQuery, spec: ReplySpec = {}): Buffer {
  return buildReply(query, { ...spec, rcode: Rcodes.SERVFAIL });
}

export function refused(query: RecordedQuery, spec: ReplySpec = {}): Buffer {
  return buildReply(query, { ...spec, rcode: Rcodes.REFUSED });
}

/**
 * NXDOMAIN with the zone's SOA in the authority section (RFC 2308 §3). The negative TTL a cache
 * should use is min(soaTtl, soaMinimum) (§5); soaTtl defaults to soaMinimum. zone defaults to the
 * parent of the query name.
 */
export function nxdomain(query: RecordedQuery, opts: { soaMinimum: number; soaTtl?: number; zone?: string }, spec: ReplySpec = {}): Buffer {
  const zone = opts.zone ?? query.name.split('.').slice(1).join('.');
  return buildReply(query, {
    ...spec,
    rcode: Rcodes.NXDOMAIN,
    authority: [soaRecord(zone, { ttl: opts.soaTtl ?? opts.soaMinimum, minimum: opts.soaMinimum })],
  });
}

/** NOERROR, no answer, SOA in authority (RFC 2308 §2.2 NODATA). */
export function nodata(query: RecordedQuery, opts: { soaMinimum: number; soaTtl?: number; zone?: string }, spec: ReplySpec = {}): Buffer {
  const zone = opts.zone ?? query.name.split('.').slice(1).join('.');
  return buildReply(query, { ...spec, authority: [soaRecord(zone, { ttl: opts.soaTtl ?? opts.soaMinimum, minimum: opts.soaMinimum })] });
}

/** The same message with another header ID. */
export function withId(reply: Buffer, id: number): Buffer {
  const out = Buffer.from(reply);
  out.writeUInt16BE(id & 0xffff, 0);
  return out;
}

/** A reply (default: an A answer) carrying the query's ID + 1 (mod 2^16). */
export function wrongId(query: RecordedQuery, reply: Buffer = answerA(query, ['192.0.2.66'], 60)): Buffer {
  return withId(reply, (query.id + 1) & 0xffff);
}

/** An answer whose question is not the one asked (name and/or type changed). */
export function wrongQuestion(query: RecordedQuery, question: { name?: string; type?: number }, spec: ReplySpec = {}): Buffer {
  const name = question.name ?? query.name;
  const type = question.type ?? query.type;
  return buildReply(query, {
    answers: type === 1 ? [aRecord('192.0.2.66', 60)] : [],
    ...spec,
    question: { name, type, klass: query.klass > 0 ? query.klass : 1 },
  });
}

/**
 * RFC 1035 §4.2.1 / RFC 7766: over UDP a TC=1 reply with no records (the client must retry over
 * TCP); over TCP the full reply built from `full`.
 */
export function truncatedOverUdp(query: RecordedQuery, full: ReplySpec): Buffer {
  if (query.transport === 'tcp') return buildReply(query, full);
  return buildReply(query, { ...full, tc: true, answers: [], authority: [], additional: [] });
}

/** Send `bytes` after `delayMs`. */
export function delayed(bytes: Buffer, delayMs: number): UpstreamAction {
  return { send: bytes, delayMs };
}

/** Close the TCP connection (after `delayMs`) without answering; over UDP this sends nothing. */
export function closeConnection(delayMs = 0): UpstreamAction {
  return { close: true, delayMs };
}

/** Never answer. */
export const noAnswer: UpstreamScript = () => null;
