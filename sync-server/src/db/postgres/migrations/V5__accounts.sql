-- People and keys instead of one admin token (issue 12); see the SQLite
-- migration 012 for the meaning of each column. Times are Unix seconds.

CREATE TABLE accounts (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id     BIGINT NOT NULL REFERENCES merchants (id),
    email           TEXT NOT NULL UNIQUE,
    role            TEXT NOT NULL,
    password_hash   TEXT,
    created_at_unix BIGINT NOT NULL,
    disabled_at_unix BIGINT
);
CREATE INDEX accounts_by_merchant ON accounts (merchant_id, id);

CREATE TABLE account_stores (
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    store_id   BIGINT NOT NULL REFERENCES stores (id),
    PRIMARY KEY (account_id, store_id)
);

CREATE TABLE account_links (
    secret_hash     BYTEA PRIMARY KEY,
    account_id      BIGINT NOT NULL REFERENCES accounts (id),
    purpose         TEXT NOT NULL,
    expires_at_unix BIGINT NOT NULL,
    used            BOOLEAN NOT NULL DEFAULT FALSE
);

ALTER TABLE admin_sessions ADD COLUMN account_id BIGINT REFERENCES accounts (id);
ALTER TABLE admin_sessions ADD COLUMN public_id TEXT;
ALTER TABLE admin_sessions ADD COLUMN created_at_unix BIGINT NOT NULL DEFAULT 0;
CREATE INDEX admin_sessions_by_account ON admin_sessions (account_id);

CREATE TABLE api_keys (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id       BIGINT NOT NULL REFERENCES merchants (id),
    name              TEXT NOT NULL,
    role              TEXT NOT NULL,
    secret_hash       BYTEA NOT NULL UNIQUE,
    created_at_unix   BIGINT NOT NULL,
    last_used_at_unix BIGINT,
    revoked_at_unix   BIGINT
);
CREATE INDEX api_keys_by_merchant ON api_keys (merchant_id, id);

CREATE TABLE audit_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id BIGINT REFERENCES merchants (id),
    at_unix     BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    before      TEXT NOT NULL,
    after       TEXT NOT NULL
);
CREATE INDEX audit_log_by_merchant ON audit_log (merchant_id, id);
