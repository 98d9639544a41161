/**
 * Test helper: a tiny fixed zone `test.global` implemented against the DnsHandler contract, for
 * exercising the DNS edge without the answer core.
 *
 *   a.test.global            A 10.0.0.1 (AAAA: NODATA)
 *   a.b.test.global          A 10.0.0.2 (the two-label name that a label "a.b" must NOT hit, D8)
 *   big.test.global          100 × A 10.1.0.x (too big for 512/1232 octets of UDP)
 *   ecs.test.global          A 10.0.0.3, scope /24 (the answer "depends on" the client subnet)
 *   _http._tcp.svc.test.global SRV 0 0 8080 svc.test.global, glue A in additional
 *   svc.test.global          A 10.0.0.4
 *   slow.test.global         A 10.0.0.5 after `slowMs` (async; for in-flight limits)
 *   throw.test.global        the handler throws synchronously
 *   reject.test.global       the handler returns a rejected promise
 *   badrecord.test.global    the handler returns a record the encoder must refuse
 *   test.global              SOA / NS apex
 *   anything else in zone    NXDOMAIN + SOA;  outside the zone: REFUSED
 */
import type { Decision, DecisionKind, ResourceRecord } from '../../src/answer/types.js';
import { Rcode, RRType } from '../../src/answer/types.js';
import type { DnsHandler, DnsRequest } from '../../src/wire/types.js';
import type { ExecutionContext } from 'ava';
import { createDnsServer, type DnsServer, type DnsServerLimits, type EdgeLogger } from '../../src/dns/server.js';

export const ZONE = 'test.global';
export const SOA: ResourceRecord = {
  name: ZONE,
  ttl: 5,
  data: { type: 6, mname: `ns.${ZONE}`, rname: `hostmaster.${ZONE}`, serial: 42, refresh: 60, retry: 30, expire: 600, minimum: 5 },
};

function a(name: string, address: string, ttl = 5): ResourceRecord {
  return { name, ttl, data: { type: 1, address } };
}

function decision(
  kind: DecisionKind,
  rcode: number,
  parts: Partial<Pick<Decision, 'answers' | 'authority' | 'additional' | 'ecsScopePrefix'>> = {},
): Decision {
  return {
    kind,
    rcode,
    authoritative: kind !== 'outOfZone',
    answers: parts.answers ?? [],
    authority: parts.authority ?? [],
    additional: parts.additional ?? [],
    clusters: [],
    ecsScopePrefix: parts.ecsScopePrefix ?? 0,
    explanation: { shape: 'test', client: {}, candidates: [], steps: [] },
    order: undefined,
    split: false,
    chosen: undefined,
  };
}

export interface FakeZone {
  readonly handler: DnsHandler;
  /** Every request the handler saw, in order. */
  readonly calls: DnsRequest[];
  /** Async calls not yet settled. */
  readonly pending: () => number;
}

export interface FakeZoneOptions {
  /** Delay of slow.test.global, in ms. Default 20. */
  readonly slowMs?: number;
}

export function createFakeZone(options: FakeZoneOptions = {}): FakeZone {
  const calls: DnsRequest[] = [];
  let pending = 0;
  const slowMs = options.slowMs ?? 20;
  const big = Array.from({ length: 100 }, (_, i) => a(`big.${ZONE}`, `10.1.0.${i + 1}`));

  const answer = (req: DnsRequest): Decision => {
    const { name, type } = req.question;
    const nodata = (): Decision => decision('nodata', Rcode.NOERROR, { authority: [SOA] });
    const onlyA = (records: ResourceRecord[], extra: Partial<Decision> = {}): Decision =>
      type === RRType.A || type === RRType.ANY ? decision('local', Rcode.NOERROR, { answers: records, ...extra }) : nodata();
    switch (name) {
      case `a.${ZONE}`:
        return onlyA([a(name, '10.0.0.1')]);
      case `a.b.${ZONE}`:
        return onlyA([a(name, '10.0.0.2')]);
      case `big.${ZONE}`:
        return onlyA(big);
      case `ecs.${ZONE}`:
        return onlyA([a(name, '10.0.0.3')], { ecsScopePrefix: req.edns?.ecs ? 24 : 0 });
      case `svc.${ZONE}`:
        return onlyA([a(name, '10.0.0.4')]);
      case `_http._tcp.svc.${ZONE}`:
        if (type !== RRType.SRV) return nodata();
        return decision('local', Rcode.NOERROR, {
          answers: [{ name, ttl: 5, data: { type: 33, priority: 0, weight: 0, port: 8080, target: `svc.${ZONE}` } }],
          additional: [a(`svc.${ZONE}`, '10.0.0.4')],
        });
      case ZONE:
        if (type === RRType.SOA) return decision('apex', Rcode.NOERROR, { answers: [SOA] });
        if (type === RRType.NS)
          return decision('apex', Rcode.NOERROR, {
            answers: [{ name: ZONE, ttl: 5, data: { type: 2, host: `ns.${ZONE}` } }],
            additional: [a(`ns.${ZONE}`, '127.0.0.1')],
          });
        return nodata();
      case `badrecord.${ZONE}`:
        return decision('local', Rcode.NOERROR, { answers: [a(name, 'not-an-address')] });
      default:
        if (name === ZONE || name.endsWith(`.${ZONE}`)) return decision('nxdomain', Rcode.NXDOMAIN, { authority: [SOA] });
        return decision('outOfZone', Rcode.REFUSED);
    }
  };

  const handler: DnsHandler = (req) => {
    calls.push(req);
    const name = req.question.name;
    if (name === `throw.${ZONE}`) throw new Error('fake handler: synchronous failure');
    if (name === `reject.${ZONE}`) return Promise.reject(new Error('fake handler: asynchronous failure'));
    if (name === `slow.${ZONE}`) {
      pending++;
      return new Promise((resolve) =>
        setTimeout(() => {
          pending--;
          resolve(decision('local', Rcode.NOERROR, { answers: [a(name, '10.0.0.5')] }));
        }, slowMs),
      );
    }
    return answer(req);
  };

  return { handler, calls, pending: () => pending };
}

/** A hand-written logger that keeps every line, for asserting "exactly one log line". */
export interface LogLine {
  readonly level: 'debug' | 'warn' | 'error';
  readonly msg: string;
  readonly obj: object;
}

export function memoryLogger(): EdgeLogger & { readonly lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    debug: (obj, msg) => void lines.push({ level: 'debug', msg, obj }),
    warn: (obj, msg) => void lines.push({ level: 'warn', msg, obj }),
    error: (obj, msg) => void lines.push({ level: 'error', msg, obj }),
  };
}

export interface Edge {
  readonly server: DnsServer;
  readonly port: number;
  readonly zone: FakeZone;
  readonly log: ReturnType<typeof memoryLogger>;
}

/** Start the edge with the fake zone on 127.0.0.1 port 0; closed in t.teardown. */
export async function startEdge(
  t: ExecutionContext,
  opts: { limits?: Partial<DnsServerLimits>; ecsEnabled?: boolean; zone?: FakeZoneOptions; address?: string } = {},
): Promise<Edge> {
  const zone = createFakeZone(opts.zone);
  const log = memoryLogger();
  const server = createDnsServer({
    listen: [{ address: opts.address ?? '127.0.0.1', port: 0 }],
    handler: zone.handler,
    logger: log,
    limits: opts.limits,
    ecsEnabled: opts.ecsEnabled,
  });
  t.teardown(() => server.close());
  const [bound] = await server.start();
  return { server, port: bound!.port, zone, log };
}
