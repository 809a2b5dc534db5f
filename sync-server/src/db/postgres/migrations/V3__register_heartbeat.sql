-- Each register's last heartbeat (see the SQLite migration 009).
ALTER TABLE registers ADD COLUMN heartbeat_at timestamptz;
ALTER TABLE registers ADD COLUMN heartbeat_backlog BIGINT;
ALTER TABLE registers ADD COLUMN heartbeat_dead_letters BIGINT;
ALTER TABLE registers ADD COLUMN heartbeat_ruleset_version BIGINT;
ALTER TABLE registers ADD COLUMN heartbeat_alarms TEXT;
