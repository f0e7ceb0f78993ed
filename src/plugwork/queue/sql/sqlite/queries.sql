-- Named queries of the SQLite job store. Parameters are positional (?), times are epoch seconds.

-- name: enqueue
-- One JSON array of rows [action, payload, queue, priority, max_attempts, run_at, key, correlation_id,
-- headers].
INSERT INTO plugwork_jobs
    (action, payload, queue, priority, max_attempts, run_at, created_at, idempotency_key, correlation_id,
     headers)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4,
       coalesce(value ->> 5, ?1), ?1, value ->> 6, value ->> 7, value ->> 8
FROM json_each(?2)
WHERE true
ORDER BY key
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id, idempotency_key

-- name: ids_by_key
SELECT idempotency_key, id FROM plugwork_jobs WHERE idempotency_key IN (SELECT value FROM json_each(?1))

-- name: claim
-- ?1 now, ?2 worker id, ?3 lease end, ?4 queues as a JSON array or NULL for all, ?5 limit.
UPDATE plugwork_jobs
SET status = 'assigned', attempts = attempts + 1, worker_id = ?2, started_at = ?1, lease_expires_at = ?3
WHERE id IN (
    SELECT id FROM plugwork_jobs
    WHERE status IN ('ready', 'failed') AND run_at <= ?1
      AND (?4 IS NULL OR queue IN (SELECT value FROM json_each(?4)))
    ORDER BY priority DESC, run_at, id
    LIMIT ?5
)
RETURNING id, action, payload, attempts, max_attempts, max(run_at, created_at), correlation_id, headers

-- name: start
UPDATE plugwork_jobs SET status = 'processing'
WHERE id = ?2 AND worker_id = ?1 AND status = 'assigned'

-- name: finish
-- ?1 worker, ?2 id, ?3 status, ?4 result, ?5 error, ?6 retry run_at, ?7 now.
UPDATE plugwork_jobs
SET status = ?3, result = ?4, error = ?5,
    run_at = CASE WHEN ?3 = 'failed' THEN coalesce(?6, ?7) ELSE run_at END,
    finished_at = CASE WHEN ?3 = 'failed' THEN NULL ELSE ?7 END,
    worker_id = NULL, lease_expires_at = NULL
WHERE id = ?2 AND worker_id = ?1 AND status IN ('assigned', 'processing')

-- name: renew
-- ?3: the ids the worker knows, as a JSON array.
UPDATE plugwork_jobs SET lease_expires_at = ?2
WHERE id IN (SELECT value FROM json_each(?3)) AND worker_id = ?1 AND status IN ('assigned', 'processing')
RETURNING id

-- name: release
UPDATE plugwork_jobs
SET status = 'ready', attempts = max(attempts - 1, 0), worker_id = NULL, lease_expires_at = NULL
WHERE id = ?2 AND worker_id = ?1 AND status IN ('assigned', 'processing')

-- name: reclaim_probe
-- ?1 now, ?2 whether silent workers count as lost, ?3 whether to look at expired leases. Whether
-- reclaim_lost has work: a read, which never waits for SQLite's write lock. The silent-worker half starts
-- from the small workers table; the lease half (a scan of the running jobs) runs only when ?3 asks.
SELECT 1 FROM plugwork_workers AS w JOIN plugwork_jobs AS j ON j.worker_id = w.id
WHERE ?2 AND w.heartbeat_at + w.dead_after < ?1 AND j.status IN ('assigned', 'processing')
UNION ALL
SELECT 1 FROM plugwork_workers WHERE ?2 AND heartbeat_at + dead_after < ?1
UNION ALL
SELECT 1 FROM plugwork_jobs AS j LEFT JOIN plugwork_workers AS w ON w.id = j.worker_id
WHERE ?3 AND j.status IN ('assigned', 'processing') AND j.lease_expires_at < ?1
  AND (w.id IS NULL OR j.lease_expires_at < w.renewed_at)
LIMIT 1

-- name: reclaim_lost
-- ?1 now, ?2 the most handbacks per job, ?3 whether silent workers count as lost, ?4 whether to look at
-- expired leases. Lost: a worker silent past its dead_after; a job whose lease ended before its worker's
-- last renewal (the worker never knew it: a claim whose answer was lost); a worker without a heartbeat row
-- and an expired lease. Never-started (assigned) jobs come back with the attempt refunded, at most ?2
-- times; the others spend it, and end dead with none left. (SET expressions all read the old row.)
UPDATE plugwork_jobs
SET status = CASE WHEN status = 'assigned' AND handbacks < ?2 THEN 'ready'
                  WHEN attempts >= max_attempts THEN 'dead' ELSE 'ready' END,
    attempts = CASE WHEN status = 'assigned' AND handbacks < ?2 THEN max(attempts - 1, 0) ELSE attempts END,
    handbacks = CASE WHEN status = 'assigned' AND handbacks < ?2 THEN handbacks + 1 ELSE handbacks END,
    error = CASE WHEN NOT (status = 'assigned' AND handbacks < ?2) AND attempts >= max_attempts
        THEN json_object('error_code', 'INTERNAL',
                         'error_message', 'worker lost (heartbeat or lease expired) on delivery '
                                          || attempts || '; no attempts left',
                         'details', NULL)
        ELSE error END,
    finished_at = CASE WHEN NOT (status = 'assigned' AND handbacks < ?2) AND attempts >= max_attempts
        THEN ?1 ELSE NULL END,
    worker_id = NULL, lease_expires_at = NULL
WHERE id IN (
    SELECT j.id FROM plugwork_workers AS w JOIN plugwork_jobs AS j ON j.worker_id = w.id
    WHERE ?3 AND w.heartbeat_at + w.dead_after < ?1 AND j.status IN ('assigned', 'processing')
    UNION ALL
    SELECT j.id FROM plugwork_jobs AS j LEFT JOIN plugwork_workers AS w ON w.id = j.worker_id
    WHERE ?4 AND j.status IN ('assigned', 'processing') AND j.lease_expires_at < ?1
      AND (w.id IS NULL OR j.lease_expires_at < w.renewed_at)
)

-- name: forget_lost_workers
DELETE FROM plugwork_workers WHERE heartbeat_at + dead_after < ?1

-- name: worker_beat
-- ?1 worker id, ?2 now, ?3 dead_after (seconds). A worker taken for lost comes back with a new row.
INSERT INTO plugwork_workers (id, started_at, heartbeat_at, renewed_at, dead_after)
VALUES (?1, ?2, ?2, ?2, ?3)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, dead_after = excluded.dead_after

-- name: worker_renewed
UPDATE plugwork_workers SET renewed_at = ?2 WHERE id = ?1

-- name: workers
SELECT id, ?1 - heartbeat_at AS age, dead_after FROM plugwork_workers ORDER BY id

-- name: worker_retire
DELETE FROM plugwork_workers WHERE id = ?1

-- name: get
SELECT * FROM plugwork_jobs WHERE id = ?1

-- name: list
-- ?1 status or NULL, ?2 action or NULL, ?3 limit, ?4 offset.
SELECT * FROM plugwork_jobs
WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR action = ?2)
ORDER BY id DESC
LIMIT ?3 OFFSET ?4

-- name: cancel
UPDATE plugwork_jobs
SET status = 'cancelled', finished_at = ?2, worker_id = NULL, lease_expires_at = NULL
WHERE id = ?1 AND status NOT IN ('completed', 'dead', 'cancelled')

-- name: retry
-- RETURNING: the retried row as it was written, before any worker can claim it.
UPDATE plugwork_jobs
SET status = 'ready', attempts = 0, run_at = ?2, finished_at = NULL, result = NULL, error = NULL,
    worker_id = NULL, lease_expires_at = NULL
WHERE id = ?1 AND status IN ('failed', 'dead', 'cancelled')
RETURNING *

-- name: purge
DELETE FROM plugwork_jobs
WHERE status IN ('completed', 'dead', 'cancelled') AND finished_at < ?1

-- name: counts
SELECT status, count(*) FROM plugwork_jobs GROUP BY status

-- name: depth
-- Each half matches a partial index's predicate, so the cost follows the backlog, not the history.
SELECT status, count(*) FROM plugwork_jobs WHERE status IN ('ready', 'failed') GROUP BY status
UNION ALL
SELECT status, count(*) FROM plugwork_jobs WHERE status IN ('assigned', 'processing') GROUP BY status

-- name: run_now
-- A waiting job (ready, or failed and waiting for its retry) becomes runnable now; attempts are kept.
UPDATE plugwork_jobs SET run_at = ?2
WHERE id = ?1 AND status IN ('ready', 'failed') AND run_at > ?2
RETURNING id

-- name: queue_counts
-- The dashboard's live counts (a scan of the (queue, id) index plus the status of each row).
SELECT queue, status, count(*) FROM plugwork_jobs GROUP BY queue, status
