-- Worker heartbeats: a worker silent past its own dead_after (seconds) is lost, and its jobs come back
-- without waiting for their leases. renewed_at is the worker's last lease renewal: a job of a live worker
-- whose lease ended before it was not renewed, so the worker does not know it (a lost claim).
CREATE TABLE plugwork_workers (
    id           text        PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    renewed_at   timestamptz NOT NULL DEFAULT now(),
    dead_after   float8      NOT NULL
);

-- How often a lost worker's claim of the job was handed back before the job started, attempt refunded.
ALTER TABLE plugwork_jobs ADD COLUMN handbacks integer NOT NULL DEFAULT 0;
