-- Alerts gain the kinds `unknown_customer` and `bad_record` (SQLite 009).
ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_kind_check CHECK (kind IN (
    'fork', 'chain_broken', 'bad_signature',
    'revoked_register_upload', 'clock_drift', 'price_mismatch',
    'unknown_customer', 'bad_record'));
