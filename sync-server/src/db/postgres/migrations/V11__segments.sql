-- Customer segments that feed back into promotions (issue 13; SQLite 018,
-- which explains the tables).
CREATE TABLE segments (
    merchant_id BIGINT      NOT NULL REFERENCES merchants (id),
    code        TEXT        NOT NULL,
    name        TEXT        NOT NULL,
    filter      TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (merchant_id, code)
);

CREATE TABLE customer_tags (
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    tag         TEXT   NOT NULL,
    PRIMARY KEY (customer_id, tag)
);
CREATE INDEX customer_tags_by_tag ON customer_tags (tag, customer_id);

CREATE TABLE segment_refreshes (
    merchant_id BIGINT      PRIMARY KEY REFERENCES merchants (id),
    as_of       DATE        NOT NULL,
    at          TIMESTAMPTZ NOT NULL
);
