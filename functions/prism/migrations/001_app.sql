-- Group A of the seed: app data for the chat. No foreign keys to the log tables (group B):
-- messages.inference_event_id is a soft reference to inference_logs.id.

CREATE TABLE conversations (
    id          uuid PRIMARY KEY,
    title       text NOT NULL DEFAULT '' CHECK (char_length(title) <= 200),
    model       text,                               -- model of the last turn (the picker's default)
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- GET /api/conversations: newest activity first, keyset-paginated on (updated_at, id).
CREATE INDEX conversations_updated_at_idx ON conversations (updated_at DESC, id DESC);

CREATE TABLE messages (
    id                  uuid PRIMARY KEY,
    conversation_id     uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq                 bigint GENERATED ALWAYS AS IDENTITY,  -- order within a conversation
    role                text NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content             text NOT NULL DEFAULT '',
    status              text NOT NULL DEFAULT 'complete'
                        CHECK (status IN ('complete', 'cancelled', 'error', 'streaming')),
    model               text,
    provider            text,
    prompt_tokens       integer CHECK (prompt_tokens >= 0),
    completion_tokens   integer CHECK (completion_tokens >= 0),
    total_tokens        integer CHECK (total_tokens >= 0),
    cost_usd            double precision CHECK (cost_usd >= 0),
    latency_ms          double precision CHECK (latency_ms >= 0),
    ttft_ms             double precision CHECK (ttft_ms >= 0),
    error_code          text,
    error_message       text,
    inference_event_id  uuid,                       -- soft reference to inference_logs.id
    cancel_requested    boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX messages_conversation_seq_idx ON messages (conversation_id, seq);
CREATE INDEX messages_streaming_idx ON messages (conversation_id) WHERE status = 'streaming';

CREATE TABLE provider_credentials (
    provider            text PRIMARY KEY
                        CHECK (provider IN ('openai', 'anthropic', 'gemini', 'openai_compatible')),
    api_key_ciphertext  text,                       -- Fernet token under PRISM_CREDS_KEY; never plaintext
    key_last4           text NOT NULL DEFAULT '',
    base_url            text,
    models              jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
