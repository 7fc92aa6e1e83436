"""DPoP (RFC 9449): DPoP-bound tokens from the real authorization server, proofs made by jwcrypto."""

import hashlib
import time

import pytest

from conftest import PUBLIC_BASE_URL, main_config
from harness.checks import assert_allowed, assert_refused
from harness.oauth import ProofKey, b64url, client_credentials


@pytest.mark.parametrize("kind,alg", [("EC", "ES256"), ("RSA", "RS256"), ("Ed25519", "EdDSA")])
def test_valid_dpop(gate, tokens, kind, alg):
    token = tokens.dpop(kind)
    assert token.key.alg == alg
    resp, seen = gate.send(token=token, proof=gate.proof_for(token))
    assert_allowed(resp, seen, token)  # upstream: Bearer, no DPoP header


def test_valid_dpop_es256_token_and_get(gate, tokens):
    """An ES256-signed bound token, a GET with a query (htu excludes the query)."""
    token = tokens.dpop("EC", client="webhook-partner-dpop-es256")
    assert token.header["alg"] == "ES256"
    proof = token.key.proof("GET", gate.url(path="/orders"), token.access_token)
    resp, seen = gate.send(token=token, proof=proof, method="GET", path="/orders?page=2", body=None)
    assert_allowed(resp, seen, token)
    assert seen[0]["path"] == "/orders?page=2"


def test_lowercase_dpop_scheme(gate, tokens):
    token = tokens.dpop("EC")
    resp, seen = gate.send(token=token, scheme="dpop", proof=gate.proof_for(token))
    assert_allowed(resp, seen, token)


def test_dpop_spoofed_claim_header_replaced(gate, tokens):
    token = tokens.dpop("Ed25519")
    spoof = [("x-auth-client", "admin"), ("x-auth-roles", "superuser"), ("x-auth-user", "root")]
    resp, seen = gate.send(token=token, proof=gate.proof_for(token), headers=spoof)
    h = assert_allowed(resp, seen, token)
    assert h["x-auth-client"] == ["webhook-partner-dpop"]
    assert h["x-auth-roles"] == ["partner,dpop,default-roles-test"]


def test_same_token_new_proof_each_time(gate, tokens):
    token = tokens.dpop("EC")
    for _ in range(3):
        resp, seen = gate.send(token=token, proof=gate.proof_for(token))
        assert_allowed(resp, seen, token)


OTHER_EC = ProofKey.generate("EC")


def _token_hash_of(text: str) -> str:
    return b64url(hashlib.sha256(text.encode()).digest())


# Each RFC 9449 section 4.3 check, broken one at a time: (name, proof overrides).
PROOF_FAILURES = [
    ("wrong_typ", lambda t, g: {"typ": "jwt"}),
    ("wrong_htm", lambda t, g: {"htm": "GET"}),
    ("wrong_htu_path", lambda t, g: {"htu": g.url(path="/other")}),
    ("wrong_htu_host", lambda t, g: {"htu": g.url().replace("127.0.0.1", "localhost")}),
    ("stale_iat", lambda t, g: {"iat": int(time.time()) - 600}),
    ("future_iat", lambda t, g: {"iat": int(time.time()) + 600}),
    ("wrong_ath", lambda t, g: {"ath": _token_hash_of(t.access_token + "x")}),
    ("missing_ath", lambda t, g: {"ath": None}),
    ("missing_jti", lambda t, g: {"jti": None}),
    ("signed_by_other_key", lambda t, g: {"sign_with": OTHER_EC}),
    ("private_key_in_jwk", lambda t, g: {"jwk": t.key.key.export_private(as_dict=True)}),
    ("no_jwk", lambda t, g: {"jwk": None}),
]


@pytest.mark.parametrize("name,override", PROOF_FAILURES, ids=[n for n, _ in PROOF_FAILURES])
def test_invalid_proof(gate, tokens, name, override):
    token = tokens.dpop("EC")
    proof = gate.proof_for(token, **override(token, gate))
    resp, seen = gate.send(token=token, proof=proof)
    assert_refused(resp, seen, 401, "invalid_dpop_proof", "DPoP")
    # The same token with a good proof still passes: the refusal was about the proof.
    resp, seen = gate.send(token=token, proof=gate.proof_for(token))
    assert_allowed(resp, seen, token)


def test_proof_by_key_other_than_cnf_jkt(gate, tokens):
    """A well-formed proof, but by a key the token is not bound to: the token is refused."""
    token = tokens.dpop("EC")
    thief = ProofKey.generate("EC")
    assert thief.jkt != token.claims["cnf"]["jkt"]
    resp, seen = gate.send(token=token, proof=gate.proof_for(token, key=thief))
    assert_refused(resp, seen, 401, "invalid_token", "DPoP")


def test_proof_replay(gate, tokens):
    token = tokens.dpop("EC")
    proof = gate.proof_for(token)
    resp, seen = gate.send(token=token, proof=proof)
    assert_allowed(resp, seen, token)
    resp, seen = gate.send(token=token, proof=proof)
    assert_refused(resp, seen, 401, "invalid_dpop_proof", "DPoP")


def test_dpop_scheme_without_proof(gate, tokens):
    token = tokens.dpop("EC")
    resp, seen = gate.send(token=token)
    assert_refused(resp, seen, 400, "invalid_request", "DPoP")


def test_plain_token_as_dpop(gate, tokens):
    """A token without cnf.jkt under the DPoP scheme, with a proof by any key."""
    token = tokens.bearer("webhook-partner")
    key = ProofKey.generate("EC")
    proof = key.proof("POST", gate.url(), token.access_token)
    resp, seen = gate.send(token=token, scheme="DPoP", proof=proof)
    assert_refused(resp, seen, 401, "invalid_token", "DPoP")


def test_two_dpop_headers(gate, tokens):
    token = tokens.dpop("EC")
    resp, seen = gate.send(token=token, proof=gate.proof_for(token), headers=[("dpop", gate.proof_for(token))])
    assert_refused(resp, seen, 400, "invalid_request", "DPoP")


def test_dpop_required_listener(gate, tokens):
    token = tokens.dpop("RSA")
    resp, seen = gate.send("required", token=token, proof=gate.proof_for(token, "required"))
    assert_allowed(resp, seen, token)
    # A proof for another listener's URL (other port) is refused: htu binds the proof to the URL.
    resp, seen = gate.send("required", token=token, proof=gate.proof_for(token, "main"))
    assert_refused(resp, seen, 401, "invalid_dpop_proof", "DPoP")


def test_htu_from_host_header(gate, tokens):
    """htu is checked against the URL the client addressed: its Host header, not the proxy's own address."""
    token = tokens.dpop("EC")
    port = gate.host.ports["main"]
    host = [("host", f"localhost:{port}")]
    proof = token.key.proof("POST", f"http://localhost:{port}/webhook", token.access_token)
    assert_allowed(*gate.send(token=token, proof=proof, headers=host), token)
    proof = gate.proof_for(token)  # htu http://127.0.0.1:<port>/webhook, Host says localhost
    resp, seen = gate.send(token=token, proof=proof, headers=host)
    assert_refused(resp, seen, 401, "invalid_dpop_proof", "DPoP")


def test_public_base_url(gate, tokens):
    """With `public_base_url` (TLS ends in front of the proxy) the proof is for the public URL."""
    token = tokens.dpop("RSA")
    proof = token.key.proof("POST", f"{PUBLIC_BASE_URL}/webhook", token.access_token)
    assert_allowed(*gate.send("public", token=token, proof=proof), token)
    resp, seen = gate.send("public", token=token, proof=gate.proof_for(token, "public"))
    assert_refused(resp, seen, 401, "invalid_dpop_proof", "DPoP")


def test_server_nonce(stack):
    """`dpop_nonce` (RFC 9449 section 9), on two workers: a proof without a nonce gets 401
    `use_dpop_nonce` and a `DPoP-Nonce` to retry with; the retry passes, on either worker (the
    random secret is shared); a made-up nonce is refused; Bearer tokens are not concerned."""
    idp = stack.idp()
    gate = stack.host({"main": main_config(idp, dpop_nonce={})}, [idp], concurrency=2)
    token = client_credentials(idp.token_endpoint, "webhook-partner-dpop", dpop_key=ProofKey.generate("EC"))

    resp, seen = gate.send(token=token, proof=gate.proof_for(token))
    assert_refused(resp, seen, 401, "use_dpop_nonce", "DPoP")
    nonce = resp.header("dpop-nonce")
    assert nonce, resp

    for _ in range(8):  # new connections: both workers
        resp, seen = gate.send(token=token, proof=gate.proof_for(token, nonce=nonce))
        h = assert_allowed(resp, seen, token)
        assert "dpop-nonce" not in h
    per_worker = gate.host.worker_connections("main")
    assert len([c for c in per_worker.values() if c > 0]) == 2, per_worker

    resp, seen = gate.send(token=token, proof=gate.proof_for(token, nonce=nonce[::-1]))
    assert_refused(resp, seen, 401, "use_dpop_nonce", "DPoP")
    assert resp.header("dpop-nonce")

    bearer = client_credentials(idp.token_endpoint, "webhook-partner")
    assert_allowed(*gate.send(token=bearer), bearer)


def test_responses_carrying_a_nonce_are_not_cached(stack):
    """RFC 9449 section 8.2: a response that carries a `DPoP-Nonce` is marked `Cache-Control:
    no-store`, so no cache hands one client's nonce to another. Both kinds: the `use_dpop_nonce`
    refusal, and an allowed response whose proof's nonce was from the previous step (the filter sends
    a fresh one then, RFC 9449 section 9.1). An allowed response without a new nonce is left as the
    upstream made it. Steps are 10 s, so the test waits for one step to pass."""
    idp = stack.idp()
    gate = stack.host({"main": main_config(idp, dpop_nonce={"step_seconds": 10})}, [idp])
    token = client_credentials(idp.token_endpoint, "webhook-partner-dpop", dpop_key=ProofKey.generate("EC"))

    # Away from a step boundary, so the step the nonce is issued in is known here.
    while time.time() % 10 > 8:
        time.sleep(0.2)
    step = int(time.time()) // 10
    resp, seen = gate.send(token=token, proof=gate.proof_for(token))
    assert_refused(resp, seen, 401, "use_dpop_nonce", "DPoP")
    nonce = resp.header("dpop-nonce")
    assert nonce, resp
    assert resp.all("cache-control") == ["no-store"], resp

    # The same step: the nonce is current, no new one, and nothing added to the upstream's answer.
    resp, seen = gate.send(token=token, proof=gate.proof_for(token, nonce=nonce))
    assert_allowed(resp, seen, token)
    assert resp.header("dpop-nonce") is None and resp.header("cache-control") is None, resp

    # The next step: still accepted, answered with a fresh nonce, and not cacheable.
    time.sleep(max(0.0, (step + 1) * 10 + 0.5 - time.time()))
    resp, seen = gate.send(token=token, proof=gate.proof_for(token, nonce=nonce))
    assert_allowed(resp, seen, token)
    fresh = resp.header("dpop-nonce")
    assert fresh and fresh != nonce, resp
    assert resp.all("cache-control") == ["no-store"], resp

    # The fresh nonce is current: accepted with nothing added.
    resp, seen = gate.send(token=token, proof=gate.proof_for(token, nonce=fresh))
    assert_allowed(resp, seen, token)
    assert resp.header("dpop-nonce") is None and resp.header("cache-control") is None, resp
