"""Token introspection (RFC 7662) and revocation (RFC 7009) against the real authorization server
(oidc-provider, Keycloak's URL layout), through the real proxy: opaque tokens, revoked tokens,
DPoP-bound opaque tokens, signed answers (RFC 9701) and a forged one, an endpoint that is down or
refuses the gateway's credentials, and single-flight.

JWT access tokens in mode `always`: oidc-provider refuses to introspect its own JWTs; the test
IdP's server answers those itself in Keycloak's shape (`keycloakIntrospection` in
envoy-test/idp/server.mjs). That part stands in for Keycloak."""

import threading
import time
import uuid

import pytest

from conftest import Gate
from harness.checks import CLAIMS_TO_HEADERS, assert_refused, seen_headers
from harness.oauth import ProofKey, Token, client_credentials
from harness.procs import API_AUDIENCE, free_port

NO_METRICS = "nginx offers no way to read a filter's metrics from outside (`Nginx.counters`)"
CACHE_SECONDS = 2


def introspection(idp, **over) -> dict:
    return {"mode": "opaque", "client_id": "gateway", "client_secret": "gateway-secret",
            "cache_seconds": CACHE_SECONDS, "negative_cache_seconds": 1, **over}  # fmt: skip


def listener(idp, **over) -> dict:
    return {"issuer": idp.issuer, "audiences": [API_AUDIENCE], "claims_to_headers": CLAIMS_TO_HEADERS,
            "introspection": introspection(idp, **over)}  # fmt: skip


@pytest.fixture(scope="module")
def dead_port():
    return free_port()


@pytest.fixture(scope="module")
def igate(new_host, idp, echo, dead_port):
    """One proxy (1 worker), a listener per introspection configuration."""
    dead = f"http://127.0.0.1:{dead_port}/realms/test/protocol/openid-connect/token/introspect"
    listeners = {
        # Endpoint from discovery (`introspection_endpoint`), client_secret_basic.
        "opaque": listener(idp),
        "post": listener(idp, client_id="gateway-post", client_secret="gateway-post-secret", auth="client_secret_post",
                         endpoint=idp.introspection_endpoint),  # fmt: skip
        "always": listener(idp, mode="always", endpoint=idp.introspection_endpoint),
        "signed": listener(idp, client_id="gateway-jwt", client_secret="gateway-jwt-secret", jwt_response=True),
        "burst": listener(idp, cache_seconds=60),
        "down": listener(idp, endpoint=dead),
        "wrong_secret": listener(idp, client_secret="not-the-secret"),
    }
    proxy = new_host(listeners, [idp, dead_port])
    try:
        proxy.start()
        yield Gate(proxy, echo)
    finally:
        proxy.stop()


def opaque(idp, client="webhook-partner-opaque", **kw) -> Token:
    t = client_credentials(idp.token_endpoint, client, **kw)
    assert t.access_token.count(".") != 2, "expected an opaque token"
    return t


def assert_allowed_opaque(resp, seen, token: Token) -> dict:
    """200 upstream with `Authorization: Bearer <token>`, no DPoP, and the claim headers taken from
    the introspection answer (the token itself holds no claims)."""
    assert resp.status == 200, f"expected 200, got {resp}"
    assert len(seen) == 1
    h = seen_headers(seen[0])
    assert h.get("authorization") == [f"Bearer {token.access_token}"], h.get("authorization")
    assert "dpop" not in h or h["dpop"] == [""], h.get("dpop")
    client = "webhook-partner-opaque-dpop" if token.key else "webhook-partner-opaque"
    assert h.get("x-auth-client") == [client], h
    assert h.get("x-auth-user") == [f"service-account-{client}"], h
    assert h.get("x-auth-scope") == ["webhook:write"], h
    assert h.get("x-auth-roles", [""])[0].startswith("partner"), h
    return h


def refused_after(igate, name: str, token: Token):
    """Sends `token` until it is refused (it was just revoked), at most `cache_seconds` + 1.5 s.
    Returns the refusal and how long after the call it came."""
    revoked = time.monotonic()
    while True:
        resp, seen = igate.send(name, token=token)
        if resp.status != 200:
            return resp, seen, time.monotonic() - revoked
        assert time.monotonic() - revoked < CACHE_SECONDS + 1.5, "still passing after cache_seconds"
        time.sleep(0.05)


def test_an_opaque_token_passes_with_bearer_and_claim_headers_upstream(igate, idp):
    token = opaque(idp)
    for name in ("opaque", "post", "always"):
        resp, seen = igate.send(name, token=token)
        assert_allowed_opaque(resp, seen, token)


def test_a_revoked_opaque_token_is_refused_within_cache_seconds(igate, idp):
    token = opaque(idp)
    resp, seen = igate.send("opaque", token=token)
    assert_allowed_opaque(resp, seen, token)
    idp.revoke("webhook-partner-opaque", token.access_token)
    resp, seen, took = refused_after(igate, "opaque", token)
    print(f"\nrevoked opaque token refused {took:.2f} s after revocation (cache_seconds {CACHE_SECONDS})")
    assert_refused(resp, seen, 401, "invalid_token", "Bearer")
    assert took <= CACHE_SECONDS + 1.5


def test_a_jwt_in_mode_always_is_refused_after_revocation(igate, idp):
    """The JWT's introspection and revocation are the test IdP's Keycloak stand-in (see the module
    docs)."""
    token = client_credentials(idp.token_endpoint, "webhook-partner")
    assert token.access_token.count(".") == 2
    resp, seen = igate.send("always", token=token)
    assert resp.status == 200, resp
    assert seen_headers(seen[0])["x-auth-client"] == ["webhook-partner"]
    idp.revoke("webhook-partner", token.access_token)
    resp, seen, took = refused_after(igate, "always", token)
    print(f"\nrevoked JWT (mode always) refused {took:.2f} s after revocation (cache_seconds {CACHE_SECONDS})")
    assert_refused(resp, seen, 401, "invalid_token", "Bearer")
    # Without introspection the same JWT still passes until its exp: what mode `always` is for.
    resp, _ = igate.send("opaque", token=token)
    assert resp.status == 200, resp


def test_a_dpop_bound_opaque_token_passes_with_its_proof_and_is_refused_as_bearer(igate, idp):
    key = ProofKey.generate("EC")
    token = opaque(idp, client="webhook-partner-opaque-dpop", dpop_key=key)
    assert token.token_type == "DPoP"
    proof = key.proof("POST", igate.url("opaque"), token.access_token)
    resp, seen = igate.send("opaque", token=token, scheme="DPoP", proof=proof)
    assert_allowed_opaque(resp, seen, token)
    resp, seen = igate.send("opaque", token=token, scheme="Bearer")
    assert_refused(resp, seen, 401, "invalid_token", "DPoP")
    # A proof of another key: refused.
    other = ProofKey.generate("EC").proof("POST", igate.url("opaque"), token.access_token)
    resp, seen = igate.send("opaque", token=token, scheme="DPoP", proof=other)
    assert_refused(resp, seen, 401, "invalid_token", "DPoP")


def test_an_inactive_token_is_invalid_token(igate):
    resp, seen = igate.send("opaque", token=f"unknown-{uuid.uuid4().hex}")
    assert_refused(resp, seen, 401, "invalid_token", "Bearer")
    assert "not active" in resp.json()["error_description"]


def test_an_endpoint_that_is_down_is_503(igate, idp):
    token = opaque(idp)
    resp, seen = igate.send("down", token=token)
    assert resp.status == 503, resp
    assert not seen
    assert resp.json()["error"] == "temporarily_unavailable"


def test_a_wrong_client_secret_is_503_and_a_log_line(igate, idp):
    token = opaque(idp)
    resp, seen = igate.send("wrong_secret", token=token)
    assert resp.status == 503, resp
    assert not seen
    log = igate.host.log_text()
    deadline = time.monotonic() + 3
    while "refused the gateway's client credentials (status 401)" not in log and time.monotonic() < deadline:
        time.sleep(0.1)
        log = igate.host.log_text()
    assert "refused the gateway's client credentials (status 401)" in log
    assert "not-the-secret" not in log and token.access_token not in log


def test_a_burst_of_20_with_a_new_token_makes_one_call(igate, idp, host_kind):
    token = opaque(idp)
    idp.set_introspection_delay(500)
    idp.reset_stats()
    before = igate.host.counters()
    results = []

    def one():
        resp, seen = igate.send("burst", token=token)
        results.append((resp.status, len(seen)))

    try:
        threads = [threading.Thread(target=one) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        idp.set_introspection_delay(0)
    assert results == [(200, 1)] * 20, results
    calls = idp.introspection_calls()
    print(f"\nburst of 20 with one new token: {calls} introspection call(s) at the IdP ({host_kind})")
    if igate.host.kind == "envoy":
        assert calls == 1
    else:
        # Kong's engine resumes a paused request only from the answer to its own call (a callback
        # cannot act on another request): every request that found no answer made its own call.
        assert 1 <= calls <= 20
    # Afterwards, from the cache: no call.
    resp, _ = igate.send("burst", token=token)
    assert resp.status == 200
    assert idp.introspection_calls() == calls
    if before is not None:
        after = igate.host.counters()
        assert after.get("dpop_gate_introspection_calls", 0) - before.get("dpop_gate_introspection_calls", 0) == 1
        assert after.get("dpop_gate_introspection_cache_hits", 0) - before.get("dpop_gate_introspection_cache_hits", 0) >= 1


def test_signed_answers_are_verified_and_a_forged_one_is_503(igate, idp):
    token = opaque(idp)
    resp, seen = igate.send("signed", token=token)
    assert_allowed_opaque(resp, seen, token)
    idp.forge_introspection(True)
    try:
        other = opaque(idp)
        resp, seen = igate.send("signed", token=other)
        assert resp.status == 503, resp
        assert not seen
        # Not even an unknown token passes on a forged `active: true`.
        resp, seen = igate.send("signed", token=f"made-up-{uuid.uuid4().hex}")
        assert resp.status == 503, resp
    finally:
        idp.forge_introspection(False)
    log = igate.host.log_text()
    assert "signed introspection answer does not verify" in log


@pytest.mark.host_only("envoy", NO_METRICS)
def test_introspection_failures_are_counted(igate, idp):
    before = igate.host.counters()
    igate.send("down", token=opaque(idp))
    after = igate.host.counters()
    assert after.get("dpop_gate_introspection_failures", 0) > before.get("dpop_gate_introspection_failures", 0)
    assert after.get("dpop_gate_refused_introspection_unavailable", 0) > before.get(
        "dpop_gate_refused_introspection_unavailable", 0
    )
