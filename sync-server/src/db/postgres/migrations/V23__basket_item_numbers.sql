-- Basket rows keyed by numbers: a sale adds some thirty of them, and text
-- keys (SKUs, months, promotion ids) made each upsert compare and store
-- long strings. Items (products by SKU, categories, promotions as scopes)
-- are numbered in rollup_basket_items on first sight; rows hold the
-- numbers (0: none, and scope 0 is every check) and months as YYYYMM.
-- Basket rows are derived: they are dropped here and every stored sale is
-- queued to be added again by the background pass (unless a backfill
-- marker is still set, whose backfill adds them at start-up).
DROP TABLE rollup_basket_months;
DROP TABLE rollup_basket_store_months;
DROP TABLE rollup_basket_marks;

CREATE TABLE rollup_basket_items (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id BIGINT NOT NULL,
    -- 0 product (code: SKU; name: the last seen), 1 category, 2 promotion.
    kind        BIGINT NOT NULL,
    code        TEXT NOT NULL,
    name        TEXT NOT NULL,
    UNIQUE (merchant_id, kind, code)
);

-- Kinds: 0 product pairs (a, b in their codes' order), 1 category pairs,
-- 2 products (a), 3 categories (a), 4 checks.
CREATE TABLE rollup_basket_months (
    merchant_id BIGINT NOT NULL,
    scope       BIGINT NOT NULL,
    kind        BIGINT NOT NULL,
    a           BIGINT NOT NULL,
    b           BIGINT NOT NULL,
    month       BIGINT NOT NULL,
    checks      BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, scope, kind, a, b, month)
);
CREATE INDEX rollup_basket_months_by_b ON rollup_basket_months (merchant_id, scope, kind, b)
    WHERE kind < 2;

CREATE TABLE rollup_basket_store_months (
    merchant_id BIGINT NOT NULL,
    scope       BIGINT NOT NULL,
    kind        BIGINT NOT NULL,
    store_id    BIGINT NOT NULL,
    a           BIGINT NOT NULL,
    b           BIGINT NOT NULL,
    month       BIGINT NOT NULL,
    checks      BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, scope, kind, store_id, a, b, month)
);
CREATE INDEX rollup_basket_store_months_by_b
    ON rollup_basket_store_months (merchant_id, scope, kind, store_id, b)
    WHERE kind < 2;

-- A pair row's count reached 2^level in its month (store_id 0: the
-- chain's row).
CREATE TABLE rollup_basket_marks (
    merchant_id BIGINT NOT NULL,
    scope       BIGINT NOT NULL,
    kind        BIGINT NOT NULL,
    level       BIGINT NOT NULL,
    month       BIGINT NOT NULL,
    store_id    BIGINT NOT NULL,
    a           BIGINT NOT NULL,
    b           BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, scope, kind, level, month, store_id, a, b)
);

DELETE FROM rollup_basket_queue;
INSERT INTO rollup_basket_queue (register_id, seq)
    SELECT register_id, seq FROM records
    WHERE kind = 'sale'
        AND NOT EXISTS (SELECT 1 FROM rollup_backfill)
        AND NOT EXISTS (SELECT 1 FROM rollup_basket_backfill)
    ORDER BY id;
