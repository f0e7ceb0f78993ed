"""A Plugwork app inside an existing FastAPI (or Starlette) app: mounted whole, or one route per action."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response

from ..actions import ActionResponse
from ..context import Context
from ..dispatch import Invocation, Outcome
from ..errors import ActionError, ErrorCode
from ..rest.endpoint import correlation_id, reply
from ._dep import fastapi

if TYPE_CHECKING:
    from fastapi import APIRouter

    from ..actions import Action
    from ..app import App

Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


def lifespan(app: App) -> Lifespan:
    """A lifespan for ``FastAPI(lifespan=...)`` that starts ``app`` (its services, queue worker...) and
    stops it at shutdown."""

    @asynccontextmanager
    async def run(_host: Any) -> AsyncIterator[None]:
        async with app:
            yield

    return run


def mount_app(host: Any, app: App, path: str = "/plugwork") -> None:
    """Serve the whole Plugwork ``app`` (actions, catalog, docs, health...) under ``path`` of a FastAPI or
    Starlette app, started and stopped by that app's lifespan (around its own)."""
    if not path.startswith("/") or path.endswith("/"):
        raise ValueError("path must start with '/' and not end with one")
    host.mount(path, _Rooted(app.asgi))
    original = host.router.lifespan_context

    @asynccontextmanager
    async def chained(outer: Any) -> AsyncIterator[Any]:
        async with app, original(outer) as state:
            yield state

    host.router.lifespan_context = chained


class _Rooted:
    """Give a mounted Plugwork transport the path below its mount point (Starlette keeps the full path
    in ``scope["path"]`` and the prefix in ``root_path``; Plugwork's hot path reads ``path``)."""

    def __init__(self, asgi: Any) -> None:
        self.asgi = asgi

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "path": get_route_path(scope) or "/"}
        await self.asgi(scope, receive, send)


def action_router(app: App, *, prefix: str = "", tags: list[str] | None = None) -> APIRouter:
    """A FastAPI ``APIRouter`` with one typed ``POST {prefix}/{action}`` per action of ``app``.

    FastAPI validates each body against the action's input model and documents input and output; the
    action then runs through Plugwork's dispatcher (middleware, metrics, logging). The Plugwork app must be
    running (start it with :func:`lifespan`); until then the routes answer 503.
    """
    router: APIRouter = fastapi.APIRouter(prefix=prefix)
    for spec in sorted(app.actions.values(), key=lambda s: s.name):
        out = spec.output_type
        typed_out = out if out not in (Any, None) and not _is_response(out) else None
        router.add_api_route(
            f"/{spec.name}",
            _typed_endpoint(app, spec),
            methods=["POST"],
            response_model=typed_out,
            summary=spec.description.splitlines()[0] if spec.description else spec.name,
            description=spec.description,
            tags=list(tags or spec.tags or ["actions"]),
            operation_id=spec.name,
        )
    return router


def _is_response(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, ActionResponse)


def _typed_endpoint(app: App, spec: Action) -> Callable[..., Any]:
    name = spec.name

    async def endpoint(payload: Any, request: Request) -> Response:
        cid = correlation_id(request)
        if not app.ready:
            return reply(Outcome.failure(ErrorCode.UNAVAILABLE, "The app is not started"), cid)
        # The validated model is its own payload: the dispatcher's validator returns it as is.
        ctx = Context(cid, "http", request_id=cid, http_scope=request.scope)
        carriers = app.carriers  # this start's: the caller's token, tenant, trace... reach the action
        if not carriers.only_correlation:
            try:
                carriers.extract(carriers.select(request.headers.items()), ctx)
            except ActionError as exc:
                return reply(Outcome.from_exception(exc), cid)
        return reply(await app.dispatcher.dispatch(Invocation(name, payload, ctx)), cid)

    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "payload", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=spec.input_model
            ),
            inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
        ],
        return_annotation=Response,
    )
    endpoint.__name__ = f"action_{name.replace('.', '_').replace(':', '_').replace('-', '_')}"
    return endpoint
