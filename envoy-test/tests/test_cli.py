"""The `dpop-gate` command-line tool (cli/, issue 16) against the real thing: its proofs verify with
jwcrypto (the library of the DPoP blog post), its key files load in jwcrypto and the blog's jwcrypto
`private.json` loads in it; `dpop-gate request` gets a DPoP-bound token from the authorization
server and passes the proxy with it (and meets the filter's nonce challenge); `dpop-gate explain`,
with keys discovered from the real IdP, predicts the proxy's answer byte for byte; `check-config`
gives the message Envoy logs for a bad configuration.

The binary is built by `make e2e` (target `cli`); a missing or stale one fails the test."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import uuid
from pathlib import Path

import pytest
from jwcrypto import jwk, jwt

from conftest import main_config
from harness.checks import seen_headers
from harness.hosts import Envoy
from harness.oauth import b64url, decode_jwt, request
from harness.procs import REPO

CLI = Path(os.environ.get("DPOP_GATE_CLI", REPO / "target/release/dpop-gate"))
CLIENT = "webhook-partner-dpop"
ALGS = ["ES256", "ES384", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]


def newest_source() -> float:
    files = [REPO / "Cargo.lock", REPO / "cli/Cargo.toml"]
    files += list((REPO / "cli/src").rglob("*.rs")) + list((REPO / "src").rglob("*.rs"))
    return max(f.stat().st_mtime for f in files)


@pytest.fixture(scope="module")
def cli():
    """The binary, checked to be newer than its sources (run `make cli`)."""
    if not CLI.is_file():
        pytest.fail(f"{CLI} is missing: run `make cli` (make e2e does)", pytrace=False)
    if "DPOP_GATE_CLI" not in os.environ and CLI.stat().st_mtime < newest_source():
        pytest.fail(f"{CLI} is older than its sources: run `make cli` (make e2e does)", pytrace=False)

    def run(*args, cwd=None, ok=(0,)) -> subprocess.CompletedProcess:
        done = subprocess.run([str(CLI), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)  # fmt: skip
        assert done.returncode in ok, f"dpop-gate {' '.join(map(str, args))} exited {done.returncode}:\n" \
                                      f"{done.stdout}\n{done.stderr}"  # fmt: skip
        return done

    return run


@pytest.fixture(scope="module")
def cli_gate(new_host, idp):
    """A proxy of this module's own, so its counters count only these tests."""
    listeners = {
        "main": main_config(idp),
        "nonce": main_config(idp, dpop_nonce={}),
        "skew5": main_config(idp, clock_skew_seconds=5),
    }
    proxy = new_host(listeners, [idp])
    try:
        proxy.start()
        yield proxy, listeners
    finally:
        proxy.stop()


def verify_with_jwcrypto(proof: str, alg: str) -> tuple[dict, dict]:
    """(header, claims) of a proof whose signature jwcrypto verifies with the header's own key."""
    header, _ = decode_jwt(proof)
    key = jwk.JWK(**header["jwk"])
    assert not key.has_private, header["jwk"]
    token = jwt.JWT(jwt=proof, key=key, algs=[alg])
    return json.loads(token.header), json.loads(token.claims)


@pytest.mark.parametrize("alg", ALGS)
def test_cli_proofs_verify_with_jwcrypto(cli, tmp_path, alg):
    key_file = tmp_path / "key.json"
    url = "https://api.example.com/orders/7?expand=items#top"
    access_token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
    done = cli("proof", "--key", key_file, "--alg", alg, "--url", url, "-X", "PATCH", "--ath", access_token,
               "--nonce", "n-42", "--iat-offset", "-5")  # fmt: skip
    header, claims = verify_with_jwcrypto(done.stdout.strip(), alg)
    assert header["typ"] == "dpop+jwt" and header["alg"] == alg, header
    assert claims["htm"] == "PATCH"
    assert claims["htu"] == "https://api.example.com/orders/7", claims
    assert claims["ath"] == b64url(hashlib.sha256(access_token.encode()).digest())
    assert claims["nonce"] == "n-42"
    assert len(claims["jti"]) >= 22
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    # The key file is a private JWK jwcrypto reads; its public half is the proof's, its thumbprint ours.
    private = jwk.JWK.from_json(key_file.read_text())
    assert private.has_private
    public = private.export_public(as_dict=True)
    assert public.pop("alg") == alg, "the key file remembers its algorithm"
    assert public == jwk.JWK(**header["jwk"]).export_public(as_dict=True)
    assert cli("key", "thumbprint", key_file).stdout.strip() == private.thumbprint()


def test_cli_reads_the_blogs_private_json(cli, tmp_path):
    """As the blog's main.py writes it on first use: an RSA key pair by jwcrypto."""
    key = jwk.JWK.generate(kty="RSA", size=2048)
    (tmp_path / "private.json").write_text(key.export_private())
    done = cli("proof", "--key", "private.json", "--url", "https://api.example.com/webhook", "-X", "POST",
               cwd=tmp_path)  # fmt: skip
    header, claims = verify_with_jwcrypto(done.stdout.strip(), "RS256")
    assert header["jwk"] == json.loads(key.export_public()), header
    assert cli("key", "thumbprint", "private.json", cwd=tmp_path).stdout.strip() == key.thumbprint()
    assert (tmp_path / "private.json").read_text() == key.export_private(), "the file is left as it was"


def token_by_cli(cli, idp, key_file: Path) -> dict:
    """A DPoP-bound token by client credentials, the proof and the request made by the tool."""
    done = cli("request", "--key", key_file, "-X", "POST", "--url", idp.token_endpoint,
               "-u", f"{CLIENT}:{CLIENT}-secret", "-d", "grant_type=client_credentials&scope=webhook:write")  # fmt: skip
    assert [ln for ln in done.stderr.splitlines() if ln.startswith("HTTP ")] == ["HTTP 200"], done.stderr
    return json.loads(done.stdout)


def test_cli_request_through_envoy_with_a_dpop_bound_token(cli, idp, echo, cli_gate, tmp_path, host_kind):
    proxy, _ = cli_gate
    key_file = tmp_path / "partner.json"
    tok = token_by_cli(cli, idp, key_file)
    assert tok["token_type"] == "DPoP", tok
    claims = decode_jwt(tok["access_token"])[1]
    assert claims["cnf"]["jkt"] == cli("key", "thumbprint", key_file).stdout.strip(), claims
    (tmp_path / "token").write_text(tok["access_token"] + "\n")

    marker = uuid.uuid4().hex
    body = '{"event": "order.shipped"}'
    done = cli("request", "--key", key_file, "--token", f"@{tmp_path / 'token'}", "--url", proxy.url("main", "/webhook?x=1"),
               "-d", body, "-H", "content-type: application/json", "-H", f"x-test-id: {marker}")  # fmt: skip
    assert done.stderr == "HTTP 200\n", done.stderr
    [seen] = echo.seen(marker)
    assert json.loads(done.stdout)["headers"] == seen["headers"], "the echo's answer is printed"
    h = seen_headers(seen)
    assert h["authorization"] == [f"Bearer {tok['access_token']}"], h
    if host_kind == "nginx":
        # Kong's engine cannot remove a request header (it only marks it, and nginx's proxy module
        # forwards it anyway), so the filter empties the client's single `DPoP` in place: the
        # upstream gets exactly one `DPoP:` with nothing after it, never the proof (README, host
        # differences). Envoy removes it.
        assert h.get("dpop") == [""], h
    else:
        assert "dpop" not in h, h
    assert (seen["method"], seen["path"], seen["body"]) == ("POST", "/webhook?x=1", body)

    # The same token with a proof by another key: refused, the challenge shown, exit 1.
    marker = uuid.uuid4().hex
    done = cli("request", "--key", tmp_path / "thief.json", "--token", tok["access_token"],
               "--url", proxy.url("main", "/webhook"), "-H", f"x-test-id: {marker}", ok=(1,))  # fmt: skip
    assert done.stderr.splitlines()[-2:] == [
        "HTTP 401",
        'www-authenticate: DPoP algs="ES256 ES384 EdDSA RS256 RS384 RS512 PS256 PS384 PS512", error="invalid_token", '
        'error_description="access token cnf.jkt does not match the DPoP proof key"',
    ], done.stderr
    assert echo.seen(marker) == []


def test_cli_request_meets_the_nonce_challenge(cli, idp, echo, cli_gate, tmp_path):
    proxy, _ = cli_gate
    key_file = tmp_path / "partner.json"
    tok = token_by_cli(cli, idp, key_file)
    before = proxy.counters()
    marker = uuid.uuid4().hex
    done = cli("request", "--key", key_file, "--token", tok["access_token"], "--url", proxy.url("nonce", "/webhook"),
               "-H", f"x-test-id: {marker}")  # fmt: skip
    err = done.stderr.splitlines()
    assert err[0] == "HTTP 401", done.stderr
    assert 'error="use_dpop_nonce"' in err[1] and err[2].startswith("dpop-nonce: "), done.stderr
    assert err[-1] == "HTTP 200", done.stderr
    assert len(echo.seen(marker)) == 1, "only the retry reached the upstream"
    after = proxy.counters()
    if after is not None:  # None: the host has no way to read them
        count = lambda c, name: c.get(f"dpop_gate_{name}", 0)  # noqa: E731
        assert count(after, "refused_use_dpop_nonce") - count(before, "refused_use_dpop_nonce") == 1, after
        assert count(after, "allowed") - count(before, "allowed") == 1, after


def explained_response(text: str) -> tuple[int, list, str]:
    """(status, [(header, value)], body) from the end of `dpop-gate explain`'s output."""
    tail = text[text.index("; the gateway answers\n"):].splitlines()[1:]
    status = int(tail[0].removeprefix("  status: "))
    headers = [tuple(line.strip().split(": ", 1)) for line in tail[1:-1]]
    return status, headers, tail[-1].removeprefix("  body: ")


def test_cli_explain_predicts_the_proxys_answer(cli, idp, echo, cli_gate, tmp_path, host_kind):
    """The same request to the proxy and to `explain` (keys discovered from the real IdP): the
    proxy's status, WWW-Authenticate and body are exactly those explain prints (on nginx, with the
    newline ngx_wasm_module adds to a local response's body)."""
    proxy, listeners = cli_gate
    key_file = tmp_path / "partner.json"
    tok = token_by_cli(cli, idp, key_file)["access_token"]

    def proof(url: str, *extra) -> str:
        return cli("proof", "--key", key_file, "-X", "POST", "--url", url, "--ath", tok, *extra).stdout.strip()

    def both(listener: str, authorization: str, dpop: str | None, url: str, scheme: str, token: str = tok):
        cfg = tmp_path / f"{listener}.json"
        cfg.write_text(json.dumps(listeners[listener]))
        args = ["explain", "--config", cfg, "--token", token, "--scheme", scheme, "-X", "POST", "--url", url]
        if dpop:
            args += ["--proof", dpop]
        explained = cli(*args, ok=(0, 1))
        marker = uuid.uuid4().hex
        hdrs = [("authorization", authorization), ("x-test-id", marker)] + ([("dpop", dpop)] if dpop else [])
        return explained, request("POST", url, hdrs, "{}"), marker

    url = proxy.url("main", "/webhook")
    good = proof(url)
    explained, resp, marker = both("main", f"DPoP {tok}", good, url, "dpop")
    assert explained.returncode == 0 and "decision: allowed" in explained.stdout, explained.stdout
    assert f"discovery GET {idp.issuer}/.well-known/openid-configuration: jwks_uri {idp.jwks_uri}" in explained.stdout
    assert resp.status == 200 and len(echo.seen(marker)) == 1, resp

    skew5 = proxy.url("skew5", "/webhook")
    refusals = {
        # The blog's "DPoP proof is not active": the client's clock is ahead of the gateway's.
        "iat ahead": ("skew5", f"DPoP {tok}", proof(skew5, "--iat-offset", "30"), skew5, "dpop", tok),
        "htu": ("main", f"DPoP {tok}", proof(proxy.url("main", "/admin")), url, "dpop", tok),
        "stolen": ("main", f"DPoP {tok}", cli("proof", "--key", tmp_path / "thief.json", "-X", "POST", "--url", url,
                                                "--ath", tok).stdout.strip(), url, "dpop", tok),  # fmt: skip
        "downgrade": ("main", f"Bearer {tok}", None, url, "bearer", tok),
        "not a JWS": ("main", "Bearer opaque-token", None, url, "bearer", "opaque-token"),
    }
    for name, (listener, authorization, dpop, target, scheme, token) in refusals.items():
        explained, resp, marker = both(listener, authorization, dpop, target, scheme, token)
        assert explained.returncode == 1, f"{name}: {explained.stdout}"
        status, headers, body = explained_response(explained.stdout)
        assert status == resp.status, f"{name}: explain {status}, the proxy {resp}"
        assert [v for k, v in headers if k == "www-authenticate"] == resp.all("www-authenticate"), f"{name}: {resp}"
        # Host difference: ngx_wasm_module appends "\n" to the body of every local response
        # (`proxy_send_local_response`), so what the client reads is the filter's body and a
        # newline; Envoy sends the body as given (README, host differences).
        sent = body + "\n" if host_kind == "nginx" and body else body
        assert sent == resp.body.decode(), f"{name}: {explained.stdout}\n{resp}"
        assert echo.seen(marker) == [], name
        if name == "iat ahead":
            assert re.search(r"FAIL  proof iat +proof iat is (29|30) s in the future \(allowed skew 5 s\)",
                             explained.stdout), explained.stdout  # fmt: skip


@pytest.mark.host_only("envoy", "check-config reads Envoy's configuration files; this nginx is configured by nginx.conf")
def test_cli_check_config_gives_the_message_envoy_logs(cli, workdir, echo, idp, cli_gate):
    _, listeners = cli_gate
    done = cli("check-config", Envoy(workdir, listeners, echo.port, [idp]).config_path)
    assert done.stdout.count(": ok\n") == 3, done.stdout  # the harness's own bootstrap: three listeners

    bad = Envoy(workdir, {"main": {"issuer": idp.issuer, "audience": ["https://api.example.com"]}}, echo.port, [])
    logged = bad.validate()
    assert logged.returncode != 0
    [line] = [ln for ln in (logged.stdout + logged.stderr).splitlines() if "dpop-gate: invalid configuration" in ln]
    envoy_message = line[line.index("dpop-gate: ") + len("dpop-gate: "):]
    done = cli("check-config", bad.config_path, ok=(1,))
    assert done.stdout.rstrip("\n").endswith(f": {envoy_message}"), f"{done.stdout}\nEnvoy: {envoy_message}"
