/**
 * The validated configuration, as every module receives it (types only).
 *
 * Owns: the `Config` shape, which mirrors `schema.ts` key for key, with every default applied.
 * Invariants: a `Config` has passed the schema and the semantic checks, is deeply frozen, has
 * lowercase zones with no trailing dot, and holds absolute file paths. A field is optional only
 * when the schema gives it no default (e.g. `cluster.region`, the whole `sync` block).
 */
import type { Gateway, GeoLocation, TrafficPolicy } from '../registry/types.js';

/** Config issues are declared with ConfigError (errors.ts), which carries them. */
export type { ConfigIssue, ConfigSource } from '../errors.js';

/** A TCP/UDP socket address to bind. Port 0 asks the OS for a free port. */
export interface ListenAddress {
  readonly address: string;
  readonly port: number;
}

export interface ClusterConfig {
  /** This cluster's name: a lowercase RFC 1123 label, unique in the mesh. */
  readonly name: string;
  readonly region?: string | undefined;
  readonly zone?: string | undefined;
  readonly location?: GeoLocation | undefined;
  /** This cluster's east-west gateways, advertised to peers. */
  readonly gateways: readonly Gateway[];
  /** A Service whose LoadBalancer ingress (or externalIPs) are the gateways; kubernetes source only. */
  readonly gatewayService?: { readonly namespace: string; readonly name: string; readonly port: number } | undefined;
  /** Advertised weight, 0–1000 (0 drains the cluster); a service's own weight overrides it. */
  readonly weight: number;
}

export interface DnsTcpConfig {
  readonly idleTimeoutMs: number;
  /** From the first octet of a message to its last, in ms. */
  readonly messageTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerClient: number;
  readonly maxInFlightPerConnection: number;
}

export interface NameserverConfig {
  readonly address: string;
}

export type AnswerPolicy = TrafficPolicy;

export interface DnsConfig {
  /** Lowercase, no trailing dot, neither duplicated nor nested. */
  readonly zones: readonly string[];
  readonly listen: readonly ListenAddress[];
  readonly nameservers: readonly NameserverConfig[];
  /** Seconds. */
  readonly ttl: number;
  /** Seconds. */
  readonly negativeTtl: number;
  /** Seconds; never above `ttl`. */
  readonly degradedTtl: number;
  readonly maxAnswers: number;
  readonly policy: AnswerPolicy;
  /** Addresses of equal rank rotate from query to query; false: stable order. */
  readonly rotate: boolean;
  /** Percent (0–100) of answers that stay local while the local service is healthy. */
  readonly localShare: number;
  /** Seconds; TTL cap of an answer chosen by the local-share split. */
  readonly splitTtl: number;
  /** Wildcard listens bind UDP per local address; rescan interval in ms, 0 only at start. */
  readonly interfaceRescanMs: number;
  readonly tcp: DnsTcpConfig;
  /** The wire-level answer cache (src/route/answer-cache.ts). */
  readonly answerCache: { readonly enabled: boolean; readonly maxEntries: number; readonly maxBytes: number };
  /** Fail over to remote clusters when the local service is not ready enough. */
  readonly localFailover: boolean;
  /** Ready endpoints a local service needs to be answered locally. */
  readonly localMinReady: number;
  /** Most address records of a local headless service in one answer; null: as many as fit in the reply. */
  readonly maxLocalAnswers: number | null;
  readonly chaos: DnsChaosConfig;
}

/** TXT texts of the CHAOS server-identity names; null means REFUSED. */
export interface DnsChaosConfig {
  /** version.bind, version.server. */
  readonly version: string | null;
  /** id.server, hostname.bind. */
  readonly id: string | null;
}

export interface FileSourceConfig {
  /** Absolute path of the catalog file. */
  readonly path: string;
}

export interface KubernetesSourceConfig {
  /** Absolute path of a kubeconfig, or null for in-cluster credentials. */
  readonly kubeconfig: string | null;
  /** Namespaces to export from; empty means every namespace. */
  readonly namespaces: readonly string[];
  /** Label selector a Service must match to be exported; "" means every Service. */
  readonly exportSelector: string;
  readonly watchdogSeconds: number;
  /** Local data is stale after an informer has been out of sync this long; 0 never. */
  readonly staleAfterSeconds: number;
}

/** `source.file` is present whenever `type` is `file`. */
export type SourceConfig =
  | {
      readonly type: 'file';
      readonly file: FileSourceConfig;
      readonly kubernetes: KubernetesSourceConfig;
    }
  | {
      readonly type: 'kubernetes';
      readonly file?: FileSourceConfig | undefined;
      readonly kubernetes: KubernetesSourceConfig;
    };

export interface ForwardConfig {
  /** `host[:port]` entries (IPv4, IPv6 bare or `[addr]:port`), or `resolv.conf`; see `parseUpstream`. */
  readonly upstreams: readonly string[];
  /** CIDRs of clients allowed to resolve names outside the zones. */
  readonly allowFrom: readonly string[];
  readonly cache: { readonly maxEntries: number; readonly maxBytes: number };
  readonly maxInFlight: number;
  readonly forwardClientSubnet: boolean;
  readonly serveStaleSeconds: number;
  readonly timeoutMs: number;
  readonly budgetMs: number;
}

export interface SyncTlsConfig {
  /** Absolute paths. */
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

export interface SyncPeerConfig {
  readonly name: string;
  /** An https URL. */
  readonly url: string;
}

export interface SyncConfig {
  readonly listen: ListenAddress;
  readonly trustDomain: string;
  readonly tls: SyncTlsConfig;
  readonly peers: readonly SyncPeerConfig[];
  readonly staleAfterSeconds: number;
  /** Owner of a remote cluster listed by both sources, highest precedence first. */
  readonly remotePrecedence: readonly ('sync' | 'file')[];
  /** Percent of each second that catalog parsing and applying may use. */
  readonly applyBudgetPercent: number;
  /** Open sync connections in total. */
  readonly maxConnections: number;
  /** Unauthenticated sync connections from one address. */
  readonly maxConnectionsPerSource: number;
  readonly handshakeTimeoutMs: number;
  /** Descriptors the sync port leaves to the rest; null: derived from the DNS, forward and HTTP caps. */
  readonly descriptorReserve: number | null;
  /** Largest peer catalog, in octets. */
  readonly maxCatalogBytes: number;
  /** Most services in one peer catalog. */
  readonly maxCatalogServices: number;
}

/** `port` absent on a tcp probe means "the gateway's own port". */
export type HealthProbeConfig =
  | { readonly type: 'tcp'; readonly port?: number | undefined }
  | { readonly type: 'http'; readonly port: number; readonly path: string }
  | { readonly type: 'none' };

export interface HealthConfig {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly fall: number;
  readonly rise: number;
  readonly probe: HealthProbeConfig;
}

export interface LocalityConfig {
  /** Clusters of equal tier whose RTTs differ by at most this many ms count as equal. */
  readonly rttMarginMs: number;
  readonly ecs: boolean;
  /** Load geoip-lite at start instead of on first need. */
  readonly geoipPreload: boolean;
}

export interface HttpDebugConfig {
  readonly enabled: boolean;
  /** null: /debug/* is served on `http.listen`. */
  readonly listen: ListenAddress | null;
}

export interface HttpConfig {
  readonly listen: ListenAddress;
  readonly debug: HttpDebugConfig;
  /** Per listener (ops and debug each). */
  readonly maxConnections: number;
  readonly idleTimeoutMs: number;
  readonly headersTimeoutMs: number;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface LogConfig {
  readonly level: LogLevel;
  /** json, pretty, or auto (pretty on a terminal). */
  readonly format: 'auto' | 'json' | 'pretty';
  readonly queries: { readonly enabled: boolean; readonly sampleRate: number };
}

export interface SelfTestConfig {
  readonly enabled: boolean;
  /** `host[:port]`, or null for the first nameserver of /etc/resolv.conf. */
  readonly resolver: string | null;
  readonly intervalSeconds: number;
  readonly timeoutMs: number;
}

export interface ShutdownConfig {
  readonly lameDuckSeconds: number;
}

/** The whole configuration: validated, defaulted, deeply frozen. */
export interface Config {
  readonly cluster: ClusterConfig;
  readonly dns: DnsConfig;
  readonly source: SourceConfig;
  readonly forward: ForwardConfig;
  /** Absent when the cluster runs without peers. */
  readonly sync?: SyncConfig | undefined;
  readonly health: HealthConfig;
  readonly locality: LocalityConfig;
  readonly http: HttpConfig;
  readonly selfTest: SelfTestConfig;
  readonly shutdown: ShutdownConfig;
  readonly log: LogConfig;
}

/** Where the loaded configuration came from, for the startup log and /debug. */
export interface ConfigSources {
  /** Absolute path of the YAML file, when one was given. */
  readonly file?: string | undefined;
  /** Overrides applied from `GSDNS_*` variables, in the order applied. */
  readonly env: readonly { readonly name: string; readonly path: string }[];
  /** Key paths set by `--set key.path=value` flags, in the order applied. */
  readonly flags: readonly string[];
}
