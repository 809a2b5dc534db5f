-- When each promotion id first appeared in a published ruleset: where its
-- uplift window starts when the promotion sets no start of its own.
CREATE TABLE promotion_first_published (
    merchant_id  BIGINT      NOT NULL REFERENCES merchants (id),
    promotion_id TEXT        NOT NULL,
    version      BIGINT      NOT NULL,
    published_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (merchant_id, promotion_id)
);

-- The releases stored before: the lowest version of each id.
INSERT INTO promotion_first_published (merchant_id, promotion_id, version, published_at)
SELECT DISTINCT ON (r.merchant_id, p ->> 'id') r.merchant_id, p ->> 'id', r.version, r.effective_from
FROM ruleset_releases r, jsonb_array_elements(r.ruleset::jsonb -> 'promotions') p
WHERE p ->> 'id' IS NOT NULL
ORDER BY r.merchant_id, p ->> 'id', r.version;
