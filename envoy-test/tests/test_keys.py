"""The issuer's keys: discovery and JWKS fetches counted at the authorization server, key rotation,
the server going away, and a burst of requests on a cold Envoy. Each test has its own IdP and Envoy."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import main_config
from harness.checks import assert_allowed, assert_refused
from harness.oauth import ProofKey, client_credentials, request


def test_key_rotation_refetches_once(stack):
    idp = stack.idp()
    gate = stack.envoy({"main": main_config(idp)}, [idp])
    old = client_credentials(idp.token_endpoint, "webhook-partner")
    assert_allowed(*gate.send(token=old), old)
    assert idp.fetch_counts() == (1, 1)

    new_kid = idp.rotate("RS256")
    new = client_credentials(idp.token_endpoint, "webhook-partner")
    assert new.header["kid"] == new_kid != old.header["kid"]
    assert_allowed(*gate.send(token=new), new)
    assert idp.fetch_counts() == (1, 2), "an unknown kid costs exactly one JWKS refetch, no new discovery"

    # From now on nothing is fetched: another new-key token, the old-key token, a new-key DPoP token.
    again = client_credentials(idp.token_endpoint, "webhook-partner")
    assert_allowed(*gate.send(token=again), again)
    assert_allowed(*gate.send(token=old), old)
    bound = client_credentials(idp.token_endpoint, "webhook-partner-dpop", dpop_key=ProofKey.generate("EC"))
    assert bound.header["kid"] == new_kid
    assert_allowed(*gate.send(token=bound, proof=gate.proof_for(bound)), bound)
    assert idp.fetch_counts() == (1, 2)

    # A kid the IdP never published, right after the refetch: refused without another fetch
    # (at most one refetch per `jwks_min_refetch_seconds`).
    idp.rotate("ES256")
    unknown = client_credentials(idp.token_endpoint, "webhook-partner-es256")
    resp, seen = gate.send(token=unknown)
    assert_refused(resp, seen, 401, "invalid_token", "Bearer")
    assert idp.fetch_counts() == (1, 2)


def test_idp_stopped_after_warm_up(stack):
    idp = stack.idp()
    gate = stack.envoy({"main": main_config(idp)}, [idp])
    warm = client_credentials(idp.token_endpoint, "webhook-partner")
    later = [
        client_credentials(idp.token_endpoint, "webhook-partner"),
        client_credentials(idp.token_endpoint, "webhook-partner-es256"),
    ]
    bound = client_credentials(idp.token_endpoint, "webhook-partner-dpop", dpop_key=ProofKey.generate("Ed25519"))
    assert_allowed(*gate.send(token=warm), warm)
    idp.stop()

    # Tokens never seen before (not in the verified-token cache), checked with the cached keys.
    for token in later:
        assert_allowed(*gate.send(token=token), token)
    assert_allowed(*gate.send(token=bound, proof=gate.proof_for(bound)), bound)

    # The IdP comes back (same port, same keys) and rotates: the new key is fetched.
    idp.start()
    idp.reset_stats()
    kid = idp.rotate("RS256")
    fresh = client_credentials(idp.token_endpoint, "webhook-partner")
    assert fresh.header["kid"] == kid
    assert_allowed(*gate.send(token=fresh), fresh)
    assert idp.fetch_counts() == (0, 1)


@pytest.mark.parametrize("source", ["discovery", "jwks_uri"])
def test_idp_down_from_the_start(stack, source):
    """Envoy never reached the IdP: requests get 503, never pass; once it is up, they pass."""
    idp = stack.idp()
    token = client_credentials(idp.token_endpoint, "webhook-partner")
    idp.stop()  # its port now refuses connections
    extra = {"jwks_min_refetch_seconds": 1}
    if source == "jwks_uri":
        extra["jwks_uri"] = idp.jwks_uri
    gate = stack.envoy({"main": main_config(idp, **extra)}, [idp])

    for _ in range(2):
        resp, seen = gate.send(token=token)
        assert_refused(resp, seen, 503, None, body_error="temporarily_unavailable")
        assert resp.all("www-authenticate") == [], resp

    idp.start()
    deadline = time.monotonic() + 15
    while True:
        resp, seen = gate.send(token=token)
        if resp.status == 200 or time.monotonic() > deadline:
            break
        assert_refused(resp, seen, 503, None, body_error="temporarily_unavailable")
        time.sleep(0.3)
    assert_allowed(resp, seen, token)


@pytest.mark.parametrize("concurrency", [1, 2])
def test_cold_start_burst(stack, concurrency):
    """20 requests at once on a fresh Envoy, while the IdP answers slowly: all pass. With one worker
    the IdP sees exactly one discovery and one JWKS fetch (every request waits on the same fetch).
    With two, each worker's VM may start its own before either publishes the keys in shared data:
    at most one of each per worker."""
    idp = stack.idp()
    bearer = client_credentials(idp.token_endpoint, "webhook-partner")
    bound = client_credentials(idp.token_endpoint, "webhook-partner-dpop", dpop_key=ProofKey.generate("EC"))
    idp.set_delay(300)
    gate = stack.envoy({"main": main_config(idp)}, [idp], concurrency=concurrency)
    assert idp.fetch_counts() == (0, 0)

    n = 20
    barrier = threading.Barrier(n)

    def one(i):
        token = bearer if i % 2 else bound
        proof = gate.proof_for(bound) if token is bound else None
        barrier.wait(10)
        return token, gate.send(token=token, proof=proof)

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(one, range(n)))
    for token, (resp, seen) in results:
        assert_allowed(resp, seen, token)

    discovery, jwks = idp.fetch_counts()
    if concurrency == 1:
        assert (discovery, jwks) == (1, 1)
    else:
        assert 1 <= discovery <= concurrency and 1 <= jwks <= concurrency, (discovery, jwks)

    # Warm now: more requests fetch nothing.
    for _ in range(4):
        assert_allowed(*gate.send(token=bearer), bearer)
    assert idp.fetch_counts() == (discovery, jwks)


def test_waiters_survive_the_requester_leaving(stack):
    """The request that started the cold-start fetch goes away (its client times out) while another
    request waits on that fetch. The waiting request is still served, by a new fetch within a tick,
    not after the lost fetch's deadline (`http_timeout_ms` + 1 s)."""
    idp = stack.idp()
    token = client_credentials(idp.token_endpoint, "webhook-partner")
    idp.set_delay(600)
    gate = stack.envoy({"main": main_config(idp)}, [idp])
    results = {}

    def impatient():
        try:
            request("POST", gate.url(), [("authorization", f"Bearer {token.access_token}")], "{}", timeout=0.3)
            results["impatient"] = "answered"
        except OSError:
            results["impatient"] = "gave up"

    def patient():
        time.sleep(0.1)
        t0 = time.monotonic()
        results["patient"] = gate.send(token=token)
        results["elapsed"] = time.monotonic() - t0

    threads = [threading.Thread(target=impatient), threading.Thread(target=patient)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results["impatient"] == "gave up"
    assert_allowed(*results["patient"], token)
    # 0.2 s until the first client leaves, at most 1 s to the next tick, 2 x 0.6 s of fetches.
    assert results["elapsed"] < 4.0, f"the waiting request took {results['elapsed']:.1f}s"
    assert idp.fetch_counts() == (2, 1)
