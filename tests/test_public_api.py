"""The public API: ``plugwork.__all__`` is exactly this list, and every name imports."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import plugwork

PUBLIC_API = [
    "Action",
    "ActionError",
    "ActionResponse",
    "ActionRunner",
    "App",
    "AppInit",
    "AppState",
    "Carrier",
    "CircuitOpen",
    "ConfigError",
    "Context",
    "DefinitionError",
    "DependencyError",
    "Dispatcher",
    "ErrorCode",
    "ErrorInfo",
    "Forbidden",
    "HealthRegistry",
    "HealthStatus",
    "InvalidInput",
    "Invocation",
    "InvocationCancelled",
    "InvocationTimeout",
    "Middleware",
    "MissingDependency",
    "NotFound",
    "Outcome",
    "Plugin",
    "PluginSettings",
    "PlugworkError",
    "ProtocolError",
    "RateLimited",
    "Service",
    "ServiceError",
    "ServiceState",
    "Settings",
    "StoreError",
    "Unauthorized",
    "Unavailable",
    "UnknownAction",
    "action",
    "get_context",
    "get_logger",
    "load_settings",
]


def test_all_matches_the_documented_list() -> None:
    assert sorted(plugwork.__all__) == sorted(PUBLIC_API)
    assert len(plugwork.__all__) == len(set(plugwork.__all__)), "no duplicates"


def test_every_name_imports() -> None:
    namespace: dict[str, object] = {}
    exec("from plugwork import *", namespace)
    for name in PUBLIC_API:
        assert namespace[name] is getattr(plugwork, name)


def test_errors_share_one_root() -> None:
    for name in PUBLIC_API:
        obj = getattr(plugwork, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, plugwork.PlugworkError), name


def test_public_classes_and_functions_are_documented() -> None:
    errors_doc = plugwork.errors.__doc__ or ""
    for name in PUBLIC_API:
        obj = getattr(plugwork, name)
        if name == "Middleware":  # a type alias: documented in plugwork.dispatch
            continue
        if (
            isinstance(obj, type)
            and issubclass(obj, plugwork.ActionError)
            and obj is not plugwork.ActionError
        ):
            # The error subclasses are drawn, each with its code and status, in the errors module docstring.
            assert re.search(rf"\b{name}\b.*\b{obj.code.status}\b", errors_doc), name
        else:
            assert (obj.__doc__ or "").strip(), f"{name} has no docstring"


def test_testing_helpers_are_importable() -> None:
    testing = importlib.import_module("plugwork.testing")
    assert testing.TestClient.__doc__


def test_py_typed_is_shipped() -> None:
    assert (Path(plugwork.__file__).parent / "py.typed").is_file()


def test_import_has_no_side_effects() -> None:
    # Importing the package starts nothing, opens nothing and configures no logging.
    code = (
        "import logging, threading, plugwork; "
        "assert threading.active_count() == 1, threading.enumerate(); "
        "assert not logging.getLogger().handlers, logging.getLogger().handlers; "
        "print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
