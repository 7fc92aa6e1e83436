"""The client side, independent of the filter's code: DPoP proofs made with jwcrypto, access tokens
from the authorization server by client credentials (HTTP Basic client authentication, a DPoP proof
for DPoP-bound clients), and an HTTP client that shows every response header."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import ssl
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field

from jwcrypto import jwk, jwt

# A proof key of each kind the tests use, and the JWS alg it signs with.
KEY_KINDS = {
    "EC": ({"kty": "EC", "crv": "P-256"}, "ES256"),
    "RSA": ({"kty": "RSA", "size": 2048}, "RS256"),
    "Ed25519": ({"kty": "OKP", "crv": "Ed25519"}, "EdDSA"),
}


@dataclass
class ProofKey:
    key: jwk.JWK
    alg: str

    @classmethod
    def generate(cls, kind: str = "EC") -> "ProofKey":
        params, alg = KEY_KINDS[kind]
        return cls(jwk.JWK.generate(**params), alg)

    @property
    def jkt(self) -> str:
        """RFC 7638 thumbprint: the token's `cnf.jkt`."""
        return self.key.thumbprint()

    def proof(self, htm: str, htu: str, access_token: str | None = None, /, **over) -> str:
        """A DPoP proof (RFC 9449 section 4.2). `over` replaces or removes (value None) header or
        claim parts: typ, alg, jwk, iat, jti, ath, htm, htu, nonce, sign_with (another ProofKey)."""
        header = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.key.export_public(as_dict=True)}
        claims = {"jti": str(uuid.uuid4()), "htm": htm, "htu": htu, "iat": int(time.time())}
        if access_token is not None:
            claims["ath"] = b64url(hashlib.sha256(access_token.encode()).digest())
        signer = over.pop("sign_with", None) or self
        for name, value in over.items():
            target = header if name in ("typ", "alg", "jwk", "kid") else claims
            if value is None:
                target.pop(name, None)
            else:
                target[name] = value
        token = jwt.JWT(header=header, claims=claims)
        token.make_signed_token(signer.key)
        return token.serialize()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decode_jwt(token: str) -> tuple[dict, dict]:
    """(header, claims) of a compact JWS, unverified (for assertions)."""
    h, p = token.split(".")[:2]
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return json.loads(base64.urlsafe_b64decode(pad(h))), json.loads(base64.urlsafe_b64decode(pad(p)))


@dataclass
class Response:
    status: int
    headers: list  # [(lower-case name, value)]
    body: bytes

    def all(self, name: str) -> list:
        return [v for k, v in self.headers if k == name.lower()]

    def header(self, name: str) -> str | None:
        vals = self.all(name)
        return vals[0] if vals else None

    def json(self):
        return json.loads(self.body)

    def challenges(self) -> list:
        """Each `WWW-Authenticate` challenge as (scheme, {param: value}), from every header and from
        comma-separated lists in one header (RFC 9110 section 11.6.1: `Bearer, DPoP algs="..."`)."""
        out = []
        for value in self.all("www-authenticate"):
            pos = 0
            while pos < len(value):
                m = _CHALLENGE.match(value, pos)
                if not m or m.end() == pos:
                    raise AssertionError(f"unparsable WWW-Authenticate at {pos}: {value!r}")
                params = dict(re.findall(r'([A-Za-z_]+)="([^"]*)"', m.group(2)))
                out.append(Challenge(m.group(1), params, f"{m.group(1)}{m.group(2)}"))
                pos = m.end()
                while pos < len(value) and value[pos] in ", ":
                    pos += 1
        return out

    def __str__(self):
        hdrs = "".join(f"\n  {k}: {v}" for k, v in self.headers)
        return f"HTTP {self.status}{hdrs}\n  body: {self.body[:600].decode(errors='replace')}"


# One challenge: a scheme, then optionally `name="value"` parameters separated by commas (a comma
# followed by a bare token starts the next challenge).
_CHALLENGE = re.compile(r'\s*([A-Za-z0-9!#$%&\'*+.^_`|~-]+)((?:[ \t]+[A-Za-z_]+="[^"]*"(?:\s*,\s*[A-Za-z_]+="[^"]*")*)?)')


@dataclass
class Challenge:
    scheme: str
    params: dict = field(default_factory=dict)
    raw: str = ""


def request(method: str, url: str, headers=(), body: bytes | str | None = None, timeout: float = 15.0,
            tls: ssl.SSLContext | None = None) -> Response:  # fmt: skip
    """One HTTP/1.1 request; `headers` is a list of (name, value), repeats allowed. An `https` URL
    goes over TLS with the context `tls` (which says the CA and the client certificate, if any)."""
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout, context=tls)
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        path = u.path + (f"?{u.query}" if u.query else "")
        items = list(headers.items()) if isinstance(headers, dict) else list(headers)
        own_host = any(k.lower() == "host" for k, _ in items)
        conn.putrequest(method, path, skip_host=own_host, skip_accept_encoding=True)
        if isinstance(body, str):
            body = body.encode()
        for k, v in items:
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return Response(r.status, [(k.lower(), v) for k, v in r.getheaders()], r.read())
    finally:
        conn.close()


@dataclass
class Token:
    access_token: str
    token_type: str
    expires_in: int
    scope: str | None
    key: ProofKey | None = None

    @property
    def header(self) -> dict:
        return decode_jwt(self.access_token)[0]

    @property
    def claims(self) -> dict:
        return decode_jwt(self.access_token)[1]


def client_credentials(token_endpoint: str, client_id: str, client_secret: str | None = None,
                       scope: str | None = "webhook:write", resource: str | None = None,
                       dpop_key: ProofKey | None = None, tls: ssl.SSLContext | None = None) -> Token:  # fmt: skip
    """Client credentials grant with HTTP Basic client authentication (RFC 6749 section 2.3.1), as a
    partner's webhook sender does; with a DPoP proof at the token endpoint when `dpop_key` is given.
    With `tls` (an `https` token endpoint), the client authenticates with the certificate of that
    TLS context instead (RFC 8705 section 2, `client_id` in the form)."""
    form = {"grant_type": "client_credentials"}
    headers = [("Content-Type", "application/x-www-form-urlencoded")]
    if tls is None:
        secret = client_secret if client_secret is not None else f"{client_id}-secret"
        basic = b64std(f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}")
        headers.append(("Authorization", f"Basic {basic}"))
    else:
        form["client_id"] = client_id
    if scope:
        form["scope"] = scope
    if resource:
        form["resource"] = resource
    if dpop_key:
        headers.append(("DPoP", dpop_key.proof("POST", token_endpoint)))
    r = request("POST", token_endpoint, headers, urllib.parse.urlencode(form), tls=tls)
    if r.status != 200:
        raise AssertionError(f"token request for {client_id} failed: {r}")
    j = r.json()
    return Token(j["access_token"], j["token_type"], j["expires_in"], j.get("scope"), dpop_key)


def b64std(s: str) -> str:
    return base64.b64encode(s.encode()).decode()
