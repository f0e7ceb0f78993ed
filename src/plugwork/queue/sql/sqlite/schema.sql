-- Plugwork job queue, SQLite: times are epoch seconds (REAL, UTC); payload, result and error are JSON text.
CREATE TABLE plugwork_jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    action           TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    queue            TEXT    NOT NULL DEFAULT 'default',
    priority         INTEGER NOT NULL DEFAULT 0,
    status           TEXT    NOT NULL DEFAULT 'ready'
                     CHECK (status IN ('ready', 'assigned', 'processing', 'completed', 'failed', 'dead', 'cancelled')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 3,
    run_at           REAL    NOT NULL,
    created_at       REAL    NOT NULL,
    started_at       REAL,
    finished_at      REAL,
    result           TEXT,
    error            TEXT,
    idempotency_key  TEXT,
    correlation_id   TEXT,
    worker_id        TEXT,
    lease_expires_at REAL,
    headers          TEXT,
    handbacks        INTEGER NOT NULL DEFAULT 0
);

-- Claims: highest priority first, then oldest run_at, over waiting jobs only.
CREATE INDEX plugwork_jobs_fetch ON plugwork_jobs (priority DESC, run_at, id)
    WHERE status IN ('ready', 'failed');

-- Lease renewal by worker and reclaim of expired leases, over running jobs only.
CREATE INDEX plugwork_jobs_running ON plugwork_jobs (worker_id, lease_expires_at)
    WHERE status IN ('assigned', 'processing');

CREATE UNIQUE INDEX plugwork_jobs_idempotency ON plugwork_jobs (idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE INDEX plugwork_jobs_status ON plugwork_jobs (status, id);

-- Worker heartbeats (see migrations/0003_workers.sql).
CREATE TABLE plugwork_workers (
    id           TEXT PRIMARY KEY,
    started_at   REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    renewed_at   REAL NOT NULL,
    dead_after   REAL NOT NULL
);
