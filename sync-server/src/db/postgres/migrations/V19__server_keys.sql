-- The server's signing keys and their endorsements, in chain order (see
-- the SQLite migration 026).
CREATE TABLE server_keys (
    seq         BIGINT      PRIMARY KEY CHECK (seq >= 0),
    kind        TEXT        NOT NULL CHECK (kind IN ('first', 'rotate', 'recovery')),
    public_key  TEXT        NOT NULL,
    endorsement TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    CHECK ((seq = 0) = (kind = 'first')),
    CHECK ((kind = 'first') = (endorsement IS NULL))
);
