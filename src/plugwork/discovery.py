"""Finding actions: in modules, packages (recursively) and directories of Python files."""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .actions import Action, as_action
from .errors import DefinitionError

if TYPE_CHECKING:
    from .app import App

Source = str | Path | ModuleType | Action | Any


def discover(sources: Iterable[Source]) -> dict[str, Action]:
    """Collect the actions of every source, refusing two different actions with one name.

    A source is a module or package name (``"app.actions"``), a module object, a directory or ``.py`` file
    path, a decorated function, an ``ActionRunner`` subclass or an :class:`Action`. Packages and
    directories are walked recursively.
    """
    found: dict[str, tuple[Action, Any]] = {}
    for source in sources:
        for origin, spec in _actions_of(source):
            seen = found.get(spec.name)
            if seen is not None and seen[1] is not origin:
                raise DefinitionError(
                    f"duplicate action name {spec.name!r}: {_where(seen[1])} and {_where(origin)}"
                )
            found[spec.name] = (spec, origin)
    return {name: spec for name, (spec, _) in found.items()}


def _where(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _actions_of(source: Source) -> Iterator[tuple[Any, Action]]:
    if isinstance(source, ModuleType):
        yield from _walk_module(source)
        return
    if isinstance(source, Path) or (isinstance(source, str) and _looks_like_path(source)):
        yield from _walk_path(Path(source))
        return
    if isinstance(source, str):
        try:
            module = importlib.import_module(source)
        except ImportError as exc:
            raise DefinitionError(f"cannot import action module {source!r}: {exc}") from exc
        yield from _walk_module(module)
        return
    spec = as_action(source)
    if spec is None:
        raise DefinitionError(f"not an action, module or path: {source!r}")
    yield getattr(spec, "handler", source) if isinstance(source, Action) else source, spec


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.endswith(".py") or Path(text).is_dir()


def _walk_module(module: ModuleType) -> Iterator[tuple[Any, Action]]:
    yield from _members(module)
    path = getattr(module, "__path__", None)
    if path is None:
        return
    for info in pkgutil.walk_packages(path, prefix=module.__name__ + "."):
        try:
            sub = importlib.import_module(info.name)
        except ImportError as exc:
            raise DefinitionError(f"cannot import {info.name!r} while discovering actions: {exc}") from exc
        yield from _members(sub)


def _members(module: ModuleType) -> Iterator[tuple[Any, Action]]:
    for obj in list(vars(module).values()):
        # Only what the module defines itself: imported actions are found where they are defined.
        if getattr(obj, "__module__", None) != module.__name__:
            continue
        spec = as_action(obj)
        if spec is not None:
            yield obj, spec


def _walk_path(path: Path) -> Iterator[tuple[Any, Action]]:
    if not path.exists():
        raise DefinitionError(f"action path does not exist: {path}")
    files = (
        [path] if path.is_file() else sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
    )
    for file in files:
        yield from _members(_import_file(file.resolve()))


def _import_file(file: Path) -> ModuleType:
    """Import a file by path under a stable synthetic name (importing it twice returns the same module)."""
    name = "plugwork_actions_" + "_".join(file.with_suffix("").parts[1:]).replace("-", "_").replace(".", "_")
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise DefinitionError(f"cannot import action file {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise DefinitionError(f"error importing action file {file}: {type(exc).__name__}: {exc}") from exc
    return module


def load_object(spec: str) -> Any:
    """Import ``MODULE:ATTRIBUTE`` (the current directory is importable) and return the attribute.

    ``ATTRIBUTE`` defaults to ``app``. Raises :class:`~plugwork.errors.DefinitionError` saying what is wrong.
    """
    module_name, _, attr = spec.partition(":")
    attr = attr or "app"
    if not module_name:
        raise DefinitionError(f"{spec!r} is not MODULE:ATTRIBUTE")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DefinitionError(f"cannot import module {module_name!r}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise DefinitionError(f"module {module_name!r} has no attribute {attr!r}") from None


def load_app(spec: str) -> App:
    """The :class:`App` that ``MODULE:ATTRIBUTE`` names, or serves through ASGI middleware (``find_app``)."""
    obj = load_object(spec)
    app = find_app(obj)
    if app is None:
        raise DefinitionError(
            f"{spec} is a {type(obj).__name__}, not a plugwork.App (nor an ASGI app wrapping one)"
        )
    return app


def find_app(obj: Any, depth: int = 16) -> App | None:
    """The :class:`App` ``obj`` is, or serves through ASGI wrappers: ``app.asgi``, and middleware that
    keeps the app it wraps as ``.app`` (Starlette's and most others' convention)."""
    from .app import App

    for _ in range(depth):
        if isinstance(obj, App):
            return obj
        obj = getattr(obj, "app", None)
        if obj is None:
            return None
    return None
