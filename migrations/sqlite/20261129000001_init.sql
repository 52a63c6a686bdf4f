-- The event log: append-only, hash-chained. Never edit an applied migration; add a new one.
CREATE TABLE events (
    seq       INTEGER PRIMARY KEY NOT NULL,
    at        TEXT    NOT NULL,
    org       TEXT    NOT NULL,
    actor     TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    layer     TEXT    NOT NULL,
    item_id   TEXT    NOT NULL,
    payload   TEXT    NOT NULL,
    prev_hash BLOB    NOT NULL,
    hash      BLOB    NOT NULL
);
CREATE INDEX events_item ON events (item_id, seq);

-- The log is evidence: the database itself refuses edits and deletions. Someone who drops these
-- triggers to tamper is caught by `cmcop verify-log`.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;

-- The live picture at a sequence number, so that start-up replays only the tail of the log.
CREATE TABLE snapshots (
    seq      INTEGER PRIMARY KEY NOT NULL,
    taken_at TEXT    NOT NULL,
    data     BLOB    NOT NULL
);

-- Access tokens: only a SHA-256 of each secret is stored.
CREATE TABLE tokens (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL,
    org         TEXT NOT NULL,
    secret_hash BLOB NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
