"""The durable job queue: job model, store protocol and stores, worker, client, HTTP routes, CLI.

``store_from_url`` picks the store (``memory://``, ``sqlite:///path.db``, ``postgresql://...``);
:class:`JobQueue` enqueues and manages jobs; :class:`Worker` runs them through the Dispatcher.
"""

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
