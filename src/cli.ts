/**
 * Command line (edge): `gsdns serve | check-config | explain | certs init | certs issue`, with
 * --help everywhere (SPEC §5 "CLI").
 *
 * Owns: argument parsing (node:util parseArgs) and exit codes. Never holds server logic: `serve`
 * hands a loaded, frozen config to main.ts.
 * Exit codes: 0 ok, 1 invalid config / failed check, 2 usage error, 3 runtime failure.
 */
import { parseArgs } from 'node:util';
import { embeddedConfigPath, formatIssues, loadConfig } from './config/index.js';
import { createLogger, flushLogs } from './log.js';
import { PACKAGE_VERSION as version } from './main.js';
import { runServer } from './serve.js';
import { CertsError } from './errors.js';
import { DEFAULT_TRUST_DOMAIN, initCa, issueClusterCert } from './sync/certs.js';

const HELP: Record<string, string> = {
  main: `gsdns ${version} — DNS for global service names in multi-cluster Kubernetes

Usage:
  gsdns serve [--config FILE] [--set key.path=value ...]
  gsdns check-config FILE [--set key.path=value ...]
  gsdns explain NAME [--type T] [--subnet CIDR] [--config FILE | --server URL]
  gsdns certs init --out DIR [--days N] [--force]
  gsdns certs issue --cluster NAME --out DIR [--ca-dir DIR] [--trust-domain D] [--days N]
  gsdns --version

Run "gsdns COMMAND --help" for a command's options.
With no --config, "serve" runs the embedded demo (DNS on 127.0.0.1:5353, HTTP on 127.0.0.1:8080).
Configuration: YAML file, then GSDNS_* environment variables (GSDNS_DNS__TTL=10), then --set flags.
`,
  serve: `Usage: gsdns serve [--config FILE] [--set key.path=value ...]

Serve DNS (UDP+TCP on every dns.listen address) and the ops HTTP endpoints.
  -c, --config FILE   config file (default: the embedded demo, config/demo.yaml)
  --set K=V           override one key, e.g. --set dns.ttl=10 --set dns.listen='[{address: 127.0.0.1, port: 5300}]'
  -h, --help          this help
Stops on SIGTERM/SIGINT: goes not-ready, closes the listeners, exits 0.
`,
  'check-config': `Usage: gsdns check-config FILE [--set key.path=value ...]

Validate FILE (plus GSDNS_* environment and --set overrides) and print every error with its key
path. Prints "ok" and exits 0 when valid; exits 1 otherwise.
`,
  explain: `Usage: gsdns explain NAME [--type T] [--subnet CIDR] [--config FILE [--set K=V ...] | --server URL]

Ask a running gsdns why NAME resolves the way it does: every candidate cluster, whether it was kept
or dropped and why, and the final order. It asks /debug/resolve on the server's debug listener.
  -t, --type T        query type (default A)
  --subnet CIDR       client subnet to explain for (as EDNS Client Subnet would give)
  -c, --config FILE   the server's config, loaded as "serve" loads it (GSDNS_* variables, --set):
                      its http.debug.listen, or http.listen when /debug is on the ops listener
                      (default: $GSDNS_CONFIG, else the embedded demo, i.e. http://127.0.0.1:8080)
  --set K=V           override one key of that config
  --server URL        base URL of the listener serving /debug, e.g. http://127.0.0.1:8081
                      (a kubectl port-forward); instead of --config
  --json              print the raw JSON
  -h, --help          this help
Exit codes: 0 ok, 1 the server refused (or /debug is off in the config), 2 usage error, 3 unreachable.
`,
  certs: `Usage: gsdns certs init --out DIR [--days N] [--force]
       gsdns certs issue --cluster NAME --out DIR [--ca-dir DIR] [--trust-domain D] [--days N]

Make a root CA and per-cluster certificates for trying catalog sync out (mutual TLS), with the
openssl command-line tool. Run "gsdns certs init --help" or "gsdns certs issue --help" for options.
Exit codes: 0 ok, 1 refused (the CA exists, or no CA to sign with), 2 usage error, 3 openssl or I/O failure.
`,
  'certs init': `Usage: gsdns certs init --out DIR [--days N] [--force]

Create a self-signed root CA (EC P-256) that every cluster's sync certificate chains to.
Writes DIR/ca.pem and DIR/ca-key.pem (mode 0600). Keep ca-key.pem secret; ca.pem is sync.tls.ca.
  -o, --out DIR       folder to write to (created when missing)
  --days N            validity in days (default 3650)
  --force             replace an existing CA (every certificate it signed stops being trusted)
  -h, --help          this help
Exit codes: 0 ok, 1 a CA already exists in DIR, 2 usage error, 3 openssl or I/O failure.
`,
  'certs issue': `Usage: gsdns certs issue --cluster NAME --out DIR [--ca-dir DIR] [--trust-domain D] [--days N]

Issue cluster NAME's certificate (EC P-256, TLS server and client), signed by the CA in --ca-dir.
It names the cluster in both forms peers accept: DNS:NAME.D and URI:spiffe://D/cluster/NAME.
Writes DIR/NAME.crt and DIR/NAME.key (mode 0600), replacing earlier ones, and prints the sync.tls
block for NAME's config.
  --cluster NAME      the cluster's name (cluster.name): a lowercase DNS label
  -o, --out DIR       folder to write to (created when missing)
  --ca-dir DIR        folder holding ca.pem and ca-key.pem (default: the --out folder)
  --trust-domain D    sync.trustDomain (default ${DEFAULT_TRUST_DOMAIN})
  --days N            validity in days (default 365)
  -h, --help          this help
Exit codes: 0 ok, 1 no CA in the CA folder, 2 usage error, 3 openssl or I/O failure.
`,
};

function fail(message: string, code = 2): never {
  process.stderr.write(`gsdns: ${message}\n`);
  process.exit(code);
}

export async function main(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP['main']!);
    if (command === undefined) process.exitCode = 2;
    return;
  }
  if (command === '--version' || command === '-v' || command === 'version') {
    process.stdout.write(`${version}\n`);
    return;
  }
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'check-config':
      return checkConfig(rest);
    case 'explain':
      return explain(rest);
    case 'certs':
      return certs(rest);
    default:
      fail(`unknown command "${command}"\n\n${HELP['main']!}`);
  }
}

type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;
type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

function parse(command: string, args: readonly string[], options: OptionSpec): { values: Values; positionals: string[] } {
  try {
    const parsed: { values: Values; positionals: string[] } = parseArgs({
      args: [...args],
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    if (parsed.values['help']) {
      process.stdout.write(HELP[command]!);
      process.exit(0);
    }
    return parsed;
  } catch (err) {
    return fail(`${(err as Error).message}\n\n${HELP[command]!}`);
  }
}

async function serve(args: readonly string[]): Promise<void> {
  const { values, positionals } = parse('serve', args, {
    config: { type: 'string', short: 'c' },
    set: { type: 'string', multiple: true },
  });
  if (positionals.length > 0) fail(`serve takes no positional arguments (got ${positionals.join(' ')})\n\n${HELP['serve']!}`);
  const file = (values['config'] as string | undefined) ?? process.env['GSDNS_CONFIG'] ?? embeddedConfigPath();
  const loaded = loadConfig({ file, env: process.env, sets: (values['set'] as string[] | undefined) ?? [] });
  if (!loaded.ok) {
    process.stderr.write(
      `gsdns: invalid configuration (${file}):\n${formatIssues(loaded.errors)
        .map((l) => `  ${l}`)
        .join('\n')}\n`,
    );
    process.exit(1);
  }
  const logger = createLogger(loaded.config.log.level, undefined, loaded.config.log.format);
  try {
    await runServer(loaded.config, logger, { configFile: file });
  } catch (err) {
    logger.fatal({ err }, 'gsdns failed to start');
    await flushLogs();
    process.exit(3);
  }
}

function checkConfig(args: readonly string[]): void {
  const { values, positionals } = parse('check-config', args, { set: { type: 'string', multiple: true } });
  if (positionals.length !== 1) fail(`check-config takes exactly one FILE\n\n${HELP['check-config']!}`);
  const loaded = loadConfig({ file: positionals[0]!, env: process.env, sets: (values['set'] as string[] | undefined) ?? [] });
  if (loaded.ok) {
    process.stdout.write('ok\n');
    return;
  }
  process.stdout.write(formatIssues(loaded.errors).join('\n') + '\n');
  process.exitCode = 1;
}

/**
 * The base URL of the listener serving /debug for `explain`: --server as given, else the config
 * (--config, $GSDNS_CONFIG or the embedded demo, loaded as `serve` loads it).
 */
function debugBaseUrl(values: Values): string {
  const server = values['server'] as string | undefined;
  const sets = (values['set'] as string[] | undefined) ?? [];
  if (server !== undefined) {
    if (values['config'] !== undefined || sets.length > 0)
      fail(`explain takes --server or --config (with --set), not both\n\n${HELP['explain']!}`);
    try {
      return new URL(server).href;
    } catch {
      return fail(`--server must be a URL such as http://127.0.0.1:8081 (got "${server}")`);
    }
  }
  const file = (values['config'] as string | undefined) ?? process.env['GSDNS_CONFIG'] ?? embeddedConfigPath();
  const loaded = loadConfig({ file, env: process.env, sets });
  if (!loaded.ok) {
    return fail(
      `invalid configuration (${file}):\n${formatIssues(loaded.errors)
        .map((l) => `  ${l}`)
        .join('\n')}`,
      1,
    );
  }
  const http = loaded.config.http;
  if (!http.debug.enabled) {
    return fail(
      `/debug is disabled in ${file} (http.debug.enabled: false), and explain asks /debug/resolve; enable it, e.g. on the loopback: http.debug: {enabled: true, listen: {address: 127.0.0.1, port: 8081}}`,
      1,
    );
  }
  const listen = http.debug.listen ?? http.listen;
  const key = http.debug.listen ? 'http.debug.listen' : 'http.listen';
  if (listen.port === 0)
    return fail(`${key} in ${file} has port 0 (chosen at start); pass --server URL with the port from the "gsdns serving" log line`, 1);
  // A wildcard bind is reached on the loopback of its family.
  const host = listen.address === '0.0.0.0' ? '127.0.0.1' : listen.address === '::' ? '::1' : listen.address;
  return `http://${host.includes(':') ? `[${host}]` : host}:${listen.port}/`;
}

async function explain(args: readonly string[]): Promise<void> {
  const { values, positionals } = parse('explain', args, {
    type: { type: 'string', short: 't' },
    subnet: { type: 'string' },
    config: { type: 'string', short: 'c' },
    set: { type: 'string', multiple: true },
    server: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (positionals.length !== 1) fail(`explain takes exactly one NAME\n\n${HELP['explain']!}`);
  const base = debugBaseUrl(values);
  const url = new URL('/debug/resolve', base);
  url.searchParams.set('name', positionals[0]!);
  url.searchParams.set('type', (values['type'] as string | undefined) ?? 'A');
  if (values['subnet']) url.searchParams.set('subnet', values['subnet'] as string);
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    return fail(`cannot reach ${base}: ${(err as Error).cause ? String((err as Error).cause) : (err as Error).message}`, 3);
  }
  if (res.status === 404) {
    return fail(
      `${base} does not serve /debug (404): it is off there or on a listener of its own (http.debug); pass the server's config with --config, or --server with the /debug listener's URL`,
      1,
    );
  }
  let body: Record<string, unknown>;
  try {
    body = (await res.json()) as Record<string, unknown>;
  } catch {
    return fail(`${base} answered ${res.status} with no JSON: is it a gsdns /debug listener?`, 1);
  }
  if (values['json'] || !res.ok) {
    process.stdout.write(JSON.stringify(body, null, 2) + '\n');
    if (!res.ok) process.exitCode = 1;
    return;
  }
  process.stdout.write((typeof body['text'] === 'string' ? body['text'] : JSON.stringify(body, null, 2)) + '\n');
}

async function certs(args: readonly string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(HELP['certs']!);
    return;
  }
  if (sub !== 'init' && sub !== 'issue') {
    fail(`${sub === undefined ? 'certs needs a command' : `unknown certs command "${sub}"`}\n\n${HELP['certs']!}`);
  }
  const command = `certs ${sub}`;
  const { values, positionals } =
    sub === 'init'
      ? parse(command, rest, { out: { type: 'string', short: 'o' }, days: { type: 'string' }, force: { type: 'boolean' } })
      : parse(command, rest, {
          cluster: { type: 'string' },
          out: { type: 'string', short: 'o' },
          'ca-dir': { type: 'string' },
          'trust-domain': { type: 'string' },
          days: { type: 'string' },
        });
  if (positionals.length > 0) fail(`${command} takes no positional arguments (got ${positionals.join(' ')})\n\n${HELP[command]!}`);
  const out = values['out'] as string | undefined;
  if (out === undefined || out === '') fail(`${command} needs --out DIR\n\n${HELP[command]!}`);
  const daysText = values['days'] as string | undefined;
  if (daysText !== undefined && !/^[1-9]\d{0,5}$/.test(daysText))
    fail(`--days must be a positive whole number of days (got "${daysText}")`);
  const days = daysText === undefined ? undefined : Number(daysText);
  const cluster = values['cluster'] as string | undefined;
  if (sub === 'issue' && cluster === undefined) fail(`certs issue needs --cluster NAME\n\n${HELP[command]!}`);
  try {
    if (sub === 'init') {
      const ca = await initCa({ outDir: out, force: values['force'] === true, ...(days === undefined ? {} : { days }) });
      process.stdout.write(
        `wrote ${ca.cert}\nwrote ${ca.key} (mode 0600; keep it secret)\n` +
          `next: gsdns certs issue --cluster NAME --ca-dir ${shellWord(out)} --out DIR\n`,
      );
      return;
    }
    const issued = await issueClusterCert({
      caDir: (values['ca-dir'] as string | undefined) ?? out,
      outDir: out,
      cluster: cluster!,
      ...(values['trust-domain'] === undefined ? {} : { trustDomain: values['trust-domain'] as string }),
      ...(days === undefined ? {} : { days }),
    });
    // Everything printed is valid YAML: the file list as comments, then the block to paste.
    process.stdout.write(
      `# wrote ${issued.cert}\n# wrote ${issued.key} (mode 0600)\n` +
        `# identity: DNS:${issued.dnsName}, URI:${issued.uri}\n` +
        `# sync settings for cluster ${issued.cluster} (cluster.name: ${issued.cluster}):\n` +
        `sync:\n  trustDomain: ${issued.trustDomain}\n  tls:\n` +
        `    ca: ${yamlScalar(issued.ca)}\n    cert: ${yamlScalar(issued.cert)}\n    key: ${yamlScalar(issued.key)}\n`,
    );
  } catch (err) {
    if (!(err instanceof CertsError)) throw err;
    const code = err.reason === 'invalid-argument' ? 2 : err.reason === 'exists' || err.reason === 'no-ca' ? 1 : 3;
    fail(err.message, code);
  }
}

function shellWord(text: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A plain YAML scalar when it is safe as one, otherwise a double-quoted (JSON) one. */
function yamlScalar(text: string): string {
  return /^[A-Za-z0-9_./-]+$/.test(text) ? text : JSON.stringify(text);
}
