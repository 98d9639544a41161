/**
 * UDP on a wildcard listen address (edge: sockets, timers): one socket per local address.
 *
 * Why: a UDP reply must leave from the address the query was sent to, or the client drops it (dig
 * times out: "reply from unexpected source"). A socket bound to 0.0.0.0 or :: sends from whatever
 * address the route picks, and Node's dgram has no IP_PKTINFO to choose it. So, as NSD and Knot do
 * without `ip-transparent`/pktinfo, a wildcard listen binds each local address of its families on
 * the listen port, and follows address changes by rescanning the interfaces (TCP keeps the
 * wildcard: a connection always answers from its own local address).
 *
 * Owns: the set of per-address UDP sockets of one wildcard listen entry, and their rescans.
 * Never: closes a socket whose address is still local; lets a failed bind of one address stop the
 * others (it is logged once per address and retried at the next rescan); rescans after close.
 * Invariants: after every rescan the bound set is the local addresses of the families the wildcard
 * covers (`0.0.0.0`: IPv4; `::`, dual-stack like the TCP socket: IPv4 and IPv6), minus those that
 * failed to bind; all sockets share one port.
 */
import type { NetworkInterfaceInfo } from 'node:os';

/** IPv6 link-local (fe80::/10) needs its interface as scope to be bound. */
function isLinkLocalV6(address: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(address);
}

/**
 * The addresses a wildcard covers, from `os.networkInterfaces()` (PURE). IPv6 link-local
 * addresses carry their scope (`fe80::1%eth0`). Sorted, without duplicates.
 */
export function wildcardAddresses(wildcard: '0.0.0.0' | '::', interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): string[] {
  const out = new Set<string>();
  for (const [name, infos] of Object.entries(interfaces)) {
    for (const info of infos ?? []) {
      // Node 18.0-18.3 reported family as a number; accept both spellings.
      const family = info.family === 'IPv4' || (info.family as unknown) === 4 ? 'IPv4' : 'IPv6';
      if (family === 'IPv4') out.add(info.address);
      else if (wildcard === '::') out.add(isLinkLocalV6(info.address) ? `${info.address}%${name}` : info.address);
    }
  }
  return [...out].sort();
}

export function isWildcard(address: string): address is '0.0.0.0' | '::' {
  return address === '0.0.0.0' || address === '::';
}

/** One bound socket, as the set sees it. */
export interface UdpBinding {
  close(): Promise<void>;
}

export interface UdpBindingSetOptions {
  readonly wildcard: '0.0.0.0' | '::';
  readonly port: number;
  /** Bind one socket on address:port; rejects with the bind error. */
  readonly bind: (address: string, port: number) => Promise<UdpBinding>;
  /** The host's interfaces, `os.networkInterfaces` in production. */
  readonly interfaces: () => NodeJS.Dict<NetworkInterfaceInfo[]>;
  readonly onAdded?: ((address: string) => void) | undefined;
  readonly onRemoved?: ((address: string) => void) | undefined;
  readonly onBindFailed?: ((address: string, err: Error) => void) | undefined;
}

export class UdpBindingSet {
  private readonly bound = new Map<string, UdpBinding>();
  /** Addresses whose bind failed, so the failure is reported once until it binds or disappears. */
  private readonly failed = new Set<string>();
  private closed = false;
  private scanning: Promise<void> | undefined;
  private rescanAgain = false;
  bindFailures = 0;
  rescans = 0;

  constructor(private readonly opts: UdpBindingSetOptions) {}

  /** Addresses with a bound socket, sorted. */
  addresses(): string[] {
    return [...this.bound.keys()].sort();
  }

  /**
   * Bind the current addresses. With `strict`, the first failure rejects (and what was bound stays
   * for close()), so start-up can retry on another port or fail loudly.
   */
  async start(strict: boolean): Promise<void> {
    const wanted = wildcardAddresses(this.opts.wildcard, this.opts.interfaces());
    if (wanted.length === 0) throw new Error(`no local address to bind for ${this.opts.wildcard}`);
    for (const address of wanted) {
      try {
        await this.bindOne(address);
      } catch (err) {
        if (strict) throw err;
      }
    }
  }

  /** Bring the bound set in line with the interfaces. Overlapping calls coalesce into one more. */
  rescan(): Promise<void> {
    if (this.scanning) {
      this.rescanAgain = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      do {
        this.rescanAgain = false;
        await this.scanOnce();
      } while (this.rescanAgain && !this.closed);
    })().finally(() => {
      this.scanning = undefined;
    });
    return this.scanning;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.scanning?.catch(() => undefined);
    const all = [...this.bound.values()];
    this.bound.clear();
    await Promise.all(all.map((b) => b.close()));
  }

  private async scanOnce(): Promise<void> {
    if (this.closed) return;
    this.rescans++;
    const wanted = new Set(wildcardAddresses(this.opts.wildcard, this.opts.interfaces()));
    for (const address of [...this.failed]) if (!wanted.has(address)) this.failed.delete(address);
    for (const [address, binding] of [...this.bound]) {
      if (wanted.has(address)) continue;
      this.bound.delete(address);
      await binding.close();
      this.opts.onRemoved?.(address);
    }
    for (const address of wanted) {
      if (this.closed) return;
      if (this.bound.has(address)) continue;
      await this.bindOne(address).catch(() => undefined);
    }
  }

  private async bindOne(address: string): Promise<void> {
    try {
      const binding = await this.opts.bind(address, this.opts.port);
      if (this.closed) {
        await binding.close();
        return;
      }
      this.bound.set(address, binding);
      this.failed.delete(address);
      this.opts.onAdded?.(address);
    } catch (err) {
      this.bindFailures++;
      if (!this.failed.has(address)) {
        this.failed.add(address);
        this.opts.onBindFailed?.(address, err as Error);
      }
      throw err;
    }
  }
}
