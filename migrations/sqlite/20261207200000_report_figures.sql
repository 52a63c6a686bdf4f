-- A made report's figures (issue 16): the map and the charts as SVG, by name, served as files
-- of their own (SVG, and PNG rasterised from it on request). Written with the report's HTML
-- and PDF, in the same transaction.
CREATE TABLE report_figures (
    report_id TEXT NOT NULL REFERENCES reports (id),
    name TEXT NOT NULL,
    svg TEXT NOT NULL,
    PRIMARY KEY (report_id, name)
);
