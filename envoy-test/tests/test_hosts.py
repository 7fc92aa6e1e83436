"""What clients really send, and what the upstream must never see, on every host (issue 12).

HTTP/1.1 clients spell header names as they like (`Authorization`, `DPoP`, `Host`; `http.client`
sends them as given). Envoy lowercases every name before the filter sees it; nginx with
ngx_wasm_module hands them over as the client wrote them. The decision must not depend on that,
and neither may what reaches the upstream: never the client's `DPoP` header, never a client's copy
of a configured claim header, however spelt and however many."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid

import pytest

from conftest import main_config
from harness.checks import (assert_allowed, assert_no_client_value, assert_refused, assert_refused_by_nginx_itself,
                            seen_headers)
from harness.oauth import ProofKey, Response, b64url, client_credentials


def auth(token) -> str:
    return f"{'DPoP' if token.token_type == 'DPoP' else 'Bearer'} {token.access_token}"


# ---- header names as clients spell them ---------------------------------------------------------


def test_mixed_case_bearer(gate, tokens):
    token = tokens.bearer("webhook-partner")
    assert_allowed(*gate.send(headers=[("Authorization", auth(token))]), token)


@pytest.mark.parametrize("spelling", ["DPoP", "Dpop", "DPOP"])
def test_mixed_case_dpop(gate, tokens, spelling):
    """`Authorization` and the proof header as clients spell them; `Host` as http.client sends it."""
    token = tokens.dpop("EC")
    resp, seen = gate.send(headers=[("Authorization", auth(token)), (spelling, gate.proof_for(token))])
    assert_allowed(resp, seen, token)  # and no `dpop` of any spelling upstream (names compared lowercased)


def test_upper_case_names_and_own_host(gate, tokens):
    """`AUTHORIZATION`, `DPOP` and a `HOST` naming another host: the proof is checked against the
    URL of that `HOST`."""
    token = tokens.dpop("EC")
    port = gate.host.ports["main"]
    proof = token.key.proof("POST", f"http://localhost:{port}/webhook", token.access_token)
    hdrs = [("HOST", f"localhost:{port}"), ("AUTHORIZATION", auth(token)), ("DPOP", proof)]
    assert_allowed(*gate.send(headers=hdrs), token)
    # The same proof sent with the real host: htu no longer matches.
    resp, seen = gate.send(headers=[("Authorization", auth(token)), ("DPoP", token.key.proof(
        "POST", f"http://localhost:{port}/webhook", token.access_token))])  # fmt: skip
    assert_refused(resp, seen, 401, "invalid_dpop_proof", "DPoP")


def test_mixed_case_forged_token_refused_as_invalid(gate, tokens):
    """A forged token under `Authorization` is read and refused as invalid, not as missing."""
    token = tokens.bearer("webhook-partner")
    h, p, s = token.access_token.split(".")
    forged = f"{h}.{p}.{b64url(bytes(32))}{s[43:]}"
    resp, seen = gate.send(headers=[("Authorization", f"Bearer {forged}")])
    assert_refused(resp, seen, 401, "invalid_token", "Bearer")


def test_two_authorization_headers_differing_in_case(gate, tokens):
    token = tokens.bearer("webhook-partner")
    resp, seen = gate.send(headers=[("Authorization", auth(token)), ("authorization", auth(token))])
    if gate.host.kind == "nginx":  # refused before the filter runs
        assert_refused_by_nginx_itself(resp, seen)
    else:
        assert_refused(resp, seen, 400, "invalid_request", "Bearer")


def test_two_dpop_headers_differing_in_case(gate, tokens):
    token = tokens.dpop("EC")
    hdrs = [("Authorization", auth(token)), ("DPoP", gate.proof_for(token)), ("dpop", gate.proof_for(token))]
    resp, seen = gate.send(headers=hdrs)
    assert_refused(resp, seen, 400, "invalid_request", "DPoP")


def test_mixed_case_nonce_flow_on_two_workers(stack):
    """`dpop_nonce` with `DPoP` spelt as clients do: the challenge, then retries on new connections
    (both workers) with the nonce pass; the `DPoP-Nonce` answer header is read case-insensitively
    by the client (http.client keeps the server's spelling)."""
    idp = stack.idp()
    gate = stack.host({"main": main_config(idp, dpop_nonce={})}, [idp], concurrency=2)
    token = client_credentials(idp.token_endpoint, "webhook-partner-dpop", dpop_key=ProofKey.generate("EC"))
    resp, seen = gate.send(headers=[("Authorization", auth(token)), ("DPoP", gate.proof_for(token))])
    assert_refused(resp, seen, 401, "use_dpop_nonce", "DPoP")
    nonce = resp.header("dpop-nonce")
    assert nonce, resp
    for _ in range(8):
        proof = gate.proof_for(token, nonce=nonce)
        assert_allowed(*gate.send(headers=[("Authorization", auth(token)), ("DPoP", proof)]), token)
    per_worker = gate.host.worker_connections("main")
    assert len([c for c in per_worker.values() if c > 0]) == 2, f"one worker got every connection: {per_worker}"


def test_mixed_case_replay_refused_on_two_workers(stack):
    idp = stack.idp()
    gate = stack.host({"main": main_config(idp)}, [idp], concurrency=2)
    token = client_credentials(idp.token_endpoint, "webhook-partner-dpop", dpop_key=ProofKey.generate("EC"))
    hdrs = [("Authorization", auth(token)), ("DPoP", gate.proof_for(token))]
    assert_allowed(*gate.send(headers=hdrs), token)
    for _ in range(10):
        resp, seen = gate.send(headers=hdrs)
        assert_refused(resp, seen, 401, "invalid_dpop_proof", "DPoP")
    per_worker = gate.host.worker_connections("main")
    assert len([c for c in per_worker.values() if c > 0]) == 2, f"one worker got every connection: {per_worker}"


# ---- what the upstream sees ---------------------------------------------------------------------


def client_copies(n: int) -> list:
    """`n` client copies of every configured claim header, spelt differently each time."""
    spellings = [str.lower, str.title, str.upper]
    names = ["x-auth-client", "x-auth-roles", "x-auth-user", "x-auth-scope"]
    return [(spellings[i % 3](name), f"spoofed-{i}") for i in range(n) for name in names]


def refused_several_copies(gate, resp, seen, scheme) -> bool:
    """Kong's engine cannot remove a request header, and overwriting reaches one copy only: a request
    carrying several copies of a configured claim header is refused there (400 invalid_request,
    README), since the later copies would reach the upstream. True if this is that case."""
    if gate.host.kind != "nginx":
        return False
    assert_refused(resp, seen, 400, "invalid_request", scheme)
    return True


@pytest.mark.parametrize("copies", [1, 2, 3])
@pytest.mark.parametrize("kind", ["Bearer", "DPoP"])
def test_claim_headers_never_carry_client_values(gate, tokens, kind, copies):
    """Every configured claim header the client also sent reaches the upstream once, with the
    token's value only (or, on a host that cannot remove headers, several copies are refused)."""
    token = tokens.bearer("webhook-partner") if kind == "Bearer" else tokens.dpop("Ed25519")
    hdrs = [("Authorization", auth(token))] + client_copies(copies)
    if kind == "DPoP":
        hdrs.append(("DPoP", gate.proof_for(token)))
    resp, seen = gate.send(headers=hdrs)
    if copies > 1 and refused_several_copies(gate, resp, seen, kind):
        return
    h = assert_allowed(resp, seen, token)  # exactly the token's value for each claim header
    assert not [v for vs in h.values() for v in vs if v.startswith("spoofed-")], h


@pytest.mark.parametrize("copies", [1, 2])
def test_claim_header_of_absent_claim_never_reaches_upstream(gate, tokens, copies):
    """The token has no `scope` claim: no `x-auth-scope` at the upstream, whatever the client sent."""
    token = tokens.bearer("webhook-partner", scope=None)
    assert "scope" not in token.claims
    hdrs = [("Authorization", auth(token))] + [(n, v) for n, v in client_copies(copies) if n.lower() == "x-auth-scope"]
    resp, seen = gate.send(headers=hdrs)
    if copies > 1 and refused_several_copies(gate, resp, seen, "Bearer"):
        return
    assert resp.status == 200, resp
    h = seen_headers(seen[0])
    assert_no_client_value(h, "x-auth-scope")
    assert h["authorization"] == [f"Bearer {token.access_token}"], h


def test_dpop_header_never_reaches_upstream(gate, tokens):
    """The upstream gets the token as Bearer and no proof, for each spelling of the proof header."""
    token = tokens.dpop("EC")
    for name in ("DPoP", "dpop", "DPOP"):
        resp, seen = gate.send(headers=[("Authorization", auth(token)), (name, gate.proof_for(token))])
        assert_allowed(resp, seen, token)  # no proof upstream (`assert_no_client_value`)


@pytest.mark.host_only("nginx", "an nginx location directive")
def test_dpop_dropped_by_proxy_set_header(stack):
    """The README's recipe for Kong's engine: `proxy_set_header DPoP "";` in the location, and the
    upstream receives no `DPoP` header at all (the filter empties it, the proxy module drops it)."""
    idp = stack.idp()
    gate = stack.host({"main": main_config(idp)}, [idp], location=('proxy_set_header DPoP "";',))
    token = client_credentials(idp.token_endpoint, "webhook-partner-dpop", dpop_key=ProofKey.generate("EC"))
    for name in ("DPoP", "dpop"):
        resp, seen = gate.send(headers=[("Authorization", auth(token)), (name, gate.proof_for(token))])
        h = assert_allowed(resp, seen, token)
        assert "dpop" not in h, f"{name}: {h['dpop']}"


@pytest.mark.parametrize("extra", [90, 97, 120])
def test_many_headers(gate, tokens, extra):
    """A DPoP request with `extra` filler headers and a client copy of a claim header last. ngx_wasm_module
    hands a filter at most ~96 request headers (the rest are forwarded but not shown to it) and, from
    100 on, writes past the buffer it gave the filter (REPORT of the Kong-engine session); Envoy
    refuses more than 100 headers itself (431). Whatever the count: the request is allowed with
    exactly the token's claim values upstream, or refused (400/431) before the upstream; never a
    500, and the host keeps serving."""
    token = tokens.dpop("EC")
    hdrs = [("Authorization", auth(token)), ("DPoP", gate.proof_for(token))]
    hdrs += [(f"X-Filler-{i}", "x") for i in range(extra)] + [("X-Auth-Client", "spoofed-last")]
    log_before = len(gate.host.log_text())
    resp, seen = gate.send(headers=hdrs)
    print(f"\n{len(hdrs) + 2} request headers: {resp.status}")
    if resp.status == 200:
        h = assert_allowed(resp, seen, token)
        assert h["x-auth-client"] == [token.claims["azp"]], h["x-auth-client"]
    else:
        assert resp.status in (400, 431), resp
        assert not seen, f"the upstream saw a refused request: {seen}"
    if gate.host.kind == "nginx":
        assert "trapped" not in gate.host.log_text()[log_before:], gate.host.log_text()[log_before:][-3000:]
    after = tokens.dpop("EC")
    assert_allowed(*gate.send(headers=[("Authorization", auth(after)), ("DPoP", gate.proof_for(after))]), after)


# ---- HTTP/2 ----------------------------------------------------------------------------------------


def curl_h2(url: str, headers: list, body: str) -> Response:
    """One HTTP/2 request over cleartext (prior knowledge) with curl: HTTP/2 names are lowercase."""
    curl = shutil.which("curl")
    if not curl:
        pytest.fail("curl is not on PATH: the HTTP/2 tests need it (with nghttp2)")
    argv = [curl, "-sS", "--http2-prior-knowledge", "-D", "-", "-o", "-", "-X", "POST", "--data-binary", body, url]
    for k, v in headers:
        argv += ["-H", f"{k}: {v}"]
    done = subprocess.run(argv, capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    head, _, rest = done.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0].startswith("HTTP/2 "), lines[0]
    hdrs = [(k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    return Response(int(lines[0].split()[1]), hdrs, rest)


def test_http2_bearer_and_dpop(gate, tokens):
    for token in (tokens.bearer("webhook-partner"), tokens.dpop("EC")):
        marker = uuid.uuid4().hex
        hdrs = [("x-test-id", marker), ("content-type", "application/json"), ("Authorization", auth(token))]
        if token.token_type == "DPoP":
            hdrs.append(("DPoP", gate.proof_for(token)))
        resp = curl_h2(gate.url(), hdrs, json.dumps({"event": "order.created"}))
        assert_allowed(resp, gate.echo.seen(marker), token)
