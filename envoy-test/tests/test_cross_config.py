"""Two filter configurations in one proxy sharing the host's shared data (issue 11 part 1): in Envoy
two listeners whose filters name the same VM (`vm_config.vm_id: dpop_gate`, as the README's example
does); in nginx two `proxy_wasm dpop_gate` locations (every filter of a module shares its instance and
the `dpop_gate` shm_kv zone, as every filter chain does in Kong).

Route A trusts the issuer's keys by discovery. Route B names the same issuer but another key set
(`jwks_uri`), served here by a small static server and holding keys the test made: B trusts those,
A must not. Keys one configuration fetched and published in shared data may be adopted only by a
configuration with the identical key source; otherwise whoever may configure one route could make
every route that names the same issuer accept tokens signed by a key of their choosing.

Before the fix (main at fb3068c) the shared-data namespace was a hash of the issuer names alone and
adoption never compared where the keys came from: route A answered 200 to the token signed by B's
key, right after B had fetched its keys (the first assertion of each case below failed).
"""

from __future__ import annotations

import time
import uuid

import pytest
from jwcrypto import jwk, jwt

from conftest import main_config
from harness.checks import assert_allowed, assert_refused
from harness.oauth import Token, client_credentials
from harness.hosts import wasm_filter
from harness.procs import API_AUDIENCE, StaticJsonServer

JWKS_PATH = "/b/jwks.json"
REFRESH_SECONDS = 10  # the smallest `jwks_refresh_seconds` the filter accepts
TRIES = 6  # each check on this many new connections: with two workers, both take some


def forged(key: jwk.JWK, issuer: str) -> Token:
    """A token as the IdP's would look (iss, aud, Keycloak-shaped claims), signed by `key`."""
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": API_AUDIENCE,
        "sub": "route-b-admin",
        "azp": "route-b-client",
        "scope": "webhook:write",
        "realm_access": {"roles": ["forged"]},
        "preferred_username": "service-account-route-b",
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    t = jwt.JWT(header={"alg": "RS256", "typ": "JWT", "kid": key["kid"]}, claims=claims)
    t.make_signed_token(key)
    return Token(t.serialize(), "Bearer", 300, claims["scope"])


def new_key(kid: str) -> jwk.JWK:
    return jwk.JWK.generate(kty="RSA", size=2048, kid=kid, alg="RS256", use="sig")


def jwks_of(*keys: jwk.JWK) -> dict:
    return {"keys": [k.export_public(as_dict=True) for k in keys]}


@pytest.fixture
def b_keys():
    server = StaticJsonServer({})
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    "concurrency,kid",
    [(1, "own"), (2, "own"), (1, "idp")],
    ids=["1-worker", "2-workers", "1-worker-same-kid-as-idp"],
)
def test_keys_of_one_configuration_never_serve_another(stack, b_keys, concurrency, kid):
    """`kid`: B's key has a kid of its own, or the very kid the IdP signs with (so a forged key
    would take the real key's place if the key sets were merged by kid)."""
    idp = stack.idp()
    real = client_credentials(idp.token_endpoint, "webhook-partner")
    b_key = new_key(real.header["kid"] if kid == "idp" else "route-b-1")
    b_keys.docs[JWKS_PATH] = jwks_of(b_key)
    a_cfg = main_config(idp, jwks_refresh_seconds=REFRESH_SECONDS)
    b_cfg = main_config(idp, jwks_uri=b_keys.url(JWKS_PATH), jwks_refresh_seconds=REFRESH_SECONDS)
    gate = stack.host({"a": a_cfg, "b": b_cfg}, [idp, b_keys.port], concurrency=concurrency)
    # The premise: the two configurations share the host's shared data.
    if gate.host.kind == "envoy":  # Envoy keys shared data by vm_id
        vm_ids = {wasm_filter(c)["typed_config"]["config"]["vm_config"]["vm_id"] for c in (a_cfg, b_cfg)}
        assert vm_ids == {"dpop_gate"}, vm_ids
    else:  # nginx: one module, one zone, a `proxy_wasm dpop_gate` per location
        conf = gate.host.config_path.read_text()
        assert conf.count("module dpop_gate ") == 1 and conf.count("shm_kv dpop_gate ") == 1, conf
        assert conf.count("proxy_wasm dpop_gate ") == 2, conf
    token_b = forged(b_key, idp.issuer)

    # B fetches its key set (and publishes it in shared data) and trusts its own key.
    for _ in range(TRIES):
        assert_allowed(*gate.send("b", token=token_b), token_b)
    assert b_keys.count(JWKS_PATH) >= 1
    assert idp.fetch_counts() == (0, 0), "route B has its own key set: it never asks the IdP"

    # A has nothing of its own yet: B's key must not be what it finds.
    for _ in range(TRIES):
        resp, seen = gate.send("a", token=token_b)
        assert_refused(resp, seen, 401, "invalid_token", "Bearer")

    # A's own keys (its own discovery and fetch) serve the IdP's token; B's is still refused there.
    for _ in range(TRIES):
        assert_allowed(*gate.send("a", token=real), real)
        resp, seen = gate.send("a", token=token_b)
        assert_refused(resp, seen, 401, "invalid_token", "Bearer")
    discovery, jwks = idp.fetch_counts()
    assert discovery >= 1 and jwks >= 1, (discovery, jwks)

    # A published its keys in turn: B trusts only its own set.
    for _ in range(TRIES):
        resp, seen = gate.send("b", token=real)
        assert_refused(resp, seen, 401, "invalid_token", "Bearer")
        assert_allowed(*gate.send("b", token=token_b), token_b)

    # Background refresh: B's set gains a key, the IdP rotates. Wait for both configurations'
    # refreshes (each refreshes its own source), then for every root context's next tick.
    b_key2 = new_key("route-b-2")
    b_keys.docs[JWKS_PATH] = jwks_of(b_key, b_key2)
    idp.rotate("RS256")
    b_before, (_, idp_before) = b_keys.count(JWKS_PATH), idp.fetch_counts()
    deadline = time.monotonic() + 2 * REFRESH_SECONDS + 5
    while time.monotonic() < deadline:
        if b_keys.count(JWKS_PATH) > b_before and idp.fetch_counts()[1] > idp_before:
            break
        time.sleep(0.25)
    assert b_keys.count(JWKS_PATH) > b_before, "route B's keys were never refreshed"
    assert idp.fetch_counts()[1] > idp_before, "route A's keys were never refreshed"
    time.sleep(2.5)

    token_b2 = forged(b_key2, idp.issuer)
    rotated = client_credentials(idp.token_endpoint, "webhook-partner")
    for _ in range(TRIES):
        for t in (token_b, token_b2):
            resp, seen = gate.send("a", token=t)
            assert_refused(resp, seen, 401, "invalid_token", "Bearer")
            assert_allowed(*gate.send("b", token=t), t)
        for t in (real, rotated):
            assert_allowed(*gate.send("a", token=t), t)
            resp, seen = gate.send("b", token=t)
            assert_refused(resp, seen, 401, "invalid_token", "Bearer")
    if concurrency == 2:
        for listener in ("a", "b"):
            per_worker = gate.host.worker_connections(listener)
            assert len([c for c in per_worker.values() if c > 0]) == 2, f"{listener}: one worker took all: {per_worker}"
