"""A bad filter configuration, and a host configured without what the filter needs. What the hosts do
differs: Envoy checks every filter configuration when it loads its own and refuses the whole
bootstrap; in nginx (ngx_wasm_module) each worker configures the filter when it starts, so a bad
configuration must cost only its own route (500, the reason in the log), never the server's other
routes."""

import json
import re
import subprocess
import uuid

import pytest

from conftest import main_config
from harness.checks import assert_allowed
from harness.hosts import WORKER_PATH
from harness.oauth import client_credentials, request
from harness.procs import API_AUDIENCE, REPO, HarnessError, envoy_binary, wasm_file

ISS = "http://127.0.0.1:9/realms/test"
# (field, configuration, what the log line must say after "field `<field>`: ").
BAD = [
    ("issuer", {"issuer": "ftp://x"}, "must be an absolute http(s) URL"),
    ("audience", {"issuer": ISS, "audience": ["https://api.example.com"]}, "did you mean `audiences`?"),
    ("dpop", {"issuer": ISS, "dpop": "sometimes"}, 'expected one of "optional", "required", "disabled"'),
    ("clock_skew_seconds", {"issuer": ISS, "clock_skew_seconds": 99999}, "expected a whole number of seconds from 0"),
    ("clock_skew_seconds", {"issuer": ISS, "clock_skew_seconds": "60"}, "write the number without quotes"),
    ("claims_to_headers.sub", {"issuer": ISS, "claims_to_headers": {"sub": "authorization"}}, "is reserved"),
    ("dpop_nonce", {"issuer": ISS, "dpop_nonce": True}, 'expected an object such as {"step_seconds": 60}'),
    ("issuers[0].audiences", {"issuers": [{"issuer": ISS, "audiences": "x"}]}, "expected an array of strings"),
]

VALIDATE_ONLY_ENVOY = "`envoy --mode validate` runs the filter's on_configure; nginx configures filters only in its workers"


@pytest.mark.host_only("envoy", VALIDATE_ONLY_ENVOY)
@pytest.mark.parametrize("field,config,problem", BAD, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(BAD)])
def test_validate_mode_refuses_bad_config(new_host, field, config, problem):
    proxy = new_host({"main": config}, [])
    r = proxy.validate()
    out = r.stdout + r.stderr
    assert r.returncode != 0, f"envoy --mode validate accepted {json.dumps(config)}:\n{out[-3000:]}"
    line = next((ln for ln in out.splitlines() if "dpop-gate: invalid configuration: field `" in ln), "")
    assert f"field `{field}`: " in line and problem in line, out[-3000:]


@pytest.mark.host_only("envoy", VALIDATE_ONLY_ENVOY)
def test_validate_mode_accepts_good_config(new_host, idp):
    proxy = new_host({"main": main_config(idp, dpop="required", scopes_required=["webhook:write"])}, [idp])
    r = proxy.validate()
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]


def assert_names_field(log: str, field: str):
    lines = [line for line in log.splitlines() if "dpop-gate: invalid configuration" in line]
    assert any(f"`{field}`" in line for line in lines), f"no log line names `{field}`:\n{log[-3000:]}"


@pytest.mark.parametrize("field,config", [(f, c) for f, c, _ in BAD[:2]], ids=[f for f, _, _ in BAD[:2]])
def test_bad_configuration(new_host, idp, echo, host_kind, field, config):
    """One listener with a bad configuration beside a good one."""
    token = client_credentials(idp.token_endpoint, "webhook-partner")
    proxy = new_host({"bad": config, "good": main_config(idp)}, [idp])
    try:
        if host_kind == "envoy":
            # Envoy refuses the whole bootstrap: it exits at start, and says which field.
            with pytest.raises(HarnessError) as e:
                proxy.start(timeout=30)
            assert "Envoy exited" in str(e.value), str(e.value)[-2000:]
            assert_names_field(proxy.log_text(), field)
            return
        # nginx: every worker configures the filter when it starts; nothing refuses the
        # configuration before. The bad route must answer 500 (the filter holds the configuration in a
        # refusing state) and the rest of the server must go on: the good route, and a location
        # without the filter.
        try:
            proxy.start(timeout=15, configured=1)
        except HarnessError as e:
            pytest.fail(f"nginx did not serve with one bad filter configuration (a worker exited?): {e}")
        marker = uuid.uuid4().hex
        resp = request("POST", proxy.url("bad"), [("x-test-id", marker), ("authorization", f"Bearer {token.access_token}")],
                       "{}", timeout=10)  # fmt: skip
        assert resp.status == 500, resp
        assert echo.seen(marker) == [], "a request passed a route whose configuration is invalid"
        assert_names_field(proxy.log_text(), field)
        assert proxy.worker_answering("bad"), "the location without the filter stopped answering"
        marker = uuid.uuid4().hex
        resp = request("POST", proxy.url("good"), [("x-test-id", marker), ("authorization", f"Bearer {token.access_token}")],
                       "{}", timeout=10)  # fmt: skip
        assert_allowed(resp, echo.seen(marker), token)
        assert proxy.alive()
    finally:
        proxy.stop()


@pytest.mark.host_only("nginx", "shared data lives in an `shm_kv` zone the nginx configuration declares")
def test_missing_shm_zone(new_host, idp, echo):
    """nginx configured without the filter's `shm_kv` zone. ngx_wasm_module traps a shared-data call
    whose namespace no zone resolves, and a trap in a root context's startup ends the worker (every
    route of the server would stop answering). The filter opens shared data in the first request
    that needs it, never in `on_configure` or `on_tick`, so the trap fails that request alone: every
    request on the filtered route is answered 500 (never let through), the host logs why at `error`,
    the location without the filter keeps answering 200, and no worker exits."""
    token = client_credentials(idp.token_endpoint, "webhook-partner")
    # A configuration that keeps nothing in shared data (static keys, no proofs) beside it.
    keys = request("GET", idp.jwks_uri, [], None, timeout=10).json()
    static = {"issuer": idp.issuer, "audiences": [API_AUDIENCE], "jwks": keys, "dpop": "disabled"}
    proxy = new_host({"main": main_config(idp), "static": static}, [idp], concurrency=2, shm_zone=False)
    try:
        try:
            proxy.start(timeout=15)
        except HarnessError as e:
            pytest.fail(f"nginx did not serve without the shm_kv zone: {e}")
        workers = sorted(proxy.worker_pids())
        assert len(workers) == proxy.concurrency, workers
        for _ in range(2 * proxy.concurrency):
            marker = uuid.uuid4().hex
            try:
                resp = request("POST", proxy.url("main"), [("x-test-id", marker), ("authorization", f"Bearer {token.access_token}")],
                               "{}", timeout=10)  # fmt: skip
            except OSError as e:
                pytest.fail(f"no answer on the filtered route without the shm_kv zone: {e!r}\n{proxy.log_text()[-3000:]}")
            assert resp.status == 500, resp
            assert echo.seen(marker) == [], "a request passed the filter without its shared data"
            assert proxy.worker_answering("main"), f"{WORKER_PATH} stopped answering:\n{proxy.log_text()[-3000:]}"
        # The configuration without shared data serves as ever.
        marker = uuid.uuid4().hex
        resp = request("POST", proxy.url("static"), [("x-test-id", marker), ("authorization", f"Bearer {token.access_token}")],
                       "{}", timeout=10)  # fmt: skip
        assert resp.status == 200 and len(echo.seen(marker)) == 1, resp
        log = proxy.log_text()
        # The host logs the trap as one `[error]` entry over several lines: "error while executing
        # at wasm backtrace: ... Caused by: host trap (bad usage): failed getting value from shm
        # (could not resolve namespace)". Each cause line belongs to the entry above it.
        lines = log.splitlines()
        causes = [i for i, ln in enumerate(lines) if "could not resolve namespace" in ln]
        assert len(causes) >= 2 * proxy.concurrency, log[-3000:]
        for i in causes:
            entry = next(ln for ln in reversed(lines[: i + 1]) if re.match(r"\d{4}/\d\d/\d\d ", ln))
            assert "[error]" in entry, f"the missing zone is not logged at error level: {entry}"
        assert sorted(proxy.worker_pids()) == workers, f"a worker exited:\n{log[-3000:]}"
        assert "exited with" not in log, log[-3000:]
        assert proxy.alive()
    finally:
        proxy.stop()


@pytest.mark.host_only("envoy", "the README's Envoy example is an Envoy bootstrap")
def test_readme_envoy_example_is_valid(workdir):
    """The Envoy configuration shown in the README passes `envoy --mode validate`, filter included."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("\n## Envoy\n") :]
    yaml = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    path = workdir / "readme-envoy.yaml"
    path.write_text(yaml.replace("target/wasm32-wasip1/release/dpop_gate.wasm", str(wasm_file())))
    r = subprocess.run([str(envoy_binary()), "--mode", "validate", "-c", str(path), "--use-dynamic-base-id"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)  # fmt: skip
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "dpop-gate: configured" in out, out[-3000:]


CALIBRATION = re.compile(
    r"dpop-gate: P-256 product form: (inline|call) \(units of 48 doublings \+ 16 additions: inline \d+ in [\d.]+ ms, "
    r"call \d+ in [\d.]+ ms\)"
)


def test_p256_product_form_is_calibrated_once_per_module(new_host, idp, host_kind):
    """Each module times both forms of P-256's field product when its first filter configuration
    arrives, keeps the faster and logs what it measured, once (src/crypto/p256.rs): never more often
    than filter configurations arrive, and in nginx, whose every worker runs one module for all its
    filter chains, once per worker although two listeners are configured in each. (Envoy builds
    modules as it sees fit: on its main thread one per listener.)"""
    proxy = new_host({"a": main_config(idp), "b": main_config(idp)}, [idp], concurrency=2)
    try:
        proxy.start()
        log = proxy.log_text()
        forms = CALIBRATION.findall(log)
        configured = log.count("dpop-gate: configured")
        assert forms and len(forms) <= configured, f"{len(forms)} calibrations, {configured} configured:\n{log[-3000:]}"
        if host_kind == "nginx":
            assert (len(forms), configured) == (2, 4), log[-3000:]
    finally:
        proxy.stop()
