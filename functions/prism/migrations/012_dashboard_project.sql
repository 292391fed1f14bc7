-- Dashboards are per project, like the metrics and logs they chart: each belongs to one project
-- (those saved before are the default project's), the query API lists one project's, and names
-- are unique per project and owner, whatever their case ("Latency" may be saved in two projects).
ALTER TABLE dashboards ADD COLUMN IF NOT EXISTS project text NOT NULL DEFAULT 'default';

DROP INDEX IF EXISTS dashboards_owner_name_key;
CREATE UNIQUE INDEX dashboards_owner_name_key ON dashboards (project, user_id, lower(name)) NULLS NOT DISTINCT;
CREATE INDEX IF NOT EXISTS dashboards_project_updated ON dashboards (project, updated_at DESC, id DESC);
