"""Every exception Plugwork raises, under one root.

::

    PlugworkError                      root of everything below
    ├── ConfigError                    bad settings; names the offending key
    ├── MissingDependency              an optional package is not installed; names the extra
    ├── DefinitionError                a bad app at start-up (duplicate action, no input model, ...)
    │   └── DependencyError            an unresolvable or cyclic dependency
    ├── ServiceError                   a service failed a lifecycle step; keeps the service name
    ├── StoreError                     a job/hub/registry store failed: internal, answered 500 INTERNAL
    ├── ProtocolError                  a malformed frame or message on a wire protocol (Plugboard)
    └── ActionError                    raised inside an invocation; becomes an error Outcome
        ├── UnknownAction              404 UNKNOWN_ACTION
        ├── BadRequest                 400 BAD_REQUEST
        ├── InvalidInput               422 VALIDATION_ERROR, with field details
        ├── Unauthorized               401 UNAUTHORIZED
        ├── Forbidden                  403 FORBIDDEN
        ├── NotFound                   404 NOT_FOUND: the order, job, service, token... does not exist
        ├── Conflict                   409 CONFLICT: the request clashes with the current state
        ├── RateLimited                429 RATE_LIMITED
        ├── CircuitOpen                503 CIRCUIT_OPEN
        ├── Unavailable                503 UNAVAILABLE
        ├── InvocationTimeout          504 TIMEOUT
        └── InvocationCancelled        499 CANCELLED

Handlers raise :class:`ActionError` (or a subclass: ``NotFound``, ``Conflict``, ``Forbidden``,
``InvalidInput``, ``Unavailable``...) to answer with a specific error code; any other exception — a
``StoreError`` included — becomes ``INTERNAL`` (500) and is logged with its traceback, which never reaches a
client.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """The one error taxonomy every transport maps to its wire."""

    UNKNOWN_ACTION = "UNKNOWN_ACTION"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    BAD_REQUEST = "BAD_REQUEST"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    RATE_LIMITED = "RATE_LIMITED"
    CIRCUIT_OPEN = "CIRCUIT_OPEN"
    UNAVAILABLE = "UNAVAILABLE"
    TIMEOUT = "TIMEOUT"
    CANCELLED = "CANCELLED"
    INTERNAL = "INTERNAL"

    @property
    def status(self) -> int:
        """The HTTP-style status for this code."""
        return _STATUS[self]

    @classmethod
    def for_status(cls, status: int) -> ErrorCode:
        """The generic code for an HTTP-style error status (404 NOT_FOUND, 503 UNAVAILABLE, ...)."""
        return _BY_STATUS.get(status) or (cls.INTERNAL if status >= 500 else cls.BAD_REQUEST)

    @property
    def retryable(self) -> bool:
        """Whether running the same invocation again could succeed."""
        return self in _RETRYABLE


_STATUS: dict[ErrorCode, int] = {
    ErrorCode.UNKNOWN_ACTION: 404,
    ErrorCode.VALIDATION_ERROR: 422,
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.CIRCUIT_OPEN: 503,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.CANCELLED: 499,
    ErrorCode.INTERNAL: 500,
}

# Where two codes share a status, the later (more generic) one wins: 404 NOT_FOUND, 503 UNAVAILABLE.
_BY_STATUS: dict[int, ErrorCode] = {status: code for code, status in _STATUS.items()}

_RETRYABLE = frozenset(
    {
        ErrorCode.RATE_LIMITED,
        ErrorCode.CIRCUIT_OPEN,
        ErrorCode.UNAVAILABLE,
        ErrorCode.TIMEOUT,
        ErrorCode.INTERNAL,
    }
)


class PlugworkError(Exception):
    """Root of every exception Plugwork raises."""


class ConfigError(PlugworkError):
    """Invalid configuration. ``key`` names the setting at fault."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


class MissingDependency(PlugworkError, ImportError):
    """An optional package is missing; the message names the extra that installs it."""

    def __init__(self, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(f"{package} is not installed: pip install 'plugwork[{extra}]'")


class DefinitionError(PlugworkError):
    """The app is defined wrongly: found at start-up, before serving anything."""


class DependencyError(DefinitionError):
    """A dependency cannot be resolved, or services depend on each other in a cycle."""


class ServiceError(PlugworkError):
    """A service failed a lifecycle step."""

    def __init__(self, service: str, message: str) -> None:
        super().__init__(f"service {service!r}: {message}")
        self.service = service
        self.reason = message


class StoreError(PlugworkError):
    """A store (jobs, hub, registry) failed: an internal error, never a client's."""


class ProtocolError(PlugworkError):
    """A frame or message that breaks its wire protocol. The message says what is wrong with it."""


class ActionError(PlugworkError):
    """Raised inside an invocation to answer with a specific error code.

    ``details`` must be JSON-serialisable; it is sent to the caller as is.
    """

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        details: Any = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details
        self.status = status if status is not None else self.code.status


class UnknownAction(ActionError):
    code = ErrorCode.UNKNOWN_ACTION


class BadRequest(ActionError):
    code = ErrorCode.BAD_REQUEST


class InvalidInput(ActionError):
    code = ErrorCode.VALIDATION_ERROR


class NotFound(ActionError):
    """The object asked for does not exist (404)."""

    code = ErrorCode.NOT_FOUND


class Conflict(ActionError):
    """The request clashes with the current state: a duplicate, a job already finished... (409)."""

    code = ErrorCode.CONFLICT


class Unauthorized(ActionError):
    code = ErrorCode.UNAUTHORIZED


class Forbidden(ActionError):
    code = ErrorCode.FORBIDDEN


class RateLimited(ActionError):
    code = ErrorCode.RATE_LIMITED


class CircuitOpen(ActionError):
    code = ErrorCode.CIRCUIT_OPEN


class Unavailable(ActionError):
    code = ErrorCode.UNAVAILABLE


class InvocationTimeout(ActionError):
    code = ErrorCode.TIMEOUT


class InvocationCancelled(ActionError):
    code = ErrorCode.CANCELLED
