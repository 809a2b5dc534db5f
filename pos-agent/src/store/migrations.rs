//! Schema migrations, applied in order at start-up. Never edit a released
//! migration; append a new one.

use rusqlite_migration::{M, Migrations};

const V1: &str = r"
CREATE TABLE meta (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    head_seq        INTEGER NOT NULL,
    head_hash       BLOB    NOT NULL CHECK (length(head_hash) = 32),
    acked_seq       INTEGER NOT NULL CHECK (acked_seq <= head_seq),
    customer_cursor INTEGER NOT NULL
);
INSERT INTO meta (id, head_seq, head_hash, acked_seq, customer_cursor)
VALUES (1, 0, zeroblob(32), 0, 0);

CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY CHECK (seq > 0),
    record_id    TEXT    NOT NULL UNIQUE,
    body         BLOB    NOT NULL,
    signature    BLOB    NOT NULL CHECK (length(signature) = 64),
    hash         BLOB    NOT NULL CHECK (length(hash) = 32),
    customer_id  INTEGER,
    total        INTEGER NOT NULL,
    committed_at TEXT    NOT NULL
);

CREATE TABLE pending_effects (
    seq          INTEGER PRIMARY KEY REFERENCES outbox (seq),
    customer_id  INTEGER NOT NULL,
    spend_delta  INTEGER NOT NULL,
    points_delta INTEGER NOT NULL
);
CREATE INDEX pending_effects_by_customer ON pending_effects (customer_id);

CREATE TABLE rulesets (
    version      INTEGER PRIMARY KEY CHECK (version > 0),
    signed       TEXT    NOT NULL,
    activated_at TEXT    NOT NULL
);

CREATE TABLE customers (
    id                 INTEGER PRIMARY KEY CHECK (id > 0),
    name               TEXT    NOT NULL,
    card_number        TEXT    NOT NULL UNIQUE,
    phone              TEXT    UNIQUE,
    lifetime_spend     INTEGER NOT NULL,
    points_balance     INTEGER NOT NULL,
    tokens_valid_after TEXT,
    updated_at         TEXT    NOT NULL
);
";

/// Sync hardening: records the server refuses for good, and the sync
/// state `pos-agent status` shows when the agent is not running.
const V2: &str = r"
CREATE TABLE dead_letters (
    seq             INTEGER PRIMARY KEY REFERENCES outbox (seq),
    http_status     INTEGER NOT NULL,
    code            TEXT    NOT NULL,
    message         TEXT    NOT NULL,
    first_failed_at TEXT    NOT NULL,
    last_failed_at  TEXT    NOT NULL,
    attempts        INTEGER NOT NULL CHECK (attempts > 0),
    resolved_at     TEXT
);

CREATE TABLE sync_state (
    id                   INTEGER PRIMARY KEY CHECK (id = 1),
    last_contact_at      TEXT,
    last_error           TEXT,
    last_error_at        TEXT,
    upload_blocked       TEXT,
    clock_offset_ms      INTEGER,
    clock_uncertainty_ms INTEGER,
    clock_measured_at    TEXT,
    last_pruned_at       TEXT
);
INSERT INTO sync_state (id) VALUES (1);

-- When a release was put in use: a restart never steps back from it,
-- whatever the clock says. Under version 1 every stored release was put in
-- use when it arrived.
ALTER TABLE rulesets ADD COLUMN in_use_since TEXT;
UPDATE rulesets SET in_use_since = activated_at;
";

/// The engine of issue 3: what the customer cache knows for segments and
/// bonuses, per-customer promotion uses (synced and pending), the till's
/// own promotion usage, and which records return which sale.
const V3: &str = r"
ALTER TABLE customers ADD COLUMN gender TEXT NOT NULL DEFAULT 'unspecified';
ALTER TABLE customers ADD COLUMN birth_date TEXT;
ALTER TABLE customers ADD COLUMN purchases INTEGER;
ALTER TABLE customers ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE customers ADD COLUMN promotion_uses TEXT NOT NULL DEFAULT '{}';

ALTER TABLE pending_effects ADD COLUMN purchases_delta INTEGER NOT NULL DEFAULT 0;

CREATE TABLE pending_uses (
    seq          INTEGER NOT NULL REFERENCES outbox (seq),
    customer_id  INTEGER NOT NULL,
    promotion_id TEXT    NOT NULL,
    uses         INTEGER NOT NULL,
    PRIMARY KEY (seq, promotion_id)
);
CREATE INDEX pending_uses_by_customer ON pending_uses (customer_id);

CREATE TABLE till_usage (
    promotion_id TEXT    PRIMARY KEY,
    uses         INTEGER NOT NULL,
    spent        INTEGER NOT NULL
);

CREATE TABLE returns (
    original_id TEXT    NOT NULL,
    seq         INTEGER NOT NULL REFERENCES outbox (seq),
    PRIMARY KEY (original_id, seq)
);
";

/// Sales of other registers (or pruned from this one) fetched from the
/// server for a return, with the returns the server had stored of them:
/// verified, kept so a later return of the same sale works offline.
const V4: &str = r"
CREATE TABLE fetched_records (
    record_id   TEXT    PRIMARY KEY,
    register_id INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    -- Set for a return: the sale it returns.
    original_id TEXT,
    body        BLOB    NOT NULL,
    fetched_at  TEXT    NOT NULL,
    UNIQUE (register_id, seq)
);
CREATE INDEX fetched_records_by_original ON fetched_records (original_id)
    WHERE original_id IS NOT NULL;
";

/// Version 5: what the engine needs beyond spend and points: the last
/// birthday bonus and the rolling-window spend as the server knows them,
/// and the time of a pending record that gave the birthday bonus.
const V5: &str = r"
ALTER TABLE customers ADD COLUMN last_birthday_bonus TEXT;
ALTER TABLE customers ADD COLUMN window_spend INTEGER;

ALTER TABLE pending_effects ADD COLUMN birthday_bonus_at TEXT;
";

/// Points by batch (issue 3) and the offline redemption cap (issue 5):
/// each pending effect keeps the points its record earned, so the till
/// counts pending local spending against the customer's available points
/// but not pending local earnings, and can sum what was spent offline; the
/// cache keeps the snapshot's pending and expiring points (JSON) to age
/// the available balance between snapshots.
const V6: &str = r"
ALTER TABLE customers ADD COLUMN points_pending TEXT NOT NULL DEFAULT '[]';
ALTER TABLE customers ADD COLUMN points_expiring TEXT NOT NULL DEFAULT '[]';
ALTER TABLE pending_effects ADD COLUMN points_earned INTEGER NOT NULL DEFAULT 0;
UPDATE pending_effects SET points_earned = IFNULL(
    (SELECT json_extract(CAST(o.body AS TEXT), '$.points_earned')
     FROM outbox o WHERE o.seq = pending_effects.seq), 0);
";

/// The parts of the rolling-window spend that leave the window (JSON), so
/// the cache ages it to the till's clock between snapshots.
const V7: &str = r"
ALTER TABLE customers ADD COLUMN window_spend_leaving TEXT NOT NULL DEFAULT '[]';
";

/// Idempotent commits (issue 9): the till's own sale id of each commit
/// that carried one, with the reply it was given, written in the same
/// transaction as the record. A key lives as long as its record is in the
/// outbox (see `outbox::prune`).
const V8: &str = r"
CREATE TABLE sales (
    sale_id      TEXT    PRIMARY KEY,
    check_id     TEXT    NOT NULL,
    seq          INTEGER NOT NULL UNIQUE,
    reply        TEXT    NOT NULL,
    committed_at TEXT    NOT NULL
);
";

/// Tills keep no one's personal data (issue 10, part 4; 152-FZ): the
/// customer cache is rebuilt without phones, full names or birth dates.
/// A name keeps its first word, a birth date its month and day and the age
/// turned on it this year; phones go, and the change feed starts over so
/// the server sends every customer again with the hash of their phone
/// under the merchant's salt (kept in `meta`). The store VACUUMs after
/// this migration, so the old pages leave the file.
const V9: &str = r"
CREATE TABLE customers_v9 (
    id                   INTEGER PRIMARY KEY CHECK (id > 0),
    name                 TEXT    NOT NULL,
    card_number          TEXT    NOT NULL UNIQUE,
    phone_hash           TEXT    UNIQUE,
    lifetime_spend       INTEGER NOT NULL,
    points_balance       INTEGER NOT NULL,
    tokens_valid_after   TEXT,
    updated_at           TEXT    NOT NULL,
    gender               TEXT    NOT NULL DEFAULT 'unspecified',
    birthday             TEXT,
    age_year             INTEGER,
    age_turns            INTEGER,
    purchases            INTEGER,
    tags                 TEXT    NOT NULL DEFAULT '[]',
    promotion_uses       TEXT    NOT NULL DEFAULT '{}',
    last_birthday_bonus  TEXT,
    window_spend         INTEGER,
    points_pending       TEXT    NOT NULL DEFAULT '[]',
    points_expiring      TEXT    NOT NULL DEFAULT '[]',
    window_spend_leaving TEXT    NOT NULL DEFAULT '[]'
);
INSERT INTO customers_v9
    (id, name, card_number, phone_hash, lifetime_spend, points_balance, tokens_valid_after,
     updated_at, gender, birthday, age_year, age_turns, purchases, tags, promotion_uses,
     last_birthday_bonus, window_spend, points_pending, points_expiring, window_spend_leaving)
SELECT id,
       CASE WHEN instr(trim(name), ' ') > 0
            THEN substr(trim(name), 1, instr(trim(name), ' ') - 1)
            ELSE trim(name) END,
       card_number, NULL, lifetime_spend, points_balance, tokens_valid_after, updated_at,
       gender,
       CASE WHEN length(birth_date) = 10 THEN substr(birth_date, 6, 5) END,
       CASE WHEN length(birth_date) = 10 THEN CAST(strftime('%Y', 'now') AS INTEGER) END,
       CASE WHEN length(birth_date) = 10
            THEN MAX(CAST(strftime('%Y', 'now') AS INTEGER)
                     - CAST(substr(birth_date, 1, 4) AS INTEGER), 0) END,
       purchases, tags, promotion_uses, last_birthday_bonus, window_spend, points_pending,
       points_expiring, window_spend_leaving
FROM customers;
DROP TABLE customers;
ALTER TABLE customers_v9 RENAME TO customers;
ALTER TABLE meta ADD COLUMN phone_salt TEXT;
UPDATE meta SET customer_cursor = 0;
";

/// Quota leases (issue 9, item 11): this till's share of each promotion's
/// global limits, as the server last granted it, and what each committed
/// sale gave of a promotion (written in the sale's transaction), so the
/// lease left is the share less the sales after its `through_seq`.
/// `lease_mode` remembers whether the server offers leases (one row once
/// it was heard), so a restart offline enforces them as before.
const V10: &str = r"
CREATE TABLE quota_leases (
    promotion_id TEXT    PRIMARY KEY,
    lease_id     INTEGER NOT NULL,
    through_seq  INTEGER NOT NULL CHECK (through_seq >= 0),
    uses         INTEGER NOT NULL CHECK (uses >= 0),
    budget       INTEGER NOT NULL CHECK (budget >= 0),
    -- By this till's own clock: receipt plus the lease's lifetime, less
    -- a margin for the time the reply took.
    expires_at   TEXT    NOT NULL,
    granted_at   TEXT    NOT NULL
);

CREATE TABLE lease_spend (
    seq          INTEGER NOT NULL,
    promotion_id TEXT    NOT NULL,
    uses         INTEGER NOT NULL,
    spent        INTEGER NOT NULL,
    PRIMARY KEY (promotion_id, seq)
);

CREATE TABLE lease_mode (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    offered INTEGER NOT NULL CHECK (offered IN (0, 1))
);
";

/// The minimum agent version HQ requires, kept while this agent is below
/// it (the server says so in its heartbeat reply), so `pos-agent status`
/// and `doctor` show the alarm while the agent is stopped.
const V11: &str = r"
ALTER TABLE sync_state ADD COLUMN required_agent_version TEXT;
";

/// The server keys learnt since enrollment from endorsements the agent
/// verified (see [`shared::keys`]): each key (base64) and whether an
/// endorsement revoked it; `key_chain` keeps the recovery key learnt and
/// the newest endorsement accepted. The keys pinned at enrollment stay in
/// the configuration.
const V12: &str = r"
CREATE TABLE server_keys (
    public_key TEXT    PRIMARY KEY,
    revoked    INTEGER NOT NULL CHECK (revoked IN (0, 1)),
    learned_at TEXT    NOT NULL
);

CREATE TABLE key_chain (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    recovery_key TEXT,
    seq          INTEGER NOT NULL CHECK (seq >= 0)
);
";

/// The migration after which the store VACUUMs once.
pub(super) const SCRUBBING_VERSION: usize = 9;

/// Every migration's SQL, oldest first: the schema version after step `n`
/// (1-based) is `n`.
pub(super) const STEPS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12];

/// The schema version this build migrates to, and the newest it can run on.
pub(super) const LATEST_VERSION: usize = STEPS.len();

/// Every migration, oldest first.
pub(super) fn migrations() -> Migrations<'static> {
    Migrations::new(STEPS.iter().map(|sql| M::up(sql)).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::migrations().validate().unwrap();
    }

    #[test]
    fn a_version_one_database_keeps_its_records_through_the_upgrade() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        rusqlite_migration::Migrations::new(vec![rusqlite_migration::M::up(super::V1)])
            .to_latest(&mut conn)
            .unwrap();
        conn.execute(
            "INSERT INTO outbox (seq, record_id, body, signature, hash, total, committed_at)
             VALUES (1, 'r1', x'7b7d', zeroblob(64), zeroblob(32), 100, '2026-01-01T00:00:00+00:00')",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO rulesets (version, signed, activated_at)
             VALUES (1, '{}', '2026-01-01T00:00:00+00:00')",
            [],
        )
        .unwrap();
        super::migrations().to_latest(&mut conn).unwrap();
        let in_use: Option<String> = conn
            .query_row("SELECT in_use_since FROM rulesets", [], |r| r.get(0))
            .unwrap();
        assert!(in_use.is_some(), "releases stored before were in use");
        let kept: i64 = conn
            .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 1);
        let state: i64 = conn
            .query_row("SELECT COUNT(*) FROM sync_state", [], |r| r.get(0))
            .unwrap();
        assert_eq!(state, 1);
    }

    #[test]
    fn the_cache_loses_phones_surnames_and_birth_dates() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        rusqlite_migration::Migrations::new(
            [
                super::V1,
                super::V2,
                super::V3,
                super::V4,
                super::V5,
                super::V6,
                super::V7,
                super::V8,
            ]
            .into_iter()
            .map(rusqlite_migration::M::up)
            .collect(),
        )
        .to_latest(&mut conn)
        .unwrap();
        conn.execute_batch(
            "INSERT INTO customers (id, name, card_number, phone, lifetime_spend, points_balance,
                                    updated_at, gender, birth_date, purchases)
             VALUES (5, ' Anna Petrova', '2700000000053', '+79161234567', 1000, 7,
                     '2026-01-01T00:00:00+00:00', 'female', '1990-09-23', 3),
                    (6, 'Boris', '2700000000060', NULL, 0, 0,
                     '2026-01-01T00:00:00+00:00', 'male', NULL, 0);
             UPDATE meta SET customer_cursor = 42;",
        )
        .unwrap();
        super::migrations().to_latest(&mut conn).unwrap();
        /// Name, birthday, age year, age turned, points.
        type Cached = (String, Option<String>, Option<i64>, Option<i64>, i64);
        let rows: Vec<Cached> = conn
            .prepare("SELECT name, birthday, age_year, age_turns, points_balance FROM customers ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let (year, turns) = (rows[0].2.unwrap(), rows[0].3.unwrap());
        assert_eq!(year - turns, 1990);
        assert_eq!(rows[0].0, "Anna");
        assert_eq!(rows[0].1.as_deref(), Some("09-23"));
        assert_eq!(rows[0].4, 7, "the standing stays");
        assert_eq!(rows[1], ("Boris".to_owned(), None, None, None, 0));
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('customers')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for gone in ["phone", "birth_date", "email"] {
            assert!(!columns.iter().any(|c| c == gone), "{gone} in {columns:?}");
        }
        let cursor: i64 = conn
            .query_row("SELECT customer_cursor FROM meta", [], |r| r.get(0))
            .unwrap();
        assert_eq!(cursor, 0, "the feed starts over, with phone hashes");
    }

    #[test]
    fn pending_effects_learn_the_points_their_records_earned() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        rusqlite_migration::Migrations::new(vec![
            rusqlite_migration::M::up(super::V1),
            rusqlite_migration::M::up(super::V2),
            rusqlite_migration::M::up(super::V3),
        ])
        .to_latest(&mut conn)
        .unwrap();
        conn.execute_batch(
            r#"INSERT INTO outbox (seq, record_id, body, signature, hash, total, committed_at)
               VALUES (1, 'r1', CAST('{"points_earned":7,"points_redeemed":3}' AS BLOB),
                       zeroblob(64), zeroblob(32), 100, '2026-01-01T00:00:00+00:00');
               INSERT INTO pending_effects (seq, customer_id, spend_delta, points_delta)
               VALUES (1, 9, 100, 4);"#,
        )
        .unwrap();
        super::migrations().to_latest(&mut conn).unwrap();
        let earned: i64 = conn
            .query_row("SELECT points_earned FROM pending_effects", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(earned, 7);
    }
}
