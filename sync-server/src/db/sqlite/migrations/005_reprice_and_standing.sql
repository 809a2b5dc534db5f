-- The server prices every stored sale again (and computes every return
-- again from its original) and keeps the outcome; the customer snapshot
-- gains the last birthday bonus, and promotion uses count checks net of
-- returns, points-only promotions included.

-- How far the re-pricer got, by records.id (the server's insert order).
CREATE TABLE reprice_cursor (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    last_record INTEGER NOT NULL
);
INSERT INTO reprice_cursor (id, last_record) VALUES (1, 0);

-- One outcome per stored record: matched, mismatched, or skipped with the
-- reason (no pricing inputs, unknown ruleset version, …).
CREATE TABLE reprice_results (
    register_id INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    merchant_id INTEGER NOT NULL REFERENCES merchants (id),
    outcome     TEXT NOT NULL CHECK (outcome IN ('matched', 'mismatched', 'skipped')),
    reason      TEXT,
    checked_at  TEXT NOT NULL,
    PRIMARY KEY (register_id, seq),
    FOREIGN KEY (register_id, seq) REFERENCES records (register_id, seq)
) WITHOUT ROWID;
CREATE INDEX reprice_results_by_merchant ON reprice_results (merchant_id, outcome);

-- Each field where the till's record and the server's pricing differ.
CREATE TABLE price_mismatches (
    register_id INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    field       TEXT NOT NULL,
    till        INTEGER NOT NULL,
    server      INTEGER NOT NULL,
    PRIMARY KEY (register_id, seq, field),
    FOREIGN KEY (register_id, seq) REFERENCES reprice_results (register_id, seq)
) WITHOUT ROWID;

-- Returns the re-pricer has seen, by their original: the earlier returns
-- a later one is computed after.
CREATE TABLE reprice_returns (
    original_register_id INTEGER NOT NULL,
    original_seq         INTEGER NOT NULL,
    register_id          INTEGER NOT NULL,
    seq                  INTEGER NOT NULL,
    PRIMARY KEY (original_register_id, original_seq, register_id, seq)
) WITHOUT ROWID;

-- Sales that gave the birthday bonus, with the store-local date.
CREATE TABLE birthday_bonuses (
    register_id INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    local_date  TEXT NOT NULL,
    PRIMARY KEY (register_id, seq),
    FOREIGN KEY (register_id, seq) REFERENCES records (register_id, seq)
) WITHOUT ROWID;
CREATE INDEX birthday_bonuses_by_customer ON birthday_bonuses (customer_id, local_date);

-- Checks per promotion: +1 on a sale it applied to, −1 on the return that
-- gives its use back. Stored sales count once for every promotion they
-- name, points-only ones (in the record's `applied` with no discount)
-- included; stored returns give back the uses they name.
ALTER TABLE promotion_uses ADD COLUMN uses INTEGER NOT NULL DEFAULT 0;
UPDATE promotion_uses SET uses = 1
WHERE EXISTS (SELECT 1 FROM records r
              WHERE r.register_id = promotion_uses.register_id
                AND r.seq = promotion_uses.seq AND r.kind = 'sale');
INSERT INTO promotion_uses (register_id, seq, promotion_id, discount, funded_by, uses)
SELECT r.register_id, r.seq, json_extract(a.value, '$.rule.id'), 0,
       json_extract(a.value, '$.funded_by'), 1
FROM records r, json_each(CAST(r.body AS TEXT), '$.applied') a
WHERE r.kind = 'sale' AND json_extract(a.value, '$.rule.kind') = 'promotion'
ON CONFLICT (register_id, seq, promotion_id) DO NOTHING;
INSERT INTO promotion_uses (register_id, seq, promotion_id, discount, funded_by, uses)
SELECT r.register_id, r.seq, u.value, 0, NULL, -1
FROM records r, json_each(CAST(r.body AS TEXT), '$.uses_returned') u
WHERE r.kind = 'return'
ON CONFLICT (register_id, seq, promotion_id) DO UPDATE SET uses = -1;

-- Alerts gain the kind `price_mismatch`: the kind's CHECK is rebuilt.
CREATE TABLE alerts_new (
    id          INTEGER PRIMARY KEY,
    merchant_id INTEGER NOT NULL REFERENCES merchants (id),
    register_id INTEGER NOT NULL REFERENCES registers (id),
    kind        TEXT NOT NULL CHECK (kind IN (
                    'fork', 'chain_broken', 'bad_signature',
                    'revoked_register_upload', 'clock_drift', 'price_mismatch')),
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
