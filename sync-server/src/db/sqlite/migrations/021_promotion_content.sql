-- Promotions' content (issue 11), kept on the server only: pictures and
-- posters, checked and re-encoded, stored once by the SHA-256 of their
-- bytes with a thumbnail; and per promotion its picture, poster, rich
-- description (Markdown) and publication period on the phones, apart
-- from the pricing period the ruleset holds.
CREATE TABLE media (
    hash             BLOB PRIMARY KEY,
    content_type     TEXT NOT NULL,
    bytes            BLOB NOT NULL,
    width            INTEGER NOT NULL,
    height           INTEGER NOT NULL,
    thumbnail        BLOB NOT NULL,
    thumbnail_width  INTEGER NOT NULL,
    thumbnail_height INTEGER NOT NULL,
    created_at       TEXT NOT NULL
);

CREATE TABLE promotion_content (
    merchant_id  INTEGER NOT NULL REFERENCES merchants (id),
    promotion_id TEXT NOT NULL,
    picture      BLOB REFERENCES media (hash),
    poster       BLOB REFERENCES media (hash),
    description  TEXT NOT NULL,
    shown_from   TEXT,
    shown_until  TEXT,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (merchant_id, promotion_id)
);
