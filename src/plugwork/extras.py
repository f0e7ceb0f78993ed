"""Importing optional packages: one helper, so that a missing extra always says what to install.

Every optional import in Plugwork goes through :func:`require`, at the place that needs it (never at
``import plugwork``)::

    asyncpg = require("asyncpg", extra="postgres")

Extras are named after the folder that needs them (``plugwork[postgres]`` for the PostgreSQL stores,
``plugwork[db]`` for :mod:`plugwork.db`, ...); their tests live in ``tests/<folder>/``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependency

__all__ = ["require"]


def require(module: str, *, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`~plugwork.errors.MissingDependency` naming ``extra``.

    Only the absence of ``module`` itself (or of its top-level package) is reported that way: an
    ``ImportError`` raised from inside an installed package is a real bug and is re-raised untouched.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module == missing or module.startswith(missing + ".")):
            raise MissingDependency(module.partition(".")[0], extra) from exc
        raise
