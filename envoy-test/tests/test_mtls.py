"""Certificate-bound access tokens (RFC 8705) with real TLS: a CA, server and client certificates
made by the test (`harness.tls`); the authorization server (oidc-provider, its mTLS feature) issues
tokens bound to the certificate a client authenticates with at its TLS token endpoint
(`tls_client_auth`, `cnf.x5t#S256`); the proxy's TLS listeners ask for client certificates and
verify them against the CA, and the filter compares the connection's certificate with the token's
binding. Behind a TLS-terminating Envoy in front, the filter reads the certificate that proxy
forwards (`mtls_certificate_header`), and a client's own copy of that header never counts."""

from __future__ import annotations

import uuid

import pytest

from conftest import Gate, main_config
from harness.checks import assert_allowed, assert_refused
from harness.hosts import EnvoyFront, Tls
from harness.oauth import ProofKey, client_credentials, request
from harness.procs import Idp
from harness.tls import Pki
from test_adversarial import ISS, claims, rs256, static_config

CLIENT = "webhook-partner-mtls"
FORWARDED = "x-client-cert"


class Mtls:
    """Everything the module's tests share: the PKI, the IdP, the proxy with the filter, the front."""

    def __init__(self, pki: Pki, idp: Idp, gate: Gate, front: EnvoyFront):
        self.pki, self.idp, self.gate, self.front = pki, idp, gate, front
        self.client = pki.issue(CLIENT)
        self.other = pki.issue("another-client")  # signed by the same CA: the handshake passes
        self.counted: dict = {}  # refusal counters as last seen (`refused`)

    def token(self, cert=None):
        """A token for the client, which authenticates with `cert` (default: its own) over TLS."""
        return client_credentials(self.idp.tls_token_endpoint, CLIENT, tls=self.pki.client_context(cert or self.client))

    def tls(self, cert):
        """A TLS context presenting `cert` (None: no certificate)."""
        return self.pki.client_context(cert)

    def front_url(self, path: str = "/webhook") -> str:
        return self.front.url("front", path)


@pytest.fixture(scope="module")
def mtls(workdir, new_host, echo):
    pki = Pki(workdir / "pki")
    issued = pki.issue("server", server=True)
    server = Tls(issued.cert, issued.key, pki.ca.cert)
    started = []
    try:
        idp = Idp(workdir, tls=server)
        started.append(idp)
        idp.start()
        listeners = {
            "tls": with_static_issuer(main_config(idp)),
            "tls_required": main_config(idp, mtls="required"),
            "tls_disabled": main_config(idp, mtls="disabled"),
            "plain": main_config(idp),
            "forwarded": main_config(idp, mtls_certificate_header=FORWARDED),
        }
        tls = {name: server for name in ("tls", "tls_required", "tls_disabled")}
        proxy = new_host(listeners, [idp], tls=tls)
        started.append(proxy)
        proxy.start()
        front = EnvoyFront(workdir, server, proxy.ports["forwarded"], FORWARDED)
        started.append(front)
        front.start()
        yield Mtls(pki, idp, Gate(proxy, echo), front)
    finally:
        for p in reversed(started):
            p.stop()


def with_static_issuer(cfg: dict) -> dict:
    """`cfg` also trusting the adversarial corpus's static-keys issuer, whose tokens the test signs."""
    cfg = dict(cfg)
    issuer = cfg.pop("issuer")
    cfg["issuers"] = [{"issuer": issuer}, {"issuer": ISS, "jwks": static_config()["jwks"]}]
    return cfg


def refused(m: Mtls, reason: str, resp, seen, status: int = 401, error: str = "invalid_token", scheme: str = "Bearer"):
    """`assert_refused`, and in Envoy (whose counters the test can read) that the refusal counted
    once under `reason`. Every refusal of this module's proxy is checked here, so each counter
    grew by exactly one since it was last looked at."""
    assert_refused(resp, seen, status, error, scheme)
    counters = m.gate.host.counters()
    if counters is not None:
        name = f"dpop_gate_refused_{reason}"
        assert counters.get(name, 0) == m.counted.get(name, 0) + 1, (name, counters)
        m.counted[name] = counters[name]


def test_the_idp_binds_tokens_to_the_client_certificate(mtls):
    token = mtls.token()
    assert token.token_type == "Bearer", token
    assert token.claims["cnf"] == {"x5t#S256": mtls.client.x5t}, token.claims
    # Authenticating with another certificate at the token endpoint fails (tls_client_auth checks
    # the subject), so the other certificate can never get a token of this client.
    with pytest.raises(AssertionError, match="invalid_client"):
        mtls.token(cert=mtls.other)


def test_the_right_certificate_passes(mtls):
    token = mtls.token()
    resp, seen = mtls.gate.send("tls", token=token, tls=mtls.tls(mtls.client))
    h = assert_allowed(resp, seen, token)
    assert h["x-auth-client"] == [CLIENT]
    # Kept-alive or not, the same again (the token from the verified-token cache).
    assert_allowed(*mtls.gate.send("tls", token=token, tls=mtls.tls(mtls.client)), token)


def test_another_certificate_is_refused(mtls):
    token = mtls.token()
    resp, seen = mtls.gate.send("tls", token=token, tls=mtls.tls(mtls.other))
    refused(mtls, "token_cert_mismatch", resp, seen)
    assert "x5t#S256" in resp.json()["error_description"], resp


def test_no_certificate_is_refused(mtls):
    token = mtls.token()
    resp, seen = mtls.gate.send("tls", token=token, tls=mtls.tls(None))
    refused(mtls, "token_cert_missing", resp, seen)


def test_the_token_as_plain_bearer_without_tls_is_refused(mtls):
    token = mtls.token()
    resp, seen = mtls.gate.send("plain", token=token)
    refused(mtls, "token_cert_missing", resp, seen)


def test_unbound_tokens_are_not_concerned_in_optional_mode(mtls):
    """The default mode: a token without `cnf.x5t#S256` passes with or without a certificate."""
    plain = client_credentials(mtls.idp.token_endpoint, "webhook-partner")
    assert "cnf" not in plain.claims
    assert_allowed(*mtls.gate.send("tls", token=plain, tls=mtls.tls(None)), plain)
    assert_allowed(*mtls.gate.send("tls", token=plain, tls=mtls.tls(mtls.other)), plain)


def test_required_mode_refuses_unbound_tokens(mtls):
    token = mtls.token()
    assert_allowed(*mtls.gate.send("tls_required", token=token, tls=mtls.tls(mtls.client)), token)
    plain = client_credentials(mtls.idp.token_endpoint, "webhook-partner")
    resp, seen = mtls.gate.send("tls_required", token=plain, tls=mtls.tls(mtls.client))
    refused(mtls, "token_cert_required", resp, seen)


def test_disabled_mode_refuses_bound_tokens(mtls):
    token = mtls.token()
    resp, seen = mtls.gate.send("tls_disabled", token=token, tls=mtls.tls(mtls.client))
    refused(mtls, "token_cert_disabled", resp, seen)
    plain = client_credentials(mtls.idp.token_endpoint, "webhook-partner")
    assert_allowed(*mtls.gate.send("tls_disabled", token=plain, tls=mtls.tls(None)), plain)


def test_a_token_bound_both_ways_needs_its_certificate_and_its_proof(mtls):
    """oidc-provider binds a token to a certificate or to a DPoP key, never both: the test signs one
    bound both ways as the static-keys issuer."""
    key = ProofKey.generate("EC")
    token = rs256(claims(cnf={"x5t#S256": mtls.client.x5t, "jkt": key.jkt}))
    gate = mtls.gate
    url = gate.url("tls")  # the proof's `htu`: the TLS listener's https URL

    def send(cert, proof_key=key, scheme="DPoP"):
        proof = proof_key.proof("POST", url, token) if proof_key else None
        return gate.send("tls", token=token, scheme=scheme, proof=proof, tls=mtls.tls(cert))

    resp, seen = send(mtls.client)
    assert resp.status == 200 and len(seen) == 1, resp
    refused(mtls, "token_cert_mismatch", *send(mtls.other), scheme="DPoP")
    refused(mtls, "token_cert_missing", *send(None), scheme="DPoP")
    refused(mtls, "token_scheme", *send(mtls.client, proof_key=None, scheme="Bearer"), scheme="DPoP")
    refused(mtls, "token_jkt_mismatch", *send(mtls.client, proof_key=ProofKey.generate("EC")), scheme="DPoP")


# ---- TLS ends at a proxy in front: the forwarded certificate ---------------------------------------


def _send_front(mtls: Mtls, token, cert, headers=()):
    """A request through the TLS-terminating front (which forwards the certificate to the
    `forwarded` listener)."""
    marker = uuid.uuid4().hex
    hdrs = [("x-test-id", marker), ("authorization", f"Bearer {token.access_token}"), *headers]
    resp = request("POST", mtls.front_url(), hdrs, "{}", tls=mtls.tls(cert))
    return resp, mtls.gate.echo.seen(marker)


def test_forwarded_certificate_through_the_front(mtls):
    token = mtls.token()
    resp, seen = _send_front(mtls, token, mtls.client)
    assert resp.status == 200 and len(seen) == 1, resp
    resp, seen = _send_front(mtls, token, mtls.other)
    refused(mtls, "token_cert_mismatch", resp, seen)
    resp, seen = _send_front(mtls, token, None)
    refused(mtls, "token_cert_missing", resp, seen)


def test_a_client_cannot_inject_the_forwarded_header_through_the_front(mtls):
    """The client sends the header itself, holding the right certificate (it is public: it went out
    in every handshake). The front removes the client's copy before adding its own, so what reaches
    the filter is the certificate the client really presented, or none."""
    token = mtls.token()
    injected = [(FORWARDED, mtls.client.escaped_pem)]
    resp, seen = _send_front(mtls, token, None, injected)
    refused(mtls, "token_cert_missing", resp, seen)
    resp, seen = _send_front(mtls, token, mtls.other, injected)
    refused(mtls, "token_cert_mismatch", resp, seen)
    # Two copies, in any spelling: still only the front's (none here).
    resp, seen = _send_front(mtls, token, None, injected + [(FORWARDED.upper(), mtls.client.escaped_pem)])
    refused(mtls, "token_cert_missing", resp, seen)


def test_without_the_forwarded_header_mode_no_header_is_a_certificate(mtls):
    """On a listener without `mtls_certificate_header`, the same header, or any other name a proxy
    might use, is never read as a certificate: over TLS without a client certificate, and in clear."""
    token = mtls.token()
    for name in (FORWARDED, "x-ssl-client-cert", "ssl-client-cert", "x-forwarded-client-cert"):
        injected = [(name, mtls.client.escaped_pem)]
        resp, seen = mtls.gate.send("tls", token=token, headers=injected, tls=mtls.tls(None))
        refused(mtls, "token_cert_missing", resp, seen)
        resp, seen = mtls.gate.send("plain", token=token, headers=injected)
        refused(mtls, "token_cert_missing", resp, seen)


def test_the_forwarded_header_listener_trusts_whoever_reaches_it(mtls):
    """Why the listener that reads the header must be reachable only through the proxy in front: a
    client that reaches it directly sets the header itself. (The README's operator duty.) A
    malformed or repeated header is refused 400."""
    token = mtls.token()
    resp, seen = mtls.gate.send("forwarded", token=token, headers=[(FORWARDED, mtls.client.escaped_pem)])
    assert resp.status == 200 and len(seen) == 1, resp
    resp, seen = mtls.gate.send("forwarded", token=token, headers=[(FORWARDED, "not-a-certificate")])
    refused(mtls, "request_certificate_header", resp, seen, status=400, error="invalid_request")
    # Two copies, the right one first: a front that appended its copy to the client's instead of
    # replacing it. Refused, in Envoy too (one lookup there would see only the first copy).
    two = [(FORWARDED, mtls.client.escaped_pem), (FORWARDED, mtls.other.escaped_pem)]
    resp, seen = mtls.gate.send("forwarded", token=token, headers=two)
    refused(mtls, "request_multiple_certificate_headers", resp, seen, status=400, error="invalid_request")
