"""``plugwork jobs worker-health``: a probe for worker processes, which serve no HTTP.

A running worker rewrites its ``plugwork_workers`` row every second from a thread of its own (see
:mod:`.heartbeat`); its id starts with the host name (``host:pid:random``). The probe, run on the same
host (an exec probe in the worker's container, whose host name is the container's or the pod's), asks
the store for the rows of that host and succeeds when one of them beat within its ``dead_after``: the
worker process is running and can write to the store. It opens the store without migrating and gives up
after ``--timeout`` seconds.

``--unreachable-ok`` makes a store that cannot be reached a success: for a liveness probe, where
restarting the worker would not bring the store back (the worker reconnects by itself).
"""

from __future__ import annotations

import asyncio
import socket

import click

from ..config import load_settings
from ..errors import PlugworkError
from .cli import queue_url_option
from .factory import store_from_url
from .store import WorkerBeat


async def host_workers(url: str, host: str, timeout: float) -> list[WorkerBeat]:
    """The heartbeat rows of the workers running on ``host``, read from the store at ``url``."""
    store = store_from_url(url, auto_migrate=False)

    async def read() -> list[WorkerBeat]:
        await store.open()
        return await store.workers()

    try:
        rows = await asyncio.wait_for(read(), timeout)
    finally:
        await store.close()
    return [row for row in rows if row.id.startswith(f"{host}:")]


@click.command("worker-health")
@queue_url_option
@click.option("--host", default=None, help="Host name the worker runs on [default: this host's].")
@click.option("--timeout", default=5.0, show_default=True, type=float, help="Seconds to wait for the store.")
@click.option(
    "--unreachable-ok", is_flag=True, help="Succeed when the store cannot be reached (liveness probes)."
)
def worker_health(queue_url: str | None, host: str | None, timeout: float, unreachable_ok: bool) -> None:
    """Exit 0 when a worker on this host wrote its heartbeat recently, else 1 (probes `plugwork worker`)."""
    url = queue_url or load_settings().queue_url
    if url.startswith("memory:") or url in ("", "none"):
        raise click.ClickException(
            f"no shared store to probe ({url or 'none'}): a probe needs SQLite or PostgreSQL"
        )
    host = host or socket.gethostname()
    try:
        rows = asyncio.run(host_workers(url, host, timeout))
    except (PlugworkError, OSError, TimeoutError) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        if unreachable_ok:
            click.echo(f"store unreachable ({reason}); not judging the worker", err=True)
            return
        raise click.ClickException(f"store unreachable ({reason})") from None
    alive = [row for row in rows if row.alive]
    if alive:
        best = min(alive, key=lambda row: row.age)
        click.echo(f"worker {best.id} alive: heartbeat {best.age:.1f}s ago")
        return
    if rows:
        best = min(rows, key=lambda row: row.age)
        raise click.ClickException(
            f"worker {best.id} silent for {best.age:.1f}s (dead after {best.dead_after}s)"
        )
    raise click.ClickException(f"no worker heartbeat from host {host}")
