"""The issuer's keys: discovery and JWKS fetches counted at the authorization server, key rotation,
the server going away, and a burst of requests on a cold proxy. Each test has its own IdP and proxy."""

import http.client
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import main_config
from harness.checks import assert_allowed, assert_refused
from harness.oauth import ProofKey, Response, client_credentials, request
from harness.procs import LOOPBACK


def test_key_rotation_refetches_once(stack):
    idp = stack.idp()
    gate = stack.host({"main": main_config(idp)}, [idp])
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

    # The filter's own counters agree. (Not in nginx: nothing there reads a filter's metrics, see
    # `Nginx.counters`.)
    counters = gate.host.counters()
    if gate.host.kind != "nginx":
        assert counters["dpop_gate_jwks_fetches"] == 3, counters  # discovery, JWKS, JWKS
        assert counters["dpop_gate_allowed"] == 5, counters
        assert counters["dpop_gate_refused_token_key_not_found"] == 1, counters


@pytest.mark.parametrize("gap", [0, 1.1], ids=["right-after-first-fetch", "a-second-later"])
def test_key_rotation_on_two_workers(stack, gap):
    """After a rotation one JWKS fetch serves every worker: the worker that meets the new kid first
    refetches and publishes the key set in shared data; the other adopts it instead of fetching.
    Sequential requests, each on a new connection, spread over both workers."""
    idp = stack.idp()
    gate = stack.host({"main": main_config(idp)}, [idp], concurrency=2)
    old = client_credentials(idp.token_endpoint, "webhook-partner")
    # The kernel spreads new connections over the workers (`reuseport` in nginx) at random: keep
    # going until both have served one (seen once on nginx: 9 of 9 connections on one worker).
    for sent in range(40):
        assert_allowed(*gate.send(token=old), old)
        before = gate.host.worker_connections("main")
        if sent >= 7 and len([c for c in before.values() if c > 0]) == 2:
            break
    assert len([c for c in before.values() if c > 0]) == 2, f"one worker got every connection: {before}"
    discovery, jwks = idp.fetch_counts()
    assert discovery <= 2 and jwks <= 2, (discovery, jwks)

    # Key sets carry their fetch time in whole seconds: right after the first fetch, the rotation's
    # key set is usually published in the same second (once not adopted, found by this test).
    time.sleep(gap)
    idp.rotate("RS256")
    new = client_credentials(idp.token_endpoint, "webhook-partner")
    for _ in range(12):
        assert_allowed(*gate.send(token=new), new)
    after = gate.host.worker_connections("main")
    assert all(after[w] > before.get(w, 0) for w in after) and len(after) == 2, f"{before} -> {after}"
    assert idp.fetch_counts() == (discovery, jwks + 1), "the new key set was fetched more than once"


def test_idp_stopped_after_warm_up(stack):
    idp = stack.idp()
    gate = stack.host({"main": main_config(idp)}, [idp])
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
    """The proxy never reached the IdP: requests get 503, never pass; once it is up, they pass."""
    idp = stack.idp()
    token = client_credentials(idp.token_endpoint, "webhook-partner")
    idp.stop()  # its port now refuses connections
    extra = {"jwks_min_refetch_seconds": 1}
    if source == "jwks_uri":
        extra["jwks_uri"] = idp.jwks_uri
    gate = stack.host({"main": main_config(idp, **extra)}, [idp])

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


@pytest.mark.parametrize("delay_ms", [0, 300], ids=["idp-fast", "idp-300ms"])
@pytest.mark.parametrize("concurrency", [1, 2])
def test_cold_start_burst(stack, concurrency, delay_ms):
    """20 requests at once on a fresh proxy, the IdP answering at once or slowly: every request is
    answered, within the callout timeout (`http_timeout_ms`, 5 s by default) of the fetches; the
    valid ones pass, the wrong-audience ones are refused. With one worker the IdP sees exactly one
    discovery and one JWKS fetch (every request waits on the same fetch). With two, each worker may
    start its own before either publishes the keys in shared data: at most one of each per worker."""
    idp = stack.idp()
    bearer = client_credentials(idp.token_endpoint, "webhook-partner")
    bound = client_credentials(idp.token_endpoint, "webhook-partner-dpop", dpop_key=ProofKey.generate("EC"))
    foreign = client_credentials(idp.token_endpoint, "webhook-partner", resource="https://other.example.com")
    idp.set_delay(delay_ms)
    gate = stack.host({"main": main_config(idp)}, [idp], concurrency=concurrency)
    assert idp.fetch_counts() == (0, 0)

    n = 20
    barrier = threading.Barrier(n)

    def one(i):
        token = (bearer, bound, bearer, foreign)[i % 4]
        proof = gate.proof_for(bound) if token is bound else None
        barrier.wait(10)
        t0 = time.monotonic()
        try:
            resp, seen = gate.send(token=token, proof=proof)
        except OSError as e:  # no answer within the client's 15 s
            resp, seen = e, None
        return token, resp, seen, time.monotonic() - t0

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(one, range(n)))
    unanswered = [r for r in results if isinstance(r[1], OSError)]
    assert not unanswered, f"{len(unanswered)} of {n} requests never answered: {unanswered[0][1]!r}"
    for token, resp, seen, elapsed in results:
        assert elapsed < 5.0 + 2 * delay_ms / 1000 + 1.5, f"answered after {elapsed:.1f}s"
        if token is foreign:
            assert_refused(resp, seen, 401, "invalid_token", "Bearer")
        else:
            assert_allowed(resp, seen, token)
    if delay_ms:
        # They waited for the keys together: two slowed-down fetches are 0.6 s.
        waited = sum(1 for *_, elapsed in results if elapsed >= 0.5)
        assert waited >= n // 2, sorted(round(e, 2) for *_, e in results)

    discovery, jwks = idp.fetch_counts()
    print(f"\ncold burst of {n}, {concurrency} worker(s), IdP delay {delay_ms} ms: "
          f"{discovery} discovery and {jwks} JWKS fetches")  # fmt: skip
    if gate.host.kind == "nginx":
        # ngx_wasm_module cannot act on a request from another request's callout (its
        # set_effective_context does nothing), so a paused request is resumed only by a callout it
        # made itself: each request that waited owns its fetch.
        assert 1 <= discovery <= n and 1 <= jwks <= n, (discovery, jwks)
    elif concurrency == 1:
        assert (discovery, jwks) == (1, 1)
    else:
        assert 1 <= discovery <= concurrency and 1 <= jwks <= concurrency, (discovery, jwks)
        per_worker = gate.host.worker_connections("main")
        assert len([c for c in per_worker.values() if c > 0]) == 2, f"one worker got every connection: {per_worker}"

    # Warm now: more requests fetch nothing.
    for _ in range(4):
        assert_allowed(*gate.send(token=bearer), bearer)
    assert idp.fetch_counts() == (discovery, jwks)


def test_proof_replay_across_workers(stack):
    """The replay store is host shared data: a proof used on one worker is refused on the other.
    Each replay goes on a new connection, and connections are spread over both workers."""
    idp = stack.idp()
    gate = stack.host({"main": main_config(idp)}, [idp], concurrency=2)
    token = client_credentials(idp.token_endpoint, "webhook-partner-dpop", dpop_key=ProofKey.generate("Ed25519"))
    proof = gate.proof_for(token)
    assert_allowed(*gate.send(token=token, proof=proof), token)
    for _ in range(10):
        resp, seen = gate.send(token=token, proof=proof)
        assert_refused(resp, seen, 401, "invalid_dpop_proof", "DPoP")
    per_worker = gate.host.worker_connections("main")
    assert len([c for c in per_worker.values() if c > 0]) == 2, f"one worker got every connection: {per_worker}"


def test_waiters_survive_the_requester_leaving(stack):
    """The request that started the cold-start fetch goes away (its client times out) while another
    request waits on that fetch. The waiting request is still served, by a new fetch within a tick,
    not after the lost fetch's deadline (`http_timeout_ms` + 1 s)."""
    idp = stack.idp()
    token = client_credentials(idp.token_endpoint, "webhook-partner")
    idp.set_delay(600)
    gate = stack.host({"main": main_config(idp)}, [idp])
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
        try:
            results["patient"] = gate.send(token=token)
        except OSError as e:
            results["patient"] = e
        results["elapsed"] = time.monotonic() - t0

    threads = [threading.Thread(target=impatient), threading.Thread(target=patient)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results["impatient"] == "gave up"
    assert not isinstance(results["patient"], OSError), f"the waiting request got no answer: {results}"
    assert_allowed(*results["patient"], token)
    # 0.2 s until the first client leaves, at most 1 s to the next tick, 2 x 0.6 s of fetches.
    assert results["elapsed"] < 4.0, f"the waiting request took {results['elapsed']:.1f}s"
    if gate.host.kind == "nginx":
        # The request that left still completes its fetch there (the host does not cancel its
        # callout), and the waiting request owns its own fetch (see test_cold_start_burst).
        assert idp.fetch_counts() == (2, 2)
    else:
        assert idp.fetch_counts() == (2, 1)


@pytest.mark.parametrize("audience_ok", [True, False], ids=["allowed", "refused"])
def test_cold_start_with_streamed_body(stack, audience_ok):
    """On a cold proxy the headers arrive, the body follows 0.5 s later while the request waits
    for the keys: the body is held, then goes upstream whole (allowed) or never (refused)."""
    idp = stack.idp()
    resource = None if audience_ok else "https://other.example.com"
    token = client_credentials(idp.token_endpoint, "webhook-partner", resource=resource)
    idp.set_delay(300)
    gate = stack.host({"main": main_config(idp)}, [idp])
    marker = uuid.uuid4().hex
    body = b'{"event": "order.created", "items": [' + b",".join(b'"item-%d"' % i for i in range(2000)) + b"]}"
    conn = http.client.HTTPConnection(LOOPBACK, gate.host.ports["main"], timeout=15)
    try:
        conn.putrequest("POST", "/webhook")
        for k, v in [("authorization", f"Bearer {token.access_token}"), ("x-test-id", marker),
                     ("content-type", "application/json"), ("content-length", str(len(body)))]:  # fmt: skip
            conn.putheader(k, v)
        conn.endheaders()
        time.sleep(0.5)
        conn.send(body[:1000])
        time.sleep(0.2)
        conn.send(body[1000:])
        r = conn.getresponse()
        resp = Response(r.status, [(k.lower(), v) for k, v in r.getheaders()], r.read())
    finally:
        conn.close()
    seen = gate.echo.seen(marker)
    if audience_ok:
        assert_allowed(resp, seen, token)
        assert seen[0]["body"].encode() == body
    else:
        assert_refused(resp, seen, 401, "invalid_token", "Bearer")


@pytest.mark.parametrize("concurrency", [1, 2])
def test_background_refresh(stack, concurrency):
    """`jwks_refresh_seconds`: the keys are refetched in the background, so a key the IdP added
    meanwhile is known before any token needs it. One JWKS fetch per refresh for the whole proxy:
    every root context (each worker's, and in Envoy the main thread's) becomes due in the same second, one
    claims the refresh in shared data and the others adopt its keys, and with them the `jwks_uri`,
    so whichever context refreshes, it makes no new discovery."""
    idp = stack.idp()
    gate = stack.host({"main": main_config(idp, jwks_refresh_seconds=10)}, [idp], concurrency=concurrency)
    token = client_credentials(idp.token_endpoint, "webhook-partner")
    assert_allowed(*gate.send(token=token), token)
    assert idp.fetch_counts() == (1, 1)
    new_kid = idp.rotate("ES256")
    deadline = time.monotonic() + 20
    while idp.fetch_counts()[1] < 2 and time.monotonic() < deadline:
        time.sleep(0.25)
    time.sleep(2.5)  # every root context's tick has come by since, and adopted the refreshed keys
    discovery, jwks = idp.fetch_counts()
    assert (discovery, jwks) == (1, 2), f"one background refresh after 10 s, no rediscovery: {discovery}, {jwks}"
    fresh = client_credentials(idp.token_endpoint, "webhook-partner-es256")
    assert fresh.header["kid"] == new_kid
    for _ in range(4):  # on both workers, when there are two
        assert_allowed(*gate.send(token=fresh), fresh)
    assert idp.fetch_counts() == (discovery, 2), "the new kid was already known: no refetch"


def test_idp_too_slow(stack):
    """A fetch that outlasts `http_timeout_ms` fails: the requests waiting on it get 503 soon after
    the timeout, all of them, and never reach the upstream."""
    idp = stack.idp()
    token = client_credentials(idp.token_endpoint, "webhook-partner")
    idp.set_delay(3000)
    gate = stack.host({"main": main_config(idp, http_timeout_ms=500)}, [idp])

    def one(_):
        t0 = time.monotonic()
        try:
            resp, seen = gate.send(token=token)
        except OSError as e:  # no answer within the client's 15 s
            resp, seen = e, None
        return resp, seen, time.monotonic() - t0

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(one, range(6)))
    unanswered = [r for r in results if isinstance(r[0], OSError)]
    assert not unanswered, f"{len(unanswered)} of 6 requests never answered: {unanswered[0][0]!r}"
    for resp, seen, elapsed in results:
        assert_refused(resp, seen, 503, None, body_error="temporarily_unavailable")
        assert elapsed < 2.5, f"answered after {elapsed:.1f}s"


def test_two_issuers(stack):
    """`issuers`: two authorization servers, the token's `iss` picks the entry; the second one's
    callouts go where `upstream` says (an Envoy cluster; in nginx a `host:port`, the host name added to
    the resolver). A token of a third, unconfigured IdP is refused."""
    first, second, stranger = stack.idp(), stack.idp(), stack.idp()
    upstream = stack.host_class.callout_target("second-idp", second.port)
    config = {
        "audiences": ["https://api.example.com"],
        "claims_to_headers": main_config(first)["claims_to_headers"],
        "issuers": [
            {"issuer": first.issuer},
            {"issuer": second.issuer, "jwks_uri": second.jwks_uri, "upstream": upstream},
        ],
    }
    gate = stack.host({"main": config}, [first, ("second-idp", second.port)])
    for idp in (first, second):
        for client in ("webhook-partner", "webhook-partner-es256"):
            token = client_credentials(idp.token_endpoint, client)
            assert_allowed(*gate.send(token=token), token)
    assert first.fetch_counts() == (1, 1) and second.fetch_counts() == (0, 1)
    foreign = client_credentials(stranger.token_endpoint, "webhook-partner")
    resp, seen = gate.send(token=foreign)
    assert_refused(resp, seen, 401, "invalid_token", "Bearer")
    assert stranger.fetch_counts() == (0, 0)
