-- Points of a flagged sale held until HQ resolves the flag (issue 9;
-- SQLite 023, which explains the table).
CREATE TABLE points_holds (
    register_id BIGINT      NOT NULL,
    seq         BIGINT      NOT NULL,
    merchant_id BIGINT      NOT NULL REFERENCES merchants (id),
    customer_id BIGINT      NOT NULL REFERENCES customers (id),
    points      BIGINT      NOT NULL,
    status      TEXT        NOT NULL DEFAULT 'held'
                CHECK (status IN ('held', 'released', 'voided')),
    held_at     TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    resolved_by TEXT,
    PRIMARY KEY (register_id, seq),
    FOREIGN KEY (register_id, seq) REFERENCES records (register_id, seq)
);
CREATE INDEX points_holds_by_merchant ON points_holds (merchant_id, status, held_at);
