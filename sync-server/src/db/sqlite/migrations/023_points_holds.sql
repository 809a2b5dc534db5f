-- Points of a sale the re-pricer flagged stay pending until HQ resolves
-- the flag (issue 9, item 9): one hold per flagged sale that earned
-- points, `held` until someone releases the points (the till's figures
-- stand) or voids them (the sale earns nothing).
CREATE TABLE points_holds (
    register_id INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    merchant_id INTEGER NOT NULL REFERENCES merchants (id),
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    points      INTEGER NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'held'
                CHECK (status IN ('held', 'released', 'voided')),
    held_at     TEXT    NOT NULL,
    resolved_at TEXT,
    resolved_by TEXT,
    PRIMARY KEY (register_id, seq),
    FOREIGN KEY (register_id, seq) REFERENCES records (register_id, seq)
) WITHOUT ROWID;
CREATE INDEX points_holds_by_merchant ON points_holds (merchant_id, status, held_at);
