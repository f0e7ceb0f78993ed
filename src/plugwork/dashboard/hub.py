"""The hub's dashboard: services, connected consumers, tokens (never their values) and requests by outcome.

Served by ``plugwork hub --dashboard`` (``PLUGWORK_DASHBOARD=true``) at ``/dashboard``, read-only, and
guarded like the hub's admin API: ``Authorization: Bearer <admin token>``, compared in constant time;
without an admin token every data route answers 403, as the admin API does.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from .html import esc
from .routes import CSP, NO_STORE, STATIC

if TYPE_CHECKING:
    from ..plugboard.hub.core import Hub

REQUESTS_METRIC = "plugboard_hub_requests"


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


def _table(ident: str, head: list[str], rows: list[list[str]], empty: str) -> str:
    cells = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not cells:
        cells = f'<tr><td colspan={len(head)} class="muted">{esc(empty)}</td></tr>'
    header = "".join(f"<th>{esc(h)}</th>" for h in head)
    return f'<table id="hub-{ident}"><thead><tr>{header}</tr></thead><tbody>{cells}</tbody></table>'


def requests_by_outcome(hub: Hub) -> dict[str, float]:
    """The hub's producer requests counted by outcome, read from its metrics registry."""
    out: dict[str, float] = {}
    for family in hub.registry.collect():
        if family.name == REQUESTS_METRIC:
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    out[sample.labels.get("outcome", "")] = sample.value
    return out


async def hub_panel(hub: Hub) -> str:
    """The whole hub view as HTML (every value escaped; no token or account secret is ever read out)."""
    services = await hub.store.list_services()
    names = {svc.id: svc.name for svc in services}
    joined = [sock for sock in hub.sockets.values() if sock.joined]
    per_service = Counter(sock.service_id for sock in joined)
    tokens = await hub.store.list_tokens()
    accounts = await hub.store.list_accounts()
    outcomes = requests_by_outcome(hub)
    return (
        "<h2>Services</h2>"
        + _table(
            "services",
            ["service", "id", "consumers connected", "created"],
            [[esc(s.name), esc(s.id), str(per_service.get(s.id, 0)), esc(s.inserted_at)] for s in services],
            "No services.",
        )
        + "<h2>Consumers connected to this hub</h2>"
        + _table(
            "consumers",
            ["consumer", "service", "token"],
            [[esc(c.id), esc(names.get(c.service_id, c.service_id)), esc(c.token.id)] for c in joined],
            "No consumer is connected.",
        )
        + "<h2>Service tokens</h2><p class=muted>A token's value is shown once, when it is created.</p>"
        + _table(
            "tokens",
            ["token id", "service", "context", "created", "expires", "state"],
            [
                [
                    esc(t.id),
                    esc(names.get(t.service_id, t.service_id)),
                    esc(t.context),
                    esc(t.inserted_at),
                    esc(t.expires_at),
                    '<span class="badge dead">expired</span>' if t.expired else "valid",
                ]
                for t in tokens
            ],
            "No tokens.",
        )
        + "<h2>Producer accounts</h2>"
        + _table(
            "accounts",
            ["account", "id", "created"],
            [[esc(a.name), esc(a.id), esc(a.inserted_at)] for a in accounts],
            "No accounts.",
        )
        + "<h2>Requests by outcome</h2>"
        + _table(
            "requests",
            ["outcome", "requests"],
            [[esc(k), f"{v:.0f}"] for k, v in sorted(outcomes.items())],
            "None yet.",
        )
    )


def hub_dashboard_routes(admin_token: str | None, base: str = "/dashboard") -> list[BaseRoute]:
    """The hub dashboard's routes (the page, its static files, and ``{base}/api/hub``)."""
    from .html import shell

    expected = _digest("Bearer " + admin_token) if admin_token else None

    async def page(request: Request) -> Response:
        headers = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", **NO_STORE}
        return HTMLResponse(shell(base, ("hub",)), headers=headers)

    async def panel(request: Request) -> Response:
        if expected is None:
            # error_message, as in the 401 below: the dashboard's script shows that key to the operator.
            message = "The hub has no admin token (--admin-token): its dashboard shows nothing"
            return JSONResponse({"error_message": message}, status_code=403)
        given = _digest(request.headers.get("authorization", ""))
        if not hmac.compare_digest(given, expected):
            return JSONResponse({"error_message": "A valid admin token is required"}, status_code=401)
        return HTMLResponse(await hub_panel(request.app.state.hub), headers=NO_STORE)

    return [
        Route(base, page, methods=["GET"]),
        Mount(f"{base}/static", StaticFiles(directory=STATIC), name="dashboard_static"),
        Route(f"{base}/api/hub", panel, methods=["GET"]),
    ]
