-- Read side. Latency and TTFT histograms kept beside the rollup, so percentiles over any window are merged
-- from pre-aggregated counts instead of sorting raw rows (prism/histogram.py reads them).
--
-- Buckets are logarithmic: bucket i holds values v (ms) with gamma^(i-1) < v <= gamma^i, gamma =
-- 1.05. Reporting a bucket by 2 gamma^i / (gamma + 1) is off by at most (gamma - 1) / (gamma + 1),
-- 2.44 %, from any value in it, so a percentile read from merged buckets is within 2.44 % of the
-- exact (nearest-rank) percentile. Bucket -32768 holds values <= 0. Counts add: two histograms of
-- the same series merge by summing per bucket, across minutes, hours, models or instances.
--
-- The writer keeps the three tables (minute, hour, day) current in the same transaction as the
-- rows it inserts (both storage profiles), so they never count a row twice or miss one. A window
-- reads whole days from the day table, the hours at its edges from the hour table and the minutes
-- at its edges from the minute table: 30 days is 30 rows per series, not 43,200.

CREATE FUNCTION prism_hist_bucket(v double precision) RETURNS smallint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN v <= 0 THEN -32768
                ELSE least(greatest(ceil(ln(v) / ln(1.05::float8)), -400), 600) END::smallint
$$;

-- One row per series (minute or hour, model, provider, status, metric) holds the whole histogram:
-- the buckets that have values (idx, ascending) and their counts (n), so a 30-day window reads
-- a handful of rows per series, not one row per bucket. prism_hist_merge adds two such histograms.
CREATE TABLE latency_hist_minute (
    bucket   timestamptz NOT NULL,
    model    text        NOT NULL,
    provider text        NOT NULL,
    status   text        NOT NULL,
    metric   text        NOT NULL CHECK (metric IN ('latency', 'ttft')),
    idx      smallint[]  NOT NULL,
    n        bigint[]    NOT NULL CHECK (cardinality(idx) = cardinality(n)),
    PRIMARY KEY (bucket, model, provider, status, metric)
);

CREATE TABLE latency_hist_hour (LIKE latency_hist_minute INCLUDING ALL);
CREATE TABLE latency_hist_day (LIKE latency_hist_minute INCLUDING ALL);

CREATE FUNCTION prism_hist_merge(a_idx smallint[], a_n bigint[], b_idx smallint[], b_n bigint[],
                                 OUT idx smallint[], OUT n bigint[])
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(i ORDER BY i), array_agg(c ORDER BY i)
    FROM (SELECT i, sum(c)::bigint AS c
          FROM (SELECT * FROM unnest(a_idx, a_n) UNION ALL SELECT * FROM unnest(b_idx, b_n)) AS u (i, c)
          GROUP BY i) AS merged
$$;

-- The logs explorer pages newest first by (created_at, id). Rows arrive in created_at order, so
-- this B-tree only ever grows at its right edge.
CREATE INDEX inference_logs_recent_idx ON inference_logs (created_at DESC, id DESC);
