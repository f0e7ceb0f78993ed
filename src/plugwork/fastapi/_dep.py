"""The one import of FastAPI (the ``fastapi`` extra): a missing package says what to install."""

from __future__ import annotations

from ..extras import require

fastapi = require("fastapi", extra="fastapi")

__all__ = ["fastapi"]
