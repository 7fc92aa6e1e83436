"""The demo (`make demo`): a partner posts a webhook through Envoy with the dpop-gate filter.

On 127.0.0.1: the authorization server (oidc-provider, Keycloak layout), Envoy 1.40 with the filter in
front of an echo upstream (the "webhook receiver", which answers with what it received). The partner
gets a DPoP-bound token by client credentials (HTTP Basic client authentication plus a DPoP proof),
sends one valid request, then forged ones. Exits non-zero if any outcome differs from the expected."""

from __future__ import annotations

import json
import sys
import tempfile
import textwrap
from pathlib import Path

from harness.oauth import ProofKey, Response, client_credentials, request
from harness.hosts import Envoy, prerequisites
from harness.procs import API_AUDIENCE, EchoServer, HarnessError, Idp

PARTNER = "webhook-partner-dpop"
WEBHOOK_BODY = json.dumps({"event": "order.shipped", "order_id": "A-1001", "carrier": "ACME Freight"})


def show(title: str, resp: Response, upstream: list):
    print(f"\n--- {title}")
    print(f"    status: {resp.status}")
    for ch in resp.all("www-authenticate"):
        print(f"    WWW-Authenticate: {ch}")
    if resp.status != 200:
        print(f"    body: {resp.body.decode(errors='replace')}")
    if upstream:
        seen = dict((k, v) for k, v in upstream[0]["headers"])
        auth = seen.get("authorization", "")
        print("    the webhook receiver got:")
        print(f"      {upstream[0]['method']} {upstream[0]['path']}  body {upstream[0]['body']}")
        print(f"      authorization: {auth[:30]}...{auth[-12:]}")
        print(f"      dpop header: {seen.get('dpop', '(none)')}")
        for k in ("x-partner-client-id", "x-partner-roles"):
            print(f"      {k}: {seen.get(k)}")
    else:
        print("    the webhook receiver got: nothing (refused at the gateway)")


def main() -> int:
    prerequisites("envoy")
    work = Path(tempfile.mkdtemp(prefix="dpop-gate-demo-"))
    idp = Idp(work)
    echo = EchoServer().start()
    envoy = None
    failures = []
    try:
        idp.start()
        config = {
            "issuer": idp.issuer,
            "audiences": [API_AUDIENCE],
            "scopes_required": ["webhook:write"],
            "dpop": "optional",
            "claims_to_headers": {"azp": "x-partner-client-id", "realm_access.roles": "x-partner-roles"},
        }
        envoy = Envoy(work, {"main": config}, echo.port, [idp.port]).start()
        url = envoy.url("main", "/webhook")
        print("dpop-gate demo, everything on 127.0.0.1")
        print(f"  authorization server (oidc-provider 9.13.3): issuer {idp.issuer}")
        print(f"  Envoy 1.40.0 + dpop_gate.wasm:              {url}")
        print(f"  webhook receiver (echo upstream):           127.0.0.1:{echo.port}")
        print("  filter configuration:")
        print(textwrap.indent(json.dumps(config, indent=2), "    "))

        # 1. The partner's token: client credentials, HTTP Basic client auth, DPoP proof for the token endpoint.
        key = ProofKey.generate("EC")
        token = client_credentials(idp.token_endpoint, PARTNER, scope="webhook:write", dpop_key=key)
        claims = token.claims
        print(f"\n1. {PARTNER} gets a token: POST {idp.token_endpoint}")
        print("   (Authorization: Basic <client_id:secret>, DPoP: <proof by the partner's P-256 key>)")
        print(f"   token_type={token.token_type} alg={token.header['alg']} kid={token.header['kid']}")
        shown = {k: claims[k] for k in ("iss", "aud", "azp", "scope", "exp", "cnf", "realm_access") if k in claims}
        print(textwrap.indent(json.dumps(shown, indent=2), "   "))
        print(f"   cnf.jkt == thumbprint of the partner's key: {claims['cnf']['jkt'] == key.jkt}")

        def post(proof: str | None, scheme: str = "DPoP", marker: str = ""):
            hdrs = [("authorization", f"{scheme} {token.access_token}"), ("content-type", "application/json"),
                    ("x-test-id", marker), ("x-partner-client-id", "spoofed-by-client")]  # fmt: skip
            if proof:
                hdrs.append(("dpop", proof))
            resp = request("POST", url, hdrs, WEBHOOK_BODY)
            return resp, echo.seen(marker)

        def expect(name: str, resp: Response, status: int, error: str | None = None):
            body_error = None if resp.status == 200 else resp.json().get("error")
            if resp.status != status or body_error != error:
                failures.append(f"{name}: expected {status} {error or ''}, got {resp.status} {body_error or ''}")

        print("\n2. The partner posts the webhook: Authorization: DPoP <token>, DPoP: <fresh proof for POST " + url + ">")
        proof = key.proof("POST", url, token.access_token)
        resp, seen = post(proof, marker="valid")
        show("valid DPoP request (the client also sent a spoofed x-partner-client-id)", resp, seen)
        expect("valid", resp, 200)

        print("\n3. Forgeries")
        resp, seen = post(proof, marker="replay")
        show("the same proof again (replay)", resp, seen)
        expect("replay", resp, 401, "invalid_dpop_proof")

        thief = ProofKey.generate("EC")
        resp, seen = post(thief.proof("POST", url, token.access_token), marker="stolen")
        show("the token with a proof by another key (a stolen token)", resp, seen)
        expect("stolen", resp, 401, "invalid_token")

        resp, seen = post(None, scheme="Bearer", marker="downgrade")
        show("the token as a plain Bearer token, no proof (downgrade)", resp, seen)
        expect("downgrade", resp, 401, "invalid_token")

        resp, seen = post(key.proof("POST", url.replace("/webhook", "/admin"), token.access_token), marker="htu")
        show("a fresh proof, but made for another URL (htu)", resp, seen)
        expect("htu", resp, 401, "invalid_dpop_proof")
    finally:
        if envoy:
            envoy.stop()
        idp.stop()
        echo.stop()
    print()
    if failures:
        print("demo: UNEXPECTED outcomes:\n  " + "\n  ".join(failures))
        return 1
    print("demo: the valid request passed; every forgery was refused at the gateway. Everything stopped.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HarnessError as e:
        print(f"demo: {e}", file=sys.stderr)
        sys.exit(2)
