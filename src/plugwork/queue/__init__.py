"""The durable job queue: job model, store protocol and stores, worker, client, HTTP routes, CLI.

``store_from_url`` picks the store (``memory://``, ``sqlite:///path.db``, ``postgresql://...``);
:class:`JobQueue` enqueues and manages jobs; :class:`Worker` runs them through the Dispatcher.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..extras import lazy_exports

if TYPE_CHECKING:
    from .client import JobQueue
    from .factory import migrate, store_from_url
    from .jobs import ClaimedJob, Finish, Job, JobStatus, NewJob
    from .retry import RetryPolicy
    from .store import DEFAULT_QUEUE_URL, JobStore, StoreUnavailable
    from .worker import Worker

__all__ = [
    "DEFAULT_QUEUE_URL",
    "ClaimedJob",
    "Finish",
    "Job",
    "JobQueue",
    "JobStatus",
    "JobStore",
    "NewJob",
    "RetryPolicy",
    "StoreUnavailable",
    "Worker",
    "migrate",
    "store_from_url",
]

# Names load on first use: every app imports the built-in plugin from this package, and a disabled queue
# (``queue_url: none``) then costs nothing.
_WHERE = {
    "client": ["JobQueue"],
    "factory": ["migrate", "store_from_url"],
    "jobs": ["ClaimedJob", "Finish", "Job", "JobStatus", "NewJob"],
    "retry": ["RetryPolicy"],
    "store": ["DEFAULT_QUEUE_URL", "JobStore", "StoreUnavailable"],
    "worker": ["Worker"],
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}


__getattr__ = lazy_exports(__name__, _MODULE_OF)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
