/**
 * DNS names on the wire and in presentation format (PURE; RFC 1035 §3.1, §4.1.4, §5.1, RFC 4343).
 *
 * Owns: converting one wire label to canonical presentation text and presentation text to wire
 * labels, the canonical key of a label sequence, skipping a possibly compressed name inside a
 * message with bounds checks, and WalkError, the error every wire walker throws on malformed input.
 *
 * Never: touches sockets, files, timers or loggers; knows about headers, sections or records.
 *
 * Invariants:
 * - labelToPresentation is injective: a '.' or '\' inside a label is escaped and non-printable
 *   octets become \DDD (RFC 4343 §2.1), so distinct wire names never map to the same string; only
 *   ASCII letters are case-folded.
 * - presentationToLabels accepts everything labelToPresentation produces (and the usual escapes),
 *   and never returns a label over 63 octets or a name over 255.
 * - skipName's work is bounded: pointers only go backwards, at most 127 hops, and the expanded name
 *   stays within 255 octets. It throws only WalkError.
 */
import { HEADER_SIZE, MAX_NAME } from './limits.js';

/** RFC 1035 §2.3.4. */
const MAX_LABEL = 63;
/** A name of at most 255 octets has at most 127 labels, so more hops than that is a loop. */
const MAX_POINTER_HOPS = 127;

/** A malformed message; its reason becomes the FORMERR (or reply rejection) explanation. */
export class WalkError {
  constructor(readonly reason: string) {}
}

/**
 * Skip a possibly compressed name; returns the offset just past it in the record stream.
 * Pointers must point backwards and past the header, hops are bounded, and the expanded name must
 * stay within 255 octets, so a crafted loop ends after at most 127 hops (RFC 1035 §4.1.4).
 */
export function skipName(buf: Buffer, start: number): number {
  let pos = start;
  let after = -1;
  let hops = 0;
  let wireLength = 1;
  for (;;) {
    if (pos >= buf.length) throw new WalkError('name runs past the end of the message');
    const len = buf[pos]!;
    if (len === 0) return after < 0 ? pos + 1 : after;
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) throw new WalkError('compression pointer cut short');
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (target < HEADER_SIZE || target >= pos) throw new WalkError(`compression pointer to ${target} is not backwards`);
      if (++hops > MAX_POINTER_HOPS) throw new WalkError('too many compression pointers');
      if (after < 0) after = pos + 2;
      pos = target;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new WalkError(`unsupported label type 0x${len.toString(16)}`);
    wireLength += len + 1;
    if (wireLength > MAX_NAME) throw new WalkError(`name exceeds ${MAX_NAME} octets`);
    if (pos + 1 + len > buf.length) throw new WalkError('label runs past the end of the message');
    pos += 1 + len;
  }
}

/**
 * One wire label → lowercase presentation text. Only ASCII letters are case-folded (RFC 4343 §3).
 * '.' and '\' are backslash-escaped and octets outside 0x21..0x7E become \DDD, so the mapping is
 * injective and a label "a.b" reads `a\.b`, never `a.b`.
 */
export function labelToPresentation(buf: Uint8Array, start: number, end: number): string {
  let out = '';
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c >= 0x41 && c <= 0x5a) out += String.fromCharCode(c + 0x20);
    else if (c === 0x2e) out += '\\.';
    else if (c === 0x5c) out += '\\\\';
    else if (c > 0x20 && c < 0x7f) out += String.fromCharCode(c);
    else out += `\\${c < 10 ? '00' : c < 100 ? '0' : ''}${c}`;
  }
  return out;
}

/**
 * Presentation text → wire labels (no case change). Accepts `\.`, `\\`, `\X` and `\DDD` escapes and
 * an optional trailing dot; "" and "." are the root. Throws on empty labels, labels over 63 octets,
 * names over 255 octets and characters outside Latin-1.
 */
export function presentationToLabels(name: string): Uint8Array[] {
  const labels: Uint8Array[] = [];
  if (name === '' || name === '.') return labels;
  let current: number[] = [];
  let wireLength = 1;
  const finish = (): void => {
    if (current.length === 0) throw new RangeError(`empty label in name "${name}"`);
    if (current.length > MAX_LABEL) throw new RangeError(`label of ${current.length} octets in name "${name}"`);
    wireLength += current.length + 1;
    labels.push(Uint8Array.from(current));
    current = [];
  };
  for (let i = 0; i < name.length; i++) {
    const ch = name.charCodeAt(i);
    if (ch === 0x2e) {
      finish();
      continue;
    }
    if (ch === 0x5c) {
      const d = name.slice(i + 1, i + 4);
      if (/^[0-9]{3}$/.test(d)) {
        const v = Number(d);
        if (v > 255) throw new RangeError(`escape \\${d} out of range in name "${name}"`);
        current.push(v);
        i += 3;
      } else {
        if (i + 1 >= name.length) throw new RangeError(`dangling backslash in name "${name}"`);
        current.push(name.charCodeAt(i + 1));
        i += 1;
      }
      if (current[current.length - 1]! > 0xff) throw new RangeError(`non-Latin-1 character in name "${name}"`);
      continue;
    }
    if (ch > 0xff) throw new RangeError(`non-Latin-1 character in name "${name}"`);
    current.push(ch);
  }
  // A trailing dot (absolute name) leaves nothing pending; otherwise close the last label.
  if (current.length > 0 || name.charCodeAt(name.length - 1) !== 0x2e) finish();
  if (wireLength > MAX_NAME) throw new RangeError(`name "${name}" is ${wireLength} octets on the wire`);
  return labels;
}

/** Canonical (lowercase, escaped) presentation of a sequence of wire labels. */
export function labelsKey(labels: readonly Uint8Array[], from: number): string {
  let key = '';
  for (let i = from; i < labels.length; i++) {
    const label = labels[i]!;
    const text = labelToPresentation(label, 0, label.length);
    key = key === '' ? text : `${key}.${text}`;
  }
  return key;
}
