-- Inference logs, plain PostgreSQL profile (this machine, AWS RDS/Aurora).
-- Daily range partitions on created_at, created ahead by the writer's maintenance
-- (prism.adapters.postgres.PostgresLogStore.maintain); retention drops whole partitions.
-- metrics_minute is a table the writer keeps current in the same transaction as the rows.

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
) PARTITION BY RANGE (created_at);

-- Rows arrive in created_at order: a BRIN index costs almost nothing to maintain.
CREATE INDEX inference_logs_created_at_idx ON inference_logs USING brin (created_at);
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
) PARTITION BY RANGE (created_at);

CREATE INDEX tool_invocations_name_idx ON tool_invocations (name, created_at DESC);

CREATE TABLE metrics_minute (
    bucket            timestamptz      NOT NULL,
    model             text             NOT NULL,
    provider          text             NOT NULL,
    status            text             NOT NULL,
    requests          bigint           NOT NULL,
    errors            bigint           NOT NULL,
    latency_ms_sum    double precision NOT NULL,
    latency_ms_max    double precision NOT NULL,
    ttft_ms_sum       double precision NOT NULL,
    ttft_count        bigint           NOT NULL,
    prompt_tokens     bigint           NOT NULL,
    completion_tokens bigint           NOT NULL,
    total_tokens      bigint           NOT NULL,
    cost_usd          double precision NOT NULL,
    PRIMARY KEY (bucket, model, provider, status)
);
