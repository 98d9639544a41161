/**
 * String formats for JSON Schema validation (PURE): each format's validator, the phrase used in
 * error messages ("must be <phrase>"), and the parsers behind them (host:port, upstream, CIDR).
 *
 * Owns: the one table of custom formats shared by every schema gsdns validates (the config file,
 * the catalog file), so a format means the same thing, and is described the same way, everywhere.
 * Must never: import node:net or any other I/O module (IP text is checked by `util/ip.ts`).
 * Invariants: every validator is total (never throws) and depends only on its argument.
 */
import { ipFamily } from './ip.js';

export interface HostPort {
  readonly address: string;
  readonly port: number;
}

const DNS_LABEL = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

/** RFC 1123 label, lowercase (the Kubernetes DNS-1123 label rule): 1-63 of [a-z0-9-], alnum at both ends. */
export function isDnsLabel(value: string): boolean {
  return DNS_LABEL.test(value);
}

/** A lowercase domain name of RFC 1123 labels, no trailing dot, at most 253 characters. */
export function isDomainName(value: string): boolean {
  return value.length > 0 && value.length <= 253 && value.split('.').every(isDnsLabel);
}

function parsePort(text: string | undefined, fallback: number): number | undefined {
  if (text === undefined) return fallback;
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/**
 * Parses `host[:port]` where host is an IP address: `192.0.2.53`, `192.0.2.53:5300`,
 * `2001:db8::53` (bare IPv6, no port) or `[2001:db8::53]:5300`. Hostnames are refused: a DNS
 * forwarder that needs DNS to find its upstreams cannot start (CoreDNS `forward` refuses them too).
 */
export function parseHostPort(value: string, defaultPort = 53): HostPort | undefined {
  if (value.startsWith('[')) {
    const m = /^\[([^\]]+)\](?::([^:]*))?$/.exec(value);
    if (m === null || ipFamily(m[1]!) !== 6) return undefined;
    const port = parsePort(m[2], defaultPort);
    return port === undefined ? undefined : { address: m[1]!, port };
  }
  if (ipFamily(value) === 6) return { address: value, port: defaultPort };
  const m = /^([^:]+)(?::([^:]*))?$/.exec(value);
  if (m === null || ipFamily(m[1]!) !== 4) return undefined;
  const port = parsePort(m[2], defaultPort);
  return port === undefined ? undefined : { address: m[1]!, port };
}

/** The literal that makes the forwarder read `nameserver` lines from /etc/resolv.conf. */
export const RESOLV_CONF = 'resolv.conf';

/** An upstream entry: `resolv.conf`, or `host[:port]` (see parseHostPort), port 53 by default. */
export function parseUpstream(value: string): HostPort | typeof RESOLV_CONF | undefined {
  return value === RESOLV_CONF ? RESOLV_CONF : parseHostPort(value, 53);
}

/** `address/prefix`, IPv4 (prefix 0-32) or IPv6 (prefix 0-128). Host bits may be set. */
export function isCidr(value: string): boolean {
  const slash = value.lastIndexOf('/');
  if (slash < 0) return false;
  const family = ipFamily(value.slice(0, slash));
  const prefix = value.slice(slash + 1);
  if (family === 0 || !/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

function isHttpsUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' && url.hostname !== '' && url.username === '' && url.password === '';
  } catch {
    return false;
  }
}

/** Custom formats, with the human phrase used in error messages ("must be <phrase>"). */
export interface StringFormat {
  readonly validate: (value: string) => boolean;
  readonly phrase: string;
}

/** Custom formats, with the human phrase used in error messages ("must be <phrase>"). */
export const formats = {
  ip: { validate: (v: string) => ipFamily(v) !== 0, phrase: 'an IPv4 or IPv6 address' },
  cidr: { validate: isCidr, phrase: 'a CIDR such as 10.0.0.0/8 or fc00::/7' },
  'dns-label': {
    validate: isDnsLabel,
    phrase: 'a lowercase DNS label (RFC 1123: a-z, 0-9 and "-", at most 63, alphanumeric at both ends)',
  },
  'domain-name': { validate: isDomainName, phrase: 'a lowercase domain name without a trailing dot' },
  upstream: {
    validate: (v: string) => parseUpstream(v) !== undefined,
    phrase: 'resolv.conf or an IP address with an optional port (192.0.2.53, 192.0.2.53:5300, 2001:db8::53, [2001:db8::53]:5300)',
  },
  'https-url': { validate: isHttpsUrl, phrase: 'an https:// URL' },
  'http-path': { validate: (v: string) => v.startsWith('/'), phrase: 'an absolute URL path starting with "/"' },
  'file-path': {
    validate: (v: string) => v.length > 0 && !v.includes('\0'),
    phrase: "a file path (relative paths resolve against the config file's folder)",
  },
} as const satisfies Record<string, StringFormat>;

export type FormatName = keyof typeof formats;
