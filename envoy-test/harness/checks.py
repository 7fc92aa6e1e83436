"""What every scenario asserts: for an allowed request, what the upstream saw; for a refused one, the
status, the `WWW-Authenticate` challenge, the JSON body, and that the upstream never saw it."""

from __future__ import annotations

from .oauth import Response, Token

# The host the run uses (`use_host`): what the upstream receives differs where a host cannot remove
# a request header.
_HOST = {"kind": "envoy"}


def use_host(kind: str):
    _HOST["kind"] = kind


# The claim headers every test listener configures.
CLAIMS_TO_HEADERS = {
    "azp": "x-auth-client",
    "realm_access.roles": "x-auth-roles",
    "preferred_username": "x-auth-user",
    "scope": "x-auth-scope",
}


def seen_headers(seen: dict) -> dict:
    out: dict = {}
    for k, v in seen["headers"]:
        out.setdefault(k, []).append(v)
    return out


def assert_no_client_value(h: dict, name: str):
    """Nothing the client sent under `name` reached the upstream. Envoy removes the header. Kong's
    engine cannot remove a request header (it marks it, and nginx's proxy module forwards it), so
    there the filter overwrites the client's copy with an empty value: the upstream receives
    `<name>:` with nothing after it (README, host differences)."""
    if _HOST["kind"] == "nginx":
        assert h.get(name) in (None, [""]), f"{name} reached the upstream with a value: {h[name]}"
    else:
        assert name not in h, f"{name} reached the upstream: {h[name]}"


def assert_allowed(resp: Response, seen: list, token: Token) -> dict:
    """200 from the upstream, which got `Authorization: Bearer <token>`, no `DPoP` proof and the claim
    headers (and nothing a client sent under those names). Returns the upstream's headers."""
    assert resp.status == 200, f"expected 200, got {resp}"
    assert len(seen) == 1, f"the upstream saw {len(seen)} copies of the request"
    h = seen_headers(seen[0])
    assert h.get("authorization") == [f"Bearer {token.access_token}"], h.get("authorization")
    assert_no_client_value(h, "dpop")
    claims = token.claims
    expected = {
        "x-auth-client": [claims["azp"]],
        "x-auth-roles": [",".join(claims["realm_access"]["roles"])],
        "x-auth-user": [claims["preferred_username"]],
        "x-auth-scope": [claims["scope"]],
    }
    for name, value in expected.items():
        assert h.get(name) == value, f"{name}: upstream saw {h.get(name)}, expected {value}"
    return h


def assert_refused(resp: Response, seen: list, status: int, error: str | None, scheme: str | None = None,
                   body_error: str | None = None) -> dict:  # fmt: skip
    """A local refusal: `status`, a `WWW-Authenticate` challenge of `scheme` carrying `error="<error>"`
    (and, for DPoP, `algs=`), the JSON body's `error`, and no request at the upstream. Returns the
    challenge's parameters."""
    assert resp.status == status, f"expected {status}, got {resp}"
    assert not seen, f"the upstream saw a refused request: {seen}"
    assert resp.header("content-type") == "application/json", resp
    body = resp.json()
    assert body.get("error") == (body_error or error), f"body: {body}"
    assert isinstance(body.get("error_description"), str) and body["error_description"], body
    if error is None:
        return {}
    challenges = resp.challenges()
    assert len(challenges) == 1, f"expected one challenge: {resp}"
    ch = challenges[0]
    assert ch.scheme == scheme, f"challenge scheme {ch.scheme!r}, expected {scheme!r}: {ch.raw}"
    assert ch.params.get("error") == error, f"challenge: {ch.raw}"
    if scheme == "DPoP":
        algs = ch.params.get("algs", "").split()
        assert "ES256" in algs and "RS256" in algs and "EdDSA" in algs, f"algs: {ch.raw}"
    return ch.params


def assert_refused_by_nginx_itself(resp: Response, seen: list):
    """nginx treats `Authorization` as a unique header line: a request with two is refused by nginx
    (400 "client sent duplicate header line") before any filter runs, without a challenge."""
    assert resp.status == 400, f"expected nginx's own 400, got {resp}"
    assert not seen, f"the upstream saw a refused request: {seen}"
    assert resp.all("www-authenticate") == [], resp
