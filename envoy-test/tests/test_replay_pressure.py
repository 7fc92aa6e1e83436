"""The DPoP replay store under pressure (issue 7), in the proxy with two workers: a flood of unique
valid proofs for one DPoP-bound token, sent over keep-alive connections held on both workers, is
accepted in full (it stays far inside the store's documented capacity, SECURITY.md point 5) while the
proxy's resident memory grows by a bounded amount; then flooded proofs replayed on both workers are each
refused. The issuer is the static-keys one of `test_adversarial.py` (the test signs the token)."""

from __future__ import annotations

import http.client
import threading
import time
import uuid

from harness.checks import assert_no_client_value, assert_refused, seen_headers
from harness.hosts import Host
from harness.oauth import Response
from harness.procs import EchoServer
from test_adversarial import HOLDER, bound_token, static_config

FLOOD = 3000  # unique proofs; the store's first bucket fills at ~165 000 live ones (SECURITY.md)
PER_WORKER = 2  # keep-alive connections held on each worker, one sending thread each
REPLAYS = 40  # flooded proofs replayed, each on both workers
FLOOD_SECONDS = 90.0  # the whole flood must finish within this
MAX_RSS_GROWTH_KIB = 32 * 1024  # the store itself is at most 4096 buckets x 64 entries x 16 B = 4 MiB
BODY = b'{"event": "order.created", "id": 42}'


def post(conn: http.client.HTTPConnection, token: str, proof: str, marker: str | None = None) -> Response:
    """One POST /webhook on a kept-alive connection."""
    headers = {"authorization": f"DPoP {token}", "dpop": proof, "content-type": "application/json"}
    if marker:
        headers["x-test-id"] = marker
    conn.request("POST", "/webhook", body=BODY, headers=headers)
    r = conn.getresponse()
    return Response(r.status, [(k.lower(), v) for k, v in r.getheaders()], r.read())


def connections_on_both_workers(proxy: Host, listener: str) -> dict:
    """Opens connections one at a time and asks the proxy which worker holds each, until
    `PER_WORKER` are held on each worker; the others are closed. Bounded: at most 64 connections are
    tried."""
    held: dict = {}
    spare = []
    for _ in range(64):
        if len(held) == 2 and all(len(c) >= PER_WORKER for c in held.values()):
            break
        conn, worker = proxy.connect_on_worker(listener)
        conns = held.setdefault(worker, [])
        (conns if len(conns) < PER_WORKER else spare).append(conn)
    for conn in spare:
        conn.close()
    assert len(held) == 2 and all(len(c) >= PER_WORKER for c in held.values()), held
    return held


def test_flood_of_unique_proofs_then_replays_on_both_workers(new_host):
    echo = EchoServer()  # its own upstream: the flood's records stay out of the shared one
    echo.start()
    proxy = new_host({"static": static_config()}, [], concurrency=2, upstream_port=echo.port)
    conns: dict = {}
    try:
        proxy.start()
        token = bound_token()
        url = proxy.url("static")
        conns = connections_on_both_workers(proxy, "static")
        pool = [(w, c) for w, cs in sorted(conns.items()) for c in cs]

        # Warm-up: one valid request per connection (both workers' VMs have run, the token is cached).
        for _, conn in pool:
            resp = post(conn, token, HOLDER.proof("POST", url, token))
            assert resp.status == 200, resp
        proofs = [HOLDER.proof("POST", url, token) for _ in range(FLOOD)]
        assert len(set(proofs)) == FLOOD
        rss_before = proxy.rss_kib()

        # The flood: each thread sends its share of the proofs on its own connection.
        statuses: list = [None] * FLOOD
        errors: list = []
        deadline = time.monotonic() + FLOOD_SECONDS

        def sender(i: int, conn: http.client.HTTPConnection):
            try:
                for n in range(i, FLOOD, len(pool)):
                    if time.monotonic() > deadline:
                        errors.append(f"thread {i}: flood not done within {FLOOD_SECONDS}s")
                        return
                    statuses[n] = post(conn, token, proofs[n]).status
            except Exception as e:  # reported below; the thread must not die silently
                errors.append(f"thread {i}: {e!r}")

        started = time.monotonic()
        threads = [threading.Thread(target=sender, args=(i, c), daemon=True) for i, (_, c) in enumerate(pool)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(FLOOD_SECONDS + 20)
        elapsed = time.monotonic() - started
        rss_after = proxy.rss_kib()
        growth = rss_after - rss_before
        print(f"\nreplay flood: {FLOOD} unique proofs over {len(pool)} connections "
              f"({', '.join(f'{w}: {len(c)}' for w, c in sorted(conns.items()))}) in {elapsed:.1f}s "
              f"({FLOOD / elapsed:.0f}/s); {proxy.kind} VmRSS {rss_before} KiB -> {rss_after} KiB "
              f"({growth:+d} KiB)")  # fmt: skip

        assert not any(t.is_alive() for t in threads), "a sender thread is stuck"
        assert not errors, errors
        refused = {s for s in statuses if s != 200}
        assert not refused, f"{sum(s != 200 for s in statuses)} legitimate proofs refused: statuses {refused}"
        assert growth < MAX_RSS_GROWTH_KIB, f"{proxy.kind} grew by {growth} KiB under the flood"
        counters = proxy.counters()
        if proxy.kind != "nginx":  # nothing there reads a filter's metrics (`Nginx.counters`)
            assert counters.get("dpop_gate_allowed") == FLOOD + len(pool), counters
            assert not counters.get("dpop_gate_refused_proof_replay_store"), counters
        # The upstream got every one, as Bearer and without the proof.
        with echo.lock:
            records = list(echo.records)
        assert len(records) == FLOOD + len(pool)
        for r in records:
            h = seen_headers(r)
            assert h["authorization"] == [f"Bearer {token}"], h
            assert_no_client_value(h, "dpop")

        # Replays: a sample of the flooded proofs, each sent on a connection of each worker.
        workers = sorted(conns)
        for k, n in enumerate(range(0, FLOOD, FLOOD // REPLAYS)):
            for w in workers:
                conn = conns[w][k % PER_WORKER]
                marker = uuid.uuid4().hex
                resp = post(conn, token, proofs[n], marker)
                assert_refused(resp, echo.seen(marker), 401, "invalid_dpop_proof", "DPoP")
        counters = proxy.counters()
        if proxy.kind != "nginx":  # as above
            assert counters.get("dpop_gate_refused_proof_replay") == REPLAYS * len(workers), counters
            assert counters.get("dpop_gate_allowed") == FLOOD + len(pool), counters
    finally:
        for cs in conns.values():
            for c in cs:
                c.close()
        proxy.stop()
        echo.stop()
