"""A bad filter configuration stops Envoy from using it, and the log names the field."""

import json
import re
import subprocess

import pytest

from conftest import main_config
from harness.procs import REPO, Envoy, HarnessError, envoy_binary, wasm_file

BAD = [
    ("issuer", {"issuer": "ftp://x"}),
    ("audience", {"issuer": "http://127.0.0.1:9/realms/test", "audience": ["https://api.example.com"]}),
    ("dpop", {"issuer": "http://127.0.0.1:9/realms/test", "dpop": "sometimes"}),
    ("clock_skew_seconds", {"issuer": "http://127.0.0.1:9/realms/test", "clock_skew_seconds": 99999}),
    ("claims_to_headers", {"issuer": "http://127.0.0.1:9/realms/test", "claims_to_headers": {"sub": "authorization"}}),
]


@pytest.mark.parametrize("field,config", BAD, ids=[f for f, _ in BAD])
def test_validate_mode_refuses_bad_config(workdir, echo, field, config):
    proxy = Envoy(workdir, {"main": config}, echo.port, [])
    r = proxy.validate()
    out = r.stdout + r.stderr
    assert r.returncode != 0, f"envoy --mode validate accepted {json.dumps(config)}:\n{out[-3000:]}"
    assert "dpop-gate: invalid configuration" in out and field in out, out[-3000:]


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
