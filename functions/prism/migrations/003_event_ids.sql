-- Idempotency on event id. The client makes the id; a retried or replayed event gets a new
-- created_at at ingestion, so the (id, created_at) primary key alone cannot catch it. Every
-- write claims its ids here first (INSERT ... ON CONFLICT DO NOTHING RETURNING), in the same
-- transaction as the rows, so two writers racing on the same id still make one row.
CREATE TABLE inference_event_ids (
    id         uuid        PRIMARY KEY,
    created_at timestamptz NOT NULL
);
CREATE INDEX inference_event_ids_created_at_idx ON inference_event_ids (created_at);
