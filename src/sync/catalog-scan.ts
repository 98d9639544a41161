/**
 * Where a peer catalog's services are in its body, and their fingerprints (PURE).
 *
 * Owns: the byte scanner that finds the elements of the top-level `services` array (it knows JSON's
 * strings, escapes and nesting, nothing more), the 53-bit fingerprint of an element's octets, and
 * the content fingerprints of parsed services (for a body the scanner cannot read).
 * Never: does I/O, allocates per octet, or validates JSON: a body it cannot scan gives undefined,
 * and JSON.parse with the schema (catalog-decoder.ts) then decides.
 * Invariants: when serviceSpans answers, the body is one object, its brackets balance, it holds
 * exactly one `services` key at the top level, that key holds an array, and `starts`/`ends` are the
 * array's elements in order with the whitespace around them excluded. fingerprintOctets uses the
 * lanes of util/fingerprint.ts, so equal octets give equal fingerprints on every thread.
 */
import type { RemoteService } from '../registry/types.js';
import { fingerprint } from '../util/fingerprint.js';

/** Key and content of a remote service, canonically (when the body cannot be scanned). */
export function serviceFingerprint(s: RemoteService): number {
  let text = s.namespace + '/' + s.name + (s.ready ? '|1' : '|0');
  for (const p of s.ports) text += '|' + p.name + ':' + p.port + '/' + p.protocol;
  // Traffic overrides (issue 16) only when present, so a service without them keeps its fingerprint.
  if (s.policy !== undefined) text += '|p=' + s.policy;
  if (s.weight !== undefined) text += '|w=' + s.weight;
  return fingerprint(text);
}

export const keyFingerprint = (s: RemoteService): number => fingerprint(s.namespace + '/' + s.name);

export function fingerprintsOf(services: readonly RemoteService[]): Float64Array {
  const out = new Float64Array(services.length);
  for (let i = 0; i < services.length; i++) out[i] = serviceFingerprint(services[i]!);
  return out;
}

export function keysOf(services: readonly RemoteService[]): Float64Array {
  const out = new Float64Array(services.length);
  for (let i = 0; i < services.length; i++) out[i] = keyFingerprint(services[i]!);
  return out;
}

/** Where the top-level `services` array and its elements are in a body. */
export interface ServiceSpans {
  /** Offset of the array's `[` and of its `]`. */
  readonly open: number;
  readonly close: number;
  /** Per element: its first octet and one past its last (whitespace around it excluded). */
  readonly starts: readonly number[];
  readonly ends: readonly number[];
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const SERVICES = new TextEncoder().encode('services');

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isServicesKey(b: Uint8Array, open: number, close: number): boolean {
  if (close - open - 1 !== SERVICES.length) return false;
  for (let k = 0; k < SERVICES.length; k++) if (b[open + 1 + k] !== SERVICES[k]) return false;
  return true;
}

/** The closing quote of the string whose opening quote is at `open`, or `b.length` when there is none. */
function stringEnd(b: Uint8Array, open: number): number {
  const n = b.length;
  let i = open + 1;
  for (; i < n && b[i] !== QUOTE; i++) if (b[i] === BACKSLASH) i++;
  return Math.min(i, n);
}

/**
 * The state of one serviceSpans pass, inside the top-level object. Each method takes the next
 * octet that is not whitespace and answers false when the body cannot be scanned.
 */
class SpansScan {
  /** Nesting: 1 inside the top-level object, 2 inside the `services` array. */
  depth = 1;
  /** The last string at depth 1 (a candidate key): its opening and closing quotes. */
  keyOpen = -1;
  keyClose = -1;
  /** The last octet that is not whitespace: where an element ends when `,` or `]` follows. */
  lastSolid: number;
  /** `"services":` was just read: the next octet must open the array. */
  expectArray = false;
  inArray = false;
  /** `services` arrays found at depth 1 (exactly one is scannable). */
  found = 0;
  open = -1;
  close = -1;
  /** The first octet of the element being read, or -1 between elements. */
  elemStart = -1;
  readonly starts: number[] = [];
  readonly ends: number[] = [];

  constructor(
    private readonly b: Uint8Array,
    objectOpen: number,
  ) {
    this.lastSolid = objectOpen;
  }

  /** A string, from its opening quote `open` to its closing quote `close`. */
  string(open: number, close: number): boolean {
    this.startElement(QUOTE, open);
    if (this.depth === 1) {
      this.keyOpen = open;
      this.keyClose = close;
    }
    this.lastSolid = close;
    return !this.expectArray;
  }

  /** Any other octet `c` at `i`: a colon, comma, bracket, or part of a number or literal. */
  octet(c: number, i: number): boolean {
    this.startElement(c, i);
    if (this.expectArray && c !== OPEN_ARRAY) this.expectArray = false; // "services" holds something else: refused by the schema
    if (c === COLON) {
      if (this.depth === 1 && this.keyClose === this.lastSolid && isServicesKey(this.b, this.keyOpen, this.keyClose))
        this.expectArray = true;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      this.enter(i);
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (!this.leave(c, i)) return false;
    } else if (c === COMMA && this.inArray && this.depth === 2) {
      if (this.elemStart < 0) return false;
      this.endElement();
    }
    this.lastSolid = i;
    return true;
  }

  /** The spans, once the body has been read to its end. */
  result(): ServiceSpans | undefined {
    if (this.depth !== 0 || this.found !== 1 || this.close < 0) return undefined;
    return { open: this.open, close: this.close, starts: this.starts, ends: this.ends };
  }

  private startElement(c: number, i: number): void {
    if (this.inArray && this.depth === 2 && this.elemStart < 0 && c !== CLOSE_ARRAY && c !== COMMA) this.elemStart = i;
  }

  private endElement(): void {
    this.starts.push(this.elemStart);
    this.ends.push(this.lastSolid + 1);
    this.elemStart = -1;
  }

  private enter(i: number): void {
    if (this.expectArray && this.depth === 1) {
      this.expectArray = false;
      this.inArray = true;
      this.open = i;
      this.found++;
    }
    this.depth++;
  }

  private leave(c: number, i: number): boolean {
    if (this.inArray && this.depth === 2) {
      if (c !== CLOSE_ARRAY) return false;
      if (this.elemStart >= 0) this.endElement();
      this.elemStart = -1;
      this.inArray = false;
      this.close = i;
    }
    this.depth--;
    return this.depth >= 0;
  }
}

/**
 * The spans of the elements of the top-level object's `services` array (one pass, no allocation
 * per octet). Undefined when the body is not one object holding exactly one such array, or its
 * brackets do not balance; JSON.parse then decides.
 */
export function serviceSpans(b: Uint8Array): ServiceSpans | undefined {
  const n = b.length;
  let i = 0;
  while (i < n && isSpace(b[i]!)) i++;
  if (i >= n || b[i] !== OPEN_OBJECT) return undefined;
  const scan = new SpansScan(b, i);
  for (i++; i < n; i++) {
    const c = b[i]!;
    if (isSpace(c)) continue;
    if (scan.depth === 0) return undefined; // something after the top-level object
    if (c === QUOTE) {
      const close = stringEnd(b, i);
      if (close >= n || !scan.string(i, close)) return undefined;
      i = close;
    } else if (!scan.octet(c, i)) return undefined;
  }
  return scan.result();
}

/** The 53-bit fingerprint (util/fingerprint.ts lanes) of octets [start, end). */
export function fingerprintOctets(b: Uint8Array, start: number, end: number): number {
  let a = 0x811c9dc5;
  let h = 0x1b873593;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    a = Math.imul(a ^ c, 0x01000193);
    h = Math.imul((h ^ c) + ((h << 13) | (h >>> 19)), 0x5bd1e995);
  }
  return (h >>> 11) * 0x100000000 + (a >>> 0);
}
