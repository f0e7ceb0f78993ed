"""The ``plugwork jobs`` and ``plugwork db`` command groups (mounted on the ``plugwork`` CLI).

Every command takes ``--queue-url`` (default: ``$PLUGWORK_QUEUE_URL``, else the SQLite file
``.plugwork/jobs.db``). ``jobs enqueue`` needs the app's actions, so it takes ``MODULE:APP`` too.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import IO, Any, TypeVar

import click
from pydantic_core import from_json, to_json

from ..config import load_settings
from ..errors import InvalidInput, PlugworkError
from .client import JobQueue
from .factory import migrate as migrate_store
from .factory import store_from_url
from .jobs import MAX_PAYLOAD_BYTES, Job, JobStatus
from .store import DEFAULT_QUEUE_URL, JobStore

T = TypeVar("T")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

queue_url_option = click.option(
    "--queue-url",
    envvar="PLUGWORK_QUEUE_URL",
    default=None,
    help="Job store URL [env PLUGWORK_QUEUE_URL; else the settings' queue_url from .env or the"
    f" PLUGWORK_CONFIG YAML file; else {DEFAULT_QUEUE_URL}].",
)


def parse_duration(text: str) -> float:
    """Seconds from ``90``, ``30s``, ``15m``, ``12h``, ``7d`` or ``2w``."""
    match = _DURATION.match(text)
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration such as 30s, 15m, 12h, 7d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _run(url: str | None, work: Callable[[JobQueue], Awaitable[T]], actions: Any = None) -> T:
    async def main() -> T:
        store: JobStore = store_from_url(url or load_settings().queue_url)
        await store.open()
        try:
            return await work(JobQueue(store, actions or {}))
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except PlugworkError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc


def _echo_json(value: Any) -> None:
    click.echo(to_json(value, indent=2).decode())


def _table(jobs: list[Job]) -> None:
    click.echo(f"{'ID':>10}  {'STATUS':<10}  {'ACTION':<24}  {'TRIES':>5}  {'QUEUE':<10}  CREATED")
    for j in jobs:
        tries = f"{j.attempts}/{j.max_attempts}"
        created = j.created_at.strftime("%Y-%m-%d %H:%M:%S")
        status, action, queue = j.status.value, j.action[:24], j.queue[:10]
        click.echo(f"{j.id:>10}  {status:<10}  {action:<24}  {tries:>5}  {queue:<10}  {created}")


@click.group()
def jobs() -> None:
    """Inspect and manage durable jobs."""


@jobs.command("list")
@queue_url_option
@click.option("--status", type=click.Choice([s.value for s in JobStatus]), help="Only jobs in this status.")
@click.option("--action", help="Only jobs of this action.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_jobs(
    queue_url: str | None, status: str | None, action: str | None, limit: int, offset: int, as_json: bool
) -> None:
    """List jobs, newest first."""
    found = _run(queue_url, lambda q: q.list(status=status, action=action, limit=limit, offset=offset))
    if as_json:
        _echo_json([j.to_dict() for j in found])
    else:
        _table(found)


@jobs.command()
@queue_url_option
@click.argument("job_id")
def show(queue_url: str | None, job_id: str) -> None:
    """Show one job with its payload, result and error."""
    _echo_json(_run(queue_url, lambda q: q.get(job_id)).to_dict())


@jobs.command()
@queue_url_option
@click.argument("job_id")
def retry(queue_url: str | None, job_id: str) -> None:
    """Run a failed, dead or cancelled job again."""
    job = _run(queue_url, lambda q: q.retry(job_id))
    click.echo(f"job {job.id} is {job.status.value}")


@jobs.command()
@queue_url_option
@click.argument("job_id")
def cancel(queue_url: str | None, job_id: str) -> None:
    """Cancel a job (a running one stops at its next await point)."""
    job = _run(queue_url, lambda q: q.cancel(job_id))
    click.echo(f"job {job.id} is {job.status.value}")


@jobs.command()
@queue_url_option
@click.option("--older-than", default="7d", show_default=True, help="Age of finished jobs to delete.")
def purge(queue_url: str | None, older_than: str) -> None:
    """Delete completed, dead and cancelled jobs that finished long enough ago."""
    seconds = parse_duration(older_than)
    count = _run(queue_url, lambda q: q.purge(seconds))
    click.echo(f"purged {count} job(s)")


@jobs.command()
@queue_url_option
@click.argument("app_spec", metavar="APP")
@click.argument("action")
@click.option(
    "--from", "source", type=click.File("rb"), required=True, help="JSON Lines file, one payload a line."
)
@click.option("--batch", type=click.IntRange(1, 50_000), default=2000, show_default=True)
@click.option("--queue", default=None, help="Queue [default: the action's].")
@click.option("--priority", type=int, default=0)
@click.option("--max-attempts", type=click.IntRange(1, 1000), default=None)
def enqueue(
    queue_url: str | None,
    app_spec: str,
    action: str,
    source: IO[bytes],
    batch: int,
    queue: str | None,
    priority: int,
    max_attempts: int | None,
) -> None:
    """Enqueue one ACTION job per line of a JSON Lines file, in bulk, with a progress bar."""
    from ..discovery import load_app

    app = load_app(app_spec)
    url = queue_url or getattr(app.settings, "queue_url", None)
    size = _size(source)

    async def work(q: JobQueue) -> int:
        total = 0
        with click.progressbar(length=size, label=f"enqueue {action}", file=sys.stderr) as bar:
            for chunk, line_numbers, consumed in _batches(source, batch):
                try:
                    await q.enqueue_many(
                        action, chunk, queue=queue, priority=priority, max_attempts=max_attempts
                    )
                except InvalidInput as exc:
                    raise click.ClickException(
                        f"{_describe(exc, line_numbers)} ({total} job(s) from earlier lines were enqueued)"
                    ) from None
                total += len(chunk)
                bar.update(consumed)
        return total

    count = _run(url, work, app.actions)
    click.echo(f"enqueued {count} job(s)")


def _size(stream: IO[bytes]) -> int:
    try:
        return os.fstat(stream.fileno()).st_size
    except (OSError, ValueError):
        return 0


def _describe(exc: InvalidInput, line_numbers: list[int]) -> str:
    problems = []
    for detail in exc.details or []:
        index = detail.get("index")
        where = f"line {line_numbers[index]}" if isinstance(index, int) else "payload"
        problems.append(f"{where}: {detail.get('field')}: {detail.get('message')}")
    return "; ".join(problems[:10]) or exc.message


def _batches(stream: IO[bytes], size: int) -> Iterator[tuple[list[Any], list[int], int]]:
    chunk: list[Any] = []
    numbers: list[int] = []
    consumed = 0
    for number, line in enumerate(stream, 1):
        consumed += len(line)
        if not line.strip():
            continue
        if len(line) > MAX_PAYLOAD_BYTES:
            raise click.ClickException(f"line {number}: longer than {MAX_PAYLOAD_BYTES} bytes")
        try:
            payload = from_json(line)
        except ValueError as exc:
            raise click.ClickException(f"line {number}: not JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise click.ClickException(f"line {number}: a payload must be a JSON object")
        chunk.append(payload)
        numbers.append(number)
        if len(chunk) >= size:
            yield chunk, numbers, consumed
            chunk, numbers, consumed = [], [], 0
    if chunk:
        yield chunk, numbers, consumed


@click.group()
def db() -> None:
    """Database schemas: the job store's (migrate) and your models' (init, revision, upgrade, ...)."""


@db.command()
@queue_url_option
def migrate(queue_url: str | None) -> None:
    """Apply the job store's pending schema migrations."""
    try:
        applied = asyncio.run(migrate_store(queue_url or load_settings().queue_url))
    except PlugworkError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc
    click.echo(f"applied migrations: {', '.join(map(str, applied))}" if applied else "schema is up to date")
