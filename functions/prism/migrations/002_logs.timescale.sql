-- prism:no-transaction
-- Inference logs, TimescaleDB profile (compose, Timescale Cloud).
-- Same table and view names as the plain PostgreSQL profile; readers cannot tell them apart.

CREATE TABLE inference_logs (
    id                uuid             NOT NULL,
    created_at        timestamptz      NOT NULL,
    ts_start          timestamptz      NOT NULL,
    ts_first_token    timestamptz,
    ts_end            timestamptz      NOT NULL,
    latency_ms        double precision NOT NULL,
    ttft_ms           double precision,
    provider          text             NOT NULL,
    model             text             NOT NULL,
    response_model    text,
    status            text             NOT NULL CHECK (status IN ('ok', 'error', 'cancelled')),
    finish_reason     text,
    error_type        text,
    error_message     text,
    prompt_tokens     integer,
    completion_tokens integer,
    total_tokens      integer,
    cached_tokens     integer,
    reasoning_tokens  integer,
    cost_usd          double precision,
    cost_note         text,
    conversation_id   text,
    message_id        text,
    trace_id          text,
    span_id           text,
    user_id           text,
    tags              text[]           NOT NULL DEFAULT '{}',
    metadata          jsonb            NOT NULL DEFAULT '{}',
    redactions        jsonb            NOT NULL DEFAULT '{}',
    raw_payload_jsonb jsonb,
    raw_payload_uri   text,
    sdk               text,
    schema_version    smallint         NOT NULL,
    PRIMARY KEY (id, created_at)
);
SELECT create_hypertable('inference_logs', by_range('created_at', INTERVAL '1 day'));

CREATE INDEX inference_logs_model_idx ON inference_logs (model, created_at DESC);
CREATE INDEX inference_logs_conversation_idx ON inference_logs (conversation_id) WHERE conversation_id IS NOT NULL;
CREATE INDEX inference_logs_trace_idx ON inference_logs (trace_id) WHERE trace_id IS NOT NULL;

CREATE TABLE tool_invocations (
    inference_id uuid        NOT NULL,
    idx          integer     NOT NULL,
    created_at   timestamptz NOT NULL,
    name         text        NOT NULL,
    tool_call_id text,
    status       text        NOT NULL,
    arguments    jsonb,
    result       jsonb,
    error        text,
    ts_start     timestamptz,
    ts_end       timestamptz,
    latency_ms   double precision,
    PRIMARY KEY (inference_id, idx, created_at)
);
SELECT create_hypertable('tool_invocations', by_range('created_at', INTERVAL '1 day'));
CREATE INDEX tool_invocations_name_idx ON tool_invocations (name, created_at DESC);

CREATE MATERIALIZED VIEW metrics_minute
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 minute', created_at)                AS bucket,
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
GROUP BY 1, 2, 3, 4
WITH NO DATA;

SELECT add_continuous_aggregate_policy('metrics_minute',
    start_offset => INTERVAL '3 hours', end_offset => INTERVAL '1 minute',
    schedule_interval => INTERVAL '5 minutes');

ALTER TABLE inference_logs SET (timescaledb.compress, timescaledb.compress_segmentby = 'model',
                                timescaledb.compress_orderby = 'created_at DESC');
SELECT add_compression_policy('inference_logs', INTERVAL '7 days');
ALTER TABLE tool_invocations SET (timescaledb.compress, timescaledb.compress_orderby = 'created_at DESC');
SELECT add_compression_policy('tool_invocations', INTERVAL '7 days');

SELECT add_retention_policy('inference_logs', INTERVAL '30 days');
SELECT add_retention_policy('tool_invocations', INTERVAL '30 days');
