"""The demo (`make demo`): a partner posts a webhook through Envoy with the dpop-gate filter.

On 127.0.0.1: the authorization server (oidc-provider, Keycloak layout), Envoy 1.40 with the filter in
front of an echo upstream (the "webhook receiver", which answers with what it received). The partner
uses the `dpop-gate` command-line tool (cli/, `make cli`): it gets a DPoP-bound token by client
credentials (HTTP Basic client authentication plus a DPoP proof) and sends one valid request; then
forged ones are sent, and `dpop-gate explain` tells why one is refused. Exits non-zero if any outcome
differs from the expected."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

from harness.oauth import Response, decode_jwt, request
from harness.hosts import Envoy, prerequisites
from harness.procs import API_AUDIENCE, REPO, EchoServer, HarnessError, Idp

CLI = Path(os.environ.get("DPOP_GATE_CLI", REPO / "target/release/dpop-gate"))
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


def dpop_gate(*args, cwd: Path, shown: str | None = None) -> subprocess.CompletedProcess:
    """Runs the command-line tool, printing the command (`shown` abbreviates it)."""
    print(f"   $ {shown or shlex.join(['dpop-gate', *map(str, args)])}")
    return subprocess.run([str(CLI), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)  # fmt: skip


def reply_of(done: subprocess.CompletedProcess) -> Response:
    """`dpop-gate request`'s answer (status and headers on standard error, body on standard output)."""
    status, headers = 0, []
    for line in done.stderr.splitlines():
        if line.startswith("HTTP "):
            status, headers = int(line[5:]), []
        elif ": " in line and not line.startswith(("> ", "dpop-gate: ")):
            name, value = line.split(": ", 1)
            headers.append((name, value))
    if not status:
        raise HarnessError(f"dpop-gate request failed ({done.returncode}): {done.stderr}")
    return Response(status, headers, done.stdout.rstrip("\n").encode())


def main() -> int:
    prerequisites("envoy")
    if not CLI.is_file():
        raise HarnessError(f"{CLI} is missing: run `make cli` (make demo does)")
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
        print(f"\n1. {PARTNER} gets a token (the proof key, partner-key.json, is made on first use)")
        done = dpop_gate("request", "--key", "partner-key.json", "-X", "POST", "--url", idp.token_endpoint,
                         "-u", f"{PARTNER}:{PARTNER}-secret", "-d", "grant_type=client_credentials&scope=webhook:write",
                         cwd=work,
                         shown=f"dpop-gate request --key partner-key.json -X POST --url {idp.token_endpoint} \\\n"
                               f"       -u {PARTNER}:<secret> -d 'grant_type=client_credentials&scope=webhook:write'")  # fmt: skip
        if done.returncode != 0:
            raise HarnessError(f"token request failed: {done.stderr}")
        access_token = json.loads(done.stdout)["access_token"]
        (work / "token").write_text(access_token)
        header, claims = decode_jwt(access_token)
        print(f"   token_type={json.loads(done.stdout)['token_type']} alg={header['alg']} kid={header['kid']}")
        shown = {k: claims[k] for k in ("iss", "aud", "azp", "scope", "exp", "cnf", "realm_access") if k in claims}
        print(textwrap.indent(json.dumps(shown, indent=2), "   "))
        jkt = dpop_gate("key", "thumbprint", "partner-key.json", cwd=work).stdout.strip()
        print(f"   {jkt}: cnf.jkt == thumbprint of the partner's key: {claims['cnf']['jkt'] == jkt}")

        def send(title: str, *args, marker: str, shown: str) -> Response:
            done = dpop_gate("request", "--url", url, "-H", "content-type: application/json", "-H", f"x-test-id: {marker}",
                             "-H", "x-partner-client-id: spoofed-by-client", "-d", WEBHOOK_BODY, *args, cwd=work,
                             shown=shown)  # fmt: skip
            resp = reply_of(done)
            show(title, resp, echo.seen(marker))
            return resp

        def post(proof: str | None, scheme: str = "DPoP", marker: str = ""):
            hdrs = [("authorization", f"{scheme} {access_token}"), ("content-type", "application/json"),
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
        marker = uuid.uuid4().hex
        done = dpop_gate("request", "-v", "--key", "partner-key.json", "--token", "@token", "--url", url,
                         "-H", "content-type: application/json", "-H", f"x-test-id: {marker}",
                         "-H", "x-partner-client-id: spoofed-by-client", "-d", WEBHOOK_BODY, cwd=work,
                         shown=f"dpop-gate request --key partner-key.json --token @token --url {url} -d '<webhook>' \\\n"
                               "       -H 'x-partner-client-id: spoofed-by-client'")  # fmt: skip
        resp = reply_of(done)
        show("valid DPoP request (the client also sent a spoofed x-partner-client-id)", resp, echo.seen(marker))
        expect("valid", resp, 200)
        sent = [line[len("> dpop: "):] for line in done.stderr.splitlines() if line.startswith("> dpop: ")]

        print("\n3. Forgeries")
        resp, seen = post(sent[0] if sent else None, marker="replay")
        show("the proof seen in transit, sent again (replay)", resp, seen)
        expect("replay", resp, 401, "invalid_dpop_proof")

        resp = send("the token with a proof by another key (a stolen token)", "--key", "thief-key.json",
                    "--token", "@token", marker=uuid.uuid4().hex,
                    shown="dpop-gate request --key thief-key.json --token @token --url ... -d '<webhook>'")  # fmt: skip
        expect("stolen", resp, 401, "invalid_token")

        resp = send("the token as a plain Bearer token, no proof (downgrade)", "--token", "@token", "--scheme", "bearer",
                    marker=uuid.uuid4().hex, shown="dpop-gate request --token @token --scheme bearer --url ... -d '<webhook>'")  # fmt: skip
        expect("downgrade", resp, 401, "invalid_token")

        admin = url.replace("/webhook", "/admin")
        proof = dpop_gate("proof", "--key", "partner-key.json", "-X", "POST", "--url", admin, "--ath", "@token",
                          cwd=work).stdout.strip()  # fmt: skip
        resp, seen = post(proof, marker="htu")
        show("a fresh proof, but made for another URL (htu)", resp, seen)
        expect("htu", resp, 401, "invalid_dpop_proof")

        # 4. The blog post's "DPoP proof is not active": a client whose clock runs 90 s ahead.
        print("\n4. A client whose clock is 90 s ahead of the gateway's; why is it refused?")
        (work / "config.json").write_text(json.dumps(config))
        ahead = dpop_gate("proof", "--key", "partner-key.json", "-X", "POST", "--url", url, "--ath", "@token",
                          "--iat-offset", "90", cwd=work).stdout.strip()  # fmt: skip
        (work / "proof").write_text(ahead)
        resp, seen = post(ahead, marker="ahead")
        show("a proof with iat 90 s ahead (the default clock_skew_seconds is 60)", resp, seen)
        expect("clock ahead", resp, 401, "invalid_dpop_proof")
        done = dpop_gate("explain", "--config", "config.json", "--token", "@token", "--proof", "@proof", "-X", "POST",
                         "--url", url, cwd=work)  # fmt: skip
        print(textwrap.indent(done.stdout, "   "))
        if "proof iat is 90 s in the future (allowed skew 60 s)" not in done.stdout and \
                "proof iat is 89 s in the future (allowed skew 60 s)" not in done.stdout:  # fmt: skip
            failures.append(f"explain did not name the iat skew:\n{done.stdout}{done.stderr}")
        if resp.body.decode() not in done.stdout:
            failures.append("explain's response body differs from Envoy's")
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
