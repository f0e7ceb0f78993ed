"""RED / YELLOW / GREEN health: named checks, aggregated to the worst one.

Checks are either pushed (``registry.update(name, status, details)``, the usvc-lib style, for services that
learn their health as they work) or pulled (a callable run at report time, bounded by a timeout). A check
marked ``required`` also gates readiness.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any


class HealthStatus(IntEnum):
    """Ordered so that the aggregate is the minimum: RED < YELLOW < GREEN."""

    RED = 0
    YELLOW = 1
    GREEN = 2

    @classmethod
    def parse(cls, value: HealthStatus | str | int | bool) -> HealthStatus:
        """A status from a member, a name (``"green"``), a number or a bool (True is GREEN)."""
        if isinstance(value, HealthStatus):
            return value
        if isinstance(value, bool):
            return cls.GREEN if value else cls.RED
        if isinstance(value, int):
            return cls(value)
        return cls[value.upper()]


CheckValue = HealthStatus | str | bool | tuple[Any, dict[str, Any]]
Check = Callable[[], CheckValue | Awaitable[CheckValue]]


@dataclass(slots=True)
class CheckState:
    """One registered check: its last known status and details."""

    status: HealthStatus = HealthStatus.GREEN
    details: dict[str, Any] = field(default_factory=dict)
    check: Check | None = None
    required: bool = True
    ran_at: float = -1e18
    """When the pulled check last ran (``time.monotonic()``)."""


@dataclass(slots=True)
class HealthReport:
    """The aggregate: the worst status, when it was taken and each check's result."""

    status: HealthStatus
    timestamp: str
    checks: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status.name, "timestamp": self.timestamp, "checks": self.checks}

    @property
    def http_status(self) -> int:
        return 503 if self.status is HealthStatus.RED else 200


class HealthRegistry:
    """The app's named health checks."""

    def __init__(self, check_timeout: float = 5.0) -> None:
        self._checks: dict[str, CheckState] = {}
        self.check_timeout = check_timeout

    def register(
        self,
        name: str,
        check: Check | None = None,
        *,
        status: HealthStatus | str = HealthStatus.GREEN,
        details: dict[str, Any] | None = None,
        required: bool = True,
    ) -> None:
        """Add a check: pulled when ``check`` is given, else pushed with :meth:`update`."""
        self._checks[name] = CheckState(HealthStatus.parse(status), dict(details or {}), check, required)

    def update(self, name: str, status: HealthStatus | str, details: dict[str, Any] | None = None) -> None:
        """Set a pushed check's status (registering it if needed)."""
        state = self._checks.setdefault(name, CheckState())
        state.status = HealthStatus.parse(status)
        state.details = dict(details or {})

    def unregister(self, name: str) -> None:
        self._checks.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._checks

    async def report(self, *, required_only: bool = False, max_age: float = 0.0) -> HealthReport:
        """Run the pulled checks (concurrently, each bounded by ``check_timeout``) and aggregate.

        ``max_age``: a check that ran less than that many seconds ago is not run again (``/metrics``).
        """
        names = [n for n, s in self._checks.items() if s.required or not required_only]
        stale = time.monotonic() - max_age
        due = [self._checks[n] for n in names if self._checks[n].check and self._checks[n].ran_at <= stale]
        await asyncio.gather(*(self._run(state) for state in due))
        checks = {
            n: {"status": self._checks[n].status.name, "details": self._checks[n].details} for n in names
        }
        worst = min((self._checks[n].status for n in names), default=HealthStatus.GREEN)
        return HealthReport(worst, datetime.now(UTC).isoformat(), checks)

    async def _run(self, state: CheckState) -> None:
        assert state.check is not None
        state.ran_at = time.monotonic()
        try:
            async with asyncio.timeout(self.check_timeout):
                value = state.check()
                if inspect.isawaitable(value):
                    value = await value
        except TimeoutError:
            state.status, state.details = (
                HealthStatus.RED,
                {"error": f"check timed out after {self.check_timeout}s"},
            )
            return
        except Exception as exc:
            state.status, state.details = HealthStatus.RED, {"error": f"{type(exc).__name__}: {exc}"}
            return
        if isinstance(value, tuple):
            state.status, state.details = HealthStatus.parse(value[0]), dict(value[1])
        else:
            state.status, state.details = HealthStatus.parse(value), {}
