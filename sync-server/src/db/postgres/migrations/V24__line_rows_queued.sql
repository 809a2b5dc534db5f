-- A queued record's product rows are added with its basket rows, off the
-- ingest transaction (services::analytics::basket_queue): `products` is
-- TRUE for records queued from now on. The rows queued before this
-- migration had their product rows added at ingest (FALSE: their baskets
-- alone). Returns are queued too, for the product rows they take back.
ALTER TABLE rollup_basket_queue ADD COLUMN products BOOLEAN NOT NULL DEFAULT FALSE;
