"""JSON responses shared by the HTTP routes: one error shape everywhere."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from ..dispatch import ErrorInfo
from ..errors import ErrorCode


class JSONResponse(Response):
    """A JSON response rendered with orjson (several times faster than the stdlib for our payloads)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def error_body(code: ErrorCode, message: str, details: Any = None) -> dict[str, Any]:
    """The one error shape, ``{"error_code", "error_message", "details"}``, as a dict."""
    return ErrorInfo(code, message, details).to_dict()


def error_response(
    code: ErrorCode, message: str, details: Any = None, status: int | None = None
) -> JSONResponse:
    """``{"error_code", "error_message", "details"}`` with the code's status."""
    return JSONResponse(error_body(code, message, details), status_code=status or code.status)
