-- Basket analysis: which products and categories are bought together,
-- kept at ingest like the other rollups. One row counts sales checks in a
-- month of local days ('YYYY-MM'), in a scope ('' every check, else the id
-- of a promotion that applied to the check), of a kind: 0 product pairs
-- (a < b, SKUs), 1 category pairs, 2 products (a; name), 3 categories (a),
-- 4 checks (a = b = ''). The analytics service decides what a check adds
-- (distinct items, capped, returns leave baskets alone); these tables only add.

-- Chain-wide months.
CREATE TABLE rollup_basket_months (
    merchant_id BIGINT NOT NULL,
    scope       TEXT NOT NULL,
    kind        BIGINT NOT NULL,
    a           TEXT NOT NULL,
    b           TEXT NOT NULL,
    month       TEXT NOT NULL,
    name        TEXT NOT NULL,
    checks      BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, scope, kind, a, b, month)
);
-- A product's pairs where it is the second item.
CREATE INDEX rollup_basket_months_by_b ON rollup_basket_months (merchant_id, scope, kind, b)
    WHERE kind < 2;

-- Per store and month.
CREATE TABLE rollup_basket_store_months (
    merchant_id BIGINT NOT NULL,
    scope       TEXT NOT NULL,
    kind        BIGINT NOT NULL,
    store_id    BIGINT NOT NULL,
    a           TEXT NOT NULL,
    b           TEXT NOT NULL,
    month       TEXT NOT NULL,
    name        TEXT NOT NULL,
    checks      BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, scope, kind, store_id, a, b, month)
);
CREATE INDEX rollup_basket_store_months_by_b
    ON rollup_basket_store_months (merchant_id, scope, kind, store_id, b)
    WHERE kind < 2;

-- A pair row's count reached 2^level in its month (store_id 0: the
-- chain's row). A view that wants pairs with at least N checks over P
-- month rows reads only the pairs marked at the level of ceil(N / P): a
-- pair below it in every month has fewer than N in all.
CREATE TABLE rollup_basket_marks (
    merchant_id BIGINT NOT NULL,
    scope       TEXT NOT NULL,
    kind        BIGINT NOT NULL,
    level       BIGINT NOT NULL,
    month       TEXT NOT NULL,
    store_id    BIGINT NOT NULL,
    a           TEXT NOT NULL,
    b           TEXT NOT NULL,
    PRIMARY KEY (merchant_id, scope, kind, level, month, store_id, a, b)
);

-- Records already stored are added to these tables alone once at
-- start-up (the other rollups have them): the server removes this row in
-- the same transaction.
CREATE TABLE rollup_basket_backfill (pending BIGINT PRIMARY KEY);
INSERT INTO rollup_basket_backfill (pending) SELECT 1 WHERE EXISTS (SELECT 1 FROM records);
