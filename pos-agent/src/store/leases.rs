//! Quota leases as the till holds them (issue 9, item 11): its share of
//! each promotion's global limits, granted by the server at sync, and what
//! its own sales gave of each promotion after the lease's `through_seq`
//! (`lease_spend`, written in each sale's transaction by
//! [`super::outbox`]). What is left of a lease is the share less those
//! sales; the till never gives more while offline.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension as _, params};
use shared::ids::PromotionId;

use super::{StoreError, corrupt};

/// A lease as stored, with what is left of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldLease {
    /// The server's id of the lease.
    pub lease_id: i64,
    /// The register's stored head when granted (0: none).
    pub through_seq: i64,
    /// Checks granted.
    pub uses: i64,
    /// Kopecks granted.
    pub budget: i64,
    /// When it ends, by this till's clock.
    pub expires_at: DateTime<Utc>,
    /// Checks of the till's sales after `through_seq`.
    pub used_uses: i64,
    /// Kopecks those sales gave.
    pub used_spent: i64,
}

impl HeldLease {
    /// Checks left (none once expired).
    #[must_use]
    pub fn uses_left(&self, now: DateTime<Utc>) -> i64 {
        if now >= self.expires_at {
            return 0;
        }
        (self.uses - self.used_uses).max(0)
    }

    /// Kopecks left (none once expired).
    #[must_use]
    pub fn budget_left(&self, now: DateTime<Utc>) -> i64 {
        if now >= self.expires_at {
            return 0;
        }
        (self.budget - self.used_spent).max(0)
    }
}

/// A lease to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewHeldLease {
    /// Which promotion.
    pub promotion: PromotionId,
    /// The server's id.
    pub lease_id: i64,
    /// The stored head it covers records after.
    pub through_seq: i64,
    /// Checks.
    pub uses: i64,
    /// Kopecks.
    pub budget: i64,
    /// When it ends, by this till's clock.
    pub expires_at: DateTime<Utc>,
}

/// Whether the server offers leases, as last heard (`None`: never).
pub fn offered(conn: &Connection) -> Result<Option<bool>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT offered FROM lease_mode WHERE id = 1")?
        .query_row([], |r| r.get::<_, bool>(0))
        .optional()?)
}

/// Remembers whether the server offers leases.
pub fn set_offered(conn: &Connection, offered: bool) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO lease_mode (id, offered) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET offered = excluded.offered",
        [offered],
    )?;
    Ok(())
}

/// Replaces every lease with `leases`, granted at `now`, and forgets the
/// sales no lease covers any more.
pub fn replace(
    conn: &mut Connection,
    leases: &[NewHeldLease],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM quota_leases", [])?;
    for l in leases {
        tx.execute(
            "INSERT INTO quota_leases
                 (promotion_id, lease_id, through_seq, uses, budget, expires_at, granted_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                l.promotion.as_str(),
                l.lease_id,
                l.through_seq,
                l.uses,
                l.budget,
                l.expires_at.to_rfc3339(),
                now.to_rfc3339(),
            ],
        )?;
    }
    let oldest = leases
        .iter()
        .map(|l| l.through_seq)
        .min()
        .unwrap_or(i64::MAX);
    tx.execute("DELETE FROM lease_spend WHERE seq <= ?1", [oldest])?;
    tx.commit()?;
    Ok(())
}

/// Every lease held, with what the till's sales used of it.
pub fn held(conn: &Connection) -> Result<BTreeMap<PromotionId, HeldLease>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT l.promotion_id, l.lease_id, l.through_seq, l.uses, l.budget, l.expires_at,
                (SELECT COALESCE(SUM(s.uses), 0) FROM lease_spend s
                 WHERE s.promotion_id = l.promotion_id AND s.seq > l.through_seq),
                (SELECT COALESCE(SUM(s.spent), 0) FROM lease_spend s
                 WHERE s.promotion_id = l.promotion_id AND s.seq > l.through_seq)
         FROM quota_leases l",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            HeldLease {
                lease_id: r.get(1)?,
                through_seq: r.get(2)?,
                uses: r.get(3)?,
                budget: r.get(4)?,
                // Parsed below.
                expires_at: DateTime::<Utc>::MIN_UTC,
                used_uses: r.get(6)?,
                used_spent: r.get(7)?,
            },
            r.get::<_, String>(5)?,
        ))
    })?;
    rows.map(|row| {
        let (id, mut lease, expires) = row?;
        let id = PromotionId::parse(id).map_err(|e| corrupt("promotion id", e))?;
        lease.expires_at = DateTime::parse_from_rfc3339(&expires)
            .map_err(|e| corrupt("lease expiry", e))?
            .with_timezone(&Utc);
        Ok((id, lease))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrations::migrations()
            .to_latest(&mut conn)
            .unwrap();
        conn
    }

    fn spend(conn: &Connection, seq: i64, promotion: &str, spent: i64) {
        conn.execute(
            "INSERT INTO lease_spend (seq, promotion_id, uses, spent) VALUES (?1, ?2, 1, ?3)",
            params![seq, promotion, spent],
        )
        .unwrap();
    }

    #[test]
    fn a_lease_left_is_the_share_less_the_sales_after_it() {
        let mut conn = db();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let later = now + chrono::TimeDelta::hours(1);
        let milk = PromotionId::parse("milk").unwrap();
        assert_eq!(offered(&conn).unwrap(), None);
        set_offered(&conn, true).unwrap();
        assert_eq!(offered(&conn).unwrap(), Some(true));
        // Sales 1 and 2 were stored when the lease was granted; 3 was not.
        for seq in 1..=3 {
            spend(&conn, seq, "milk", 100);
        }
        let lease = NewHeldLease {
            promotion: milk.clone(),
            lease_id: 7,
            through_seq: 2,
            uses: 5,
            budget: 1_000,
            expires_at: later,
        };
        replace(&mut conn, std::slice::from_ref(&lease), now).unwrap();
        spend(&conn, 4, "milk", 250);
        let held = held(&conn).unwrap();
        let milk_lease = &held[&milk];
        assert_eq!((milk_lease.used_uses, milk_lease.used_spent), (2, 350));
        assert_eq!(milk_lease.uses_left(now), 3);
        assert_eq!(milk_lease.budget_left(now), 650);
        assert_eq!(milk_lease.uses_left(later), 0, "expired: nothing left");
        let kept: i64 = conn
            .query_row("SELECT COUNT(*) FROM lease_spend", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 2, "sales the lease does not cover are forgotten");
    }
}
