-- The initial schema. Money is integer kopecks, hashes and keys are raw
-- bytes, times are RFC 3339 text in UTC.

CREATE TABLE merchants (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    currency        TEXT NOT NULL,
    -- The last customer change cursor handed out; see customers.change_cursor.
    customer_cursor INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE brands (
    id          INTEGER PRIMARY KEY,
    merchant_id INTEGER NOT NULL REFERENCES merchants (id),
    name        TEXT NOT NULL
);

CREATE TABLE stores (
    id          INTEGER PRIMARY KEY,
    merchant_id INTEGER NOT NULL REFERENCES merchants (id),
    brand_id    INTEGER REFERENCES brands (id),
    name        TEXT NOT NULL,
    timezone    TEXT NOT NULL
);
CREATE INDEX stores_by_merchant ON stores (merchant_id);

CREATE TABLE registers (
    id            INTEGER PRIMARY KEY,
    store_id      INTEGER NOT NULL REFERENCES stores (id),
    public_key    TEXT NOT NULL, -- base64
    secret_hash   BLOB NOT NULL,
    hostname      TEXT NOT NULL,
    agent_version TEXT NOT NULL,
    enrolled_at   TEXT NOT NULL,
    last_seen_at  TEXT,
    revoked_at    TEXT
);
CREATE INDEX registers_by_store ON registers (store_id);

CREATE TABLE enrollment_tokens (
    token_hash  BLOB PRIMARY KEY,
    store_id    INTEGER NOT NULL REFERENCES stores (id),
    expires_at  TEXT NOT NULL,
    register_id INTEGER REFERENCES registers (id)
) WITHOUT ROWID;

-- Immutable signed releases; version = previous + 1, assigned by the writer.
CREATE TABLE ruleset_releases (
    merchant_id    INTEGER NOT NULL REFERENCES merchants (id),
    version        INTEGER NOT NULL,
    effective_from TEXT NOT NULL,
    ruleset        TEXT NOT NULL,
    signed         TEXT NOT NULL,
    PRIMARY KEY (merchant_id, version)
) WITHOUT ROWID;

CREATE TABLE customers (
    id                 INTEGER PRIMARY KEY,
    merchant_id        INTEGER NOT NULL REFERENCES merchants (id),
    name               TEXT NOT NULL,
    phone              TEXT,
    email              TEXT,
    gender             TEXT NOT NULL,
    birth_date         TEXT,
    tokens_valid_after TEXT,
    -- Merchant-wide, bumped whenever the customer or its standing changes.
    change_cursor      INTEGER NOT NULL,
    UNIQUE (merchant_id, phone)
);
CREATE INDEX customers_by_cursor ON customers (merchant_id, change_cursor);

-- Every purchase record exactly once, keyed by (register, seq). `id` is the
-- server's insert order, for display only.
CREATE TABLE records (
    id              INTEGER PRIMARY KEY,
    register_id     INTEGER NOT NULL REFERENCES registers (id),
    seq             INTEGER NOT NULL,
    record_id       TEXT NOT NULL,
    merchant_id     INTEGER NOT NULL REFERENCES merchants (id),
    store_id        INTEGER NOT NULL REFERENCES stores (id),
    kind            TEXT NOT NULL CHECK (kind IN ('sale', 'return')),
    -- Set only when the customer is the merchant's.
    customer_id     INTEGER REFERENCES customers (id),
    wall_time       TEXT NOT NULL,
    subtotal        INTEGER NOT NULL,
    discount        INTEGER NOT NULL,
    total           INTEGER NOT NULL,
    points_earned   INTEGER NOT NULL,
    points_redeemed INTEGER NOT NULL,
    ruleset_version INTEGER,
    hash            BLOB NOT NULL,
    body            BLOB NOT NULL,
    signature       BLOB NOT NULL,
    received_at     TEXT NOT NULL,
    UNIQUE (register_id, seq)
);
CREATE INDEX records_by_merchant ON records (merchant_id);
CREATE INDEX records_by_customer ON records (customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX records_by_record_id ON records (record_id);

CREATE TABLE record_lines (
    register_id    INTEGER NOT NULL,
    seq            INTEGER NOT NULL,
    line_no        INTEGER NOT NULL,
    sku            TEXT NOT NULL,
    category       TEXT,
    quantity_milli INTEGER NOT NULL,
    amount         INTEGER NOT NULL,
    discount       INTEGER NOT NULL,
    total          INTEGER NOT NULL,
    PRIMARY KEY (register_id, seq, line_no),
    FOREIGN KEY (register_id, seq) REFERENCES records (register_id, seq)
) WITHOUT ROWID;

-- Each promotion's discount on a record, summed over its lines.
CREATE TABLE promotion_uses (
    register_id  INTEGER NOT NULL,
    seq          INTEGER NOT NULL,
    promotion_id TEXT NOT NULL,
    discount     INTEGER NOT NULL,
    funded_by    TEXT,
    PRIMARY KEY (register_id, seq, promotion_id),
    FOREIGN KEY (register_id, seq) REFERENCES records (register_id, seq)
) WITHOUT ROWID;

-- The points ledger: one entry per record of a known customer, keyed like
-- the record, so a replay can never count twice.
CREATE TABLE ledger (
    register_id INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    points      INTEGER NOT NULL,
    PRIMARY KEY (register_id, seq),
    FOREIGN KEY (register_id, seq) REFERENCES records (register_id, seq)
) WITHOUT ROWID;
CREATE INDEX ledger_by_customer ON ledger (customer_id);

-- Records that arrived at a stored seq with other bytes: a fork. Kept for
-- investigation, never dropped.
CREATE TABLE quarantine (
    id          INTEGER PRIMARY KEY,
    register_id INTEGER NOT NULL REFERENCES registers (id),
    seq         INTEGER NOT NULL,
    hash        BLOB NOT NULL,
    body        BLOB NOT NULL,
    signature   BLOB NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (register_id, seq, hash)
);
