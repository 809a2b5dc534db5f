-- The stores an API key of the store-manager role looks after (issue 12):
-- a store's own automation acts on its store only.
CREATE TABLE api_key_stores (
    api_key_id INTEGER NOT NULL REFERENCES api_keys (id),
    store_id   INTEGER NOT NULL REFERENCES stores (id),
    PRIMARY KEY (api_key_id, store_id)
) WITHOUT ROWID;
