/**
 * Catalog file codec (PURE): YAML text → local services + static remote catalogs (SPEC §2).
 *
 * Owns: the file source's vocabulary (`services:` local, `remotes:` static peer catalogs), its JSON
 * Schema, and the checks across keys that the schema cannot express. A remote catalog's schema and
 * conversion are the catalog codec's (`catalog/codec.ts`, shared with sync). YAML parsing, the string
 * formats (`ip`, `dns-label`) and the wording and location of schema problems are shared with the
 * config loader (`util/yaml-schema.ts`).
 * Never: reads files, logs, or throws for bad input — a bad catalog is a value (`ok: false`) so the
 * caller can keep serving its last good one.
 * Invariants: a successful parse yields lowercase namespaces/names/clusters, canonical IP text,
 * no duplicate service keys and no duplicate clusters, no remote named like `localCluster` when it
 * is given; endpoints only ever appear on local services; a local service has `traffic` only when
 * it sets `policy`, `weight` or `localShare` (so one without them keeps its fingerprint).
 */
import {
  dnsLabel,
  ipAddress,
  localShareSchema,
  policySchema,
  portSchema,
  remoteCatalogSchema,
  toClusterCatalog,
  toPorts,
  trafficOf,
  weightSchema,
} from '../catalog/codec.js';
import type { ClusterCatalog, Endpoint, LocalService, TrafficSettings } from '../registry/types.js';
import { canonicalIp } from '../util/ip.js';
import { compileSchema, formatPath, loadYamlFast, locate, parseYaml, type Segment, type YamlIssue } from '../util/yaml-schema.js';

/** A problem with a catalog file; its path is a key path such as `services[2].clusterIPs[0]`. */
export type CatalogIssue = YamlIssue;

export interface ParsedCatalog {
  readonly services: readonly LocalService[];
  readonly remotes: readonly ClusterCatalog[];
}

/**
 * Which reading produced a catalog: `fast` (plain values, no positions), or `positioned` when the
 * fast one could not vouch for the text (anchors, tags, directives; see `loadYamlFast`). Problems
 * always come from the positioned reading.
 */
export type CatalogReading = 'fast' | 'positioned';

export type CatalogParseResult =
  | { readonly ok: true; readonly catalog: ParsedCatalog; readonly reading: CatalogReading }
  | { readonly ok: false; readonly issues: readonly CatalogIssue[] };

const localServiceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['namespace', 'name'],
  properties: {
    namespace: dnsLabel,
    name: dnsLabel,
    ports: { type: 'array', items: portSchema, default: [] },
    clusterIPs: { type: 'array', items: ipAddress, minItems: 1 },
    readyEndpoints: { type: 'integer', minimum: 0 },
    headless: { type: 'boolean' },
    endpoints: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['address'],
        properties: {
          address: ipAddress,
          ready: { type: 'boolean', default: true },
        },
      },
    },
    externalName: { type: 'string', minLength: 1, maxLength: 253 },
    // Traffic settings of this service (issue 16), overriding dns.policy, cluster.weight, dns.localShare.
    policy: policySchema,
    weight: weightSchema,
    localShare: localShareSchema,
  },
} as const;

export const catalogFileSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    services: { type: 'array', items: localServiceSchema, default: [] },
    remotes: { type: 'array', items: remoteCatalogSchema, default: [] },
  },
} as const;

const validateCatalog = compileSchema(catalogFileSchema);

const lower = (s: string): string => s.toLowerCase();

export interface ParseCatalogFileOptions {
  /**
   * This cluster's name (`cluster.name`). A `remotes:` entry named like it is an error: this
   * cluster's services come from `services:` or the Kubernetes source, and the answer path would
   * never use a remote catalog of the local cluster, so accepting it would ignore it silently.
   */
  readonly localCluster?: string | undefined;
}

/**
 * Parse and validate a catalog file's text. Every problem is reported, each with a key path and,
 * where the YAML has it, a line and column.
 *
 * Two passes at most (issue 15): a valid file is read once, as plain values without positions
 * (`loadYamlFast`), validated and converted. Only when that fails, or cannot tell, is the file read
 * again with every node's position (`parseYaml`), and the problems come from that second reading,
 * worded and placed as they always were. At 10,000 services the positioned reading took 1.7 s and
 * about 130 MB more memory at its peak than the fast one, which took 0.3 s (bench:catalog-load).
 */
export function parseCatalogFile(text: string, options: ParseCatalogFileOptions = {}): CatalogParseResult {
  return parseCatalogFileFast(text, options) ?? parseCatalogFileWithPositions(text, options);
}

// An empty, whitespace-only or comment-only document is what a reader sees while a writer that
// truncates and then writes (as `cp` does) is halfway: refused like any invalid edit, so the last
// good catalog stays. An intentionally empty catalog says so: `services: []`.
const EMPTY: CatalogParseResult = {
  ok: false,
  issues: [{ path: '(root)', message: 'the catalog is empty (no YAML document); write `services: []` for a catalog with no services' }],
};

/**
 * The fast reading alone: the catalog when it finds no problem at all, or the empty document's
 * problem (which has no line to find); `undefined` otherwise (never a partial catalog), and then
 * only `parseCatalogFileWithPositions` can tell what is wrong.
 */
export function parseCatalogFileFast(text: string, options: ParseCatalogFileOptions = {}): CatalogParseResult | undefined {
  const read = loadYamlFast(text);
  if (read === undefined) return undefined;
  const data = read.value;
  if (data === null || data === undefined) return EMPTY;
  if (typeof data !== 'object' || Array.isArray(data)) return undefined;
  if (validateCatalog(data).length > 0) return undefined;
  let clean = true;
  const issue: IssueAt = () => {
    clean = false;
  };
  const d = data as Record<string, unknown>;
  const services = localServicesOf(d['services'] as Record<string, unknown>[], issue);
  const remotes = remoteCatalogsOf(d['remotes'] as Record<string, unknown>[], issue, options.localCluster);
  return clean ? { ok: true, catalog: { services, remotes }, reading: 'fast' } : undefined;
}

/**
 * The positioned reading alone: the catalog, or every problem with its key path and line. What
 * `parseCatalogFile` falls back to; tests hold the fast reading to it.
 */
export function parseCatalogFileWithPositions(text: string, options: ParseCatalogFileOptions = {}): CatalogParseResult {
  const parsed = parseYaml(text);
  if (parsed.issues.length > 0) {
    return { ok: false, issues: parsed.issues.map((e) => ({ ...e, path: '(yaml)' })) };
  }
  if (parsed.data === null || parsed.data === undefined) return EMPTY;
  const data = parsed.data as Record<string, unknown>;
  const issues: CatalogIssue[] = [];
  const issue = (segments: readonly Segment[], message: string): void => {
    issues.push({ path: formatPath(segments) || '(root)', message, ...locate(parsed.doc, parsed.lineCounter, segments) });
  };
  const problems = validateCatalog(data);
  if (problems.length > 0) {
    for (const p of problems) issue(p.segments, p.message);
    return { ok: false, issues };
  }

  const services = localServicesOf(data['services'] as Record<string, unknown>[], issue);
  const remotes = remoteCatalogsOf(data['remotes'] as Record<string, unknown>[], issue, options.localCluster);

  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, catalog: { services, remotes }, reading: 'positioned' };
}

type IssueAt = (segments: readonly Segment[], message: string) => void;

/** `services:`: each entry of exactly one shape, each namespace/name once. */
function localServicesOf(entries: readonly Record<string, unknown>[], issue: IssueAt): LocalService[] {
  const services: LocalService[] = [];
  const seen = new Set<string>();
  entries.forEach((s, i) => {
    const namespace = lower(String(s['namespace']));
    const name = lower(String(s['name']));
    const key = `${namespace}/${name}`;
    if (seen.has(key)) issue(['services', i], `duplicate service ${key}`);
    seen.add(key);
    const ports = toPorts(s['ports']);
    const traffic = trafficSettingsOf(s);
    const shapes = [s['clusterIPs'] !== undefined, s['headless'] === true, s['externalName'] !== undefined].filter(Boolean).length;
    if (shapes !== 1) {
      issue(['services', i], 'needs exactly one of clusterIPs (with readyEndpoints), headless: true (with endpoints), or externalName');
      return;
    }
    if (s['clusterIPs'] !== undefined) {
      if (s['readyEndpoints'] === undefined) issue(['services', i, 'readyEndpoints'], 'is required with clusterIPs');
      if (s['endpoints'] !== undefined) issue(['services', i, 'endpoints'], 'belongs to headless services only');
      services.push({
        kind: 'clusterIP',
        namespace,
        name,
        ports,
        clusterIPs: (s['clusterIPs'] as string[]).map(canonicalIp),
        readyEndpoints: Number(s['readyEndpoints'] ?? 0),
        ...traffic,
      });
    } else if (s['headless'] === true) {
      if (s['readyEndpoints'] !== undefined)
        issue(['services', i, 'readyEndpoints'], 'belongs to clusterIP services only; list endpoints instead');
      const endpoints: Endpoint[] = ((s['endpoints'] as { address: string; ready: boolean }[]) ?? []).map((e) => ({
        address: canonicalIp(e.address),
        ready: e.ready,
      }));
      services.push({ kind: 'headless', namespace, name, ports, endpoints, ...traffic });
    } else {
      const target = lower(String(s['externalName'])).replace(/\.$/, '');
      services.push({ kind: 'externalName', namespace, name, ports, externalName: target, ...traffic });
    }
  });
  return services;
}

/**
 * A `services:` entry's traffic fields as `{ traffic }`, or nothing when it has none: a service
 * without overrides has no `traffic` key, so its fingerprint (canonical JSON) is what it was before
 * issue 16, and a reload with no change to a service keeps its held object.
 */
function trafficSettingsOf(s: Record<string, unknown>): { traffic?: TrafficSettings } {
  const localShare = s['localShare'] as number | undefined;
  const traffic: TrafficSettings = { ...trafficOf(s), ...(localShare === undefined ? {} : { localShare }) };
  return Object.keys(traffic).length === 0 ? {} : { traffic };
}

/** `remotes:`: each cluster once, never this cluster's own name. */
function remoteCatalogsOf(entries: readonly Record<string, unknown>[], issue: IssueAt, localCluster: string | undefined): ClusterCatalog[] {
  const remotes: ClusterCatalog[] = [];
  const clusters = new Set<string>();
  entries.forEach((r, i) => {
    const catalog = toClusterCatalog(r, (segments, message) => issue(['remotes', i, ...segments], message));
    if (clusters.has(catalog.cluster)) issue(['remotes', i, 'cluster'], `duplicate cluster ${catalog.cluster}`);
    if (localCluster !== undefined && catalog.cluster === localCluster) {
      issue(
        ['remotes', i, 'cluster'],
        `'${catalog.cluster}' is this cluster's own name (cluster.name); its services belong in services: (or come from Kubernetes), not remotes:`,
      );
    }
    clusters.add(catalog.cluster);
    remotes.push(catalog);
  });
  return remotes;
}

export function formatCatalogIssue(file: string, i: CatalogIssue): string {
  const where = i.line !== undefined ? `${file}:${i.line}:${i.col ?? 1}` : file;
  return `${where}: ${i.path}: ${i.message}`;
}
