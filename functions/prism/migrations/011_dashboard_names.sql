-- A dashboard's owner (the user who saved it; none for dashboards saved before there were users)
-- and names unique per owner, whatever their case: saving "Latency" twice is a 409 name_taken
-- from the query API, not a second dashboard of the same name. Names already taken twice are
-- told apart first ("Latency (2)"), oldest keeping its name.
ALTER TABLE dashboards ADD COLUMN IF NOT EXISTS user_id uuid REFERENCES users (id) ON DELETE CASCADE;

UPDATE dashboards d
SET name = left(d.name, 190) || ' (' || dup.n || ')'
FROM (
    SELECT id, row_number() OVER (PARTITION BY user_id, lower(name) ORDER BY created_at, id) AS n
    FROM dashboards
) dup
WHERE d.id = dup.id AND dup.n > 1;

CREATE UNIQUE INDEX dashboards_owner_name_key ON dashboards (user_id, lower(name)) NULLS NOT DISTINCT;
