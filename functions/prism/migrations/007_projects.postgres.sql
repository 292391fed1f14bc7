-- Projects in the data plane (issue 11 §3), plain PostgreSQL profile. Every log row, rollup row
-- and histogram series carries the slug of the project whose ingestion key sent it (ingestion
-- stamps it; the writer copies it). What was written before lands in 'default' by the column
-- default: on PostgreSQL 11+ adding a column with a constant default rewrites no table.
-- No foreign key to projects: the log tables never reference the app tables (001), and the rows
-- of a deleted project stay until retention drops them.

ALTER TABLE inference_logs ADD COLUMN project text NOT NULL DEFAULT 'default';
-- The logs explorer of one project, newest first (the per-project twin of inference_logs_recent_idx).
CREATE INDEX inference_logs_project_recent_idx ON inference_logs (project, created_at DESC, id DESC);

-- The rollup and the histograms: project joins each series key. The key keeps bucket first, so a
-- window is one range scan whether or not it is filtered by project (a few rows per bucket).
ALTER TABLE metrics_minute ADD COLUMN project text NOT NULL DEFAULT 'default';
ALTER TABLE metrics_minute DROP CONSTRAINT metrics_minute_pkey,
    ADD PRIMARY KEY (bucket, project, model, provider, status);

ALTER TABLE latency_hist_minute ADD COLUMN project text NOT NULL DEFAULT 'default';
ALTER TABLE latency_hist_minute DROP CONSTRAINT latency_hist_minute_pkey,
    ADD PRIMARY KEY (bucket, project, model, provider, status, metric);
ALTER TABLE latency_hist_hour ADD COLUMN project text NOT NULL DEFAULT 'default';
ALTER TABLE latency_hist_hour DROP CONSTRAINT latency_hist_hour_pkey,
    ADD PRIMARY KEY (bucket, project, model, provider, status, metric);
ALTER TABLE latency_hist_day ADD COLUMN project text NOT NULL DEFAULT 'default';
ALTER TABLE latency_hist_day DROP CONSTRAINT latency_hist_day_pkey,
    ADD PRIMARY KEY (bucket, project, model, provider, status, metric);
