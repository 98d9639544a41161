#!/usr/bin/env bash
# The soak (bench/soak.ts): gsdns under dnsperf load at half its saturation while peers change
# catalogs once a second, a peer restarts every minute, a gateway flaps and the catalog file is
# rewritten every 10 s; prints a table and exits non-zero when a bound is broken.
# Usage: npm run soak (SOAK_SECONDS=600 by default; CI runs SOAK_SECONDS=60). Needs dnsperf, openssl.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dnsperf >/dev/null || { echo "soak: dnsperf is not installed (apt-get install -y dnsperf)" >&2; exit 1; }
npm run --silent build
exec node --import=tsx bench/soak.ts
