-- Alerts gain the kinds `unknown_customer` (a stored record names a
-- customer the merchant does not have) and `bad_record` (a signed record
-- whose own sums do not add up): the kind's CHECK is rebuilt.
CREATE TABLE alerts_new (
    id          INTEGER PRIMARY KEY,
    merchant_id INTEGER NOT NULL REFERENCES merchants (id),
    register_id INTEGER NOT NULL REFERENCES registers (id),
    kind        TEXT NOT NULL CHECK (kind IN (
                    'fork', 'chain_broken', 'bad_signature',
                    'revoked_register_upload', 'clock_drift', 'price_mismatch',
                    'unknown_customer', 'bad_record')),
    seq         INTEGER,
    detail      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
INSERT INTO alerts_new (id, merchant_id, register_id, kind, seq, detail, created_at)
SELECT id, merchant_id, register_id, kind, seq, detail, created_at FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_new RENAME TO alerts;
CREATE INDEX alerts_by_merchant ON alerts (merchant_id, id);
CREATE INDEX alerts_by_register ON alerts (register_id, kind, id);
