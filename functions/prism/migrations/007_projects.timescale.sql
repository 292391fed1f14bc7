-- prism:no-transaction
-- Projects in the data plane (issue 11 §3), TimescaleDB profile: the same columns and keys as
-- 007_projects.postgres.sql. NOT TESTED HERE (the test machine has no TimescaleDB): written to
-- mirror 002_logs.timescale.sql. Needs TimescaleDB 2.6+ (a NOT NULL column with a default on a
-- compressed hypertable; compose runs 2.28). Run one statement at a time (no transaction): the
-- continuous aggregate cannot be created or refreshed inside one.

ALTER TABLE inference_logs ADD COLUMN project text NOT NULL DEFAULT 'default';
CREATE INDEX inference_logs_project_recent_idx ON inference_logs (project, created_at DESC, id DESC);

-- The histograms are plain tables on this profile too (004).
ALTER TABLE latency_hist_minute ADD COLUMN project text NOT NULL DEFAULT 'default';
ALTER TABLE latency_hist_minute DROP CONSTRAINT latency_hist_minute_pkey,
    ADD PRIMARY KEY (bucket, project, model, provider, status, metric);
ALTER TABLE latency_hist_hour ADD COLUMN project text NOT NULL DEFAULT 'default';
ALTER TABLE latency_hist_hour DROP CONSTRAINT latency_hist_hour_pkey,
    ADD PRIMARY KEY (bucket, project, model, provider, status, metric);
ALTER TABLE latency_hist_day ADD COLUMN project text NOT NULL DEFAULT 'default';
ALTER TABLE latency_hist_day DROP CONSTRAINT latency_hist_day_pkey,
    ADD PRIMARY KEY (bucket, project, model, provider, status, metric);

-- metrics_minute is a continuous aggregate: its GROUP BY cannot be altered, so it is made again
-- with project in it (dropping it drops its refresh policy too), then materialised from the rows
-- (all of them: the policy below only refreshes the last 3 hours). Readers between the two
-- statements of a live upgrade find no metrics_minute: run migrations before starting the new
-- query API (the writer's maintenance does, after each deploy).
DROP MATERIALIZED VIEW IF EXISTS metrics_minute;

CREATE MATERIALIZED VIEW metrics_minute
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 minute', created_at)                AS bucket,
       project,
       model,
       provider,
       status,
       count(*)                                                    AS requests,
       sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END)           AS errors,
       sum(latency_ms)                                             AS latency_ms_sum,
       max(latency_ms)                                             AS latency_ms_max,
       coalesce(sum(ttft_ms), 0)                                   AS ttft_ms_sum,
       count(ttft_ms)                                              AS ttft_count,
       coalesce(sum(prompt_tokens), 0)                             AS prompt_tokens,
       coalesce(sum(completion_tokens), 0)                         AS completion_tokens,
       coalesce(sum(total_tokens), 0)                              AS total_tokens,
       coalesce(sum(cost_usd), 0)                                  AS cost_usd
FROM inference_logs
GROUP BY 1, 2, 3, 4, 5
WITH NO DATA;

SELECT add_continuous_aggregate_policy('metrics_minute',
    start_offset => INTERVAL '3 hours', end_offset => INTERVAL '1 minute',
    schedule_interval => INTERVAL '5 minutes');

CALL refresh_continuous_aggregate('metrics_minute', NULL, NULL);
