-- The points ledger keeps what the points replay (shared::points) needs:
-- points earned and spent apart (a return's are negative), and for a return
-- the sale it returns, whose batch its claw-back comes out of. The order
-- (records.id, the server's sequence) and the wall time are the record's.

ALTER TABLE ledger ADD COLUMN earned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ledger ADD COLUMN redeemed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ledger ADD COLUMN original_register_id INTEGER;
ALTER TABLE ledger ADD COLUMN original_seq INTEGER;

UPDATE ledger SET
    earned = (SELECT r.points_earned FROM records r
              WHERE r.register_id = ledger.register_id AND r.seq = ledger.seq),
    redeemed = (SELECT r.points_redeemed FROM records r
                WHERE r.register_id = ledger.register_id AND r.seq = ledger.seq),
    original_register_id = (SELECT json_extract(CAST(r.body AS TEXT), '$.original.register_id')
                            FROM records r
                            WHERE r.register_id = ledger.register_id AND r.seq = ledger.seq
                              AND r.kind = 'return'),
    original_seq = (SELECT json_extract(CAST(r.body AS TEXT), '$.original.seq')
                    FROM records r
                    WHERE r.register_id = ledger.register_id AND r.seq = ledger.seq
                      AND r.kind = 'return');
