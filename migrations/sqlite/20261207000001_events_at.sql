-- Replay (`GET /api/v1/picture?at=`): the last event stamped at or before a time, found by an
-- index rather than a scan of the log.
CREATE INDEX events_at ON events (at);
