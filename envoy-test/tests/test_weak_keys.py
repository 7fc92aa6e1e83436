"""Weak keys in real Envoy: an issuer's JWK set that publishes an RSA key with the ROCA fingerprint
(CVE-2017-15361). The key is the reference detector's published test key whose private key is
published too (tests/data/roca.json), so the token below really verifies under it: it is refused
because the filter skipped the key, with a warn line and the `dpop_gate_jwks_weak_keys_skipped`
counter. A set of only such keys is no key: requests fail closed (503)."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from conftest import main_config
from harness.checks import assert_refused
from harness.oauth import b64url, request
from harness.procs import API_AUDIENCE, LOOPBACK, REPO

ISSUER = "https://weak-keys.example.com"
ROCA = json.loads((REPO / "tests/data/roca.json").read_text())


def _int(b64: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)), "big")


def roca_private_key() -> rsa.RSAPrivateKey:
    k = ROCA["vulnerable_private"]
    n, e, d, p, q = (_int(k[m]) for m in ("n", "e", "d", "p", "q"))
    public = rsa.RSAPublicNumbers(e, n)
    return rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), public).private_key()


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict:
    nums = key.public_key().public_numbers()
    as_bytes = lambda i: i.to_bytes((i.bit_length() + 7) // 8, "big")  # noqa: E731
    return {"kty": "RSA", "kid": kid, "alg": "RS256", "n": b64url(as_bytes(nums.n)), "e": b64url(as_bytes(nums.e))}


def rs256(key: rsa.RSAPrivateKey, kid: str) -> str:
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    claims = {"iss": ISSUER, "aud": API_AUDIENCE, "exp": 4_000_000_000, "iat": 1_700_000_000, "azp": "attacker"}
    text = lambda d: b64url(json.dumps(d).encode())  # noqa: E731
    signing_input = f"{text(header)}.{text(claims)}"
    sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(sig)}"


class JwksServer(http.server.ThreadingHTTPServer):
    """Serves `body` at any path and counts the fetches."""

    daemon_threads = True

    def __init__(self, body: dict):
        super().__init__((LOOPBACK, 0), _JwksHandler)
        self.body = json.dumps(body).encode()
        self.fetches = 0
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def stop(self):
        self.shutdown()
        self.server_close()


class _JwksHandler(http.server.BaseHTTPRequestHandler):
    server: JwksServer

    def do_GET(self):
        self.server.fetches += 1
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, *args):  # quiet
        pass


def gate_for(stack, jwks: JwksServer):
    cfg = {"issuer": ISSUER, "jwks_uri": f"http://{LOOPBACK}:{jwks.port}/jwks", "audiences": [API_AUDIENCE]}
    return stack.host({"main": cfg}, [(f"{LOOPBACK}:{jwks.port}", jwks.port)])


def send(gate, token: str):
    marker = uuid.uuid4().hex
    resp = request("GET", gate.url(), [("x-test-id", marker), ("authorization", f"Bearer {token}")])
    return resp, gate.echo.seen(marker)


def test_roca_key_in_a_fetched_set_is_skipped(stack):
    roca = roca_private_key()
    sound = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = JwksServer({"keys": [public_jwk(roca, "roca"), public_jwk(sound, "sound")]})
    try:
        gate = gate_for(stack, jwks)
        resp, seen = send(gate, rs256(roca, "roca"))
        assert_refused(resp, seen, 401, "invalid_token", "Bearer")
        fetches = jwks.fetches  # the first fetch, and the one refetch an unknown kid may cause
        assert fetches in (1, 2), fetches

        resp, seen = send(gate, rs256(sound, "sound"))
        assert resp.status == 200, resp
        assert len(seen) == 1

        counters = gate.host.counters()  # None where the host cannot show them (nginx)
        if counters is not None:
            assert counters.get("dpop_gate_jwks_weak_keys_skipped") == jwks.fetches, counters
            assert counters.get("dpop_gate_refused_token_key_not_found") == 1, counters
        log = gate.host.log_text()
        assert f"JWKS of {ISSUER}: skipped 1 RSA key(s) with the ROCA fingerprint (CVE-2017-15361)" in log, log[-3000:]
    finally:
        jwks.stop()


def test_a_set_of_only_roca_keys_fails_closed(stack):
    roca = roca_private_key()
    jwks = JwksServer({"keys": [public_jwk(roca, "roca")]})
    try:
        gate = gate_for(stack, jwks)
        for _ in range(2):
            resp, seen = send(gate, rs256(roca, "roca"))
            assert_refused(resp, seen, 503, None, body_error="temporarily_unavailable")
        assert jwks.fetches >= 1
        counters = gate.host.counters()
        if counters is not None:
            assert counters.get("dpop_gate_jwks_weak_keys_skipped") == jwks.fetches, counters
            assert counters.get("dpop_gate_jwks_fetch_failures") == jwks.fetches, counters
        log = gate.host.log_text()
        assert "JWK set holds no usable verification key: its 1 RSA key(s) have the ROCA fingerprint" in log, log[-3000:]
    finally:
        jwks.stop()
