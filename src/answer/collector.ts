/**
 * The address collector of the answer core (PURE).
 *
 * Owns: `Collector`, the ordered, deduplicated, capped list of answer addresses of the asked
 * families, and the clusters that contributed them.
 * Invariants: insertion order is kept (it is the locality order); an address appears once; a list
 * never grows past `cap` per family or `budget` in total, so what a question costs is bounded by its
 * answer; `cut` is set whenever an address of an asked family was left out.
 */
import { F_A, F_AAAA, isIPv6 } from './families.js';
import type { Target } from './types.js';

/** Addresses of the asked families; at most `cap` per family and `budget` (the records the reply can hold) in total. */
export class Collector {
  readonly v4: Target[] = [];
  readonly v6: Target[] = [];
  readonly clusters: string[] = [];
  /** Some address of an asked family was left out by the cap or the budget. */
  cut = false;
  private seen: Set<string> | undefined;

  constructor(
    private readonly fam: number,
    private readonly cap: number,
    private readonly budget: number,
  ) {}

  /** The record budget is spent: feeding more addresses is wasted work. */
  get full(): boolean {
    return this.v4.length + this.v6.length >= this.budget;
  }

  add(address: string, port: number, cluster: string | undefined): void {
    const six = isIPv6(address);
    if ((this.fam & (six ? F_AAAA : F_A)) === 0) return;
    const list = six ? this.v6 : this.v4;
    if (this.has(address)) return;
    if (list.length >= this.cap || this.full) {
      this.cut = true;
      return;
    }
    list.push({ address, port, cluster });
    if (this.seen !== undefined) this.seen.add(address);
    if (cluster !== undefined && !this.clusters.includes(cluster)) this.clusters.push(cluster);
  }

  /**
   * Take the leading addresses of a list that holds distinct addresses of one family (a headless
   * service's precomputed ready addresses), up to the cap and the budget: O(what is taken), with no
   * duplicate checks. Only for a family this collector holds nothing of yet.
   */
  takeDistinct(addresses: readonly string[], six: boolean, port: number): void {
    if ((this.fam & (six ? F_AAAA : F_A)) === 0 || addresses.length === 0) return;
    const list = six ? this.v6 : this.v4;
    const room = Math.min(this.cap - list.length, this.budget - this.v4.length - this.v6.length);
    const n = Math.max(0, Math.min(addresses.length, room));
    for (let i = 0; i < n; i++) list.push({ address: addresses[i]!, port });
    if (n < addresses.length) this.cut = true;
    this.seen = undefined; // rebuilt from the lists if add() is ever called afterwards
  }

  private has(address: string): boolean {
    if (this.seen !== undefined) return this.seen.has(address);
    const n = this.v4.length + this.v6.length;
    if (n < 16) {
      for (const t of this.v4) if (t.address === address) return true;
      for (const t of this.v6) if (t.address === address) return true;
      return false;
    }
    // Large headless services: switch to a set once, instead of quadratic scans.
    this.seen = new Set();
    for (const t of this.v4) this.seen.add(t.address);
    for (const t of this.v6) this.seen.add(t.address);
    return this.seen.has(address);
  }
}
