"""Importing optional packages: one helper, so that a missing extra always says what to install.

Every optional import in Plugwork goes through :func:`require`, at the place that needs it (never at
``import plugwork``)::

    asyncpg = require("asyncpg", extra="postgres")

Extras are named after the folder that needs them (``plugwork[postgres]`` for the PostgreSQL stores,
``plugwork[db]`` for :mod:`plugwork.db`, ...); their tests live in ``tests/<folder>/``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from .errors import MissingDependency

__all__ = ["lazy_exports", "require"]


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


def lazy_exports(
    package: str, where: Mapping[str, str], *, needs: tuple[str, str] | None = None
) -> Callable[[str], Any]:
    """A package ``__getattr__`` importing each public name from its submodule when first asked for.

    ``where`` maps a name to its submodule. ``needs`` is ``(module, extra)``: the optional package checked
    (with :func:`require`) before any name loads. So importing the package, as a built-in plugin's code
    does at every start, needs none of its optional packages.
    """

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if needs is not None:
            require(needs[0], extra=needs[1])
        value = getattr(importlib.import_module(f".{module}", package), name)
        setattr(sys.modules[package], name, value)  # the next look-up is a plain attribute
        return value

    return __getattr__
