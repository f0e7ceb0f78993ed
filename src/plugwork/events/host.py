"""The :class:`ModuleHost`: modules in registration order, events run as actions through a Dispatcher.

Each event type becomes an action (:mod:`.spec`) whose middleware is the host's: the rate limiter, circuit
breaker and retry policy of the config; the host's observer (counters, DLQ, ``on_error``) sees each outcome
once they have all run. On its own the
host builds a :class:`~plugwork.dispatch.Dispatcher` over its event actions; attached to an App
(:meth:`ModuleHost.attach`) its events are the App's actions too, served by the App's dispatcher (with the
App's middleware, metrics and logging) and over HTTP, the job queue and Plugboard.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..actions import Action, bind
from ..app import AppState
from ..context import Context, current_context
from ..dispatch import Dispatcher, Invocation, Middleware, Outcome
from ..errors import ActionError, DefinitionError, DependencyError, ErrorCode, Unavailable
from . import tracing
from .config import ModuleHostConfig
from .event import Event, to_input
from .exceptions import (
    CircuitBreakerOpen,
    EventHandlingError,
    EventUnhandledError,
    ModuleRegistrationError,
    RateLimitExceeded,
)
from .loop import LoopThread
from .metrics import HostMetrics
from .module import Module, is_async_handler
from .observer import EventObserver
from .spec import ATTEMPTS_KEY, EVENT_KEY, FAILURE_KEY, TRACED_KEY, UNHANDLED_KEY, event_action

if TYPE_CHECKING:
    from ..app import App
    from .health import HealthCheck


_RUNNING = AppState.RUNNING


class ModuleHost:
    """Routes events to modules: the first module that sets ``event.handled`` wins, in registration order.

    ``await host.handle_async(event)`` runs on the caller's event loop; ``host.handle(event)`` is for plain
    sync code (it runs the same coroutine on the host's own loop thread, or the attached App's). Both return
    the :class:`~plugwork.dispatch.Outcome`: an event nobody handles is ``NOT_FOUND`` with
    ``event.handled`` false (never raised). With ``propagate_exceptions`` failures raise instead
    (:class:`EventHandlingError` for a module's exception, :class:`RateLimitExceeded`,
    :class:`CircuitBreakerOpen`, or an :class:`~plugwork.errors.ActionError` with the outcome's code).
    """

    def __init__(self, config: ModuleHostConfig | None = None) -> None:
        self.config = config = config or ModuleHostConfig()
        if config.log_level:
            from ..observability.logging import configure_logging

            configure_logging(level=config.log_level.upper())
        self.metrics = HostMetrics()
        self.dead_letter_queue = config.dead_letter_queue
        self.health: HealthCheck | None = None
        self.observer = EventObserver(config, self.metrics)
        chain = (config.rate_limiter, config.circuit_breaker, config.retry_policy)
        self.middleware: tuple[Middleware, ...] = tuple(mw for mw in chain if mw)
        self._retries = config.retry_policy is not None
        self._sync_wait = config.timeout + 1.0 if config.timeout else config.sync_wait
        self._trace = config.enable_tracing
        self._modules: tuple[Module, ...] = ()
        self._chain: tuple[tuple[Module, bool], ...] = ()  # each module, and whether its handle is async
        self._events: dict[str, type[Event[Any, Any]]] = {}
        self._specs: dict[str, Action] = {}
        self._dispatcher: Dispatcher | None = None
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._slots = threading.BoundedSemaphore(config.max_workers + config.max_pending)
        self._loop: LoopThread | None = None
        self._app: App | None = None
        self._app_loop: asyncio.AbstractEventLoop | None = None
        self._app_serving: tuple[int, frozenset[str], Dispatcher] | None = None

    # ------------------------------------------------------------------------------------------ modules
    @property
    def modules(self) -> list[Module]:
        """The registered modules, in registration (= priority) order."""
        return list(self._modules)

    def register(self, module: Module) -> Module:
        """Add a module after those already registered. Raises :class:`ModuleRegistrationError`."""
        if not isinstance(module, Module):
            raise ModuleRegistrationError(f"{module!r} is not a Module instance")
        with self._lock:
            name = module.metadata.name
            if any(m.metadata.name == name for m in self._modules):
                raise ModuleRegistrationError(f"a module named {name!r} is already registered")
            self._modules = (*self._modules, module)
            self._chain = tuple((m, is_async_handler(m)) for m in self._modules)
            self.metrics.modules_registered = len(self._modules)
        module.on_load(self)
        return module

    def unregister(self, name: str) -> Module:
        """Remove the module named ``name`` and return it. Raises ``KeyError`` if there is none."""
        with self._lock:
            found = next((m for m in self._modules if m.metadata.name == name), None)
            if found is None:
                raise KeyError(name)
            self._modules = tuple(m for m in self._modules if m is not found)
            self._chain = tuple((m, is_async_handler(m)) for m in self._modules)
            self.metrics.modules_registered = len(self._modules)
        found.on_unload(self)
        return found

    # ------------------------------------------------------------------------------------------- events
    def register_event(self, event_type: type[Event[Any, Any]]) -> Action:
        """Make ``event_type`` an action of this host (and of its App, if attached before it starts)."""
        with self._lock:
            known = self._events.get(event_type.name)
            if known is event_type:
                return self._specs[event_type.name]
            if known is not None:
                raise DefinitionError(
                    f"two event types named {event_type.name!r}: {known.__qualname__} and "
                    f"{event_type.__qualname__}"
                )
            spec = event_action(event_type, self)
            self._events[spec.name] = event_type
            self._specs[spec.name] = spec
            self._dispatcher = None  # rebuilt with the new action on next use
        app = self._app
        if app is not None and app.state.value == "created":
            app.add_action(spec)
        return spec

    @property
    def event_types(self) -> Mapping[str, type[Event[Any, Any]]]:
        """The registered event types, by name."""
        return dict(self._events)

    def actions(self) -> list[Action]:
        """The actions of the registered event types."""
        return list(self._specs.values())

    async def run_event(self, event_type: type[Event[Any, Any]], kind: Any, data: BaseModel) -> Any:
        """The handler of every event action: offer the event to each module until one handles it.

        The event is the caller's own (in process), or a new one built from the validated input.
        """
        # The context from the dispatcher's contextvar, not an injected parameter: one dict less per call.
        ctx = current_context.get()
        assert ctx is not None
        extras = ctx.extras
        event = extras.get(EVENT_KEY)
        if event is None:
            event = extras[EVENT_KEY] = event_type(to_input(kind, data))
        if self._trace:
            event.meta.setdefault("correlation_id", ctx.correlation_id)
            tracer = tracing._tracer  # read directly: the hot path
            if tracer is not None and tracer.export_func is not None and TRACED_KEY not in extras:
                return await self._traced(tracer, event, kind, data, extras)  # back here, inside a trace
        if self._retries:  # attempts are counted only where there can be more than one
            extras[ATTEMPTS_KEY] = extras.get(ATTEMPTS_KEY, 0) + 1
        for mod, is_async in self._chain:
            try:
                if not mod.can_handle(event):
                    continue
                if is_async:
                    await mod.handle(event)
                else:
                    await self._in_pool(mod, event)
            except ActionError:
                raise  # a deliberate answer (NotFound, Forbidden...): its own code, not a failure
            except Exception as exc:
                extras[FAILURE_KEY] = (mod, exc)
                raise
            if event.handled:
                if self._retries:  # an earlier attempt's failure is no longer the event's
                    extras.pop(FAILURE_KEY, None)
                return event.output
        extras[UNHANDLED_KEY] = True
        raise EventUnhandledError(event)

    async def _traced(
        self,
        tracer: tracing.Tracer,
        event: Event[Any, Any],
        kind: Any,
        data: BaseModel,
        extras: dict[str, Any],
    ) -> Any:
        """One PyModules trace around the modules' run (each attempt's, when the host retries)."""
        extras[TRACED_KEY] = True
        code = "INTERNAL"
        try:
            with tracer.trace(event.name, event.meta.get("correlation_id")) as trace:
                try:
                    output = await self.run_event(type(event), kind, data)
                    code = "OK"
                    return output
                except ActionError as exc:
                    code = exc.code.value
                    raise
                except asyncio.CancelledError:
                    code = ErrorCode.CANCELLED.value
                    raise
                finally:
                    trace.root.attributes["outcome"] = code
        finally:
            del extras[TRACED_KEY]

    async def _in_pool(self, mod: Module, event: Event[Any, Any]) -> None:
        if not self._slots.acquire(blocking=False):
            raise Unavailable(
                f"too many events waiting for a worker thread (max_workers={self.config.max_workers}, "
                f"max_pending={self.config.max_pending})"
            )
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor(), mod.handle, event)
        finally:
            self._slots.release()

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = concurrent.futures.ThreadPoolExecutor(
                        self.config.max_workers, thread_name_prefix="plugwork-events"
                    )
                pool = self._pool
        return pool

    # --------------------------------------------------------------------------------------- dispatching
    def _dispatcher_for(self, name: str) -> Dispatcher:
        app = self._app
        if app is not None and app.ready:
            serving = self._app_serving
            if serving is None or serving[0] != app.generation:  # what an app serves is fixed for a start
                serving = self._app_serving = (app.generation, frozenset(app.actions), app.dispatcher)
            if name in serving[1]:
                return serving[2]
        dispatcher = self._dispatcher
        if dispatcher is None:
            with self._lock:
                specs = dict(self._specs)
                dispatcher = self._dispatcher = Dispatcher.build(
                    specs, {name: bind(spec, _nothing_to_inject) for name, spec in specs.items()}
                )
        return dispatcher

    async def handle_async(self, event: Event[Any, Any]) -> Outcome:
        """Run ``event`` through its action's middleware and the modules; return the outcome."""
        name = event.name
        if self._events.get(name) is not type(event):
            self.register_event(type(event))
        meta = event.meta
        correlation_id = meta.get("correlation_id") if meta else None
        ctx = Context(correlation_id) if correlation_id else Context()
        ctx.extras[EVENT_KEY] = event
        serving = self._app_serving  # the attached App's dispatcher, while the start it was taken from runs
        app = self._app
        if serving is not None and app is not None and app.state is _RUNNING and serving[0] == app.generation:
            dispatcher = serving[2] if name in serving[1] else self._dispatcher_for(name)
        else:
            dispatcher = self._dispatcher_for(name)
        # The typed input is its own payload: pydantic returns a model instance as is, and the model
        # built for a dataclass input reads its attributes.
        outcome = await dispatcher.dispatch(Invocation(name, event.input, ctx))
        if outcome.error is not None and self.config.propagate_exceptions and UNHANDLED_KEY not in ctx.extras:
            raise _exception(event, outcome, ctx)
        return outcome

    async def invoke(
        self, name: str, payload: bytes | Mapping[str, Any], context: Context | None = None
    ) -> Outcome:
        """Run the event type named ``name`` on a raw payload (validated into its input, a new event built):
        what the HTTP routes call. Never raises; returns the outcome, whose output is the event's output."""
        return await self._dispatcher_for(name).dispatch(Invocation(name, payload, context or Context()))

    def handle(self, event: Event[Any, Any], timeout: float | None = None) -> Outcome:
        """:meth:`handle_async` for sync code; waits at most ``timeout`` (default: a second more than the
        config's ``timeout``, so the event's own TIMEOUT comes first, else ``sync_wait``), then cancels the
        event and raises a ``TIMEOUT`` ActionError."""
        loop = self._target_loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError(
                "host.handle() would block its own event loop: use `await host.handle_async()`"
            )
        future = asyncio.run_coroutine_threadsafe(self.handle_async(event), loop)
        try:
            return future.result(timeout if timeout is not None else self._sync_wait)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise ActionError(f"event {event.name!r} timed out", code=ErrorCode.TIMEOUT) from None

    def _target_loop(self) -> asyncio.AbstractEventLoop:
        app_loop = self._app_loop
        if app_loop is not None and self._app is not None and self._app.ready and not app_loop.is_closed():
            return app_loop
        with self._lock:
            if self._loop is None:
                self._loop = LoopThread("plugwork-events-loop")
            return self._loop.loop

    # ------------------------------------------------------------------------------------------ the app
    def attach(self, app: App) -> App:
        """Serve this host's events as ``app``'s actions (over HTTP, the queue and Plugboard).

        Call before the app starts; event types registered later (before it starts) are added as well.
        """
        if app.state.value != "created":
            raise DefinitionError("attach the host before the app starts")
        self._app = app
        for spec in self._specs.values():
            app.add_action(spec)
        from .plugin import EventsPlugin

        app.add_plugin(EventsPlugin(self))
        return app

    def bind_app_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Where ``host.handle`` runs events while the attached App runs (set by the events plugin)."""
        self._app_loop = loop

    def close(self) -> None:
        """Stop the host's loop thread and thread pool (running handlers finish on their own: a thread
        cannot be interrupted, and close() must not wait on one without bound)."""
        with self._lock:
            loop, self._loop = self._loop, None
            pool, self._pool = self._pool, None
        if loop is not None:
            loop.stop()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> ModuleHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _nothing_to_inject(hint: Any) -> Any:
    raise DependencyError(f"nothing can be injected for type {hint!r} outside an App")


def _exception(event: Event[Any, Any], outcome: Outcome, ctx: Context) -> Exception:
    error = outcome.error
    assert error is not None
    failure = ctx.extras.get(FAILURE_KEY)
    if failure is not None:
        return EventHandlingError(event, failure[0], failure[1])
    if error.code is ErrorCode.RATE_LIMITED:
        return RateLimitExceeded(error.message, details=error.details)
    if error.code is ErrorCode.CIRCUIT_OPEN:
        return CircuitBreakerOpen(error.message, details=error.details)
    return ActionError(error.message, code=error.code, details=error.details, status=error.status)
