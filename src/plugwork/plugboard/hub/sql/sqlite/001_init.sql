-- Plugboard hub schema, version 1 (SQLite).
CREATE TABLE plugboard_accounts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    inserted_at TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE plugboard_services (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    inserted_at TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE plugboard_tokens (
    id          TEXT PRIMARY KEY,
    service_id  TEXT NOT NULL REFERENCES plugboard_services (id) ON DELETE CASCADE,
    context     TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    inserted_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX plugboard_tokens_service ON plugboard_tokens (service_id);

-- Changes for running hubs to push to consumers (an outbox polled by the hubs, pruned after a minute).
CREATE TABLE plugboard_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    body       TEXT NOT NULL,
    created_at REAL NOT NULL
);
