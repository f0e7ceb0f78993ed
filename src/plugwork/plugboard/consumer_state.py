"""What the Plugboard has told a consumer: its service, its tokens and how many consumers serve it.

Service tokens rotate the way Vera's consumer does: a ``token_created`` push carries the new token's value,
which is used from the next connection on; a ``token_deleted`` push forgets that token, but the newest token
still known is always kept so that there is one to try. Token values never leave this object except as
:attr:`ServiceState.token_value`, for the connect URL; :meth:`ServiceState.details` shows none.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..observability.logging import get_logger

log = get_logger("plugwork.plugboard.consumer")

_SECRET_KEYS = frozenset({"value"})


class ServiceState:
    """The service, token and consumer count a consumer keeps from join replies and pushes."""

    __slots__ = ("_tokens", "num_consumers", "service", "token", "warning")

    def __init__(self, token_value: str) -> None:
        self._tokens: list[tuple[str | None, str]] = [(None, token_value)]  # (id once known, value)
        self.token: dict[str, Any] | None = None
        self.service: dict[str, Any] | None = None
        self.num_consumers: int | None = None
        self.warning: str | None = None

    @property
    def token_value(self) -> str:
        """The token to connect with: the newest one not deleted."""
        return self._tokens[-1][1]

    @property
    def service_name(self) -> Any:
        """The service's name (or id) as the hub reported it, for logs."""
        service = self.service or {}
        return service.get("name") or service.get("id")

    def token_expired(self, now: datetime | None = None) -> bool:
        """Whether the token in use is past its ``expires_at`` (the next connection would be refused)."""
        expires = (self.token or {}).get("expires_at")
        if not isinstance(expires, str):
            return False
        try:
            when = datetime.fromisoformat(expires)
        except ValueError:
            return False
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)  # Plugboard's timestamps are UTC
        return when <= (now or datetime.now(UTC))

    def details(self) -> dict[str, Any]:
        """For health: service, token (without its value) and consumer count."""
        return {"service": self.service, "token": self.token, "num_consumers": self.num_consumers}

    def joined(self, response: Any) -> None:
        """Apply a join reply's ``{"service", "token", "num_consumers"}``."""
        if not isinstance(response, dict):
            return
        self.set_service(response.get("service"))
        self.set_num_consumers(response.get("num_consumers"))
        token = response.get("token")
        if isinstance(token, dict):
            # The hub names the token we connected with: remember its id for a later token_deleted.
            self._tokens[-1] = (_str_or_none(token.get("id")), self._tokens[-1][1])
            self.token = _public(token)
            self.warning = None

    def set_service(self, service: Any) -> None:
        """Keep the service the hub sent (ignored unless it is an object)."""
        if isinstance(service, dict):
            self.service = service

    def set_num_consumers(self, value: Any) -> None:
        """Keep the consumer count the hub sent (ignored unless it is an integer)."""
        if isinstance(value, int) and not isinstance(value, bool):
            self.num_consumers = value

    def token_created(self, payload: Any) -> None:
        """A rotated token: the next connection uses it."""
        token = payload.get("token") if isinstance(payload, dict) else None
        if not isinstance(token, dict):
            return
        value = token.get("value")
        if isinstance(value, str) and value:
            self._tokens.append((_str_or_none(token.get("id")), value))
            self.token = _public(token)
            log.info("plugboard service token rotated", token_id=token.get("id"))

    def token_deleted(self, payload: Any) -> None:
        """Forget a deleted token; the one in use is kept (with a warning) if nothing replaces it."""
        token = payload.get("token") if isinstance(payload, dict) else None
        token_id = _str_or_none(token.get("id")) if isinstance(token, dict) else None
        if token_id is None:
            return
        kept = [t for t in self._tokens if t[0] != token_id]
        if kept:
            self._tokens = kept
        elif self.token is not None and _str_or_none(self.token.get("id")) == token_id:
            self.warning = f"service token {token_id} was deleted; the next connection will be refused"
            log.warning("plugboard service token deleted", token_id=token_id)


def _public(token: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in token.items() if k not in _SECRET_KEYS}


def _str_or_none(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    return str(value) if isinstance(value, str | int) else None
