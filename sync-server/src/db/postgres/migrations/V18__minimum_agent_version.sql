-- The lowest pos-agent version HQ requires of a merchant's registers (see
-- the SQLite migration 025).
ALTER TABLE merchants ADD COLUMN minimum_agent_version TEXT;
