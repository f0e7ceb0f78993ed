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

-- name: reclaim_expired
-- ?1 now. Jobs with attempts left go back to ready; the rest end dead (the worker was lost every time).
UPDATE plugwork_jobs
SET status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'ready' END,
    error = CASE WHEN attempts >= max_attempts
        THEN json_object('error_code', 'INTERNAL',
                         'error_message', 'worker lost (lease expired) on delivery ' || attempts
                                          || '; no attempts left',
                         'details', NULL)
        ELSE error END,
    finished_at = CASE WHEN attempts >= max_attempts THEN ?1 ELSE NULL END,
    worker_id = NULL, lease_expires_at = NULL
WHERE status IN ('assigned', 'processing') AND lease_expires_at < ?1

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
UPDATE plugwork_jobs
SET status = 'ready', attempts = 0, run_at = ?2, finished_at = NULL, result = NULL, error = NULL,
    worker_id = NULL, lease_expires_at = NULL
WHERE id = ?1 AND status IN ('failed', 'dead', 'cancelled')

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
