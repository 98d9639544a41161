#!/usr/bin/env bash
# dnsperf benchmark of the per-query cost of a large headless service (issue 12): one gsdns whose
# catalog holds a 3-endpoint and a 10,000-endpoint headless service; dnsperf asks for A records of
# each name in turn (same server, same run), ROUNDS rounds each, and prints the medians and the
# large/small ratio. The target is a ratio ≥ 0.9: a query's cost must not grow with the endpoints.
# Usage: bench/headless.sh [ROUNDS] [SECONDS] [DIR]
#   DIR: the gsdns checkout to run (default: this one), e.g. a worktree of an older commit to get
#   the baseline (`git worktree add /tmp/base <ref>`, build it there, then pass /tmp/base).
# Environment: DNSPERF_EDNS=1 adds -e (EDNS0, 1232-octet replies instead of 512), ENDPOINTS (10000).
# Loopback only; the server started here is stopped here.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
secs=${2:-6}
dir=${3:-$PWD}
endpoints=${ENDPOINTS:-10000}
command -v dnsperf >/dev/null || { echo "dnsperf missing: apt-get install -y dnsperf" >&2; exit 1; }
if [ "$dir" = "$PWD" ]; then npm run -s build >/dev/null; fi
[ -f "$dir/dist/cli.js" ] || { echo "$dir is not built (dist/cli.js missing)" >&2; exit 1; }
out=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$out"
}
trap cleanup EXIT

# The catalog: 10.x.y.z addresses, one in ten endpoints not ready (they must never be answered).
node -e '
const n = Number(process.argv[1]);
const lines = ["services:"];
const svc = (name, count) => {
  lines.push(`  - {namespace: bench, name: ${name}, headless: true, ports: [{name: http, port: 8080, protocol: TCP}], endpoints: [`);
  for (let i = 0; i < count; i++) {
    const a = `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
    lines.push(`      {address: ${a}, ready: ${i % 10 !== 9}},`);
  }
  lines.push("    ]}");
};
svc("small", 3);
svc("large", n);
// The control: 32 endpoints, 29 of them ready, as many A records as a 512-octet reply holds, so
// its full answer is as large as the truncated answer of the large service. large/fits isolates
// the endpoint count from the cost of sending a bigger datagram, paid by the kernel and dnsperf.
svc("fits", 32);
process.stdout.write(lines.join("\n") + "\n");
' "$endpoints" >"$out/catalog.yaml"
echo "small.bench.global A" >"$out/small.txt"
echo "large.bench.global A" >"$out/large.txt"
echo "fits.bench.global A" >"$out/fits.txt"

port=15601
node "$dir/bin/gsdns" serve --set "dns.listen=[{address: 127.0.0.1, port: $port}]" \
  --set 'http.listen={address: 127.0.0.1, port: 0}' --set log.level=warn --set 'forward.upstreams=["127.0.0.1:9"]' \
  --set "source.file.path=$out/catalog.yaml" --set health.probe.type=none >"$out/gsdns.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  [ "$(dig +short +time=1 +tries=1 -p $port @127.0.0.1 small.bench.global A 2>/dev/null | wc -l)" -ge 3 ] && break
  sleep 0.1
done
[ "$(dig +short +time=1 +tries=1 -p $port @127.0.0.1 small.bench.global A 2>/dev/null | wc -l)" -ge 3 ] || { echo "gsdns did not start" >&2; cat "$out/gsdns.log" >&2; exit 1; }

edns=()
[ "${DNSPERF_EDNS:-0}" = 1 ] && edns=(-e)
# A slow server still holds queries dnsperf gave up on when a run ends: wait (bounded) until a
# query is answered within a second again, so one run's backlog is not charged to the next.
drain() {
  for _ in $(seq 120); do
    dig +short +time=1 +tries=1 -p $port @127.0.0.1 small.bench.global A >/dev/null 2>&1 && return
  done
  echo "gsdns did not drain its backlog within 120 tries" >&2; exit 1
}
run() {
  dnsperf -s 127.0.0.1 -p $port -d "$out/$1.txt" -l "$2" -c 4 -q 100 "${edns[@]}" 2>&1 | awk '/Queries per second/ {print $4}'
  drain
}
run small 2 >/dev/null; run large 2 >/dev/null # warm up (JIT, caches)
small=(); large=(); fits=()
for r in $(seq "$rounds"); do
  s=$(run small "$secs"); l=$(run large "$secs"); f=$(run fits "$secs")
  small+=("$s"); large+=("$l"); fits+=("$f")
  echo "round $r: small (3 endpoints) $s qps, large ($endpoints endpoints) $l qps, fits (a full 512-octet reply) $f qps"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ms=$(median "${small[@]}"); ml=$(median "${large[@]}"); mf=$(median "${fits[@]}")
echo "median: small $ms qps, large $ml qps, fits $mf qps; ratio large/small $(awk -v a="$ml" -v b="$ms" 'BEGIN {printf "%.3f", a/b}'), large/fits $(awk -v a="$ml" -v b="$mf" 'BEGIN {printf "%.3f", a/b}')"
