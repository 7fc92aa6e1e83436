"""The filter configurations shipped in `kong/` (the JSON that `kong/admin-api.sh` sends, the same as
`kong/kong.yaml`'s), loaded by the real host: each is accepted and its route refuses a request
without credentials. Their issuer is not reachable from here, so nothing is fetched."""

import json
import re
import uuid

from harness.checks import assert_refused
from harness.oauth import request
from harness.procs import REPO


def kong_configs() -> dict:
    """`<NAME>_CONFIG` here-documents of kong/admin-api.sh: {name: parsed JSON}."""
    text = (REPO / "kong/admin-api.sh").read_text()
    found = re.findall(r"^(\w+)_CONFIG=\$\(cat <<'JSON'\n(.*?)\nJSON$", text, re.S | re.M)
    return {name.lower(): json.loads(body) for name, body in found}


def test_kong_example_configs_are_accepted(new_host, echo):
    configs = kong_configs()
    assert set(configs) == {"webhook", "orders"}, configs
    proxy = new_host(configs, [])
    try:
        if proxy.kind == "envoy":
            r = proxy.validate()
            assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
        proxy.start()
        log = proxy.log_text()
        assert "invalid configuration" not in log, log[-3000:]
        assert log.count("dpop-gate: configured") >= len(configs), log[-3000:]
        for name in configs:
            marker = uuid.uuid4().hex
            resp = request("POST", proxy.url(name), [("x-test-id", marker), ("content-type", "application/json")], "{}")
            assert_refused(resp, echo.seen(marker), 401, None, body_error="invalid_request")
    finally:
        proxy.stop()
