/**
 * Test helper: a gsdns child process with a sync block (real mutual TLS on loopback, sync port 0),
 * its catalog file, and readers for what tests observe from outside: the sync port (from the
 * "gsdns serving" line), /debug/clusters, peer states, and the process's memory from /proc.
 */
import type { ExecutionContext } from 'ava';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnGsdns, tempDir, type SpawnedServer, type SpawnOptions } from './gsdns-process.js';
import type { Pki } from './pki.js';

export interface SyncNodeSpec {
  readonly name: string;
  readonly pki: Pki;
  /** Local services of the catalog file (ClusterIP, one ready endpoint each). */
  readonly services: readonly string[];
  readonly peers?: readonly { readonly name: string; readonly port: number }[] | undefined;
  readonly gateway?: string | undefined;
  /** Extra YAML lines inside the sync block, e.g. `maxConnections: 100`. */
  readonly syncLines?: readonly string[] | undefined;
  /** Extra YAML after the sync block (other top-level keys). */
  readonly extraYaml?: string | undefined;
  /** Extra CLI args, e.g. `--set forward.upstreams=[...]`. */
  readonly args?: readonly string[] | undefined;
  readonly spawn?: SpawnOptions | undefined;
}

export interface SyncNode {
  readonly name: string;
  readonly dir: string;
  readonly server: SpawnedServer;
  readonly syncPort: number;
  /** Replace the catalog file atomically (as a ConfigMap update would). */
  writeCatalog(services: readonly string[]): void;
}

function catalogText(services: readonly string[]): string {
  if (services.length === 0) return 'services: []\n';
  return `services:\n${services.map((s, i) => `  - {namespace: shop, name: ${s}, clusterIPs: [10.96.0.${i + 1}], readyEndpoints: 1, ports: [{name: http, port: 80}]}`).join('\n')}\n`;
}

export async function spawnSyncNode(t: ExecutionContext, spec: SyncNodeSpec): Promise<SyncNode> {
  const dir = tempDir(t, `gsdns-sync-${spec.name}-`);
  const writeCatalog = (services: readonly string[]): void => {
    writeFileSync(join(dir, 'catalog.tmp'), catalogText(services));
    copyFileSync(join(dir, 'catalog.tmp'), join(dir, 'catalog.yaml'));
  };
  writeCatalog(spec.services);
  const tls = spec.pki.clusters[spec.name];
  if (!tls) throw new Error(`no certificate for ${spec.name} in the test PKI`);
  const peers = spec.peers ?? [];
  const config = `cluster: {name: ${spec.name}, gateways: [{address: ${spec.gateway ?? '192.0.2.99'}, port: 15443}]}
dns: {zones: [global]}
source: {type: file, file: {path: catalog.yaml}}
sync:
  listen: {address: 127.0.0.1, port: 0}
  trustDomain: ${spec.pki.trustDomain}
  tls: {ca: ${JSON.stringify(tls.ca)}, cert: ${JSON.stringify(tls.cert)}, key: ${JSON.stringify(tls.key)}}
  staleAfterSeconds: 60
  peers: [${peers.map((p) => `{name: ${p.name}, url: "https://127.0.0.1:${p.port}"}`).join(', ')}]
${(spec.syncLines ?? []).map((l) => `  ${l}`).join('\n')}
${spec.extraYaml ?? ''}`;
  const file = join(dir, 'gsdns.yaml');
  writeFileSync(file, config);
  const server = await spawnGsdns(t, ['--config', file, ...(spec.args ?? [])], {}, spec.spawn ?? {});
  return { name: spec.name, dir, server, syncPort: syncPortFromLogs(server.logs()), writeCatalog };
}

/** The sync port from the "gsdns serving" log line. */
export function syncPortFromLogs(logs: string): number {
  for (const line of logs.split('\n')) {
    if (!line.includes('gsdns serving')) continue;
    const rec = JSON.parse(line) as { sync?: string };
    const port = /:(\d+)$/.exec(rec.sync ?? '')?.[1];
    if (port !== undefined) return Number(port);
  }
  throw new Error(`no sync address in the serving line:\n${logs}`);
}

export interface PeerView {
  readonly peer: string;
  readonly state: string;
  readonly lastError?: string;
  readonly errors: Record<string, number>;
  readonly services: number;
}

export interface SyncServerView {
  readonly refused: Record<string, number>;
  readonly connections: { readonly open: number; readonly unauthenticated: number; readonly max: number; readonly maxPerSource: number };
  readonly handshakeTimeoutMs: number;
  readonly descriptors?: {
    readonly limit?: number;
    readonly reserve: number;
    readonly budget?: number;
    readonly inUse?: number;
    readonly refused: number;
  };
}

export async function syncStatus(httpPort: number): Promise<{ peers: PeerView[]; server: SyncServerView }> {
  const body = (await (await fetch(`http://127.0.0.1:${httpPort}/debug/clusters`)).json()) as {
    sync: { peers: PeerView[]; server: SyncServerView };
  };
  return body.sync;
}

export async function peerView(httpPort: number, peer: string): Promise<PeerView | undefined> {
  return (await syncStatus(httpPort)).peers.find((p) => p.peer === peer);
}

/** VmRSS and VmHWM (peak RSS) of a process, in KiB, from /proc/PID/status. */
export function memoryKiB(pid: number): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

/** Poll `check` every 25 ms until true; fails the test (and returns false) after `timeoutMs`. */
export async function until(
  t: ExecutionContext,
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
): Promise<boolean> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  t.fail(`${what}: not within ${timeoutMs} ms`);
  return false;
}
