-- A queued record's product rows are added with its basket rows, off the
-- ingest transaction (services::analytics::basket_queue): `products` is 1
-- for records queued from now on. The rows queued before this migration
-- had their product rows added at ingest (0: their baskets alone). Returns
-- are queued too, for the product rows they take back.
ALTER TABLE rollup_basket_queue ADD COLUMN products INTEGER NOT NULL DEFAULT 0;
