-- The event log: append-only, hash-chained. Never edit an applied migration; add a new one.
CREATE TABLE events (
    seq       BIGINT PRIMARY KEY,
    at        TEXT   NOT NULL,
    org       TEXT   NOT NULL,
    actor     TEXT   NOT NULL,
    kind      TEXT   NOT NULL,
    layer     TEXT   NOT NULL,
    item_id   TEXT   NOT NULL,
    payload   TEXT   NOT NULL,
    prev_hash BYTEA  NOT NULL,
    hash      BYTEA  NOT NULL
);
CREATE INDEX events_item ON events (item_id, seq);

-- The log is evidence: the database itself refuses edits, deletions and truncation. Someone who
-- drops these triggers to tamper is caught by `cmcop verify-log`.
CREATE FUNCTION cmcop_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only';
END
$$;
CREATE TRIGGER events_no_change BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION cmcop_events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION cmcop_events_append_only();

-- The live picture at a sequence number, so that start-up replays only the tail of the log.
CREATE TABLE snapshots (
    seq      BIGINT PRIMARY KEY,
    taken_at TEXT   NOT NULL,
    data     BYTEA  NOT NULL
);

-- Access tokens: only a SHA-256 of each secret is stored.
CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT  NOT NULL UNIQUE,
    role        TEXT  NOT NULL,
    org         TEXT  NOT NULL,
    secret_hash BYTEA NOT NULL UNIQUE,
    created_at  TEXT  NOT NULL,
    revoked_at  TEXT
);
