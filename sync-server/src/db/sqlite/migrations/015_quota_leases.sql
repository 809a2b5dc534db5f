-- Quota leases (issue 9, item 11): each register's current share of a
-- promotion's global limits (total uses, budget). A lease covers the
-- register's records after `through_seq` (its stored head when granted,
-- 0 before any record), so what those records give comes off the lease
-- and never off the pool as well. One row per register and promotion; a
-- renewal replaces it under a new id. A lease past `expires_at` is no
-- longer counted as outstanding: its unspent part is back in the pool.
CREATE TABLE quota_leases (
    id           INTEGER PRIMARY KEY,
    merchant_id  INTEGER NOT NULL REFERENCES merchants (id),
    register_id  INTEGER NOT NULL REFERENCES registers (id),
    promotion_id TEXT    NOT NULL,
    through_seq  INTEGER NOT NULL CHECK (through_seq >= 0),
    uses         INTEGER NOT NULL CHECK (uses >= 0),
    budget       INTEGER NOT NULL CHECK (budget >= 0),
    issued_at    TEXT    NOT NULL,
    expires_at   TEXT    NOT NULL,
    UNIQUE (register_id, promotion_id)
);
CREATE INDEX quota_leases_by_promotion ON quota_leases (merchant_id, promotion_id);
