"""Observability: logging, metrics, tracing and health.

Importing this package imports structlog, without rich and greenlet (see :func:`_import_structlog_lean`).
"""

from __future__ import annotations

import sys


def _import_structlog_lean() -> None:
    """Import structlog without rich and greenlet.

    At its import structlog takes both when they are installed: rich for the pretty tracebacks of its dev
    console, greenlet for its deprecated thread-local context. Together they cost every service 4.7 MB of
    memory and 80 modules for features Plugwork does not use (its renderers are its own; rich is imported
    for a terminal's tracebacks only, in :mod:`.logformat`). Both stay importable for everyone else: they
    are hidden only while structlog imports (a thread importing rich at that very moment would fail).
    """
    if "structlog" in sys.modules:
        return
    hidden = [name for name in ("rich", "greenlet") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError meanwhile
    try:
        import structlog  # noqa: F401
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


_import_structlog_lean()
