"""REST routes by naming convention, for any action (events included).

=================  ======  =====================
action             method  path
=================  ======  =====================
``CreateUser``     POST    ``/users``
``GetUser``        GET     ``/users/{user_id}``
``ListUsers``      GET     ``/users``
``UpdateUser``     PUT     ``/users/{user_id}``
``DeleteUser``     DELETE  ``/users/{user_id}``
``SearchUsers``    POST    ``/users/search``
=================  ======  =====================

``create_user``, ``get_user``... map the same way; ``CreateOrderItem`` is ``POST /order-items`` with the id
``{order_item_id}`` (or ``{id}`` when the input model has an ``id`` field and no ``order_item_id``).
:func:`api_endpoint` overrides the method, path, tags and summary; :func:`exclude_from_api` hides an
action from these routes. Both work on action functions, ``ActionRunner`` classes and event classes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..actions import Action

T = TypeVar("T")
REST_ATTR = "__plugwork_rest__"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_CAMEL = re.compile(r"^(Create|Get|List|Update|Delete|Search)([A-Z][A-Za-z0-9]*)$")
_SNAKE = re.compile(r"^(create|get|list|update|delete|search)_([a-z][a-z0-9_]*[a-z0-9])$")
_PARAM = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)}")
_VERBS = {
    "create": ("POST", False, ""),
    "get": ("GET", True, ""),
    "list": ("GET", False, ""),
    "update": ("PUT", True, ""),
    "delete": ("DELETE", True, ""),
    "search": ("POST", False, "/search"),
}


@dataclass(frozen=True, slots=True)
class RestRoute:
    """Where one action is served: method, path (with ``{param}`` placeholders), tags and summary."""

    action: str
    method: str
    path: str
    tags: tuple[str, ...] = ()
    summary: str = ""

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(_PARAM.findall(self.path))

    @property
    def has_body(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH")


def api_endpoint(
    path: str | None = None,
    method: str | None = None,
    tags: Sequence[str] | None = None,
    summary: str | None = None,
) -> Callable[[T], T]:
    """Override the convention for an action, ``ActionRunner`` or event class."""
    if method is not None and method.upper() not in METHODS:
        raise ValueError(f"unsupported HTTP method {method!r}")
    if path is not None and not path.startswith("/"):
        raise ValueError(f"path must start with '/': {path!r}")
    options = {
        "path": path,
        "method": method.upper() if method else None,
        "tags": tuple(tags) if tags is not None else None,
        "summary": summary,
    }

    def mark(obj: T) -> T:
        setattr(obj, REST_ATTR, {k: v for k, v in options.items() if v is not None})
        return obj

    return mark


def exclude_from_api(obj: T) -> T:
    """Never serve this action, ``ActionRunner`` or event as a REST route."""
    setattr(obj, REST_ATTR, {"exclude": True})
    return obj


def _options(spec: Action) -> dict[str, Any]:
    for owner in (getattr(spec.handler, "event_type", None), spec.runner_class, spec.handler):
        if owner is not None and REST_ATTR in getattr(owner, "__dict__", {}):
            return dict(getattr(owner, REST_ATTR))
    meta = getattr(spec, "meta", None) or {}
    http = meta.get("http") if isinstance(meta, dict) else None
    return dict(http) if isinstance(http, dict) else {}


def rest_route(spec: Action) -> RestRoute | None:
    """The REST route of ``spec``, or None when it has none (excluded, or no convention matches)."""
    opts = _options(spec)
    if opts.get("exclude"):
        return None
    tags = tuple(opts.get("tags") or spec.tags)
    summary = opts.get("summary") or (spec.description.splitlines()[0] if spec.description else spec.name)
    guessed = convention(spec.name, set(spec.input_model.model_fields))
    method = opts.get("method") or (guessed[0] if guessed else None)
    path = opts.get("path") or (guessed[1] if guessed else None)
    if method is None or path is None:
        return None
    return RestRoute(spec.name, method.upper(), path, tags, summary)


def convention(name: str, fields: set[str] | None = None) -> tuple[str, str] | None:
    """``(method, path)`` for an action name by the conventions above, or None."""
    match = _CAMEL.match(name)
    if match:
        verb, resource = match.group(1).lower(), _snake(match.group(2))
    else:
        match = _SNAKE.match(name)
        if not match:
            return None
        verb, resource = match.group(1), match.group(2)
    method, by_id, suffix = _VERBS[verb]
    if verb in ("list", "search"):
        return method, f"/{_kebab(resource)}{suffix}"
    id_field = f"{resource}_id"
    if fields is not None and id_field not in fields and "id" in fields:
        id_field = "id"
    path = f"/{_kebab(plural(resource))}"
    return method, f"{path}/{{{id_field}}}" if by_id else path


def plural(word: str) -> str:
    """English plural of the last part of a snake_case word (``order_item`` → ``order_items``)."""
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def _snake(camel: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", camel).lower()


def _kebab(snake: str) -> str:
    return snake.replace("_", "-")


def rest_routes(actions: Sequence[Action] | Any) -> list[tuple[RestRoute, Action]]:
    """The REST routes of ``actions`` (a sequence or a name -> Action mapping), refusing duplicates."""
    specs = list(actions.values()) if hasattr(actions, "values") else list(actions)
    seen: dict[tuple[str, str], str] = {}
    found = []
    for spec in sorted(specs, key=lambda s: s.name):
        route = rest_route(spec)
        if route is None:
            continue
        key = (route.method, _PARAM.sub("{}", route.path))
        if key in seen:
            from ..errors import DefinitionError

            raise DefinitionError(
                f"actions {seen[key]!r} and {spec.name!r} both map to {route.method} {route.path}"
            )
        seen[key] = spec.name
        found.append((route, spec))
    return found
