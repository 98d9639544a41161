/**
 * IP address text helpers (PURE).
 *
 * Owns: strict recognition and canonical text of IPv4/IPv6 addresses, and their octets (parse and
 * RFC 5952 format), without node:net, so the pure core (catalog codecs, answer logic) can validate
 * addresses with no I/O module in its import graph; the DNS codec, the ACL and upstreams use the
 * same parser.
 * Invariants: `canonicalIp` returns dotted-quad IPv4 or RFC 5952 lowercase compressed IPv6.
 */

const v4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIPv4(s: string): boolean {
  return v4.test(s);
}

export function isIPv6(s: string): boolean {
  if (!s.includes(':') || s.includes('%') || s.includes('[') || s.includes('/')) return false;
  try {
    // WHATWG URL parsing implements the full IPv6 grammar (including embedded IPv4).
    new URL(`http://[${s}]/`);
    return true;
  } catch {
    return false;
  }
}

/** 4, 6 or 0 — the same contract as node:net isIP. */
export function ipFamily(s: string): 0 | 4 | 6 {
  if (isIPv4(s)) return 4;
  if (isIPv6(s)) return 6;
  return 0;
}

export function canonicalIp(s: string): string {
  if (isIPv6(s)) return new URL(`http://[${s}]/`).hostname.slice(1, -1);
  return s;
}

// ---- octets: the only IP parser and formatter (the DNS codec, the ACL and upstreams use these) ----

export function parseIPv4(text: string): Uint8Array {
  const word = ipv4Word(text);
  return Uint8Array.of(word >>> 24, (word >>> 16) & 0xff, (word >>> 8) & 0xff, word & 0xff);
}

/**
 * Dotted-quad text → the address as an unsigned 32-bit number, with no allocation (the encoder
 * writes one per A record). Exactly four decimal parts of 0..255 without leading zeros.
 */
export function ipv4Word(text: string): number {
  let word = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || ++parts > 4) break;
      word = word * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits === 1 && part === 0) break; // a leading zero
      part = part * 10 + (c - 0x30);
      if (++digits > 3 || part > 255) break;
    } else break;
    if (i === text.length && parts === 4) return word >>> 0;
  }
  throw new RangeError(`invalid IPv4 address "${text}"`);
}

export function parseIPv6(text: string): Uint8Array {
  const fail = (): never => {
    throw new RangeError(`invalid IPv6 address "${text}"`);
  };
  let groups: number[];
  let tail = text;
  // An embedded dotted quad (RFC 4291 §2.2 form 3) supplies the last 32 bits.
  let v4: Uint8Array | undefined;
  if (text.includes('.')) {
    const lastColon = text.lastIndexOf(':');
    if (lastColon < 0) fail();
    v4 = parseIPv4(text.slice(lastColon + 1));
    tail = text.slice(0, lastColon + 1);
    if (!tail.endsWith('::')) tail = tail.slice(0, -1);
  }
  const wanted = v4 ? 6 : 8;
  const parseGroups = (s: string): number[] =>
    s === ''
      ? []
      : s.split(':').map((g) => {
          if (!/^[0-9a-fA-F]{1,4}$/.test(g)) fail();
          return parseInt(g, 16);
        });
  const dbl = tail.indexOf('::');
  if (dbl >= 0) {
    if (tail.indexOf('::', dbl + 1) >= 0) fail();
    const head = parseGroups(tail.slice(0, dbl));
    const rest = parseGroups(tail.slice(dbl + 2));
    if (head.length + rest.length > wanted - 1) fail();
    groups = [...head, ...new Array<number>(wanted - head.length - rest.length).fill(0), ...rest];
  } else {
    groups = parseGroups(tail);
    if (groups.length !== wanted) fail();
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  if (v4) out.set(v4, 12);
  return out;
}

export function formatIPv4(bytes: Uint8Array): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/** RFC 5952 §4: lowercase, no leading zeros, the longest (first) run of ≥2 zero groups as "::". */
export function formatIPv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (bestLen < 2) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}
