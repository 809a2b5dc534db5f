-- Points outside a purchase, referrals and review moderation (issues 12
-- and 14).
--
-- A points adjustment is a ledger entry not tied to a record: support's
-- credit or debit with a reason, or a referral reward. It is replayed with
-- the records (shared::points, key `adjustment`) at `ledger_order`: the
-- highest records.id when it was made, so it comes after every record
-- stored before it (a record of the same id first). The idempotency key
-- is unique per merchant, so a repeated request or a re-run credits once.
-- `expire_days` are the programme's when it was made (a credit is
-- available at once and keeps those terms, as records keep theirs).
CREATE TABLE points_adjustments (
    id              INTEGER PRIMARY KEY,
    merchant_id     INTEGER NOT NULL REFERENCES merchants (id),
    customer_id     INTEGER NOT NULL REFERENCES customers (id),
    points          INTEGER NOT NULL CHECK (points <> 0),
    reason          TEXT    NOT NULL,
    -- 'manual' (support) or 'referral'.
    kind            TEXT    NOT NULL,
    -- Who made it, as the audit trail names them; their account if a person.
    actor           TEXT    NOT NULL,
    account_id      INTEGER REFERENCES accounts (id),
    idempotency_key TEXT    NOT NULL,
    ledger_order    INTEGER NOT NULL,
    created_at      TEXT    NOT NULL,
    expire_days     INTEGER,
    UNIQUE (merchant_id, idempotency_key)
);
CREATE INDEX points_adjustments_by_customer ON points_adjustments (customer_id, id);

-- Each customer's referral code, which their share links carry: short,
-- random, unique in the merchant, never their id or page secret.
CREATE TABLE referral_codes (
    customer_id INTEGER PRIMARY KEY REFERENCES customers (id),
    merchant_id INTEGER NOT NULL REFERENCES merchants (id),
    code        TEXT    NOT NULL,
    UNIQUE (merchant_id, code)
);

-- A friend who signed up through a referrer's share link. A phone is
-- referred once per merchant. The friend's first purchase is their first
-- stored sale; once its points clear their pending period both get the
-- programme's reward as adjustments keyed (referral, role), and
-- `rewarded_at` is set in that transaction.
CREATE TABLE referrals (
    id             INTEGER PRIMARY KEY,
    merchant_id    INTEGER NOT NULL REFERENCES merchants (id),
    referrer_id    INTEGER NOT NULL REFERENCES customers (id),
    referred_id    INTEGER NOT NULL UNIQUE REFERENCES customers (id),
    referred_phone TEXT,
    offer          TEXT,
    created_at     TEXT    NOT NULL,
    rewarded_at    TEXT,
    UNIQUE (merchant_id, referred_phone)
);
CREATE INDEX referrals_by_referrer ON referrals (referrer_id);
CREATE INDEX referrals_unrewarded ON referrals (merchant_id) WHERE rewarded_at IS NULL;

-- Review moderation: a review is shown on the customers' pages only once
-- approved; the merchant may hide it or reply. Reviews written before
-- moderation existed were public already and stay approved.
ALTER TABLE offer_reviews ADD COLUMN status TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE offer_reviews ADD COLUMN reply TEXT;
ALTER TABLE offer_reviews ADD COLUMN moderated_at TEXT;
UPDATE offer_reviews SET status = 'approved';
