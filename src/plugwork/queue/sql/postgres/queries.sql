-- Named queries of the PostgreSQL job store. Times cross the wire as epoch seconds (float8).

-- name: enqueue
INSERT INTO plugwork_jobs
    (action, payload, queue, priority, max_attempts, run_at, idempotency_key, correlation_id, headers)
SELECT a, p, q, pr, m, coalesce(to_timestamp(r), now()), k, c, h
FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[], $6::float8[], $7::text[], $8::text[],
            $9::text[])
    AS t (a, p, q, pr, m, r, k, c, h)
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id, idempotency_key

-- name: enqueue_uniform
-- The bulk fast path: one payload array, every other column shared, no idempotency keys.
INSERT INTO plugwork_jobs (action, payload, queue, priority, max_attempts, run_at, correlation_id, headers)
SELECT $1, p, $3, $4, $5, coalesce(to_timestamp($6), now()), $7, $8
FROM unnest($2::text[]) AS p
RETURNING id

-- name: ids_by_key
SELECT idempotency_key, id FROM plugwork_jobs WHERE idempotency_key = ANY($1::text[])

-- name: claim
-- $1 queues (NULL: all), $2 limit, $3 worker id, $4 lease seconds. The statement is a function of the
-- schema (migrations/0005_claim_function.sql), which keeps its plan to an index scan.
SELECT * FROM plugwork_claim($1, $2, $3, $4)

-- name: start
UPDATE plugwork_jobs SET status = 'processing'
WHERE id = ANY($2::bigint[]) AND worker_id = $1 AND status = 'assigned'

-- name: finish
-- One statement for a whole batch of verdicts; rows no longer owned by $1 are left alone.
UPDATE plugwork_jobs AS j
SET status = f.status, result = f.result, error = f.error,
    run_at = CASE WHEN f.status = 'failed' THEN coalesce(to_timestamp(f.run_at), now()) ELSE j.run_at END,
    finished_at = CASE WHEN f.status = 'failed' THEN NULL ELSE now() END,
    worker_id = NULL, lease_expires_at = NULL
FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::float8[]) AS f (id, status, result, error, run_at)
WHERE j.id = f.id AND j.worker_id = $1 AND j.status IN ('assigned', 'processing')

-- name: finish_completed
-- The common case, every verdict a success: two arrays to encode instead of five.
UPDATE plugwork_jobs AS j
SET status = 'completed', result = f.result, error = NULL, finished_at = now(),
    worker_id = NULL, lease_expires_at = NULL
FROM unnest($2::bigint[], $3::text[]) AS f (id, result)
WHERE j.id = f.id AND j.worker_id = $1 AND j.status IN ('assigned', 'processing')

-- name: renew
-- $3: the ids the worker knows (a lost claim's jobs are not renewed, so they expire and come back). One
-- row: the renewed ids, and the time of the renewal for worker_renewed.
WITH renewed AS (
    UPDATE plugwork_jobs SET lease_expires_at = now() + make_interval(secs => $2)
    WHERE id = ANY($3::bigint[]) AND worker_id = $1 AND status IN ('assigned', 'processing')
    RETURNING id
)
SELECT now() AS at, array(SELECT id FROM renewed) AS ids

-- name: worker_renewed
-- $2: when the worker last knew all its jobs; set after the leases moved, never backwards.
UPDATE plugwork_workers SET renewed_at = greatest(renewed_at, $2) WHERE id = $1

-- name: release
UPDATE plugwork_jobs
SET status = 'ready', attempts = greatest(attempts - 1, 0), worker_id = NULL, lease_expires_at = NULL
WHERE id = ANY($2::bigint[]) AND worker_id = $1 AND status IN ('assigned', 'processing')

-- name: reclaim_lost
-- $1 the most handbacks per job, $2 whether silent workers count as lost, $3 whether to look at expired
-- leases. Lost: a worker silent past its dead_after (found from the small workers table, then its jobs by
-- the worker_id index); a job whose lease ended before its worker's last renewal (the worker never knew
-- it: a claim whose answer was lost); a worker without a heartbeat row and an expired lease (the lease
-- half scans the running jobs, so it runs only when $3 asks). Never-started (assigned) jobs come back with
-- the attempt refunded, at most $1 times; the others spend it, and end dead with none left. The outer
-- WHERE is re-checked against rows changed meanwhile.
WITH lost AS (
    SELECT j.id, j.worker_id FROM plugwork_workers AS w JOIN plugwork_jobs AS j ON j.worker_id = w.id
    WHERE $2 AND w.heartbeat_at + make_interval(secs => w.dead_after) < now()
      AND j.status IN ('assigned', 'processing')
    UNION ALL
    SELECT j.id, j.worker_id FROM plugwork_jobs AS j LEFT JOIN plugwork_workers AS w ON w.id = j.worker_id
    WHERE $3 AND j.status IN ('assigned', 'processing') AND j.lease_expires_at < now()
      AND (w.id IS NULL OR j.lease_expires_at < w.renewed_at)
)
UPDATE plugwork_jobs AS j
SET status = CASE WHEN j.status = 'assigned' AND j.handbacks < $1 THEN 'ready'
                  WHEN j.attempts >= j.max_attempts THEN 'dead' ELSE 'ready' END,
    attempts = CASE WHEN j.status = 'assigned' AND j.handbacks < $1 THEN greatest(j.attempts - 1, 0)
                    ELSE j.attempts END,
    handbacks = CASE WHEN j.status = 'assigned' AND j.handbacks < $1 THEN j.handbacks + 1
                     ELSE j.handbacks END,
    error = CASE WHEN NOT (j.status = 'assigned' AND j.handbacks < $1) AND j.attempts >= j.max_attempts
        THEN json_build_object('error_code', 'INTERNAL',
                               'error_message', 'worker lost (heartbeat or lease expired) on delivery '
                                                || j.attempts || '; no attempts left',
                               'details', NULL)::text
        ELSE j.error END,
    finished_at = CASE WHEN NOT (j.status = 'assigned' AND j.handbacks < $1) AND j.attempts >= j.max_attempts
        THEN now() ELSE NULL END,
    worker_id = NULL, lease_expires_at = NULL
FROM (SELECT DISTINCT id, worker_id FROM lost) AS l
WHERE j.id = l.id AND j.worker_id = l.worker_id AND j.status IN ('assigned', 'processing')

-- name: forget_lost_workers
DELETE FROM plugwork_workers WHERE heartbeat_at + make_interval(secs => dead_after) < now()

-- name: worker_beat
-- $1 worker id, $2 dead_after (seconds). A worker taken for lost comes back with a new row.
INSERT INTO plugwork_workers (id, dead_after) VALUES ($1, $2)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), dead_after = excluded.dead_after

-- name: workers
SELECT id, extract(epoch FROM now() - heartbeat_at)::float8 AS age, dead_after FROM plugwork_workers ORDER BY id

-- name: worker_retire
DELETE FROM plugwork_workers WHERE id = $1

-- name: notify
SELECT pg_notify('plugwork_jobs', '')

-- name: notify_cancel
-- Wakes workers' lease loops so that a running job stops now, not at the next renewal.
SELECT pg_notify('plugwork_cancel', $1)

-- name: get
SELECT * FROM plugwork_jobs WHERE id = $1

-- name: list
SELECT * FROM plugwork_jobs
WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR action = $2)
ORDER BY id DESC
LIMIT $3 OFFSET $4

-- name: cancel
UPDATE plugwork_jobs
SET status = 'cancelled', finished_at = now(), worker_id = NULL, lease_expires_at = NULL
WHERE id = $1 AND status NOT IN ('completed', 'dead', 'cancelled')

-- name: retry
-- RETURNING: the retried row as it was written, before any worker can claim it.
UPDATE plugwork_jobs
SET status = 'ready', attempts = 0, run_at = now(), finished_at = NULL, result = NULL, error = NULL,
    worker_id = NULL, lease_expires_at = NULL
WHERE id = $1 AND status IN ('failed', 'dead', 'cancelled')
RETURNING *

-- name: purge
DELETE FROM plugwork_jobs
WHERE status IN ('completed', 'dead', 'cancelled') AND finished_at < to_timestamp($1)

-- name: counts
SELECT status, count(*) FROM plugwork_jobs GROUP BY status

-- name: depth
-- Each half matches a partial index's predicate, so the cost follows the backlog, not the history.
SELECT status, count(*) FROM plugwork_jobs WHERE status IN ('ready', 'failed') GROUP BY status
UNION ALL
SELECT status, count(*) FROM plugwork_jobs WHERE status IN ('assigned', 'processing') GROUP BY status

-- name: run_now
-- A waiting job (ready, or failed and waiting for its retry) becomes runnable now; attempts are kept.
UPDATE plugwork_jobs SET run_at = now()
WHERE id = $1 AND status IN ('ready', 'failed') AND run_at > now()
RETURNING id

-- name: queue_counts
-- The dashboard's live counts (a scan of the (queue, id) index plus the status of each row).
SELECT queue, status, count(*) FROM plugwork_jobs GROUP BY queue, status
