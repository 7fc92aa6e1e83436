"""A bad filter configuration stops Envoy from using it, and the log names the field."""

import json

import pytest

from conftest import main_config
from harness.procs import Envoy, HarnessError

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
