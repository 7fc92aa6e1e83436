"""A bad filter configuration stops Envoy from using it, and the log names the field."""

import json
import re
import subprocess

import pytest

from conftest import main_config
from harness.procs import REPO, Envoy, HarnessError, envoy_binary, wasm_file

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


@pytest.mark.parametrize("field,config,problem", BAD, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(BAD)])
def test_validate_mode_refuses_bad_config(workdir, echo, field, config, problem):
    proxy = Envoy(workdir, {"main": config}, echo.port, [])
    r = proxy.validate()
    out = r.stdout + r.stderr
    assert r.returncode != 0, f"envoy --mode validate accepted {json.dumps(config)}:\n{out[-3000:]}"
    line = next((ln for ln in out.splitlines() if "dpop-gate: invalid configuration: field `" in ln), "")
    assert f"field `{field}`: " in line and problem in line, out[-3000:]


def test_validate_mode_accepts_good_config(workdir, echo, idp):
    proxy = Envoy(workdir, {"main": main_config(idp, dpop="required", scopes_required=["webhook:write"])},
                  echo.port, [idp.port])  # fmt: skip
    r = proxy.validate()
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]


def test_serve_mode_refuses_bad_config(workdir, echo):
    proxy = Envoy(workdir, {"main": {"issuer": "ftp://x"}}, echo.port, [])
    try:
        with pytest.raises(HarnessError) as e:
            proxy.start(timeout=30)
        assert "Envoy exited" in str(e.value), str(e.value)[-2000:]
        log = proxy.log_text() if proxy.proc else ""
        assert "dpop-gate: invalid configuration: field `issuer`" in (log or str(e.value)), str(e.value)[-3000:]
    finally:
        proxy.stop()


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
