-- Promotions' content (issue 11; SQLite 021): pictures stored once by the
-- SHA-256 of their bytes, in the database so that backups and every
-- instance on it have them; per promotion its picture, poster, rich
-- description and publication period on the phones.
CREATE TABLE media (
    hash             BYTEA PRIMARY KEY,
    content_type     TEXT NOT NULL,
    bytes            BYTEA NOT NULL,
    width            BIGINT NOT NULL,
    height           BIGINT NOT NULL,
    thumbnail        BYTEA NOT NULL,
    thumbnail_width  BIGINT NOT NULL,
    thumbnail_height BIGINT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE promotion_content (
    merchant_id  BIGINT NOT NULL REFERENCES merchants (id),
    promotion_id TEXT NOT NULL,
    picture      BYTEA REFERENCES media (hash),
    poster       BYTEA REFERENCES media (hash),
    description  TEXT NOT NULL,
    shown_from   TIMESTAMPTZ,
    shown_until  TIMESTAMPTZ,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (merchant_id, promotion_id)
);
