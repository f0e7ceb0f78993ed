"""Logging: JSON and console output, invocation context on every line, stdlib routed through structlog."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from plugwork.context import Context, current_context
from plugwork.observability import logging as plugwork_logging
from plugwork.observability.logging import add_invocation_context, configure_logging, get_logger

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    plugwork_logging._reset_for_tests()
    root.setLevel(level)


@pytest.fixture
def stream() -> io.StringIO:
    return io.StringIO()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def test_json_lines_carry_invocation_context(stream: io.StringIO) -> None:
    log = get_logger("orders")
    configure_logging(json=True, stream=stream)
    log.info("outside", n=1)
    token = current_context.set(Context(correlation_id="c0ffee", action="greet", job_id="job-7"))
    try:
        log.info("inside", n=2)
    finally:
        current_context.reset(token)
    log.info("after")

    outside, inside, after = lines(stream)
    assert inside["event"] == "inside"
    assert inside["correlation_id"] == "c0ffee"
    assert inside["action"] == "greet"
    assert inside["job_id"] == "job-7"
    assert inside["n"] == 2
    assert inside["logger"] == "orders"
    assert inside["level"] == "info"
    assert ISO_UTC.match(inside["timestamp"])
    for line in (outside, after):
        assert "correlation_id" not in line
        assert "action" not in line


async def test_context_follows_concurrent_invocations(stream: io.StringIO) -> None:
    import asyncio

    log = get_logger()
    configure_logging(json=True, stream=stream)

    async def invoke(cid: str) -> None:
        current_context.set(Context(correlation_id=cid, action=f"act-{cid}"))
        await asyncio.sleep(0)
        log.info("work", cid=cid)

    await asyncio.gather(*(asyncio.create_task(invoke(str(i))) for i in range(5)))
    for line in lines(stream):
        assert line["correlation_id"] == line["cid"]
        assert line["action"] == f"act-{line['cid']}"


def test_explicit_keys_win_over_context() -> None:
    token = current_context.set(Context(correlation_id="ctx", action="a"))
    try:
        event = add_invocation_context(None, "info", {"event": "x", "action": "explicit"})
    finally:
        current_context.reset(token)
    assert event == {"event": "x", "action": "explicit", "correlation_id": "ctx"}
    assert add_invocation_context(None, "info", {"event": "y"}) == {"event": "y"}


@pytest.mark.parametrize("json_lines", [True, False], ids=["json", "console"])
def test_the_fast_line_and_the_processor_chain_give_the_same_fields(json_lines: bool) -> None:
    # A plain line is built in one frame; a line with bind_contextvars values or exc_info runs the
    # processor chain. Both must add the same fields, with explicit and bound keys winning.
    import structlog

    stream = io.StringIO()
    configure_logging(json=json_lines, stream=stream)
    log = get_logger("shop").bind(action="bound")
    token = current_context.set(Context(correlation_id="ctx", action="greet", job_id="j1"))
    try:
        log.info("fast %s", "line", correlation_id="mine", n=1)
        structlog.contextvars.bind_contextvars(tenant="t1")
        try:
            log.info("chain %s", "line", correlation_id="mine", n=1)
        finally:
            structlog.contextvars.clear_contextvars()
    finally:
        current_context.reset(token)
    if json_lines:
        fast, chain = lines(stream)
        assert chain.pop("tenant") == "t1"
        assert fast.pop("event") == "fast line" and chain.pop("event") == "chain line"
        assert ISO_UTC.match(fast.pop("timestamp")) and ISO_UTC.match(chain.pop("timestamp"))
        expected = {"logger": "shop", "action": "bound", "correlation_id": "mine", "n": 1, "job_id": "j1"}
        assert fast == chain == {**expected, "level": "info"}
    else:
        fast_text, chain_text = stream.getvalue().splitlines()
        for text in (fast_text, chain_text):
            assert "[shop]" in text and "[info     ]" in text
            assert "action=bound" in text and "correlation_id=mine" in text and "job_id=j1" in text
        assert "tenant=t1" in chain_text and "tenant" not in fast_text


def test_values_orjson_refuses_are_still_logged(stream: io.StringIO) -> None:
    configure_logging(json=True, stream=stream)
    log = get_logger("t")
    cycle: list[Any] = []
    cycle.append(cycle)

    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    log.info("big", n=2**70)
    log.info("surrogate", text="a\ud800b")
    log.info("cycle", items=cycle, n=1)
    log.info("opaque", value=Opaque())
    big, surrogate, cyclic, opaque = lines(stream)
    assert big["n"] == 2**70 and big["level"] == "info"
    assert surrogate["text"] == "a\ud800b"
    assert cyclic["items"] == "[[...]]" and cyclic["n"] == 1
    assert opaque["value"] == "<opaque>"


def test_stdlib_logging_goes_through_structlog(stream: io.StringIO) -> None:
    configure_logging(json=True, stream=stream)
    token = current_context.set(Context(correlation_id="abc", action="greet"))
    try:
        logging.getLogger("some.library").warning("disk %s", "full", extra={"free_bytes": 12})
    finally:
        current_context.reset(token)
    (line,) = lines(stream)
    assert line["event"] == "disk full"
    assert line["logger"] == "some.library"
    assert line["level"] == "warning"
    assert line["free_bytes"] == 12
    assert "message" not in line
    assert line["correlation_id"] == "abc"
    assert line["action"] == "greet"
    assert ISO_UTC.match(line["timestamp"])


def test_exceptions_are_rendered_in_json(stream: io.StringIO) -> None:
    configure_logging(json=True, stream=stream)
    log = get_logger("t")
    try:
        raise ValueError("bad thing")
    except ValueError:
        log.exception("failed")
        logging.getLogger("lib").exception("failed too")
    structlog_line, stdlib_line = lines(stream)
    for line in (structlog_line, stdlib_line):
        assert line["level"] == "error"
        assert "ValueError: bad thing" in line["exception"]
        assert "Traceback" in line["exception"]


def test_console_mode_is_human_readable(stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    get_logger("greeter").info("started", port=8000)
    logging.getLogger("uvicorn.error").info("Uvicorn running")
    first, second = stream.getvalue().splitlines()
    assert not first.startswith("{")
    timestamp = first.split(" ", 1)[0]
    assert ISO_UTC.match(timestamp)
    assert "started" in first
    assert "port=8000" in first
    assert "info" in first
    assert "greeter" in first
    assert "Uvicorn running" in second
    assert "uvicorn.error" in second
    assert "\x1b[" not in stream.getvalue()  # no colours when the stream is not a terminal


def test_a_terminal_gets_colours_and_tracebacks_without_local_variables() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    configure_logging(stream=terminal)
    log = get_logger("t")

    def fail(api_token: str) -> None:
        raise ValueError("bad thing")

    try:
        fail("-".join(["tok", "SECRET", "123"]))  # built at run time: the source shown holds no secret
    except ValueError:
        log.exception("failed")
    text = terminal.getvalue()
    assert "\x1b[" in text  # coloured
    assert "ValueError" in text and "bad thing" in text and "fail" in text
    assert "tok-SECRET-123" not in text  # locals are not shown: they may hold secrets


def test_level_filters_structlog_and_stdlib(stream: io.StringIO) -> None:
    log = get_logger("t")
    configure_logging(json=True, level="WARNING", stream=stream)
    log.info("hidden")
    logging.getLogger("lib").info("hidden too")
    log.warning("shown")
    assert [line["event"] for line in lines(stream)] == ["shown"]
    configure_logging(json=True, level="DEBUG", stream=stream)
    log.debug("now shown")
    logging.getLogger("lib").debug("stdlib shown")
    assert [line["event"] for line in lines(stream)][1:] == ["now shown", "stdlib shown"]


def test_reconfiguring_reaches_loggers_already_used(stream: io.StringIO) -> None:
    log = get_logger("early")
    configure_logging(json=True, stream=stream)
    log.info("as json")
    console = io.StringIO()
    configure_logging(json=False, stream=console)
    log.info("as console")
    assert [line["event"] for line in lines(stream)] == ["as json"]
    assert "as console" in console.getvalue()
    assert not console.getvalue().startswith("{")


def test_configure_is_idempotent(stream: io.StringIO) -> None:
    root = logging.getLogger()
    before = len(root.handlers)
    for _ in range(3):
        configure_logging(json=True, stream=stream)
    configure_logging(json=False, stream=stream)
    assert len(root.handlers) == before + 1
    logging.getLogger("lib").warning("once")
    assert stream.getvalue().count("once") == 1


def test_uvicorn_handlers_are_replaced_by_propagation(stream: io.StringIO) -> None:
    uvicorn_logger = logging.getLogger("uvicorn.access")
    own = io.StringIO()
    uvicorn_logger.addHandler(logging.StreamHandler(own))
    uvicorn_logger.propagate = False
    configure_logging(json=True, stream=stream)
    uvicorn_logger.info('127.0.0.1 - "GET / HTTP/1.1" 200')
    assert own.getvalue() == ""
    (line,) = lines(stream)
    assert line["logger"] == "uvicorn.access"


def test_loggers_work_before_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    plugwork_logging._reset_for_tests()
    get_logger("early").info("before configure", k=1)
    out = capsys.readouterr().out
    assert "before configure" in out
    assert "k=1" in out


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging(level="LOUD")


def test_uvicorn_color_message_extra_is_dropped() -> None:
    import io
    import json
    import logging

    from plugwork.observability.logging import configure_logging

    out = io.StringIO()
    configure_logging(json=True, stream=out)
    logging.getLogger("uvicorn.error").info("Started %s", "x", extra={"color_message": "Started \x1b[36m%s"})
    line = json.loads(out.getvalue().strip().splitlines()[-1])
    assert line["event"] == "Started x" and "color_message" not in line


@pytest.mark.parametrize(
    "ns", [0, 999, 1_767_225_599_999_999_999, 1_767_225_600_000_001_000, 1_764_450_000_123_456_789]
)
def test_the_timestamp_is_the_utc_time_to_the_microsecond(monkeypatch: pytest.MonkeyPatch, ns: int) -> None:
    import datetime

    from plugwork.observability import logformat

    monkeypatch.setattr(logformat, "_time_ns", lambda: ns)
    monkeypatch.setattr(logformat, "_cached_second", (-1, ""))
    monkeypatch.setattr(logformat, "_cached_milli", (-1, ""))
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    moment = epoch + datetime.timedelta(microseconds=ns // 1000)  # exact: no float on the way
    assert logformat._timestamp() == moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert logformat._timestamp() == moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # from the cached prefixes


def test_the_cached_prefixes_follow_the_clock_across_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime

    from plugwork.observability import logformat

    start = 1_767_225_599_998_999_000  # 2025-12-31T23:59:59.998999Z
    steps = [0, 1_000, 2_000, 1_001_000, 1_999_000, 1_000_000_000, 3_000, 86_400_000_000_000, 0]
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    for step in steps:  # the caches carry over from line to line; the last step goes back in time
        ns = start + step
        monkeypatch.setattr(logformat, "_time_ns", lambda ns=ns: ns)
        moment = epoch + datetime.timedelta(microseconds=ns // 1000)
        assert logformat._timestamp() == moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), step


def test_bound_contextvars_are_merged_even_where_structlog_keeps_them_elsewhere(
    monkeypatch: pytest.MonkeyPatch, stream: io.StringIO
) -> None:
    import structlog

    from plugwork.observability import logformat

    monkeypatch.setattr(logformat, "_BOUND_VARS", None)  # a structlog without the dict read directly
    configure_logging(json=True, stream=stream)
    structlog.contextvars.bind_contextvars(tenant="t1")
    try:
        get_logger("t").info("x")
    finally:
        structlog.contextvars.clear_contextvars()
    (line,) = lines(stream)
    assert line["tenant"] == "t1"
