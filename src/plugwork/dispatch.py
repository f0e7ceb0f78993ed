"""The core protocol: an :class:`Invocation` goes in, an :class:`Outcome` comes out.

Every transport (HTTP, job queue, Plugboard, ``app.call``, the test client) builds an Invocation and hands it
to the one :class:`Dispatcher`. The dispatcher never raises: unknown actions, invalid input, handler errors,
timeouts and cancellations all come back as an error Outcome with a code from :class:`ErrorCode`.

Middleware is ``async (invocation, call_next) -> Outcome``. Chains are composed once, when the app starts:
per action, app-wide middleware first, then the action's own, then the validated handler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json, to_jsonable_python

from .context import Context, current_context
from .deadlines import deadline_watch
from .errors import ActionError, ErrorCode

if TYPE_CHECKING:
    from .actions import Action

CallNext = Callable[["Invocation"], Awaitable["Outcome"]]
Middleware = Callable[["Invocation", CallNext], Awaitable["Outcome"]]
Observer = Callable[["Invocation", "Outcome"], None]
"""Sees every outcome of an action once the whole chain has run (``Action.observers``): sync, no frame of
its own on the hot path. An observer that raises is logged; the outcome stands."""


@dataclass(slots=True)
class Invocation:
    """A request to run one action: its name, the raw payload and the context.

    ``payload`` is either raw JSON bytes (validated straight from bytes, the fast path) or an already decoded
    mapping. ``spec`` is filled in by the dispatcher once the action is resolved (None when unknown).
    """

    action: str
    payload: bytes | Mapping[str, Any]
    context: Context = field(default_factory=Context)
    spec: Action | None = None


@dataclass(slots=True)
class ErrorInfo:
    """What went wrong: a code from the taxonomy, a message, JSON-able details and the HTTP-style status."""

    code: ErrorCode
    message: str
    details: Any = None
    status: int = 500

    def to_dict(self) -> dict[str, Any]:
        """The wire shape every transport uses for errors."""
        return {"error_code": self.code.value, "error_message": self.message, "details": self.details}


@dataclass(slots=True)
class Outcome:
    """The result of an invocation: ``output`` on success, ``error`` otherwise.

    ``status`` is the HTTP-style status every transport maps to its wire; ``message`` carries the optional
    message of a class-style ``ActionResponse``.
    """

    output: Any = None
    error: ErrorInfo | None = None
    status: int = 200
    message: str | None = None

    @property
    def ok(self) -> bool:
        """True on success."""
        return self.error is None

    @property
    def code(self) -> str:
        """``OK`` or the error code: the label metrics and logs use."""
        return "OK" if self.error is None else self.error.code.value

    @classmethod
    def success(cls, output: Any, *, status: int = 200, message: str | None = None) -> Outcome:
        """A successful outcome carrying ``output``."""
        return cls(output=output, status=status, message=message)

    @classmethod
    def failure(
        cls, code: ErrorCode, message: str, *, details: Any = None, status: int | None = None
    ) -> Outcome:
        """An error outcome; ``status`` defaults to the code's own."""
        st = code.status if status is None else status
        return cls(error=ErrorInfo(code, message, details, st), status=st)

    @classmethod
    def from_exception(cls, exc: ActionError) -> Outcome:
        """The error outcome an :class:`ActionError` stands for."""
        return cls.failure(exc.code, exc.message, details=exc.details, status=exc.status)

    def output_json(self) -> bytes:
        """The output as JSON bytes (models, dicts, lists, dataclasses...)."""
        return to_json(self.output)

    def jsonable_output(self) -> Any:
        """The output as plain JSON-compatible Python values."""
        return to_jsonable_python(self.output)


def compose(middleware: Sequence[Middleware], terminal: CallNext) -> CallNext:
    """Wrap ``terminal`` in ``middleware`` (the first one is outermost). Done once, at start-up."""
    handler = terminal
    for mw in reversed(middleware):
        handler = _link(mw, handler)
    return handler


def _link(mw: Middleware, call_next: CallNext) -> CallNext:
    # A plain function returning the middleware's coroutine: one frame per layer, not two.
    def call(invocation: Invocation) -> Awaitable[Outcome]:
        return mw(invocation, call_next)

    return call


def _bounded(terminal: CallNext) -> CallNext:
    """Enforce the invocation's deadline around the handler, so that every middleware sees the TIMEOUT."""

    async def run(invocation: Invocation) -> Outcome:
        deadline = invocation.context.deadline
        if deadline is None:
            return await terminal(invocation)
        task = asyncio.current_task()
        assert task is not None
        # Like asyncio.timeout_at, for a set entry instead of a timer per invocation (see deadlines.py).
        watch = deadline_watch(asyncio.get_running_loop())
        entry = watch.add(task, deadline)
        try:
            outcome = await terminal(invocation)
        except asyncio.CancelledError:
            if entry.expired():
                return Outcome.failure(ErrorCode.TIMEOUT, f"Action {invocation.action} timed out")
            raise
        finally:
            watch.discard(entry)
        entry.settle()
        return outcome

    return run


def _transport_guard(spec: Action) -> list[Middleware]:
    """Refuse an action on a transport it is not offered on (``@action(transports=...)``)."""
    allowed = spec.transports
    if allowed is None:
        return []

    async def guard(invocation: Invocation, call_next: CallNext) -> Outcome:
        transport = invocation.context.transport
        if transport not in allowed:
            return Outcome.failure(
                ErrorCode.FORBIDDEN, f"Action {invocation.action} is not available over {transport}"
            )
        return await call_next(invocation)

    return [guard]


async def _unknown(invocation: Invocation) -> Outcome:
    return Outcome.failure(ErrorCode.UNKNOWN_ACTION, f"Unknown action: {invocation.action}")


class Dispatcher:
    """Resolves an invocation's action and runs it through its pre-built middleware chain."""

    def __init__(
        self,
        actions: Mapping[str, Action],
        pipelines: Mapping[str, CallNext],
        unknown: CallNext,
        timeouts: Mapping[str, float | None] | None = None,
    ):
        self._actions = dict(actions)
        self._pipelines = dict(pipelines)
        self._unknown = unknown
        self._timeouts = {name: t for name, t in (timeouts or {}).items() if t}
        self._observers = {name: spec.observers for name, spec in self._actions.items() if spec.observers}

    @classmethod
    def build(
        cls,
        actions: Mapping[str, Action],
        terminals: Mapping[str, CallNext],
        app_middleware: Sequence[Middleware] = (),
        timeouts: Mapping[str, float | None] | None = None,
    ) -> Dispatcher:
        """Compose each action's chain: app middleware, then the action's own, then its terminal.

        ``timeouts`` (seconds, by action; default each action's own ``timeout``) bound every invocation.
        """
        pipelines = {
            name: compose(
                [*_transport_guard(spec), *app_middleware, *spec.middleware], _bounded(terminals[name])
            )
            for name, spec in actions.items()
        }
        if timeouts is None:
            timeouts = {name: spec.timeout for name, spec in actions.items()}
        return cls(actions, pipelines, compose(list(app_middleware), _unknown), timeouts)

    @property
    def actions(self) -> Mapping[str, Action]:
        """The actions this dispatcher serves, by name."""
        return self._actions

    async def dispatch(self, invocation: Invocation) -> Outcome:
        """Run one invocation. Never raises (except ``CancelledError`` of the caller's own task)."""
        name = invocation.action
        invocation.spec = self._actions.get(name)
        pipeline = self._pipelines.get(name, self._unknown)
        ctx = invocation.context
        ctx.action = name
        # One deadline per invocation: the action's own timeout and the caller's deadline (a job's, a
        # Plugboard request's) fold into the earlier of the two; the step around the handler enforces it,
        # and middleware (Retry) and handlers can read it from the context.
        timeout = self._timeouts.get(name)
        if timeout is not None:
            own = asyncio.get_running_loop().time() + timeout
            if ctx.deadline is None or own < ctx.deadline:
                ctx.deadline = own
        token = current_context.set(ctx)
        try:
            try:
                outcome = await pipeline(invocation)
            except ActionError as exc:
                outcome = Outcome.from_exception(exc)
            except Exception as exc:  # a middleware bug must not reach a transport either
                _log_failure("middleware failed", exc)
                outcome = Outcome.failure(ErrorCode.INTERNAL, "Internal server error")
            if name in self._observers:
                for observe in self._observers[name]:
                    try:
                        observe(invocation, outcome)
                    except Exception as exc:
                        _log_failure("outcome observer failed", exc)
            return outcome
        finally:
            current_context.reset(token)


def _log_failure(what: str, exc: Exception) -> None:
    from .observability.logging import get_logger

    get_logger("plugwork.dispatch").exception(what, error=str(exc))
