#!/usr/bin/env bash
# dnsperf benchmark: gsdns (embedded demo) vs a bare dns2 server, side by side in the same run.
# Usage: bench/run.sh [ROUNDS] [SECONDS]. Loopback only; every server started here is stopped here.
# Prints per-round qps and the medians, plus gsdns/baseline ratio (the machine is noisy: quote ratios).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
secs=${2:-10}
command -v dnsperf >/dev/null || { echo "dnsperf missing: apt-get install -y dnsperf" >&2; exit 1; }
[ -f dist/cli.js ] || npm run build >/dev/null
out=$(mktemp -d)
gs_port=15353; base_port=15400
node bin/gsdns serve --set "dns.listen=[{address: 127.0.0.1, port: $gs_port}]" --set "http.listen={address: 127.0.0.1, port: 0}" --set log.level=warn --set 'forward.upstreams=["127.0.0.1:9"]' >"$out/gsdns.log" 2>&1 &
gs_pid=$!
node bench/baseline-dns2.mjs $base_port >"$out/base.log" 2>&1 &
base_pid=$!
trap 'kill $gs_pid $base_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$out"' EXIT
for _ in $(seq 50); do dig +short +time=1 +tries=1 -p $gs_port @127.0.0.1 global SOA >/dev/null 2>&1 && break; sleep 0.1; done
sleep 0.5
run() { dnsperf -s 127.0.0.1 -p "$1" -d bench/queries.txt -l "$secs" -c 8 -q 200 2>&1 | awk '/Queries per second/ {print $4}'; }
# Warm both up (JIT, caches) so round 1 measures steady state, not start-up.
secs_saved=$secs; secs=2; run $gs_port >/dev/null; run $base_port >/dev/null; secs=$secs_saved
gs=(); base=()
for r in $(seq "$rounds"); do
  g=$(run $gs_port); b=$(run $base_port)
  gs+=("$g"); base+=("$b")
  echo "round $r: gsdns ${g} qps, dns2-baseline ${b} qps"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mg=$(median "${gs[@]}"); mb=$(median "${base[@]}")
rss=$(ps -o rss= -p $gs_pid | awk '{printf "%.1f", $1/1024}')
echo "median: gsdns ${mg} qps, dns2-baseline ${mb} qps, ratio $(awk -v a="$mg" -v b="$mb" 'BEGIN {printf "%.2f", a/b}'); gsdns RSS after run ${rss} MB"
# Traffic policies in the same run (issue 16): weighted against failover. POLICY=0 skips it.
[ "${POLICY:-1}" = 0 ] || bash bench/policy.sh "$rounds" "$secs"
