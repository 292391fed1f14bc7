-- prism:no-transaction
-- Unknown cost is not zero (issue 14 §2), TimescaleDB profile: the same unpriced count as
-- 010_unpriced.postgres.sql. NOT TESTED HERE (the test machine has no TimescaleDB): written to
-- mirror 007_projects.timescale.sql. metrics_minute is a continuous aggregate whose select list
-- cannot be altered, so it is made again with the count in it (dropping it drops its refresh
-- policy too), then materialised from the rows. Run migrations before starting the new query API.

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
       coalesce(sum(cost_usd), 0)                                  AS cost_usd,
       count(*) - count(cost_usd)                                  AS unpriced
FROM inference_logs
GROUP BY 1, 2, 3, 4, 5
WITH NO DATA;

SELECT add_continuous_aggregate_policy('metrics_minute',
    start_offset => INTERVAL '3 hours', end_offset => INTERVAL '1 minute',
    schedule_interval => INTERVAL '5 minutes');

CALL refresh_continuous_aggregate('metrics_minute', NULL, NULL);
