/**
 * The Kubernetes source's view of Services and EndpointSlices, and the registry writes it implies
 * (PURE).
 *
 * Owns: the slim records by key, the slice → service index, export selection, and turning each
 * change into the minimal registry writes (O(changed): only the services a change touches are
 * rebuilt).
 * Never: does I/O, holds Kubernetes objects, or writes a service twice for one unchanged state.
 * Invariants:
 * - After any sequence of upserts, removals and scoped replaces, the registry's local services
 *   equal `toLocalService` of every exported Service with its current slices, and nothing else.
 * - A replace (a relist after 410 or a restart) is wholesale within its scope (one namespace or
 *   every namespace): records absent from the new list are removed, with no leftovers.
 */
import type { LocalService, RegistryWriter } from '../../registry/types.js';
import { objectKey, toLocalService, type ServiceRecord, type SliceRecord } from './convert.js';

/** Which services are exported (namespace rule and label selector), decided by the caller's config. */
export type ExportPredicate = (service: ServiceRecord) => boolean;

export interface StateCounts {
  readonly services: number;
  readonly exported: number;
  readonly slices: number;
}

export class KubeState {
  private readonly services = new Map<string, ServiceRecord>();
  private readonly slices = new Map<string, SliceRecord>();
  /** service key → keys of its slices. */
  private readonly slicesOf = new Map<string, Set<string>>();
  /** Service keys currently written to the registry. */
  private readonly written = new Set<string>();

  constructor(
    private readonly registry: Pick<RegistryWriter, 'putLocal' | 'removeLocal'>,
    private readonly exported: ExportPredicate,
  ) {}

  counts(): StateCounts {
    return { services: this.services.size, exported: this.written.size, slices: this.slices.size };
  }

  upsertService(record: ServiceRecord): void {
    const key = objectKey(record.namespace, record.name);
    this.services.set(key, record);
    this.sync(key);
  }

  removeService(namespace: string, name: string): void {
    const key = objectKey(namespace, name);
    this.services.delete(key);
    this.sync(key);
  }

  upsertSlice(record: SliceRecord): void {
    const key = objectKey(record.namespace, record.name);
    const before = this.slices.get(key);
    this.unindex(key, before);
    this.slices.set(key, record);
    this.index(key, record);
    this.syncSlice(before, record);
  }

  removeSlice(namespace: string, name: string): void {
    const key = objectKey(namespace, name);
    const before = this.slices.get(key);
    if (!before) return;
    this.unindex(key, before);
    this.slices.delete(key);
    this.syncSlice(before, undefined);
  }

  /**
   * Replace every Service in scope (`namespace`, or all when undefined) with `records`. Services
   * in scope that are not in `records` are removed.
   */
  replaceServices(namespace: string | undefined, records: readonly ServiceRecord[]): void {
    const next = new Map(records.map((r) => [objectKey(r.namespace, r.name), r]));
    const touched = new Set<string>();
    for (const [key, record] of this.services) {
      if (inScope(record.namespace, namespace) && !next.has(key)) {
        this.services.delete(key);
        touched.add(key);
      }
    }
    for (const [key, record] of next) {
      this.services.set(key, record);
      touched.add(key);
    }
    for (const key of touched) this.sync(key);
  }

  /** Replace every EndpointSlice in scope, like replaceServices. */
  replaceSlices(namespace: string | undefined, records: readonly SliceRecord[]): void {
    const next = new Map(records.map((r) => [objectKey(r.namespace, r.name), r]));
    const affected = new Set<string>();
    for (const [key, record] of this.slices) {
      if (inScope(record.namespace, namespace) && !next.has(key)) {
        this.unindex(key, record);
        this.slices.delete(key);
        if (record.service) affected.add(objectKey(record.namespace, record.service));
      }
    }
    for (const [key, record] of next) {
      const before = this.slices.get(key);
      this.unindex(key, before);
      this.slices.set(key, record);
      this.index(key, record);
      if (before?.service) affected.add(objectKey(before.namespace, before.service));
      if (record.service) affected.add(objectKey(record.namespace, record.service));
    }
    for (const key of affected) this.sync(key);
  }

  // ---------------------------------------------------------------------------------------------

  private build(key: string): LocalService | undefined {
    const svc = this.services.get(key);
    if (!svc || !this.exported(svc)) return undefined;
    const keys = this.slicesOf.get(key);
    const slices: SliceRecord[] = [];
    if (keys) for (const k of keys) slices.push(this.slices.get(k)!);
    return toLocalService(svc, slices);
  }

  /** Write one service's current state to the registry (the registry ignores unchanged writes). */
  private sync(key: string): void {
    const local = this.build(key);
    if (local) {
      this.registry.putLocal(local);
      this.written.add(key);
    } else if (this.written.delete(key)) {
      const slash = key.indexOf('/');
      this.registry.removeLocal(key.slice(0, slash), key.slice(slash + 1));
    }
  }

  private syncSlice(before: SliceRecord | undefined, after: SliceRecord | undefined): void {
    const a = before?.service ? objectKey(before.namespace, before.service) : undefined;
    const b = after?.service ? objectKey(after.namespace, after.service) : undefined;
    if (a) this.sync(a);
    if (b && b !== a) this.sync(b);
  }

  private index(key: string, record: SliceRecord | undefined): void {
    if (!record?.service) return;
    const svcKey = objectKey(record.namespace, record.service);
    let set = this.slicesOf.get(svcKey);
    if (!set) this.slicesOf.set(svcKey, (set = new Set()));
    set.add(key);
  }

  private unindex(key: string, record: SliceRecord | undefined): void {
    if (!record?.service) return;
    const svcKey = objectKey(record.namespace, record.service);
    const set = this.slicesOf.get(svcKey);
    if (!set) return;
    set.delete(key);
    if (set.size === 0) this.slicesOf.delete(svcKey);
  }
}

function inScope(recordNamespace: string, scope: string | undefined): boolean {
  return scope === undefined || recordNamespace === scope;
}
