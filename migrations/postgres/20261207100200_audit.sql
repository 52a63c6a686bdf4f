-- Who received which item (issue 15.7): one row per item, organisation, role, channel
-- (websocket, rest, cot, federation) and UTC day, with the first and last delivery that day
-- (RFC 3339 UTC, as the log writes times) and how many. The server adds to it in batches and
-- prunes days older than [audit] retention_days. Unlike events, rows are updated and deleted.
CREATE TABLE audit (
    item TEXT NOT NULL,
    org TEXT NOT NULL,
    role TEXT NOT NULL,
    channel TEXT NOT NULL,
    day TEXT NOT NULL,
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (item, org, role, channel, day)
);
CREATE INDEX audit_day ON audit (day);
