"""The queue's loggers: the app's structlog setup when it exists, plain structlog otherwise."""

from __future__ import annotations

from typing import Any

import structlog


def get_logger(name: str) -> Any:
    """A structlog logger named ``name`` (looked up when called, so the app's setup is honoured)."""
    try:
        from ..observability.logging import get_logger as app_logger
    except ImportError:
        return structlog.get_logger(name)
    return app_logger(name)
