"""Interoperability with a real DPoP client library: panva's npm `oauth4webapi` (pinned in
`idp/package.json`), driven by `idp/dpop-client.mjs`. It gets a DPoP-bound token from the
authorization server by client credentials and calls the protected resource through the proxy; with
`dpop_nonce` the library meets the `use_dpop_nonce` challenge, keeps the `DPoP-Nonce` it was sent and
retries, as its documentation prescribes. (The same flow with jwcrypto proofs is
`test_dpop.py::test_server_nonce`.)"""

from __future__ import annotations

import json
import subprocess
import uuid

from conftest import main_config
from harness.checks import assert_no_client_value, seen_headers
from harness.oauth import decode_jwt
from harness.procs import IDP_DIR, node_binary

CLIENT = "webhook-partner-dpop"


def run_client(token_endpoint: str, url: str, marker: str) -> dict:
    """One run of the oauth4webapi client; its JSON report."""
    argv = [node_binary(), "dpop-client.mjs", token_endpoint, CLIENT, f"{CLIENT}-secret", url, marker]
    done = subprocess.run(argv, cwd=IDP_DIR, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"dpop-client.mjs failed ({done.returncode}):\n{done.stderr[-3000:]}"
    return json.loads(done.stdout)


def assert_upstream_saw_bearer(out: dict, echo, marker: str):
    """The request reached the upstream once (the refused first attempt never did), with the DPoP-bound
    token as `Authorization: Bearer`, no `DPoP` proof, and the claim headers."""
    assert out["status"] == 200, out
    seen = echo.seen(marker)
    assert len(seen) == 1, f"the upstream saw {len(seen)} requests: {seen}"
    h = seen_headers(seen[0])
    assert json.loads(out["body"])["headers"] == seen[0]["headers"]  # the echo's answer reached the client
    [auth] = h["authorization"]
    scheme, _, token = auth.partition(" ")
    assert scheme == "Bearer", auth
    assert_no_client_value(h, "dpop")
    claims = decode_jwt(token)[1]
    assert "jkt" in claims["cnf"], claims  # a DPoP-bound token, made by the library's proof at the IdP
    assert h["x-auth-client"] == [CLIENT]


def test_oauth4webapi_nonce_retry(stack, echo):
    """`dpop_nonce: {}`: the library's first attempt is refused with 401 `use_dpop_nonce` and a
    `DPoP-Nonce`; its retry with that nonce passes. Without `dpop_nonce` it passes at once."""
    idp = stack.idp()
    gate = stack.host({"nonce": main_config(idp, dpop_nonce={}), "plain": main_config(idp)}, [idp])

    marker = uuid.uuid4().hex
    out = run_client(idp.token_endpoint, gate.url("nonce"), marker)
    assert out["token_type"].lower() == "dpop", out  # oauth4webapi lower-cases it
    assert out["nonce_retry"] is True, out
    assert out["first"]["status"] == 401, out
    assert out["first"]["error"] == "use_dpop_nonce", out
    assert out["first"]["dpop_nonce"], out
    assert_upstream_saw_bearer(out, echo, marker)
    counters = gate.host.counters()
    if gate.host.kind != "nginx":  # nothing there reads a filter's metrics (`Nginx.counters`)
        assert counters.get("dpop_gate_refused_use_dpop_nonce") == 1, counters
        assert counters.get("dpop_gate_allowed") == 1, counters

    marker = uuid.uuid4().hex
    out = run_client(idp.token_endpoint, gate.url("plain"), marker)
    assert out["nonce_retry"] is False and out["first"] is None, out
    assert_upstream_saw_bearer(out, echo, marker)
