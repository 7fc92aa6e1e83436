"""Writes BENCHMARKS.md and bench/load.svg from one `make bench` run's outputs (target/bench/).

    python bench/report.py RESULTS_DIR BENCHMARKS.md bench/load.svg
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# The products of one RSA-2048 verification with e = 65537 on 32-bit limbs (64 of them), the fewest
# any scalar schoolbook code in wasm can do: 16 Montgomery squarings (2,016 cross products + 64
# squares, 4,096 in the reduction) and one multiplication (4,096 + 4,096); the conversion into
# Montgomery form is left out.
RSA2048_VERIFY_PRODUCTS = 16 * (2016 + 64 + 4096) + 8192
# The same in src/crypto/rsa.rs, whose 28-bit limbs (76 for 2048 bits, whole blocks of four) buy
# carry-free columns with more products: 16 squarings (2,850 + 76 + 5,776), one multiplication
# (5,776 + 5,776).
RSA2048_CODE_PRODUCTS = 16 * (2850 + 76 + 5776) + 2 * 5776
# ES256 with a cold key: 256 doublings (8 field products) and 75 mixed additions (11: one per
# nonzero wNAF digit, 32 for `u1` and 43 for `u2`), each field product's 81 limb products of `a·b`
# (9 × 29-bit limbs), reductions left out.
P256_COLD_DOUBLINGS = 256
P256_COLD_ADDITIONS = 75
P256_COLD_PRODUCTS = (P256_COLD_DOUBLINGS * 8 + P256_COLD_ADDITIONS * 11) * 81


def load_lines(path: Path) -> dict:
    out = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line.startswith("{"):
                j = json.loads(line)
                if "name" in j:
                    out[j["name"]] = j["ns_per_op"]
    return out


def calibration(path: Path) -> str:
    """The P-256 product form the engine's calibration chose (bench/wasm_bench.rs), as it logged it."""
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.startswith('{"calibration"'):
                return json.loads(line)["calibration"]
    return "—"


def criterion(names: list, root: Path) -> dict:
    """Median of each benchmark from criterion's own files (target/criterion/**/new/)."""
    out = {}
    for bj in root.glob("**/new/benchmark.json"):
        meta = json.loads(bj.read_text())
        if meta.get("full_id") in names:
            est = json.loads((bj.parent / "estimates.json").read_text())
            out[meta["full_id"]] = est["median"]["point_estimate"]
    return out


def openssl(text_sig: str, text_sha: str) -> dict:
    """ns per verification (and per 1 KiB SHA-256) from `openssl speed`."""
    out = {}
    m = re.search(r"^rsa 2048 bits\s+\S+\s+\S+\s+\S+\s+([\d.]+)", text_sig, re.M)
    if m:
        out["RS256"] = out["PS256"] = 1e9 / float(m.group(1))
    for bits, alg in (("256", "ES256"), ("384", "ES384")):
        m = re.search(rf"^\s*{bits} bits ecdsa \(nistp{bits}\)\s+\S+\s+\S+\s+\S+\s+([\d.]+)", text_sig, re.M)
        if m:
            out[alg] = 1e9 / float(m.group(1))
    m = re.search(r"^\s*253 bits EdDSA \(Ed25519\)\s+\S+\s+\S+\s+\S+\s+([\d.]+)", text_sig, re.M)
    if m:
        out["EdDSA"] = 1e9 / float(m.group(1))
    m = re.search(r"^sha256\s+\S+\s+\S+\s+\S+\s+([\d.]+)k", text_sha, re.M)
    if m:
        out["sha256"] = 1024 / (float(m.group(1)) * 1000) * 1e9
    return out


def fmt_ns(ns: float | None) -> str:
    if ns is None:
        return "—"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs" if ns < 1e5 else f"{ns / 1e3:.0f} µs"
    return f"{ns:.0f} ns"


def ratio(a, b) -> str:
    return f"{a / b:.2f}" if a and b else "—"


def svg_chart(cases: list) -> str:
    """Horizontal bars: requests/s per case, with p50/p99 in the label."""
    w, left, bar, gap, top = 760, 250, 22, 10, 40
    h = top + len(cases) * (bar + gap) + 30
    vmax = max(c["rps"] for c in cases) or 1
    colors = {"a": "#7f7f7f", "w": "#bcbd22", "h": "#17becf", "c'": "#f7b6d2", "b": "#1f77b4", "b0": "#aec7e8", "c": "#d62728", "i": "#e377c2", "d": "#ff7f0e", "dk": "#ffbb78", "ka": "#c7c7c7", "kw": "#dbdb8d", "kc": "#ff9896", "e": "#2ca02c", "f": "#9467bd"}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{w / 2}" y="20" text-anchor="middle" font-size="14">Envoy 1.40, one worker, wrk -c32: requests/s (higher is better)</text>',
    ]
    scale = (w - left - 130) / vmax
    for i, c in enumerate(cases):
        y = top + i * (bar + gap)
        bw = max(1, c["rps"] * scale)
        label = f'({c["id"]}) {c["label"]}'
        parts.append(f'<text x="{left - 6}" y="{y + bar * 0.7}" text-anchor="end">{label}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{bw:.1f}" height="{bar}" fill="{colors.get(c["id"], "#555")}"/>')
        note = "" if c.get("valid", True) else " (invalid: errors)"
        parts.append(
            f'<text x="{left + bw + 5:.1f}" y="{y + bar * 0.7}">{c["rps"]:.0f}/s  p50 {c["p50_us"] / 1000:.1f} ms'
            f'  p99 {c["p99_us"] / 1000:.1f} ms{note}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main():
    res, md_path, svg_path = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    meta = json.loads((res / "meta.json").read_text())
    v8 = load_lines(res / "wasm-v8.jsonl")
    wt = load_lines(res / "wasm-wasmtime.jsonl")
    names = list(v8) or list(wt)
    native = criterion(names, REPO / "target" / "criterion")
    ossl = openssl((res / "openssl-sig.txt").read_text(), (res / "openssl-sha.txt").read_text())
    load = json.loads((res / "load.json").read_text())
    cases = {c["id"]: c for c in load["cases"]}

    L = []
    L.append("# Benchmarks\n")
    L.append(
        "Written by `make bench` from one run (`bench/run`): every figure below comes from the same run on the same "
        "machine, so compare **ratios** within this file rather than absolute figures across machines. The machine is "
        "shared (2 cores, other jobs running), so expect a few per cent of noise even in ratios.\n"
    )
    L.append("| | |\n|---|---|")
    for k in ("date", "command", "machine", "cpu", "envoy", "rustc", "node", "wasmtime", "openssl", "wrk"):
        L.append(f"| {k} | {meta.get(k, '—')} |")
    L.append("")

    # 1+2: signatures.
    L.append("## Signature verification\n")
    L.append(
        "One verification (`Jwk::verify`) of a published vector (RFC 7515 A.2 and A.3, RFC 8037 A.4, Wycheproof) "
        "with a key parsed beforehand, as an issuer's keys are (`JwkSet::parse` precomputes P-256 keys). "
        "*ES256 fresh key*: a key fresh from `Jwk::from_value` (a DPoP client's first proof: the small table); "
        "*ES256 cold key*: the JWK parsed and the signature verified, per call. "
        "*Native*: criterion, this machine, release profile. *V8*: the same code compiled to "
        "`wasm32-wasip1` (`bench/wasm_bench.rs`), run by Node.js "
        f"{meta.get('node', '')}, whose V8 is the engine Envoy embeds. *Wasmtime*: the same `.wasm` in Wasmtime "
        "(Kong's engine). Every figure is CPU time (see the notes). *OpenSSL*: `openssl speed -seconds 2` verify "
        "rate, native (PS256 against the RSA-2048 PKCS#1 v1.5 figure: OpenSSL's speed test has no PSS). "
        "×OpenSSL is the time ratio to OpenSSL (1.0 = as fast).\n"
    )
    L.append("| algorithm | OpenSSL native | native (Rust) | ×OpenSSL | wasm V8 | ×OpenSSL | wasm Wasmtime | ×OpenSSL |")
    L.append("|---|---|---|---|---|---|---|---|")
    for n in names:
        if not n.startswith("verify/"):
            continue
        o = ossl.get(n.split("/", 1)[1].split()[0])
        L.append(
            f"| {n.split('/', 1)[1]} | {fmt_ns(o)} | {fmt_ns(native.get(n))} | {ratio(native.get(n), o)} | "
            f"{fmt_ns(v8.get(n))} | {ratio(v8.get(n), o)} | {fmt_ns(wt.get(n))} | {ratio(wt.get(n), o)} |"
        )
    L.append("")

    # The cold-key floor: what a cold-key ES256 costs with this run's doublings and additions alone.
    o = ossl.get("ES256")
    rows = []
    for engine, fig in (("V8", v8), ("Wasmtime", wt)):
        dbl, add = fig.get("p256/1000 point doublings"), fig.get("p256/1000 mixed additions")
        cold = fig.get("verify/ES256 cold key")
        if dbl and add and cold and o:
            dbls = P256_COLD_DOUBLINGS / 1000 * dbl
            floor = dbls + P256_COLD_ADDITIONS / 1000 * add
            rows.append(
                f"| {engine} | {fmt_ns(cold)} ({cold / o:.2f}×) | {fmt_ns(dbls)} ({dbls / o:.2f}×) | "
                f"{fmt_ns(floor)} (**{floor / o:.2f}×**) |"
            )
    if rows:
        L.append(
            "**ES256 with a key never seen before (cold key, target ≤ 2.0× OpenSSL): the floor of this field "
            "arithmetic.** A key not known in advance has no precomputed table, so `u1·G + u2·Q` needs 256 "
            "doublings (shared by both scalars; P-256 has no endomorphism to halve them) and one mixed addition "
            "per nonzero wNAF digit: about 256/(w+1) per scalar, 32 for `u1` (the base table, w = 7) and 43 for "
            "`u2` (the key's 8-point table, w = 5, the cheapest to build for one use). The columns price only "
            "those, at this run's rates from *P-256 internals* below, with the key's parsing and table, the "
            "scalars' inversion and the final check free; ×OpenSSL against `openssl speed` above.\n"
        )
        L.append("| engine | cold key, measured | 256 doublings alone | + 75 mixed additions: the floor |")
        L.append("|---|---|---|---|")
        L.extend(rows)
        L.append("")

    # The multiplier floor: each verifier's products alone, at the engine's own rate for them.
    rows = []
    for engine, fig in (("V8", v8), ("Wasmtime", wt)):
        mac = fig.get("mac/4096 products, carries free")
        if not mac:
            continue
        t = mac / 4096
        for alg, label, products in (
            ("RS256", "RS256", RSA2048_VERIFY_PRODUCTS),
            ("RS256", "RS256, the code's own products (28-bit limbs)", RSA2048_CODE_PRODUCTS),
            ("ES256 cold key", "ES256 cold key", P256_COLD_PRODUCTS),
        ):
            measured, o = fig.get(f"verify/{alg}"), ossl.get(alg.split()[0])
            if measured and o:
                floor = products * t
                rows.append(
                    f"| {engine} | {label} | {t:.3f} ns | {products:,} | {fmt_ns(floor)} (**{floor / o:.2f}×**) | "
                    f"{fmt_ns(measured)} ({measured / o:.2f}×) | {measured / floor:.2f} |"
                )
    if rows:
        L.append(
            "**The multiplier floor.** Wasm's widest exact product is `i64.mul` of two 32-bit limbs, so scalar "
            "schoolbook code in the VM cannot go under its limb products (Karatsuba would trade some of them for "
            "additions; SIMD128's `i64x2.extmul` makes two per instruction). *Per product*: this run's `mac/4096 products, "
            "carries free` (`bench/ops.rs`: a 64×64-limb schoolbook product in 4×4 register blocks, every carry "
            f"free, only `i64.mul` and `i64.add` left per product) over 4,096. *RS256*: {RSA2048_VERIFY_PRODUCTS:,} products (16 "
            "squarings of 2,080 + 4,096 for the reduction, one multiplication of 8,192; the conversion into "
            "Montgomery form free): the fewest products, those of 32-bit limbs. *RS256, the code's own products*: "
            f"{RSA2048_CODE_PRODUCTS:,}, those of src/crypto/rsa.rs, whose 28-bit limbs (76) cost more products but no carries "
            "(bench/NOTES.md, \"RSA: 28-bit limbs\"): its ×floor is how far the code is above its own kernel. *ES256 cold key*: the 81 limb products of `a·b` in each field product (9 "
            "limbs of 29 bits; every reduction free) for the 256 doublings (8 field products each) and 75 mixed "
            "additions (11 each) of the table above. ×OpenSSL against `openssl speed` above; *×floor* is how far "
            "the code is above it.\n"
        )
        L.append("| engine | verification | per product | products | the floor | measured | ×floor |")
        L.append("|---|---|---|---|---|---|---|")
        L.extend(rows)
        L.append("")

    L.append("## Validation steps and whole decisions\n")
    L.append(
        "`token/validate`: parse + signature (with the issuer's 2-key JWKS, by `kid`) + claims of a 1.2 KB "
        "Keycloak-like access token. `dpop/verify_proof`: `dpop::verify_proof` (parse, claims, `htu`, `ath`, "
        "signature, thumbprint), the proof's key parsed from it. `jwks/parse`: `JwkSet::parse` of an RSA + P-256 "
        "set with `x5c` (2 KB). `authz/*`: the whole `decision::authorize` decision, with the verified-token cache "
        "and the proof-key cache as the filter keeps them (the replay store is a no-op here; under load below it is "
        "the real shared-data one). `replay/record`: this filter's side of recording one proof in the shared replay "
        "store (its digest, and the check and rewrite of a bucket of 73 entries, the average at 20 000 proofs/s), "
        "without the host's copies of the value. ×native is the wasm time over the native time.\n"
    )
    L.append("| operation | native (Rust) | wasm V8 | ×native | wasm Wasmtime | ×native | OpenSSL native |")
    L.append("|---|---|---|---|---|---|---|")
    for n in names:
        if n.startswith(("verify/", "p256/", "mac/")):
            continue
        o = ossl.get("sha256") if n.startswith("sha256") else None
        L.append(
            f"| {n} | {fmt_ns(native.get(n))} | {fmt_ns(v8.get(n))} | {ratio(v8.get(n), native.get(n))} | "
            f"{fmt_ns(wt.get(n))} | {ratio(wt.get(n), native.get(n))} | {fmt_ns(o)} |"
        )
    L.append("")

    L.append("## P-256 internals\n")
    L.append(
        "The building blocks of the ES256 verifier (`src/crypto/p256.rs`), for performance work: chained field "
        "multiplications (and one inversion mod n), Jacobian point doublings, mixed (Jacobian + affine) additions "
        "and wNAF recodings, 1000 of each per call; a key's validation with its small table, and with its "
        "precomputed table too.\n"
    )
    L.append(
        "*P-256 product form.* The point formulas' field product comes in two forms, every product inlined or "
        "every product a call (src/crypto/weierstrass.rs); the filter times both when it starts and keeps the "
        "faster (`p256::calibrate`), and the runs above and the rows not marked with a form use the one chosen. "
        "What each engine's calibration logged in this run: "
        f"V8 «{calibration(res / 'wasm-v8.jsonl')}», Wasmtime «{calibration(res / 'wasm-wasmtime.jsonl')}». "
        "The rows *…, inline form* and *…, call form* time each form by itself (RFC 7515 A.3, the key's small "
        "table).\n"
    )
    L.append("| operation | native (Rust) | wasm V8 | ×native | wasm Wasmtime | ×native |")
    L.append("|---|---|---|---|---|---|")
    for n in names:
        if n.startswith("p256/"):
            L.append(
                f"| {n.split('/', 1)[1]} | {fmt_ns(native.get(n))} | {fmt_ns(v8.get(n))} | "
                f"{ratio(v8.get(n), native.get(n))} | {fmt_ns(wt.get(n))} | {ratio(wt.get(n), native.get(n))} |"
            )
    L.append("")

    # 3: load.
    L.append("## Envoy under load\n")
    L.append(
        f"{load['envoy_version']}, V8, `--concurrency 1` (one worker), a `direct_response` route (no upstream), "
        f"loopback; `{load['wrk_version']}`, `-t1 -c{load['connections']}`, each request built by `bench/wrk.lua`. "
        f"One Envoy per case, {load['warmup']:.0f} s warm-up. Cases a, w, h, b, b0, c (one fixed request each) run side by "
        f"side: {load.get('rounds', 1)} interleaved rounds of ~{load['duration'] / load.get('rounds', 1):.0f} s each, "
        "order rotated per round, so a change in the machine's load hits them alike; requests/s is all requests over "
        f"all rounds, p50/p99 the median round's. DPoP cases d, e, f: one run of up to {load['duration']:.0f} s over "
        "proofs signed just before it (shorter when the 100 000 proofs `bench/load.py` signs would run out); case r: "
        "see below. The same RS256 access token "
        f"({load['token_bytes']} bytes, "
        "Keycloak-like claims, `aud` checked) in every case; DPoP cases use a DPoP-bound token of the same kind and "
        "a fresh proof per request. Three checked requests returned 200 before each run. "
        "`jwt_authn`: `local_jwks` inline, `forward: true`; *JWT cache* is `jwt_cache_config` (its best setting). "
        "This filter: static `jwks`, `dpop_max_age_seconds: 300` (case r: the defaults), token cache on (default).\n"
    )
    L.append(
        "| case | requests/s | vs (a) | Envoy CPU per request | vs (a), by CPU | p50 | p99 | requests "
        "| non-2xx + socket errors | measured | req/s per round | Envoy RSS |"
    )
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    a = cases.get("a", {}).get("rps")
    cpu_a = cases.get("a", {}).get("cpu_us_per_req")
    for c in load["cases"]:
        flag = "" if c.get("valid") else " **invalid**"
        cpu = c.get("cpu_us_per_req")
        L.append(
            f"| ({c['id']}) {c['label']} | {c['rps']:.0f}{flag} | {ratio(c['rps'], a)} | "
            f"{f'{cpu:.1f} µs' if cpu else '—'} | {ratio(cpu_a, cpu)} | {c['p50_us'] / 1000:.2f} ms | "
            f"{c['p99_us'] / 1000:.2f} ms | {c['requests']} | {c['errors']} | {c['duration_s']:.0f} s | "
            f"{', '.join(str(x) for x in c.get('runs_rps', [])) or '—'} | "
            f"{c['rss_kib'] / 1024:.1f} MiB |"
        )
    L.append("")

    def r(x, y):
        rps = ratio(cases.get(x, {}).get("rps"), cases.get(y, {}).get("rps"))
        # By CPU: requests per CPU-second of Envoy, x over y (y's CPU per request over x's).
        cpu = ratio(cases.get(y, {}).get("cpu_us_per_req"), cases.get(x, {}).get("cpu_us_per_req"))
        return f"{rps} | {cpu}"

    L.append(
        "Two measures of each ratio: *throughput* (requests/s over requests/s) and *by CPU* (Envoy's CPU time per "
        "request, inverted: the throughput one worker would reach if the machine were its own). The second is much "
        "steadier on this shared machine; when they disagree, trust it more.\n"
    )
    L.append("| ratio | throughput | by CPU | target |")
    L.append("|---|---|---|---|")
    L.append(f"| **c/a** (Bearer, cached token, vs no auth) | {r('c', 'a')} | ≥ 0.9 |")
    L.append(f"| **c/b** (Bearer vs `jwt_authn` with its cache) | {r('c', 'b')} | ≥ 1.0 |")
    L.append(f"| w/a (a no-op proxy-wasm filter vs no auth: the floor for any wasm filter) | {r('w', 'a')} | |")
    L.append(f"| **c/w** (Bearer vs the no-op wasm filter: this filter's own cost) | {r('c', 'w')} | ≥ 0.95 by CPU |")
    if "h" in cases:
        L.append(f"| h/w (the host calls of a cached Bearer request alone vs the no-op filter: their floor in Envoy) | {r('h', 'w')} | |")
        L.append(f"| c/h (Bearer vs those host calls alone: the filter's own wasm work) | {r('c', 'h')} | |")
    if "c'" in cases:
        other, cc = cases["c'"]["label"].split(", ")[-1], r("c", "c'")
        L.append(f"| c/c' (Bearer: this build vs `{other}`) | {cc} | |")
    if "kc" in cases:
        L.append(f"| **kc/ka** (Kong engine: Bearer, cached token, vs no filter) | {r('kc', 'ka')} | ≥ 0.8 |")
        L.append(f"| kw/ka (Kong engine: the no-op wasm filter vs no filter: the floor) | {r('kw', 'ka')} | |")
        L.append(f"| kc/kw (Kong engine: this filter's own cost) | {r('kc', 'kw')} | |")
    L.append(f"| c/b0 (Bearer vs `jwt_authn` without cache) | {r('c', 'b0')} | |")
    if "i" in cases:
        L.append(f"| i/c (an opaque token with a cached introspection answer vs a cached Bearer JWT) | {r('i', 'c')} | |")
    L.append(f"| b/a (`jwt_authn` with cache vs no auth) | {r('b', 'a')} | |")
    L.append(f"| **d/a** (DPoP ES256 vs no auth) | {r('d', 'a')} | ≥ 0.25 by CPU |")
    a_us = cases.get("a", {}).get("cpu_us_per_req")
    h_us = cases.get("h", {}).get("cpu_us_per_req")
    if a_us and h_us and ossl.get("ES256"):
        # Every DPoP request carries a fresh proof: one ES256 verification that no cache can save,
        # and it makes at least the host calls of a Bearer decision (case h). Even with that
        # verification at OpenSSL's native speed and everything else free, d/a cannot exceed this.
        ceiling = a_us / (h_us + ossl["ES256"] / 1e3)
        L.append(
            "| d/a's ceiling: the host calls of a Bearer decision (h) plus one ES256 verification at "
            f"`openssl speed`'s native rate, everything else free | — | {ceiling:.2f} | |"
        )
    L.append(f"| dk/a (DPoP ES256, a new client key and token on every request, vs no auth) | {r('dk', 'a')} | |")
    L.append(f"| e/a (DPoP EdDSA vs no auth) | {r('e', 'a')} | |")
    L.append(f"| f/a (DPoP RS256 vs no auth) | {r('f', 'a')} | |")
    L.append("")
    L.append(f"![requests/s per case]({svg_path.relative_to(md_path.parent)})\n")

    if "r" in cases:
        c = cases["r"]
        refused = ", ".join(f"`{k}` {v}" for k, v in sorted(c.get("refused", {}).items())) or "none"
        L.append("### The replay store at full rate (case r)\n")
        L.append(
            f"One Envoy worker, DPoP ES256 proofs, the default settings (`dpop_max_age_seconds` 60, "
            f"`clock_skew_seconds` 60: each proof's entry lives 120 s), one wrk run of {c['duration_s']:.0f} s in "
            "which every request carries a proof made a moment before it is sent (a child process signs them into "
            "a pipe that `bench/wrk.lua` reads), so no proof is reused and every `iat` is current. The run passes "
            "only if every response is 2xx (`bench/run` fails otherwise).\n"
        )
        L.append("| requests | requests/s | non-2xx + socket errors | refusals by the filter (counters) | "
                 "live entries at the end (≈ 120 s × rate) | Envoy VmRSS before → after |")  # fmt: skip
        L.append("|---|---|---|---|---|---|")
        L.append(
            f"| {c['requests']} | {c['rps']:.0f} | **{c['errors']}** | {refused} | ≈ {min(c['requests'], 120 * c['rps']):,.0f} | "
            f"{c.get('rss_before_kib', 0) / 1024:.1f} → {c['rss_kib'] / 1024:.1f} MiB |"
        )
        L.append("")

    # 4: footprint.
    L.append("## Footprint\n")
    L.append("| what | size |")
    L.append("|---|---|")
    L.append(f"| `dpop_gate.wasm` (`make build`: release, LTO, opt-level 3, stripped; not `wasm-opt`ed) | "
             f"{meta['wasm_bytes']:,} bytes ({meta['wasm_bytes'] / 1024:.0f} KiB) |")  # fmt: skip
    if "a" in cases and "c" in cases:
        ra, rc = cases["a"]["rss_kib"], cases["c"]["rss_kib"]
        L.append(f"| Envoy VmRSS, no filter (case a, after its run) | {ra / 1024:.1f} MiB |")
        L.append(f"| Envoy VmRSS, with the filter (case c, after its run) | {rc / 1024:.1f} MiB (+{(rc - ra) / 1024:.1f} MiB) |")
        if "w" in cases:
            L.append(f"| Envoy VmRSS, the no-op wasm filter (case w) | {cases['w']['rss_kib'] / 1024:.1f} MiB |")
        if "b" in cases:
            L.append(f"| Envoy VmRSS, `jwt_authn` (case b) | {cases['b']['rss_kib'] / 1024:.1f} MiB |")
    rss = load.get("footprint") or {}
    for workers in (1, 4):
        if f"none_{workers}" in rss and f"filter_{workers}" in rss:
            none, filt = rss[f"none_{workers}"], rss[f"filter_{workers}"]
            noop = rss.get(f"noop_{workers}")
            noop_text = f"; the no-op wasm filter {noop / 1024:.1f} MiB (+{(noop - none) / 1024:.1f})" if noop else ""
            L.append(f"| Envoy VmRSS, {workers} worker{'s' if workers > 1 else ''} (case rss): no filter / this filter | "
                     f"{none / 1024:.1f} / {filt / 1024:.1f} MiB (**+{(filt - none) / 1024:.1f} MiB**){noop_text} |")  # fmt: skip
    if "ka" in cases and "kc" in cases:
        ka, kc = cases["ka"]["rss_kib"], cases["kc"]["rss_kib"]
        kw = cases.get("kw", {}).get("rss_kib")
        L.append(f"| Kong engine VmRSS, master + 1 worker: no filter (the no-op module loaded) / this filter | "
                 f"{ka / 1024:.1f} / {kc / 1024:.1f} MiB (+{(kc - ka) / 1024:.1f} MiB)"
                 f"{f'; the no-op filter {kw / 1024:.1f} MiB' if kw else ''} |")  # fmt: skip
    heaps = {name: (rss[f"{name}_1"], rss[f"{name}_1_heap"]) for name in ("none", "noop", "filter") if f"{name}_1_heap" in rss}
    L.append("")
    if "none" in heaps and "filter" in heaps:
        L.append("Where it goes, 1 worker (case rss; MiB over no filter in brackets). *In use* and *kept free* are Envoy's "
                 "allocator (tcmalloc, admin `/memory`: `allocated`, and `total_physical_bytes` less it: memory freed "
                 "and not returned to the system); *outside it* is VmRSS less `total_physical_bytes` (V8's heaps and "
                 "compiled code, the Envoy binary).\n")  # fmt: skip
        L.append("| | VmRSS | in use (tcmalloc) | kept free (tcmalloc) | outside tcmalloc |")
        L.append("|---|---|---|---|---|")
        base = heaps["none"]

        def parts(v):
            return v[0], v[1]["allocated"], v[1]["physical"] - v[1]["allocated"], v[0] - v[1]["physical"]

        labels = {"none": "no filter", "noop": "the no-op wasm filter", "filter": "this filter"}
        for name, v in heaps.items():
            cells = [f"{x / 1024:.1f}" + ("" if name == "none" else f" ({(x - b) / 1024:+.1f})") for x, b in zip(parts(v), parts(base))]
            L.append(f"| {labels[name]} | " + " | ".join(cells) + " |")
    L.append("")

    notes = REPO / "bench" / "NOTES.md"
    if notes.is_file():
        L.append(notes.read_text().strip() + "\n")

    md_path.write_text("\n".join(L))
    svg_path.write_text(svg_chart(load["cases"]))


if __name__ == "__main__":
    main()
