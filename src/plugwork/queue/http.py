"""Starlette routes of the job queue: ``POST /jobs``, ``GET /jobs``, ``GET /jobs/{id}``, retry, cancel.

``POST /jobs`` takes the usvc-lib job form: the action name beside the input fields,
``{"action": "greet", "name": "World"}``. Options go in a reserved ``"_options"`` object, or in the query
string (the body wins)::

    {"action": "greet", "name": "World",
     "_options": {"delay": 5, "run_at": "2030-01-01T00:00:00Z", "priority": 10, "queue": "mail",
                  "idempotency_key": "order-42", "max_attempts": 5}}

Who may call them: :mod:`plugwork.queue.access`. It answers ``202 {"job_id": ..., "status": ...}``.
Errors are ``{"error_code", "error_message", "details"}`` with the code's HTTP status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import from_json
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..actions import validation_details
from ..carriers import Carriers
from ..errors import ActionError, ErrorCode, PlugworkError
from ..http.body import incoming_context, not_json, read_limited
from ..http.responses import JSONResponse, error_response
from .access import JOBS_MANAGE, JOBS_READ, JobsAccess, enqueue_refusal
from .client import MAX_KEY_LENGTH, JobQueue
from .jobs import MAX_PAYLOAD_BYTES, Job
from .store import StoreUnavailable

OPTIONS_KEY = "_options"
_QUERY_OPTIONS = ("delay", "run_at", "priority", "queue", "idempotency_key", "max_attempts")


class JobOptions(BaseModel):
    """The options of ``POST /jobs``."""

    model_config = ConfigDict(extra="forbid")

    delay: float | None = Field(None, ge=0)
    run_at: datetime | None = None
    priority: int = Field(0, ge=-32768, le=32767)
    queue: str | None = Field(None, min_length=1, max_length=128)
    idempotency_key: str | None = Field(None, min_length=1, max_length=MAX_KEY_LENGTH)
    max_attempts: int | None = Field(None, ge=1, le=1000)


Handler = Callable[[Request], Awaitable[Response]]


def _guard(handler: Handler) -> Handler:
    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except ActionError as exc:
            return error_response(exc.code, exc.message, exc.details, exc.status)
        except StoreUnavailable as exc:
            return error_response(ErrorCode.UNAVAILABLE, f"job store unavailable: {exc}")
        except PlugworkError as exc:  # a store fault: internal, named but not detailed
            return error_response(ErrorCode.INTERNAL, f"Internal error ({type(exc).__name__})")

    return guarded


def _job_body(job: Job) -> dict[str, Any]:
    return job.to_dict()


def job_routes(
    queue: JobQueue,
    carriers: Carriers | None = None,
    *,
    max_body_bytes: int = MAX_PAYLOAD_BYTES,
    access: JobsAccess | None = None,
) -> list[Route]:
    """The job routes over ``queue``, to mount in the app's Starlette router.

    A job enqueued over HTTP carries the request's context (``carriers``: correlation id, trace, the
    caller's verified identity). ``access`` decides who may use them (see :mod:`plugwork.queue.access`;
    None: open, for a router you guard yourself).
    """
    carried = carriers or Carriers()
    allowed = access or JobsAccess("open")

    async def admitted(request: Request, permission: str) -> None:
        with incoming_context(request, carried) as ctx:
            refusal = await allowed.check(request, ctx, permission=permission)
        if refusal is not None:
            raise refusal

    async def create(request: Request) -> Response:
        body = await read_limited(request, max_body_bytes)
        if body is None:
            return error_response(ErrorCode.PAYLOAD_TOO_LARGE, f"body exceeds {max_body_bytes} bytes")
        if not_json(request, body):
            return error_response(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json")
        try:
            data = from_json(body)
        except ValueError as exc:
            return error_response(ErrorCode.BAD_REQUEST, f"Malformed JSON: {exc}")
        if not isinstance(data, dict) or not isinstance(data.get("action"), str):
            return error_response(
                ErrorCode.BAD_REQUEST, 'The job must be a JSON object with an "action" string'
            )
        action = data.pop("action")
        raw_options = {k: v for k, v in request.query_params.items() if k in _QUERY_OPTIONS}
        body_options = data.pop(OPTIONS_KEY, None)
        if body_options is not None and not isinstance(body_options, dict):
            return error_response(ErrorCode.BAD_REQUEST, f'"{OPTIONS_KEY}" must be an object')
        raw_options.update(body_options or {})
        try:
            options = JobOptions.model_validate(raw_options)
        except ValidationError as exc:
            details = [{**d, "field": f"{OPTIONS_KEY}.{d['field']}"} for d in validation_details(exc)]
            return error_response(ErrorCode.VALIDATION_ERROR, "Invalid job options", details)
        with incoming_context(request, carried) as ctx:
            spec = queue.actions.get(action)
            # The caller first (an anonymous client learns nothing about which actions exist), then the
            # same per-action rules as invoking it directly, then the transports it is offered on.
            refusal = await allowed.check(request, ctx, action=spec)
            if refusal is None and spec is not None:
                refusal = enqueue_refusal(spec)
            if refusal is not None:
                raise refusal
            job_id = await queue.enqueue(action, data, **options.model_dump())
        status = "ready"
        if options.idempotency_key is not None:  # may be an earlier job: report its real status
            status = (await queue.get(job_id)).status.value
        return JSONResponse({"job_id": job_id, "status": status}, status_code=202)

    async def listing(request: Request) -> Response:
        await admitted(request, JOBS_READ)
        params = request.query_params
        try:
            limit = int(params.get("limit", "100"))
            offset = int(params.get("offset", "0"))
        except ValueError:
            return error_response(ErrorCode.BAD_REQUEST, "limit and offset must be integers")
        jobs = await queue.list(
            status=params.get("status") or None,
            action=params.get("action") or None,
            limit=limit,
            offset=offset,
        )
        return JSONResponse({"jobs": [_job_body(j) for j in jobs], "count": len(jobs)})

    async def show(request: Request) -> Response:
        await admitted(request, JOBS_READ)
        return JSONResponse(_job_body(await queue.get(request.path_params["job_id"])))

    async def retry(request: Request) -> Response:
        await admitted(request, JOBS_MANAGE)
        return JSONResponse(_job_body(await queue.retry(request.path_params["job_id"])))

    async def cancel(request: Request) -> Response:
        await admitted(request, JOBS_MANAGE)
        return JSONResponse(_job_body(await queue.cancel(request.path_params["job_id"])))

    return [
        Route("/jobs", _guard(create), methods=["POST"], name="jobs_create"),
        Route("/jobs", _guard(listing), methods=["GET"], name="jobs_list"),
        Route("/jobs/{job_id}", _guard(show), methods=["GET"], name="jobs_show"),
        Route("/jobs/{job_id}/retry", _guard(retry), methods=["POST"], name="jobs_retry"),
        Route("/jobs/{job_id}/cancel", _guard(cancel), methods=["POST"], name="jobs_cancel"),
    ]


def job_openapi_paths(actions: list[str]) -> dict[str, Any]:
    """The OpenAPI ``paths`` of the job routes (the ``/openapi.json`` of an app with the queue)."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    job = {"application/json": {"schema": {"type": "object", "title": "Job"}}}
    job_id = [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    options = JobOptions.model_json_schema()
    create_body = {
        "type": "object",
        "required": ["action"],
        "properties": {"action": {"type": "string", "enum": actions}, OPTIONS_KEY: options},
        "additionalProperties": True,
        "description": "The action's input fields beside the action name; options in _options.",
    }
    statuses = ["ready", "assigned", "processing", "completed", "failed", "dead", "cancelled"]

    def op(op_id: str, summary: str, ok: str, body: Any, **extra: Any) -> dict[str, Any]:
        responses = {
            ok: {"description": summary, "content": body},
            "404": {"description": "Not found", "content": error},
        }
        return {"operationId": op_id, "summary": summary, "tags": ["jobs"], "responses": responses, **extra}

    return {
        "/jobs": {
            "post": op(
                "enqueue_job",
                "Enqueue a job",
                "202",
                {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"job_id": {"type": "string"}, "status": {"type": "string"}},
                        }
                    }
                },
                requestBody={"required": True, "content": {"application/json": {"schema": create_body}}},
            ),
            "get": op(
                "list_jobs",
                "Jobs, newest first",
                "200",
                {"application/json": {"schema": {"type": "object"}}},
                parameters=[
                    {"name": "status", "in": "query", "schema": {"type": "string", "enum": statuses}},
                    {"name": "action", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0, "maximum": 1000},
                    },
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                ],
            ),
        },
        "/jobs/{job_id}": {"get": op("get_job", "One job", "200", job, parameters=job_id)},
        "/jobs/{job_id}/retry": {
            "post": op(
                "retry_job", "Run a failed, dead or cancelled job again", "200", job, parameters=job_id
            )
        },
        "/jobs/{job_id}/cancel": {
            "post": op("cancel_job", "Cancel a job that has not finished", "200", job, parameters=job_id)
        },
    }
