#!/usr/bin/env python3
"""Writes the committed seed corpus under fuzz/seeds/<target>/: real tokens, proofs, keys, key
sets, discovery documents, configurations and requests, plus near-misses of each (alg none, crit,
private key in a proof, wrong htu, stale nonce, ...), so the fuzzer starts from inputs that reach
deep into every check. Deterministic keys (P-256 scalars 0x01.. and 0x02.., as tests/authz.rs)
and fixed times (NOW below, the fuzz targets' clock); ECDSA signatures differ per run.

Needs only the `cryptography` package. Run from the repository root: python3 fuzz/make_seeds.py
"""
import base64
import hashlib
import hmac
import json
import pathlib
import shutil
import struct

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

NOW = 1_700_000_000
ISS = "https://idp.example.com/realms/test"
URI = "https://api.example.com/orders"
# The configured nonce secret of the nonce-required configuration in fuzz_targets/authz.rs.
NONCE_SECRET = bytes(range(32))
NONCE_STEP = 60
ROOT = pathlib.Path(__file__).resolve().parent / "seeds"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def p256(seed: int) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(bytes([seed]) * 32, "big"), ec.SECP256R1())


def ec_jwk(key, kid=None, private=False):
    nums = key.public_key().public_numbers()
    size = (key.curve.key_size + 7) // 8
    jwk = {"kty": "EC", "crv": "P-256" if size == 32 else "P-384",
           "x": b64(nums.x.to_bytes(size, "big")), "y": b64(nums.y.to_bytes(size, "big"))}
    if private:
        jwk["d"] = b64(key.private_numbers().private_value.to_bytes(size, "big"))
    if kid:
        jwk["kid"] = kid
    return jwk


def signed_with(alg: str, key, header: dict, claims: dict) -> str:
    """A compact JWS with any of the algorithms the filter implements but ES256 (see `sign`)."""
    signing_input = f"{b64(json.dumps(dict(header, alg=alg)).encode())}.{b64(json.dumps(claims).encode())}".encode()
    if alg == "EdDSA":
        sig = key.sign(signing_input)
    elif alg == "ES384":
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA384())))
        sig = r.to_bytes(48, "big") + s.to_bytes(48, "big")
    elif alg == "RS256":
        sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:  # PS256: salt length = hash length, as RFC 7518 3.5 requires
        sig = key.sign(signing_input, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    return f"{signing_input.decode()}.{b64(sig)}"


def thumbprint(key) -> str:
    j = ec_jwk(key)
    canonical = json.dumps({"crv": j["crv"], "kty": "EC", "x": j["x"], "y": j["y"]}, separators=(",", ":"))
    return b64(hashlib.sha256(canonical.encode()).digest())


def sign(key, header, claims) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def nonce(step_now: int) -> str:
    msg = b"dpop-gate nonce v1\x00" + struct.pack(">Q", step_now // NONCE_STEP)
    return b64(hmac.new(NONCE_SECRET, msg, hashlib.sha256).digest())


ISSUER_KEY, HOLDER_KEY, OTHER_KEY = p256(1), p256(2), p256(3)
CLAIMS = {"iss": ISS, "aud": "api", "exp": NOW + 300, "iat": NOW, "sub": "svc-partner", "scope": "read write",
          "realm_access": {"roles": ["partner", "webhook"]}}
BOUND = dict(CLAIMS, cnf={"jkt": thumbprint(HOLDER_KEY)})
TOKEN_HEADER = {"alg": "ES256", "typ": "JWT", "kid": "idp-1"}
PLAIN_TOKEN = sign(ISSUER_KEY, TOKEN_HEADER, CLAIMS)
BOUND_TOKEN = sign(ISSUER_KEY, TOKEN_HEADER, BOUND)


def proof(token, method="POST", uri=URI, jti="jti-1", key=HOLDER_KEY, extra=None, header_extra=None):
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": ec_jwk(key)}
    header.update(header_extra or {})
    claims = {"jti": jti, "htm": method, "htu": uri, "iat": NOW}
    if token is not None:
        claims["ath"] = b64(hashlib.sha256(token.encode()).digest())
    claims.update(extra or {})
    return sign(key, header, claims)


def ed_jwk_of(key) -> dict:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}


def write(target: str, name: str, content) -> None:
    d = ROOT / target
    d.mkdir(parents=True, exist_ok=True)
    if not isinstance(content, (str, bytes)):
        content = json.dumps(content, indent=1)
    (d / name).write_bytes(content.encode() if isinstance(content, str) else content)


def bucket(index: int, entries, quarantine_until=0, base=NOW, secret=bytes([7]) * 16) -> bytes:
    """A replay-store bucket as src/replay.rs lays it out: tag, secret, quarantine end, base time,
    then (8-byte digest, 2-byte expiry after base) entries."""
    value = b"R3" + struct.pack(">H", index) + secret + struct.pack(">II", quarantine_until, base)
    return value + b"".join(d + struct.pack(">H", off) for d, off in entries)


def replay_seeds() -> None:
    """fuzz_targets/replay_bucket.rs: (index, digest, lifetime) then the stored value."""
    def case(name, index, digest, lifetime, value):
        write("replay_bucket", name, struct.pack(">H", index) + digest + struct.pack(">H", lifetime) + value)

    live = [(bytes([i]) * 8, 60 + i) for i in range(1, 6)]
    case("empty", 3, b"\x01" * 8, 120, bucket(3, []))
    case("live_entries", 3, b"\x09" * 8, 120, bucket(3, live))
    case("replay", 3, b"\x02" * 8, 120, bucket(3, live))
    case("expired_entries", 3, b"\x09" * 8, 120, bucket(3, live, base=NOW - 100))
    case("quarantined", 3, b"\x09" * 8, 120, bucket(3, [], quarantine_until=NOW + 10800))
    case("other_secret", 3, b"\x09" * 8, 120, bucket(3, live, secret=bytes(16)))
    case("old_layout", 3, b"\x09" * 8, 120, bytes(32))


def field_seeds() -> None:
    """fuzz_targets/field_differential.rs: every P-256 operation mod p and mod n at the edges (m - 1,
    0, 1, the widest unreduced operands), and RSA Montgomery products for moduli of all ones, of a
    lone top bit, and 2048 to 4097 bits."""
    p = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

    def wide(v: int) -> tuple:
        return (v % (1 << 256)).to_bytes(32, "big"), v >> 256

    for op in range(8):
        for scalar, m in ((0, p), (1, n)):
            selector = (op << 2) | (scalar << 1)
            for name, a, b in (("edge", m - 1, m - 1), ("small", 1, 0), ("wide", 3 * m - 3, 2 * m - 2)):
                (ab, ah), (bb, bh) = wide(a), wide(b)
                write("field_differential", f"p256_op{op}_{'n' if scalar else 'p'}_{name}",
                      bytes([selector]) + ab + bb + bytes([ah, bh]))
    for name, bits in (("ones_2048", 2048), ("odd_3073", 3073), ("ones_4097", 4097)):
        selector = 0x01
        sep = bytes([0xFE])
        modulus = ((1 << bits) - 1).to_bytes((bits + 7) // 8, "big").replace(b"\xfe", b"\xfd")
        a = bytes((i * 37 + 11) % 256 for i in range(len(modulus))).replace(b"\xfe", b"\x00")
        write("field_differential", f"rsa_{name}", bytes([selector]) + modulus + sep + a + sep + a[::-1])
        write("field_differential", f"rsa_{name}_square", bytes([selector | 2]) + modulus + bytes([0xFC]) + a
              + bytes([0xFC]) + a[::-1])


def main() -> None:
    shutil.rmtree(ROOT, ignore_errors=True)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rn = rsa_key.public_key().public_numbers()
    rsa_jwk = {"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256",
               "n": b64(rn.n.to_bytes(256, "big")), "e": b64(rn.e.to_bytes(3, "big"))}
    ed_jwk = ed_jwk_of(ed25519.Ed25519PrivateKey.generate())
    p384_jwk = ec_jwk(ec.generate_private_key(ec.SECP384R1()), kid="p384")
    issuer_jwk = ec_jwk(ISSUER_KEY, kid="idp-1")

    # jws: tokens and proofs, valid and refused shapes.
    write("jws", "token", PLAIN_TOKEN)
    write("jws", "bound_token", BOUND_TOKEN)
    write("jws", "proof", proof(BOUND_TOKEN))
    write("jws", "alg_none", b64(b'{"alg":"none"}') + "." + b64(json.dumps(CLAIMS).encode()) + ".")
    write("jws", "crit", sign(ISSUER_KEY, dict(TOKEN_HEADER, crit=["exp"]), CLAIMS))
    write("jws", "b64_false", sign(ISSUER_KEY, dict(TOKEN_HEADER, b64=False), CLAIMS))
    write("jws", "hs256", sign(ISSUER_KEY, dict(TOKEN_HEADER, alg="HS256"), CLAIMS))
    write("jws", "jku_x5u", sign(ISSUER_KEY, dict(TOKEN_HEADER, jku="https://evil.example/jwks",
                                                  x5u="https://evil.example/cert"), CLAIMS))

    # jwk: one key per type, plus keys that must be refused.
    for name, jwk in {"ec_p256": issuer_jwk, "ec_p384": p384_jwk, "okp": ed_jwk, "rsa": rsa_jwk,
                      "ec_private": ec_jwk(HOLDER_KEY, private=True), "oct": {"kty": "oct", "k": b64(b"secret")},
                      "enc_use": dict(rsa_jwk, use="enc"), "key_ops": dict(issuer_jwk, key_ops=["encrypt"])}.items():
        write("jwk", name, jwk)

    # jwks: a Keycloak-like set (signing and encryption keys), an empty one, junk.
    write("jwks", "keycloak", {"keys": [issuer_jwk, rsa_jwk, dict(rsa_jwk, kid="enc", use="enc", alg="RSA-OAEP"),
                                        ed_jwk, p384_jwk]})
    write("jwks", "empty", {"keys": []})
    write("jwks", "not_array", {"keys": {"kty": "EC"}})
    write("jwks", "shared", struct.pack(">Q", NOW) + json.dumps({"keys": [issuer_jwk]}).encode())

    # discovery: Keycloak's metadata and near-misses.
    meta = {"issuer": ISS, "jwks_uri": f"{ISS}/protocol/openid-connect/certs",
            "token_endpoint": f"{ISS}/protocol/openid-connect/token",
            "dpop_signing_alg_values_supported": ["ES256", "RS256"]}
    write("discovery", "keycloak", meta)
    write("discovery", "other_issuer", dict(meta, issuer=ISS + "/"))
    write("discovery", "relative_jwks_uri", dict(meta, jwks_uri="/certs"))
    write("discovery", "ipv6", dict(meta, jwks_uri="http://[::1]:8080/certs?x=1"))

    # config: every shipped example, and the nonce shapes.
    repo = ROOT.parent.parent
    for kind in ("valid", "invalid", "parser_only"):
        for f in sorted((repo / "tests/data/configs" / kind).glob("*.json")):
            write("config", f"{kind}_{f.name}", f.read_bytes())
    write("config", "nonce", {"issuer": ISS, "dpop": "required",
                              "dpop_nonce": {"secret": b64(NONCE_SECRET), "step_seconds": NONCE_STEP}})
    write("config", "nonce_shared_secret", {"issuer": ISS, "dpop_nonce": {}})

    # htu: two URIs per input, equal or not after normalisation.
    for name, pair in {
        "same": (URI, URI),
        "case_port": ("HTTPS://API.Example.com:443/orders", URI),
        "dots": ("https://api.example.com/a/./b/../orders", URI),
        "percent": ("https://api.example.com/%6Frders%2f", "https://api.example.com/orders%2F"),
        "query": (URI + "?a=1#frag", URI),
        "ipv6": ("http://[::1]:80/x", "http://[::1]/x"),
        "userinfo": ("https://user@api.example.com/orders", URI),
        "bad_port": ("https://api.example.com:99999/orders", URI),
    }.items():
        write("htu", name, "\n".join(pair))

    # dpop_proof: method, request URI, access token, proof (one per line).
    def proof_case(name, p, method="POST", uri=URI, token=BOUND_TOKEN):
        write("dpop_proof", name, "\n".join([method, uri, token, p]))

    proof_case("valid", proof(BOUND_TOKEN))
    proof_case("no_ath", proof(None), token="")
    proof_case("htu_tricks", proof(BOUND_TOKEN, uri="HTTPS://api.example.com:443/x/../orders?q=1"))
    proof_case("wrong_method", proof(BOUND_TOKEN, method="GET"))
    proof_case("private_jwk", proof(BOUND_TOKEN, header_extra={"jwk": ec_jwk(HOLDER_KEY, private=True)}))
    proof_case("iat_string", proof(BOUND_TOKEN, extra={"iat": str(NOW)}))
    proof_case("nonce", proof(BOUND_TOKEN, extra={"nonce": nonce(NOW)}))
    # The other algorithms, so mutations reach every verifier (the proof's jwk is its own key).
    ed_key, p384_key = ed25519.Ed25519PrivateKey.generate(), ec.generate_private_key(ec.SECP384R1())
    ath = b64(hashlib.sha256(BOUND_TOKEN.encode()).digest())
    for alg, key, jwk in [("EdDSA", ed_key, ed_jwk_of(ed_key)), ("ES384", p384_key, ec_jwk(p384_key)),
                          ("RS256", rsa_key, rsa_jwk), ("PS256", rsa_key, rsa_jwk)]:
        header = {"typ": "dpop+jwt", "jwk": {k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y", "n", "e")}}
        claims = {"jti": "jti-" + alg, "htm": "POST", "htu": URI, "iat": NOW, "ath": ath}
        proof_case(f"alg_{alg}", signed_with(alg, key, header, claims))

    # authz: method, request URI, then `a:` Authorization and `d:` DPoP header lines.
    def request(name, auth=(), dpop=(), method="POST", uri=URI):
        lines = [method, uri] + [f"a:{a}" for a in auth] + [f"d:{d}" for d in dpop]
        write("authz", name, "\n".join(lines))

    request("bearer", [f"Bearer {PLAIN_TOKEN}"])
    request("bearer_lower_case", [f"bearer {PLAIN_TOKEN}"])
    request("dpop", [f"DPoP {BOUND_TOKEN}"], [proof(BOUND_TOKEN)])
    request("dpop_nonce", [f"DPoP {BOUND_TOKEN}"], [proof(BOUND_TOKEN, extra={"nonce": nonce(NOW)})])
    request("dpop_nonce_previous_step", [f"DPoP {BOUND_TOKEN}"],
            [proof(BOUND_TOKEN, extra={"nonce": nonce(NOW - NONCE_STEP)})])
    request("bound_as_bearer", [f"Bearer {BOUND_TOKEN}"])
    request("plain_as_dpop", [f"DPoP {PLAIN_TOKEN}"], [proof(PLAIN_TOKEN)])
    request("two_authorization", [f"Bearer {PLAIN_TOKEN}", f"Bearer {PLAIN_TOKEN}"])
    request("two_proofs", [f"DPoP {BOUND_TOKEN}"], [proof(BOUND_TOKEN), proof(BOUND_TOKEN, jti="jti-2")])
    request("empty_bearer", ["Bearer "])
    request("wrong_holder", [f"DPoP {BOUND_TOKEN}"], [proof(BOUND_TOKEN, key=OTHER_KEY)])
    request("no_host", [f"DPoP {BOUND_TOKEN}"], [proof(BOUND_TOKEN)], uri="")

    replay_seeds()
    field_seeds()


if __name__ == "__main__":
    main()
