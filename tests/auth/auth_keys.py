"""Keys and token makers the auth tests share (generated once per test session)."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

SECRET = "s3cret-for-tests-only-0123456789abcdef"
OTHER_SECRET = "another-secret-for-tests-0123456789abcdef"
ISSUER = "https://id.example.test"


def pem_pair(kind: str) -> tuple[str, str]:
    """(private PEM, public PEM) for ``rsa``, ``ec`` or ``ed25519``."""
    return _pair(kind)


@cache
def _pair(kind: str) -> tuple[str, str]:
    key: Any
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif kind == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def hs_token(
    claims: dict[str, Any] | None = None, *, secret: str = SECRET, alg: str = "HS256", **extra: Any
) -> str:
    """An HS token, valid for an hour unless ``claims``/``extra`` say otherwise."""
    now = int(time.time())
    payload = {"sub": "alice", "iat": now, "exp": now + 3600, **(claims or {}), **extra}
    return jwt.encode(payload, secret, algorithm=alg)


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_tokens(public_pem: str | None = None) -> dict[str, str]:
    """Tokens an attacker would try against a service verifying HS256 with ``SECRET``, by name.

    Each one must be refused with 401: none of them is a valid token with the ``orders:write`` permission.
    """
    import hashlib
    import hmac
    import json

    now = int(time.time())
    claims = {"sub": "mallory", "permissions": ["orders:write"], "iat": now, "exp": now + 3600, "iss": ISSUER}
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    good = hs_token(claims)
    h, p, s = good.split(".")
    tampered = dict(claims, permissions=["orders:write", "admin"])
    _, rsa_public = pem_pair("rsa")
    pem = (public_pem or rsa_public).encode()
    body = _b64(json.dumps(claims).encode())
    confusion_mac = hmac.new(pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    rsa_private, _ = pem_pair("rsa")
    empty_key_mac = hmac.new(b"", f"{header}.{body}".encode(), hashlib.sha256).digest()
    none_header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    none_upper = _b64(json.dumps({"alg": "NONE"}).encode())
    return {
        "alg_none": f"{none_header}.{body}.",
        "alg_none_upper": f"{none_upper}.{body}.",
        "hs_with_public_key": f"{header}.{body}.{_b64(confusion_mac)}",
        "rs256_unexpected": jwt.encode(claims, rsa_private, algorithm="RS256"),
        "expired": hs_token(dict(claims, exp=now - 60, iat=now - 3700)),
        "not_yet_valid": hs_token(dict(claims, nbf=now + 600)),
        "wrong_issuer": hs_token(dict(claims, iss="https://evil.example")),
        "wrong_audience": hs_token(dict(claims, aud="someone-else")),
        "tampered_payload": f"{h}.{_b64(json.dumps(tampered).encode())}.{s}",
        "wrong_key": hs_token(claims, secret=OTHER_SECRET),
        "hs512_not_allowed": hs_token(claims, alg="HS512", secret=SECRET * 2),
        "truncated_signature": good[:-4],
        "no_signature": f"{h}.{p}.",
        "huge": hs_token(dict(claims, pad="x" * 100_000)),
        "garbage": "not-a-jwt",
        "no_exp": jwt.encode({"sub": "x", "permissions": ["orders:write"], "iss": ISSUER}, SECRET, "HS256"),
        "no_issuer": hs_token({k: v for k, v in claims.items() if k != "iss"}),
        "alg_none_with_signature": f"{none_header}.{body}.{s}",
        "alg_lowercase": f"{_b64(json.dumps({'alg': 'hs256'}).encode())}.{p}.{s}",
        "jku_to_attacker": jwt.encode(claims, OTHER_SECRET, headers={"jku": "https://evil.example/jwks"}),
        "kid_injection": jwt.encode(claims, OTHER_SECRET, headers={"kid": "../../dev/null"}),
        "empty_secret": f"{header}.{body}.{_b64(empty_key_mac)}",
        "empty_sub": hs_token(dict(claims, sub="")),
        "exp_as_string": hs_token(dict(claims, exp=str(now + 3600))),
        "header_swapped_to_hs512": f"{_b64(json.dumps({'alg': 'HS512', 'typ': 'JWT'}).encode())}.{p}.{s}",
    }
