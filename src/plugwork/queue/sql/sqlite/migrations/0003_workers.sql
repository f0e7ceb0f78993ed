-- Worker heartbeats: a worker silent past its own dead_after (seconds) is lost, and its jobs come back
-- without waiting for their leases. renewed_at is the worker's last lease renewal: a job of a live worker
-- whose lease ended before it was not renewed, so the worker does not know it (a lost claim).
CREATE TABLE plugwork_workers (
    id           TEXT PRIMARY KEY,
    started_at   REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    renewed_at   REAL NOT NULL,
    dead_after   REAL NOT NULL
);

-- How often a lost worker's claim of the job was handed back before the job started, attempt refunded.
ALTER TABLE plugwork_jobs ADD COLUMN handbacks INTEGER NOT NULL DEFAULT 0;
