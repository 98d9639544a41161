/**
 * The encoder's octet writer (PURE): a bounded cursor over one buffer, with RFC 1035 §4.1.4 name
 * compression against every name already written, the echoed question included.
 *
 * Owns: `MessageWriter` (u8/u16/u32/bytes/name), prepared names (`PreparedName`, `NameCache`: each
 * distinct name of a message converted to labels once) and the `OVERFLOW` signal.
 * Never: allocates per octet, or writes past `limit`: every write checks its room first and throws
 * `OVERFLOW` instead, so the caller rewinds to its last record boundary.
 * Invariants: a pointer is written only to an offset that fits 14 bits; SRV targets are never
 * compressed (RFC 2782); a name's suffixes are remembered where they were first written.
 */
import { labelToPresentation, labelsKey, presentationToLabels } from './names.js';

/** RFC 1035 §4.1.4: a pointer's offset has 14 bits. */
const MAX_POINTER_OFFSET = 0x3fff;

/**
 * A name converted to wire labels, with the canonical key of each suffix (keys[i]: from label i).
 * Prepared names live for one message (NameCache), so `at` can remember where it was written.
 */
export interface PreparedName {
  readonly labels: readonly Uint8Array[];
  readonly keys: readonly string[];
  /** Offset a pointer to the whole name may use, once it is in the message; -1 before. */
  at: number;
}

function prepareName(name: string): PreparedName {
  const labels = presentationToLabels(name);
  const keys = new Array<string>(labels.length);
  let key = '';
  for (let i = labels.length - 1; i >= 0; i--) {
    const text = labelToPresentation(labels[i]!, 0, labels[i]!.length);
    key = key === '' ? text : `${text}.${key}`;
    keys[i] = key;
  }
  return { labels, keys, at: -1 };
}

/**
 * Names already prepared for one message, by presentation text: the records of an answer share
 * their owner (and an SRV answer its target), so each distinct name is converted once.
 */
export class NameCache {
  private readonly names = new Map<string, PreparedName>();
  get(name: string): PreparedName {
    let n = this.names.get(name);
    if (n === undefined) {
      n = prepareName(name);
      this.names.set(name, n);
    }
    return n;
  }
}

/**
 * Thrown (without a stack: it is control flow) when the next octets would cross the budget, i.e.
 * a record does not fit the message; the encoder catches it and rewinds, so it never escapes.
 */
class Overflow {}
export const OVERFLOW = new Overflow();

export class MessageWriter {
  pos = 0;
  /** Canonical name suffix → offset, for compression (RFC 1035 §4.1.4). */
  readonly names = new Map<string, number>();
  constructor(
    readonly buf: Buffer,
    public limit: number,
  ) {}

  private room(n: number): void {
    if (this.pos + n > this.limit) throw OVERFLOW;
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.pos++] = v;
  }
  u16(v: number): void {
    this.room(2);
    const b = this.buf;
    b[this.pos++] = v >>> 8;
    b[this.pos++] = v & 0xff;
  }
  u32(v: number): void {
    this.room(4);
    const b = this.buf;
    b[this.pos++] = v >>> 24;
    b[this.pos++] = (v >>> 16) & 0xff;
    b[this.pos++] = (v >>> 8) & 0xff;
    b[this.pos++] = v & 0xff;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  /** RDATA names of SRV must not be compressed (RFC 2782), others may (RFC 3597 §4). */
  name(n: PreparedName, compress: boolean): void {
    // The common case: the owner of every record of an answer, already in the message.
    if (compress && n.at >= 0) {
      this.u16(0xc000 | n.at);
      return;
    }
    const { labels, keys } = n;
    for (let i = 0; i < labels.length; i++) {
      const key = keys[i]!;
      const known = this.names.get(key);
      if (compress && known !== undefined) {
        this.u16(0xc000 | known);
        if (i === 0) n.at = known;
        return;
      }
      if (known === undefined && this.pos <= MAX_POINTER_OFFSET) this.names.set(key, this.pos);
      const label = labels[i]!;
      this.u8(label.length);
      this.bytes(label);
    }
    this.u8(0);
    if (labels.length > 0) n.at = this.names.get(keys[0]!) ?? -1;
  }
  /** Remember every suffix of the echoed question so owners point at the client's spelling. */
  registerQuestion(at: number, raw: Buffer): void {
    const labels: Uint8Array[] = [];
    const offsets: number[] = [];
    for (let p = 0; p < raw.length && raw[p]! !== 0; p += 1 + raw[p]!) {
      offsets.push(at + p);
      labels.push(raw.subarray(p + 1, p + 1 + raw[p]!));
    }
    for (let i = 0; i < labels.length; i++) {
      const key = labelsKey(labels, i);
      if (offsets[i]! <= MAX_POINTER_OFFSET && !this.names.has(key)) this.names.set(key, offsets[i]!);
    }
  }
}

export function checkInt(value: number, max: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`${what} ${value} out of range`);
  return value;
}
