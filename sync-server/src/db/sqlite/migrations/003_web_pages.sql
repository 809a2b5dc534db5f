-- The browser pages: HQ sessions, customers' personal links and offer
-- reviews. Secrets are stored only as SHA-256 hashes.

-- Signed-in HQ browsers. The cookie carries the session id; only its hash is
-- kept. Expiry is Unix seconds so expired rows are found with one compare.
CREATE TABLE admin_sessions (
    id_hash         BLOB PRIMARY KEY,
    csrf_token      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    expires_at_unix INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX admin_sessions_by_expiry ON admin_sessions (expires_at_unix);

-- Each customer's current personal page link (`/c/<secret>`); a new link
-- replaces the old one.
CREATE TABLE customer_links (
    customer_id INTEGER PRIMARY KEY REFERENCES customers (id),
    secret_hash BLOB NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

-- One review per customer per offer; writing again replaces it.
CREATE TABLE offer_reviews (
    customer_id  INTEGER NOT NULL REFERENCES customers (id),
    merchant_id  INTEGER NOT NULL REFERENCES merchants (id),
    promotion_id TEXT NOT NULL,
    rating       INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    body         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (customer_id, promotion_id)
) WITHOUT ROWID;
CREATE INDEX offer_reviews_by_merchant ON offer_reviews (merchant_id, promotion_id);
