-- Saved dashboards of the read side: a name and a spec (panels: which figures, grouped and
-- filtered how, over which window). The spec's shape is checked by the query API
-- (query/schemas.py, DashboardSpec); the database keeps it as given.
CREATE TABLE dashboards (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    spec       jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dashboards_updated_idx ON dashboards (updated_at DESC, id DESC);
