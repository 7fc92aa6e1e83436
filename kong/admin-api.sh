#!/usr/bin/env bash
# Creates, through Kong's Admin API (database mode), the same two protected routes as kong.yaml:
# the partner webhook and the DPoP-protected orders API, each with a dpop_gate filter chain.
# A second section shows the Kong 3.9 form: the filter attached through /plugins.
#
# Usage: KONG_ADMIN=http://127.0.0.1:8001 bash kong/admin-api.sh [filter-chains|plugins]
# Needs curl. Each filter config below (the <<'JSON' here-documents) is checked against
# kong/dpop_gate.meta.json and the filter's parser by `cargo test --test config_schema`.
set -euo pipefail

ADMIN="${KONG_ADMIN:-http://127.0.0.1:8001}"
MODE="${1:-filter-chains}"

WEBHOOK_CONFIG=$(cat <<'JSON'
{
  "issuer": "https://keycloak.example.com/realms/partners",
  "audiences": ["webhook-receiver"],
  "scopes_required": ["webhook"],
  "dpop": "optional",
  "claims_to_headers": {"azp": "x-partner-client-id"},
  "http_timeout_ms": 3000
}
JSON
)

ORDERS_CONFIG=$(cat <<'JSON'
{
  "issuer": "https://keycloak.example.com/realms/partners",
  "jwks_uri": "https://keycloak.example.com/realms/partners/protocol/openid-connect/certs",
  "audiences": ["orders-api"],
  "dpop": "required",
  "dpop_algs": ["ES256", "ES384", "EdDSA", "PS256", "RS256"],
  "dpop_max_age_seconds": 60,
  "public_base_url": "https://api.example.com",
  "claims_to_headers": {"azp": "x-client-id", "realm_access.roles": "x-client-roles"}
}
JSON
)

# POST/PUT a JSON body; print the answer; fail on a non-2xx status (Kong's 400 names the field
# the meta.json schema refused, e.g. {"fields":{"filters":[{"config":"..."}]}}).
call() {
  local method="$1" path="$2" body="$3"
  curl -sS --fail-with-body -X "$method" "$ADMIN$path" -H 'Content-Type: application/json' --data "$body"
  echo
}

# Services and routes (PUT = create or update by name, so the script can be re-run).
call PUT /services/partner-webhook '{"url": "http://webhook-receiver.internal:8080"}'
call PUT /services/partner-webhook/routes/partner-webhook \
  '{"methods": ["POST"], "paths": ["/webhook"], "strip_path": false}'
call PUT /services/orders-api '{"url": "http://orders.internal:8080"}'
call PUT /services/orders-api/routes/orders-api '{"paths": ["/api/orders"], "strip_path": false}'

case "$MODE" in
  filter-chains)
    # Kong 3.4+: one filter chain per route (or per service). With dpop_gate.meta.json present
    # (3.5+), `config` is a JSON object; without it, it would have to be a JSON string.
    call PUT /routes/partner-webhook/filter-chains/partner-webhook-auth \
      "{\"filters\": [{\"name\": \"dpop_gate\", \"enabled\": true, \"config\": $WEBHOOK_CONFIG}]}"
    call PUT /routes/orders-api/filter-chains/orders-api-dpop \
      "{\"filters\": [{\"name\": \"dpop_gate\", \"config\": $ORDERS_CONFIG}]}"
    # Equivalent top-level form: POST /filter-chains {"name": ..., "route": {"name": "orders-api"}, "filters": [...]}
    ;;
  plugins)
    # Kong 3.9: a filter is also a plugin; name = filter name, scoped like any plugin.
    call POST /plugins \
      "{\"name\": \"dpop_gate\", \"route\": {\"name\": \"partner-webhook\"}, \"config\": $WEBHOOK_CONFIG}"
    call POST /plugins \
      "{\"name\": \"dpop_gate\", \"route\": {\"name\": \"orders-api\"}, \"config\": $ORDERS_CONFIG}"
    ;;
  *)
    echo "usage: $0 [filter-chains|plugins]" >&2
    exit 2
    ;;
esac

# Check: no token -> 401 with WWW-Authenticate; a token from the realm -> 200 from the upstream.
#   curl -i -X POST http://127.0.0.1:8000/webhook -H 'Content-Type: application/json' -d '{}'
