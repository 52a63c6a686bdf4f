-- Situation reports (issue 16): one row per report, made for an audience (role and
-- organisation) from the log up to `seq`; `status` is pending, done or failed. The rendered
-- HTML and PDF are kept with it. Scheduled reports have an id derived from their kind, period,
-- audience and language, so that a report due is made once however many nodes see it due.
CREATE TABLE reports (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    lang TEXT NOT NULL,
    period_from TEXT NOT NULL,
    period_to TEXT NOT NULL,
    role TEXT NOT NULL,
    org TEXT NOT NULL,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    scheduled INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    html TEXT,
    pdf BLOB
);
CREATE INDEX reports_audience ON reports (role, org, created_at);
