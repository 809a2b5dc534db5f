-- Reaching customers: marketing consent per channel, sign-ups waiting for
-- their one-time code, addresses that bounced, and the campaigns with
-- their outbox of messages. Instants are Unix seconds.

-- Marketing consent, apart from the personal-data consent of sign-up: per
-- channel, with the wording agreed to and when; `confirmed_at` is set when
-- a one-time code proved the address (double opt-in), `withdrawn_at` by an
-- unsubscribe.
CREATE TABLE marketing_consents (
    customer_id  INTEGER NOT NULL REFERENCES customers (id),
    channel      TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
    address      TEXT NOT NULL,
    locale       TEXT NOT NULL,
    wording      TEXT NOT NULL,
    granted_at   INTEGER NOT NULL,
    confirmed_at INTEGER,
    withdrawn_at INTEGER,
    PRIMARY KEY (customer_id, channel)
);

-- A sign-up waiting for the code sent to its address; the customer is
-- created only when the code matches. The token names it in the confirm
-- page's URL; token and code are kept as SHA-256 only.
CREATE TABLE pending_signups (
    token_hash  TEXT PRIMARY KEY,
    merchant_id INTEGER NOT NULL REFERENCES merchants (id),
    signup      TEXT NOT NULL,
    code_hash   TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

-- A lost page link being recovered: a code went to the customer's phone
-- or e-mail; typing it issues a new link and retires the old one. A
-- request for an unknown address is kept too (no customer, a code no one
-- has), so the page never tells which addresses are registered.
CREATE TABLE link_recoveries (
    token_hash  TEXT PRIMARY KEY,
    merchant_id INTEGER NOT NULL REFERENCES merchants (id),
    customer_id INTEGER REFERENCES customers (id),
    code_hash   TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

-- Addresses never written to again: hard bounces and invalid numbers.
CREATE TABLE suppressed_addresses (
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    reason  TEXT NOT NULL,
    at      INTEGER NOT NULL,
    PRIMARY KEY (channel, address)
);

-- One campaign per promotion, planned when its publication starts.
CREATE TABLE campaigns (
    id           INTEGER PRIMARY KEY,
    merchant_id  INTEGER NOT NULL REFERENCES merchants (id),
    promotion_id TEXT NOT NULL,
    title        TEXT NOT NULL,
    body         TEXT NOT NULL,
    starts_at    INTEGER NOT NULL,
    planned_at   INTEGER NOT NULL,
    UNIQUE (merchant_id, promotion_id)
);

-- Every message, planned before it is sent. (customer, promotion, channel)
-- is the idempotency key: a message is planned once, claimed (`sending`)
-- in its own transaction before it leaves, and marked after. `token` is
-- the message's own capability for its tracked link and its unsubscribe
-- link. `after_record_id` is the newest record when it was sent: the
-- customer's records past it are the purchases that followed.
CREATE TABLE message_outbox (
    id              INTEGER PRIMARY KEY,
    campaign_id     INTEGER NOT NULL REFERENCES campaigns (id),
    customer_id     INTEGER NOT NULL REFERENCES customers (id),
    promotion_id    TEXT NOT NULL,
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
    address         TEXT NOT NULL,
    locale          TEXT NOT NULL,
    token           TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL CHECK (status IN
                        ('planned', 'sending', 'sent', 'failed', 'skipped', 'unconfirmed')),
    not_before      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    claimed_at      INTEGER,
    sent_at         INTEGER,
    clicked_at      INTEGER,
    after_record_id INTEGER,
    note            TEXT,
    UNIQUE (customer_id, promotion_id, channel)
);
CREATE INDEX message_outbox_due ON message_outbox (status, not_before);
CREATE INDEX message_outbox_by_campaign ON message_outbox (campaign_id);
