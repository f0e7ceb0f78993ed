"""Serving an app with uvicorn: graceful shutdown on SIGTERM/SIGINT comes from uvicorn's lifespan handling."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from .http.limits import HttpLimits, protocol_class
from .observability import redact
from .observability.logging import configure_logging

if TYPE_CHECKING:
    import uvicorn

    from .app import App


def uvicorn_defaults(limits: HttpLimits | None = None, http: Any = "auto") -> dict[str, Any]:
    """The fastest loop and HTTP parser installed (the ``speed`` extra), else uvicorn's pure-Python ones,
    held to ``limits`` (header size and time, body time, idle connections; see :mod:`plugwork.http.limits`),
    and uvicorn's WebSocket protocol loaded on the first upgrade request (:func:`websocket_on_demand`).

    ``http`` names uvicorn's implementation ("auto", "httptools", "h11"); a protocol class is kept as given.
    """
    options: dict[str, Any] = {}
    if importlib.util.find_spec("uvloop") is not None:
        options["loop"] = "uvloop"
    options["http"] = protocol_class(limits or HttpLimits(), http) if isinstance(http, str) else http
    options["ws"] = websocket_on_demand()
    return options


def websocket_on_demand(ws: str = "auto") -> Callable[..., asyncio.Protocol]:
    """uvicorn's WebSocket protocol ``ws`` (its name in ``uvicorn.Config``), imported when a first client
    asks to upgrade rather than when the server starts.

    uvicorn imports it with its configuration, and with it the ``websockets`` library: about 0.8 MB of memory
    that most services never use (Plugwork's own routes are all HTTP; an app's WebSocket routes, or
    ``asgi=`` wrapping one that has them, work the same). The first upgrade pays the import instead.
    """
    loaded: Callable[..., asyncio.Protocol] | None = None

    def protocol(**kwargs: Any) -> asyncio.Protocol:
        nonlocal loaded
        if loaded is None:
            from uvicorn.config import WS_PROTOCOLS
            from uvicorn.importer import import_from_string

            loaded = import_from_string(WS_PROTOCOLS[ws])
            if loaded is None:  # pragma: no cover - websockets is a core dependency
                raise RuntimeError("no WebSocket library is installed (pip install websockets)")
        return loaded(**kwargs)

    return protocol


def serve(
    app: App, *, host: str | None = None, port: int | None = None, asgi: Any = None, **options: Any
) -> None:
    """Run ``app`` under uvicorn until a shutdown signal; logs go through Plugwork's structlog setup.

    ``asgi`` serves an ASGI app that wraps ``app`` (its lifespan must reach ``app.asgi``) instead.
    """
    import uvicorn

    settings = app.settings
    configure_logging(json=settings.log_json, level=settings.log_level)
    defaults = uvicorn_defaults(HttpLimits.from_settings(settings), options.pop("http", "auto"))
    config = uvicorn.Config(
        app.asgi if asgi is None else asgi,
        host=host or settings.http_host,
        port=settings.http_port if port is None else port,
        lifespan="on",
        log_config=None,  # keep Plugwork's logging configuration
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_seconds),
        **{**defaults, **options},
    )
    run_server(config)


def run_server(config: uvicorn.Config) -> None:
    """Run a uvicorn server until SIGTERM/SIGINT, then exit normally (status 0) after its graceful stop.

    uvicorn exits with status 3 by itself when the app fails to start. Its loggers get the filter that
    masks secrets (tokens in query strings, bearer credentials) in every line they write.
    """
    server = _server(config)
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


def _server(config: uvicorn.Config) -> uvicorn.Server:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, freezing the garbage collector's view of the start-up objects once started."""

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            freeze_startup_objects()

    return Server(config)


def freeze_startup_objects() -> None:
    """Move every object alive now out of the cyclic garbage collector's sight (``gc.freeze()``).

    A long-running process keeps its modules, classes, validators and app objects until it ends; a full
    collection walks them all, which took 16 to 63 ms per pass in a Plugboard consumer under load (a pause
    every request waiting then feels). Frozen, they are skipped (a pass took 0.1 ms); reference counting
    still frees any of them that is released later. For server processes only, once they have started.
    """
    gc.collect()
    gc.freeze()


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A signal handler doing nothing (see :func:`serve`)."""
