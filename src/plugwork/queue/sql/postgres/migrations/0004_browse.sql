-- Pages filtered by status, newest first (SQLite has had this one since 0001).
CREATE INDEX plugwork_jobs_status ON plugwork_jobs (status, id);

-- Pages filtered by action or by queue, newest first (the dashboard, keyset-paged by id).
CREATE INDEX plugwork_jobs_action ON plugwork_jobs (action, id);
CREATE INDEX plugwork_jobs_queue ON plugwork_jobs (queue, id);
