-- Optional (PostgreSQL 14 or later, with the pg_trgm extension): a trigram index that turns the dashboard's
-- text search of an ASCII text into an index look-up instead of a read of every job. Not a migration: it
-- is written on every enqueue and again on every claim, start and finish, which halves both the bulk
-- enqueue and the worker loop and doubles PostgreSQL's CPU per job (docs/dashboard.md, measured with
-- bench/dashboard.py --write-cost). Worth it when the table keeps millions of jobs and finding one by its
-- payload matters more than throughput. Apply it with psql, which sends one statement at a time
-- (CREATE INDEX CONCURRENTLY cannot run inside a transaction):
--
--     psql "$PLUGWORK_QUEUE_URL" -f text_index.sql
--
-- The expressions are those of the text filter (queue/browse.py: page_sql), or the planner cannot use it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX CONCURRENTLY IF NOT EXISTS plugwork_jobs_text ON plugwork_jobs USING gin (
    lower(action COLLATE "C") gin_trgm_ops,
    lower(payload COLLATE "C") gin_trgm_ops,
    lower(error COLLATE "C") gin_trgm_ops,
    correlation_id gin_trgm_ops
);
