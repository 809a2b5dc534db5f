-- Drafts of promotions (issue 11; SQLite 022, which explains the table).
CREATE TABLE promotion_drafts (
    id                BIGSERIAL   PRIMARY KEY,
    merchant_id       BIGINT      NOT NULL REFERENCES merchants (id),
    promotion_id      TEXT        NOT NULL,
    promotion         TEXT        NOT NULL,
    created_by        TEXT        NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    status            TEXT        NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'scheduled', 'publishing', 'published', 'failed')),
    publish_at        TIMESTAMPTZ,
    claimed_at        TIMESTAMPTZ,
    published_version BIGINT,
    published_at      TIMESTAMPTZ,
    failure           TEXT
);
CREATE INDEX promotion_drafts_by_merchant ON promotion_drafts (merchant_id, id);
CREATE INDEX promotion_drafts_due ON promotion_drafts (status, publish_at);
-- The what-if reads a merchant's sales in the server's order, a batch
-- after a cursor; SQLite's index on merchant_id carries the rowid already.
CREATE INDEX records_by_merchant_and_id ON records (merchant_id, id);
