-- Unknown cost is not zero (issue 14 §2), plain PostgreSQL profile: metrics_minute counts the calls
-- of unknown cost (cost_usd null: no price known for the model) next to the summed cost of the
-- others, so the metrics can say "unknown (N unpriced)" rather than "$0". Adding a column with a
-- constant default rewrites no table; the buckets written before are counted from the rows still
-- kept (rows past retention are gone, and so are their buckets).

ALTER TABLE metrics_minute ADD COLUMN unpriced bigint NOT NULL DEFAULT 0;

UPDATE metrics_minute m SET unpriced = r.unpriced
FROM (
    SELECT date_trunc('minute', created_at) AS bucket, project, model, provider, status, count(*) AS unpriced
    FROM inference_logs WHERE cost_usd IS NULL
    GROUP BY 1, 2, 3, 4, 5
) r
WHERE m.bucket = r.bucket AND m.project = r.project AND m.model = r.model AND m.provider = r.provider
  AND m.status = r.status;
