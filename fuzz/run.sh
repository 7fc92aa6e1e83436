#!/usr/bin/env bash
# Runs every fuzz target (or those named after the options) for SECONDS each, from its committed
# seeds (fuzz/seeds/<target>) plus what earlier runs found (fuzz/corpus/<target>, not committed),
# and prints one line per target: executions, time, corpus size. Exits non-zero on the first crash,
# leak, timeout or out-of-memory; the reproducer is in fuzz/artifacts/<target>/.
#
#   fuzz/run.sh [--runs N] SECONDS [TARGET...]
#
# Bounds that make unbounded allocation a failure rather than a slow run: every target runs under
# -rss_limit_mb (whole process) and -malloc_limit_mb (any single allocation), and -max_len is just
# above the largest input the code under test accepts, so its own size limits are exercised.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=-1
if [[ "${1:-}" == --runs ]]; then
  runs=$2
  shift 2
fi
seconds=${1:?usage: fuzz/run.sh [--runs N] SECONDS [TARGET...]}
shift
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

# Just above each code path's own limit (jws/htu: max_token_bytes and MAX_URI_BYTES; jwks and
# config: 256 KiB documents; discovery: 64 KiB).
max_len() {
  case $1 in
    jws) echo 70000 ;;
    jwk) echo 16384 ;;
    jwks | config) echo 270000 ;;
    discovery) echo 70000 ;;
    htu) echo 17000 ;;
    dpop_proof | authz) echo 20000 ;;
    replay_bucket) echo 4096 ;; # a full bucket is 2 588 bytes
    field_differential) echo 1700 ;; # an RSA modulus of 520 bytes and two operands
    *) echo 65536 ;;
  esac
}

summary=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  log=$(mktemp)
  start=$(date +%s)
  # -a: debug assertions and overflow checks on, so an arithmetic overflow is a crash too.
  if ! nice -n 10 cargo +nightly fuzz run -a "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$seconds" -runs="$runs" -max_len="$(max_len "$t")" \
    -rss_limit_mb=2048 -malloc_limit_mb=256 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    tail -60 "$log"
    echo "fuzz: target $t FAILED (reproducer in fuzz/artifacts/$t/)" >&2
    exit 1
  fi
  elapsed=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  fuzzed=$(sed -n 's/.*Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
  summary+=("$(printf '%-11s %10s executions in %4ss (%4ss with build and seed loading), corpus %s' \
    "$t" "${execs:-?}" "${fuzzed:-?}" "$elapsed" "$corpus")")
  rm -f "$log"
done
printf 'fuzz: %s\n' "${summary[@]}"
