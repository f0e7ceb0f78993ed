"""How an :class:`~plugwork.dispatch.Outcome` becomes the payload of a Plugboard ``response`` push.

``{"status_code": int, "message": str | None, "fields": {...}}`` with the statuses Vera's consumer uses:
404 ``Unknown action: X``, 400 for invalid input (the field errors under ``fields.errors``), 500
``Internal server error``; other errors keep their own status and message.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import to_jsonable_python

from ..dispatch import Outcome
from ..errors import ErrorCode
from ..observability.logging import get_logger

log = get_logger("plugwork.plugboard.consumer")

_BAD_INPUT = frozenset({ErrorCode.VALIDATION_ERROR, ErrorCode.BAD_REQUEST})


def response_payload(action: str, outcome: Outcome) -> dict[str, Any]:
    """The ``response`` payload for ``outcome``, always JSON-serialisable."""
    error = outcome.error
    if error is None:
        try:
            output = outcome.jsonable_output()
        except Exception as exc:  # an output JSON cannot carry is the handler's bug, reported as such
            log.error("plugboard action output is not JSON-serialisable", action=action, error=str(exc))
            return internal_error()
        return {
            "status_code": outcome.status,
            "message": outcome.message,
            "fields": _as_fields(output, "result"),
        }
    if error.code is ErrorCode.UNKNOWN_ACTION:
        return {"status_code": 404, "message": f"Unknown action: {action}", "fields": {}}
    try:
        details = to_jsonable_python(error.details)
    except Exception:
        details = None
    status = 400 if error.code in _BAD_INPUT else error.status
    return {"status_code": status, "message": error.message, "fields": _as_fields(details, "errors")}


def internal_error() -> dict[str, Any]:
    """500 ``Internal server error``, as Vera's consumer answers any failure it did not foresee."""
    return {"status_code": 500, "message": "Internal server error", "fields": {}}


def overloaded(limit: int) -> dict[str, Any]:
    """503: every request slot is busy and the waiting line is full (or waited too long)."""
    return {"status_code": 503, "message": f"Consumer overloaded ({limit} requests in flight)", "fields": {}}


def shutting_down() -> dict[str, Any]:
    """503: the consumer is stopping and takes no new requests."""
    return {"status_code": 503, "message": "Consumer is shutting down", "fields": {}}


def too_large(size: int, limit: int) -> dict[str, Any]:
    """500: the response would exceed the frame size limit."""
    return {
        "status_code": 500,
        "message": f"Response too large: {size} bytes (limit {limit})",
        "fields": {},
    }


def _as_fields(value: Any, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    return {key: value}
