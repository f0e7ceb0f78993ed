"""Registry stores: memory, SQLite, PostgreSQL, Redis and MongoDB (import each from its module)."""
