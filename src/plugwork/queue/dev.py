"""Dev mode (usvc-lib parity) as a built-in plugin: ``POST /dev/job`` runs one job through the real worker
and waits for it.

Enabled only when ``dev_mode`` is on, where the queue is in memory by default; with the queue disabled the
job runs inline through the dispatcher.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..dispatch import Invocation
from ..errors import ActionError, ErrorCode
from ..http.body import incoming_context, not_json, read_limited
from ..http.responses import JSONResponse, error_body, error_response
from ..plugins import Plugin
from .plugin import QueuePlugin

if TYPE_CHECKING:
    from ..app import App

DEV_JOB_TIMEOUT = 300.0


class DevPlugin(Plugin):
    """``POST /dev/job`` when ``dev_mode`` is on."""

    name = "dev"

    def enabled(self, app: App) -> bool:
        return app.settings.dev_mode

    def routes(self, app: App) -> Sequence[BaseRoute]:
        return dev_routes(app)


def dev_routes(app: App) -> list[BaseRoute]:
    """``POST /dev/job`` (see the module docstring)."""
    queue_plugin = app.plugin(QueuePlugin)

    async def dev_job(request: Request) -> Response:
        started = time.perf_counter()
        raw = await read_limited(request, app.settings.max_body_bytes)
        if raw is None:
            return error_response(ErrorCode.PAYLOAD_TOO_LARGE, "Request body too large")
        if not_json(request, raw):
            return error_response(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return error_response(ErrorCode.BAD_REQUEST, f"Malformed JSON: {exc}")
        if not isinstance(body, dict) or not isinstance(body.get("action"), str):
            return error_response(
                ErrorCode.BAD_REQUEST, 'The job must be a JSON object with an "action" string'
            )
        action = body.pop("action")
        queue = queue_plugin.queue if queue_plugin in app.active_plugins else None
        if queue is None:  # queue disabled: run inline through the dispatcher
            with incoming_context(request, app.carriers) as ctx:
                outcome = await app.dispatcher.dispatch(Invocation(action, body, ctx))
            error = outcome.error.to_dict() if outcome.error else None
            return _result(None, outcome.jsonable_output() if outcome.ok else None, error, started)
        try:
            with incoming_context(request, app.carriers):
                job_id = await queue.enqueue(action, body, max_attempts=1)
        except ActionError as exc:
            return _result(None, None, error_body(exc.code, exc.message, exc.details), started)
        job = await queue.wait(job_id, timeout=DEV_JOB_TIMEOUT)
        if job.status == "completed":
            return _result(job_id, job.result, None, started)
        error = job.error or error_body(ErrorCode.INTERNAL, f"job ended {job.status}")
        return _result(job_id, None, error, started)

    return [Route("/dev/job", dev_job, methods=["POST"])]


def _result(job_id: str | None, results: Any, error: dict[str, Any] | None, started: float) -> Response:
    body = {
        "job_id": job_id,
        "status": "Completed" if error is None else "Failed",
        "results": results,
        "error": error,
        "runtime_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    return JSONResponse(body, status_code=200 if error is None else 422)
