/**
 * The worker's reply format for decoded catalogs (PURE): changed services packed into a few typed
 * arrays that move (not copy) back to the DNS thread (catalog-worker.ts; catalog-decoder.ts's
 * packResult and resultBuffers apply it to a decoded result).
 *
 * Owns: packServices / unpackServices and the policy codes of a packed service.
 * Never: does I/O or keeps state between calls; changes what a result says (a packed result
 * unpacks to the services it was packed from, in order).
 * Invariants: `unpackServices(packServices(s))` deep-equals `s`, with a policy or weight present
 * exactly when it was; each distinct port list is stored once; keys are UTF-8, and `ends` are
 * octet offsets into them.
 */
import type { RemoteService, ServicePort, TrafficPolicy } from '../registry/types.js';

/**
 * Services as a few arrays instead of an object (and its strings and port list) each: what the
 * worker sends back, so that the DNS thread does not rebuild 10,000 objects per full catalog only
 * to find most of them already held (intern.ts) and drop them (about 4 MB of garbage a catalog:
 * bench:sync's initial sync of 50 catalogs grew the heap by some 130 MB before a GC gave it back).
 */
export interface PackedServices {
  /** UTF-8: each service's `namespace/name`, back to back. */
  readonly keys: Uint8Array;
  /** Per service: where its key ends in `keys`. */
  readonly ends: Int32Array;
  /** Per service: the length of its namespace (in UTF-16 code units: where the '/' is in the decoded key). */
  readonly slash: Int32Array;
  /** Per service: 1 ready, 0 not. */
  readonly ready: Uint8Array;
  /** Per service: its port list, as an index into `portLists`. */
  readonly ports: Int32Array;
  /** The distinct port lists. */
  readonly portLists: readonly (readonly ServicePort[])[];
  /** Per service: its own policy as an index into POLICY_CODES (0: none, the catalog's applies). */
  readonly policy: Uint8Array;
  /** Per service: its own weight, or -1 for none (the catalog's applies). */
  readonly weight: Int16Array;
}

/** A packed service's policy: index 0 is "none". */
export const POLICY_CODES: readonly (TrafficPolicy | undefined)[] = [undefined, 'failover', 'spread', 'weighted'];

function policyCode(p: TrafficPolicy | undefined): number {
  return p === undefined ? 0 : POLICY_CODES.indexOf(p);
}

const utf8 = new TextEncoder();

export function packServices(services: readonly RemoteService[]): PackedServices {
  const n = services.length;
  const names = new Array<string>(n);
  const ends = new Int32Array(n);
  const slash = new Int32Array(n);
  const ready = new Uint8Array(n);
  const ports = new Int32Array(n);
  const policy = new Uint8Array(n);
  const weight = new Int16Array(n);
  const portLists: (readonly ServicePort[])[] = [];
  const listIndex = new Map<string, number>();
  let chars = 0;
  for (let i = 0; i < n; i++) {
    const s = services[i]!;
    const name = s.namespace + '/' + s.name;
    names[i] = name;
    chars += name.length;
    ends[i] = chars;
    slash[i] = s.namespace.length;
    ready[i] = s.ready ? 1 : 0;
    policy[i] = policyCode(s.policy);
    weight[i] = s.weight ?? -1;
    let sig = '';
    for (const p of s.ports) sig += p.name + ':' + p.port + '/' + p.protocol + '|';
    let at = listIndex.get(sig);
    if (at === undefined) {
      at = portLists.push(s.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol }))) - 1;
      listIndex.set(sig, at);
    }
    ports[i] = at;
  }
  // One encoding of them all; names are DNS labels (ASCII), where octet offsets are character offsets.
  let keys = utf8.encode(names.join(''));
  if (keys.length !== chars) {
    const parts = names.map((name) => utf8.encode(name));
    keys = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
    for (let i = 0, at = 0; i < n; i++) {
      keys.set(parts[i]!, at);
      at += parts[i]!.length;
      ends[i] = at;
    }
  }
  return { keys, ends, slash, ready, ports, portLists, policy, weight };
}

const utf8Decoder = new TextDecoder();

/** Packed services back as objects (tests, and callers without an interner). */
export function unpackServices(p: PackedServices): RemoteService[] {
  const out: RemoteService[] = [];
  for (let i = 0, at = 0; i < p.ends.length; i++) {
    const key = utf8Decoder.decode(p.keys.subarray(at, p.ends[i]));
    at = p.ends[i]!;
    const policy = POLICY_CODES[p.policy[i]!];
    const weight = p.weight[i]!;
    out.push({
      namespace: key.slice(0, p.slash[i]),
      name: key.slice(p.slash[i]! + 1),
      ready: p.ready[i] === 1,
      ports: p.portLists[p.ports[i]!]!.map((x) => ({ ...x })),
      ...(policy === undefined ? {} : { policy }),
      ...(weight < 0 ? {} : { weight }),
    });
  }
  return out;
}
