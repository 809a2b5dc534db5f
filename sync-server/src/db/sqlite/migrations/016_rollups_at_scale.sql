-- Rollups that a chain's year answers from: store days beside the hours,
-- products and promotions by month (chain-wide and per store) beside their
-- days, and each customer's visits in one row, so that a view reads a few
-- thousand rows for a period, or one row per customer, however many records
-- there are. A period is read as its whole months plus the days at its
-- edges. The rows are rebuilt from the stored records at the next start-up
-- (the backfill marker), so nothing is converted here.

DELETE FROM rollup_store_hours;
DELETE FROM rollup_promotion_hours;
DELETE FROM rollup_promotion_customers;
DROP TABLE rollup_product_days;
DROP TABLE rollup_customer_days;

-- Per store and local day (the hours, summed).
CREATE TABLE rollup_store_days (
    merchant_id   INTEGER NOT NULL,
    local_day     TEXT NOT NULL,
    store_id      INTEGER NOT NULL,
    checks        INTEGER NOT NULL,
    returns       INTEGER NOT NULL,
    sales         INTEGER NOT NULL,
    refunds       INTEGER NOT NULL,
    discount      INTEGER NOT NULL,
    items_milli   INTEGER NOT NULL,
    points_earned INTEGER NOT NULL,
    points_spent  INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, local_day, store_id)
) WITHOUT ROWID;

-- Products (with the category their lines named): per day and per month
-- ('YYYY-MM'), chain-wide and per store.
CREATE TABLE rollup_product_days (
    merchant_id INTEGER NOT NULL,
    local_day   TEXT NOT NULL,
    sku         TEXT NOT NULL,
    category    TEXT NOT NULL,
    name        TEXT NOT NULL,
    checks      INTEGER NOT NULL,
    items_milli INTEGER NOT NULL,
    revenue     INTEGER NOT NULL,
    discount    INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, local_day, sku, category)
) WITHOUT ROWID;
CREATE TABLE rollup_product_store_days (
    merchant_id INTEGER NOT NULL,
    store_id    INTEGER NOT NULL,
    local_day   TEXT NOT NULL,
    sku         TEXT NOT NULL,
    category    TEXT NOT NULL,
    name        TEXT NOT NULL,
    checks      INTEGER NOT NULL,
    items_milli INTEGER NOT NULL,
    revenue     INTEGER NOT NULL,
    discount    INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, store_id, local_day, sku, category)
) WITHOUT ROWID;
CREATE TABLE rollup_product_months (
    merchant_id INTEGER NOT NULL,
    month       TEXT NOT NULL,
    sku         TEXT NOT NULL,
    category    TEXT NOT NULL,
    name        TEXT NOT NULL,
    checks      INTEGER NOT NULL,
    items_milli INTEGER NOT NULL,
    revenue     INTEGER NOT NULL,
    discount    INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, month, sku, category)
) WITHOUT ROWID;
CREATE TABLE rollup_product_store_months (
    merchant_id INTEGER NOT NULL,
    store_id    INTEGER NOT NULL,
    month       TEXT NOT NULL,
    sku         TEXT NOT NULL,
    category    TEXT NOT NULL,
    name        TEXT NOT NULL,
    checks      INTEGER NOT NULL,
    items_milli INTEGER NOT NULL,
    revenue     INTEGER NOT NULL,
    discount    INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, store_id, month, sku, category)
) WITHOUT ROWID;

-- Promotions per store and day, and per store and month.
CREATE TABLE rollup_promotion_days (
    merchant_id  INTEGER NOT NULL,
    promotion_id TEXT NOT NULL,
    local_day    TEXT NOT NULL,
    store_id     INTEGER NOT NULL,
    checks       INTEGER NOT NULL,
    discount     INTEGER NOT NULL,
    sales        INTEGER NOT NULL,
    items_milli  INTEGER NOT NULL,
    funded_by    TEXT,
    PRIMARY KEY (merchant_id, promotion_id, local_day, store_id)
) WITHOUT ROWID;
CREATE INDEX rollup_promotion_days_by_day ON rollup_promotion_days (merchant_id, local_day);
CREATE TABLE rollup_promotion_months (
    merchant_id  INTEGER NOT NULL,
    month        TEXT NOT NULL,
    promotion_id TEXT NOT NULL,
    store_id     INTEGER NOT NULL,
    checks       INTEGER NOT NULL,
    discount     INTEGER NOT NULL,
    sales        INTEGER NOT NULL,
    items_milli  INTEGER NOT NULL,
    funded_by    TEXT,
    PRIMARY KEY (merchant_id, month, promotion_id, store_id)
) WITHOUT ROWID;

-- Each identified customer's visits: one row per customer, its days (with
-- the store, the sales checks and the net revenue of each) packed by the
-- analytics service. A rowid table, so a long history stays in its row,
-- read in one pass in customer order.
CREATE TABLE rollup_customer_visits (
    customer_id INTEGER PRIMARY KEY,
    merchant_id INTEGER NOT NULL,
    visits      BLOB NOT NULL
);

INSERT OR IGNORE INTO rollup_backfill (pending) SELECT 1 WHERE EXISTS (SELECT 1 FROM records);
