""":class:`OTLPHttpSpanExporter`: OTLP/HTTP protobuf export with :mod:`.otlp_encode`'s encoder.

The SDK's ``BatchSpanProcessor`` calls ``export(spans)`` from its own thread with up to 512 spans. Each
batch is one ``POST <endpoint>`` (``application/x-protobuf``, gzip when asked) on a kept-alive connection;
429, 502, 503, 504 and connection errors are retried with exponential backoff, all within
``timeout`` seconds per batch, then the batch is dropped with a warning (an unreachable collector must never
block or grow the service). Used for ``http/protobuf`` unless ``fast_exporter`` is off; ``grpc`` uses the
stock exporter. Logged URLs carry no credentials.
"""

from __future__ import annotations

import gzip
import http.client
import logging
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from ..extras import require
from .otlp_encode import encode_spans

log = logging.getLogger("plugwork.otlp")
RETRYABLE = frozenset({429, 502, 503, 504})
MAX_ERROR_BODY = 1024


class OTLPHttpSpanExporter:
    """An SDK ``SpanExporter`` posting to ``endpoint`` (the full URL, e.g. ``http://collector:4318/v1/traces``)."""

    def __init__(
        self,
        endpoint: str,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        compression: str = "",
    ) -> None:
        export = require("opentelemetry.sdk.trace.export", extra="otel")
        self._result = export.SpanExportResult
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {parts.scheme}://{parts.hostname or ''}")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._path = (parts.path or "/v1/traces") + (f"?{parts.query}" if parts.query else "")
        self._where = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"
        self._headers = {"Content-Type": "application/x-protobuf", **(headers or {})}
        self._gzip = compression == "gzip"
        if self._gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        self._shutdown = False

    def export(self, spans: Sequence[Any]) -> Any:
        """Send one batch; SUCCESS or FAILURE (never raises)."""
        if self._shutdown:
            return self._result.FAILURE
        try:
            body = encode_spans(spans)
        except Exception as exc:  # a span the encoder cannot handle: drop the batch, say why
            log.warning("otlp: could not encode %d spans: %r", len(spans), exc)
            return self._result.FAILURE
        if self._gzip:
            body = gzip.compress(body, compresslevel=5)
        deadline = time.monotonic() + self._timeout
        delay = 0.5
        with self._lock:
            while True:
                status, reason = self._post(body, deadline)
                if status is not None and 200 <= status < 300:
                    return self._result.SUCCESS
                retry = status is None or status in RETRYABLE
                if not retry or self._shutdown or time.monotonic() + delay >= deadline:
                    log.warning("otlp: dropped %d spans for %s: %s", len(spans), self._where, reason)
                    return self._result.FAILURE
                time.sleep(delay)
                delay *= 2

    def _post(self, body: bytes, deadline: float) -> tuple[int | None, str]:
        timeout = max(0.1, deadline - time.monotonic())
        try:
            conn = self._conn
            if conn is None:
                if self._https:
                    conn = http.client.HTTPSConnection(
                        self._host or "", self._port, timeout=timeout, context=ssl.create_default_context()
                    )
                else:
                    conn = http.client.HTTPConnection(self._host or "", self._port, timeout=timeout)
                self._conn = conn
            conn.timeout = timeout
            conn.request("POST", self._path, body=body, headers=self._headers)
            response = conn.getresponse()
            detail = response.read(MAX_ERROR_BODY + 1)
            if response.will_close:
                self._close()
            return response.status, f"HTTP {response.status} {detail[:MAX_ERROR_BODY]!r}"
        except (OSError, http.client.HTTPException) as exc:
            self._close()
            return None, f"{type(exc).__name__}: {exc}"

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def shutdown(self) -> None:
        """Stop: an export in progress gives up at its next retry; the connection closes now if idle."""
        self._shutdown = True
        if self._lock.acquire(blocking=False):
            try:
                self._close()
            finally:
                self._lock.release()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered here (the batch processor buffers)."""
        return True
