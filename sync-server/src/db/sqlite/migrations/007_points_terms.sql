-- The points terms of each release, so the points a record earns keep the
-- terms of the ruleset it was priced with (the record's ruleset_version),
-- whatever the programme says later.
ALTER TABLE ruleset_releases ADD COLUMN points_pending_days INTEGER NOT NULL DEFAULT 0;
-- NULL: points never expire.
ALTER TABLE ruleset_releases ADD COLUMN points_expire_days INTEGER;
UPDATE ruleset_releases SET
    points_pending_days = IFNULL(json_extract(ruleset, '$.programme.points_pending_days'), 0),
    points_expire_days = json_extract(ruleset, '$.programme.points_expire_days');
