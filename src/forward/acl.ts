/**
 * Client allow-list for forwarding (PURE).
 *
 * Owns: matching a client address against `forward.allowFrom` CIDRs, IPv4 and IPv6.
 * Never: does I/O or throws on a client address it cannot read (that client is simply not allowed).
 * Invariants: an IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack socket reports for an
 * IPv4 client) matches exactly the IPv4 rules; host bits set in a configured CIDR are ignored.
 */
import { ipFamily, parseIPv4, parseIPv6 } from '../util/ip.js';

const MEMO_LIMIT = 4096;

interface Rule {
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

export class AllowList {
  private readonly v4: Rule[] = [];
  private readonly v6: Rule[] = [];

  /** `cidrs` are validated by the config schema; an entry that does not parse is a programming error. */
  constructor(readonly cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const slash = cidr.lastIndexOf('/');
      const address = cidr.slice(0, slash);
      const prefixText = cidr.slice(slash + 1);
      const family = ipFamily(address);
      const prefix = Number(prefixText);
      if (slash < 0 || family === 0 || !/^\d{1,3}$/.test(prefixText) || prefix > (family === 4 ? 32 : 128)) {
        throw new RangeError(`invalid CIDR "${cidr}"`);
      }
      if (family === 4) this.v4.push({ bytes: parseIPv4(address), prefix });
      else {
        const bytes = parseIPv6(address);
        const mapped = mappedIPv4(bytes);
        // ::ffff:0:0/96 and narrower are IPv4 rules in disguise.
        if (mapped !== undefined && prefix >= 96) this.v4.push({ bytes: mapped, prefix: prefix - 96 });
        else this.v6.push({ bytes, prefix });
      }
    }
  }

  /** Recent verdicts by address text: clients are few (CoreDNS pods) and ask often. */
  private readonly memo = new Map<string, boolean>();

  allows(address: string): boolean {
    const known = this.memo.get(address);
    if (known !== undefined) return known;
    const verdict = this.evaluate(address);
    // Bounded: a flood of distinct sources only costs re-evaluation, never memory.
    if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
    this.memo.set(address, verdict);
    return verdict;
  }

  private evaluate(address: string): boolean {
    const family = ipFamily(address);
    if (family === 4) return matchAny(this.v4, parseIPv4(address));
    if (family !== 6) return false;
    const bytes = parseIPv6(address);
    const mapped = mappedIPv4(bytes);
    return mapped !== undefined ? matchAny(this.v4, mapped) : matchAny(this.v6, bytes);
  }
}

/** RFC 4291 §2.5.5.2. */
function mappedIPv4(bytes: Uint8Array): Uint8Array | undefined {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return undefined;
  if (bytes[10] !== 0xff || bytes[11] !== 0xff) return undefined;
  return bytes.subarray(12, 16);
}

function matchAny(rules: readonly Rule[], bytes: Uint8Array): boolean {
  return rules.some((r) => inPrefix(r, bytes));
}

function inPrefix(rule: Rule, bytes: Uint8Array): boolean {
  const whole = rule.prefix >> 3;
  for (let i = 0; i < whole; i++) if (rule.bytes[i] !== bytes[i]) return false;
  const bits = rule.prefix & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (rule.bytes[whole]! & mask) === (bytes[whole]! & mask);
}
