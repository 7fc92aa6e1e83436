# Sourced by run-tests and run-demo: makes envoy-test/.venv (pip, pinned requirements.txt) and
# idp/node_modules (npm ci, pinned package-lock.json), each only when missing or out of date, and
# checks that the filter is built. Sets PY (the venv's python).
set -euo pipefail
E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$E2E_DIR")"
VENV="$E2E_DIR/.venv"
PY="$VENV/bin/python"
export DPOP_GATE_WASM="${DPOP_GATE_WASM:-$REPO_DIR/target/wasm32-wasip1/release/dpop_gate.wasm}"

die() { echo "envoy-test: $*" >&2; exit 1; }

command -v python3 >/dev/null || die "python3 is required"
command -v node >/dev/null || die "node is required (the authorization server runs on it)"
command -v npm >/dev/null || die "npm is required"

hash_of() { sha256sum "$@" | sha256sum | cut -c1-64; }

# Python venv: rebuilt when requirements.txt changes (stamp = its hash).
req_hash="$(hash_of "$E2E_DIR/requirements.txt")"
if [[ ! -x "$PY" || "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$req_hash" ]]; then
  echo "envoy-test: installing the Python venv ($E2E_DIR/.venv)" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$PY" -m pip install --quiet --disable-pip-version-check --no-input -r "$E2E_DIR/requirements.txt"
  echo "$req_hash" > "$VENV/.requirements.sha256"
fi

# The authorization server's packages: `npm ci` when node_modules is missing or the lock changed.
lock_hash="$(hash_of "$E2E_DIR/idp/package.json" "$E2E_DIR/idp/package-lock.json")"
if [[ ! -d "$E2E_DIR/idp/node_modules" || "$(cat "$E2E_DIR/idp/node_modules/.lock.sha256" 2>/dev/null)" != "$lock_hash" ]]; then
  echo "envoy-test: npm ci in $E2E_DIR/idp" >&2
  (cd "$E2E_DIR/idp" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$lock_hash" > "$E2E_DIR/idp/node_modules/.lock.sha256"
fi

[[ -f "$DPOP_GATE_WASM" ]] || die "the filter is not built: $DPOP_GATE_WASM is missing (run: make build)"
