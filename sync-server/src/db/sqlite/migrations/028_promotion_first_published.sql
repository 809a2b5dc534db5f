-- When each promotion id first appeared in a published ruleset: where its
-- uplift window starts when the promotion sets no start of its own.
CREATE TABLE promotion_first_published (
    merchant_id  INTEGER NOT NULL REFERENCES merchants (id),
    promotion_id TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    published_at TEXT    NOT NULL,
    PRIMARY KEY (merchant_id, promotion_id)
) WITHOUT ROWID;

-- The releases stored before: the lowest version of each id wins.
INSERT OR IGNORE INTO promotion_first_published (merchant_id, promotion_id, version, published_at)
SELECT r.merchant_id, json_extract(p.value, '$.id'), r.version, r.effective_from
FROM ruleset_releases r, json_each(r.ruleset, '$.promotions') p
WHERE json_extract(p.value, '$.id') IS NOT NULL
ORDER BY r.merchant_id, r.version;
