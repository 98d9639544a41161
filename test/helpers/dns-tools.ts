/**
 * Test helpers for talking DNS to a server under test: the external-tool policy, kdig, crafted
 * raw packets, raw UDP/TCP exchanges, reply parsing, and a "still answers" probe.
 *
 * Tool policy (used by every helper that runs dig, kdig, unbound, …): a missing tool makes the
 * test pass with a loud "NOT TESTED" log line locally, and FAIL when `CI=true` — CI installs every
 * tool, so a missing one there is a broken environment, not a reason to skip. (ava cannot skip at
 * run time, and .ci/run fails on skipped tests anyway.)
 */
import { execFile } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { access, constants } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import dns2 from 'dns2';

const { Packet } = dns2;
const run = promisify(execFile);

// ---------------------------------------------------------------------------------------------
// Tool policy
// ---------------------------------------------------------------------------------------------

const toolCache = new Map<string, Promise<boolean>>();

/** True when `name` is an executable on PATH. */
export function toolAvailable(name: string): Promise<boolean> {
  let found = toolCache.get(name);
  if (!found) {
    found = (async () => {
      for (const dir of (process.env['PATH'] ?? '').split(delimiter).filter(Boolean)) {
        try {
          await access(join(dir, name), constants.X_OK);
          return true;
        } catch {
          // not in this directory
        }
      }
      return false;
    })();
    toolCache.set(name, found);
  }
  return found;
}

/** Apply the policy to a missing capability: fail under CI, otherwise pass with a loud log. */
export function missing(t: ExecutionContext, what: string): false {
  const message = `${what} — NOT TESTED`;
  if (process.env['CI'] === 'true') t.fail(`${message} (CI=true: every tool must be installed)`);
  else {
    t.log(`SKIPPED: ${message} (install it to run this test; under CI=true this fails)`);
    t.pass();
  }
  return false;
}

/** Resolve true when `tool` is installed; otherwise apply the policy and resolve false. */
export async function requireTool(t: ExecutionContext, tool: string): Promise<boolean> {
  if (await toolAvailable(tool)) return true;
  return missing(t, `${tool} is not installed`);
}

let rawCapable: Promise<boolean> | undefined;

/**
 * Raw IPv4 sockets (python3 + CAP_NET_RAW) let a test send UDP from source port 0 or with a
 * spoofed source address — the real shape of KNOWN-DEFECTS D3 and D4. Same policy as tools.
 */
export async function requireRawUdp(t: ExecutionContext): Promise<boolean> {
  rawCapable ??= (async () => {
    if (!(await toolAvailable('python3'))) return false;
    try {
      await run('python3', ['-c', 'import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP).close()'], {
        timeout: 5000,
      });
      return true;
    } catch {
      return false;
    }
  })();
  if (await rawCapable) return true;
  return missing(t, 'raw UDP sockets (python3 with CAP_NET_RAW) are unavailable');
}

const RAW_SEND = `
import socket, struct, sys
src, sport, dst, dport, payload = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), bytes.fromhex(sys.argv[5])
# IPPROTO_UDP raw socket: the kernel writes the IP header (with our bound source), we write UDP.
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
s.bind((src, 0))
s.sendto(struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload, (dst, 0))
`;

/** Send one UDP datagram with an arbitrary IPv4 source address and port (checksum 0 = none). */
export async function sendRawUdp(opts: { src: string; srcPort: number; dst: string; dstPort: number; payload: Buffer }): Promise<void> {
  await run('python3', ['-c', RAW_SEND, opts.src, String(opts.srcPort), opts.dst, String(opts.dstPort), opts.payload.toString('hex')], {
    timeout: 5000,
  });
}

// ---------------------------------------------------------------------------------------------
// kdig (knot-dnsutils)
// ---------------------------------------------------------------------------------------------

export interface KdigMessage {
  readonly status: string;
  readonly id: number;
  readonly flags: readonly string[];
  readonly question: string;
  readonly answer: readonly string[];
  readonly edns?: string | undefined;
  /** "TCP" or "UDP", from the `;; From …(TCP)` line. */
  readonly transport: string;
}

/** Run kdig and split its output into one entry per response message. */
export async function kdig(
  t: ExecutionContext,
  port: number,
  args: readonly string[],
  server = '127.0.0.1',
): Promise<KdigMessage[] | undefined> {
  if (!(await requireTool(t, 'kdig'))) return undefined;
  const { stdout } = await run('kdig', ['-p', String(port), `@${server}`, '+time=2', '+retry=0', ...args], { timeout: 15_000 });
  return parseKdig(stdout);
}

export function parseKdig(stdout: string): KdigMessage[] {
  const blocks = stdout.split(/^(?=;; ->>HEADER<<-)/m).filter((b) => b.startsWith(';; ->>HEADER<<-'));
  return blocks.map((block) => {
    const header = /status: (\w+); id: (\d+)/.exec(block);
    const flags = /^;; Flags: ([^;]*);/m.exec(block);
    const lines = block.split('\n');
    const section = (title: string): string[] => {
      const start = lines.indexOf(`;; ${title} SECTION:`);
      if (start < 0) return [];
      const out: string[] = [];
      for (let i = start + 1; i < lines.length && lines[i]!.trim() !== ''; i++) out.push(lines[i]!.replace(/^;; /, '').trim());
      return out;
    };
    return {
      status: header?.[1] ?? '',
      id: Number(header?.[2] ?? -1),
      flags: (flags?.[1] ?? '').trim().split(/\s+/).filter(Boolean),
      question: section('QUESTION')[0] ?? '',
      answer: section('ANSWER'),
      edns: /^;; (Version: .*)$/m.exec(block)?.[1],
      transport: /^;; From .*\((TCP|UDP)\)/m.exec(block)?.[1] ?? '',
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Crafting raw messages
// ---------------------------------------------------------------------------------------------

/** Wire name from labels; a Buffer label is taken as is (so it may contain '.'). */
export function wireName(labels: ReadonlyArray<string | Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const label of labels) {
    const b = typeof label === 'string' ? Buffer.from(label, 'latin1') : label;
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

export function nameOf(name: string): Buffer {
  return wireName(name === '' ? [] : name.split('.'));
}

export function rawQuestion(name: string | Buffer, type = 1, klass = 1): Buffer {
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(klass, 2);
  return Buffer.concat([typeof name === 'string' ? nameOf(name) : name, tail]);
}

export function rawRR(opts: { owner?: Buffer; type: number; klass?: number; ttl?: number; rdata?: Buffer }): Buffer {
  const rdata = opts.rdata ?? Buffer.alloc(0);
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(opts.type, 0);
  fixed.writeUInt16BE(opts.klass ?? 1, 2);
  fixed.writeUInt32BE(opts.ttl ?? 0, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([opts.owner ?? Buffer.from([0]), fixed, rdata]);
}

export interface EdnsOptionSpec {
  readonly code: number;
  readonly data: Buffer;
}

export function ednsOptions(options: readonly EdnsOptionSpec[]): Buffer {
  return Buffer.concat(
    options.map((o) => {
      const h = Buffer.alloc(4);
      h.writeUInt16BE(o.code, 0);
      h.writeUInt16BE(o.data.length, 2);
      return Buffer.concat([h, o.data]);
    }),
  );
}

/** An OPT pseudo-RR (RFC 6891 §6.1.2). */
export function optRR(
  opts: {
    udp?: number;
    version?: number;
    dnssecOk?: boolean;
    extRcode?: number;
    options?: readonly EdnsOptionSpec[];
    owner?: Buffer;
    rdata?: Buffer;
  } = {},
): Buffer {
  const ttl = (((opts.extRcode ?? 0) & 0xff) << 24) | (((opts.version ?? 0) & 0xff) << 16) | (opts.dnssecOk ? 0x8000 : 0);
  return rawRR({
    owner: opts.owner ?? Buffer.from([0]),
    type: 41,
    klass: opts.udp ?? 1232,
    ttl: ttl >>> 0,
    rdata: opts.rdata ?? ednsOptions(opts.options ?? []),
  });
}

/** ECS option (RFC 7871 §6) for "a.b.c.d/prefix" or an IPv6 "/prefix" given as address bytes. */
export function ecsOption(family: number, sourcePrefix: number, address: Buffer, scopePrefix = 0): EdnsOptionSpec {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(family, 0);
  head[2] = sourcePrefix;
  head[3] = scopePrefix;
  return { code: 8, data: Buffer.concat([head, address]) };
}

export interface CraftSpec {
  id?: number;
  qr?: boolean;
  opcode?: number;
  rd?: boolean;
  cd?: boolean;
  /** Raw question sections; default one question for a.test.global A. */
  questions?: Buffer[];
  answers?: Buffer[];
  authority?: Buffer[];
  additional?: Buffer[];
  /** Header counts to write instead of the real ones. */
  counts?: Partial<Record<'qd' | 'an' | 'ns' | 'ar', number>>;
  trailing?: Buffer;
}

/** Assemble a message from raw sections; counts follow the sections unless overridden. */
export function craftQuery(spec: CraftSpec = {}): Buffer {
  const questions = spec.questions ?? [rawQuestion('a.test.global')];
  const answers = spec.answers ?? [];
  const authority = spec.authority ?? [];
  const additional = spec.additional ?? [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(spec.id ?? 0x4242, 0);
  header[2] = (spec.qr ? 0x80 : 0) | (((spec.opcode ?? 0) & 0x0f) << 3) | (spec.rd === false ? 0 : 0x01);
  header[3] = spec.cd ? 0x10 : 0;
  header.writeUInt16BE(spec.counts?.qd ?? questions.length, 4);
  header.writeUInt16BE(spec.counts?.an ?? answers.length, 6);
  header.writeUInt16BE(spec.counts?.ns ?? authority.length, 8);
  header.writeUInt16BE(spec.counts?.ar ?? additional.length, 10);
  return Buffer.concat([header, ...questions, ...answers, ...authority, ...additional, spec.trailing ?? Buffer.alloc(0)]);
}

// ---------------------------------------------------------------------------------------------
// Reading replies (header by hand; records through dns2's parser, an independent implementation)
// ---------------------------------------------------------------------------------------------

export interface ParsedReply {
  readonly id: number;
  readonly qr: boolean;
  readonly opcode: number;
  readonly aa: boolean;
  readonly tc: boolean;
  readonly rd: boolean;
  readonly ra: boolean;
  readonly cd: boolean;
  /** Header RCODE, low 4 bits only. */
  readonly rcode: number;
  readonly counts: { readonly qd: number; readonly an: number; readonly ns: number; readonly ar: number };
  /** The question section bytes as sent back. */
  readonly rawQuestion: Buffer;
  readonly answers: ReadonlyArray<Record<string, unknown>>;
  readonly authority: ReadonlyArray<Record<string, unknown>>;
  readonly opt?:
    | {
        readonly udp: number;
        readonly extRcode: number;
        readonly version: number;
        readonly dnssecOk: boolean;
        readonly options: readonly EdnsOptionSpec[];
      }
    | undefined;
  readonly size: number;
}

function skipName(buf: Buffer, pos: number): number {
  for (;;) {
    const len = buf[pos]!;
    if (len === 0) return pos + 1;
    if ((len & 0xc0) === 0xc0) return pos + 2;
    pos += 1 + len;
  }
}

export function parseReply(buf: Buffer): ParsedReply {
  const qd = buf.readUInt16BE(4);
  let pos = 12;
  for (let i = 0; i < qd; i++) pos = skipName(buf, pos) + 4;
  const rawQ = Buffer.from(buf.subarray(12, pos));
  // Locate OPT by walking; dns2 decodes the rest.
  const an = buf.readUInt16BE(6);
  const ns = buf.readUInt16BE(8);
  const ar = buf.readUInt16BE(10);
  let opt: ParsedReply['opt'];
  for (let i = 0; i < an + ns + ar; i++) {
    const ownerAt = pos;
    pos = skipName(buf, pos);
    const type = buf.readUInt16BE(pos);
    const rdlen = buf.readUInt16BE(pos + 8);
    if (type === 41 && i >= an + ns && buf[ownerAt] === 0) {
      const options: EdnsOptionSpec[] = [];
      for (let p = pos + 10; p < pos + 10 + rdlen;) {
        const code = buf.readUInt16BE(p);
        const len = buf.readUInt16BE(p + 2);
        options.push({ code, data: Buffer.from(buf.subarray(p + 4, p + 4 + len)) });
        p += 4 + len;
      }
      opt = {
        udp: buf.readUInt16BE(pos + 2),
        extRcode: buf[pos + 4]!,
        version: buf[pos + 5]!,
        dnssecOk: (buf[pos + 6]! & 0x80) !== 0,
        options,
      };
    }
    pos += 10 + rdlen;
  }
  if (pos !== buf.length) throw new Error(`reply has ${buf.length - pos} trailing octets`);
  const packet = Packet.parse(buf);
  return {
    id: buf.readUInt16BE(0),
    qr: (buf[2]! & 0x80) !== 0,
    opcode: (buf[2]! >> 3) & 0x0f,
    aa: (buf[2]! & 0x04) !== 0,
    tc: (buf[2]! & 0x02) !== 0,
    rd: (buf[2]! & 0x01) !== 0,
    ra: (buf[3]! & 0x80) !== 0,
    cd: (buf[3]! & 0x10) !== 0,
    rcode: buf[3]! & 0x0f,
    counts: { qd, an, ns, ar },
    rawQuestion: rawQ,
    answers: packet.answers as unknown as Array<Record<string, unknown>>,
    authority: packet.authorities as unknown as Array<Record<string, unknown>>,
    opt,
    size: buf.length,
  };
}

// ---------------------------------------------------------------------------------------------
// Raw exchanges
// ---------------------------------------------------------------------------------------------

/** Send one datagram and wait for one reply; null when none arrives within timeoutMs. */
export async function udpExchange(
  port: number,
  message: Buffer,
  opts: { timeoutMs?: number; address?: string } = {},
): Promise<Buffer | null> {
  const address = opts.address ?? '127.0.0.1';
  const socket = createSocket(address.includes(':') ? 'udp6' : 'udp4');
  try {
    return await new Promise<Buffer | null>((resolve, reject) => {
      const timer = setTimeout(() => resolve(null), opts.timeoutMs ?? 1000);
      socket.once('message', (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.send(message, port, address);
    });
  } finally {
    socket.close();
  }
}

/** Collect every datagram arriving on a fresh socket during `windowMs` after sending `message`. */
export async function udpCollect(port: number, message: Buffer, windowMs: number, socket?: UdpSocket): Promise<Buffer[]> {
  const own = socket ?? createSocket('udp4');
  const got: Buffer[] = [];
  const onMessage = (m: Buffer): void => {
    got.push(m);
  };
  own.on('message', onMessage);
  own.send(message, port, '127.0.0.1');
  await new Promise((r) => setTimeout(r, windowMs));
  own.off('message', onMessage);
  if (!socket) own.close();
  return got;
}

export function frame(message: Buffer): Buffer {
  const prefix = Buffer.alloc(2);
  prefix.writeUInt16BE(message.length, 0);
  return Buffer.concat([prefix, message]);
}

/** A TCP DNS client that de-frames replies as they arrive. */
export class TcpDnsClient {
  readonly replies: Buffer[] = [];
  closed = false;
  ended = false;
  error: NodeJS.ErrnoException | undefined;
  private pending = Buffer.alloc(0);
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      while (this.pending.length >= 2 && this.pending.length >= 2 + this.pending.readUInt16BE(0)) {
        const len = this.pending.readUInt16BE(0);
        this.replies.push(Buffer.from(this.pending.subarray(2, 2 + len)));
        this.pending = this.pending.subarray(2 + len);
      }
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', (err) => {
      this.error = err;
      this.wake();
    });
  }

  static connect(port: number, opts: { address?: string; localAddress?: string; allowHalfOpen?: boolean } = {}): Promise<TcpDnsClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({
        port,
        host: opts.address ?? '127.0.0.1',
        allowHalfOpen: opts.allowHalfOpen ?? false,
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      });
      const client = new TcpDnsClient(socket);
      socket.once('connect', () => resolve(client));
      socket.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolve when `predicate` holds, or false after timeoutMs. */
  waitFor(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
    if (predicate()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(predicate()), timeoutMs);
      const check = (): void => {
        if (predicate()) {
          clearTimeout(timer);
          resolve(true);
        } else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }

  send(message: Buffer): boolean {
    return this.socket.write(frame(message));
  }

  sendRaw(bytes: Buffer): boolean {
    return this.socket.write(bytes);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Connect, send every message, and collect `expect` replies (default: one per message). */
export async function tcpExchange(
  port: number,
  messages: readonly Buffer[],
  opts: { expect?: number; timeoutMs?: number } = {},
): Promise<Buffer[]> {
  const client = await TcpDnsClient.connect(port);
  try {
    for (const m of messages) client.send(m);
    const expect = opts.expect ?? messages.length;
    await client.waitFor(() => client.replies.length >= expect || client.closed, opts.timeoutMs ?? 2000);
    return [...client.replies];
  } finally {
    client.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Liveness probe
// ---------------------------------------------------------------------------------------------

/** The normal query every defect test repeats afterwards: a.test.global A over UDP. */
export const PROBE_ID = 0x7e57;

/**
 * Assert the server still answers a normal query correctly within `withinMs` of sending it (over
 * loopback UDP, so no retry: a lost reply is a failure). The default, 1000 ms, is room for a loaded
 * CI machine (ava runs two files at once on two cores) that still tells the defects apart: a
 * packet of death stalls the server for seconds (D1: about 2 s per packet; D2: 8 s).
 */
export async function assertStillAnswers(t: ExecutionContext, port: number, withinMs = 1000): Promise<void> {
  const started = process.hrtime.bigint();
  const reply = await udpExchange(port, craftQuery({ id: PROBE_ID, additional: [optRR()] }), { timeoutMs: withinMs });
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (reply === null) {
    t.fail(`server did not answer a normal query within ${withinMs} ms`);
    return;
  }
  const r = parseReply(reply);
  t.is(r.id, PROBE_ID, 'probe reply id');
  t.is(r.rcode, 0, 'probe reply rcode');
  t.deepEqual(
    r.answers.map((a) => a['address']),
    ['10.0.0.1'],
    'probe answer',
  );
  t.true(elapsedMs <= withinMs, `probe answered in ${elapsedMs.toFixed(1)} ms`);
}
