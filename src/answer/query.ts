/**
 * Per-question state of the answer core (PURE).
 *
 * Owns: `Query`, what one question carries through the answer (context, normalized name, type,
 * zone, trace, record budget) and the one place a Decision is assembled (`done`, `negative`).
 * Must never: decide anything; the answer functions decide, the Query only records and assembles.
 * Invariants: AA is set on every answer from our zones and on CHAOS answers, never on SERVFAIL,
 * REFUSED or out-of-zone; every negative answer carries the zone's SOA (RFC 2308 §3).
 */
import { bareExplanation, type Trace } from './explain.js';
import { soaRecord } from './records.js';
import {
  Rcode,
  type AnswerContext,
  type AnswerOptions,
  type ClientLocality,
  type Decision,
  type DecisionExtras,
  type DecisionKind,
  type ResourceRecord,
} from './types.js';

export const NO_RECORDS: readonly ResourceRecord[] = Object.freeze([]);
export const NO_CLUSTERS: readonly string[] = Object.freeze([]);

/** A usable record budget: a positive integer, or Infinity when absent or nonsensical. */
export function budgetOf(maxRecords: number | undefined): number {
  return maxRecords !== undefined && maxRecords >= 1 ? Math.floor(maxRecords) : Infinity;
}

export class Query {
  shape = 'other';
  /** The answer keeps the canonical order whatever the draw (SRV: its order is in priority and weight). */
  fixedOrder = false;
  namespace: string | undefined;
  service: string | undefined;

  constructor(
    readonly ctx: AnswerContext,
    readonly name: string,
    readonly type: number,
    readonly zone: string | undefined,
    readonly tr: Trace | undefined,
    /** Most address records to collect (AnswerFlags.maxRecords). */
    readonly budget: number,
  ) {}

  get o(): AnswerOptions {
    return this.ctx.options;
  }

  get client(): ClientLocality {
    return this.ctx.client;
  }

  done(
    kind: DecisionKind,
    rcode: number,
    answers: readonly ResourceRecord[],
    authority: readonly ResourceRecord[],
    additional: readonly ResourceRecord[],
    clusters: readonly string[],
    ecsScopePrefix: number,
    extras?: DecisionExtras,
  ): Decision {
    // The Query itself carries the ExplanationBase fields (zone, namespace, service, shape, client).
    return {
      kind,
      rcode,
      // AA=1 on every answer from our zones, NXDOMAIN/NODATA included (RFC 1035 §4.1.1), and on
      // CHAOS answers (as BIND). A SERVFAIL or a REFUSED is not an answer, out-of-zone names not ours.
      authoritative: kind !== 'outOfZone' && kind !== 'notReady' && kind !== 'refused',
      answers,
      authority,
      additional,
      clusters,
      ecsScopePrefix,
      explanation: this.tr === undefined ? bareExplanation(this) : this.tr.build(this),
      order: extras?.order,
      split: extras?.split === true,
      chosen: extras?.chosen,
    };
  }

  /** An empty answer of this kind and rcode: no records, no clusters, no ECS scope. */
  empty(kind: DecisionKind, rcode: number): Decision {
    return this.done(kind, rcode, NO_RECORDS, NO_RECORDS, NO_RECORDS, NO_CLUSTERS, 0);
  }

  /** NXDOMAIN or NODATA with the zone's SOA in authority (RFC 2308 §3, §2.2). */
  negative(kind: 'nxdomain' | 'nodata', ecsScopePrefix = 0): Decision {
    const rcode = kind === 'nxdomain' ? Rcode.NXDOMAIN : Rcode.NOERROR;
    // RFC 2308 §3: the SOA's TTL is min(SOA TTL, MINIMUM); we set both to negativeTtl.
    const soa = soaRecord(this, this.o.negativeTtlSeconds);
    return this.done(kind, rcode, NO_RECORDS, [soa], NO_RECORDS, NO_CLUSTERS, ecsScopePrefix);
  }
}
