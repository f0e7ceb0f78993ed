"""Actions: the unit a developer writes once and Plugwork serves over every transport.

Two styles produce the same :class:`Action` spec:

* a function decorated with :func:`action`, whose Pydantic-typed parameter is the input, whose return
  annotation is the output, and whose other parameters are injected (services by type, the ``Context``);
* a class deriving from :class:`ActionRunner` (the Vera-Py-Service style): its fields are the input, its
  ``description()`` the description, and ``async run(self, ctx)`` returns an output model or an
  :class:`ActionResponse`.

The decorator only attaches metadata to the function; an ``App`` collects actions by discovery or explicit
registration.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import re
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar, overload

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from .context import Context
from .dispatch import CallNext, Invocation, Middleware, Observer, Outcome
from .errors import ActionError, DefinitionError, DependencyError, ErrorCode
from .observability.logging import get_logger

F = TypeVar("F", bound=Callable[..., Any])

ACTION_ATTR = "__plugwork_action__"
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$")
TRANSPORTS = frozenset({"http", "queue", "plugboard", "call"})
"""The transports an action may be limited to (``@action(transports=...)``)."""
_log = get_logger("plugwork.action")


class ActionResponse(BaseModel):
    """A Vera-style response: an HTTP-style status, an optional message and the output fields.

    A status of 400 or more is an error outcome with that status; ``fields`` become its details.
    """

    status_code: int = 200
    message: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Action:
    """Everything Plugwork knows about one action. Built by :func:`action` or :class:`ActionRunner`."""

    name: str
    handler: Callable[..., Any]
    input_model: type[BaseModel]
    input_param: str
    output_type: Any = Any
    description: str = ""
    version: str = "1"
    timeout: float | None = None
    max_attempts: int | None = None
    queue: str = "default"
    cron: str | None = None
    rate_limit: float | None = None
    tags: tuple[str, ...] = ()
    middleware: tuple[Middleware, ...] = ()
    observers: tuple[Observer, ...] = ()
    """Called with every outcome once the whole chain has run (see :data:`plugwork.dispatch.Observer`)."""
    dependencies: dict[str, Any] = field(default_factory=dict)
    """Injected parameters: name -> the type to inject."""
    is_async: bool = True
    runner_class: type[ActionRunner] | None = None
    permissions: tuple[str, ...] = ()
    """Permissions a caller needs (enforced by an auth plugin's middleware, not by the core)."""
    public: bool = False
    """Open to anonymous callers even when the app requires authentication by default."""
    transports: frozenset[str] | None = None
    """The transports that may invoke it (``http``, ``queue``, ``plugboard``, ``call``); None: all."""
    meta: Mapping[str, Any] = field(default_factory=dict)
    """Free-form options that plugins read, by plugin name (``{"soajs": {...}, "http": {...}}``)."""

    def input_schema(self) -> dict[str, Any]:
        """JSON Schema of the input."""
        return self.input_model.model_json_schema()

    def output_schema(self) -> dict[str, Any]:
        """JSON Schema of the output (``{}`` when the handler is not annotated)."""
        out = self.output_type
        if out is Any or out is None or out is type(None):
            return {}
        if isinstance(out, type) and issubclass(out, ActionResponse):
            return {"type": "object", "title": "ActionResponse fields", "additionalProperties": True}
        return TypeAdapter(out).json_schema()

    def describe(self) -> dict[str, Any]:
        """The catalog entry: name, description, version, input and output schema."""
        return {
            "name": self.name,
            "description": self.description,
            "version": self.version,
            "queue": self.queue,
            "cron": self.cron,
            "input_schema": self.input_schema(),
            "output_schema": self.output_schema(),
        }


def _spec_options(**options: Any) -> dict[str, Any]:
    opts = {k: v for k, v in options.items() if v is not None}
    for key in ("tags", "middleware", "permissions"):
        if key in opts:
            opts[key] = tuple(opts[key])
    if "transports" in opts:
        opts["transports"] = frozenset(opts["transports"])
        unknown = opts["transports"] - TRANSPORTS
        if unknown:
            raise DefinitionError(f"unknown transport(s) {sorted(unknown)}: use {sorted(TRANSPORTS)}")
    if "meta" in opts:
        opts["meta"] = dict(opts["meta"])
    return opts


@overload
def action(name: F, /) -> F: ...
@overload
def action(
    name: str | None = None,
    /,
    *,
    description: str | None = None,
    version: str | None = None,
    timeout: float | None = None,
    max_attempts: int | None = None,
    queue: str | None = None,
    cron: str | None = None,
    rate_limit: float | None = None,
    tags: Sequence[str] | None = None,
    middleware: Sequence[Middleware] | None = None,
    permissions: Sequence[str] | None = None,
    public: bool | None = None,
    transports: Iterable[str] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Callable[[F], F]: ...
def action(name: Any = None, /, **options: Any) -> Any:
    """Mark a function (sync or async) as an action. ``@action``, ``@action()`` and ``@action("name")``.

    Options: ``description`` (default: the docstring), ``version``, ``timeout`` (seconds), ``max_attempts``
    (queue deliveries), ``queue``, ``cron`` (a periodic schedule), ``rate_limit`` (invocations per second,
    a token bucket), ``tags`` (OpenAPI grouping), ``middleware`` (this action only), ``permissions`` and
    ``public`` (read by an auth plugin), ``transports`` (which transports may invoke it: ``http``,
    ``queue``, ``plugboard``, ``call``; default all) and ``meta`` (options for plugins, by plugin name).
    """
    if callable(name):
        return action()(name)

    def mark(fn: F) -> F:
        setattr(fn, ACTION_ATTR, {"name": name or fn.__name__, **_spec_options(**options)})
        return fn

    return mark


class ActionRunner(BaseModel):
    """Base for class-style actions: the model's fields are the input.

    Override ``description()`` and ``run(self, ctx)``; ``run`` may declare more parameters, injected by type
    like a function action's. The action name is ``action_name`` if set, else the class name.
    """

    action_name: ClassVar[str | None] = None
    action_options: ClassVar[dict[str, Any]] = {}

    @classmethod
    def description(cls) -> str:
        return inspect.getdoc(cls) or ""

    async def run(self, ctx: Context) -> Any:
        raise NotImplementedError


def spec_from_function(fn: Callable[..., Any], options: dict[str, Any] | None = None) -> Action:
    """Build the :class:`Action` of a decorated (or plain) function, checking its signature."""
    opts = dict(options if options is not None else getattr(fn, ACTION_ATTR, {}))
    name = opts.pop("name", None) or fn.__name__
    where = f"action {name!r} ({fn.__module__}.{fn.__qualname__})"
    hints = _hints(fn, where)
    input_param: str | None = None
    deps: dict[str, Any] = {}
    for pname, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise DefinitionError(f"{where}: *args/**kwargs are not supported (parameter {pname!r})")
        hint = hints.get(pname)
        if hint is None:
            raise DefinitionError(f"{where}: parameter {pname!r} has no type annotation")
        if input_param is None and _is_model(hint) and not _is_injectable(hint):
            input_param = pname
            input_model = hint
        else:
            deps[pname] = hint
    if input_param is None:
        raise DefinitionError(
            f"{where}: no input model — one parameter must be typed with a pydantic BaseModel subclass"
        )
    return _make(
        name,
        fn,
        input_model,
        input_param,
        hints.get("return", Any),
        deps,
        description=opts.pop("description", None) or inspect.getdoc(fn) or "",
        opts=opts,
        where=where,
    )


def spec_from_runner(cls: type[ActionRunner]) -> Action:
    """Build the :class:`Action` of an :class:`ActionRunner` subclass."""
    name = cls.action_name or cls.__name__
    where = f"action {name!r} ({cls.__module__}.{cls.__qualname__})"
    run = cls.run
    hints = _hints(run, where)
    deps: dict[str, Any] = {}
    for pname in list(inspect.signature(run).parameters)[1:]:
        hint = hints.get(pname)
        if hint is None and pname in ("ctx", "context"):
            hint = Context
        if hint is None:
            raise DefinitionError(f"{where}: run() parameter {pname!r} has no type annotation")
        deps[pname] = hint
    is_async = inspect.iscoroutinefunction(run)

    if is_async:

        async def handler(__input: ActionRunner, **kwargs: Any) -> Any:
            return await __input.run(**kwargs)
    else:

        def handler(__input: ActionRunner, **kwargs: Any) -> Any:  # type: ignore[misc]
            return __input.run(**kwargs)

    return _make(
        name,
        handler,
        cls,
        "__input",
        hints.get("return", Any),
        deps,
        description=cls.description(),
        opts=_spec_options(**cls.action_options),
        where=where,
        is_async=is_async,
        runner_class=cls,
    )


def _make(
    name: str,
    fn: Callable[..., Any],
    input_model: type[BaseModel],
    input_param: str,
    output: Any,
    deps: dict[str, Any],
    *,
    description: str,
    opts: dict[str, Any],
    where: str,
    is_async: bool | None = None,
    runner_class: type[ActionRunner] | None = None,
) -> Action:
    if not _NAME_RE.match(name):
        raise DefinitionError(f"{where}: invalid action name {name!r} (letters, digits, _ . : -; max 128)")
    unknown = set(opts) - set(Action.__dataclass_fields__)
    if unknown:
        raise DefinitionError(f"{where}: unknown option(s) {sorted(unknown)}")
    if opts.get("cron"):
        from croniter import croniter

        if not croniter.is_valid(opts["cron"]):
            raise DefinitionError(f"{where}: invalid cron expression {opts['cron']!r}")
    return Action(
        name=name,
        handler=fn,
        input_model=input_model,
        input_param=input_param,
        output_type=output,
        dependencies=deps,
        description=description,
        is_async=inspect.iscoroutinefunction(fn) if is_async is None else is_async,
        runner_class=runner_class,
        **opts,
    )


def as_action(obj: Any) -> Action | None:
    """The spec of a decorated function, an ActionRunner subclass or an Action; None for anything else."""
    if isinstance(obj, Action):
        return obj
    if isinstance(obj, type) and issubclass(obj, ActionRunner) and obj is not ActionRunner:
        if obj.run is ActionRunner.run:
            return None  # an abstract intermediate base
        return spec_from_runner(obj)
    if callable(obj) and hasattr(obj, ACTION_ATTR):
        return spec_from_function(obj)
    return None


def _hints(fn: Callable[..., Any], where: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception as exc:
        raise DefinitionError(f"{where}: cannot resolve type annotations: {exc}") from exc


def _is_model(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, BaseModel)


def _is_injectable(hint: Any) -> bool:
    # Settings classes are pydantic models too, but they are injected, never taken as input.
    from pydantic_settings import BaseSettings

    from .services import Service

    return isinstance(hint, type) and issubclass(hint, Service | BaseSettings)


# --------------------------------------------------------------------------- the terminal of each chain


def bind(spec: Action, resolve: Callable[[Any], Any]) -> CallNext:
    """Build the innermost step for ``spec``: validate input, inject, run, map exceptions to an Outcome.

    ``resolve(type)`` returns the instance to inject for a type, or raises :class:`DependencyError`. It is
    called here, once at start-up, never per invocation.
    """
    static: dict[str, Any] = {}
    ctx_params: list[str] = []
    for pname, hint in spec.dependencies.items():
        if hint is Context:
            ctx_params.append(pname)
            continue
        try:
            static[pname] = resolve(hint)
        except DependencyError as exc:
            raise DependencyError(f"action {spec.name!r}, parameter {pname!r}: {exc}") from None
    # pydantic-core's validator directly: skips a Python wrapper frame per call on the hot path.
    validate_json = spec.input_model.__pydantic_validator__.validate_json
    validate = spec.input_model.__pydantic_validator__.validate_python
    handler = spec.handler
    input_param = spec.input_param
    positional = next(iter(inspect.signature(handler).parameters)) == input_param
    is_async = spec.is_async

    async def run(invocation: Invocation) -> Outcome:
        payload = invocation.payload
        try:
            data = validate_json(payload) if type(payload) is bytes else validate(payload)
        except ValidationError as exc:
            details = validation_details(exc)
            if details and details[0]["type"] == "json_invalid":
                return Outcome.failure(ErrorCode.BAD_REQUEST, f"Malformed JSON: {details[0]['message']}")
            return Outcome.failure(ErrorCode.VALIDATION_ERROR, "Invalid input", details=details)
        kwargs = static if not ctx_params else {**static, **dict.fromkeys(ctx_params, invocation.context)}
        if not positional:
            kwargs = {**kwargs, input_param: data}
        try:
            if is_async:
                result = await (handler(data, **kwargs) if positional else handler(**kwargs))
            else:
                call = (
                    functools.partial(handler, data, **kwargs)
                    if positional
                    else functools.partial(handler, **kwargs)
                )
                result = await asyncio.to_thread(call)
        except ActionError as exc:
            return Outcome.from_exception(exc)
        except Exception as exc:  # a ValidationError here is a handler building an invalid model: a bug
            _log_internal(spec.name, exc)
            return Outcome.failure(ErrorCode.INTERNAL, "Internal server error")
        if isinstance(result, ActionResponse):
            return _from_response(result)
        return Outcome(output=result)

    return run


def _from_response(resp: ActionResponse) -> Outcome:
    if resp.status_code >= 400:
        code = ErrorCode.for_status(resp.status_code)
        return Outcome.failure(
            code, resp.message or code.value, details=resp.fields or None, status=resp.status_code
        )
    return Outcome.success(resp.fields, status=resp.status_code, message=resp.message)


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """Field errors in a compact JSON shape: ``[{"field": "a.b", "message": ..., "type": ...}]``."""
    return [
        {
            "field": ".".join(str(p) for p in err["loc"]) or "(body)",
            "message": err["msg"],
            "type": err["type"],
        }
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def _log_internal(action_name: str, exc: BaseException) -> None:
    _log.error("action failed", action=action_name, error=f"{type(exc).__name__}: {exc}", exc_info=exc)
