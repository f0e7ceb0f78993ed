"""Serving an app with uvicorn: graceful shutdown on SIGTERM/SIGINT comes from uvicorn's lifespan handling."""

from __future__ import annotations

import importlib.util
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

from .observability import redact
from .observability.logging import configure_logging

if TYPE_CHECKING:
    import uvicorn

    from .app import App


def uvicorn_defaults() -> dict[str, Any]:
    """The fastest loop and HTTP parser installed (the ``speed`` extra), else uvicorn's pure-Python ones."""
    options: dict[str, Any] = {}
    if importlib.util.find_spec("uvloop") is not None:
        options["loop"] = "uvloop"
    if importlib.util.find_spec("httptools") is not None:
        options["http"] = "httptools"
    return options


def serve(
    app: App, *, host: str | None = None, port: int | None = None, asgi: Any = None, **options: Any
) -> None:
    """Run ``app`` under uvicorn until a shutdown signal; logs go through Plugwork's structlog setup.

    ``asgi`` serves an ASGI app that wraps ``app`` (its lifespan must reach ``app.asgi``) instead.
    """
    import uvicorn

    settings = app.settings
    configure_logging(json=settings.log_json, level=settings.log_level)
    config = uvicorn.Config(
        app.asgi if asgi is None else asgi,
        host=host or settings.http_host,
        port=settings.http_port if port is None else port,
        lifespan="on",
        log_config=None,  # keep Plugwork's logging configuration
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_seconds),
        **{**uvicorn_defaults(), **options},
    )
    run_server(config)


def run_server(config: uvicorn.Config) -> None:
    """Run a uvicorn server until SIGTERM/SIGINT, then exit normally (status 0) after its graceful stop.

    uvicorn exits with status 3 by itself when the app fails to start. Its loggers get the filter that
    masks secrets (tokens in query strings, bearer credentials) in every line they write.
    """
    import uvicorn

    server = uvicorn.Server(config)
    redact.install()  # after uvicorn.Config set its loggers up: dictConfig keeps existing filters anyway
    # uvicorn re-raises the shutdown signal once it has stopped gracefully, which would end the process
    # as killed by SIGTERM (or raise KeyboardInterrupt): with these no-op handlers it exits normally, 0.
    in_main = threading.current_thread() is threading.main_thread()  # signals are main-thread only
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM) if in_main}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A signal handler doing nothing (see :func:`serve`)."""
