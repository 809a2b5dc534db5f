-- A customer's standing is computed on every change page a till fetches:
-- their spend, sales, promotion uses and the tier window's spend summed
-- over their records, and their points ledger replayed with each entry's
-- record (its order, time and ruleset). Both went from an index to the
-- records' rows; these indexes include what those reads need, so they
-- can be answered by index-only scans.
CREATE INDEX records_by_customer_totals
    ON records (customer_id) INCLUDE (kind, spend, wall_time, register_id, seq)
    WHERE customer_id IS NOT NULL;
DROP INDEX records_by_customer;
CREATE INDEX records_for_ledger
    ON records (register_id, seq) INCLUDE (id, wall_time, merchant_id, ruleset_version);
