"""An event type as an action: the :class:`~plugwork.actions.Action` each :class:`Event` subclass becomes.

The action's input model is the event's input (a Pydantic model, or one built from the dataclass), its
output the event's output, its middleware the host's (rate limiter, circuit breaker, retry), its observer the
host's (counters, DLQ, ``on_error``). Its
handler runs the host's modules on the event: the caller's own event object when invoked in process
(``host.handle``), a new one built from the validated input when it comes over HTTP, the queue or Plugboard.
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import TYPE_CHECKING, Any

from ..actions import Action
from ..errors import DefinitionError
from .event import Event, input_model, output_type

if TYPE_CHECKING:
    from .host import ModuleHost

EVENT_KEY = "plugwork.events.event"
"""``Context.extras`` key of the event object an invocation runs on."""
FAILURE_KEY = "plugwork.events.failure"
"""``Context.extras`` key of ``(module, exception)`` when a module raised."""
ATTEMPTS_KEY = "plugwork.events.attempts"
UNHANDLED_KEY = "plugwork.events.unhandled"
TRACED_KEY = "plugwork.events.traced"
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$")


def event_action(event_type: type[Event[Any, Any]], host: ModuleHost) -> Action:
    """Build the action of ``event_type``, run by ``host``'s modules."""
    name = event_type.name
    if not _NAME_RE.match(name):
        raise DefinitionError(f"event {event_type.__qualname__}: invalid name {name!r}")
    kind = event_type.input_type
    model = input_model(kind)
    # A partial of the host's coroutine function: no Python frame of its own on the hot path.
    handler = functools.partial(host.run_event, event_type, kind)
    handler.event_type = event_type  # type: ignore[attr-defined]
    return Action(
        name=name,
        handler=handler,
        input_model=model,
        input_param="data",
        output_type=output_type(event_type.output_type),
        dependencies={},
        description=inspect.cleandoc(event_type.__dict__.get("__doc__") or ""),
        timeout=host.config.timeout,
        tags=("events",),
        middleware=host.middleware,
        observers=(host.observer,),
        is_async=True,
    )


def event_type_of(spec: Action) -> type[Event[Any, Any]] | None:
    """The event type an action was built from, or None for other actions."""
    kind = getattr(spec.handler, "event_type", None)
    return kind if isinstance(kind, type) and issubclass(kind, Event) else None
