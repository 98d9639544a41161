/**
 * Upstream list from config (PURE).
 *
 * Owns: turning `forward.upstreams` entries and the text of resolv.conf into the ordered,
 * de-duplicated list of upstream addresses, and spotting an upstream that is gsdns itself.
 * Never: reads files (the caller passes resolv.conf's text) or resolves hostnames.
 * Invariants: addresses are canonical text (RFC 5952 for IPv6); order is config order, with
 * resolv.conf's nameservers spliced in where the word `resolv.conf` stood; the same address:port
 * appears once.
 */
import { canonicalIp, ipFamily } from '../util/ip.js';
import { parseUpstream, RESOLV_CONF, type HostPort } from '../util/formats.js';
import { parseIPv6 } from '../util/ip.js';

export interface Upstream {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
  /** `address:port`, or `[address]:port` for IPv6: the label used in logs, stats and /debug. */
  readonly label: string;
}

export interface ResolvConfNameservers {
  readonly nameservers: HostPort[];
  /** `nameserver` lines that were not usable, with why (e.g. a link-local address with a zone). */
  readonly ignored: string[];
}

/** resolv.conf(5): `nameserver ADDRESS` lines; port 53; comments start with '#' or ';'. */
export function parseResolvConf(text: string): ResolvConfNameservers {
  const nameservers: HostPort[] = [];
  const ignored: string[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.replace(/[#;].*$/, '').trim();
    const fields = line.split(/\s+/);
    if (fields[0] !== 'nameserver') continue;
    const address = fields[1] ?? '';
    if (ipFamily(address) === 0) {
      ignored.push(`${rawLine.trim()}: ${address.includes('%') ? 'scoped (link-local) addresses are not supported' : 'not an IP address'}`);
      continue;
    }
    nameservers.push({ address, port: 53 });
  }
  return { nameservers, ignored };
}

export function upstreamLabel(address: string, port: number): string {
  return ipFamily(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Expand config entries (validated by the schema) into upstreams; `resolvConf` is needed only if named. */
export function resolveUpstreams(entries: readonly string[], resolvConf: ResolvConfNameservers | undefined): Upstream[] {
  const out: Upstream[] = [];
  const seen = new Set<string>();
  const add = (hp: HostPort): void => {
    const address = canonicalIp(hp.address);
    const label = upstreamLabel(address, hp.port);
    if (seen.has(label)) return;
    seen.add(label);
    out.push({ address, port: hp.port, family: ipFamily(address) === 6 ? 6 : 4, label });
  };
  for (const entry of entries) {
    const parsed = parseUpstream(entry);
    if (parsed === undefined) continue;
    if (parsed === RESOLV_CONF) resolvConf?.nameservers.forEach(add);
    else add(parsed);
  }
  return out;
}

/**
 * True when sending to `upstream` would reach one of our own DNS listeners, i.e. a forwarding
 * loop: the same address and port, or our wildcard listener's port on a loopback address.
 */
export function isSelf(upstream: Upstream, listeners: readonly { address: string; port: number }[]): boolean {
  // An IPv4-mapped upstream (::ffff:a.b.c.d) reaches the IPv4 address a.b.c.d.
  const target = unmapped(upstream.address);
  return listeners.some((l) => {
    if (l.port !== upstream.port) return false;
    const address = canonicalIp(l.address);
    if (address === target) return true;
    const wildcard = address === '0.0.0.0' || address === '::';
    return wildcard && isLoopback(target);
  });
}

function unmapped(address: string): string {
  if (ipFamily(address) !== 6) return address;
  const b = parseIPv6(address);
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  return mapped ? `${b[12]}.${b[13]}.${b[14]}.${b[15]}` : address;
}

/** 127.0.0.0/8 or ::1 (mapped addresses are unmapped first). */
function isLoopback(address: string): boolean {
  return ipFamily(address) === 4 ? address.startsWith('127.') : canonicalIp(address) === '::1';
}
