/**
 * Readiness aggregation (no I/O).
 *
 * Owns: the set of components that must be ready before gsdns serves in-zone answers and passes
 * `/readyz` (SPEC §5), plus non-fatal warnings that show in `/readyz` detail without failing it.
 * Invariants: ready() is true iff every registered component is ready and shutdown has not begun;
 * a component's latest report replaces its previous one.
 */

export interface ComponentStatus {
  readonly ready: boolean;
  /** Why not ready, or a warning while ready (e.g. "catalog edit rejected; serving last good"). */
  readonly detail?: string | undefined;
  /** Unix ms of this report (passed in by the caller). */
  readonly sinceMs?: number | undefined;
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly shuttingDown: boolean;
  readonly components: Readonly<Record<string, ComponentStatus>>;
  readonly reasons: readonly string[];
}

/** What sources and servers use to report; the answer path reads `sourceReady()`. */
export class Readiness {
  private readonly components = new Map<string, ComponentStatus>();
  private readonly listeners = new Set<(component: string) => void>();
  private stopping = false;

  set(component: string, status: ComponentStatus): void {
    const was = this.components.get(component)?.ready;
    this.components.set(component, status);
    if (was !== status.ready) for (const listener of this.listeners) listener(component);
  }

  /** Call `listener` when a component turns ready or not ready (answers depend on the source's). */
  onChange(listener: (component: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Begin shutdown: not ready from now on. */
  beginShutdown(): void {
    this.stopping = true;
  }

  isReady(component: string): boolean {
    return this.components.get(component)?.ready === true;
  }

  report(): ReadinessReport {
    const reasons: string[] = [];
    if (this.stopping) reasons.push('shutting down');
    for (const [name, s] of this.components) {
      if (!s.ready) reasons.push(`${name}: ${s.detail ?? 'not ready'}`);
    }
    return {
      ready: reasons.length === 0 && this.components.size > 0,
      shuttingDown: this.stopping,
      components: Object.fromEntries(this.components),
      reasons: this.components.size === 0 ? ['no components registered'] : reasons,
    };
  }
}
