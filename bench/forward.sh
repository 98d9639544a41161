#!/usr/bin/env bash
# dnsperf benchmark of forwarding: gsdns (forward.upstreams) vs unbound (forward-zone ".") in front of
# the same knotd, which serves bench.test with NAMES A records. Both caches are warmed with every
# name first, so the rounds measure cache hits: the forwarder's own path, not knotd.
# Usage: bench/forward.sh [ROUNDS] [SECONDS]. Loopback only; every server started here is stopped here.
# Env: NAMES (default 200), UNBOUND_THREADS (default 1: gsdns answers on one JS thread),
#      SKIP_GSDNS=1 (measure the knot+unbound half only, e.g. before the forwarder exists),
#      CPU_PROF=DIR (a V8 CPU profile of gsdns, written to DIR when it is stopped with SIGTERM at the end).
# Prints per-round qps and the medians, plus the gsdns/unbound ratio (the machine is noisy: quote ratios),
# and each server's CPU time (user + system, from /proc) per answered query: on a shared machine
# qps moves with whatever else runs, while CPU per query mostly does not.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
secs=${2:-10}
names=${NAMES:-200}
ub_threads=${UNBOUND_THREADS:-1}
skip_gs=${SKIP_GSDNS:-0}
cpu_prof=${CPU_PROF:-}
command -v dnsperf >/dev/null || { echo "dnsperf missing: apt-get install -y dnsperf" >&2; exit 1; }
command -v unbound >/dev/null || { echo "unbound missing: apt-get install -y unbound" >&2; exit 1; }
command -v dig >/dev/null || { echo "dig missing: apt-get install -y bind9-dnsutils" >&2; exit 1; }
knotd=$(command -v knotd || echo /usr/sbin/knotd)   # /usr/sbin is not on every user's PATH
[ -x "$knotd" ] || { echo "knotd missing: apt-get install -y knot" >&2; exit 1; }
[ "$skip_gs" = 1 ] || [ -f dist/cli.js ] || npm run build >/dev/null
out=$(mktemp -d)
knot_port=15500; gs_port=15501; ub_port=15502
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT

# --- knotd: the authoritative upstream -----------------------------------------------------------
{
  echo '$ORIGIN bench.test.'
  echo '$TTL 3600'   # far longer than the run: after warm-up every query is a cache hit
  echo '@ IN SOA ns.bench.test. hostmaster.bench.test. 1 3600 600 86400 300'
  echo '@ IN NS ns'
  echo 'ns IN A 127.0.0.1'
  for i in $(seq "$names"); do echo "n$i IN A 10.0.$((i / 250)).$((i % 250 + 1))"; done
} >"$out/bench.test.zone"
for i in $(seq "$names"); do echo "n$i.bench.test A"; done >"$out/queries.txt"
user=""; [ "$(id -u)" = 0 ] && user="  user: root:root"
cat >"$out/knot.conf" <<EOF
server:
  rundir: "$out"
$user
  listen: 127.0.0.1@$knot_port
  udp-workers: 2
  tcp-workers: 1
  background-workers: 1
  identity: ""
  version: ""
  nsid: ""
control:
  listen: "$out/knot.sock"
log:
  - target: stderr
    any: warning
database:
  storage: "$out"
  journal-db: "$out/journal"
  kasp-db: "$out/kasp"
  timer-db: "$out/timers"
  catalog-db: "$out/catalog"
template:
  - id: default
    storage: "$out"
    dnssec-signing: off
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: bench.test.
    file: "$out/bench.test.zone"
EOF
"$knotd" -c "$out/knot.conf" >"$out/knot.log" 2>&1 &
pids+=($!)

# --- unbound: the reference forwarder ------------------------------------------------------------
cat >"$out/unbound.conf" <<EOF
server:
  interface: 127.0.0.1
  port: $ub_port
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  username: ""
  chroot: ""
  directory: "$out"
  pidfile: "$out/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 0
  do-daemonize: no
  do-not-query-localhost: no
  # No validator and no trust anchor: plain forwarding with a cache, like gsdns.
  module-config: "iterator"
  # RFC 6761 special-use names: unbound answers "test." itself (NXDOMAIN) unless told not to.
  local-zone: "test." nodefault
  qname-minimisation: no
  prefetch: no
  num-threads: $ub_threads
  so-reuseport: no
  msg-cache-size: 64m
  rrset-cache-size: 128m
remote-control:
  control-enable: no
forward-zone:
  name: "."
  forward-addr: 127.0.0.1@$knot_port
EOF
unbound -d -c "$out/unbound.conf" >"$out/unbound.log" 2>&1 &
ub_pid=$!
pids+=("$ub_pid")

# --- gsdns: forwarding everything outside its zone to knotd -------------------------------------
if [ "$skip_gs" != 1 ]; then
  node_args=()
  if [ -n "$cpu_prof" ]; then mkdir -p "$cpu_prof"; node_args=(--cpu-prof "--cpu-prof-dir=$cpu_prof"); fi
  node "${node_args[@]}" bin/gsdns serve --config config/demo.yaml \
    --set "dns.listen=[{address: 127.0.0.1, port: $gs_port}]" \
    --set "http.listen={address: 127.0.0.1, port: 0}" \
    --set log.level=warn \
    --set "forward.upstreams=[\"127.0.0.1:$knot_port\"]" \
    --set 'forward.allowFrom=[127.0.0.0/8]' \
    --set forward.cache.maxEntries=$((names * 4 + 1000)) \
    >"$out/gsdns.log" 2>&1 &
  gs_pid=$!
  pids+=("$gs_pid")
fi

# status PORT NAME TYPE: the rcode of one query, or "none".
status() { { dig +time=1 +tries=1 -p "$1" @127.0.0.1 "$2" "$3" 2>/dev/null || true; } | awk '/->>HEADER<<-/ {gsub(",", "", $6); print $6; found=1} END {if (!found) print "none"}'; }
await() { # await PORT NAME TYPE WHAT LOG
  local s
  for _ in $(seq 100); do s=$(status "$1" "$2" "$3"); [ "$s" = NOERROR ] && return 0; sleep 0.1; done
  echo "FATAL: $4 does not answer $2 $3 with NOERROR on 127.0.0.1:$1 (last status: $s)" >&2
  tail -20 "$5" >&2
  exit 1
}
await $knot_port bench.test SOA knotd "$out/knot.log"
await $ub_port n1.bench.test A "unbound (forward-zone . → knotd)" "$out/unbound.log"
if [ "$skip_gs" != 1 ]; then
  await $gs_port global SOA gsdns "$out/gsdns.log"
  await $gs_port n1.bench.test A "gsdns's forwarder (→ knotd)" "$out/gsdns.log"
fi

clk_tck=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system CPU of PID, in clock ticks
run() { # run PORT SECONDS [PID] → "qps µs-of-PID's-CPU-per-answered-query" (dnsperf output kept in $out/last.txt)
  local t0=0 t1=0
  [ -z "${3:-}" ] || t0=$(ticks "$3")
  dnsperf -s 127.0.0.1 -p "$1" -d "$out/queries.txt" -l "$2" -c 8 -q 200 >"$out/last.txt" 2>&1
  [ -z "${3:-}" ] || t1=$(ticks "$3")
  awk -v t=$((t1 - t0)) -v hz="$clk_tck" '/Queries completed/ {n = $3} /Queries per second/ {q = $4} END {printf "%s %.2f\n", q, n ? t * 1e6 / hz / n : 0}' "$out/last.txt"
}
# lost: dnsperf's count of unanswered queries; any rcode other than NOERROR means the qps is not
# comparable (a fast SERVFAIL or REFUSED is not a forwarded answer), so say so on the round's line.
lost() {
  awk '/Queries lost/ {printf "%s", $3}' "$out/last.txt"
  awk -F': *' '/Response codes/ {if ($2 !~ /^NOERROR [0-9]+ \(100\.00%\)$/) printf ", NOT ALL NOERROR: %s", $2}' "$out/last.txt"
}
# Warm both caches with every name (one pass, then 2 s so JIT and caches settle: round 1 measures
# steady state, not start-up).
targets=("$ub_port")
[ "$skip_gs" = 1 ] || targets=("$gs_port" "$ub_port")
for p in "${targets[@]}"; do
  dnsperf -s 127.0.0.1 -p "$p" -d "$out/queries.txt" -n 1 -c 1 -q 10 >/dev/null 2>&1
  run "$p" 2 >/dev/null
done
gs=(); ub=(); gs_cpu=(); ub_cpu=()
for r in $(seq "$rounds"); do
  line="round $r:"
  if [ "$skip_gs" != 1 ]; then
    read -r g c < <(run $gs_port "$secs" "$gs_pid"); gs+=("$g"); gs_cpu+=("$c")
    line+=" gsdns ${g} qps, ${c} µs CPU/query (lost $(lost)),"
  fi
  read -r u c < <(run $ub_port "$secs" "$ub_pid"); ub+=("$u"); ub_cpu+=("$c")
  line+=" unbound ${u} qps, ${c} µs CPU/query (lost $(lost))"
  echo "$line"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
rss() { ps -o rss= -p "$1" | awk '{printf "%.1f", $1/1024}'; }
mu=$(median "${ub[@]}")
cu=$(median "${ub_cpu[@]}")
if [ "$skip_gs" = 1 ]; then
  echo "median: unbound (${ub_threads} thread) ${mu} qps, ${cu} µs CPU/query; unbound RSS $(rss "$ub_pid") MB (gsdns skipped: SKIP_GSDNS=1)"
else
  mg=$(median "${gs[@]}")
  cg=$(median "${gs_cpu[@]}")
  echo "median: gsdns ${mg} qps, unbound (${ub_threads} thread) ${mu} qps, ratio gsdns/unbound $(awk -v a="$mg" -v b="$mu" 'BEGIN {printf "%.2f", a/b}'); CPU per query: gsdns ${cg} µs, unbound ${cu} µs (unbound/gsdns $(awk -v a="$cu" -v b="$cg" 'BEGIN {printf "%.2f", a/b}')); RSS after run: gsdns $(rss "$gs_pid") MB, unbound $(rss "$ub_pid") MB"
fi
