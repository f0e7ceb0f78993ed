"""Secrets out of log lines: a logging filter for the servers Plugwork starts (``plugwork run``, ``hub``).

uvicorn logs request targets with their query strings — its access log, and the ``"WebSocket /path?..."``
lines of every WebSocket handshake at INFO — and websockets logs request lines and headers at DEBUG. The
Plugboard protocol puts the service token in the query string (``?token=...``) or in a
``base64url.bearer.phx.<token>`` subprotocol, so without this filter a hub's log holds every consumer's token.

:class:`RedactSecrets` rewrites a record's message and arguments before any handler formats them: values of
query parameters whose names say secret (``token``, ``access_token``, ``api_key``, ``password``, ...),
bearer credentials, Phoenix token subprotocols, and the value logged next to a sensitive header name.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"

# A query parameter whose name contains one of these words carries a secret (``token``, ``access_token``,
# ``X-Api-Key``, ``client_secret``, ``password``, ``sig``...).
_SECRET_NAME = re.compile(
    r"token|secret|passw|pwd|api[-_]?key|apikey|auth|credential|signature|^sig$|^key$|session|jwt",
    re.IGNORECASE,
)
_QUERY_PARAM = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;#\s\"'?]+)=(?P<value>[^&;#\s\"']*)")
# A credential after "Bearer"/"Basic": 8 characters at least, so that prose ("bearer token") stays readable.
_BEARER = re.compile(r"(?P<scheme>\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
_PHOENIX_TOKEN = re.compile(r"(?P<prefix>base64url\.bearer\.phx\.)[A-Za-z0-9_+/=-]+")
SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-auth-token",
        "sec-websocket-protocol",
    }
)
SERVER_LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "uvicorn.asgi",
    "websockets",
    "websockets.server",
)


def _mask_param(match: re.Match[str]) -> str:
    if _SECRET_NAME.search(match["name"]) and match["value"]:
        return f"{match['lead']}{match['name']}={MASK}"
    return match[0]


def redact(text: str) -> str:
    """``text`` with secret query values, bearer credentials and Phoenix token subprotocols masked."""
    if "=" in text:
        text = _QUERY_PARAM.sub(_mask_param, text)
    lowered = text.lower()
    if "bearer" in lowered or "basic" in lowered:
        text = _BEARER.sub(lambda m: m["scheme"] + MASK, text)
    if "base64url.bearer.phx." in text:
        text = _PHOENIX_TOKEN.sub(lambda m: m["prefix"] + MASK, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        return redact(value.decode("latin-1")).encode("latin-1")
    return value


def _redact_args(args: tuple[Any, ...]) -> tuple[Any, ...]:
    out = list(args)
    for i, value in enumerate(out):
        previous = out[i - 1] if i else None
        if isinstance(previous, str) and previous.strip().lower() in SENSITIVE_HEADERS:
            out[i] = MASK  # ("< %s: %s", name, value): a header logged as a pair
        else:
            out[i] = _redact_value(value)
    return tuple(out)


class RedactSecrets(logging.Filter):
    """Masks secrets in a record's message and arguments (never drops the record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        args = record.args
        if isinstance(args, tuple) and args:
            record.args = _redact_args(args)
        elif isinstance(args, Mapping) and args:
            record.args = {key: _redact_value(value) for key, value in args.items()}
        return True


_FILTER = RedactSecrets()


def install(loggers: Iterable[str] = SERVER_LOGGERS) -> None:
    """Put the redacting filter on ``loggers`` (once each): a logger's filters see every record logged on it,
    whichever handlers (uvicorn's own, or Plugwork's) later format it."""
    for name in loggers:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(_FILTER)
