"""Named SQL queries and versioned migrations, read from the ``.sql`` files under ``queue/sql/``.

``queries.sql`` holds every statement of a dialect, each introduced by a ``-- name: NAME`` line. The
schema comes only from ``migrations/NNNN_title.sql``, applied in order by :func:`migrate`, recorded in
``plugwork_migrations``; ``schema.sql`` is the fresh schema a test compares the migrated one against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)
_MIGRATION = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One versioned migration file."""

    version: int
    name: str
    sql: str


def _read(dialect: str, *parts: str) -> str:
    return resources.files(__package__).joinpath("sql", dialect, *parts).read_text("utf-8")


@cache
def queries(dialect: str) -> dict[str, str]:
    """The named queries of ``dialect`` (``sqlite`` or ``postgres``)."""
    text = _read(dialect, "queries.sql")
    found: dict[str, str] = {}
    matches = list(_NAME.finditer(text))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = text[match.end() : end].strip()
        if match.group(1) in found:
            raise ValueError(f"{dialect}/queries.sql: duplicate query name {match.group(1)!r}")
        found[match.group(1)] = body
    return found


@cache
def migrations(dialect: str) -> tuple[Migration, ...]:
    """Every migration of ``dialect``, in version order."""
    folder = resources.files(__package__).joinpath("sql", dialect, "migrations")
    out = []
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            out.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    out.sort(key=lambda m: m.version)
    versions = [m.version for m in out]
    if versions != list(range(1, len(out) + 1)):
        raise ValueError(f"{dialect} migrations must be numbered 1..N without gaps: {versions}")
    return tuple(out)


def fresh_schema(dialect: str) -> str:
    """The schema a fresh database should end up with (``schema.sql``)."""
    return _read(dialect, "schema.sql")


def statements(dialect: str, filename: str) -> list[str]:
    """The statements of ``sql/{dialect}/{filename}``, comments dropped, to run one at a time.

    For files that are not migrations, such as the optional ``postgres/text_index.sql``: its
    ``CREATE INDEX CONCURRENTLY`` cannot run in the implicit transaction of a multi-statement string.
    """
    lines = [line for line in _read(dialect, filename).splitlines() if not line.lstrip().startswith("--")]
    return [sql.strip().rstrip(";") for sql in "\n".join(lines).split(";\n") if sql.strip()]
