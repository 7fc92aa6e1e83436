"""Keys, JWKs, access tokens and DPoP proofs for the benchmarks, made with `cryptography` alone
(independent of the filter's code).

    python bench/mint.py fixtures OUT.json   # the micro-benchmark fixtures (bench/fixtures.json)

`load.py` imports this module to mint the load-test tokens and fresh proofs at run time.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import sys
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.x509.oid import NameOID

ISSUER = "https://idp.bench.example/realms/bench"
AUDIENCE = "https://api.bench.example"
# Fixtures are checked at a fixed instant (the core takes the time as a parameter).
FIXTURE_NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
FAR_EXP = 4_102_444_800  # 2100-01-01


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def generate(kind: str):
    """A private key: RSA (2048), P-256 or Ed25519."""
    if kind == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "P-256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(kind)


def public_jwk(key, **extra) -> dict:
    if isinstance(key, rsa.RSAPrivateKey):
        pub = key.public_key().public_numbers()
        j = {"kty": "RSA", "n": _uint(pub.n), "e": _uint(pub.e)}
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        pub = key.public_key().public_numbers()
        j = {"kty": "EC", "crv": "P-256", "x": b64url(pub.x.to_bytes(32, "big")), "y": b64url(pub.y.to_bytes(32, "big"))}
    else:
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        j = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    j.update(extra)
    return j


def thumbprint(jwk: dict) -> str:
    """RFC 7638."""
    members = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}[jwk["kty"]]
    canon = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canon.encode()).digest())


def sign(alg: str, key, data: bytes) -> bytes:
    if alg == "RS256":
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if alg == "ES256":
        r, s = utils.decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if alg == "EdDSA":
        return key.sign(data)
    raise ValueError(alg)


def jws(header: dict, claims: dict, key, alg: str) -> str:
    h = b64url(json.dumps(dict(header, alg=alg), separators=(",", ":")).encode())
    p = b64url(json.dumps(claims, separators=(",", ":")).encode())
    return f"{h}.{p}.{b64url(sign(alg, key, f'{h}.{p}'.encode()))}"


def access_claims(iat: int, exp: int, jkt: str | None = None) -> dict:
    """A Keycloak-like client-credentials access token."""
    c = {
        "exp": exp,
        "iat": iat,
        "jti": str(uuid.uuid4()),
        "iss": ISSUER,
        "aud": [AUDIENCE, "account"],
        "sub": "0b3f6c2a-7d1e-4b8a-9c55-2f1e8d0a6b71",
        "typ": "Bearer",
        "azp": "partner-acme",
        "acr": "1",
        "realm_access": {"roles": ["default-roles-bench", "offline_access", "uma_authorization"]},
        "resource_access": {"account": {"roles": ["manage-account", "view-profile"]}},
        "scope": "profile email webhook:write",
        "clientHost": "192.0.2.10",
        "email_verified": False,
        "preferred_username": "service-account-partner-acme",
        "clientAddress": "192.0.2.10",
        "client_id": "partner-acme",
    }
    if jkt:
        c["cnf"] = {"jkt": jkt}
    return c


def proof(key, alg: str, htm: str, htu: str, access_token: str, iat: int) -> str:
    header = {"typ": "dpop+jwt", "jwk": public_jwk(key)}
    claims = {
        "jti": str(uuid.uuid4()),
        "htm": htm,
        "htu": htu,
        "iat": iat,
        "ath": b64url(hashlib.sha256(access_token.encode()).digest()),
    }
    return jws(header, claims, key, alg)


def self_signed_x5c(key) -> list:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")])
    t = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(t)
        .not_valid_after(t + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]


def issuer_keys():
    """The issuer's signing keys and a realistic 2-key JWKS (RSA + P-256, Keycloak's layout: x5c,
    x5t, x5t#S256)."""
    rsa_key, ec_key = generate("RSA"), generate("P-256")
    keys = []
    for kid, key, alg in (("rsa-1", rsa_key, "RS256"), ("ec-1", ec_key, "ES256")):
        x5c = self_signed_x5c(key)
        der = base64.b64decode(x5c[0])
        keys.append(
            public_jwk(
                key,
                kid=kid,
                use="sig",
                alg=alg,
                x5c=x5c,
                **{"x5t": b64url(hashlib.sha1(der).digest()), "x5t#S256": b64url(hashlib.sha256(der).digest())},
            )
        )
    # Keycloak's member order: kid, kty, alg, use, then the key.
    return rsa_key, ec_key, {"keys": keys}


def fixtures() -> dict:
    rsa_key, _, jwks = issuer_keys()
    token = jws({"typ": "JWT", "kid": "rsa-1"}, access_claims(FIXTURE_NOW - 10, FAR_EXP), rsa_key, "RS256")
    htm, htu = "POST", "https://api.bench.example/webhook"
    dpop = {}
    for alg, kind in (("ES256", "P-256"), ("EdDSA", "Ed25519"), ("RS256", "RSA")):
        pkey = generate(kind)
        bound = jws(
            {"typ": "at+jwt", "kid": "rsa-1"},
            access_claims(FIXTURE_NOW - 10, FAR_EXP, thumbprint(public_jwk(pkey))),
            rsa_key,
            "RS256",
        )
        dpop[alg] = {"token": bound, "proof": proof(pkey, alg, htm, htu, bound, FIXTURE_NOW - 2)}
    return {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "now": FIXTURE_NOW,
        "htm": htm,
        "htu": htu,
        "jwks": jwks,
        "token": token,
        "dpop": dpop,
    }


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "fixtures":
        sys.exit(__doc__)
    with open(sys.argv[2], "w") as f:
        json.dump(fixtures(), f, indent=1)
        f.write("\n")
