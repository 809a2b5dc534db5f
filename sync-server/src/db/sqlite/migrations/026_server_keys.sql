-- The server's signing keys and their endorsements (see `crate::keys`),
-- in chain order. Row 0 is the first signing key, which nothing endorses;
-- every later row is an endorsement registers verify from a key they
-- already trust: a new signing key (`rotate`) or the recovery key
-- (`recovery`). `public_key` is the key the row makes valid (base64),
-- `endorsement` the signed statement as JSON (NULL for row 0).
CREATE TABLE server_keys (
    seq         INTEGER PRIMARY KEY CHECK (seq >= 0),
    kind        TEXT    NOT NULL CHECK (kind IN ('first', 'rotate', 'recovery')),
    public_key  TEXT    NOT NULL,
    endorsement TEXT,
    created_at  TEXT    NOT NULL,
    CHECK ((seq = 0) = (kind = 'first')),
    CHECK ((kind = 'first') = (endorsement IS NULL))
);
