#!/usr/bin/env bash
# Dockerfile smoke test without a Docker engine: replays the Dockerfile on this machine and starts
# the result.
#
# Owns: a temp dir holding the build context (the repo filtered by .dockerignore), one folder per
# stage standing in for that stage's filesystem root, and the server's log; all removed on exit.
# Follows the file, not a copy of it: the Dockerfile is parsed (a small parser below; the full one,
# with its tests, is test/integration/dockerfile.test.ts) into a plan of FROM/WORKDIR/ENV/ARG/COPY/
# RUN/CMD/HEALTHCHECK steps. Build stages' RUN steps run in their stage folder; the final stage's RUN
# steps (user creation) are skipped, since they would change this machine. The final stage's CMD is
# then started with the final stage's ENV, on loopback port 0, and checked: the image's own
# HEALTHCHECK command, /healthz and /readyz, a dig query over UDP and TCP (NOERROR with an A record),
# no dev dependency and no src/test/bench in the runtime tree, everything readable by a non-root
# uid, and SIGTERM → exit 0.
# Never: touches anything outside its temp dir (RUN steps other than npm/node/npx are refused),
# listens anywhere but 127.0.0.1, or reaches the network except the npm registry (npm ci, npx node).
# Node: the Dockerfile's base image version from the npm package `node@X.Y.Z` (npx), else node@22;
# with neither, it fails under CI=true and warns otherwise.
#
# Usage: scripts/dockerfile-smoke.sh        (exit 0 = the image would build and serve)
set -euo pipefail
umask 022 # as in a Docker build: the runtime tree must be readable by uid 10001

repo=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "== dockerfile-smoke: $*"; }
die() {
  echo "dockerfile-smoke: FAIL: $*" >&2
  exit 1
}
for tool in node npx dig; do command -v "$tool" >/dev/null || die "$tool is not installed"; done
[ -f "$repo/Dockerfile" ] || die "no Dockerfile in $repo"

work=$(mktemp -d "${TMPDIR:-/tmp}/gsdns-dockerfile-smoke.XXXXXX")
server_pid=
cleanup() {
  local rc=$?
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  if [ "$rc" -ne 0 ] && [ -f "$work/server.log" ]; then
    echo "---- server log (last 40 lines)" >&2
    tail -n 40 "$work/server.log" >&2 || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
ctx="$work/context"
roots="$work/stages"
mkdir -p "$ctx" "$roots"

# ---------------------------------------------------------------------------------------------
# 1. The build context and the plan (node: .dockerignore matching and Dockerfile parsing)
# ---------------------------------------------------------------------------------------------
cat >"$work/plan.mjs" <<'NODE'
// Copies the repo into the context dir honouring .dockerignore, and writes the Dockerfile as a
// bash plan: one call per instruction, every argument single-quoted.
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';

const [repo, ctx, planFile] = process.argv.slice(2);

// --- .dockerignore: Docker's rules (last match wins, `!` re-includes, a match on a folder
// excludes what is inside it, `**` spans folders) -------------------------------------------
const ignoreFile = join(repo, '.dockerignore');
const rules = (existsSync(ignoreFile) ? readFileSync(ignoreFile, 'utf8') : '')
  .split(/\r?\n/)
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'))
  .map((l) => {
    const negate = l.startsWith('!');
    const glob = posix.normalize((negate ? l.slice(1) : l).trim().replace(/^\/+/, '')).replace(/\/+$/, '');
    return { negate, re: globToRegExp(glob) };
  });
function globToRegExp(glob) {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      if (glob[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}
function ignored(rel) {
  const parts = rel.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let out = false;
  for (const r of rules) if (prefixes.some((p) => r.re.test(p))) out = !r.negate;
  return out;
}
const canPrune = !rules.some((r) => r.negate);
let files = 0;
function walk(rel) {
  for (const entry of readdirSync(join(repo, rel), { withFileTypes: true })) {
    const child = rel ? `${rel}/${entry.name}` : entry.name;
    const isIgnored = ignored(child);
    if (entry.isDirectory()) {
      if (!(isIgnored && canPrune)) walk(child);
      continue;
    }
    if (isIgnored) continue;
    const from = join(repo, child);
    const to = join(ctx, child);
    mkdirSync(dirname(to), { recursive: true });
    if (entry.isSymbolicLink()) symlinkSync(readlinkSync(from), to);
    else copyFileSync(from, to);
    files++;
  }
}
walk('');

// --- the Dockerfile -------------------------------------------------------------------------
const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
const lines = [];
let current;
let startLine = 0;
readFileSync(join(repo, 'Dockerfile'), 'utf8')
  .split(/\r?\n/)
  .forEach((raw, i) => {
    const t = raw.trim();
    if (t.startsWith('#') || t === '') return; // comments and blank lines, also inside continuations
    const more = /\\\s*$/.test(raw);
    const body = more ? raw.replace(/\\\s*$/, '') : raw;
    if (current === undefined) [current, startLine] = [body.trim(), i + 1];
    else current += body;
    if (!more) {
      lines.push({ text: current.trim(), line: startLine });
      current = undefined;
    }
  });
if (current !== undefined) lines.push({ text: current.trim(), line: startLine });

const globalArgs = new Map();
let vars = new Map();
const expand = (s, v) =>
  s.replace(/\$\{([A-Za-z_]\w*)(?::-([^}]*))?\}|\$([A-Za-z_]\w*)/g, (_m, b, def, bare) => {
    const val = v.get(b ?? bare);
    return val !== undefined && val !== '' ? val : (def ?? '');
  });
const unquote = (s) => s.replace(/^"(.*)"$/s, '$1').replace(/^'(.*)'$/s, '$1');
const stages = [];
const plan = [];
for (const { text, line } of lines) {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(text);
  const keyword = m[1].toUpperCase();
  let rest = m[2].trim();
  const flags = new Map();
  for (let f; (f = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest)); rest = rest.slice(f[0].length)) flags.set(f[1], f[2] ?? '');
  const exec = (() => {
    const json = keyword === 'HEALTHCHECK' ? rest.replace(/^CMD\s+/i, '') : rest;
    if (!json.startsWith('[')) return undefined;
    try {
      const a = JSON.parse(json);
      return Array.isArray(a) && a.every((x) => typeof x === 'string') ? a : undefined;
    } catch {
      return undefined;
    }
  })();
  const call = (fn, ...args) => plan.push(`${fn} ${args.map(q).join(' ')}`);
  if (keyword !== 'FROM' && stages.length === 0) {
    if (keyword !== 'ARG') throw new Error(`Dockerfile line ${line}: ${keyword} before the first FROM`);
    const [k, ...v] = rest.split('=');
    globalArgs.set(k.trim(), unquote(v.join('=')));
    continue;
  }
  switch (keyword) {
    case 'FROM': {
      const [image, as, name] = rest.split(/\s+/);
      const stageName = as?.toUpperCase() === 'AS' ? name : String(stages.length);
      stages.push(stageName);
      vars = new Map();
      call('from_stage', stageName, expand(image, globalArgs), line);
      break;
    }
    case 'ARG': {
      const [k, ...v] = rest.split('=');
      const value = v.length > 0 ? unquote(expand(v.join('='), vars)) : (globalArgs.get(k.trim()) ?? '');
      vars.set(k.trim(), value);
      call('set_env', k.trim(), value);
      break;
    }
    case 'ENV': {
      const pairs = [...rest.matchAll(/([A-Za-z_]\w*)=("(?:[^"\\]|\\.)*"|\S*)/g)];
      const legacy = pairs.length === 0 ? /^(\S+)\s+([\s\S]*)$/.exec(rest) : undefined;
      for (const [, k, v] of legacy ? [[null, legacy[1], legacy[2]]] : pairs) {
        const value = expand(unquote(v), vars);
        vars.set(k, value);
        call('set_env', k, value);
      }
      break;
    }
    case 'WORKDIR':
      call('workdir', expand(rest, vars));
      break;
    case 'COPY':
    case 'ADD': {
      const args = (exec ?? rest.split(/\s+/)).map((a) => expand(a, vars));
      if (keyword === 'ADD' && args.some((a) => /^[a-z]+:\/\//.test(a))) throw new Error(`Dockerfile line ${line}: ADD of a URL cannot be replayed`);
      call('copy', flags.get('from') ?? '', line, ...args);
      break;
    }
    case 'RUN':
      if (exec) call('run', line, 'exec', ...exec);
      else call('run', line, 'shell', rest);
      break;
    case 'CMD':
      if (exec) call('set_cmd', ...exec);
      else call('set_cmd', '/bin/sh', '-c', rest);
      break;
    case 'HEALTHCHECK':
      if (/^NONE$/i.test(rest)) call('set_healthcheck');
      else if (exec) call('set_healthcheck', ...exec);
      else call('set_healthcheck', '/bin/sh', '-c', rest.replace(/^CMD\s+/i, ''));
      break;
    case 'USER':
      call('set_user', expand(rest, vars));
      break;
    case 'ENTRYPOINT':
      call('unsupported', line, text);
      break;
    default: // EXPOSE, LABEL, STOPSIGNAL, VOLUME …: nothing to replay
      call('note', line, keyword);
  }
}
writeFileSync(planFile, `${plan.join('\n')}\n`);
process.stderr.write(`context: ${files} files; stages: ${stages.join(', ')}\n`);
NODE
say "build context from $repo (honouring .dockerignore)"
node "$work/plan.mjs" "$repo" "$ctx" "$work/plan.sh" || die "could not prepare the context or parse the Dockerfile"

# ---------------------------------------------------------------------------------------------
# 2. Node: the base image's version (the final FROM), from the npm package `node`
# ---------------------------------------------------------------------------------------------
image=$(sed -n "s/^from_stage '[^']*' '\([^']*\)'.*/\1/p" "$work/plan.sh" | tail -1)
base_version=$(printf '%s\n' "$image" | sed -n 's/^\(docker\.io\/\)\{0,1\}\(library\/\)\{0,1\}node:\([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\).*/\3/p')
[ -n "$base_version" ] || die "the runtime stage FROM $image is not node:X.Y.Z…"
node_bin=
for spec in "node@$base_version" "node@${base_version%%.*}"; do
  if node_bin=$(npx -y "$spec" -p process.execPath 2>/dev/null) && [ -x "$node_bin" ]; then
    [ "$spec" = "node@$base_version" ] || say "WARNING: npm package node@$base_version unavailable; using $spec"
    break
  fi
  node_bin=
done
if [ -n "$node_bin" ]; then
  export PATH="$(dirname "$node_bin"):$PATH"
elif [ "${CI:-}" = true ]; then
  die "could not get Node $base_version (npx -y node@$base_version) for the replay"
else
  say "WARNING: no Node ${base_version%%.*} from npx; replaying with $(node --version) — NOT the image's Node"
fi
say "replaying $image with node $(node --version), npm $(npm --version)"

# ---------------------------------------------------------------------------------------------
# 3. Replay: the plan's verbs
# ---------------------------------------------------------------------------------------------
stage_name= stage_root= stage_final= cwd=/
stage_env=() final_cmd=() healthcheck=() user=
last_stage=$(sed -n "s/^from_stage '\([^']*\)'.*/\1/p" "$work/plan.sh" | tail -1)

from_stage() { # NAME IMAGE LINE
  stage_name=$1 stage_root="$roots/$1" cwd=/ stage_env=() final_cmd=() healthcheck=() user=
  stage_final=$([ "$1" = "$last_stage" ] && echo 1 || echo 0)
  mkdir -p "$stage_root"
  say "line $3: FROM $2 AS $1$([ "$stage_final" = 1 ] && echo ' (runtime: RUN steps are not replayed)')"
}
set_env() { stage_env+=("$1=$2"); }
workdir() {
  case $1 in /*) cwd=$1 ;; *) cwd="${cwd%/}/$1" ;; esac
  mkdir -p "$stage_root$cwd"
}
copy() { # FROM LINE SRC... DEST — Docker COPY semantics for files, folders and simple globs
  local from=$1 line=$2
  shift 2
  local dest=${*: -1} srcs=("${@:1:$#-1}") src_root
  if [ -n "$from" ]; then
    src_root="$roots/$from"
    [ -d "$src_root" ] || die "line $line: COPY --from=$from: no such stage (replay supports stages only)"
  else
    src_root=$ctx
  fi
  case $dest in /*) ;; *) dest="${cwd%/}/$dest" ;; esac
  local target="$stage_root$dest" many=0
  { [ ${#srcs[@]} -gt 1 ] || [[ $dest == */ ]]; } && many=1
  local src path matched
  for src in "${srcs[@]}"; do
    matched=0
    shopt -s nullglob dotglob
    for path in "$src_root"/${src#/}; do
      matched=1
      if [ -d "$path" ]; then
        mkdir -p "$target"
        cp -a "$path/." "$target/"
      elif [ "$many" = 1 ] || [ -d "$target" ]; then
        mkdir -p "$target"
        cp -a "$path" "$target/"
      else
        mkdir -p "$(dirname "$target")"
        cp -a "$path" "$target"
      fi
    done
    shopt -u nullglob dotglob
    [ "$matched" = 1 ] || die "line $line: COPY ${from:+--from=$from }$src: not found (excluded by .dockerignore?)"
  done
  say "line $line: COPY ${from:+--from=$from }${srcs[*]} → $dest"
}
run() { # LINE shell|exec ARGS...
  local line=$1 form=$2
  shift 2
  if [ "$stage_final" = 1 ]; then
    say "line $line: RUN skipped in the runtime stage: $*"
    return
  fi
  # Only package-manager steps are replayed: anything else (apt-get, useradd …) would change this
  # machine rather than an image.
  local part
  while IFS= read -r part; do
    part=${part#"${part%%[![:space:]]*}"}
    [ -z "$part" ] || [[ $part =~ ^(npm|npx|node)([[:space:]]|$) ]] || die "line $line: RUN step '$part' is not npm/npx/node; the smoke replay refuses it"
  done < <(printf '%s\n' "$*" | sed 's/&&/\n/g; s/;/\n/g; s/||/\n/g')
  say "line $line: RUN $* (in $cwd)"
  local started=$SECONDS
  # The image's environment, not this shell's: no NODE_ENV or npm_config_* leaking in. The npm
  # cache is shared with this machine (prefer-offline) only to save downloads.
  (
    cd "$stage_root$cwd"
    if [ "$form" = shell ]; then set -- /bin/sh -c "$1"; fi
    exec env -u NODE_ENV -u npm_config_production -u npm_config_omit \
      npm_config_prefer_offline=true npm_config_update_notifier=false npm_config_fund=false \
      "${stage_env[@]}" "$@"
  ) || die "line $line: RUN $* failed"
  say "line $line: done in $((SECONDS - started)) s"
}
set_cmd() { final_cmd=("$@"); }
set_healthcheck() { healthcheck=("$@"); }
set_user() { user=$1; }
note() { :; }
unsupported() { die "line $1: '$2' is not supported by the smoke replay"; }

# shellcheck source=/dev/null
. "$work/plan.sh"

# ---------------------------------------------------------------------------------------------
# 4. The runtime tree
# ---------------------------------------------------------------------------------------------
app="$stage_root$cwd"
[ ${#final_cmd[@]} -gt 0 ] || die "the runtime stage has no CMD"
say "runtime stage '$stage_name': WORKDIR $cwd, USER ${user:-root}, CMD ${final_cmd[*]}"
for forbidden in src test bench scripts helm .git; do
  [ ! -e "$app/$forbidden" ] || die "the runtime tree holds $forbidden/"
done
[ -f "$app/dist/cli.js" ] || die "the runtime tree has no dist/cli.js (was the build stage's output copied?)"
# Dev-only packages are those the lockfile marks "dev": true (a devDependency that a production
# dependency also needs, like @types/node here, rightly stays).
dev_left=$(node -e '
  const fs = require("fs");
  const [app, lockfile] = process.argv.slice(1);
  const { packages } = JSON.parse(fs.readFileSync(lockfile, "utf8"));
  const devOnly = Object.entries(packages).filter(([k, v]) => k.startsWith("node_modules/") && v.dev === true).map(([k]) => k);
  if (devOnly.length === 0) throw new Error("the lockfile marks no package dev: true");
  console.log(devOnly.filter((k) => fs.existsSync(`${app}/${k}`)).slice(0, 10).join(" "));' "$app" "$ctx/package-lock.json") || die "could not compare node_modules with the lockfile"
for pkg in typescript ava tsx; do [ ! -e "$app/node_modules/$pkg" ] || dev_left+=" node_modules/$pkg"; done
[ -z "$dev_left" ] || die "dev dependencies reached the runtime tree: $dev_left"
unreadable=$(find "$app" \( -type d ! -perm -o=rx \) -o \( ! -type d ! -type l ! -perm -o=r \) | head -5)
[ -z "$unreadable" ] || die "not readable by a non-root uid (the image runs as ${user:-?}): $unreadable"
say "runtime tree: $(du -sh "$app" | cut -f1), no src/test/bench, no dev dependencies, world-readable"

# ---------------------------------------------------------------------------------------------
# 5. Start it: the final CMD on loopback port 0, with the final stage's ENV
# ---------------------------------------------------------------------------------------------
sets=(
  --set 'dns.listen=[{address: 127.0.0.1, port: 0}]'
  --set 'http.listen={address: 127.0.0.1, port: 0}'
  # Nothing leaves the machine: out-of-zone names would go to a closed loopback port.
  --set 'forward.upstreams=["127.0.0.1:9"]'
)
say "starting: ${final_cmd[*]} ${sets[*]}"
(
  cd "$app"
  exec env -u NODE_ENV "${stage_env[@]}" "${final_cmd[@]}" "${sets[@]}"
) >"$work/server.log" 2>&1 &
server_pid=$!

serving=
for _ in $(seq 1 200); do
  kill -0 "$server_pid" 2>/dev/null || die "the server exited before serving"
  serving=$(grep -m1 'gsdns serving' "$work/server.log" || true)
  [ -z "$serving" ] || break
  sleep 0.1
done
[ -n "$serving" ] || die "no 'gsdns serving' log line within 20 s"
read -r dns_port http_port < <(node -e '
  const rec = JSON.parse(process.argv[1]);
  console.log(rec.dns[0].port, Number(String(rec.http).split(":").pop()));' "$serving")
[[ $dns_port =~ ^[0-9]+$ && $http_port =~ ^[0-9]+$ ]] || die "could not read the ports from: $serving"
say "serving: DNS 127.0.0.1:$dns_port, HTTP 127.0.0.1:$http_port (pid $server_pid)"

node --input-type=module -e '
  const port = process.argv[1];
  const deadline = Date.now() + 20000;
  const poll = async (path) => {
    for (;;) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
        if (r.status === 200) return console.log(`${path}: 200`);
        if (Date.now() > deadline) throw new Error(`${path}: ${r.status} ${await r.text()}`);
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
      await new Promise((res) => setTimeout(res, 200));
    }
  };
  await poll("/healthz");
  await poll("/readyz");
' "$http_port" || die "/healthz or /readyz did not answer 200 within 20 s"

# The image's own HEALTHCHECK command, pointed at this run's port (the image uses the default 8080).
if [ ${#healthcheck[@]} -eq 0 ]; then die "the runtime stage has no HEALTHCHECK"; fi
hc=()
for arg in "${healthcheck[@]}"; do hc+=("${arg//127.0.0.1:8080/127.0.0.1:$http_port}"); done
(cd "$app" && exec env -u NODE_ENV "${stage_env[@]}" "${hc[@]}") || die "the HEALTHCHECK command failed: ${hc[*]}"
say "HEALTHCHECK command: exit 0"

name=reviews.bookinfo.global
for transport in +notcp +tcp; do
  answer=$(dig @127.0.0.1 -p "$dns_port" "$name" A "$transport" +time=2 +tries=2 +norecurse) || die "dig $transport failed:
$answer"
  grep -q 'status: NOERROR' <<<"$answer" || die "dig $transport $name: not NOERROR:
$answer"
  a=$(awk '/^;; ANSWER SECTION:/ { on = 1; next } on && NF == 0 { on = 0 } on && $4 == "A" { print $5 }' <<<"$answer")
  [ -n "$a" ] || die "dig $transport $name: no A record in the answer:
$answer"
  say "dig $transport $name A → NOERROR, A $(echo $a)"
done

# ---------------------------------------------------------------------------------------------
# 6. SIGTERM → exit 0
# ---------------------------------------------------------------------------------------------
kill -TERM "$server_pid"
for _ in $(seq 1 300); do
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$server_pid" 2>/dev/null; then die "still running 30 s after SIGTERM"; fi
rc=0
wait "$server_pid" || rc=$?
server_pid=
[ "$rc" -eq 0 ] || die "exited $rc after SIGTERM (want 0)"
say "SIGTERM → exit 0"
say "PASS"
