-- Drafts of promotions (issue 11: draft → what-if → publish).
--
-- A draft is a promotion a merchant saved without publishing it: it never
-- reaches a till. The what-if replays it against stored sales; publishing
-- goes through the publish service, now or at `publish_at`, when the
-- background task claims it (`status` 'scheduled' → 'publishing') and
-- notes the outcome ('published' with the version, or 'failed' with the
-- reason). The promotion is its JSON as `shared::ruleset::Promotion`
-- writes it; the service parses it again on the way out.
CREATE TABLE promotion_drafts (
    id                INTEGER PRIMARY KEY,
    merchant_id       INTEGER NOT NULL REFERENCES merchants (id),
    promotion_id      TEXT    NOT NULL,
    promotion         TEXT    NOT NULL,
    created_by        TEXT    NOT NULL,
    created_at        TEXT    NOT NULL,
    status            TEXT    NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'scheduled', 'publishing', 'published', 'failed')),
    publish_at        TEXT,
    claimed_at        TEXT,
    published_version INTEGER,
    published_at      TEXT,
    failure           TEXT
);
CREATE INDEX promotion_drafts_by_merchant ON promotion_drafts (merchant_id, id);
CREATE INDEX promotion_drafts_due ON promotion_drafts (status, publish_at);
