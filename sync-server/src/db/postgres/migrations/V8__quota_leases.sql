-- Quota leases (issue 9, item 11; SQLite 015): each register's current
-- share of a promotion's global limits (total uses, budget), covering its
-- records after `through_seq` (its stored head when granted, 0 before any
-- record). One row per register and promotion; a renewal replaces it
-- under a new id. A lease past `expires_at` no longer counts as
-- outstanding.
CREATE TABLE quota_leases (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id  BIGINT NOT NULL REFERENCES merchants (id),
    register_id  BIGINT NOT NULL REFERENCES registers (id),
    promotion_id TEXT   NOT NULL,
    through_seq  BIGINT NOT NULL CHECK (through_seq >= 0),
    uses         BIGINT NOT NULL CHECK (uses >= 0),
    budget       BIGINT NOT NULL CHECK (budget >= 0),
    issued_at    TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (register_id, promotion_id)
);
CREATE INDEX quota_leases_by_promotion ON quota_leases (merchant_id, promotion_id);
