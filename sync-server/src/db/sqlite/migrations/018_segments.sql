-- Customer segments that feed back into promotions (issue 13).
--
-- A saved segment is a merchant's named filter over customers' activity
-- (its JSON is the segments service's). Every day the service computes who
-- is in each saved segment and in which RFM segment, and keeps the result
-- as tags (`seg:<code>`, `rfm:<segment>`) that the registers' customer
-- feed carries to the tills, where a promotion's condition on tags
-- prices with them offline. A customer whose tags change is marked
-- changed (customers.change_cursor), so tills fetch them again.
CREATE TABLE segments (
    merchant_id INTEGER NOT NULL REFERENCES merchants (id),
    code        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    filter      TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (merchant_id, code)
) WITHOUT ROWID;

CREATE TABLE customer_tags (
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    tag         TEXT    NOT NULL,
    PRIMARY KEY (customer_id, tag)
) WITHOUT ROWID;

-- The day each merchant's tags were last computed as of.
CREATE TABLE segment_refreshes (
    merchant_id INTEGER PRIMARY KEY REFERENCES merchants (id),
    as_of       TEXT    NOT NULL,
    at          TEXT    NOT NULL
);
CREATE INDEX customer_tags_by_tag ON customer_tags (tag, customer_id);
