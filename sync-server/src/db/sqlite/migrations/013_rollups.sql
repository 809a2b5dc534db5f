-- Rollups kept at ingest, in the record's own transaction, so the
-- statistics are sums over a few rows instead of every record. Days and
-- hours are the store's local ones ('YYYY-MM-DD', 0..23); money is
-- kopecks, items are quantity thousandths. A return is netted on its own
-- day. The ingest service decides every figure; these tables only add.

-- Per store and local hour.
CREATE TABLE rollup_store_hours (
    merchant_id   INTEGER NOT NULL,
    local_day     TEXT NOT NULL,
    store_id      INTEGER NOT NULL,
    hour          INTEGER NOT NULL,
    checks        INTEGER NOT NULL,
    returns       INTEGER NOT NULL,
    sales         INTEGER NOT NULL,
    refunds       INTEGER NOT NULL,
    discount      INTEGER NOT NULL,
    items_milli   INTEGER NOT NULL,
    points_earned INTEGER NOT NULL,
    points_spent  INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, local_day, store_id, hour)
) WITHOUT ROWID;

-- Per product (and the category its lines named) and local day, per store.
CREATE TABLE rollup_product_days (
    merchant_id INTEGER NOT NULL,
    local_day   TEXT NOT NULL,
    store_id    INTEGER NOT NULL,
    sku         TEXT NOT NULL,
    category    TEXT NOT NULL,
    name        TEXT NOT NULL,
    checks      INTEGER NOT NULL,
    items_milli INTEGER NOT NULL,
    revenue     INTEGER NOT NULL,
    discount    INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, local_day, store_id, sku, category)
) WITHOUT ROWID;

-- Per identified customer, local day and store.
CREATE TABLE rollup_customer_days (
    merchant_id INTEGER NOT NULL,
    customer_id INTEGER NOT NULL,
    local_day   TEXT NOT NULL,
    store_id    INTEGER NOT NULL,
    checks      INTEGER NOT NULL,
    revenue     INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, customer_id, local_day, store_id)
) WITHOUT ROWID;
CREATE INDEX rollup_customer_days_by_day ON rollup_customer_days (merchant_id, local_day);

-- Per promotion, store and local hour: its uses, the discount it gave,
-- and the baskets it was in.
CREATE TABLE rollup_promotion_hours (
    merchant_id  INTEGER NOT NULL,
    promotion_id TEXT NOT NULL,
    local_day    TEXT NOT NULL,
    store_id     INTEGER NOT NULL,
    hour         INTEGER NOT NULL,
    checks       INTEGER NOT NULL,
    discount     INTEGER NOT NULL,
    sales        INTEGER NOT NULL,
    items_milli  INTEGER NOT NULL,
    funded_by    TEXT,
    PRIMARY KEY (merchant_id, promotion_id, local_day, store_id, hour)
) WITHOUT ROWID;

-- Which identified customers took a promotion, on which local day, where.
CREATE TABLE rollup_promotion_customers (
    merchant_id  INTEGER NOT NULL,
    promotion_id TEXT NOT NULL,
    customer_id  INTEGER NOT NULL,
    local_day    TEXT NOT NULL,
    store_id     INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, promotion_id, customer_id, local_day, store_id)
) WITHOUT ROWID;

-- Records stored before the rollups existed are added once at start-up
-- (the store's zone is needed, which SQL does not know); the server
-- removes this row in the same transaction.
CREATE TABLE rollup_backfill (pending INTEGER PRIMARY KEY);
INSERT INTO rollup_backfill (pending) SELECT 1 WHERE EXISTS (SELECT 1 FROM records);
