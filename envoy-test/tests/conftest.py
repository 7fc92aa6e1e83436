"""Fixtures: the authorization server, the echo upstream and the proxy with the filter, on 127.0.0.1.

The proxy is the host chosen with `--host` (or `$E2E_HOST`): `envoy` (default, CI) or `nginx`, an
nginx with Kong's ngx_wasm_module at `$NGINX_WASM` (`make e2e-kong`). Every test runs on either;
where the hosts must differ, the test says so (`host.kind`) with the reason. A test about one host's
own mechanism carries `@pytest.mark.host_only("<kind>", reason)` and is skipped on the other.

A missing proxy, node or wasm FAILS the run (never skips). Every process is killed at teardown, also
when a test fails."""

from __future__ import annotations

import os
import signal
import ssl
import uuid

import pytest

from harness.checks import CLAIMS_TO_HEADERS, use_host
from harness.oauth import ProofKey, Token, client_credentials, request
from harness.hosts import KINDS, Host, host_class, prerequisites
from harness.procs import API_AUDIENCE, EchoServer, HarnessError, Idp


# The `public` listener's origin: TLS ends in front of the proxy, clients sign proofs for this URL.
PUBLIC_BASE_URL = "https://api.example.com"


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


# A SIGTERM (e.g. the run's overall timeout) unwinds like Ctrl-C, so fixtures stop their processes.
signal.signal(signal.SIGTERM, _interrupt)


def main_config(idp: Idp, **extra) -> dict:
    """The configuration most tests use: discovery from the issuer, one audience, claim headers."""
    return {"issuer": idp.issuer, "audiences": [API_AUDIENCE], "claims_to_headers": CLAIMS_TO_HEADERS, **extra}


class Gate:
    """Sends requests through one proxy and tells what the echo upstream saw of each."""

    def __init__(self, host: Host, echo: EchoServer):
        self.host = host
        self.echo = echo

    def url(self, listener: str = "main", path: str = "/webhook") -> str:
        return self.host.url(listener, path)

    def send(self, listener: str = "main", token: Token | str | None = None, scheme: str | None = None,
             proof: str | None = None, headers=(), method: str = "POST", path: str = "/webhook",
             body: str | None = '{"event": "order.created", "id": 42}', tls: ssl.SSLContext | None = None):  # fmt: skip
        """One request with `Authorization: <scheme> <token>` (scheme: DPoP for a token with a key,
        else Bearer) and `DPoP: <proof>`; to a TLS listener over `tls` (see `harness.tls.Pki`).
        Returns (response, what the upstream saw of it)."""
        marker = uuid.uuid4().hex
        hdrs = [("x-test-id", marker), ("content-type", "application/json")]
        if token is not None:
            value = token.access_token if isinstance(token, Token) else token
            if scheme is None:
                scheme = "DPoP" if isinstance(token, Token) and token.token_type == "DPoP" else "Bearer"
            hdrs.append(("authorization", f"{scheme} {value}"))
        if proof is not None:
            hdrs.append(("dpop", proof))
        hdrs.extend(headers)
        resp = request(method, self.url(listener, path), hdrs, body, tls=tls)
        return resp, self.echo.seen(marker)

    def proof_for(self, token: Token, listener: str = "main", method: str = "POST", path: str = "/webhook",
                  key: ProofKey | None = None, **over) -> str:  # fmt: skip
        """A valid proof for `token` on this request, unless `over` says otherwise."""
        return (key or token.key).proof(method, self.url(listener, path), token.access_token, **over)


def pytest_addoption(parser):
    parser.addoption("--host", choices=KINDS, default=os.environ.get("E2E_HOST", "envoy"),
                     help="the proxy-wasm host to run the filter in (default: $E2E_HOST, else envoy)")  # fmt: skip


def pytest_configure(config):
    config.addinivalue_line("markers", "host_only(kind, reason): the test is about one host's own mechanism")
    use_host(config.getoption("--host"))


def pytest_report_header(config):
    return f"host: {config.getoption('--host')}"


def pytest_collection_modifyitems(config, items):
    kind = config.getoption("--host")
    for item in items:
        mark = item.get_closest_marker("host_only")
        if mark and mark.args[0] != kind:
            item.add_marker(pytest.mark.skip(reason=f"{mark.args[0]} only: {mark.args[1]}"))


@pytest.fixture(scope="session")
def host_kind(request) -> str:
    return request.config.getoption("--host")


@pytest.fixture(scope="session")
def prereqs(host_kind):
    try:
        return prerequisites(host_kind)
    except HarnessError as e:
        pytest.fail(f"end-to-end prerequisites missing ({host_kind}): {e}", pytrace=False)


@pytest.fixture(scope="session")
def new_host(workdir, echo, host_kind):
    """Makes (does not start) a proxy of the chosen host: `new_host(listeners, idps, concurrency=1,
    upstream_port=echo.port, **host options)`."""
    cls = host_class(host_kind)

    def make(listeners: dict, idps: list, concurrency: int = 1, upstream_port: int | None = None, **kw) -> Host:
        return cls(workdir, listeners, upstream_port or echo.port, idps, concurrency=concurrency, **kw)

    return make


@pytest.fixture(scope="session")
def workdir(tmp_path_factory, prereqs):
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def echo():
    server = EchoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def idp(workdir):
    server = Idp(workdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


class Tokens:
    """Access tokens from the IdP by client credentials; plain ones are cached per session."""

    def __init__(self, idp: Idp):
        self.idp = idp
        self._cache: dict = {}

    def bearer(self, client: str = "webhook-partner", **kw) -> Token:
        k = (client, tuple(sorted(kw.items())))
        if k not in self._cache:
            self._cache[k] = client_credentials(self.idp.token_endpoint, client, **kw)
        return self._cache[k]

    def dpop(self, kind: str = "EC", client: str = "webhook-partner-dpop", **kw) -> Token:
        """A fresh DPoP-bound token for a fresh proof key of `kind`."""
        t = client_credentials(self.idp.token_endpoint, client, dpop_key=ProofKey.generate(kind), **kw)
        assert t.token_type == "DPoP", t
        assert t.claims["cnf"]["jkt"] == t.key.jkt
        return t


@pytest.fixture(scope="session")
def tokens(idp):
    return Tokens(idp)


@pytest.fixture(scope="session")
def host(new_host, idp):
    """One proxy (1 worker) with a listener per filter configuration."""
    listeners = {
        "main": main_config(idp),
        "jwks_uri": main_config(idp, jwks_uri=idp.jwks_uri),
        "required": main_config(idp, dpop="required"),
        "scoped": main_config(idp, scopes_required=["webhook:write"]),
        "skew0": main_config(idp, clock_skew_seconds=0),
        "public": main_config(idp, public_base_url=PUBLIC_BASE_URL),
    }
    proxy = new_host(listeners, [idp])
    try:
        proxy.start()
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="session")
def gate(host, echo):
    return Gate(host, echo)


@pytest.fixture
def stack(workdir, echo, new_host, host_kind):
    """A factory of fresh proxies (and IdPs) for tests that count fetches or stop the IdP;
    everything it started is stopped after the test."""
    started = []

    class Stack:
        processes = started
        host_class = host_class(host_kind)

        def idp(self, start: bool = True) -> Idp:
            server = Idp(workdir)
            started.append(server)
            return server.start() if start else server

        def host(self, listeners: dict, idps: list, concurrency: int = 1, start: bool = True, **kw) -> Gate:
            """`idps`: callout targets, Idp servers (`127.0.0.1:<port>`) or `(name, port)` (see
            `Host.callout_target`)."""
            proxy = new_host(listeners, idps, concurrency=concurrency, **kw)
            started.append(proxy)
            if start:
                proxy.start()
            return Gate(proxy, echo)

    try:
        yield Stack()
    finally:
        for p in reversed(started):
            p.stop()


def pytest_runtest_makereport(item, call):
    """On failure, attach the tail of each proxy's and IdP's log (the filter's refusal reasons, the
    IdP's errors)."""
    if call.when == "call" and call.excinfo is not None:
        procs = [item.funcargs.get("host"), item.funcargs.get("idp")]
        procs += getattr(item.funcargs.get("stack"), "processes", [])
        for proc in procs:
            if isinstance(proc, (Host, Idp)):
                name = f"{type(proc).__name__.lower()} log ({proc.log_path})"
                item.add_report_section("call", name, proc.log_text()[-3000:])

