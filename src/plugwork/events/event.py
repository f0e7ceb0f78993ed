"""Events: typed messages with an input and an output, handled by modules (the PyModules model).

An event type **is** an action: :func:`event_action` builds the :class:`~plugwork.actions.Action` of an
:class:`Event` subclass, so it runs through the same dispatcher and middleware as every other action and is
served over HTTP, the job queue and Plugboard. Inputs and outputs are dataclasses (deriving from
:class:`EventInput` / :class:`EventOutput`, as in PyModules) or Pydantic models.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, ClassVar, Generic, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, create_model

from ..errors import DefinitionError

InT = TypeVar("InT")
OutT = TypeVar("OutT")


@dataclasses.dataclass
class EventInput:
    """Base of dataclass event inputs (Pydantic models work as inputs too)."""


@dataclasses.dataclass
class EventOutput:
    """Base of dataclass event outputs (Pydantic models work as outputs too)."""


class Event(Generic[InT, OutT]):
    """One event: ``input`` in, ``output`` set by the module that handles it, ``handled`` once one has.

    Subclass with the input and output types: ``class GreetEvent(Event[GreetInput, GreetOutput])``. ``name``
    defaults to the class name; ``meta`` carries the correlation id and anything a module adds.
    """

    __slots__ = ("__dict__", "handled", "input", "meta", "output")

    name: ClassVar[str] = ""
    input_type: ClassVar[Any] = EventInput
    output_type: ClassVar[Any] = EventOutput

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = cls.__name__
        for base in getattr(cls, "__orig_bases__", ()):
            origin = get_origin(base)
            if isinstance(origin, type) and issubclass(origin, Event):
                args = get_args(base)
                if len(args) == 2:
                    cls.input_type, cls.output_type = args

    def __init__(self, input: InT | None = None, *, meta: dict[str, Any] | None = None) -> None:
        self.input: InT = input if input is not None else _default_input(type(self))
        self.output: OutT | None = None
        self.handled = False
        self.meta: dict[str, Any] = {} if meta is None else dict(meta)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} handled={self.handled}>"


def _default_input(cls: type[Event[Any, Any]]) -> Any:
    try:
        return cls.input_type()
    except Exception as exc:
        raise TypeError(f"{cls.__name__} needs an input: {type(exc).__name__}: {exc}") from None


# --------------------------------------------------------------------------------- input/output models

_MODELS: dict[Any, type[BaseModel]] = {}


def input_model(kind: Any) -> type[BaseModel]:
    """The Pydantic model validating an event input type: the type itself, or one built from a dataclass.

    A built model reads attributes (``from_attributes``), so an instance of the dataclass validates too.
    """
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return kind
    cached = _MODELS.get(kind)
    if cached is not None:
        return cached
    if not dataclasses.is_dataclass(kind) or not isinstance(kind, type):
        raise DefinitionError(f"event input {kind!r} must be a dataclass or a pydantic model")
    hints = typing.get_type_hints(kind)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(kind):
        if not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            fields[f.name] = (hints.get(f.name, Any), f.default)
        elif f.default_factory is not dataclasses.MISSING:
            fields[f.name] = (hints.get(f.name, Any), _factory_default(f.default_factory))
        else:
            fields[f.name] = (hints.get(f.name, Any), ...)
    model = create_model(
        kind.__name__,
        __config__=ConfigDict(from_attributes=True),
        __doc__=kind.__doc__ or "",
        __module__=kind.__module__,
        **fields,
    )
    _MODELS[kind] = model
    return typing.cast(type[BaseModel], model)


def _factory_default(factory: Any) -> Any:
    from pydantic import Field

    return Field(default_factory=factory)


def to_input(kind: Any, model: BaseModel) -> Any:
    """The event input from its validated model (the model itself for Pydantic inputs)."""
    if isinstance(model, kind):
        return model
    return kind(**{name: getattr(model, name) for name in type(model).model_fields})


def output_type(kind: Any) -> Any:
    """The output annotation the catalog and OpenAPI show (``None`` for the untyped base)."""
    return None if kind is EventOutput else kind
