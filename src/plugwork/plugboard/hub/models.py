"""The hub's records — accounts, services and service tokens — and the secret handling they share.

Secrets are 32 random bytes (URL-safe base64). Only their SHA-256 is stored: with that much entropy a plain
digest cannot be brute-forced, and an indexed digest lookup keeps authentication to one query. The value
itself exists once, in the object returned at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

MAX_NAME_LENGTH = 200
TOKEN_CONTEXT = "api"


def new_id() -> str:
    """A fresh record id (a UUID4 string, like Plugboard's binary ids)."""
    return str(uuid.uuid4())


def new_secret() -> str:
    """A high-entropy secret for an account or a service token."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """The stored form of a secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Whether ``secret`` hashes to ``stored_hash``, compared in constant time."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def timestamp(moment: datetime | None = None) -> str:
    """UTC, second precision, ISO 8601 with ``Z`` — sorts lexicographically in either store."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expiry(inserted_at: str, validity_days: float) -> str:
    """``inserted_at`` plus the token validity."""
    start = datetime.strptime(inserted_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return timestamp(start + timedelta(days=validity_days))


def check_name(name: str) -> str:
    """A trimmed, non-empty name of bounded length (ValueError otherwise)."""
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"name must be 1..{MAX_NAME_LENGTH} characters")
    return name


@dataclass(slots=True)
class Account:
    """A producer account: its bearer token authorises ``POST /``."""

    id: str
    name: str
    inserted_at: str
    updated_at: str
    token: str | None = None  # the secret, only on the object returned at creation

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "inserted_at": self.inserted_at,
            "updated_at": self.updated_at,
        }
        if self.token is not None:
            data["token"] = self.token
        return data


@dataclass(slots=True)
class Service:
    """A service whose consumers answer producers' requests."""

    id: str
    name: str
    inserted_at: str
    updated_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "inserted_at": self.inserted_at,
            "updated_at": self.updated_at,
        }


@dataclass(slots=True)
class ServiceToken:
    """A service API token: consumers connect with it. Valid until ``expires_at``."""

    id: str
    service_id: str
    context: str
    inserted_at: str
    expires_at: str
    value: str | None = None  # the secret, only on the object returned at creation

    @property
    def expired(self) -> bool:
        return self.expires_at <= timestamp()

    def to_json(self, *, with_value: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "context": self.context,
            "service_id": self.service_id,
            "inserted_at": self.inserted_at,
            "expires_at": self.expires_at,
        }
        if with_value and self.value is not None:
            data["value"] = self.value
        return data
