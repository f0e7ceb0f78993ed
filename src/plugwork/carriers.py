"""Carriers: how context (correlation id, trace, identity, tenant, baggage) travels across transports.

Every transport moves context as one flat ``dict[str, str]`` of lower-case names, the same everywhere:

- HTTP: request headers in (only the names some carrier reads are collected), outbound request headers out;
- the job queue: the job row's ``headers``, written at enqueue from the enqueuer's context and read back by
  the worker when it claims the job;
- Plugboard: a ``"headers"`` object in the hub's ``request`` push and in the consumer's ``response``.

A :class:`Carrier` reads its names into the invocation :class:`~plugwork.context.Context` and writes them
back out. Plugins add carriers (``init.add_carrier(...)`` in :meth:`plugwork.plugins.Plugin.on_app_init`);
the app composes them once per start into :class:`Carriers`. ``extract`` may raise an
:class:`~plugwork.errors.ActionError` (a malformed header): the transport answers with that error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Protocol, runtime_checkable

from .context import Context

__all__ = ["MAX_HEADER_VALUE", "Carrier", "Carriers", "CorrelationCarrier"]

MAX_HEADER_VALUE = 8192
"""Longest value a transport accepts for one carried name; longer ones are dropped, not truncated."""

CORRELATION_HEADER = "x-correlation-id"
MAX_CORRELATION_ID = 128


@runtime_checkable
class Carrier(Protocol):
    """Moves one piece of context between a transport's headers and the invocation context."""

    keys: tuple[str, ...]
    """The lower-case names this carrier reads from incoming headers."""

    def extract(self, headers: Mapping[str, str], ctx: Context) -> None:
        """Read what this carrier owns from incoming ``headers`` into ``ctx``."""

    def inject(self, ctx: Context, headers: MutableMapping[str, str]) -> None:
        """Write what this carrier owns from ``ctx`` into outgoing ``headers``."""


class CorrelationCarrier:
    """The correlation id, as ``X-Correlation-ID``: built in, always first."""

    keys: tuple[str, ...] = (CORRELATION_HEADER,)

    def extract(self, headers: Mapping[str, str], ctx: Context) -> None:
        value = headers.get(CORRELATION_HEADER)
        if value:
            ctx.correlation_id = value[:MAX_CORRELATION_ID]

    def inject(self, ctx: Context, headers: MutableMapping[str, str]) -> None:
        headers[CORRELATION_HEADER] = ctx.correlation_id


class Carriers:
    """The app's carriers, composed once per start: what transports call."""

    __slots__ = ("_carriers", "_extra", "keys")

    def __init__(self, carriers: Iterable[Carrier] = ()) -> None:
        self._carriers: tuple[Carrier, ...] = (CorrelationCarrier(), *carriers)
        self._extra = self._carriers[1:]
        self.keys: frozenset[str] = frozenset(key for c in self._carriers for key in c.keys)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._carriers)

    def __len__(self) -> int:
        return len(self._carriers)

    def select(self, headers: Iterable[tuple[str, str]]) -> dict[str, str]:
        """The carried names among ``headers`` (name, value) pairs, lower-cased; over-long values dropped."""
        keys = self.keys
        found: dict[str, str] = {}
        for name, value in headers:
            key = name.lower()
            if key in keys and len(value) <= MAX_HEADER_VALUE:
                found[key] = value
        return found

    def extract(self, headers: Mapping[str, str], ctx: Context) -> Context:
        """Fill ``ctx`` from incoming ``headers``; return it."""
        for carrier in self._carriers:
            carrier.extract(headers, ctx)
        return ctx

    def inject(self, ctx: Context | None, headers: MutableMapping[str, str] | None = None) -> dict[str, str]:
        """The outgoing headers for ``ctx`` (none outside an invocation), added to ``headers`` if given."""
        out: dict[str, str] = {} if headers is None else dict(headers)
        if ctx is not None:
            for carrier in self._carriers:
                carrier.inject(ctx, out)
        if headers is not None:
            headers.update(out)
        return out

    @property
    def only_correlation(self) -> bool:
        """True when no plugin added a carrier (transports may take a faster path)."""
        return not self._extra
