//! Signed ruleset releases exactly as received. They are verified again
//! when loaded, so a damaged row is skipped rather than priced with.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use shared::ids::RulesetVersion;
use shared::release::SignedRuleset;

use super::{StoreError, corrupt};

/// Stores a verified release. Storing a version twice keeps the first.
pub fn save(
    conn: &Connection,
    signed: &SignedRuleset,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(signed).map_err(|e| corrupt("ruleset", e))?;
    conn.execute(
        "INSERT INTO rulesets (version, signed, activated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (version) DO NOTHING",
        params![signed.version.get(), json, now.to_rfc3339()],
    )?;
    Ok(())
}

/// The newest stored version, whether in use or waiting for its time.
pub fn newest_version(conn: &Connection) -> Result<Option<RulesetVersion>, StoreError> {
    let raw: Option<i64> = conn.query_row("SELECT MAX(version) FROM rulesets", [], |r| r.get(0))?;
    raw.map(|v| RulesetVersion::new(v).map_err(|e| corrupt("ruleset version", e)))
        .transpose()
}

/// Stored releases newer than `version` (all when `None`), newest first,
/// each parsed or its error in place.
pub fn newer_than(
    conn: &Connection,
    version: Option<RulesetVersion>,
) -> Result<Vec<Result<SignedRuleset, StoreError>>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT signed FROM rulesets WHERE version > ?1 ORDER BY version DESC")?;
    let rows = stmt.query_map([version.map_or(0, RulesetVersion::get)], |r| {
        r.get::<_, String>(0)
    })?;
    rows.map(|row| {
        Ok(serde_json::from_str::<SignedRuleset>(&row?).map_err(|e| corrupt("ruleset", e)))
    })
    .collect()
}

/// A stored release.
#[derive(Debug)]
pub struct StoredRelease {
    /// The release, or why its row no longer parses.
    pub signed: Result<SignedRuleset, StoreError>,
    /// Whether it was ever put in use.
    pub was_in_use: bool,
}

/// Every stored release, newest first. Rows that no longer parse are
/// reported as errors in place, so the caller can log and skip them.
pub fn newest_first(conn: &Connection) -> Result<Vec<StoredRelease>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT signed, in_use_since IS NOT NULL FROM rulesets ORDER BY version DESC")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)))?;
    rows.map(|row| {
        let (json, was_in_use) = row?;
        Ok(StoredRelease {
            signed: serde_json::from_str::<SignedRuleset>(&json).map_err(|e| corrupt("ruleset", e)),
            was_in_use,
        })
    })
    .collect()
}

/// Records that `version` was put in use at `at` (the first time only).
pub fn mark_in_use(
    conn: &Connection,
    version: RulesetVersion,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE rulesets SET in_use_since = ?1 WHERE version = ?2 AND in_use_since IS NULL",
        params![at.to_rfc3339(), version.get()],
    )?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::DateTime;
    use shared::crypto::SigningKey;
    use shared::ids::MerchantId;
    use shared::money::Currency;
    use shared::release::RulesetRelease;
    use shared::ruleset::{Programme, Ruleset, SCHEMA_VERSION};

    use super::*;
    use crate::store::tests::temp_db;

    pub(crate) fn release(version: i64) -> RulesetRelease {
        RulesetRelease {
            merchant_id: MerchantId::new(1).unwrap(),
            version: RulesetVersion::new(version).unwrap(),
            effective_from: DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
            schema_version: SCHEMA_VERSION,
            min_agent_version: "0.1.0".into(),
            ruleset: Ruleset {
                currency: Currency::RUB,
                programme: Programme::default(),
                promotions: vec![],
            },
        }
    }

    #[test]
    fn releases_come_back_newest_first_and_versions_are_immutable() {
        let (_dir, conn) = temp_db();
        let key = SigningKey::from_seed(&[1; 32]).unwrap();
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        for v in [2, 1, 3] {
            save(&conn, &release(v).seal(&key).unwrap(), now).unwrap();
        }
        let other = SigningKey::from_seed(&[2; 32]).unwrap();
        save(&conn, &release(3).seal(&other).unwrap(), now).unwrap();
        let stored: Vec<SignedRuleset> = newest_first(&conn)
            .unwrap()
            .into_iter()
            .map(|s| s.signed.unwrap())
            .collect();
        let versions: Vec<i64> = stored.iter().map(|s| s.version.get()).collect();
        assert_eq!(versions, [3, 2, 1]);
        assert_eq!(
            newest_version(&conn).unwrap(),
            Some(RulesetVersion::new(3).unwrap())
        );
        let newer: Vec<i64> = newer_than(&conn, Some(RulesetVersion::new(1).unwrap()))
            .unwrap()
            .into_iter()
            .map(|s| s.unwrap().version.get())
            .collect();
        assert_eq!(newer, [3, 2]);
        assert_eq!(newer_than(&conn, None).unwrap().len(), 3);
        assert!(newest_first(&conn).unwrap().iter().all(|s| !s.was_in_use));
        mark_in_use(&conn, RulesetVersion::new(2).unwrap(), now).unwrap();
        let in_use: Vec<bool> = newest_first(&conn)
            .unwrap()
            .iter()
            .map(|s| s.was_in_use)
            .collect();
        assert_eq!(in_use, [false, true, false]);
        assert!(stored[0].open(&key.public_key(), "0.1.0").is_ok());
    }
}
