-- Each register's last heartbeat: when it came, its backlog, dead letters,
-- ruleset version and alarms (a JSON array of text), so HQ sees a till that
-- is up but stuck apart from one that is down.
ALTER TABLE registers ADD COLUMN heartbeat_at TEXT;
ALTER TABLE registers ADD COLUMN heartbeat_backlog INTEGER;
ALTER TABLE registers ADD COLUMN heartbeat_dead_letters INTEGER;
ALTER TABLE registers ADD COLUMN heartbeat_ruleset_version INTEGER;
ALTER TABLE registers ADD COLUMN heartbeat_alarms TEXT;
