"""``JWTAuthProvider``: PyJWT verification with the algorithms, keys and checks of :class:`AuthSettings`.

What is checked, in order, before any claim is believed: the token's size; that its header parses and
names an algorithm from the settings (never trusting the header's choice otherwise: ``none`` and
algorithms outside the settings are refused before a key is touched); the signature with the key of that
algorithm's family (a PEM public key is never used as an HMAC secret — PyJWT refuses that too); ``exp``
and ``nbf`` with the leeway; ``iss`` and ``aud`` when configured; the required claims.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ..errors import ConfigError
from ..extras import require
from .claims import TokenClaims
from .jwks import JWKSCache
from .provider import InvalidToken
from .settings import AuthSettings

jwt = require("jwt", extra="auth")


class JWTAuthProvider:
    """Verifies and mints JWTs (see the module docstring). ``JWTAuthProvider()`` reads the environment."""

    def __init__(
        self, settings: AuthSettings | None = None, *, jwks: JWKSCache | None = None, **overrides: Any
    ):
        self.settings = settings if settings is not None else AuthSettings(**overrides)
        s = self.settings
        self.algorithms = list(s.jwt_algorithms)
        self._audience = list(s.jwt_audience) or None
        # verify_aud stays on without a configured audience: a token meant for another audience is refused.
        self._options: Any = {"require": list(s.jwt_required_claims), "verify_aud": True}
        self._key: Any = None
        if s.symmetric:
            self._key = s.jwt_secret.get_secret_value() if s.jwt_secret is not None else None
        elif s.jwt_public_key is not None:
            self._key = _load_public_key(s.jwt_public_key.get_secret_value())
        # Verified tokens by SHA-256 digest: a client sends the same token with every request, and PyJWT
        # costs ~150 µs a verification here (~8x the rest of a request): measured in bench/auth_http.py.
        self._cache: dict[bytes, tuple[TokenClaims, float]] = {}
        self._cache_size = s.jwt_cache_size
        self.jwks = jwks
        if jwks is None and s.jwt_jwks_url and not s.symmetric:
            self.jwks = JWKSCache(
                s.jwt_jwks_url,
                algorithms=self.algorithms,
                cache_seconds=s.jwt_jwks_cache_seconds,
                min_refetch_seconds=s.jwt_jwks_min_refetch_seconds,
                timeout=s.jwt_jwks_timeout_seconds,
            )

    async def validate_token(self, token: str) -> TokenClaims | None:
        """The token's claims, or None when it is not valid (PyModules' contract)."""
        try:
            return await self.verify(token)
        except InvalidToken:
            return None

    async def verify(self, token: str) -> TokenClaims:
        """The token's claims; raises :class:`InvalidToken` with the reason (for logs, not for clients)."""
        if len(token) > self.settings.jwt_max_token_bytes:
            raise InvalidToken("token too large")
        if self._cache_size:
            digest = hashlib.sha256(token.encode()).digest()
            hit = self._cache.get(digest)
            if hit is not None and time.time() < hit[1]:
                return hit[0]
        claims = await self._verify(token)
        if self._cache_size:
            self._remember(digest, claims)
        return claims

    def _remember(self, digest: bytes, claims: TokenClaims) -> None:
        # Kept until the token expires or for cache_seconds, whichever is sooner: a key rotation or a
        # settings change takes effect within cache_seconds. Oldest entries go first when full.
        until = time.time() + self.settings.jwt_cache_seconds
        if claims.exp is not None:
            until = min(until, claims.exp.timestamp())
        cache = self._cache
        if len(cache) >= self._cache_size:
            del cache[next(iter(cache))]
        cache[digest] = (claims, until)

    async def _verify(self, token: str) -> TokenClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise InvalidToken("algorithm not accepted")
        key = await self._key_for(header)
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self.settings.jwt_issuer,
                leeway=self.settings.jwt_leeway_seconds,
                options=self._options,
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("not yet valid") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from None
        for name in ("exp", "nbf", "iat"):
            # RFC 7519 NumericDate is a JSON number; PyJWT would also take "1700000000" as text.
            value = payload.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise InvalidToken(f"{name} is not a number")
        try:
            return TokenClaims.from_payload(payload)
        except (KeyError, ValueError, ValidationError):
            raise InvalidToken("unusable claims") from None

    async def _key_for(self, header: Mapping[str, Any]) -> Any:
        if self.jwks is not None:
            kid = header.get("kid")
            if kid is not None and (not isinstance(kid, str) or len(kid) > 256):
                raise InvalidToken("malformed kid")
            return (await self.jwks.key(kid)).key
        if self._key is None:
            raise InvalidToken("no verification key is configured")
        return self._key

    async def create_token(self, claims: Mapping[str, Any], *, expires_in: float | None = None) -> str:
        """A token for ``claims`` (``sub`` required); ``iat``, ``exp``, ``iss``/``aud`` from settings."""
        return self.mint(claims, expires_in=expires_in)

    def mint(self, claims: Mapping[str, Any], *, expires_in: float | None = None) -> str:
        """The sync twin of :meth:`create_token` (the CLI and tests use it)."""
        s = self.settings
        now = int(time.time())
        payload: dict[str, Any] = {"iat": now, **claims}
        payload.setdefault(
            "exp", now + int(expires_in if expires_in is not None else s.jwt_expire_minutes * 60)
        )
        if s.jwt_issuer:
            payload.setdefault("iss", s.jwt_issuer)
        if s.jwt_audience:
            payload.setdefault("aud", s.jwt_audience[0] if len(s.jwt_audience) == 1 else list(s.jwt_audience))
        if s.symmetric:
            if s.jwt_secret is None:
                raise ConfigError("is required to mint HS* tokens", key="jwt_secret")
            key: Any = s.jwt_secret.get_secret_value()
        else:
            if s.jwt_private_key is None:
                raise ConfigError(
                    "is required to mint tokens with public-key algorithms", key="jwt_private_key"
                )
            key = s.jwt_private_key.get_secret_value()
        token: str = jwt.encode(payload, key, algorithm=self.algorithms[0])
        return token


def _load_public_key(pem: str) -> Any:
    serialization = require("cryptography.hazmat.primitives.serialization", extra="auth")
    try:
        return serialization.load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise ConfigError(f"not a PEM public key: {type(exc).__name__}", key="jwt_public_key") from None
