"""PyModules' health API: named checks for liveness and readiness, each bounded by a timeout.

The same checks feed the App's health registry when the host is attached to an App
(:meth:`HealthCheck.register_with`): ``/health`` shows them all and ``/health/ready`` runs the readiness
ones. A check returns a bool, a :class:`CheckResult`, or a (status, message) pair, sync or async; a check
slower than ``timeout`` counts as unhealthy and never holds the probe longer than that.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import socket
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ..observability.health import HealthRegistry
from ..observability.health import HealthStatus as Color

if TYPE_CHECKING:
    from .host import ModuleHost

CheckFn = Callable[[], Any]


class HealthStatus(StrEnum):
    """PyModules' statuses; ``color`` is Plugwork's GREEN / YELLOW / RED."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"

    @property
    def color(self) -> Color:
        return {"healthy": Color.GREEN, "degraded": Color.YELLOW}.get(self.value, Color.RED)


@dataclass(slots=True)
class CheckResult:
    """One check's answer."""

    name: str
    status: HealthStatus
    message: str = ""
    duration_ms: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "message": self.message,
            "duration_ms": round(self.duration_ms, 3),
            "details": self.details,
        }


@dataclass(slots=True)
class HealthReport:
    """The worst status of the checks run, with each result."""

    status: HealthStatus
    checks: list[CheckResult]
    version: str = ""
    timestamp: float = field(default_factory=time.time)

    @property
    def is_healthy(self) -> bool:
        return self.status is not HealthStatus.UNHEALTHY

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "version": self.version,
            "timestamp": self.timestamp,
            "checks": [c.to_dict() for c in self.checks],
        }


@dataclass(slots=True)
class _Registered:
    fn: CheckFn
    liveness: bool
    readiness: bool


_ORDER = {HealthStatus.HEALTHY: 2, HealthStatus.DEGRADED: 1, HealthStatus.UNHEALTHY: 0}


class HealthCheck:
    """Liveness and readiness checks. With ``host``, a built-in ``modules`` check is added (readiness:
    at least one module registered), and the host keeps this object (``host.health``) so that an App the
    host is attached to serves the checks too."""

    def __init__(
        self, host: ModuleHost | None = None, version: str = "", timeout: float = 5.0, max_workers: int = 4
    ) -> None:
        self.version = version
        self.timeout = timeout
        self._checks: dict[str, _Registered] = {}
        # Sync checks run here, so that a stuck one holds a worker, never the probe (bounded pool).
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers, thread_name_prefix="plugwork-health")
        if host is not None:
            host.health = self
            self.add_check("modules", lambda: _modules_check(host), liveness=False, readiness=True)

    def add_check(self, name: str, fn: CheckFn, liveness: bool = False, readiness: bool = True) -> None:
        """Add (or replace) a check; ``liveness``/``readiness`` say which probes run it."""
        self._checks[name] = _Registered(fn, liveness, readiness)

    def remove_check(self, name: str) -> None:
        self._checks.pop(name, None)

    @property
    def names(self) -> list[str]:
        return list(self._checks)

    def is_liveness(self, name: str) -> bool:
        return self._checks[name].liveness

    def is_readiness(self, name: str) -> bool:
        return self._checks[name].readiness

    # --------------------------------------------------------------------------------------------- sync
    def check(self) -> HealthReport:
        """Run every check."""
        return self._report(list(self._checks))

    def liveness(self) -> HealthReport:
        """Run the liveness checks (none: healthy, the process answers)."""
        return self._report([n for n, c in self._checks.items() if c.liveness])

    def readiness(self) -> HealthReport:
        """Run the readiness checks."""
        return self._report([n for n, c in self._checks.items() if c.readiness])

    def _report(self, names: list[str]) -> HealthReport:
        futures = {name: self._pool.submit(_run_sync, self._checks[name].fn) for name in names}
        deadline = time.monotonic() + self.timeout
        results = []
        for name, future in futures.items():
            started = time.monotonic()
            try:
                value = future.result(max(0.0, deadline - time.monotonic()))
            except concurrent.futures.TimeoutError:
                future.cancel()
                results.append(_timed_out(name, self.timeout))
                continue
            except Exception as exc:
                value = exc
            results.append(_result(name, value, (time.monotonic() - started) * 1000))
        return self._aggregate(results)

    # -------------------------------------------------------------------------------------------- async
    async def check_async(self, names: list[str] | None = None) -> HealthReport:
        """Run the checks named (default: all) concurrently on the running loop."""
        chosen = list(self._checks) if names is None else names
        results = await asyncio.gather(*(self.run_one(n) for n in chosen))
        return self._aggregate(list(results))

    async def run_one(self, name: str) -> CheckResult:
        """Run one check, bounded by ``timeout``."""
        fn = self._checks[name].fn
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                if inspect.iscoroutinefunction(fn):
                    value = await fn()
                else:
                    value = await asyncio.get_running_loop().run_in_executor(self._pool, _run_sync, fn)
        except TimeoutError:
            return _timed_out(name, self.timeout)
        except Exception as exc:
            value = exc
        return _result(name, value, (time.monotonic() - started) * 1000)

    def _aggregate(self, results: list[CheckResult]) -> HealthReport:
        worst = min((r.status for r in results), key=_ORDER.__getitem__, default=HealthStatus.HEALTHY)
        return HealthReport(worst, results, self.version)

    def register_with(self, registry: HealthRegistry) -> None:
        """Feed these checks to a Plugwork health registry (readiness checks gate ``/health/ready``)."""
        for name, probe, readiness in self.probes():
            registry.register(name, probe, required=readiness)

    def probes(self) -> list[tuple[str, Callable[[], Awaitable[tuple[Color, dict[str, Any]]]], bool]]:
        """Each check as a Plugwork health check: ``(name, async probe, is a readiness check)``."""
        return [(name, self._probe(name), c.readiness) for name, c in self._checks.items()]

    def _probe(self, name: str) -> Callable[[], Awaitable[tuple[Color, dict[str, Any]]]]:
        async def probe() -> tuple[Color, dict[str, Any]]:
            result = await self.run_one(name)
            return result.status.color, {"message": result.message, **result.details}

        return probe

    def close(self) -> None:
        """Release the check threads (a stuck check's thread is left to finish on its own)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def _run_sync(fn: CheckFn) -> Any:
    value = fn()
    if inspect.isawaitable(value):
        return asyncio.run(_await(value))
    return value


async def _await(value: Awaitable[Any]) -> Any:
    return await value


def _timed_out(name: str, timeout: float) -> CheckResult:
    return CheckResult(name, HealthStatus.UNHEALTHY, f"check timed out after {timeout:g}s", timeout * 1000)


def _result(name: str, value: Any, duration_ms: float) -> CheckResult:
    if isinstance(value, CheckResult):
        value.duration_ms = value.duration_ms or duration_ms
        return value
    if isinstance(value, BaseException):
        return CheckResult(name, HealthStatus.UNHEALTHY, f"{type(value).__name__}: {value}", duration_ms)
    if isinstance(value, HealthStatus):
        return CheckResult(name, value, "", duration_ms)
    if isinstance(value, tuple) and len(value) == 2:
        status = value[0] if isinstance(value[0], HealthStatus) else _from_bool(bool(value[0]))
        return CheckResult(name, status, str(value[1]), duration_ms)
    return CheckResult(name, _from_bool(bool(value)), "", duration_ms)


def _from_bool(ok: bool) -> HealthStatus:
    return HealthStatus.HEALTHY if ok else HealthStatus.UNHEALTHY


def _modules_check(host: ModuleHost) -> CheckResult:
    count = len(host.modules)
    status = HealthStatus.HEALTHY if count else HealthStatus.DEGRADED
    return CheckResult("modules", status, f"{count} module(s) registered", details={"modules": count})


# --------------------------------------------------------------------------------------------- helpers


def create_callable_check(
    name: str,
    fn: Callable[[], Any],
    healthy_message: str = "OK",
    unhealthy_message: str = "Check failed",
) -> Callable[[], CheckResult]:
    """A check from a predicate: true is healthy (with ``healthy_message``), false or raising is not."""

    def check() -> CheckResult:
        started = time.monotonic()
        try:
            ok = bool(fn())
            message = healthy_message if ok else unhealthy_message
        except Exception as exc:
            ok, message = False, f"{unhealthy_message}: {type(exc).__name__}: {exc}"
        return CheckResult(name, _from_bool(ok), message, (time.monotonic() - started) * 1000)

    return check


def create_tcp_check(name: str, host: str, port: int, timeout: float = 2.0) -> Callable[[], CheckResult]:
    """Healthy when a TCP connection to ``host:port`` opens within ``timeout`` seconds."""

    def check() -> CheckResult:
        started = time.monotonic()
        try:
            with contextlib.closing(socket.create_connection((host, port), timeout=timeout)):
                pass
        except OSError as exc:
            return CheckResult(
                name, HealthStatus.UNHEALTHY, f"{host}:{port} unreachable: {exc}", _ms(started)
            )
        return CheckResult(name, HealthStatus.HEALTHY, f"{host}:{port} reachable", _ms(started))

    return check


def create_http_check(
    name: str, url: str, timeout: float = 2.0, expected_status: int = 200
) -> Callable[[], CheckResult]:
    """Healthy when ``GET url`` answers ``expected_status`` within ``timeout`` seconds.

    The URL is not repeated in the result (it may carry credentials); only the status is.
    """
    if not url.startswith(("http://", "https://")):
        raise ValueError("create_http_check needs an http:// or https:// URL")

    def check() -> CheckResult:
        started = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError as exc:
            return CheckResult(
                name, HealthStatus.UNHEALTHY, f"unreachable: {type(exc).__name__}", _ms(started)
            )
        ok = status == expected_status
        return CheckResult(name, _from_bool(ok), f"HTTP {status}", _ms(started), {"status_code": status})

    return check


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000


__all__ = [
    "CheckResult",
    "HealthCheck",
    "HealthReport",
    "HealthStatus",
    "create_callable_check",
    "create_http_check",
    "create_tcp_check",
]
