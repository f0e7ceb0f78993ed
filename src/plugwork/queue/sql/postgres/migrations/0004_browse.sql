-- Pages filtered by status, newest first (SQLite has had this one since 0001). No action or queue index:
-- each index is written again on every claim, start and finish, and the queue's throughput comes first;
-- those filters walk the primary key instead (see docs/dashboard.md).
CREATE INDEX plugwork_jobs_status ON plugwork_jobs (status, id);
