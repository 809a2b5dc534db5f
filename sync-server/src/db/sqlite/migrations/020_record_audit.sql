-- Chain-verified ingest (issue 16): a record that came by the chain path is
-- stored before its own signature is verified. `audit` is 1 when that
-- signature verified (at ingest on the per-record path, or by the
-- background audit), 0 while it awaits the audit, -1 when it does not
-- verify (alerted; never used as evidence). Records stored before were all
-- verified at ingest.
ALTER TABLE records ADD COLUMN audit INTEGER NOT NULL DEFAULT 1
    CHECK (audit IN (-1, 0, 1));
CREATE INDEX records_to_audit ON records (id) WHERE audit = 0;
