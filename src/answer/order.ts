/**
 * The order of an answer's addresses from query to query (PURE; SPEC §6 "Order of addresses",
 * issue 16).
 *
 * Owns: the draws a query carries (`Draw`, and `Draws`, the sequence that makes them), the plan an
 * answer leaves for its order (`OrderPlan`: which records belong to which cluster, which clusters
 * are of equal rank, and the weights), and `arrange`, the one function that turns a plan and a draw
 * into the order sent. The full path (route.ts, on a decision) and the answer cache (on encoded
 * records) both call `arrange`, so a cached reply is ordered exactly as the full path would order it.
 *
 * How a plan is arranged:
 * - groups are the clusters of a remote answer in rank order (a local answer is one group);
 *   classes are runs of groups of equal rank;
 * - mode `rotate`: in each class the first group is drawn uniformly and the class follows it
 *   cyclically; mode `weighted`: the first group is drawn in proportion to its weight over every
 *   group, and the others follow in rank order;
 * - within a group, its addresses of each family rotate by a second, independent draw;
 * - at most `cap` records per family and `total` in all are sent, A before AAAA (records.ts).
 *
 * The draws are Weyl sequences (n·α mod 1 for irrational α): every subsequence of queries taken at a
 * fixed stride is equidistributed too, so two names asked in turn still each rotate evenly, with
 * no per-name counter, and the three streams are independent (1, α1, α2, α3 are rationally
 * independent).
 * Never: allocates per call (the orders are written into scratch arrays it owns and returns views
 * of); a draw of 0 everywhere is the canonical order, which `dns.rotate: false` sends always.
 */

/** What one query draws (each in [0, 1)). */
export interface Draw {
  /** The first group: a uniform rotation, or a weighted pick. */
  readonly first: number;
  /** The rotation of the addresses within each group. */
  readonly within: number;
  /** The local share split (dns.localShare). */
  readonly share: number;
}

/** The draw of `dns.rotate: false`: the canonical order, and the local share's first bucket. */
export const NO_DRAW: Draw = Object.freeze({ first: 0, within: 0, share: 0 });

const ALPHA_FIRST = (Math.sqrt(5) - 1) / 2; // golden ratio conjugate
const ALPHA_WITHIN = Math.SQRT2 - 1;
const ALPHA_SHARE = Math.sqrt(3) - 1;

/** The sequence of draws, one step per query: three additions. */
export class Draws implements Draw {
  first = 0;
  within = 0;
  share = 0;

  next(): void {
    this.first = frac(this.first + ALPHA_FIRST);
    this.within = frac(this.within + ALPHA_WITHIN);
    this.share = frac(this.share + ALPHA_SHARE);
  }
}

function frac(x: number): number {
  return x >= 1 ? x - 1 : x;
}

/** One cluster's records in the canonical answer (its indices in the A list and in the AAAA list). */
export interface OrderGroup {
  /** The cluster (undefined: the local service). */
  readonly cluster: string | undefined;
  /** Its weight under mode `weighted` (> 0; 0-weight clusters never share a plan with others). */
  readonly weight: number;
  readonly v4Start: number;
  readonly v4Count: number;
  readonly v6Start: number;
  readonly v6Count: number;
}

export interface OrderPlan {
  readonly mode: 'rotate' | 'weighted';
  readonly groups: readonly OrderGroup[];
  /** Sizes of the runs of groups of equal rank, in order; they sum to groups.length. */
  readonly classes: readonly number[];
  /** Most records per family sent (dns.maxAnswers of a remote answer). */
  readonly cap: number;
  /** Most records sent in all (the reply's budget, dns.maxLocalAnswers). */
  readonly total: number;
}

/** The arranged order: indices into the canonical A and AAAA lists, valid until the next call. */
export interface Arranged {
  readonly v4: Uint32Array;
  readonly v4Count: number;
  readonly v6: Uint32Array;
  readonly v6Count: number;
  /** The group sent first (its cluster is the metric's "chosen cluster"). */
  readonly firstGroup: number;
}

let groupOrder = new Uint32Array(64);
let v4Out = new Uint32Array(64);
let v6Out = new Uint32Array(64);
const result = { v4: v4Out, v4Count: 0, v6: v6Out, v6Count: 0, firstGroup: 0 };

/** The group order of `plan` for the draw `first` (written into groupOrder). */
function orderGroups(plan: OrderPlan, first: number): void {
  const groups = plan.groups;
  const n = groups.length;
  if (groupOrder.length < n) groupOrder = new Uint32Array(n * 2);
  if (plan.mode === 'weighted') {
    let total = 0;
    for (const g of groups) total += g.weight;
    let chosen = 0;
    if (total > 0) {
      const x = first * total;
      let acc = 0;
      for (let i = 0; i < n; i++) {
        acc += groups[i]!.weight;
        if (x < acc) {
          chosen = i;
          break;
        }
        chosen = i; // rounding: the last group with weight
      }
    }
    groupOrder[0] = chosen;
    let k = 1;
    for (let i = 0; i < n; i++) if (i !== chosen) groupOrder[k++] = i;
    return;
  }
  // rotate: each class from a drawn start, cyclically; later classes take the draw's remainder.
  let u = first;
  let base = 0;
  for (const size of plan.classes) {
    const x = u * size;
    const start = Math.min(size - 1, Math.floor(x));
    u = x - start;
    for (let j = 0; j < size; j++) groupOrder[base + j] = base + ((start + j) % size);
    base += size;
  }
}

/** Arrange `plan` for `draw`. */
export function arrange(plan: OrderPlan, draw: Draw): Arranged {
  orderGroups(plan, draw.first);
  const groups = plan.groups;
  let budget = plan.total;
  let n4 = 0;
  let n6 = 0;
  let need4 = 0;
  let need6 = 0;
  for (const g of groups) {
    need4 += g.v4Count;
    need6 += g.v6Count;
  }
  if (v4Out.length < need4) v4Out = result.v4 = new Uint32Array(need4 * 2);
  if (v6Out.length < need6) v6Out = result.v6 = new Uint32Array(need6 * 2);
  const cap4 = Math.min(plan.cap, budget);
  for (let i = 0; i < groups.length && n4 < cap4; i++) {
    const g = groups[groupOrder[i]!]!;
    const off = Math.floor(draw.within * g.v4Count);
    for (let j = 0; j < g.v4Count && n4 < cap4; j++) v4Out[n4++] = g.v4Start + ((off + j) % g.v4Count);
  }
  budget -= n4;
  const cap6 = Math.min(plan.cap, budget);
  for (let i = 0; i < groups.length && n6 < cap6; i++) {
    const g = groups[groupOrder[i]!]!;
    const off = Math.floor(draw.within * g.v6Count);
    for (let j = 0; j < g.v6Count && n6 < cap6; j++) v6Out[n6++] = g.v6Start + ((off + j) % g.v6Count);
  }
  result.v4Count = n4;
  result.v6Count = n6;
  result.firstGroup = groupOrder[0] ?? 0;
  return result;
}

/** The plan leaves the order as it is for this draw (a single record per family, or nothing to draw). */
export function fixedOrder(plan: OrderPlan): boolean {
  for (const g of plan.groups) if (g.v4Count > 1 || g.v6Count > 1) return false;
  return plan.groups.length <= 1;
}
