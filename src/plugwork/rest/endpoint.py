"""One endpoint for every REST route: path, query and body merged into one payload, validated by the action.

Path and query parameters go through the action's input model exactly like body fields, so a bad ``{user_id}``
answers the same ``422 VALIDATION_ERROR`` (naming the field) as a bad body field would. Precedence when a
name appears twice: path over query over body. Repeated query parameters fill list fields. A body must be
JSON (415 otherwise, as on ``POST /actions/{name}``) and within the size limit (413).
"""

from __future__ import annotations

import typing
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..actions import Action
from ..carriers import MAX_CORRELATION_ID, Carriers
from ..context import Context, new_correlation_id
from ..dispatch import ErrorInfo, Outcome
from ..errors import ActionError, ErrorCode
from ..http.body import not_json, read_limited
from .conventions import RestRoute

Dispatch = Callable[[str, dict[str, Any], Context], Awaitable[Outcome]]
Endpoint = Callable[[Request], Awaitable[Response]]
DEFAULT_MAX_BODY = 1024 * 1024
_LISTS = (list, set, frozenset, tuple)


class _Refused(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def list_fields(spec: Action) -> frozenset[str]:
    """The input fields that take every value of a repeated query parameter."""
    found = set()
    for name, info in spec.input_model.model_fields.items():
        annotation = info.annotation
        origin = typing.get_origin(annotation) or annotation
        args = typing.get_args(annotation)
        if origin in _LISTS or any((typing.get_origin(a) or a) in _LISTS for a in args):
            found.add(info.alias or name)
    return frozenset(found)


def correlation_id(request: Request) -> str:
    """The request's correlation id: set by a tracing middleware, sent by the client, or a new one."""
    state = request.scope.get("state") or {}
    given = state.get("correlation_id") or request.headers.get("x-correlation-id")
    return given[:MAX_CORRELATION_ID] if given else new_correlation_id()


def rest_endpoint(
    route: RestRoute,
    spec: Action,
    dispatch: Dispatch,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    carriers: Carriers | None = None,
) -> Endpoint:
    """The Starlette endpoint serving ``spec`` at ``route`` (``carriers``: the app's, to read the context
    the request carries)."""
    lists = list_fields(spec)
    name = spec.name
    has_body = route.has_body

    async def endpoint(request: Request) -> Response:
        cid = correlation_id(request)
        try:
            payload = await _payload(request, has_body, lists, max_body_bytes)
        except _Refused as exc:
            return reply(Outcome.failure(exc.code, exc.message), cid)
        ctx = Context(cid, "http", request_id=cid, http_scope=request.scope)
        if carriers is not None and not carriers.only_correlation:
            try:
                carriers.extract(carriers.select(request.headers.items()), ctx)
            except ActionError as exc:
                return reply(Outcome.from_exception(exc), cid)
        return reply(await dispatch(name, payload, ctx), cid)

    endpoint.__name__ = f"rest_{name}"
    return endpoint


async def _payload(request: Request, has_body: bool, lists: frozenset[str], limit: int) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if has_body:
        body = await read_limited(request, limit)
        if body is None:
            raise _Refused(ErrorCode.PAYLOAD_TOO_LARGE, f"Request body exceeds {limit} bytes")
        if not_json(request, body):
            # Forms and text/plain are what a browser posts cross-site without a CORS preflight.
            raise _Refused(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json")
        if body.strip():
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise _Refused(ErrorCode.BAD_REQUEST, f"Malformed JSON: {exc}") from None
            if not isinstance(data, dict):
                raise _Refused(ErrorCode.VALIDATION_ERROR, "The request body must be a JSON object")
            payload.update(data)
    query = request.query_params
    for key in dict.fromkeys(query.keys()):
        values = query.getlist(key)
        payload[key] = values if key in lists else values[-1]
    payload.update(request.path_params)
    return payload


def reply(outcome: Outcome, cid: str) -> Response:
    """The HTTP response for an outcome: the output, or Plugwork's one error shape, with its status."""
    headers = {"x-correlation-id": cid}
    if outcome.error is None:
        return Response(outcome.output_json(), outcome.status, headers, "application/json")
    return error_reply(outcome.error, headers)


def error_reply(error: ErrorInfo, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(error.to_dict()), error.status, headers, "application/json")
