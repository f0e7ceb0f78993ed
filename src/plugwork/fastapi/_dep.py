"""The one import of FastAPI (the ``fastapi`` extra)."""

from __future__ import annotations

try:
    import fastapi
except ImportError as exc:  # pragma: no cover - depends on the environment
    if exc.name != "fastapi":
        raise
    raise ImportError("fastapi is not installed: pip install 'plugwork[fastapi]'") from None

__all__ = ["fastapi"]
