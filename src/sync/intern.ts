/**
 * One object per distinct remote service across every peer's catalog (PURE).
 *
 * Why: a service deployed to every cluster arrives once per peer, each copy decoded into its own
 * object, strings and port list (about 480 octets of heap per remote service; bench:sync's 50 peers
 * × 10,000 services held 230 MB). Catalogs are immutable once decoded, so every peer's copy of an
 * equal service can be the same object, and equal port lists the same array.
 * Owns: the table of distinct services (by namespace/name, then content) and of distinct port
 * lists, and how many places in the held catalogs use each, so that an entry leaves when the last
 * catalog that held it lets it go.
 * Never: returns a service that differs from the one asked for (an interned service is equal to it
 * field by field: namespace, name, ready, ports in order, policy and weight), or mutates what it is given. A miscount
 * by a caller costs sharing or memory, never an answer: `release` of an object the table does not
 * hold is ignored.
 * Invariants: every service and port list it returns is frozen; `intern` adds one use, `release`
 * takes one away; an entry with no use left is dropped (its port list too, when no
 * other entry uses it).
 */
import type { RemoteService, ServicePort, TrafficPolicy } from '../registry/types.js';
import { POLICY_CODES, type PackedServices } from './catalog-pack.js';

const utf8 = new TextDecoder();

interface ServiceEntry {
  readonly service: RemoteService;
  uses: number;
  /** The next variant of the same namespace/name (another readiness, port list, policy or weight), if any. */
  next: ServiceEntry | undefined;
}

interface PortsEntry {
  readonly ports: readonly ServicePort[];
  /** Service entries holding this list. */
  uses: number;
}

const NO_PORTS: readonly ServicePort[] = Object.freeze([]);

function samePorts(a: readonly ServicePort[], b: readonly ServicePort[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.port !== y.port || x.name !== y.name || x.protocol !== y.protocol) return false;
  }
  return true;
}

/**
 * A flat string: `+` of long strings makes a tree of cons strings, which a Map would keep as its
 * key; join copies the parts into one sequential string.
 */
function flat(...parts: string[]): string {
  return parts.join('');
}

function portsKey(ports: readonly ServicePort[]): string {
  const parts: string[] = [];
  for (const p of ports) parts.push(p.name, ':', String(p.port), '/', p.protocol, '|');
  return parts.join('');
}

export class ServiceInterner {
  /** Variants by `namespace/name` (labels cannot hold '/'). */
  private readonly services = new Map<string, ServiceEntry>();
  private readonly portLists = new Map<string, PortsEntry>();
  private count = 0;

  /** Distinct services held (for tests and /debug). */
  get size(): number {
    return this.count;
  }

  /** Distinct port lists held. */
  get portListCount(): number {
    return this.portLists.size;
  }

  /** The shared object equal to `s`, with one more use. */
  intern(s: RemoteService): RemoteService {
    return this.internKeyed(flat(s.namespace, '/', s.name), s.namespace.length, s.ready, s.ports, s.policy, s.weight);
  }

  /**
   * The shared objects equal to packed services (catalog-pack.ts packServices), one more use
   * each, in order. Only a key string per service is made to look it up; a service held already
   * costs nothing more.
   */
  internPacked(p: PackedServices): RemoteService[] {
    const out = new Array<RemoteService>(p.ends.length);
    for (let i = 0, at = 0; i < out.length; i++) {
      const end = p.ends[i]!;
      const weight = p.weight[i]!;
      out[i] = this.internKeyed(
        utf8.decode(p.keys.subarray(at, end)),
        p.slash[i]!,
        p.ready[i] === 1,
        p.portLists[p.ports[i]!]!,
        POLICY_CODES[p.policy[i]!],
        weight < 0 ? undefined : weight,
      );
      at = end;
    }
    return out;
  }

  /** `key` is `namespace/name`, its namespace `slash` code units long. */
  private internKeyed(
    key: string,
    slash: number,
    ready: boolean,
    ports: readonly ServicePort[],
    policy: TrafficPolicy | undefined,
    weight: number | undefined,
  ): RemoteService {
    const head = this.services.get(key);
    for (let e = head; e !== undefined; e = e.next) {
      // Policy and weight are part of a service's identity: two clusters' copies that differ only in
      // weight are two variants, or one cluster would be answered with the other's weight.
      const held = e.service;
      if (held.ready === ready && held.policy === policy && held.weight === weight && samePorts(held.ports, ports)) {
        e.uses++;
        return e.service;
      }
    }
    // A new variant: its strings are the first variant's (one copy of each name), its port list shared.
    const first = head?.service;
    const service: RemoteService = Object.freeze({
      namespace: first?.namespace ?? key.slice(0, slash),
      name: first?.name ?? key.slice(slash + 1),
      ready,
      ports: this.internPorts(ports),
      ...(policy === undefined ? {} : { policy }),
      ...(weight === undefined ? {} : { weight }),
    });
    // On a known key the map keeps the string it holds.
    this.services.set(key, { service, uses: 1, next: head });
    this.count++;
    return service;
  }

  /** One use of `s` less; dropped with its last use. A service this table does not hold is ignored. */
  release(s: RemoteService): void {
    const key = flat(s.namespace, '/', s.name);
    let prev: ServiceEntry | undefined;
    for (let e = this.services.get(key); e !== undefined; prev = e, e = e.next) {
      if (e.service !== s) continue;
      if (--e.uses > 0) return;
      if (prev !== undefined) prev.next = e.next;
      else if (e.next !== undefined) this.services.set(key, e.next);
      else this.services.delete(key);
      this.count--;
      this.releasePorts(e.service.ports);
      return;
    }
  }

  private internPorts(ports: readonly ServicePort[]): readonly ServicePort[] {
    if (ports.length === 0) return NO_PORTS;
    const key = portsKey(ports);
    const e = this.portLists.get(key);
    if (e !== undefined) {
      e.uses++;
      return e.ports;
    }
    const copy = Object.freeze(ports.map((p) => Object.freeze({ name: p.name, port: p.port, protocol: p.protocol })));
    this.portLists.set(key, { ports: copy, uses: 1 });
    return copy;
  }

  private releasePorts(ports: readonly ServicePort[]): void {
    if (ports.length === 0) return;
    const key = portsKey(ports);
    const e = this.portLists.get(key);
    if (e === undefined || e.ports !== ports) return;
    if (--e.uses <= 0) this.portLists.delete(key);
  }
}
