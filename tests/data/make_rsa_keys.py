"""Writes tests/data/rsa_keys.json: RSA private keys as JWKs (RFC 7518 6.3.2), for the differential
tests (tests/differential.rs) and the differential fuzz target (fuzz/verify_differential), so the
large sizes need no key generation at test time. Test keys only, never used for anything else.

Sizes: 3072 and 4096 (the common large keys), and 3073 and 4097 bits: one bit over a multiple of
eight, so PSS's emBits = modBits - 1 is a multiple of eight and the encoded message is one octet
shorter than the modulus, and the top limb holds one bit. Exponents 65537 and 3 (the smallest odd).

    python3 tests/data/make_rsa_keys.py   # needs the `cryptography` package
"""

import base64
import json
import os

from cryptography.hazmat.primitives.asymmetric import rsa


def b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def main():
    keys = []
    for bits, e in [(3072, 65537), (3073, 3), (4096, 65537), (4097, 3)]:
        while True:
            k = rsa.generate_private_key(public_exponent=e, key_size=bits)
            if k.key_size == bits:
                break
        priv = k.private_numbers()
        pub = priv.public_numbers
        keys.append({
            "kty": "RSA", "bits": bits,
            "n": b64(pub.n), "e": b64(pub.e), "d": b64(priv.d), "p": b64(priv.p), "q": b64(priv.q),
            "dp": b64(priv.dmp1), "dq": b64(priv.dmq1), "qi": b64(priv.iqmp),
        })
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rsa_keys.json")
    with open(out, "w") as f:
        json.dump({"comment": "test keys made by tests/data/make_rsa_keys.py", "keys": keys}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
