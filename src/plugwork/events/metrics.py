"""The host's counters, in PyModules' names (``host.metrics.to_dict()``).

Prometheus metrics come from the app's own metrics middleware when the host is attached to an app; these
counters are the in-process view the seed exposes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(slots=True)
class HostMetrics:
    """Event counters; updated on the event loop that runs the events."""

    events_dispatched: int = 0
    events_handled: int = 0
    events_unhandled: int = 0
    events_failed: int = 0
    events_retried: int = 0
    events_rate_limited: int = 0
    events_circuit_broken: int = 0
    events_dead_lettered: int = 0
    modules_registered: int = 0

    def to_dict(self) -> dict[str, int]:
        """Every counter by name."""
        return asdict(self)

    def reset(self) -> None:
        """Zero the event counters (``modules_registered`` is kept)."""
        modules = self.modules_registered
        for name in self.to_dict():
            setattr(self, name, 0)
        self.modules_registered = modules
