"""Browsing jobs page by page: :class:`JobQuery` and the SQL it becomes in the SQL stores.

Pages are keyset-paged (``before``: the id of the last job of the previous page), newest first, so page
500 of 100,000 jobs costs what page 1 costs: an index range scan, never an ``OFFSET`` that reads and skips
every earlier row. A status filter uses the ``(status, id)`` index; action and queue filters walk the primary
key newest first, stopping at the page's ``limit`` matches (docs/dashboard.md says why there is no index
for them).

The text filter is a substring match, so without an index it reads the jobs until it has a page: on
PostgreSQL as ``lower(column COLLATE "C") LIKE pattern`` with the pattern lowered once, here, which reads
three to five times as fast as ``ILIKE`` (which lowers the pattern and the column again on every row in a
UTF-8 database). ``COLLATE "C"`` folds ASCII letters only, as SQLite's ``LIKE`` does, so a text with any
other character falls back to ``lower(column) LIKE lower(pattern)`` in the database's own collation. The ASCII
expressions are those of the optional trigram index ``sql/postgres/text_index.sql``.

The WHERE clause is built here from fixed fragments (only the filters given, each with a bound
parameter): a named query with ``(?1 IS NULL OR status = ?1)`` would plan one scan for every combination
and so could not use the index of the filter actually given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .jobs import Job, JobStatus, encode_json, parse_job_id

MAX_PAGE = 500
"""The largest page a store returns."""
MAX_TEXT = 200
"""Longest text filter accepted (characters)."""

Dialect = Literal["sqlite", "postgres"]


@dataclass(frozen=True, slots=True)
class JobQuery:
    """Which jobs to list: filters (each optional) and the page (``before`` an id, at most ``limit``)."""

    status: JobStatus | None = None
    action: str | None = None
    queue: str | None = None
    text: str | None = None
    """Case-insensitive substring of the action, payload or error, or an exact job or correlation id."""
    before: str | None = None
    """Only jobs older than this job id (the last id of the previous page)."""
    limit: int = 50

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
        for name in ("text", "action", "queue", "before"):
            value = getattr(self, name)
            if value is not None and len(value) > MAX_TEXT:
                raise ValueError(f"{name} must be at most {MAX_TEXT} characters")


_ESCAPE = "ESCAPE '\\'"


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def page_sql(dialect: Dialect, query: JobQuery) -> tuple[str, list[object]]:
    """The SELECT for one page of ``query`` and its parameters (numbered: ``?N`` or ``$N``)."""
    params: list[object] = []

    def bind(value: object) -> str:
        params.append(value)
        return f"?{len(params)}" if dialect == "sqlite" else f"${len(params)}"

    clauses: list[str] = []
    if query.status is not None:
        clauses.append(f"status = {bind(JobStatus(query.status).value)}")
    if query.action:
        clauses.append(f"action = {bind(query.action)}")
    if query.queue:
        clauses.append(f"queue = {bind(query.queue)}")
    if query.before is not None:
        before = parse_job_id(query.before)
        clauses.append(f"id < {bind(before if before is not None else 0)}")
    if query.text:
        if dialect == "sqlite":  # SQLite's LIKE folds ASCII case itself
            fold, pattern = "{}", bind(_like_pattern(query.text))
        elif query.text.isascii():
            fold, pattern = 'lower({} COLLATE "C")', bind(_like_pattern(query.text.lower()))
        else:
            fold, pattern = "lower({})", f"lower({bind(_like_pattern(query.text))})"
        # A NULL error fails its LIKE, and a match elsewhere still makes the OR true: no coalesce needed.
        columns = ("action", "payload", "error")
        text = [f"{fold.format(column)} LIKE {pattern} {_ESCAPE}" for column in columns]
        text.append(f"correlation_id = {bind(query.text)}")
        job_id = parse_job_id(query.text.strip())
        if job_id is not None:
            text.append(f"id = {bind(job_id)}")
        clauses.append("(" + " OR ".join(text) + ")")
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    return f"SELECT * FROM plugwork_jobs {where}ORDER BY id DESC LIMIT {bind(query.limit)}", params


def matches(job: Job, query: JobQuery) -> bool:
    """Whether ``job`` passes ``query``'s filters (the memory store's version of :func:`page_sql`)."""
    if query.status is not None and job.status != query.status:
        return False
    if (query.action and job.action != query.action) or (query.queue and job.queue != query.queue):
        return False
    if query.before is not None:
        before = parse_job_id(query.before)
        if before is None or int(job.id) >= before:
            return False
    if query.text:
        needle = query.text.lower()
        haystack = (job.action, encode_json(job.payload), "" if job.error is None else encode_json(job.error))
        if not (
            any(needle in part.lower() for part in haystack)
            or job.correlation_id == query.text
            or job.id == query.text.strip()
        ):
            return False
    return True
