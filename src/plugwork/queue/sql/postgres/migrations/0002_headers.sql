-- The context carried with a job (correlation id, trace, identity...): a JSON object of carried headers.
ALTER TABLE plugwork_jobs ADD COLUMN headers text;
