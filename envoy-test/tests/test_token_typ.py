"""`require_at_jwt_typ` (RFC 9068 section 4): with it on, only access tokens typed `at+jwt` pass.

The real authorization server (oidc-provider) types its JWT access tokens `at+jwt`; the test also
plays a static-keys issuer signing other types (`typ: JWT`, as Keycloak does) with the adversarial
corpus's signer. Both listeners trust both issuers; one has the option on, the other off."""

import pytest

from conftest import Gate, main_config
from harness.checks import assert_allowed, assert_refused
from test_adversarial import AUD, ISS, RSA_KEY, claims, sign, static_config


def two_issuers(idp, **extra) -> dict:
    """The IdP (keys by discovery) and the static-keys issuer, on one listener."""
    cfg = main_config(idp, **extra)
    del cfg["issuer"]
    jwks = static_config()["jwks"]
    return {**cfg, "audiences": [AUD], "issuers": [{"issuer": idp.issuer}, {"issuer": ISS, "jwks": jwks}]}


@pytest.fixture(scope="module")
def typed(new_host, idp, echo):
    proxy = new_host({"on": two_issuers(idp, require_at_jwt_typ=True), "off": two_issuers(idp)}, [idp])
    try:
        proxy.start()
        yield Gate(proxy, echo)
    finally:
        proxy.stop()


def static_token(typ: str | None) -> str:
    """A valid token of the static issuer whose JOSE header `typ` is `typ` (None: no `typ`)."""
    header = {"alg": "RS256", "kid": "static-rsa"}
    if typ is not None:
        header["typ"] = typ
    return sign(header, claims(), RSA_KEY)


def test_idp_tokens_are_at_jwt_and_pass_with_the_option_on(typed, tokens):
    for token in (tokens.bearer("webhook-partner"), tokens.bearer("webhook-partner-es256")):
        assert token.header["typ"] == "at+jwt", token.header
        assert_allowed(*typed.send("on", token=token), token)
        assert_allowed(*typed.send("off", token=token), token)


def test_dpop_bound_idp_token_passes_with_the_option_on(typed, tokens):
    token = tokens.dpop("EC")
    assert token.header["typ"] == "at+jwt", token.header
    assert_allowed(*typed.send("on", token=token, proof=typed.proof_for(token, "on")), token)


@pytest.mark.parametrize("typ", ["JWT", None, "application/jwt", "dpop+jwt", "at+jwt; x=1"])
def test_other_types_are_refused_with_the_option_on_and_pass_with_it_off(typed, typ):
    token = static_token(typ)
    before = typed.host.counters()
    resp, seen = typed.send("on", token=token)
    assert_refused(resp, seen, 401, "invalid_token", "Bearer")
    assert "at+jwt" in resp.json()["error_description"], resp
    if before is not None:  # Envoy shows the filter's counters; plain nginx has no way to read them
        after = typed.host.counters()
        assert after.get("dpop_gate_refused_token_typ", 0) == before.get("dpop_gate_refused_token_typ", 0) + 1, after
    resp, seen = typed.send("off", token=token)
    assert resp.status == 200 and len(seen) == 1, resp


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT", "Application/At+Jwt"])
def test_at_jwt_passes_in_every_spelling_rfc_7515_allows(typed, typ):
    resp, seen = typed.send("on", token=static_token(typ))
    assert resp.status == 200 and len(seen) == 1, resp
