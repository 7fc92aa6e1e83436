"""Bearer tokens (RFC 6750) from the real authorization server, through the real proxy (Envoy or nginx with ngx_wasm_module)."""

import time

import pytest

from harness.checks import assert_allowed, assert_no_client_value, assert_refused, assert_refused_by_nginx_itself, seen_headers
from harness.oauth import b64url, client_credentials

NO_METRICS = "nginx offers no way to read a filter's metrics from outside (`Nginx.counters`)"


def test_bearer_rs256_allowed(gate, tokens):
    token = tokens.bearer("webhook-partner")
    assert token.header["alg"] == "RS256" and token.token_type == "Bearer"
    resp, seen = gate.send(token=token)
    h = assert_allowed(resp, seen, token)
    assert h["x-auth-client"] == ["webhook-partner"]
    assert h["x-auth-roles"] == ["partner,webhook-writer,default-roles-test"]
    assert seen[0]["method"] == "POST" and seen[0]["path"] == "/webhook"
    assert seen[0]["body"] == '{"event": "order.created", "id": 42}'


def test_bearer_es256_allowed(gate, tokens):
    token = tokens.bearer("webhook-partner-es256")
    assert token.header["alg"] == "ES256"
    resp, seen = gate.send(token=token)
    assert_allowed(resp, seen, token)


def test_lowercase_bearer_scheme_accepted(gate, tokens):
    token = tokens.bearer("webhook-partner")
    resp, seen = gate.send(token=token, scheme="bearer")
    assert_allowed(resp, seen, token)  # forwarded as canonical `Bearer`


def test_same_token_twice_allowed(gate, tokens):
    """A Bearer token is reusable until it expires (the second time from the verified-token cache:
    counted in `test_token_cache_hits_are_counted`)."""
    token = tokens.bearer("webhook-partner-es256")
    for _ in range(2):
        resp, seen = gate.send(token=token, method="GET", path="/orders/7", body=None)
        assert_allowed(resp, seen, token)


COUNTED = ("dpop_gate_token_cache_hits", "dpop_gate_allowed", "dpop_gate_refused_token_audience")


def counted(host) -> dict:
    """The counters this file checks; a counter not yet created (never counted) reads 0."""
    counters = host.counters()
    return {name: counters.get(name, 0) for name in COUNTED}


@pytest.mark.host_only("envoy", NO_METRICS)
def test_token_cache_hits_are_counted(gate, idp, tokens):
    """Each request changes the filter's counters by exactly what it did: a token's second use is one
    cache hit, another token's first use none, and a refusal counts under its reason (the counters
    are the session proxy's, so the test compares before and after each request). Fresh tokens: no
    earlier test can have put them in the cache."""
    first = client_credentials(idp.token_endpoint, "webhook-partner")
    other = client_credentials(idp.token_endpoint, "webhook-partner")
    assert first.access_token != other.access_token
    foreign = tokens.bearer("webhook-partner", resource="https://other.example.com")

    def step(token, hits, allowed, refused):
        before = counted(gate.host)
        resp, seen = gate.send(token=token)
        if refused:
            assert_refused(resp, seen, 401, "invalid_token", "Bearer")
        else:
            assert_allowed(resp, seen, token)
        after = counted(gate.host)
        delta = {name: after[name] - before[name] for name in COUNTED}
        assert delta == dict(zip(COUNTED, (hits, allowed, refused))), (before, after)

    step(first, hits=0, allowed=1, refused=0)  # verified, then cached
    step(first, hits=1, allowed=1, refused=0)  # from the cache
    step(other, hits=0, allowed=1, refused=0)  # another token: verified
    step(first, hits=1, allowed=1, refused=0)  # still cached beside the other
    step(foreign, hits=0, allowed=0, refused=1)  # refused, never cached...
    step(foreign, hits=0, allowed=0, refused=1)  # ...so refused again by verification, no hit


def test_spoofed_claim_header_replaced(gate, tokens):
    token = tokens.bearer("webhook-partner")
    resp, seen = gate.send(token=token, headers=[("x-auth-client", "admin"), ("X-Auth-Roles", "superuser")])
    h = assert_allowed(resp, seen, token)
    assert h["x-auth-client"] == ["webhook-partner"]


def test_spoofed_claim_header_removed_when_claim_absent(gate, tokens):
    """A claim the token lacks: the client's copy of its header never reaches the upstream."""
    token = tokens.bearer("webhook-partner", scope=None)  # no scope requested: no `scope` claim
    assert "scope" not in token.claims
    resp, seen = gate.send(token=token, headers=[("x-auth-scope", "admin")])
    assert resp.status == 200, resp
    h = seen_headers(seen[0])
    assert h["authorization"] == [f"Bearer {token.access_token}"], h
    assert_no_client_value(h, "x-auth-scope")


def test_no_authorization(gate):
    resp, seen = gate.send()
    assert_refused(resp, seen, 401, None, body_error="invalid_request")
    challenges = resp.challenges()
    assert [c.scheme for c in challenges] == ["Bearer", "DPoP"], resp
    assert challenges[0].raw.strip() == "Bearer", "the no-credentials Bearer challenge carries no error"
    assert "error" not in challenges[1].params and challenges[1].params["algs"], challenges[1].raw


def test_no_authorization_dpop_required(gate):
    resp, seen = gate.send("required")
    assert_refused(resp, seen, 401, None, body_error="invalid_request")
    assert [c.scheme for c in resp.challenges()] == ["DPoP"], resp


def test_wrong_audience(gate, tokens):
    token = tokens.bearer("webhook-partner", resource="https://other.example.com")
    assert token.claims["aud"] == "https://other.example.com"
    resp, seen = gate.send(token=token)
    assert_refused(resp, seen, 401, "invalid_token", "Bearer")


def test_missing_scope(gate, tokens):
    token = tokens.bearer("orders-reader", scope="orders:read")
    resp, seen = gate.send("scoped", token=token)
    params = assert_refused(resp, seen, 403, "insufficient_scope", "Bearer")
    assert params["scope"] == "webhook:write"
    # The same listener lets a token with the scope through.
    ok = tokens.bearer("webhook-partner")
    resp, seen = gate.send("scoped", token=ok)
    assert_allowed(resp, seen, ok)


def test_expired_token(gate, tokens):
    """A real 2-second token: accepted, then refused once expired (`clock_skew_seconds: 0`), also
    after it sat in the verified-token cache."""
    token = tokens.bearer("short-lived")
    assert token.claims["exp"] - token.claims["iat"] == 2
    resp, seen = gate.send("skew0", token=token)
    assert_allowed(resp, seen, token)
    time.sleep(max(0.0, token.claims["exp"] + 1.2 - time.time()))
    resp, seen = gate.send("skew0", token=token)
    assert_refused(resp, seen, 401, "invalid_token", "Bearer")


def test_tampered_token(gate, tokens):
    token = tokens.bearer("webhook-partner")
    h, p, s = token.access_token.split(".")
    forged = f"{h}.{p}.{b64url(bytes(32))}{s[43:]}"
    resp, seen = gate.send(token=forged)
    assert_refused(resp, seen, 401, "invalid_token", "Bearer")


def test_dpop_bound_token_as_bearer(gate, tokens):
    token = tokens.dpop("EC")
    resp, seen = gate.send(token=token, scheme="Bearer")
    assert_refused(resp, seen, 401, "invalid_token", "DPoP")
    # Even with a valid proof alongside: a bound token is never usable as Bearer.
    resp, seen = gate.send(token=token, scheme="Bearer", proof=gate.proof_for(token))
    assert resp.status == 401 and not seen, resp


def test_two_authorization_headers(gate, tokens):
    token = tokens.bearer("webhook-partner")
    resp, seen = gate.send(token=token, headers=[("authorization", f"Bearer {token.access_token}")])
    if gate.host.kind == "nginx":  # refused before the filter runs
        assert_refused_by_nginx_itself(resp, seen)
    else:
        assert_refused(resp, seen, 400, "invalid_request", "Bearer")


def test_unknown_scheme(gate, tokens):
    token = tokens.bearer("webhook-partner")
    resp, seen = gate.send(token=token, scheme="Basic")
    assert_refused(resp, seen, 400, "invalid_request", "Bearer")


def test_jwks_uri_direct(gate, tokens):
    token = tokens.bearer("webhook-partner-es256")
    resp, seen = gate.send("jwks_uri", token=token)
    assert_allowed(resp, seen, token)


def test_dpop_required_refuses_bearer(gate, tokens):
    token = tokens.bearer("webhook-partner")
    resp, seen = gate.send("required", token=token)
    assert_refused(resp, seen, 401, "invalid_token", "DPoP")
    bound = tokens.dpop("EC")
    resp, seen = gate.send("required", token=bound, proof=gate.proof_for(bound, "required"))
    assert_allowed(resp, seen, bound)
