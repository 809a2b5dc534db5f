-- A person's own settings (issue 12; SQLite 019).
CREATE TABLE account_settings (
    account_id        BIGINT PRIMARY KEY REFERENCES accounts (id),
    totp_secret       TEXT,
    totp_last_step BIGINT,
    language          TEXT
);
