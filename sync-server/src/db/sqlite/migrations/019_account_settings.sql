-- A person's own settings (issue 12): an optional second factor, a TOTP
-- secret (RFC 6238, SHA-1, 6 digits, 30 s) asked for at sign-in once its
-- first code was accepted, and the pages' language they chose.
CREATE TABLE account_settings (
    account_id        INTEGER PRIMARY KEY REFERENCES accounts (id),
    totp_secret       TEXT,
    totp_last_step INTEGER,
    language          TEXT
);
