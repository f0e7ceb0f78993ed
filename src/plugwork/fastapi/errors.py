"""Exception handlers that answer FastAPI routes in Plugwork's one error shape."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..dispatch import ErrorInfo
from ..errors import ActionError, ErrorCode
from ..events.exceptions import EventHandlingError
from ..observability.logging import get_logger
from ..rest.endpoint import error_reply
from ._dep import fastapi

log = get_logger("plugwork.fastapi")


async def _action_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ActionError)
    return error_reply(ErrorInfo(exc.code, exc.message, exc.details, exc.status))


async def _handling_error(request: Request, exc: Exception) -> Response:
    # The module's exception is logged here and never sent: it may carry internals.
    log.error("event handling failed", path=request.url.path, error=str(exc))
    return error_reply(ErrorInfo(ErrorCode.INTERNAL, "Internal server error", None, 500))


async def _validation_error(request: Request, exc: Exception) -> Response:
    errors: Any = getattr(exc, "errors", list)()
    details = [
        {
            "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "(body)",
            "message": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in errors
    ]
    return error_reply(ErrorInfo(ErrorCode.VALIDATION_ERROR, "Invalid input", details, 422))


def register_error_handlers(app: Any) -> None:
    """Answer ``ActionError`` (and the events' errors) and request validation errors as Plugwork does:
    ``{"error_code", "error_message", "details"}`` with the code's status; a module's exception is a 500
    whose message never reaches the client."""
    app.add_exception_handler(ActionError, _action_error)
    app.add_exception_handler(EventHandlingError, _handling_error)
    app.add_exception_handler(fastapi.exceptions.RequestValidationError, _validation_error)
