/**
 * The Dockerfile's invariants, checked without a Docker engine (none is reachable where the tests
 * run; scripts/dockerfile-smoke.sh replays the build itself).
 *
 * Owns: a small Dockerfile parser (comments, parser directives, `\` continuations, exec/shell form,
 * flags, ARG expansion), `checkDockerfile` / `checkDockerignore` / `checkPortDefaults`, which turn a
 * text into a list of rule violations, and the tests that run them against the real files AND
 * against broken variants of them — every rule is shown to fail at least once.
 * Never: builds or runs an image, or reaches the network.
 *
 * Rules (SPEC §5 "Deploy", the Helm chart's values): multi-stage; every FROM a full x.y.z Node 22
 * tag (optionally with a digest), the runtime stage slim; `npm ci` after the lockfile is copied,
 * never `npm install`; dev dependencies pruned in the stage that node_modules comes from, after its
 * last install; a non-root USER (uid ≠ 0, or a non-root name created in the file) set before CMD;
 * CMD in exec form running node (never npm); HEALTHCHECK on /healthz of the http port without
 * curl/wget; EXPOSE = helm/gsdns/values.yaml containerPorts (dns over udp and tcp), which in turn
 * equal the config schema's default ports; the runtime stage copies no src/test/bench; the
 * .dockerignore excludes node_modules, dist and .git.
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { schemaAt } from '../../src/config/schema.js';
import { repoRoot } from '../helpers/gsdns-process.js';

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY, … */
  readonly keyword: string;
  /** `--name=value` flags before the arguments (COPY --from, HEALTHCHECK --interval, …). */
  readonly flags: ReadonlyMap<string, string>;
  /** Everything after the keyword and the flags, continuations joined, trimmed. */
  readonly rest: string;
  /** The JSON array when `rest` is exec form, else undefined. */
  readonly exec: readonly string[] | undefined;
  /** 1-based line where the instruction starts. */
  readonly line: number;
}

export interface Stage {
  /** The FROM image after ARG expansion, e.g. node:22.23.3-bookworm-slim. */
  readonly image: string;
  readonly name: string | undefined;
  readonly index: number;
  /** The instructions after FROM, in order (FROM itself excluded). */
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults (usable in FROM lines). */
  readonly globalArgs: ReadonlyMap<string, string>;
  readonly stages: readonly Stage[];
}

const FLAG_KEYWORDS = new Set(['FROM', 'COPY', 'ADD', 'RUN', 'HEALTHCHECK']);

/** Split into logical instructions: `\` continues a line; comment and blank lines inside continue. */
function logicalLines(text: string): { text: string; line: number }[] {
  const out: { text: string; line: number }[] = [];
  let current: string | undefined;
  let start = 0;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const trimmed = raw.trim();
    // Comments (and parser directives, which look like comments) are dropped wherever they are,
    // including inside a continuation, as BuildKit does.
    if (trimmed.startsWith('#')) return;
    // Blank lines end nothing: inside a continuation Docker drops them too.
    if (trimmed === '') return;
    const continues = /\\\s*$/.test(raw);
    const body = continues ? raw.replace(/\\\s*$/, '') : raw;
    if (current === undefined) {
      current = body.trimStart();
      start = i + 1;
    } else {
      current += body;
    }
    if (!continues) {
      out.push({ text: current.trim(), line: start });
      current = undefined;
    }
  });
  if (current !== undefined) out.push({ text: current.trim(), line: start });
  return out;
}

/** `$VAR`, `${VAR}`, `${VAR:-default}` from `vars`; unknown variables expand to "" (as Docker does). */
function expand(value: string, vars: ReadonlyMap<string, string>): string {
  return value.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (_m, braced?: string, def?: string, bare?: string) => {
      const name = (braced ?? bare)!;
      const v = vars.get(name);
      return v !== undefined && v !== '' ? v : (def ?? '');
    },
  );
}

function parseInstruction(text: string, line: number): Instruction {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(text)!;
  const keyword = m[1]!.toUpperCase();
  let rest = m[2]!.trim();
  const flags = new Map<string, string>();
  if (FLAG_KEYWORDS.has(keyword)) {
    for (let f = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest); f; f = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest)) {
      flags.set(f[1]!, f[2] ?? '');
      rest = rest.slice(f[0].length);
    }
  }
  let exec: string[] | undefined;
  // HEALTHCHECK CMD […] and exec forms of RUN/CMD/ENTRYPOINT.
  const json = keyword === 'HEALTHCHECK' ? rest.replace(/^CMD\s+/i, '') : rest;
  if (json.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(json);
      if (Array.isArray(parsed) && parsed.every((s) => typeof s === 'string')) exec = parsed;
    } catch {
      // not valid JSON: Docker then runs it as shell form
    }
  }
  return { keyword, flags, rest, exec, line };
}

export function parseDockerfile(text: string): Dockerfile {
  const globalArgs = new Map<string, string>();
  const stages: { image: string; name: string | undefined; index: number; instructions: Instruction[] }[] = [];
  for (const { text: line, line: n } of logicalLines(text)) {
    const ins = parseInstruction(line, n);
    if (ins.keyword === 'FROM') {
      const [image = '', as, name] = ins.rest.split(/\s+/);
      stages.push({
        image: expand(image, globalArgs),
        name: as?.toUpperCase() === 'AS' ? name : undefined,
        index: stages.length,
        instructions: [],
      });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`line ${n}: ${ins.keyword} before the first FROM`);
      const [name = '', ...def] = ins.rest.split('=');
      globalArgs.set(name.trim(), def.join('=').replace(/^"(.*)"$/, '$1'));
    } else {
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return { globalArgs, stages };
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

export interface Violation {
  readonly rule: string;
  readonly message: string;
}

export interface ContainerPorts {
  readonly dns: number;
  readonly http: number;
  readonly sync: number;
}

/** A full Node 22 version tag (x.y.z, optional variant), optionally pinned by digest too. */
const PINNED_NODE_22 = /^(?:docker\.io\/)?(?:library\/)?node:22\.\d+\.\d+(?:-[a-z0-9][a-z0-9.-]*)?(?:@sha256:[0-9a-f]{64})?$/;

const runText = (ins: Instruction): string => (ins.exec ? ins.exec.join(' ') : ins.rest);
const npmCi = (cmd: string): boolean => /\bnpm\s+ci\b/.test(cmd);
const npmInstall = (cmd: string): boolean => /\bnpm\s+(?:install|i|add)\b/.test(cmd);
const omitsDev = (cmd: string): boolean => /--omit[= ]dev\b/.test(cmd);
const prunesDev = (cmd: string): boolean => /\bnpm\s+prune\b[^;&|]*--omit[= ]dev\b/.test(cmd) || (npmCi(cmd) && omitsDev(cmd));
const installsDev = (cmd: string): boolean => (npmCi(cmd) && !omitsDev(cmd)) || npmInstall(cmd);

/** A COPY/ADD's source paths (the last argument is the destination). */
function copySources(ins: Instruction): string[] {
  const args = ins.exec ?? ins.rest.split(/\s+/).filter(Boolean);
  return args.slice(0, -1);
}

/** The WORKDIR in effect at instruction `at` of a stage (stage-relative). */
function workdirAt(stage: Stage, at = stage.instructions.length): string {
  let dir = '/';
  for (const ins of stage.instructions.slice(0, at)) if (ins.keyword === 'WORKDIR') dir = posix.resolve(dir, ins.rest);
  return dir;
}

/** Index of the last instruction with this keyword (the one Docker keeps), or -1. */
function lastIndex(instructions: readonly Instruction[], keyword: string): number {
  for (let i = instructions.length - 1; i >= 0; i--) if (instructions[i]!.keyword === keyword) return i;
  return -1;
}

const FORBIDDEN_IN_RUNTIME = new Set(['src', 'test', 'tests', 'bench', 'scripts', 'helm', '.git']);

export function checkDockerfile(text: string, ports: ContainerPorts): Violation[] {
  const v: Violation[] = [];
  const add = (rule: string, message: string): void => void v.push({ rule, message });
  let df: Dockerfile;
  try {
    df = parseDockerfile(text);
  } catch (err) {
    return [{ rule: 'parse', message: (err as Error).message }];
  }
  const { stages } = df;
  if (stages.length < 2) add('multi-stage', `expected a build stage and a runtime stage, found ${stages.length} stage(s)`);
  if (stages.length === 0) return v;
  const byName = (ref: string): Stage | undefined => stages.find((s) => s.name === ref || String(s.index) === ref);
  const baseImage = (s: Stage): string => byName(s.image)?.image ?? s.image;

  for (const s of stages) {
    const image = baseImage(s);
    if (!PINNED_NODE_22.test(image))
      add('pinned-from', `stage ${s.name ?? s.index}: FROM ${image} is not node:22.x.y[-variant] (no latest, no bare major)`);
  }
  const final = stages.at(-1)!;
  if (!/slim/.test(baseImage(final))) add('slim-runtime', `runtime stage FROM ${baseImage(final)} is not a slim image`);

  // npm ci, never npm install; the lockfile is in place before npm ci.
  let sawCi = false;
  for (const s of stages) {
    const lockCopied = (at: number): boolean =>
      s.instructions
        .slice(0, at)
        .some((i) => (i.keyword === 'COPY' || i.keyword === 'ADD') && copySources(i).some((p) => /package-lock\.json$|^\.\/?$/.test(p)));
    s.instructions.forEach((ins, at) => {
      if (ins.keyword !== 'RUN') return;
      const cmd = runText(ins);
      if (npmInstall(cmd)) add('npm-ci', `line ${ins.line}: uses npm install; use npm ci (reproducible from the lockfile)`);
      if (npmCi(cmd)) {
        sawCi = true;
        if (!lockCopied(at)) add('npm-ci', `line ${ins.line}: npm ci before package-lock.json is copied`);
      }
    });
  }
  if (!sawCi) add('npm-ci', 'no stage runs npm ci');

  // node_modules reaches the runtime stage only from a stage that pruned dev dependencies last.
  let modulesCopied = false;
  for (const ins of final.instructions) {
    if (ins.keyword !== 'COPY' && ins.keyword !== 'ADD') continue;
    const from = ins.flags.get('from');
    const source = from === undefined ? undefined : byName(from);
    const root = source ? workdirAt(source) : '/';
    for (const p of copySources(ins)) {
      const abs = source ? posix.resolve(root, p) : posix.resolve('/', p);
      const rel = posix.relative(root, abs);
      const segments = rel.split('/').filter(Boolean);
      if (rel === '' || p === '*' || segments.some((seg) => FORBIDDEN_IN_RUNTIME.has(seg))) {
        add(
          'runtime-contents',
          `line ${ins.line}: the runtime stage copies ${p}${from ? ` from ${from}` : ''} (sources, tests, benches or a whole tree)`,
        );
      }
      if (!segments.includes('node_modules')) continue;
      modulesCopied = true;
      if (!source) {
        add('prune-dev', `line ${ins.line}: node_modules copied from the build context, not from a build stage`);
        continue;
      }
      const runs = source.instructions.map((i, at) => ({ i, at })).filter(({ i }) => i.keyword === 'RUN');
      const lastInstall = Math.max(-1, ...runs.filter(({ i }) => installsDev(runText(i))).map(({ at }) => at));
      const lastPrune = Math.max(-1, ...runs.filter(({ i }) => prunesDev(runText(i))).map(({ at }) => at));
      if (lastPrune < 0 || lastPrune < lastInstall) {
        add(
          'prune-dev',
          `line ${ins.line}: node_modules comes from stage ${from}, which does not prune dev dependencies (npm prune --omit=dev) after its last install`,
        );
      }
    }
  }
  for (const ins of final.instructions) {
    if (ins.keyword === 'RUN' && installsDev(runText(ins)))
      add('prune-dev', `line ${ins.line}: the runtime stage installs dev dependencies`);
  }
  if (!modulesCopied && !final.instructions.some((i) => i.keyword === 'RUN' && prunesDev(runText(i)))) {
    add('prune-dev', 'the runtime stage gets no production node_modules');
  }

  // USER: non-root, before CMD, and the last word.
  const cmdAt = lastIndex(final.instructions, 'CMD');
  const userAt = lastIndex(final.instructions, 'USER');
  const created = new Set<string>();
  for (const s of stages) {
    for (const ins of s.instructions) {
      if (ins.keyword !== 'RUN') continue;
      for (const m of runText(ins).matchAll(/\b(?:useradd|adduser)\b([^;&|]*)/g)) {
        const name = m[1]!
          .trim()
          .split(/\s+/)
          .filter((w) => !w.startsWith('-'))
          .at(-1);
        const uid = /(?:-u|--uid)[ =](\d+)/.exec(m[1]!)?.[1];
        if (name && uid !== '0') created.add(name);
      }
    }
  }
  if (userAt < 0) add('non-root', 'the runtime stage has no USER (it would run as root)');
  else {
    const user = final.instructions[userAt]!.rest.split(':')[0]!.trim();
    if (/^\d+$/.test(user) ? Number(user) === 0 : user === 'root' || !created.has(user)) {
      add('non-root', `USER ${user} is root or a name not created in this file; use a numeric uid ≠ 0`);
    }
    if (cmdAt >= 0 && userAt > cmdAt) add('non-root', 'USER is set after CMD');
  }

  // CMD: exec form, node, never npm; no ENTRYPOINT of our own to wrap it.
  if (cmdAt < 0) add('cmd', 'the runtime stage has no CMD');
  else {
    const cmd = final.instructions[cmdAt]!;
    if (!cmd.exec) add('cmd', `CMD ${cmd.rest} is shell form; use exec form so SIGTERM reaches node`);
    else {
      const [prog, script, sub] = cmd.exec;
      if (prog === undefined || posix.basename(prog) !== 'node') add('cmd', `CMD runs ${prog}, not node`);
      if (cmd.exec.some((a) => /^(?:npm|npx|yarn|pnpm)$/.test(posix.basename(a)))) add('cmd', 'CMD starts through a package manager');
      if (script === undefined || !/(?:^|\/)bin\/gsdns$/.test(script) || sub !== 'serve')
        add('cmd', `CMD is not node bin/gsdns serve: ${cmd.rest}`);
    }
  }
  if (final.instructions.some((i) => i.keyword === 'ENTRYPOINT'))
    add('cmd', 'the runtime stage sets an ENTRYPOINT; CMD alone must start node');

  // HEALTHCHECK on /healthz of the http port, with a tool the slim image has.
  const hc = final.instructions[lastIndex(final.instructions, 'HEALTHCHECK')];
  if (!hc || /^NONE\b/i.test(hc.rest)) add('healthcheck', 'the runtime stage has no HEALTHCHECK');
  else {
    const body = hc.exec ? hc.exec.join(' ') : hc.rest;
    if (!new RegExp(`127\\.0\\.0\\.1:${ports.http}/healthz\\b`).test(body))
      add('healthcheck', `HEALTHCHECK does not hit http://127.0.0.1:${ports.http}/healthz`);
    if (/\b(?:curl|wget)\b/.test(body)) add('healthcheck', 'HEALTHCHECK uses curl/wget, which the slim image lacks');
  }

  // EXPOSE = containerPorts: dns on udp and tcp, the rest tcp.
  const exposed = new Set<string>();
  for (const ins of final.instructions) {
    if (ins.keyword !== 'EXPOSE') continue;
    for (const p of ins.rest.split(/\s+/).filter(Boolean)) exposed.add(p.includes('/') ? p.toLowerCase() : `${p}/tcp`);
  }
  const want = new Set([`${ports.dns}/udp`, `${ports.dns}/tcp`, `${ports.sync}/tcp`, `${ports.http}/tcp`]);
  const missingPorts = [...want].filter((p) => !exposed.has(p));
  const extra = [...exposed].filter((p) => !want.has(p));
  if (missingPorts.length > 0 || extra.length > 0) {
    add(
      'expose',
      `EXPOSE ${[...exposed].sort().join(' ')} ≠ containerPorts ${[...want].sort().join(' ')} (missing: ${missingPorts.join(' ') || '-'}; extra: ${extra.join(' ') || '-'})`,
    );
  }
  return v;
}

/** node_modules, dist and .git must be excluded, and not re-included by a later `!` pattern. */
export function checkDockerignore(text: string): Violation[] {
  const patterns = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const norm = (p: string): string =>
    p
      .replace(/^\/+/, '')
      .replace(/\/+$/, '')
      .replace(/^\*\*\//, '');
  const v: Violation[] = [];
  for (const dir of ['node_modules', 'dist', '.git']) {
    // The last pattern matching the folder decides, as in Docker's matcher.
    let excluded = false;
    for (const p of patterns) {
      const negated = p.startsWith('!');
      if (norm(negated ? p.slice(1) : p) === dir) excluded = !negated;
    }
    if (!excluded) v.push({ rule: 'dockerignore', message: `.dockerignore does not exclude ${dir}` });
  }
  return v;
}

export interface SchemaPorts {
  readonly dns: number | undefined;
  readonly http: number | undefined;
  readonly sync: number | undefined;
}

/** The chart's containerPorts equal the config schema's default listen ports. */
export function checkPortDefaults(ports: ContainerPorts, defaults: SchemaPorts): Violation[] {
  return (['dns', 'http', 'sync'] as const)
    .filter((k) => ports[k] !== defaults[k])
    .map((k) => ({
      rule: 'port-defaults',
      message: `containerPorts.${k} is ${ports[k]} but the config schema's default is ${defaults[k]}`,
    }));
}

/**
 * `npm ci --ignore-scripts` is only safe while no production dependency has an install script
 * (a native addon would then be left unbuilt, and fail at run time, not at build time).
 */
export function checkIgnoreScripts(
  text: string,
  lock: { packages?: Record<string, { dev?: boolean; hasInstallScript?: boolean }> },
): Violation[] {
  const ignoring = parseDockerfile(text).stages.some((s) =>
    s.instructions.some((i) => i.keyword === 'RUN' && /\bnpm\s+ci\b[^;&|]*--ignore-scripts/.test(runText(i))),
  );
  if (!ignoring) return [];
  return Object.entries(lock.packages ?? {})
    .filter(([key, p]) => key !== '' && p.hasInstallScript === true && p.dev !== true)
    .map(([key]) => ({ rule: 'ignore-scripts', message: `npm ci --ignore-scripts, but ${key} has an install script` }));
}

/** What the Helm chart assumes about the image. */
export interface ChartFacts {
  /** Every runAsUser / runAsGroup in values.yaml's podSecurityContext and securityContext. */
  readonly runAsUser: readonly number[];
  readonly runAsGroup: readonly number[];
  /** The absolute bin/gsdns path the Deployment's `command` runs, if it names one. */
  readonly binPath: string | undefined;
}

/** The image's USER is the chart's runAsUser/runAsGroup, and bin/gsdns is where the chart runs it. */
export function checkChartAgreement(text: string, chart: ChartFacts): Violation[] {
  const v: Violation[] = [];
  const final = parseDockerfile(text).stages.at(-1);
  if (!final) return [{ rule: 'chart', message: 'no stage' }];
  const userAt = lastIndex(final.instructions, 'USER');
  const [uid, gid] = userAt < 0 ? [] : final.instructions[userAt]!.rest.split(':').map((x) => x.trim());
  for (const u of chart.runAsUser)
    if (uid !== String(u)) v.push({ rule: 'chart', message: `USER ${uid ?? '(none)'} ≠ the chart's runAsUser ${u}` });
  for (const g of chart.runAsGroup)
    if (gid !== String(g)) v.push({ rule: 'chart', message: `USER group ${gid ?? '(none)'} ≠ the chart's runAsGroup ${g}` });
  const cmd = final.instructions[lastIndex(final.instructions, 'CMD')];
  const script = cmd?.exec?.[1];
  if (chart.binPath !== undefined && (script === undefined || posix.resolve(workdirAt(final), script) !== chart.binPath)) {
    v.push({
      rule: 'chart',
      message: `the chart runs ${chart.binPath}, but the image's CMD script is ${script} in WORKDIR ${workdirAt(final)}`,
    });
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

const dockerfilePath = join(repoRoot, 'Dockerfile');
const dockerignorePath = join(repoRoot, '.dockerignore');
const valuesPath = join(repoRoot, 'helm', 'gsdns', 'values.yaml');
const deploymentPath = join(repoRoot, 'helm', 'gsdns', 'templates', 'deployment.yaml');

function readChartFacts(): ChartFacts {
  if (!existsSync(valuesPath)) throw new Error(`${valuesPath} is missing`);
  const values = parseYaml(readFileSync(valuesPath, 'utf8')) as Record<string, { runAsUser?: unknown; runAsGroup?: unknown } | undefined>;
  const contexts = [values['podSecurityContext'], values['securityContext']];
  const numbers = (key: 'runAsUser' | 'runAsGroup'): number[] =>
    contexts.map((c) => c?.[key]).filter((x): x is number => typeof x === 'number');
  const deployment = existsSync(deploymentPath) ? readFileSync(deploymentPath, 'utf8') : '';
  const binPath = /(\/[\w./-]*\/bin\/gsdns)\b/.exec(deployment)?.[1];
  return { runAsUser: numbers('runAsUser'), runAsGroup: numbers('runAsGroup'), binPath };
}

function readContainerPorts(): ContainerPorts {
  if (!existsSync(valuesPath))
    throw new Error(`${valuesPath} is missing: the Dockerfile's EXPOSE is checked against the chart's containerPorts`);
  const values = parseYaml(readFileSync(valuesPath, 'utf8')) as { containerPorts?: Record<string, unknown> } | null;
  const cp = values?.containerPorts;
  const port = (k: string): number => {
    const p = cp?.[k];
    if (typeof p !== 'number' || !Number.isInteger(p))
      throw new Error(`helm/gsdns/values.yaml containerPorts.${k} is not an integer: ${JSON.stringify(p)}`);
    return p;
  };
  return { dns: port('dns'), http: port('http'), sync: port('sync') };
}

function schemaDefaults(): SchemaPorts {
  const dnsListen = schemaAt(['dns', 'listen'])?.default as { port: number }[] | undefined;
  return {
    dns: dnsListen?.[0]?.port,
    http: schemaAt(['http', 'listen', 'port'])?.default as number | undefined,
    sync: schemaAt(['sync', 'listen', 'port'])?.default as number | undefined,
  };
}

/** What the tests of broken variants check against (the chart's values, as they must be). */
const PORTS: ContainerPorts = { dns: 5353, http: 8080, sync: 7443 };
const dockerfile = readFileSync(dockerfilePath, 'utf8');

const fmt = (v: readonly Violation[]): string => v.map((x) => `[${x.rule}] ${x.message}`).join('\n');

// ---------------------------------------------------------------------------------------------
// The real files
// ---------------------------------------------------------------------------------------------

test('the Dockerfile keeps every invariant, with the ports of helm/gsdns/values.yaml', (t) => {
  const ports = readContainerPorts();
  const violations = checkDockerfile(dockerfile, ports);
  t.deepEqual(violations, [], fmt(violations));
});

test('the chart containerPorts are the config schema default ports (dns 5353, http 8080, sync 7443)', (t) => {
  const defaults = schemaDefaults();
  t.deepEqual(defaults, { dns: 5353, http: 8080, sync: 7443 });
  const violations = checkPortDefaults(readContainerPorts(), defaults);
  t.deepEqual(violations, [], fmt(violations));
});

test("the image runs as the chart's runAsUser/runAsGroup, with bin/gsdns where the chart's command expects it", (t) => {
  const facts = readChartFacts();
  t.true(facts.runAsUser.length > 0, 'values.yaml sets runAsUser');
  const violations = checkChartAgreement(dockerfile, facts);
  t.deepEqual(violations, [], fmt(violations));
});

test('npm ci --ignore-scripts skips no production install script (package-lock.json)', (t) => {
  const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as Parameters<typeof checkIgnoreScripts>[1];
  const violations = checkIgnoreScripts(dockerfile, lock);
  t.deepEqual(violations, [], fmt(violations));
  // …and the check can fail: a production addon with an install script, unless scripts run.
  const addon = {
    packages: { '': {}, 'node_modules/addon': { hasInstallScript: true }, 'node_modules/devtool': { hasInstallScript: true, dev: true } },
  };
  t.deepEqual(
    checkIgnoreScripts(dockerfile, addon).map((x) => x.message),
    ['npm ci --ignore-scripts, but node_modules/addon has an install script'],
  );
  t.deepEqual(checkIgnoreScripts(swap('npm ci --ignore-scripts', 'npm ci')(dockerfile), addon), []);
});

test('.dockerignore excludes node_modules, dist and .git', (t) => {
  const violations = checkDockerignore(readFileSync(dockerignorePath, 'utf8'));
  t.deepEqual(violations, [], fmt(violations));
});

test('the parser joins continuations, drops comments inside them, and expands global ARGs in FROM', (t) => {
  const df = parseDockerfile(
    [
      '# syntax=docker/dockerfile:1',
      'ARG V=22.1.2',
      'FROM node:${V}-slim AS b',
      'RUN a \\',
      '  # a comment inside the continuation',
      '',
      '  && b',
      'from node:$V',
      'COPY --from=b --chown=1:1 ["/x y", "/z"]',
      'HEALTHCHECK --interval=5s \\',
      '  CMD ["node", "-e", "1"]',
    ].join('\n'),
  );
  t.deepEqual(
    df.stages.map((s) => [s.image, s.name]),
    [
      ['node:22.1.2-slim', 'b'],
      ['node:22.1.2', undefined],
    ],
  );
  t.is(df.stages[0]!.instructions[0]!.rest, 'a   && b');
  t.is(df.stages[0]!.instructions[0]!.line, 4);
  const copy = df.stages[1]!.instructions[0]!;
  t.deepEqual([copy.keyword, copy.flags.get('from'), copy.flags.get('chown'), copy.exec], ['COPY', 'b', '1:1', ['/x y', '/z']]);
  const hc = df.stages[1]!.instructions[1]!;
  t.deepEqual([hc.keyword, hc.flags.get('interval'), hc.exec], ['HEALTHCHECK', '5s', ['node', '-e', '1']]);
});

// ---------------------------------------------------------------------------------------------
// Broken variants: every rule can fail
// ---------------------------------------------------------------------------------------------

interface Mutation {
  readonly name: string;
  readonly mutate: (text: string) => string;
  readonly rule: string;
}

/** Replace exactly `from` (which must occur) with `to`, so a mutation is never a silent no-op. */
const swap =
  (from: string | RegExp, to: string) =>
  (text: string): string => {
    const out = text.replace(from, to);
    if (out === text) throw new Error(`mutation did not apply: ${String(from)}`);
    return out;
  };
const RUNTIME_FROM = /^FROM .* AS runtime$/m;
const append =
  (line: string) =>
  (text: string): string =>
    `${text.trimEnd()}\n${line}\n`;

const mutations: Mutation[] = [
  { name: 'one stage', mutate: swap(RUNTIME_FROM, ''), rule: 'multi-stage' },
  { name: 'bare major', mutate: swap(/^ARG NODE_VERSION=.*$/m, 'ARG NODE_VERSION=22'), rule: 'pinned-from' },
  { name: 'major.minor only', mutate: swap(/^ARG NODE_VERSION=.*$/m, 'ARG NODE_VERSION=22.23'), rule: 'pinned-from' },
  { name: 'Node 20', mutate: swap(/^ARG NODE_VERSION=.*$/m, 'ARG NODE_VERSION=20.19.5'), rule: 'pinned-from' },
  { name: 'latest runtime', mutate: swap(RUNTIME_FROM, 'FROM node:latest AS runtime'), rule: 'pinned-from' },
  { name: 'undefined ARG', mutate: swap(/^ARG NODE_VERSION=.*$/m, ''), rule: 'pinned-from' },
  { name: 'full runtime image', mutate: swap(RUNTIME_FROM, 'FROM node:${NODE_VERSION}-bookworm AS runtime'), rule: 'slim-runtime' },
  { name: 'npm install', mutate: swap(/npm ci --ignore-scripts/, 'npm install --ignore-scripts'), rule: 'npm-ci' },
  {
    name: 'npm ci without the lockfile',
    mutate: swap(/^COPY package\.json package-lock\.json \.npmrc \.\/$/m, 'COPY package.json .npmrc ./'),
    rule: 'npm-ci',
  },
  { name: 'no prune', mutate: swap(/^RUN npm prune --omit=dev.*$/m, ''), rule: 'prune-dev' },
  { name: 'install after prune', mutate: swap(/^(RUN npm prune --omit=dev.*)$/m, '$1\nRUN npm ci'), rule: 'prune-dev' },
  { name: 'node_modules from the context', mutate: swap(/COPY --from=build \/app\/node_modules/, 'COPY node_modules'), rule: 'prune-dev' },
  { name: 'no node_modules', mutate: swap(/^COPY --from=build \/app\/node_modules.*$/m, ''), rule: 'prune-dev' },
  { name: 'runtime npm install', mutate: append('RUN npm install'), rule: 'npm-ci' },
  { name: 'no USER', mutate: swap(/^USER .*$/m, ''), rule: 'non-root' },
  { name: 'USER 0', mutate: swap(/^USER .*$/m, 'USER 0:0'), rule: 'non-root' },
  { name: 'USER root', mutate: swap(/^USER .*$/m, 'USER root'), rule: 'non-root' },
  { name: 'USER name never created', mutate: swap(/^USER .*$/m, 'USER somebody'), rule: 'non-root' },
  { name: 'USER after CMD', mutate: (x) => append('USER 10001')(swap(/^USER .*$/m, '')(x)), rule: 'non-root' },
  { name: 'shell-form CMD', mutate: swap(/^CMD .*$/m, 'CMD node bin/gsdns serve'), rule: 'cmd' },
  { name: 'CMD through npm', mutate: swap(/^CMD .*$/m, 'CMD ["npm", "start"]'), rule: 'cmd' },
  { name: 'CMD not the server', mutate: swap(/^CMD .*$/m, 'CMD ["node"]'), rule: 'cmd' },
  { name: 'no CMD', mutate: swap(/^CMD .*$/m, ''), rule: 'cmd' },
  { name: 'ENTRYPOINT npm', mutate: append('ENTRYPOINT ["npm", "start"]'), rule: 'cmd' },
  { name: 'healthcheck on /readyz', mutate: swap(/\/healthz'/, "/readyz'"), rule: 'healthcheck' },
  {
    name: 'healthcheck with curl',
    mutate: swap(/^HEALTHCHECK [\s\S]*?\n(?=\S)/m, 'HEALTHCHECK CMD curl -f http://127.0.0.1:8080/healthz\n'),
    rule: 'healthcheck',
  },
  { name: 'HEALTHCHECK NONE', mutate: swap(/^HEALTHCHECK [\s\S]*?\n(?=\S)/m, 'HEALTHCHECK NONE\n'), rule: 'healthcheck' },
  { name: 'dns only over udp', mutate: swap(/ 5353\/tcp/, ''), rule: 'expose' },
  { name: 'dns only over tcp', mutate: swap(/ 5353\/udp/, ''), rule: 'expose' },
  { name: 'sync port moved', mutate: swap(/7443\/tcp/, '7444/tcp'), rule: 'expose' },
  { name: 'extra port', mutate: swap(/8080\/tcp/, '8080/tcp 9090'), rule: 'expose' },
  { name: 'runtime copies src', mutate: append('COPY --from=build /app/src ./src'), rule: 'runtime-contents' },
  { name: 'runtime copies tests', mutate: append('COPY test ./test'), rule: 'runtime-contents' },
  { name: 'runtime copies the context', mutate: append('COPY . .'), rule: 'runtime-contents' },
  { name: 'runtime copies the build tree', mutate: append('COPY --from=build /app ./'), rule: 'runtime-contents' },
];

for (const m of mutations) {
  test(`a broken Dockerfile fails [${m.rule}]: ${m.name}`, (t) => {
    const violations = checkDockerfile(m.mutate(dockerfile), PORTS);
    t.true(
      violations.some((x) => x.rule === m.rule),
      `expected a [${m.rule}] violation, got:\n${fmt(violations) || '(none)'}`,
    );
  });
}

test('a named non-root user created in the file passes; the port check follows the values given', (t) => {
  t.deepEqual(checkDockerfile(swap(/^USER .*$/m, 'USER gsdns')(dockerfile), PORTS), []);
  t.true(checkDockerfile(dockerfile, { ...PORTS, sync: 7444 }).some((x) => x.rule === 'expose'));
  t.true(checkDockerfile(dockerfile, { ...PORTS, http: 8081 }).some((x) => x.rule === 'healthcheck'));
});

test('broken .dockerignore files fail', (t) => {
  const real = readFileSync(dockerignorePath, 'utf8');
  for (const dir of ['node_modules', 'dist', '.git']) {
    const without = real.replace(new RegExp(`^${dir.replace('.', '\\.')}$`, 'm'), '');
    t.not(without, real);
    t.deepEqual(checkDockerignore(without), [{ rule: 'dockerignore', message: `.dockerignore does not exclude ${dir}` }]);
  }
  t.is(checkDockerignore(`${real}\n!dist\n`).length, 1);
  t.deepEqual(checkDockerignore('/node_modules/\n**/dist\n.git/\n'), []);
});

test('an image that disagrees with the chart fails', (t) => {
  const chart: ChartFacts = { runAsUser: [10001], runAsGroup: [10001], binPath: '/app/bin/gsdns' };
  t.deepEqual(checkChartAgreement(dockerfile, chart), []);
  const rules = (text: string, facts = chart): string[] => checkChartAgreement(text, facts).map((x) => x.rule);
  t.deepEqual(rules(dockerfile, { ...chart, runAsUser: [1000] }), ['chart']);
  t.deepEqual(rules(dockerfile, { ...chart, runAsGroup: [0] }), ['chart']);
  t.deepEqual(rules(swap(/^USER .*$/m, 'USER 10001')(dockerfile)), ['chart']);
  t.deepEqual(rules(swap(/^WORKDIR \/app$(?![\s\S]*^FROM)/m, 'WORKDIR /srv')(dockerfile)), ['chart']);
  t.deepEqual(rules(dockerfile, { ...chart, binPath: '/opt/gsdns/bin/gsdns' }), ['chart']);
});

test('chart ports that drift from the schema defaults fail', (t) => {
  const defaults = { dns: 5353, http: 8080, sync: 7443 };
  t.deepEqual(checkPortDefaults(PORTS, defaults), []);
  t.deepEqual(
    checkPortDefaults({ ...PORTS, sync: 8443 }, defaults).map((x) => x.rule),
    ['port-defaults'],
  );
});
