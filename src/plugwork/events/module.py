"""Modules: the handlers of events. ``can_handle(event)`` says yes or no, ``handle(event)`` does the work.

``handle`` may be a plain function (run on the host's bounded thread pool, so it may block) or a coroutine
function (run on the event loop). A module that handles the event sets ``event.output`` and
``event.handled = True``; the host stops at the first module that does.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from .event import Event

M = TypeVar("M", bound=type["Module"])


@dataclass(frozen=True, slots=True)
class ModuleMetadata:
    """A module's name and description (from :func:`module`, or the class name and docstring)."""

    name: str
    description: str = ""


class Module:
    """Base of event handlers. Override ``can_handle`` and ``handle`` (sync or async)."""

    metadata: ClassVar[ModuleMetadata] = ModuleMetadata("Module")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "metadata" not in cls.__dict__:
            cls.metadata = ModuleMetadata(cls.__name__, inspect.getdoc(cls) or "")

    def can_handle(self, event: Event[Any, Any]) -> bool:
        """Whether this module handles ``event``."""
        return False

    def handle(self, event: Event[Any, Any]) -> Any:
        """Handle ``event``: set ``event.output`` and ``event.handled = True`` (may be ``async def``)."""
        raise NotImplementedError

    def on_load(self, host: Any) -> None:
        """Called when the module is registered with a host."""

    def on_unload(self, host: Any) -> None:
        """Called when the module is removed from a host."""


def module(name: str | None = None, description: str = "") -> Callable[[M], M]:
    """Name and describe a :class:`Module` subclass: ``@module(name="Greeter", description="...")``."""

    def mark(cls: M) -> M:
        cls.metadata = ModuleMetadata(name or cls.__name__, description or inspect.getdoc(cls) or "")
        return cls

    return mark


def is_async_handler(mod: Module) -> bool:
    """Whether the module's ``handle`` is a coroutine function."""
    return inspect.iscoroutinefunction(mod.handle)
