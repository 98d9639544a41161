/**
 * A minimal UDP DNS client for the benchmarks (edge): A queries to loopback, replies matched by ID,
 * read down to their rcode and A records. One socket serves any number of concurrent queries.
 */
import { createSocket, type Socket } from 'node:dgram';

export interface DnsResult {
  readonly rcode: number;
  readonly addresses: readonly string[];
}

/** An A query for `name` with RD set. */
export function aQuery(name: string, id: number): Buffer {
  const parts = [Buffer.from([id >> 8, id & 0xff, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0])];
  for (const l of name.split('.')) parts.push(Buffer.from([l.length]), Buffer.from(l));
  parts.push(Buffer.from([0, 0, 1, 0, 1]));
  return Buffer.concat(parts);
}

/** Rcode and the A records of a reply (answer owners may be names or compression pointers). */
export function readReply(reply: Buffer): DnsResult {
  const rcode = reply[3]! & 0x0f;
  const an = reply.readUInt16BE(6);
  let pos = 12;
  while (reply[pos] !== 0) pos += reply[pos]! + 1;
  pos += 5;
  const addresses: string[] = [];
  for (let i = 0; i < an && pos < reply.length; i++) {
    if ((reply[pos]! & 0xc0) === 0xc0) pos += 2;
    else {
      while (reply[pos] !== 0) pos += reply[pos]! + 1;
      pos += 1;
    }
    const type = reply.readUInt16BE(pos);
    const rdlen = reply.readUInt16BE(pos + 8);
    pos += 10;
    if (type === 1 && rdlen === 4) addresses.push(reply.subarray(pos, pos + 4).join('.'));
    pos += rdlen;
  }
  return { rcode, addresses };
}

export class UdpDnsClient {
  readonly socket: Socket = createSocket('udp4');
  private nextId = 1;
  private readonly pending = new Map<number, (r: DnsResult) => void>();

  constructor() {
    this.socket.on('message', (msg: Buffer) => {
      if (msg.length < 12) return;
      const id = msg.readUInt16BE(0);
      const done = this.pending.get(id);
      if (!done) return;
      this.pending.delete(id);
      done(readReply(msg));
    });
  }

  ask(port: number, name: string, timeoutMs = 2000): Promise<DnsResult> {
    const id = this.nextId++ & 0xffff;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no DNS reply for ${name} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.socket.send(aQuery(name, id), port, '127.0.0.1');
    });
  }

  close(): void {
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}
