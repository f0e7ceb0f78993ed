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
