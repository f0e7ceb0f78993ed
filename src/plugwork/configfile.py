"""Settings files: YAML read with bounds, and ``${VAR}`` / ``${VAR:-default}`` interpolation.

The YAML file may refer to environment variables as ``${VAR}`` (an error if ``VAR`` is unset) or
``${VAR:-default}``; ``$${`` escapes a literal ``${``. Every problem is a
:class:`~plugwork.errors.ConfigError` naming the key at fault. :mod:`plugwork.config` uses these.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

MAX_CONFIG_FILE_BYTES = 1024 * 1024

_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def interpolate(value: Any, variables: Mapping[str, str], path: str = "") -> Any:
    """``value`` with every ``${VAR}`` / ``${VAR:-default}`` in its strings replaced from ``variables``.

    Substituted values stay strings; validation then converts them to the field's type, so
    ``port: ${PORT:-8000}`` becomes the integer 8000 while ``password: ${PW}`` stays a string even if
    ``PW=0123``. ``path`` names the key in errors. YAML aliases can make a small file a huge tree, so
    the walk is bounded in nodes and depth.
    """
    return _Interpolation(variables).walk(value, path, 0)


class _Interpolation:
    MAX_NODES = 100_000
    MAX_DEPTH = 64

    def __init__(self, variables: Mapping[str, str]) -> None:
        self.variables = variables
        self.nodes = 0

    def walk(self, value: Any, path: str, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > self.MAX_NODES or depth > self.MAX_DEPTH:
            raise ConfigError(
                f"too large: over {self.MAX_NODES} values or {self.MAX_DEPTH} levels deep",
                key=path or None,
            )
        if isinstance(value, str):
            return _interpolate_string(value, self.variables, path) if "$" in value else value
        if isinstance(value, dict):
            return {
                key: self.walk(item, f"{path}.{key}" if path else str(key), depth + 1)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self.walk(item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value)]
        return value


def _interpolate_string(text: str, variables: Mapping[str, str], path: str) -> str:
    def replace(match: re.Match[str]) -> str:
        body = match.group(1)
        if body is None:  # "$${" escapes a literal "${"
            return "${"
        name, has_default, default = body.partition(":-")
        if not _VAR_NAME.match(name):
            raise ConfigError(
                f"invalid variable reference ${{{body}}} (expected ${{NAME}} or ${{NAME:-default}})", key=path
            )
        found = variables.get(name)
        if has_default:
            return found if found else default
        if found is None:
            raise ConfigError(
                f"environment variable {name} is not set (use ${{{name}:-default}} for a default)", key=path
            )
        return found

    return _REFERENCE.sub(replace, text)


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """A YAML file holding a mapping, read with bounds (size, encoding); not yet interpolated."""
    file = Path(path).expanduser()
    try:
        size = file.stat().st_size
        if size > MAX_CONFIG_FILE_BYTES:
            raise ConfigError(
                f"{file} is {size} bytes; the limit is {MAX_CONFIG_FILE_BYTES}", key="config_file"
            )
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror or exc}", key="config_file") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file} is not UTF-8 text: {exc}", key="config_file") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file} is not valid YAML: {exc}", key="config_file") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{file} must hold a mapping of settings, not {type(data).__name__}", key="config_file"
        )
    return data
