-- A customer's standing is computed on every change page a till fetches:
-- their spend, sales, promotion uses and the tier window's spend summed
-- over their records, and their points ledger replayed with each entry's
-- record (its order, time and ruleset). Both went from an index to the
-- records' rows, a signed body of a kilobyte or more each, so a page of
-- a hundred changed customers read thousands of pages. These indexes
-- hold what those reads need, so they are answered from the index alone.
CREATE INDEX records_by_customer_totals
    ON records (customer_id, kind, spend, wall_time, register_id, seq)
    WHERE customer_id IS NOT NULL;
DROP INDEX records_by_customer;
CREATE INDEX records_for_ledger
    ON records (register_id, seq, wall_time, merchant_id, ruleset_version);
