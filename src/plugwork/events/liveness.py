"""``/health/live`` with the host's liveness checks (PyModules' ``add_check(..., liveness=True)``).

Plugwork's own ``/health/live`` only says that the process answers. When the attached host's
:class:`~plugwork.events.health.HealthCheck` has liveness checks, the events plugin puts this ASGI wrapper
around the app's HTTP transport: ``GET /health/live`` then runs those checks (each bounded by the
HealthCheck's timeout) and answers 503 when one is unhealthy; every other request passes through.
"""

from __future__ import annotations

from typing import Any

from starlette._utils import get_route_path

from ..http.responses import JSONResponse
from ..plugins import ASGIApp
from .health import HealthCheck, HealthStatus

Scope = dict[str, Any]


class LivenessProbe:
    """ASGI wrapper answering ``GET /health/live`` from the liveness checks."""

    def __init__(self, inner: ASGIApp, checks: HealthCheck) -> None:
        self.inner = inner
        self.checks = checks

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in ("GET", "HEAD")
            and get_route_path(scope) == "/health/live"
        ):
            checks = self.checks
            report = await checks.check_async([n for n in checks.names if checks.is_liveness(n)])
            alive = report.status is not HealthStatus.UNHEALTHY
            body = {
                "status": "alive" if alive else "not alive",
                "checks": {
                    c.name: {"status": c.status.color.name, "message": c.message} for c in report.checks
                },
            }
            await JSONResponse(body, status_code=200 if alive else 503)(scope, receive, send)
            return
        await self.inner(scope, receive, send)
