-- The PostgreSQL schema: the end state of the SQLite migrations 001 to 008
-- in one step. Money is integer kopecks (BIGINT), hashes, keys' signatures
-- and signed bodies are raw bytes, times are timestamptz.

CREATE TABLE merchants (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            TEXT NOT NULL,
    currency        TEXT NOT NULL,
    -- The last customer change cursor handed out; see customers.change_cursor.
    -- Bumped with UPDATE … RETURNING, so the row lock orders the cursors.
    customer_cursor BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE brands (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id BIGINT NOT NULL REFERENCES merchants (id),
    name        TEXT NOT NULL
);
CREATE INDEX brands_by_merchant ON brands (merchant_id);

CREATE TABLE stores (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id BIGINT NOT NULL REFERENCES merchants (id),
    brand_id    BIGINT REFERENCES brands (id),
    name        TEXT NOT NULL,
    timezone    TEXT NOT NULL
);
CREATE INDEX stores_by_merchant ON stores (merchant_id);

CREATE TABLE registers (
    id                      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id                BIGINT NOT NULL REFERENCES stores (id),
    public_key              TEXT NOT NULL, -- base64
    secret_hash             BYTEA NOT NULL,
    hostname                TEXT NOT NULL,
    agent_version           TEXT NOT NULL,
    enrolled_at             TIMESTAMPTZ NOT NULL,
    last_seen_at            TIMESTAMPTZ,
    revoked_at              TIMESTAMPTZ,
    -- Seconds the register's clock is ahead of the server's (negative:
    -- behind), estimated from the newest record of its last batch.
    clock_drift_secs        BIGINT,
    clock_drift_measured_at TIMESTAMPTZ
);
CREATE INDEX registers_by_store ON registers (store_id);

CREATE TABLE enrollment_tokens (
    token_hash  BYTEA PRIMARY KEY,
    store_id    BIGINT NOT NULL REFERENCES stores (id),
    expires_at  TIMESTAMPTZ NOT NULL,
    register_id BIGINT REFERENCES registers (id)
);

-- Immutable signed releases; version = previous + 1, decided under the
-- merchant's row lock.
CREATE TABLE ruleset_releases (
    merchant_id         BIGINT NOT NULL REFERENCES merchants (id),
    version             BIGINT NOT NULL,
    effective_from      TIMESTAMPTZ NOT NULL,
    ruleset             TEXT NOT NULL,
    signed              TEXT NOT NULL,
    points_pending_days BIGINT NOT NULL DEFAULT 0,
    -- NULL: points never expire.
    points_expire_days  BIGINT,
    PRIMARY KEY (merchant_id, version)
);

CREATE TABLE customers (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id        BIGINT NOT NULL REFERENCES merchants (id),
    name               TEXT NOT NULL,
    phone              TEXT,
    email              TEXT,
    gender             TEXT NOT NULL,
    birth_date         DATE,
    tokens_valid_after TIMESTAMPTZ,
    -- Merchant-wide, bumped whenever the customer or its standing changes.
    change_cursor      BIGINT NOT NULL,
    UNIQUE (merchant_id, phone)
);
CREATE INDEX customers_by_cursor ON customers (merchant_id, change_cursor);

-- Every purchase record exactly once, keyed by (register, seq). `id` is the
-- server's insert order (not commit order across connections).
CREATE TABLE records (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    register_id        BIGINT NOT NULL REFERENCES registers (id),
    seq                BIGINT NOT NULL,
    record_id          UUID NOT NULL,
    merchant_id        BIGINT NOT NULL REFERENCES merchants (id),
    store_id           BIGINT NOT NULL REFERENCES stores (id),
    kind               TEXT NOT NULL CHECK (kind IN ('sale', 'return')),
    -- Set only when the customer is the merchant's.
    customer_id        BIGINT REFERENCES customers (id),
    wall_time          TIMESTAMPTZ NOT NULL,
    subtotal           BIGINT NOT NULL,
    discount           BIGINT NOT NULL,
    total              BIGINT NOT NULL,
    points_earned      BIGINT NOT NULL,
    points_redeemed    BIGINT NOT NULL,
    ruleset_version    BIGINT,
    hash               BYTEA NOT NULL,
    body               BYTEA NOT NULL,
    signature          BYTEA NOT NULL,
    received_at        TIMESTAMPTZ NOT NULL,
    -- What the record adds to its customer's spend, decided by ingest.
    spend              BIGINT NOT NULL DEFAULT 0,
    -- For a return: the record id of the sale it returns (the signed
    -- body's `original.id`), written on insert.
    original_record_id UUID,
    UNIQUE (register_id, seq)
);
CREATE INDEX records_by_merchant ON records (merchant_id);
CREATE INDEX records_by_customer ON records (customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX records_by_record_id ON records (record_id);
CREATE INDEX records_by_original ON records (original_record_id)
    WHERE original_record_id IS NOT NULL;

CREATE TABLE record_lines (
    register_id    BIGINT NOT NULL,
    seq            BIGINT NOT NULL,
    line_no        BIGINT NOT NULL,
    sku            TEXT NOT NULL,
    category       TEXT,
    quantity_milli BIGINT NOT NULL,
    amount         BIGINT NOT NULL,
    discount       BIGINT NOT NULL,
    total          BIGINT NOT NULL,
    PRIMARY KEY (register_id, seq, line_no),
    FOREIGN KEY (register_id, seq) REFERENCES records (register_id, seq)
);

-- Each promotion's discount on a record, summed over its lines, and its
-- checks: +1 on a sale it applied to, -1 on the return giving its use back.
CREATE TABLE promotion_uses (
    register_id  BIGINT NOT NULL,
    seq          BIGINT NOT NULL,
    promotion_id TEXT NOT NULL,
    discount     BIGINT NOT NULL,
    funded_by    TEXT,
    uses         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (register_id, seq, promotion_id),
    FOREIGN KEY (register_id, seq) REFERENCES records (register_id, seq)
);

-- The points ledger: one entry per record of a known customer, keyed like
-- the record, so a replay can never count twice.
CREATE TABLE ledger (
    register_id          BIGINT NOT NULL,
    seq                  BIGINT NOT NULL,
    customer_id          BIGINT NOT NULL REFERENCES customers (id),
    points               BIGINT NOT NULL,
    earned               BIGINT NOT NULL DEFAULT 0,
    redeemed             BIGINT NOT NULL DEFAULT 0,
    original_register_id BIGINT,
    original_seq         BIGINT,
    PRIMARY KEY (register_id, seq),
    FOREIGN KEY (register_id, seq) REFERENCES records (register_id, seq)
);
CREATE INDEX ledger_by_customer ON ledger (customer_id);

-- Records that arrived at a stored seq with other bytes: a fork. Kept for
-- investigation, never dropped.
CREATE TABLE quarantine (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    register_id BIGINT NOT NULL REFERENCES registers (id),
    seq         BIGINT NOT NULL,
    hash        BYTEA NOT NULL,
    body        BYTEA NOT NULL,
    signature   BYTEA NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    UNIQUE (register_id, seq, hash)
);
CREATE INDEX quarantine_by_register ON quarantine (register_id);

CREATE TABLE alerts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id BIGINT NOT NULL REFERENCES merchants (id),
    register_id BIGINT NOT NULL REFERENCES registers (id),
    kind        TEXT NOT NULL CHECK (kind IN (
                    'fork', 'chain_broken', 'bad_signature',
                    'revoked_register_upload', 'clock_drift', 'price_mismatch')),
    seq         BIGINT,
    detail      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX alerts_by_merchant ON alerts (merchant_id, id);
-- For the quiet period: the newest alert of a kind for a register.
CREATE INDEX alerts_by_register ON alerts (register_id, kind, id);

-- Signed-in HQ browsers; only the hash of the cookie's session id is kept.
CREATE TABLE admin_sessions (
    id_hash         BYTEA PRIMARY KEY,
    csrf_token      TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at_unix BIGINT NOT NULL
);
CREATE INDEX admin_sessions_by_expiry ON admin_sessions (expires_at_unix);

-- Each customer's current personal page link; a new link replaces the old.
CREATE TABLE customer_links (
    customer_id BIGINT PRIMARY KEY REFERENCES customers (id),
    secret_hash BYTEA NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL
);

-- One review per customer per offer; writing again replaces it.
CREATE TABLE offer_reviews (
    customer_id  BIGINT NOT NULL REFERENCES customers (id),
    merchant_id  BIGINT NOT NULL REFERENCES merchants (id),
    promotion_id TEXT NOT NULL,
    rating       BIGINT NOT NULL CHECK (rating BETWEEN 1 AND 5),
    body         TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (customer_id, promotion_id)
);
CREATE INDEX offer_reviews_by_merchant ON offer_reviews (merchant_id, promotion_id);

-- How far the re-pricer got, by records.id. Candidates are found by the
-- missing outcome, not by this cursor: ids are handed out in insert order,
-- which is not the order transactions on several connections commit in.
CREATE TABLE reprice_cursor (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    last_record BIGINT NOT NULL
);
INSERT INTO reprice_cursor (id, last_record) VALUES (1, 0);

-- One outcome per stored record.
CREATE TABLE reprice_results (
    register_id BIGINT NOT NULL,
    seq         BIGINT NOT NULL,
    merchant_id BIGINT NOT NULL REFERENCES merchants (id),
    outcome     TEXT NOT NULL CHECK (outcome IN ('matched', 'mismatched', 'skipped')),
    reason      TEXT,
    checked_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (register_id, seq),
    FOREIGN KEY (register_id, seq) REFERENCES records (register_id, seq)
);
CREATE INDEX reprice_results_by_merchant ON reprice_results (merchant_id, outcome);

-- Each field where the till's record and the server's pricing differ.
CREATE TABLE price_mismatches (
    register_id BIGINT NOT NULL,
    seq         BIGINT NOT NULL,
    field       TEXT NOT NULL,
    till        BIGINT NOT NULL,
    server      BIGINT NOT NULL,
    PRIMARY KEY (register_id, seq, field),
    FOREIGN KEY (register_id, seq) REFERENCES reprice_results (register_id, seq)
);

-- Returns the re-pricer has seen, by their original.
CREATE TABLE reprice_returns (
    original_register_id BIGINT NOT NULL,
    original_seq         BIGINT NOT NULL,
    register_id          BIGINT NOT NULL,
    seq                  BIGINT NOT NULL,
    PRIMARY KEY (original_register_id, original_seq, register_id, seq)
);

-- Sales that gave the birthday bonus, with the store-local date.
CREATE TABLE birthday_bonuses (
    register_id BIGINT NOT NULL,
    seq         BIGINT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    local_date  DATE NOT NULL,
    PRIMARY KEY (register_id, seq),
    FOREIGN KEY (register_id, seq) REFERENCES records (register_id, seq)
);
CREATE INDEX birthday_bonuses_by_customer ON birthday_bonuses (customer_id, local_date);
