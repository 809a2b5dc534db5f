-- People and keys instead of one admin token (issue 12): accounts of a
-- merchant with a role, one-time links (invitations and password resets),
-- HQ sessions tied to an account, API keys for automation, and the audit
-- trail. Secrets are stored only as SHA-256 hashes, passwords only as
-- argon2id PHC strings. Times are Unix seconds.

CREATE TABLE accounts (
    id              INTEGER PRIMARY KEY,
    merchant_id     INTEGER NOT NULL REFERENCES merchants (id),
    -- Lower-cased; one account per address.
    email           TEXT NOT NULL UNIQUE,
    role            TEXT NOT NULL,
    -- NULL until the invitation is accepted.
    password_hash   TEXT,
    created_at_unix INTEGER NOT NULL,
    -- Set when an owner took their access away; they sign in no more.
    disabled_at_unix INTEGER
);
CREATE INDEX accounts_by_merchant ON accounts (merchant_id, id);

-- The stores a store manager looks after.
CREATE TABLE account_stores (
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    store_id   INTEGER NOT NULL REFERENCES stores (id),
    PRIMARY KEY (account_id, store_id)
) WITHOUT ROWID;

-- One-time links: an invitation or a password reset.
CREATE TABLE account_links (
    secret_hash     BLOB PRIMARY KEY,
    account_id      INTEGER NOT NULL REFERENCES accounts (id),
    purpose         TEXT NOT NULL,
    expires_at_unix INTEGER NOT NULL,
    used            INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- A session opened by a person names them (NULL: the admin token's); its
-- public id names it on the account page without revealing the cookie.
ALTER TABLE admin_sessions ADD COLUMN account_id INTEGER REFERENCES accounts (id);
ALTER TABLE admin_sessions ADD COLUMN public_id TEXT;
ALTER TABLE admin_sessions ADD COLUMN created_at_unix INTEGER NOT NULL DEFAULT 0;
CREATE INDEX admin_sessions_by_account ON admin_sessions (account_id);

CREATE TABLE api_keys (
    id                INTEGER PRIMARY KEY,
    merchant_id       INTEGER NOT NULL REFERENCES merchants (id),
    name              TEXT NOT NULL,
    role              TEXT NOT NULL,
    secret_hash       BLOB NOT NULL UNIQUE,
    created_at_unix   INTEGER NOT NULL,
    last_used_at_unix INTEGER,
    revoked_at_unix   INTEGER
);
CREATE INDEX api_keys_by_merchant ON api_keys (merchant_id, id);

-- Who did what, in the order it was written (id), with before and after.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    merchant_id INTEGER REFERENCES merchants (id),
    at_unix     INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    before      TEXT NOT NULL,
    after       TEXT NOT NULL
);
CREATE INDEX audit_log_by_merchant ON audit_log (merchant_id, id);
