#!/usr/bin/env bash
# Traffic policies (issue 16): qps of gsdns answering with `dns.policy: weighted` against `failover`
# (both with rotation, the default), and `failover` with `dns.rotate: false` for reference, on the
# same names in one run. 200 remote services, each exported by three clusters of the client's region
# with two gateways each (weights 300, 100, 100), so every answer is ordered per query: by a weighted
# draw, or by rotation of the three equal clusters. The target: weighted at 0.95 of failover or better.
# Usage: bench/policy.sh [ROUNDS] [SECONDS]. Loopback only; every server started here is stopped here.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
secs=${2:-6}
command -v dnsperf >/dev/null || { echo "dnsperf missing: apt-get install -y dnsperf" >&2; exit 1; }
[ -f dist/cli.js ] || npm run build >/dev/null
out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$out"; }
trap cleanup EXIT

node - "$out" <<'EOF'
const { writeFileSync } = require('node:fs');
const out = process.argv[2];
const services = Array.from({ length: 200 }, (_, i) => `      - {namespace: shop, name: svc${i}, ready: true, ports: [{name: http, port: 8080, protocol: TCP}]}`);
const remote = (name, weight, a) =>
  [`  - cluster: ${name}`, '    region: eu-west-1', `    weight: ${weight}`, `    gateways: [{address: ${a}.1, port: 15443}, {address: ${a}.2, port: 15443}]`, '    services:', ...services].join('\n');
writeFileSync(`${out}/catalog.yaml`, ['services: []', 'remotes:', remote('big', 300, '192.0.2'), remote('small1', 100, '198.51.100'), remote('small2', 100, '203.0.113')].join('\n') + '\n');
writeFileSync(`${out}/queries.txt`, Array.from({ length: 200 }, (_, i) => `svc${i}.shop.global A\n`).join(''));
EOF

names=(failover weighted failover-norotate)
ports=(15381 15382 15383)
sets=("dns.policy=failover" "dns.policy=weighted" "dns.rotate=false")
for i in 0 1 2; do
  cat >"$out/${names[$i]}.yaml" <<EOF
cluster: {name: bench, region: eu-west-1}
dns: {zones: [global], listen: [{address: 127.0.0.1, port: ${ports[$i]}}]}
source: {type: file, file: {path: $out/catalog.yaml}}
health: {probe: {type: none}}
forward: {upstreams: ["127.0.0.1:9"]}
http: {listen: {address: 127.0.0.1, port: $((15384 + i))}}
log: {level: warn, format: json}
EOF
  node bin/gsdns serve --config "$out/${names[$i]}.yaml" --set "${sets[$i]}" >"$out/${names[$i]}.log" 2>&1 & pids+=($!)
done
for port in "${ports[@]}"; do
  for _ in $(seq 100); do [ -n "$(dig +short +time=1 +tries=1 -p "$port" @127.0.0.1 svc7.shop.global A 2>/dev/null)" ] && break; sleep 0.2; done
  [ -n "$(dig +short +time=1 +tries=1 -p "$port" @127.0.0.1 svc7.shop.global A)" ] || { echo "server on port $port does not answer" >&2; tail -5 "$out"/*.log >&2; exit 1; }
done

run() { dnsperf -s 127.0.0.1 -p "$1" -d "$out/queries.txt" -l "$secs" -c 4 -q 400 2>&1 | awk '/Queries per second/ {print $4}'; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# Warm up (JIT, the answer cache).
for port in "${ports[@]}"; do secs_saved=$secs; secs=2; run "$port" >/dev/null; secs=$secs_saved; done
declare -A qps
for r in $(seq "$rounds"); do
  # The order rotates per round so no server always runs first on a warming machine.
  for k in 0 1 2; do
    i=$(((k + r) % 3))
    q=$(run "${ports[$i]}")
    qps[${names[$i]}]+="$q "
  done
done
echo
echo "traffic policies (200 services × 3 equal clusters × 2 gateways, weights 300/100/100; medians of $rounds × ${secs}s):"
echo "| policy | qps | vs failover |"
echo "|---|---|---|"
# shellcheck disable=SC2086
base=$(median ${qps[failover]})
for n in "${names[@]}"; do
  # shellcheck disable=SC2086
  m=$(median ${qps[$n]})
  echo "| $n | $(printf '%.0f' "$m") | $(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.2f", a/b}') |"
done
# The shares the draws produced over the whole run, from the weighted server's /metrics.
echo
echo "weighted: answers by the cluster sent first (gsdns_dns_answers_by_cluster_total):"
curl -s "http://127.0.0.1:15385/metrics" | awk '/^gsdns_dns_answers_by_cluster_total/ {split($1, a, "\""); n[a[2]] = $2; t += $2} END {for (c in n) printf "  %s %.1f%%\n", c, 100 * n[c] / t}' | sort
