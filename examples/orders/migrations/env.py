"""Alembic environment for the orders example (as `plugwork db init --models orders.models` wrote it).

Run it with `plugwork db upgrade`, `plugwork db revision --autogenerate -m "..."`, or `await db.migrate()`.
The database URL comes from PLUGWORK_DATABASE_URL (and the other names in docs/database.md).
"""

import orders.models  # noqa: F401 - registers its models on Base.metadata

from plugwork.db import Base
from plugwork.db.migrations import run_migrations

run_migrations(Base.metadata)
