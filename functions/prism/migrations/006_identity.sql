-- Identity and access (issue 11): projects, users, their sessions, API keys, invites, the audit log
-- and the settings an admin changes at run time. Plain PostgreSQL (also where TimescaleDB is
-- installed: nothing here is a hypertable). Secrets are never stored: session ids, CSRF tokens,
-- API keys and invite tokens only as their SHA-256 digest, passwords as argon2id hashes.

-- A project groups the events of one application or environment; every ingestion key writes to one.
CREATE TABLE projects (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    slug       text        NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO projects (slug, name) VALUES ('default', 'Default'), ('chat', 'Chat');

CREATE TABLE users (
    id                   uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    email                text        NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
    name                 text,
    password_hash        text,                  -- argon2id; NULL: no password (OIDC, or an invite not yet accepted)
    role                 text        NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    must_change_password boolean     NOT NULL DEFAULT false,
    disabled_at          timestamptz,
    oidc_issuer          text,
    oidc_subject         text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    last_login_at        timestamptz,
    UNIQUE (oidc_issuer, oidc_subject)
);
CREATE UNIQUE INDEX users_email_idx ON users (lower(email));

-- Server-side sessions: the cookie carries the id, the table its digest.
CREATE TABLE sessions (
    id_hash      bytea       PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_hash    bytea       NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,           -- the absolute limit; idle expiry from last_seen_at
    address      text,
    user_agent   text
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- Ingestion keys (one project) and personal read tokens (one user). ``prefix`` is the visible,
-- unique head of the token (``prism_ik_<id12>``), ``secret_hash`` the digest of the whole token.
CREATE TABLE api_keys (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    kind         text        NOT NULL CHECK (kind IN ('ingest', 'read')),
    prefix       text        NOT NULL UNIQUE,
    secret_hash  bytea       NOT NULL,
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    project_id   uuid        REFERENCES projects (id) ON DELETE CASCADE,
    user_id      uuid        REFERENCES users (id) ON DELETE CASCADE,
    created_by   uuid        REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    CHECK (kind <> 'ingest' OR project_id IS NOT NULL),
    CHECK (kind <> 'read' OR user_id IS NOT NULL)
);
CREATE INDEX api_keys_project_idx ON api_keys (project_id);
CREATE INDEX api_keys_user_idx ON api_keys (user_id);

-- One-time invite links: the user exists without a password until the link is used.
CREATE TABLE invites (
    token_hash bytea       PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_by uuid        REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX invites_user_idx ON invites (user_id);

-- Security-relevant actions, never a secret; kept PRISM_AUDIT_RETENTION_DAYS.
CREATE TABLE audit_log (
    id       bigserial   PRIMARY KEY,
    at       timestamptz NOT NULL,
    actor_id uuid,                               -- no foreign key: the row outlives its user
    actor    text        NOT NULL,               -- the e-mail (or "anonymous", "system") at the time
    action   text        NOT NULL,
    target   text,
    detail   jsonb       NOT NULL DEFAULT '{}',
    address  text
);
CREATE INDEX audit_log_at_idx ON audit_log (at);

-- Settings an admin changes at run time.
CREATE TABLE app_config (
    key   text  PRIMARY KEY,
    value jsonb NOT NULL
);
INSERT INTO app_config (key, value) VALUES ('chat_project', '"chat"');
