-- The lowest pos-agent version HQ requires of a merchant's registers
-- (semantic versioning, as text; NULL: none). A register below it is told
-- so in its heartbeat reply and listed as lagging; it is never refused.
ALTER TABLE merchants ADD COLUMN minimum_agent_version TEXT;
