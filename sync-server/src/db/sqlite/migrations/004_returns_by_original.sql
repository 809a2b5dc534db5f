-- Returns found by the sale they return: the original's record id, read
-- from the signed body (a return's `original.id`), so every stored return
-- is indexed without the ingest path writing another column.
ALTER TABLE records ADD COLUMN original_record_id TEXT
    GENERATED ALWAYS AS (
        CASE kind WHEN 'return'
            THEN json_extract(CAST(body AS TEXT), '$.original.id')
        END
    ) VIRTUAL;
CREATE INDEX records_by_original ON records (original_record_id)
    WHERE original_record_id IS NOT NULL;
