#!/usr/bin/env bash
# dnsperf benchmark of the per-query cost of issue 7 (metrics on every query, the query log):
# the same authoritative workload against, side by side in one run,
#   base   gsdns built from BASE_REF (default: the commit before metrics landed),
#   now    this tree (metrics always on, query log off: the default),
#   qlog1  this tree with log.queries.enabled, sampleRate 1 (a line per query, to a file),
#   qlog01 this tree with log.queries.enabled, sampleRate 0.01.
# Usage: bench/metrics-overhead.sh [ROUNDS] [SECONDS] [BASE_REF]. Loopback only; every server and
# the temporary worktree are removed on exit. Prints per-round qps, medians and ratios to base.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
secs=${2:-10}
base_ref=${3:-7388438}
command -v dnsperf >/dev/null || { echo "dnsperf missing: apt-get install -y dnsperf" >&2; exit 1; }
npm run -s build >/dev/null
out=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  git worktree remove --force "$out/base" >/dev/null 2>&1 || true
  rm -rf "$out"
}
trap cleanup EXIT
echo "== building base $base_ref in a temporary worktree"
git worktree add --detach "$out/base" "$base_ref" >/dev/null 2>&1
ln -s "$PWD/node_modules" "$out/base/node_modules"
(cd "$out/base" && npx tsc -p tsconfig.json >/dev/null)
common=(--set 'http.listen={address: 127.0.0.1, port: 0}' --set log.level=info --set 'forward.upstreams=["127.0.0.1:9"]')
start() { # name dir port extra...
  local name=$1 dir=$2 port=$3; shift 3
  node "$dir/bin/gsdns" serve --set "dns.listen=[{address: 127.0.0.1, port: $port}]" "${common[@]}" "$@" >"$out/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do dig +short +time=1 +tries=1 -p "$port" @127.0.0.1 global SOA >/dev/null 2>&1 && return; sleep 0.1; done
  echo "$name did not start" >&2; cat "$out/$name.log" >&2; exit 1
}
names=(base now qlog1 qlog01)
ports=(15501 15502 15503 15504)
start base "$out/base" 15501
start now "$PWD" 15502
start qlog1 "$PWD" 15503 --set log.queries.enabled=true --set log.queries.sampleRate=1
start qlog01 "$PWD" 15504 --set log.queries.enabled=true --set log.queries.sampleRate=0.01
run() { dnsperf -s 127.0.0.1 -p "$1" -d bench/queries.txt -l "$2" -c 8 -q 200 2>&1 | awk '/Queries per second/ {print $4}'; }
for p in "${ports[@]}"; do run "$p" 2 >/dev/null; done # warm up (JIT, caches)
declare -A results
for r in $(seq "$rounds"); do
  line="round $r:"
  for i in "${!names[@]}"; do
    q=$(run "${ports[$i]}" "$secs")
    results[${names[$i]}]+="$q "
    line+=" ${names[$i]} $q"
  done
  echo "$line qps"
done
median() { printf '%s\n' $1 | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mb=$(median "${results[base]}")
for n in "${names[@]}"; do
  m=$(median "${results[$n]}")
  echo "median $n: $m qps, ratio to base $(awk -v a="$m" -v b="$mb" 'BEGIN {printf "%.2f", a/b}')"
done
echo "query log lines written by qlog1: $(grep -c '"msg":"query"' "$out/qlog1.log")"
