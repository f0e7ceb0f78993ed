"""Logging through structlog: human console lines by default, JSON lines on request, one format for all.

:func:`configure_logging` sets up structlog and routes the standard library's logging (uvicorn, asyncio,
libraries) through the same processors and renderer, so every line in the output has one shape. Each line
logged while an invocation runs carries its ``correlation_id`` and ``action`` (and ``job_id`` for a job),
taken from :data:`plugwork.context.current_context`.

Loggers from :func:`get_logger` work before configuration (structlog's defaults) and follow every later
:func:`configure_logging` call, although they cache their assembled logger after first use: a call below
the configured level costs about 0.25 µs, a JSON line about 9 µs.
"""

from __future__ import annotations

import logging
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any, TextIO, cast

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

from plugwork.context import current_context

__all__ = [
    "add_invocation_context",
    "add_trace_context",
    "configure_logging",
    "get_logger",
    "set_trace_hooks",
]

_HANDLER_NAME = "plugwork"
# The uvicorn loggers install their own handlers unless uvicorn runs with ``log_config=None``; ours
# propagate to the root handler instead, so their lines share the format.
_ROUTED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")

_lock = threading.Lock()
_configured: tuple[bool, int, TextIO] | None = None
_loggers: weakref.WeakSet[_Logger] = weakref.WeakSet()


def add_invocation_context(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: add the running invocation's correlation id, action and job id.

    One contextvar read; nothing is added outside an invocation, and keys given explicitly win.
    """
    ctx = current_context.get()
    if ctx is not None:
        event_dict.setdefault("correlation_id", ctx.correlation_id)
        if ctx.action:
            event_dict.setdefault("action", ctx.action)
        if ctx.job_id is not None:
            event_dict.setdefault("job_id", ctx.job_id)
    return event_dict


TraceIds = Callable[[], "tuple[str, str] | None"]
LogSink = Callable[[str, EventDict], None]
# Set by the tracing plugin while it runs in this process (the OpenTelemetry SDK is per process too);
# None/() when tracing is off, so that the processor below costs one global read.
_trace_ids: TraceIds | None = None
_log_sinks: tuple[LogSink, ...] = ()


def set_trace_hooks(trace_ids: TraceIds | None, log_sink: LogSink | None = None) -> None:
    """Install (or, with None, remove) the current span's ids source and a sink for exported log events."""
    global _trace_ids, _log_sinks
    _trace_ids = trace_ids
    _log_sinks = (log_sink,) if log_sink is not None else ()


def add_trace_context(_logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: ``trace_id`` and ``span_id`` of the current span, then the log sinks.

    Runs after the level and timestamp are added, so that a sink (OTLP log export) sees the whole event.
    """
    source = _trace_ids
    if source is not None:
        ids = source()
        if ids is not None:
            event_dict.setdefault("trace_id", ids[0])
            event_dict.setdefault("span_id", ids[1])
    for sink in _log_sinks:
        sink(method, event_dict)
    return event_dict


class _Logger:
    """A logger that assembles itself from the current structlog configuration on first use.

    Each method it hands out is cached on the instance, so ``log.debug`` below the level is one attribute
    lookup and a no-op call; :func:`configure_logging` clears the cache so the next call follows the new
    configuration. (structlog's own lazy proxy re-resolves on every call, about 0.6 µs.)
    """

    __slots__ = ("__dict__", "__weakref__", "_initial")

    def __init__(self, initial: dict[str, Any]) -> None:
        self._initial = initial

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        logger = vars(self).get("_logger")
        if logger is None:
            logger = structlog.get_logger().bind(**self._initial)
            vars(self)["_logger"] = logger
        value = getattr(logger, attr)
        vars(self)[attr] = value
        return value

    def __repr__(self) -> str:
        return f"<plugwork logger {self._initial.get('logger', '')!r}>"


def get_logger(name: str | None = None) -> FilteringBoundLogger:
    """A structlog logger; ``name`` appears as the ``logger`` key of its lines.

    Usable before :func:`configure_logging` and follows every later call of it; get it once (at module
    level) and reuse it. ``bind()`` on it returns a plain structlog logger of the configuration current at
    that moment.
    """
    logger = _Logger({"logger": name} if name else {})
    with _lock:
        _loggers.add(logger)
    return cast(FilteringBoundLogger, logger)


def configure_logging(*, json: bool = False, level: str | int = "INFO", stream: TextIO | None = None) -> None:
    """Set up structlog and stdlib logging: console lines, or JSON lines when ``json`` is true.

    Idempotent: calling again replaces the previous set-up, never adds a second handler. Handlers that
    others put on the root logger (pytest's, an APM agent's) are left alone. ``stream`` defaults to
    standard error, so that standard output stays free for a command's own output.
    """
    global _configured
    level_number = _level_number(level)
    out = stream if stream is not None else sys.stderr
    with _lock:
        if (
            _configured is not None
            and _configured[:2] == (json, level_number)
            and _configured[2] is out
            and structlog.is_configured()
        ):
            return
        shared = _shared_processors()
        renderer = _renderer(json, out)
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                *shared,
                structlog.processors.StackInfoRenderer(),
                *([structlog.processors.format_exc_info] if json else []),
                renderer,
            ],
            wrapper_class=structlog.make_filtering_bound_logger(level_number),
            logger_factory=structlog.WriteLoggerFactory(file=out),
            # Loggers from get_logger() cache themselves and are reset here; structlog's own cache would
            # pin other structlog loggers to the configuration of their first call.
            cache_logger_on_first_use=False,
        )
        _route_stdlib(out, level_number, shared, renderer, json)
        _forget_cached_loggers()
        _configured = (json, level_number, out)


def _level_number(level: str | int) -> int:
    if isinstance(level, int):
        return level
    name = level.strip().upper()
    number = logging.getLevelNamesMapping().get("WARNING" if name == "WARN" else name)
    if number is None:
        raise ValueError(f"unknown log level {level!r}")
    return number


def _shared_processors() -> list[Processor]:
    """What structlog and stdlib lines both go through before rendering."""
    return [
        add_invocation_context,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_context,
    ]


def _renderer(json: bool, out: TextIO) -> Processor:
    if json:
        return structlog.processors.JSONRenderer()
    isatty = getattr(out, "isatty", None)
    return structlog.dev.ConsoleRenderer(colors=bool(isatty and isatty()))


def _route_stdlib(out: TextIO, level: int, shared: list[Processor], renderer: Processor, json: bool) -> None:
    """Put one handler on the root logger that renders stdlib records like structlog's own lines."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            _drop_formatter_attributes,
            *shared,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *([structlog.processors.format_exc_info] if json else []),
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    for name in _ROUTED_LOGGERS:
        routed = logging.getLogger(name)
        routed.handlers.clear()
        routed.propagate = True
        routed.setLevel(logging.NOTSET)


def _drop_formatter_attributes(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    # Another handler's Formatter (pytest's, an agent's) may have set record.message and record.asctime
    # before ours runs; ExtraAdder would take them for extras. ``extra=`` can never set these two names.
    event_dict.pop("message", None)
    event_dict.pop("asctime", None)
    # uvicorn passes a terminal-coloured copy of each message as an extra; it is noise in every line.
    event_dict.pop("color_message", None)
    return event_dict


def _forget_cached_loggers() -> None:
    """Make every logger from :func:`get_logger` rebuild from the new configuration on its next call."""
    for logger in list(_loggers):
        vars(logger).clear()


def logging_configured() -> bool:
    """Whether :func:`configure_logging` has set logging up in this process."""
    return _configured is not None and structlog.is_configured()


def _reset_for_tests() -> None:
    """Forget the current configuration (structlog defaults, our root handler removed)."""
    global _configured
    with _lock:
        structlog.reset_defaults()
        root = logging.getLogger()
        for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
            root.removeHandler(old)
        _forget_cached_loggers()
        _configured = None
