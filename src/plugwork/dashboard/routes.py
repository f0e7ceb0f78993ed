"""The dashboard's routes: the page, its static files, and the ``api/`` routes its script calls.

``GET {base}`` is the page shell (no data, so no guard); everything under ``{base}/api/`` is guarded by
:class:`~plugwork.dashboard.access.DashboardAccess`. Reads return HTML fragments (jobs, a job, actions,
services) or, for the live counts polled every few seconds, a small JSON object. ``POST
{base}/api/jobs/{op}`` (``retry``, ``cancel``, ``run_now``) takes ``{"ids": [...]}``: one job or many.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import ActionError, DependencyError, ErrorCode, PlugworkError
from ..http.body import not_json, read_limited
from ..http.responses import JSONResponse, error_response
from ..queue.browse import MAX_TEXT, JobQuery
from ..queue.client import JobQueue
from ..queue.jobs import JobStatus
from ..queue.store import StoreUnavailable
from .access import JOBS_MANAGE, JOBS_READ, SERVICES, DashboardAccess
from .html import job_detail, jobs_table, shell
from .panels import actions_panel, services_panel

if TYPE_CHECKING:
    from ..app import App

Handler = Callable[[Request], Awaitable[Response]]
STATIC = Path(str(resources.files(__package__).joinpath("static")))
PAGE_SIZE = 50
MAX_BULK = 500
COUNTS_TTL = 1.0  # seconds a count is reused (the page polls every 3 s)
OPS = ("retry", "cancel", "run_now")
# The page loads only its own script and stylesheet: no inline code, no other origin, no framing.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class BulkBody(BaseModel):
    """The body of ``POST {base}/api/jobs/{op}``."""

    ids: list[str] = Field(min_length=1, max_length=MAX_BULK)


def _html(content: str) -> Response:
    return HTMLResponse(content, headers=NO_STORE)


def dashboard_routes(app: App, access: DashboardAccess, base: str) -> list[BaseRoute]:
    """The routes of the dashboard mounted at ``base`` (``/dashboard``)."""

    def guarded(permission: str, handler: Handler) -> Handler:
        async def run(request: Request) -> Response:
            try:
                refusal = await access.check(request, permission)
                if refusal is not None:
                    raise refusal
                return await handler(request)
            except ActionError as exc:
                return error_response(exc.code, exc.message, exc.details, exc.status)
            except StoreUnavailable as exc:
                return error_response(ErrorCode.UNAVAILABLE, f"job store unavailable: {exc}")
            except PlugworkError as exc:
                return error_response(ErrorCode.INTERNAL, f"Internal error ({type(exc).__name__})")

        return run

    def queue() -> JobQueue:
        try:
            return app.get(JobQueue)
        except DependencyError:
            raise ActionError("This app has no job queue", code=ErrorCode.NOT_FOUND) from None

    async def page(request: Request) -> Response:
        headers = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", **NO_STORE}
        return HTMLResponse(shell(base), headers=headers)

    cached: dict[str, Any] = {"at": 0.0, "body": None}

    async def counts(request: Request) -> Response:
        # Every open dashboard polls this: one store query per COUNTS_TTL serves them all.
        now = time.monotonic()
        if cached["body"] is not None and now - cached["at"] < COUNTS_TTL:
            return JSONResponse(cached["body"], headers=NO_STORE)
        per_queue = await queue().store.queue_counts()
        totals = dict.fromkeys((s.value for s in JobStatus), 0)
        for statuses in per_queue.values():
            for status, n in statuses.items():
                totals[status.value] += n
        body = {
            "statuses": totals,
            "queues": {q: {s.value: n for s, n in c.items()} for q, c in sorted(per_queue.items())},
        }
        cached.update(at=now, body=body)
        return JSONResponse(body, headers=NO_STORE)

    async def jobs(request: Request) -> Response:
        params = request.query_params
        try:
            status = JobStatus(params["status"]) if params.get("status") else None
            query = JobQuery(
                status=status,
                action=params.get("action") or None,
                queue=params.get("queue") or None,
                text=(params.get("text") or "").strip() or None,
                before=params.get("before") or None,
                limit=PAGE_SIZE + 1,  # one more tells whether an older page exists
            )
        except ValueError as exc:
            raise ActionError(
                f"Bad filter (text at most {MAX_TEXT}): {exc}", code=ErrorCode.BAD_REQUEST
            ) from None
        found = await queue().store.page(query)
        more = len(found) > PAGE_SIZE
        shown = found[:PAGE_SIZE]
        return _html(jobs_table(shown, shown[-1].id if more else None))

    async def job(request: Request) -> Response:
        found = await queue().store.get(str(request.path_params["job_id"]))
        if found is None:
            raise ActionError("No such job", code=ErrorCode.NOT_FOUND)
        return _html(job_detail(found))

    async def operate(request: Request) -> Response:
        op = request.path_params["op"]
        if op not in OPS:
            raise ActionError(f"No operation {op!r}", code=ErrorCode.NOT_FOUND)
        raw = await read_limited(request, 64 * 1024)
        if raw is None:
            raise ActionError("Request body too large", code=ErrorCode.PAYLOAD_TOO_LARGE)
        if not raw or not_json(request, raw):
            raise ActionError('Send a JSON body: {"ids": [...]}', code=ErrorCode.UNSUPPORTED_MEDIA_TYPE)
        try:
            body = BulkBody.model_validate_json(raw)
        except ValidationError as exc:
            raise ActionError(
                "Bad body", code=ErrorCode.VALIDATION_ERROR, details=exc.errors(include_url=False)
            ) from None
        store = queue().store
        method: Callable[[str], Awaitable[Any]] = getattr(store, op)
        results: dict[str, str | None] = {}
        for job_id in dict.fromkeys(body.ids):
            found = await method(job_id)
            results[job_id] = None if found is None else found.status.value
        cached["body"] = None  # the next poll shows this change
        return JSONResponse({"op": op, "jobs": results}, headers=NO_STORE)

    async def actions(request: Request) -> Response:
        return _html(actions_panel([app.actions[name] for name in sorted(app.actions)]))

    async def services(request: Request) -> Response:
        listed = [svc.status() for svc in (app.container.services if app.container else [])]
        report = (await app.health.report()).to_dict()
        return _html(services_panel(listed, report, manageable=app.settings.management_api))

    return [
        Route(base, page, methods=["GET"]),
        Mount(f"{base}/static", StaticFiles(directory=STATIC), name="dashboard_static"),
        Route(f"{base}/api/counts", guarded(JOBS_READ, counts), methods=["GET"]),
        Route(f"{base}/api/jobs", guarded(JOBS_READ, jobs), methods=["GET"]),
        Route(f"{base}/api/jobs/{{job_id:int}}", guarded(JOBS_READ, job), methods=["GET"]),
        Route(f"{base}/api/jobs/{{op:str}}", guarded(JOBS_MANAGE, operate), methods=["POST"]),
        Route(f"{base}/api/actions", guarded(JOBS_READ, actions), methods=["GET"]),
        Route(f"{base}/api/services", guarded(SERVICES, services), methods=["GET"]),
    ]
