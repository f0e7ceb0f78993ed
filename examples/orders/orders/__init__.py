"""The orders example: models, a migration, the repository, JWT-protected writes, a transactional job."""
