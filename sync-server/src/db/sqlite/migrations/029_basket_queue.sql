-- Sales whose basket rows are still to be added. Ingest queues each new
-- sale here in the records' own transaction; a background pass
-- (services::analytics::basket_queue) adds their rows in large merged
-- batches and removes them in the same transaction, so each sale is added
-- once, and the ingest transaction does not pay for the pair rows.
CREATE TABLE rollup_basket_queue (
    id          INTEGER PRIMARY KEY,
    register_id INTEGER NOT NULL,
    seq         INTEGER NOT NULL
);
