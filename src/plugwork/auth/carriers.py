"""The two carriers of the auth plugin: the caller's bearer token in, the enqueuer's identity with a job.

- :class:`BearerCarrier` reads ``Authorization: Bearer <token>`` (HTTP headers, a Plugboard request's
  ``headers``) and leaves the raw token in the context for the permission check to verify. It writes
  nothing out: a raw token never reaches a job row, a log line or an outgoing call.
- :class:`IdentityCarrier` carries the identity a job was enqueued with, as the verified claims signed
  with the service's identity key (HMAC-SHA256), in the job's ``x-plugwork-identity`` header. It is read
  on the ``queue`` transport only: the same header sent over HTTP or Plugboard is ignored, so a client can
  neither forge an identity nor replay one copied from a job listing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping, MutableMapping
from typing import Any

import orjson
from pydantic import ValidationError

from ..context import Context
from .claims import TokenClaims
from .provider import InvalidToken

TOKEN_KEY = "plugwork.auth.token"
MALFORMED = "\x00malformed"
"""Stands in the context for an Authorization header that is not a well-formed bearer token."""
IDENTITY_HEADER = "x-plugwork-identity"
MAX_IDENTITY_BYTES = 16384
_TOKEN = re.compile(r"[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")
_DOMAIN = b"plugwork-identity.v1."


class BearerCarrier:
    """``Authorization: Bearer <token>`` into the context (see the module docstring)."""

    keys: tuple[str, ...] = ("authorization",)

    def __init__(self, max_token_bytes: int) -> None:
        self.max_token_bytes = max_token_bytes

    def extract(self, headers: Mapping[str, str], ctx: Context) -> None:
        value = headers.get("authorization")
        if value is None:
            return
        scheme, _, token = value.partition(" ")
        # The shape only (PyJWT checks the rest): "Bearer", one space, a token of three dot-separated parts.
        well_formed = (
            scheme.lower() == "bearer"
            and 0 < len(token) <= self.max_token_bytes
            and token.count(".") == 2
            and _TOKEN.fullmatch(token) is not None
        )
        ctx.extras[TOKEN_KEY] = token if well_formed else MALFORMED

    def inject(self, ctx: Context, headers: MutableMapping[str, str]) -> None:
        """Never forwards the caller's token."""


class IdentitySigner:
    """Signs and verifies the identity a job carries, with HMAC-SHA256 under the service's key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the identity key must be at least 32 bytes")
        self._key = key

    def sign(self, auth: Mapping[str, Any]) -> str:
        body = _b64(orjson.dumps({"auth": dict(auth), "signed_at": int(time.time())}))
        return f"v1.{body}.{_b64(self._mac(body))}"

    def verify(self, value: str) -> dict[str, Any]:
        """The signed claims (as ``ctx.auth`` holds them); raises :class:`InvalidToken`."""
        if len(value) > MAX_IDENTITY_BYTES:
            raise InvalidToken("identity too large")
        version, _, rest = value.partition(".")
        body, _, mac = rest.partition(".")
        if version != "v1" or not body or not mac:
            raise InvalidToken("malformed identity")
        try:
            given = base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))
        except ValueError:
            raise InvalidToken("malformed identity") from None
        if not hmac.compare_digest(given, self._mac(body)):
            raise InvalidToken("identity signature mismatch")
        try:
            data = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            return TokenClaims.model_validate(data["auth"]).to_context()
        except (ValueError, KeyError, TypeError, ValidationError):
            raise InvalidToken("malformed identity") from None

    def _mac(self, body: str) -> bytes:
        return hmac.new(self._key, _DOMAIN + body.encode(), hashlib.sha256).digest()


class IdentityCarrier:
    """The enqueuer's verified identity, signed, in a job's headers (see the module docstring)."""

    keys: tuple[str, ...] = (IDENTITY_HEADER,)

    def __init__(
        self, signer: IdentitySigner | None, transports: frozenset[str] = frozenset({"queue"})
    ) -> None:
        self.signer = signer  # None: no shared key, so identities are neither written nor believed
        self.transports = transports

    def extract(self, headers: Mapping[str, str], ctx: Context) -> None:
        value = headers.get(IDENTITY_HEADER)
        if value is None or ctx.transport not in self.transports:
            return
        if self.signer is None:
            raise InvalidToken("a job identity, and no identity_key to verify it")
        ctx.auth = self.signer.verify(value)  # InvalidToken: the job is refused (dead), never run as anyone

    def inject(self, ctx: Context, headers: MutableMapping[str, str]) -> None:
        if ctx.auth and self.signer is not None:
            headers[IDENTITY_HEADER] = self.signer.sign(ctx.auth)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
