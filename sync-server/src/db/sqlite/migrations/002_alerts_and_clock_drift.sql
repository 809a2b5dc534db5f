-- Alerts for HQ, and each register's last clock drift estimate.

CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY,
    merchant_id INTEGER NOT NULL REFERENCES merchants (id),
    register_id INTEGER NOT NULL REFERENCES registers (id),
    kind        TEXT NOT NULL CHECK (kind IN (
                    'fork', 'chain_broken', 'bad_signature',
                    'revoked_register_upload', 'clock_drift')),
    seq         INTEGER,
    detail      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX alerts_by_merchant ON alerts (merchant_id, id);
-- For the quiet period: the newest alert of a kind for a register.
CREATE INDEX alerts_by_register ON alerts (register_id, kind, id);

-- Seconds the register's clock is ahead of the server's (negative: behind),
-- estimated from the newest record of its last batch that stored records.
ALTER TABLE registers ADD COLUMN clock_drift_secs INTEGER;
ALTER TABLE registers ADD COLUMN clock_drift_measured_at TEXT;

CREATE INDEX quarantine_by_register ON quarantine (register_id);
