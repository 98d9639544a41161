/**
 * What `select` decides for a known service (PURE, types only): the addresses to send, their TTL
 * and order, read by the record builders (records.ts) and the answer functions (services.ts).
 *
 * Owns: the `Pick` shape. Invariants: `out` is in the order sent; `order` is set only when the
 * order is drawn per query, and then `out` is `arrange(order.plan, draw)` of `order.canonical`.
 */
import type { Collector } from './collector.js';
import type { OrderPlan } from './order.js';

export interface Pick {
  readonly kind: 'local' | 'remote' | 'degraded';
  readonly ttl: number;
  /** What is sent, in the order drawn for this query. */
  readonly out: Collector;
  /** ECS scope of a positive answer (RFC 7871 §7.1.1). */
  readonly ecs: number;
  /** An order drawn per query: the canonical candidates and their plan (order.ts). */
  readonly order?: { readonly plan: OrderPlan; readonly canonical: Collector } | undefined;
  /** Chosen by the dns.localShare split. */
  readonly split?: boolean | undefined;
  /** The cluster sent first (undefined: the local service). */
  readonly chosen?: string | undefined;
  /**
   * SRV priority and weight of each remote cluster in `out` (issue 16): priority is the rank of its
   * locality tier among the kept clusters (0 for the best), weight its weight (RFC 2782).
   */
  readonly srv?: ReadonlyMap<string, { readonly priority: number; readonly weight: number }> | undefined;
}
