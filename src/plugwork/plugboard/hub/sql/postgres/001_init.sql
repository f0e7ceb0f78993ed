-- Plugboard hub schema, version 1 (PostgreSQL).
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

-- Scale-out: the live hub processes (heartbeating) and which hub holds which consumer.
CREATE UNLOGGED TABLE plugboard_hubs (
    id           TEXT PRIMARY KEY,
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE UNLOGGED TABLE plugboard_consumers (
    id         TEXT PRIMARY KEY,
    hub_id     TEXT NOT NULL REFERENCES plugboard_hubs (id) ON DELETE CASCADE,
    service_id TEXT NOT NULL,
    actions    TEXT NOT NULL,
    joined_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX plugboard_consumers_service ON plugboard_consumers (service_id);

-- NOTIFY payloads over 8000 bytes travel as a row here; the notification carries its id.
CREATE UNLOGGED TABLE plugboard_payloads (
    id         BIGSERIAL PRIMARY KEY,
    body       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
