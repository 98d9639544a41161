#!/usr/bin/env bash
# Authoritative throughput against the servers a user would pick instead (issue 15), on the same
# names in one run: NSD (rrl-ratelimit 0, one server process), a minimal miekg/dns server at
# GOMAXPROCS=1 (bench/peers/miekg-server.go), and gsdns with its answer cache on and off.
# Mixes: local hits, remote answers (20 clusters, probe none), NXDOMAIN, SRV, and ECS (remote names,
# one query in ten with an ECS option from one of 50 /24s).
# Usage: bench/authoritative.sh [ROUNDS] [SECONDS]; FORWARD=0 skips the forwarded cache-hit
# comparison (bench/forward.sh) at the end. Loopback only; every server started here is
# stopped here. Needs: dnsperf nsd golang-go golang-github-miekg-dns-dev (apt-get install -y ...).
# Prints qps medians per mix and server with ratios to NSD and miekg/dns, and p50/p99 latency of
# the local mix at half of each server's own saturation rate (dnsperf -Q, -v).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
secs=${2:-6}
for tool in dnsperf nsd go; do command -v $tool >/dev/null || { echo "$tool missing: apt-get install -y dnsperf nsd golang-go golang-github-miekg-dns-dev" >&2; exit 1; }; done
[ -d /usr/share/gocode/src/github.com/miekg/dns ] || { echo "miekg/dns missing: apt-get install -y golang-github-miekg-dns-dev" >&2; exit 1; }
[ -f dist/cli.js ] || npm run build >/dev/null
out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$out"; }
trap cleanup EXIT

node bench/lib/authoritative-data.mjs "$out"
GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE="$out/gocache" go build -o "$out/miekg-server" bench/peers/miekg-server.go

nsd_port=15391; miekg_port=15392; gs_port=15393; gsoff_port=15394
cat >"$out/nsd.conf" <<EOF
server:
  ip-address: 127.0.0.1@$nsd_port
  server-count: 1
  rrl-ratelimit: 0
  username: ""
  zonesdir: "$out"
  pidfile: "$out/nsd.pid"
  database: ""
  zonelistfile: "$out/zone.list"
  xfrdfile: "$out/xfrd.state"
  logfile: "$out/nsd.log"
  verbosity: 0
remote-control:
  control-enable: no
zone:
  name: global
  zonefile: global.zone
EOF
nsd -d -c "$out/nsd.conf" >"$out/nsd.out" 2>&1 & pids+=($!)
GOMAXPROCS=1 "$out/miekg-server" -zone "$out/global.zone" -addr 127.0.0.1:$miekg_port >"$out/miekg.log" 2>&1 & pids+=($!)
cat >"$out/gsdns.yaml" <<EOF
cluster: {name: bench, region: eu-west-1}
dns: {zones: [global], listen: [{address: 127.0.0.1, port: $gs_port}]}
source: {type: file, file: {path: $out/catalog.yaml}}
health: {probe: {type: none}}
locality: {ecs: true}
forward: {upstreams: ["127.0.0.1:9"]}
http: {listen: {address: 127.0.0.1, port: 0}}
log: {level: warn, format: json}
EOF
node bin/gsdns serve --config "$out/gsdns.yaml" >"$out/gsdns.log" 2>&1 & pids+=($!); gs_pid=$!
node bin/gsdns serve --config "$out/gsdns.yaml" --set "dns.listen=[{address: 127.0.0.1, port: $gsoff_port}]" --set dns.answerCache.enabled=false >"$out/gsdns-off.log" 2>&1 & pids+=($!)
for port in $nsd_port $miekg_port $gs_port $gsoff_port; do
  for _ in $(seq 100); do [ "$(dig +short +time=1 +tries=1 -p $port @127.0.0.1 svc7.ns7.global A 2>/dev/null)" = "10.96.0.7" ] && break; sleep 0.2; done
  [ "$(dig +short +time=1 +tries=1 -p $port @127.0.0.1 svc7.ns7.global A)" = "10.96.0.7" ] || { echo "server on port $port does not answer" >&2; tail -5 "$out"/*.log >&2; exit 1; }
done

names=(nsd miekg gsdns gsdns-nocache)
ports=($nsd_port $miekg_port $gs_port $gsoff_port)
# One dnsperf run: qps.
run() { # port file
  dnsperf -s 127.0.0.1 -p "$1" -d "$out/$2" -l "$secs" -c 4 -q 400 2>&1 | awk '/Queries per second/ {print $4}'
}
run_ecs() { # port: the remote names, one query in ten with ECS from one of 50 /24s (binary input)
  dnsperf -s 127.0.0.1 -p "$1" -B -d "$out/ecs.bin" -l "$secs" -c 4 -q 400 2>&1 | awk '/Queries per second/ {print $4}'
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# Warm up (JIT, caches).
for port in "${ports[@]}"; do secs=2 run "$port" local.txt >/dev/null; done

declare -A med
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
for mix in local remote nxdomain srv ecs; do
  # geoip-lite is loaded only to place an ECS subnet: the RSS before the ECS mix is without it.
  [ $mix = ecs ] && rss_nogeo=$(rss_kb "$gs_pid")
  for i in "${!names[@]}"; do
    vals=()
    for _ in $(seq "$rounds"); do
      if [ $mix = ecs ]; then vals+=("$(run_ecs "${ports[$i]}")"); else vals+=("$(run "${ports[$i]}" $mix.txt)"); fi
    done
    med[$mix,${names[$i]}]=$(median "${vals[@]}")
    echo "  $mix ${names[$i]}: ${vals[*]} → median ${med[$mix,${names[$i]}]}" >&2
  done
done

# Latency of the local mix at half of each server's own median saturation rate, and at half of
# gsdns's (the same offered load for every server: what the machine itself adds to the tail).
declare -A p50 p99 p50g p99g
latency() { # port rate file → "p50 p99" in ms
  dnsperf -s 127.0.0.1 -p "$1" -d "$out/local.txt" -l "$secs" -c 4 -Q "$2" -v 2>/dev/null | awk '/^> / {print $NF}' | sort -g >"$3"
  awk -v n="$(wc -l <"$3")" 'NR == int(n * 0.50) + 1 {p50 = $1 * 1000} NR == int(n * 0.99) + 1 {p99 = $1 * 1000} END {printf "%.3f %.3f", p50, p99}' "$3"
}
gs_half=$(awk -v q="${med[local,gsdns]}" 'BEGIN {printf "%d", q / 2}')
for i in "${!names[@]}"; do
  n=${names[$i]}
  read -r p50[$n] p99[$n] <<<"$(latency "${ports[$i]}" "$(awk -v q="${med[local,$n]}" 'BEGIN {printf "%d", q / 2}')" "$out/lat-$n")"
  read -r p50g[$n] p99g[$n] <<<"$(latency "${ports[$i]}" "$gs_half" "$out/latg-$n")"
done

rss=$(( $(rss_kb "$gs_pid") / 1024 ))
echo
echo "| mix | server | qps (median of $rounds × ${secs} s) | vs NSD | vs miekg/dns |"
echo "|---|---|---|---|---|"
for mix in local remote nxdomain srv ecs; do
  for n in "${names[@]}"; do
    awk -v m="$mix" -v s="$n" -v q="${med[$mix,$n]}" -v a="${med[$mix,nsd]}" -v b="${med[$mix,miekg]}" \
      'BEGIN {printf "| %s | %s | %.0f | %.2f | %.2f |\n", m, s, q, q / a, q / b}'
  done
done
echo
echo "| server | local mix p50 / p99 (ms) at half its own saturation rate | p50 / p99 (ms) at $gs_half qps (half of gsdns's) |"
echo "|---|---|---|"
for n in "${names[@]}"; do echo "| $n | ${p50[$n]} / ${p99[$n]} | ${p50g[$n]} / ${p99g[$n]} |"; done
echo
echo "gsdns RSS (10,000 local services, 20 × 500 remote): $(( rss_nogeo / 1024 )) MB before the ECS mix (geoip not loaded), ${rss} MB after the run (geoip loaded by the ECS mix)"

# Forwarded cache hits in the same run (issue 15 compares them with a one-thread unbound).
if [ "${FORWARD:-1}" = 1 ]; then
  echo
  echo "forwarded cache hits (bench/forward.sh $rounds $secs: gsdns and a one-thread unbound in front of the same knotd):"
  cleanup; pids=(); trap - EXIT   # the authoritative servers are done: stop them first
  bash bench/forward.sh "$rounds" "$secs" | tail -n 1
fi
