""":class:`RestAPIService`: an HTTP client as a service, with a rate limit, a circuit breaker and retries.

One call of :meth:`RestAPIService.request`::

    wait for the rate limit (bounded) ─> breaker open? CIRCUIT_OPEN at once ─> send (timeout) ─┐
      ^                                                                                        │
      └── sleep: Retry-After, else exponential backoff with full jitter <── retryable? ────────┘

Connect errors, timeouts, 5xx and 429 are retried up to ``MAX_RETRIES`` times; POST and PATCH only when
the request never left (a refused connection) unless ``RETRY_NON_IDEMPOTENT`` or ``retry=True`` says so.
The whole call, waits included, ends by the invocation's deadline (:attr:`plugwork.context.Context.deadline`).
The breaker and the rate limiter are Plugwork's own (:mod:`plugwork.middleware`).
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ..app import App  # at run time: the container reads __init__'s hints
from ..context import current_context
from ..errors import CircuitOpen, InvocationTimeout, RateLimited, Unavailable
from ..extras import require
from ..middleware.circuit_breaker import CircuitBreaker, CircuitState
from ..middleware.rate_limit import TokenBucket
from ..middleware.retry import backoff_delay
from ..observability.health import CheckValue, HealthStatus
from ..observability.logging import get_logger
from ..services import Service, ServiceState
from .config import RestAPIConfig
from .metrics import ClientMetrics
from .tracing import client_span, record_answer
from .urls import safe_url

if TYPE_CHECKING:
    import httpx2 as httpx

log = get_logger("plugwork.clients")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_BREAKER_GAUGE = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}


def _httpx() -> Any:
    return require("httpx2", extra="clients")


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header as seconds from now: delta-seconds or an HTTP date; None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _is_timeout(error: BaseException | None) -> bool:
    return isinstance(error, TimeoutError | _httpx().TimeoutException)


class RestAPIService(Service):
    """Subclass it, set ``name`` and ``config``, and call ``await self.request(method, url, ...)``.

    ``config`` (a :class:`RestAPIConfig`) holds the class's defaults; the ``services.<name>:`` section of
    the settings (YAML or ``PLUGWORK_SERVICES__<NAME>__<OPTION>``) overrides them option by option.
    Health: GREEN, YELLOW while retrying or half-open, RED while the breaker is open.
    """

    config_model: ClassVar[type[RestAPIConfig]] = RestAPIConfig
    config: RestAPIConfig = RestAPIConfig()

    def __init__(self, app: App) -> None:
        # The container injects the app: its metrics registry and its carriers (correlation id, trace).
        self.app = app
        self._client: httpx.AsyncClient | None = None
        self._breaker = CircuitBreaker()
        self._bucket = TokenBucket(1.0)
        self._retrying = 0
        self._last_error: str | None = None
        self._metrics: ClientMetrics | None = None

    def configure(self, config: Any) -> None:
        """Apply the section's options over the class's ``config``."""
        base = type(self).config
        if isinstance(config, RestAPIConfig):
            config = base.model_copy(update={k: getattr(config, k) for k in config.model_fields_set})
        else:
            config = base
        self.config = config
        self._breaker = CircuitBreaker(
            config.CB_FAILURE_THRESHOLD, config.CB_RECOVERY_TIMEOUT, config.CB_SUCCESS_THRESHOLD
        )
        self._bucket = TokenBucket(
            config.RATE_LIMIT_REQUESTS / config.RATE_LIMIT_WINDOW_SECONDS, config.RATE_LIMIT_REQUESTS
        )

    @property
    def breaker(self) -> CircuitBreaker:
        """The upstream's circuit breaker."""
        return self._breaker

    @property
    def client(self) -> httpx.AsyncClient:
        """The underlying ``httpx2.AsyncClient`` (the service must be running)."""
        if self._client is None:
            raise RuntimeError(f"service {self.name!r} is not started")
        return self._client

    async def start(self) -> None:
        if self.config is type(self).config and self.state is ServiceState.INITIALIZED:
            self.configure(None)  # used without a container
        httpx = _httpx()
        cfg = self.config
        self._client = httpx.AsyncClient(
            base_url=cfg.BASE_URL,
            timeout=cfg.REQUEST_TIMEOUT_SECONDS,
            limits=httpx.Limits(
                max_connections=cfg.CONNECTION_POOL_SIZE, max_keepalive_connections=cfg.CONNECTION_POOL_SIZE
            ),
            follow_redirects=False,
        )
        self._metrics = ClientMetrics.for_registry(self.app.metrics_registry)
        self._metrics.breakers[self.name] = lambda: _BREAKER_GAUGE[self._breaker.state]

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._metrics is not None:
            self._metrics.breakers.pop(self.name, None)

    def health_check(self) -> CheckValue:
        if self.state is not ServiceState.RUNNING:
            value = super().health_check()
            assert isinstance(value, tuple)
            return value
        state = self._breaker.state
        details: dict[str, Any] = {"upstream": safe_url(self.config.BASE_URL), "circuit": state.value}
        if self._last_error:
            details["last_error"] = self._last_error
        if state is CircuitState.OPEN:
            details["retry_after"] = round(self._breaker.retry_after(), 3)
            return HealthStatus.RED, details
        if state is CircuitState.HALF_OPEN or self._retrying:
            details["retrying"] = self._retrying
            return HealthStatus.YELLOW, details
        return HealthStatus.GREEN, details

    # ----------------------------------------------------------------------------------------- requests
    async def request(
        self,
        method: str,
        url: str,
        *,
        retry: bool | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request with the rate limit, breaker and retries; return the last response.

        ``url`` is absolute or relative to ``BASE_URL``; ``kwargs`` go to ``httpx2.AsyncClient.build_request``
        (``json``, ``params``, ``content``...). A final 4xx/5xx response is returned (call
        ``raise_for_status()``); a refused connection raises ``Unavailable``, a timeout ``InvocationTimeout``,
        an open breaker ``CircuitOpen``, a rate limit not freed in time ``RateLimited`` — each an
        :class:`~plugwork.errors.ActionError`, so an action calling this answers with that code. ``retry``
        overrides the idempotency rule for this call.
        """
        httpx = _httpx()
        method = method.upper()
        cfg = self.config
        may_retry = retry if retry is not None else cfg.RETRY_NON_IDEMPOTENT or method in IDEMPOTENT_METHODS
        loop = asyncio.get_running_loop()
        ctx = current_context.get()
        deadline = ctx.deadline if ctx is not None else None
        attempt = 1
        while True:
            await self._acquire(method, loop, deadline)
            if not self._breaker.can_execute():
                self._observe(method, "circuit_open", 0.0)
                raise CircuitOpen(
                    f"Circuit open for {self.name}",
                    details={"retry_after": round(self._breaker.retry_after(), 3)},
                )
            timeout = cfg.REQUEST_TIMEOUT_SECONDS
            if deadline is not None:
                timeout = min(timeout, deadline - loop.time())
                if timeout <= 0:
                    raise InvocationTimeout(f"No time left to call {self.name}")
            started = time.perf_counter()
            response: Any = None  # an httpx.Response
            error: BaseException | None = None
            sent = True
            request = self.client.build_request(method, url, timeout=timeout, **kwargs)
            with client_span(method, request.url, attempt) as span:
                # Inside the attempt's span (if any), so that the trace context sent names it.
                request.headers.update(self._propagation_headers(ctx))
                if headers:
                    request.headers.update(headers)
                try:
                    # httpx's timeout bounds each phase (connect, write, each read); this bounds the attempt.
                    async with asyncio.timeout(timeout):
                        response = await self._send(request)
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    error, sent = exc, False
                except (httpx.TransportError, TimeoutError) as exc:  # timeouts, a dropped connection...
                    error = exc
                record_answer(span, None if response is None else response.status_code, error)
            elapsed = time.perf_counter() - started
            if response is not None:
                status = response.status_code
                self._observe(method, str(status), elapsed)
                retryable = status >= 500 or status == 429
                if status >= 500:
                    self._upstream_failed(f"HTTP {status}")
                else:
                    self._breaker.record_success()
                    self._last_error = None if status != 429 else "HTTP 429"
            else:
                assert error is not None
                self._observe(method, "timeout" if _is_timeout(error) else "error", elapsed)
                self._upstream_failed(f"{type(error).__name__}")
                retryable = True
            if not retryable or attempt > cfg.MAX_RETRIES or not (may_retry or not sent):
                return self._result(response, error)
            if not self._breaker.can_execute():  # this failure opened it: the last answer says more
                return self._result(response, error)
            delay = self._delay(response, attempt)
            if deadline is not None and loop.time() + delay >= deadline:
                return self._result(response, error)
            if self._metrics is not None:
                self._metrics.retried(self.name)
            log.debug("retrying upstream call", upstream=self.name, attempt=attempt, delay=round(delay, 3))
            self._retrying += 1
            try:
                await asyncio.sleep(delay)
            finally:
                self._retrying -= 1
            attempt += 1

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """``request("GET", url, ...)``."""
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """``request("POST", url, ...)`` (not retried after it was sent unless ``retry=True``)."""
        return await self.request("POST", url, **kwargs)

    def _propagation_headers(self, ctx: Any) -> dict[str, str]:
        if ctx is None:
            return {}
        carriers = getattr(self.app, "carriers", None)
        if carriers is not None:
            return dict(carriers.inject(ctx))
        return {"x-correlation-id": ctx.correlation_id}

    async def _acquire(self, method: str, loop: asyncio.AbstractEventLoop, deadline: float | None) -> None:
        """Take a rate-limit token, waiting at most ``RATE_LIMIT_MAX_WAIT_SECONDS`` (and the deadline)."""
        bucket = self._bucket
        if bucket.try_acquire():
            return
        limit = loop.time() + self.config.RATE_LIMIT_MAX_WAIT_SECONDS
        if deadline is not None:
            limit = min(limit, deadline)
        while True:
            wait = bucket.retry_after()
            if loop.time() + wait > limit:
                self._observe(method, "rate_limited", 0.0)
                raise RateLimited(
                    f"Rate limit of {self.name} not freed in time", details={"retry_after": round(wait, 3)}
                )
            await asyncio.sleep(wait)
            if bucket.try_acquire():
                return

    async def _send(self, request: httpx.Request) -> httpx.Response:
        response = await self.client.send(request, stream=True)
        try:
            limit = self.config.MAX_RESPONSE_BYTES
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise Unavailable(f"Response of {self.name} larger than {limit} bytes")
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise Unavailable(f"Response of {self.name} larger than {limit} bytes")
                chunks.append(chunk)
            # httpx's own Response.aread() ends the same way; reading chunk by chunk is what bounds it.
            response._content = b"".join(chunks)
        finally:
            await response.aclose()
        return response

    def _delay(self, response: httpx.Response | None, attempt: int) -> float:
        cfg = self.config
        if response is not None and response.status_code in (429, 503):
            after = retry_after_seconds(response.headers.get("retry-after"))
            if after is not None:
                return min(after, cfg.RETRY_AFTER_MAX_SECONDS)
        return backoff_delay(attempt, cfg.RETRY_BACKOFF_BASE, cfg.RETRY_BACKOFF_MAX)

    def _upstream_failed(self, reason: str) -> None:
        self._breaker.record_failure()
        self._last_error = reason

    def _observe(self, method: str, status: str, elapsed: float) -> None:
        if self._metrics is not None:
            self._metrics.observe(self.name, method, status, elapsed)

    def _result(self, response: httpx.Response | None, error: BaseException | None) -> httpx.Response:
        if response is not None:
            return response
        where = safe_url(self.config.BASE_URL)
        if _is_timeout(error):
            raise InvocationTimeout(f"{self.name} ({where}) timed out") from error
        raise Unavailable(f"{self.name} ({where}) unreachable: {type(error).__name__}") from error
