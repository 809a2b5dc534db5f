-- What each record adds to its customer's spend, decided by the ingest
-- service when it stores the record (a sale adds its total, a return
-- takes its refund off); spend sums are then plain sums. Earlier records
-- are filled in by the rule ingest applied to them.
ALTER TABLE records ADD COLUMN spend INTEGER NOT NULL DEFAULT 0;
UPDATE records SET spend = CASE kind WHEN 'sale' THEN total ELSE -ABS(total) END;
