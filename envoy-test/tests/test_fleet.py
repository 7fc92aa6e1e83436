"""A fleet: two gateway nodes (two proxy processes, each with its own shared data) behind one origin.
The replay store is per node, so a proof accepted by node A is not known to node B. What stops its
replay to B is `dpop_nonce` with per-node secrets (no `secret` configured): B never issued A's nonce
and answers `use_dpop_nonce`. Sharing the secret gives that up (case b). The cost of per-node secrets
falls on clients that move between nodes: one `use_dpop_nonce` retry per move, measured with the npm
oauth4webapi client behind a test load balancer (case c)."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import socket
import statistics
import subprocess
import threading
import time
import urllib.parse
import urllib.request

from conftest import PUBLIC_BASE_URL, main_config
from harness.checks import assert_allowed, assert_refused
from harness.oauth import ProofKey, b64url, client_credentials
from harness.procs import IDP_DIR, LOOPBACK, node_binary

CLIENT = "webhook-partner-dpop"
# What clients sign as `htu`: every node sits behind the same public origin (TLS ends in front).
HTU = f"{PUBLIC_BASE_URL}/webhook"
# A configured nonce secret, the same on every node (case b): 32 bytes, unpadded base64url.
SHARED_SECRET = b64url(bytes(range(32)))
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "te", "trailer"}


def fleet_listeners(idp) -> dict:
    """The same listeners on every node. `per_node`: `dpop_nonce` without a secret (each node makes
    its own); `shared`: one configured secret; `lb`: per-node secrets, the request URL taken from the
    `Host` header (the load balancer of case c forwards it)."""
    return {
        "per_node": main_config(idp, public_base_url=PUBLIC_BASE_URL, dpop_nonce={}),
        "shared": main_config(idp, public_base_url=PUBLIC_BASE_URL, dpop_nonce={"secret": SHARED_SECRET}),
        "lb": main_config(idp, dpop_nonce={}),
        "lb_shared": main_config(idp, dpop_nonce={"secret": SHARED_SECRET}),
    }


def two_nodes(stack):
    idp = stack.idp()
    a = stack.host(fleet_listeners(idp), [idp])
    b = stack.host(fleet_listeners(idp), [idp])
    return idp, a, b


def nonce_from(gate, listener: str, token) -> str:
    """The nonce a node hands out: a proof without one is refused with `use_dpop_nonce`."""
    resp, seen = gate.send(listener, token=token, proof=token.key.proof("POST", HTU, token.access_token))
    assert_refused(resp, seen, 401, "use_dpop_nonce", "DPoP")
    nonce = resp.header("dpop-nonce")
    assert nonce, resp
    return nonce


def assert_counter(gate, name: str, expected: int):
    """The filter's counter `dpop_gate_<name>`, where the host lets it be read (not nginx)."""
    counters = gate.host.counters()
    if counters is not None:
        assert counters.get(f"dpop_gate_{name}", 0) == expected, (name, counters)


def test_replay_to_another_node_needs_its_nonce(stack):
    """(a) Per-node secrets: a proof accepted by A, replayed (same token, same proof) to B, is refused
    with 401 `use_dpop_nonce` and B's own `DPoP-Nonce`; replayed to A it is a replay. The client
    itself moves to B at the cost of one retry with B's nonce."""
    idp, a, b = two_nodes(stack)
    token = client_credentials(idp.token_endpoint, CLIENT, dpop_key=ProofKey.generate("EC"))

    nonce_a = nonce_from(a, "per_node", token)
    proof = token.key.proof("POST", HTU, token.access_token, nonce=nonce_a)
    assert_allowed(*a.send("per_node", token=token, proof=proof), token)

    resp, seen = b.send("per_node", token=token, proof=proof)
    assert_refused(resp, seen, 401, "use_dpop_nonce", "DPoP")
    nonce_b = resp.header("dpop-nonce")
    assert nonce_b and nonce_b != nonce_a, resp

    resp, seen = a.send("per_node", token=token, proof=proof)
    assert_refused(resp, seen, 401, "invalid_dpop_proof", "DPoP")
    assert_counter(a, "refused_proof_replay", 1)

    # The honest client: a new proof with B's nonce passes at B.
    proof_b = token.key.proof("POST", HTU, token.access_token, nonce=nonce_b)
    assert_allowed(*b.send("per_node", token=token, proof=proof_b), token)
    assert_counter(b, "refused_use_dpop_nonce", 1)  # the replay: B had never seen the client
    assert_counter(b, "allowed", 1)


def test_shared_secret_lets_a_replay_through_on_another_node(stack):
    """(b) The tradeoff, shown: with the same configured `secret` on both nodes, A's nonce is valid
    on B, so the proof A accepted is accepted again by B, which has its own replay store. This is the
    documented cost of sharing the nonce secret without a shared replay store: a captured proof can be
    replayed once per node, within its nonce's life (`step_seconds`, two steps) and the proof window.
    On one node the replay is still refused."""
    idp, a, b = two_nodes(stack)
    token = client_credentials(idp.token_endpoint, CLIENT, dpop_key=ProofKey.generate("EC"))

    nonce = nonce_from(a, "shared", token)
    proof = token.key.proof("POST", HTU, token.access_token, nonce=nonce)
    assert_allowed(*a.send("shared", token=token, proof=proof), token)
    assert_allowed(*b.send("shared", token=token, proof=proof), token)  # the replay, accepted

    for node in (a, b):
        resp, seen = node.send("shared", token=token, proof=proof)
        assert_refused(resp, seen, 401, "invalid_dpop_proof", "DPoP")
        assert_counter(node, "refused_proof_replay", 1)


class LoadBalancer(http.server.ThreadingHTTPServer):
    """A test load balancer in front of the nodes' `port(node)` listeners, keeping the client's `Host`.
    `mode`: `seq` sends request number `x-fleet-seq` to node `seq % 2` (its retries too: the client
    moves between requests, as with a connection-level balancer); `round_robin` alternates on every
    HTTP request, retries included; `pinned` sends everything to the first node."""

    daemon_threads = True

    def __init__(self, ports: list[int]):
        super().__init__((LOOPBACK, 0), _LbHandler)
        self.ports = ports
        self.mode = "seq"
        self.lock = threading.Lock()
        self.counter = 0
        self.routed: list[int] = []  # node index of each HTTP request
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def pick(self, seq: int) -> int:
        with self.lock:
            if self.mode == "seq":
                node = seq % 2
            elif self.mode == "round_robin":
                node = self.counter % 2
            else:
                node = 0
            self.counter += 1
            self.routed.append(node)
            return node

    def reset(self, mode: str):
        with self.lock:
            self.mode, self.counter, self.routed = mode, 0, []


class _LbHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: LoadBalancer

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        node = self.server.pick(int(self.headers.get("x-fleet-seq") or 0))
        conn = http.client.HTTPConnection(LOOPBACK, self.server.ports[node], timeout=15)
        try:
            # http.client sends the head and the body in two writes: with Nagle on, the body of an
            # allowed request would wait for Envoy's delayed ACK (~40 ms), which is not the filter.
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.putrequest("POST", self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() not in HOP_BY_HOP:
                    conn.putheader(k, v)
            conn.putheader("content-length", str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            out = r.read()
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in HOP_BY_HOP:
                    self.send_header(k, v)
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        finally:
            conn.close()

    def log_message(self, *args):  # quiet
        pass


def run_fleet_client(token_endpoint: str, url: str, count: int, retries: int = 1) -> list[dict]:
    argv = [node_binary(), "dpop-fleet-client.mjs", token_endpoint, CLIENT, f"{CLIENT}-secret", url, str(count),
            str(retries)]  # fmt: skip
    done = subprocess.run(argv, cwd=IDP_DIR, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"dpop-fleet-client.mjs failed ({done.returncode}):\n{done.stderr[-3000:]}"
    out = json.loads(done.stdout)
    assert out["token_type"].lower() == "dpop", out
    return out["requests"]


# Requests left out of the latency figures: each client run is a new node process whose first
# requests are slow (JIT, first connections), whatever the gateway does.
WARMUP = 10


def median_ms(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def summary(name: str, requests: list[dict]) -> dict:
    """Counts of one client run, and latencies after the warm-up: of a whole request (proof
    signing included; a retried one is two attempts), of a refused attempt (what one move adds:
    a proof, a round trip to the gateway and its checks) and of an allowed one (which also crosses
    the test's echo upstream, a Python thread in this process: slower than a real upstream)."""
    warm = requests[WARMUP:]
    attempts = [a for r in warm for a in r["attempts"]]
    s = {
        "run": name,
        "requests": len(requests),
        "ok": sum(r["status"] == 200 for r in requests),
        "use_dpop_nonce_retries": sum(sum(a.get("error") == "use_dpop_nonce" for a in r["attempts"]) for r in requests),
        "median_request_ms": median_ms([r["ms"] for r in warm if r["status"] == 200]),
        "median_refused_attempt_ms": median_ms([a["ms"] for a in attempts if a.get("error") == "use_dpop_nonce"]),
        "median_allowed_attempt_ms": median_ms([a["ms"] for a in attempts if a["status"] == 200]),
    }
    print(f"\nfleet: {json.dumps(s)} (load average {os.getloadavg()[0]:.1f})")
    return s


def callout_round_trip_ms(gate, idp) -> dict:
    """The callout round trip as Envoy measured it: the IdP cluster's `upstream_rq_time` histogram
    (discovery and JWKS fetches are the only requests on that cluster)."""
    query = urllib.parse.urlencode({"format": "json", "filter": "upstream_rq_time$"})
    with urllib.request.urlopen(f"{gate.host.admin}/stats?{query}", timeout=5) as r:
        data = json.loads(r.read())
    for entry in data.get("stats", []):
        hist = entry.get("histograms")
        if not hist:
            continue
        quantiles = hist["supported_quantiles"]
        for h in hist["computed_quantiles"]:
            if h["name"].startswith("cluster.") and str(idp.port) in h["name"]:
                values = [v.get("cumulative") for v in h["values"]]
                return {f"p{q:g}": v for q, v in zip(quantiles, values) if q in (50, 90, 100)}
    return {}


def test_client_moving_between_nodes_pays_one_retry_per_move(stack):
    """(c) oauth4webapi, one token and one DPoP handle, `N` requests through one origin:
    - pinned to one node: one `use_dpop_nonce` retry in all (the first request);
    - alternating A, B, A, B (a request and its retry on the same node): one retry per request,
      each move costs one round trip more;
    - a balancer that alternates on every HTTP request, retries included, with one retry allowed:
      the retry always meets the other node's secret and every request fails. Per-node secrets need
      a client's retry to reach the node that challenged it (connection or session affinity);
    - the same balancer with a shared secret: one retry in all, like one node.
    Counts and latencies are printed (run with -s to see them)."""
    n = 40
    idp, a, b = two_nodes(stack)
    lb = LoadBalancer([a.host.ports["lb"], b.host.ports["lb"]])
    url = f"http://{LOOPBACK}:{lb.port}/webhook"
    try:
        lb.reset("pinned")
        pinned = summary("pinned", run_fleet_client(idp.token_endpoint, url, n))
        assert pinned["ok"] == n and pinned["use_dpop_nonce_retries"] == 1, pinned

        lb.reset("seq")
        moving = summary("alternating", run_fleet_client(idp.token_endpoint, url, n))
        assert moving["ok"] == n, moving
        assert moving["use_dpop_nonce_retries"] == n, moving  # every request moved (the first: no nonce yet)
        assert lb.routed == [i % 2 for i in range(n) for _ in (0, 1)], lb.routed

        lb.reset("round_robin")
        strict = summary("round_robin", run_fleet_client(idp.token_endpoint, url, n))
        assert strict["ok"] == 0 and strict["use_dpop_nonce_retries"] == 2 * n, strict

        lb.ports = [a.host.ports["lb_shared"], b.host.ports["lb_shared"]]
        lb.reset("round_robin")
        shared = summary("round_robin_shared_secret", run_fleet_client(idp.token_endpoint, url, n))
        assert shared["ok"] == n and shared["use_dpop_nonce_retries"] == 1, shared

        # What a move costs: one refused attempt more than the pinned client's request (the two
        # runs' totals are printed too; on a busy machine they differ by more than that).
        print(f"\nfleet: extra latency per move (median refused attempt, ms): {moving['median_refused_attempt_ms']}")
    finally:
        lb.shutdown()
        lb.server_close()

    # One HTTP callout's round trip, for the cost of a store reached by callouts (SECURITY.md), as
    # Envoy measures it. The histogram's quantiles are computed at its stats flush (every 5 s).
    if a.host.kind != "envoy":
        return
    time.sleep(5.5)
    for name, node in (("A", a), ("B", b)):
        print(f"\nfleet: callout round trip (IdP cluster upstream_rq_time, ms) node {name}: "
              f"{callout_round_trip_ms(node, idp)}")  # fmt: skip
