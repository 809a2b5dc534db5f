-- Points outside a purchase, referrals and review moderation (issues 12
-- and 14; SQLite 017). See the SQLite migration for the rules; here an
-- adjustment's `ledger_order` is drawn from the records' own id sequence,
-- so it sorts after every record id handed out before it.
CREATE TABLE points_adjustments (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id     BIGINT NOT NULL REFERENCES merchants (id),
    customer_id     BIGINT NOT NULL REFERENCES customers (id),
    points          BIGINT NOT NULL CHECK (points <> 0),
    reason          TEXT   NOT NULL,
    kind            TEXT   NOT NULL,
    actor           TEXT   NOT NULL,
    account_id      BIGINT REFERENCES accounts (id),
    idempotency_key TEXT   NOT NULL,
    ledger_order    BIGINT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    expire_days     BIGINT,
    UNIQUE (merchant_id, idempotency_key)
);
CREATE INDEX points_adjustments_by_customer ON points_adjustments (customer_id, id);

CREATE TABLE referral_codes (
    customer_id BIGINT PRIMARY KEY REFERENCES customers (id),
    merchant_id BIGINT NOT NULL REFERENCES merchants (id),
    code        TEXT   NOT NULL,
    UNIQUE (merchant_id, code)
);

CREATE TABLE referrals (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id    BIGINT NOT NULL REFERENCES merchants (id),
    referrer_id    BIGINT NOT NULL REFERENCES customers (id),
    referred_id    BIGINT NOT NULL UNIQUE REFERENCES customers (id),
    referred_phone TEXT,
    offer          TEXT,
    created_at     TIMESTAMPTZ NOT NULL,
    rewarded_at    TIMESTAMPTZ,
    UNIQUE (merchant_id, referred_phone)
);
CREATE INDEX referrals_by_referrer ON referrals (referrer_id);
CREATE INDEX referrals_unrewarded ON referrals (merchant_id) WHERE rewarded_at IS NULL;

ALTER TABLE offer_reviews ADD COLUMN status TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE offer_reviews ADD COLUMN reply TEXT;
ALTER TABLE offer_reviews ADD COLUMN moderated_at TIMESTAMPTZ;
UPDATE offer_reviews SET status = 'approved';
