/**
 * Test helper: run the real gsdns (built CLI in a child process, or the composition root in-process)
 * on loopback port 0, learn its ports, and stop it in t.teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { loadConfig } from '../../src/config/index.js';
import { startGsdns, type RunningServer } from '../../src/main.js';
import { silentLogger } from '../../src/log.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const binPath = join(repoRoot, 'bin', 'gsdns');
export const demoCatalog = join(repoRoot, 'config', 'demo-catalog.yaml');

export interface Ports {
  readonly dnsPort: number;
  readonly httpPort: number;
  /** The /debug listener's port, when `http.debug.listen` gives /debug a listener of its own. */
  readonly debugHttpPort?: number | undefined;
}

export function tempDir(t: ExecutionContext, prefix = 'gsdns-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Loopback listeners on port 0 for both DNS and HTTP. */
export const loopbackSets = ['dns.listen=[{address: 127.0.0.1, port: 0}]', 'http.listen={address: 127.0.0.1, port: 0}'];

/**
 * Tests send traffic to loopback only, but the default `forward.upstreams: [resolv.conf]` names
 * this machine's real resolver. Unless a test chose its upstreams, point forwarding at a closed
 * loopback port: outside names then get a fast SERVFAIL and nothing leaves the machine.
 */
export const CLOSED_UPSTREAM_SET = 'forward.upstreams=["127.0.0.1:9"]';

/**
 * Tests' catalogs use documentation addresses (192.0.2.0/24 …) as gateways, which no probe may
 * reach (loopback only). Unless a test configures probing itself, it is off.
 */
export const NO_PROBE_SET = 'health.probe.type=none';

/**
 * A stopped test server exits at once unless the test is about lame duck (the default of 5 s would
 * add 5 s to every teardown).
 */
export const NO_LAME_DUCK_SET = 'shutdown.lameDuckSeconds=0';

/**
 * The ops HTTP listener closes a connection that sends nothing for `http.idleTimeoutMs` (5 s by
 * default; a slowloris defence). A test's client shares a machine, and for in-process servers a
 * process, with dozens of servers: under two CPU hogs it once connected and only wrote its request
 * after the server had closed the connection as silent, and fetch (undici) then waited for a reply
 * that could not come. Unless a test is about those timeouts, they are 60 s.
 */
export const PATIENT_HTTP_SETS = ['http.idleTimeoutMs=60000', 'http.headersTimeoutMs=60000'];

function choosesHttpTimeouts(argsOrYaml: readonly string[] | string): boolean {
  const text = typeof argsOrYaml === 'string' ? argsOrYaml : argsOrYaml.join('\n');
  return /http\.(idle|headers)TimeoutMs|http:[^\n]*(idle|headers)TimeoutMs/.test(text);
}

function choosesLameDuck(argsOrYaml: readonly string[] | string): boolean {
  const text = typeof argsOrYaml === 'string' ? argsOrYaml : argsOrYaml.join('\n');
  return /lameDuck/.test(text);
}

function choosesProbe(argsOrYaml: readonly string[] | string): boolean {
  const text = typeof argsOrYaml === 'string' ? argsOrYaml : argsOrYaml.join('\n');
  return /probe/.test(text);
}

function choosesUpstreams(argsOrYaml: readonly string[] | string): boolean {
  const text = typeof argsOrYaml === 'string' ? argsOrYaml : argsOrYaml.join('\n');
  return /upstreams/.test(text);
}

export interface SpawnedServer extends Ports {
  readonly child: ChildProcess;
  readonly logs: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface SpawnOptions {
  /** Run under `sh -c 'ulimit -n N && exec node …'`: a descriptor limit for this server only. */
  readonly nofile?: number | undefined;
}

/**
 * Spawn `bin/gsdns serve` with the given args (defaults to the embedded demo on port 0) and wait
 * for its "gsdns serving" log line, which carries the bound ports.
 */
export async function spawnGsdns(
  t: ExecutionContext,
  args: readonly string[] = [],
  env: NodeJS.ProcessEnv = {},
  options: SpawnOptions = {},
): Promise<SpawnedServer> {
  const sets = [
    ...loopbackSets,
    ...(choosesUpstreams(args) ? [] : [CLOSED_UPSTREAM_SET]),
    ...(choosesProbe(args) ? [] : [NO_PROBE_SET]),
    ...(choosesLameDuck(args) ? [] : [NO_LAME_DUCK_SET]),
    ...(choosesHttpTimeouts(args) ? [] : PATIENT_HTTP_SETS),
  ];
  const argv = [binPath, 'serve', ...sets.flatMap((s) => ['--set', s]), ...args];
  const nofile = options.nofile;
  // `exec` keeps one process, so signals and the exit code are gsdns's own.
  const [command, commandArgs] =
    nofile === undefined ? [process.execPath, argv] : ['sh', ['-c', `ulimit -n ${nofile} && exec "$0" "$@"`, process.execPath, ...argv]];
  const child = spawn(command, commandArgs, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  t.teardown(() => stop());
  const ports = await new Promise<Ports>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gsdns did not start within 30 s:\n${out}`)), 30_000);
    const onData = (): void => {
      for (const line of out.split('\n')) {
        if (!line.includes('gsdns serving')) continue;
        const rec = JSON.parse(line) as { dns: { port: number }[]; http: string; debug?: string };
        clearTimeout(timer);
        child.stdout.off('data', onData);
        const debugPort = /:(\d+)$/.exec(rec.debug ?? '')?.[1];
        resolve({
          dnsPort: rec.dns[0]!.port,
          httpPort: Number(rec.http.split(':').pop()),
          debugHttpPort: debugPort === undefined ? undefined : Number(debugPort),
        });
        return;
      }
    };
    child.stdout.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gsdns exited with ${code} before serving:\n${out}`));
    });
  });
  return { ...ports, child, logs: () => out, stop };
}

/** Start gsdns in-process from a YAML config text (ports forced to loopback 0). */
export async function startInProcess(t: ExecutionContext, yamlText: string, dir: string): Promise<RunningServer & Ports> {
  const file = join(dir, 'gsdns.yaml');
  writeFileSync(file, yamlText);
  const sets = [
    ...loopbackSets,
    ...(choosesUpstreams(yamlText) ? [] : [CLOSED_UPSTREAM_SET]),
    ...(choosesProbe(yamlText) ? [] : [NO_PROBE_SET]),
    ...(choosesHttpTimeouts(yamlText) ? [] : PATIENT_HTTP_SETS),
  ];
  const loaded = loadConfig({ file, env: {}, sets });
  if (!loaded.ok) throw new Error(`bad test config: ${JSON.stringify(loaded.errors)}`);
  const running = await startGsdns(loaded.config, silentLogger());
  t.teardown(() => running.close());
  return { ...running, dnsPort: running.dns[0]!.port, httpPort: running.http.port, debugHttpPort: running.debugHttp?.port };
}

export function writeFile(path: string, text: string): void {
  writeFileSync(path, text);
}
