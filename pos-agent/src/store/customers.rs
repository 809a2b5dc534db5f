//! The customer cache: snapshots from the server's change feed, plus the
//! effects of local commits the server has not reflected yet.
//!
//! # Standing
//!
//! A customer's standing is their cached snapshot (zero if none) plus every
//! pending effect of theirs. An effect is deleted when a snapshot of that
//! customer arrives that was requested *after* the server acknowledged the
//! effect's record: the server updates a customer in the same transaction
//! that stores the record, so such a snapshot already includes it. Until
//! then the effect counts, so a customer never loses a local purchase from
//! their standing, and never counts it twice once a fresh snapshot arrived.
//!
//! Promotion uses follow the same rule: the snapshot's counts per
//! promotion plus the pending uses of local commits (`pending_uses`),
//! settled together with the effects.
//!
//! # Points
//!
//! The snapshot's `points_balance` is what the customer may spend (the
//! server's available points). Pending local effects subtract what they
//! spent and clawed back at once, and add what they gave back; points they
//! earned count only once the programme's pending period has passed since
//! the commit ([`LocalPoints`]), as the server will count them. The
//! snapshot's own points are aged to the till's clock
//! ([`shared::points::PointsSnapshot::available_at`]): its pending points
//! count once they become available and its points that expire stop
//! counting, without waiting for a new snapshot (the server sends one only
//! when the customer changes).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use shared::identity::{AgeAnchor, Ean13, Gender, MonthDay, PhoneNumber, first_name};
use shared::ids::{CustomerId, PromotionId, Seq};
use shared::money::{Money, clamp_points};
use shared::points::{ExpiringPoints, PendingPoints, PointsSnapshot};
use shared::pricing::CustomerStanding;
use shared::wire::sync::{CustomerSnapshot, LeavingSpend};

use super::{StoreError, corrupt};

/// How the till looks a customer up.
#[derive(Clone, Copy, Debug)]
pub enum CustomerKey<'a> {
    /// By id, from a verified token.
    Id(CustomerId),
    /// By printed card number.
    Card(&'a Ean13),
    /// By phone number.
    Phone(&'a PhoneNumber),
}

/// A cached customer with their current standing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedCustomer {
    /// Who.
    pub id: CustomerId,
    /// Name, for the greeting.
    pub name: String,
    /// Snapshot plus pending effects.
    pub standing: CustomerStanding,
    /// Checks per promotion: the snapshot's counts plus pending local uses.
    pub uses: BTreeMap<PromotionId, u64>,
    /// Points earned but not available yet: the snapshot's still pending
    /// and this till's own within the pending period.
    pub points_pending: i64,
}

/// When points earned by local commits count as available: `pending_days`
/// (the programme's) after their commit, at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalPoints {
    /// The programme's pending period.
    pub pending_days: u32,
    /// The register's time.
    pub now: DateTime<Utc>,
    /// The store's time zone, for the local date of a pending birthday
    /// bonus (UTC when unknown).
    pub timezone: Option<Tz>,
}

impl LocalPoints {
    fn matured(&self, committed_at: DateTime<Utc>) -> bool {
        committed_at + chrono::TimeDelta::days(i64::from(self.pending_days)) <= self.now
    }
}

/// Looks a customer up in the cache.
pub fn find(
    conn: &Connection,
    key: CustomerKey<'_>,
    local: LocalPoints,
) -> Result<Option<CachedCustomer>, StoreError> {
    let (clause, value): (&str, rusqlite::types::Value) = match key {
        CustomerKey::Id(id) => ("id = ?1", id.get().into()),
        CustomerKey::Card(card) => ("card_number = ?1", card.as_str().to_owned().into()),
        CustomerKey::Phone(phone) => {
            // The cache keeps the phone's hash under the merchant's salt;
            // without the salt no phone is known yet.
            let Some(salt) = phone_salt(conn)? else {
                return Ok(None);
            };
            ("phone_hash = ?1", phone.salted_hash(&salt).to_hex().into())
        }
    };
    let sql = format!(
        "SELECT id, name, lifetime_spend, points_balance, gender, birthday, purchases, tags,
                promotion_uses, last_birthday_bonus, window_spend, points_pending,
                points_expiring, window_spend_leaving, age_year, age_turns
         FROM customers WHERE {clause}"
    );
    let row = conn
        .query_row(&sql, [value], |r| {
            Ok(Row {
                id: r.get(0)?,
                name: r.get(1)?,
                spend: r.get(2)?,
                points: r.get(3)?,
                gender: r.get(4)?,
                birthday: r.get(5)?,
                purchases: r.get(6)?,
                tags: r.get(7)?,
                uses: r.get(8)?,
                last_birthday_bonus: r.get(9)?,
                window_spend: r.get(10)?,
                points_pending: r.get(11)?,
                points_expiring: r.get(12)?,
                window_spend_leaving: r.get(13)?,
                age_year: r.get(14)?,
                age_turns: r.get(15)?,
            })
        })
        .optional()?;
    let Some(row) = row else {
        return Ok(None);
    };
    let id = CustomerId::new(row.id).map_err(|e| corrupt("customer id", e))?;
    let pending = pending(conn, id, local)?;
    let birthday = row
        .birthday
        .map(MonthDay::try_from)
        .transpose()
        .map_err(|e| corrupt("birthday", e))?;
    let age = match (row.age_year, row.age_turns) {
        (Some(year), Some(turns)) => Some(AgeAnchor {
            year: i32::try_from(year).map_err(|e| corrupt("age year", e))?,
            turns: u32::try_from(turns).map_err(|e| corrupt("age", e))?,
        }),
        _ => None,
    };
    let tags: Vec<String> = serde_json::from_str(&row.tags).map_err(|e| corrupt("tags", e))?;
    let mut uses: BTreeMap<PromotionId, u64> =
        serde_json::from_str(&row.uses).map_err(|e| corrupt("promotion uses", e))?;
    add_uses(&mut uses, &pending.uses);
    let points_pending: Vec<PendingPoints> =
        serde_json::from_str(&row.points_pending).map_err(|e| corrupt("pending points", e))?;
    let points_expiring: Vec<ExpiringPoints> =
        serde_json::from_str(&row.points_expiring).map_err(|e| corrupt("expiring points", e))?;
    let snapshot = PointsSnapshot {
        available: row.points,
        pending: &points_pending,
        expiring: &points_expiring,
    };
    let available = snapshot.available_at(local.now);
    let points_pending = clamp_points(i128::from(snapshot.pending_at(local.now)) + pending.waiting);
    let mut standing = standing(
        i128::from(row.spend) + pending.spend,
        i128::from(available) + pending.points,
    );
    standing.gender = Gender::from_code(&row.gender);
    standing.birthday = birthday;
    standing.age = age;
    standing.purchases = row
        .purchases
        .map(|n| u64::try_from(n.saturating_add(pending.purchases)).unwrap_or(0));
    standing.tags = tags;
    let synced_birthday = row
        .last_birthday_bonus
        .map(|d| d.parse::<NaiveDate>())
        .transpose()
        .map_err(|e| corrupt("last birthday bonus", e))?;
    standing.last_birthday_bonus = synced_birthday.max(pending.birthday_date(local.timezone));
    // The snapshot's window spend aged to the till's clock; local sales are
    // recent: they count in any window.
    let leaving: Vec<LeavingSpend> = serde_json::from_str(&row.window_spend_leaving)
        .map_err(|e| corrupt("window spend leaving", e))?;
    let left: i128 = leaving
        .iter()
        .filter(|l| l.until <= local.now)
        .map(|l| i128::from(l.spend.minor()))
        .sum();
    standing.window_spend = row.window_spend.map(|spend| {
        let max = i128::from(Money::MAX_MINOR);
        Money::from_wide((i128::from(spend) - left + pending.spend).clamp(-max, max))
            .unwrap_or_default()
    });
    Ok(Some(CachedCustomer {
        id,
        name: row.name,
        standing,
        uses,
        points_pending,
    }))
}

/// When the server last revoked the customer's phone tokens: tokens issued
/// before are refused. `None` if never, or if the customer is not cached.
pub fn tokens_valid_after(
    conn: &Connection,
    id: CustomerId,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let stored: Option<Option<String>> = conn
        .query_row(
            "SELECT tokens_valid_after FROM customers WHERE id = ?1",
            [id.get()],
            |r| r.get(0),
        )
        .optional()?;
    stored
        .flatten()
        .map(|text| {
            DateTime::parse_from_rfc3339(&text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| corrupt("tokens_valid_after", e))
        })
        .transpose()
}

/// The merchant's salt of the cached phone hashes, once the feed gave it.
fn phone_salt(conn: &Connection) -> Result<Option<String>, StoreError> {
    Ok(conn.query_row("SELECT phone_salt FROM meta WHERE id = 1", [], |r| r.get(0))?)
}

/// A `customers` row as stored.
struct Row {
    id: i64,
    name: String,
    spend: i64,
    points: i64,
    gender: String,
    birthday: Option<String>,
    age_year: Option<i64>,
    age_turns: Option<i64>,
    purchases: Option<i64>,
    tags: String,
    uses: String,
    last_birthday_bonus: Option<String>,
    window_spend: Option<i64>,
    points_pending: String,
    points_expiring: String,
    window_spend_leaving: String,
}

fn add_uses(into: &mut BTreeMap<PromotionId, u64>, pending: &BTreeMap<PromotionId, i64>) {
    for (id, &n) in pending {
        let e = into.entry(id.clone()).or_default();
        *e = u64::try_from(i64::try_from(*e).unwrap_or(i64::MAX).saturating_add(n)).unwrap_or(0);
    }
    into.retain(|_, n| *n > 0);
}

/// A customer who is not in the cache yet: their pending effects alone
/// (purchases unknown), and their pending uses.
pub fn uncached(
    conn: &Connection,
    id: CustomerId,
    local: LocalPoints,
) -> Result<(CustomerStanding, BTreeMap<PromotionId, u64>), StoreError> {
    let pending = pending(conn, id, local)?;
    let mut uses = BTreeMap::new();
    add_uses(&mut uses, &pending.uses);
    let mut standing = standing(pending.spend, pending.points);
    standing.last_birthday_bonus = pending.birthday_date(local.timezone);
    Ok((standing, uses))
}

/// A customer's local effects the server has not reflected yet.
struct Pending {
    spend: i128,
    points: i128,
    /// Points this till's records earned that are still pending.
    waiting: i128,
    purchases: i64,
    uses: BTreeMap<PromotionId, i64>,
    /// When the newest pending record giving the birthday bonus was made.
    birthday_at: Option<DateTime<Utc>>,
}

impl Pending {
    /// The store-local date of the pending birthday bonus; in UTC when the
    /// store's zone is unknown.
    fn birthday_date(&self, timezone: Option<Tz>) -> Option<NaiveDate> {
        self.birthday_at.map(|at| match timezone {
            Some(tz) => at.with_timezone(&tz).date_naive(),
            None => at.date_naive(),
        })
    }
}

fn pending(conn: &Connection, id: CustomerId, local: LocalPoints) -> Result<Pending, StoreError> {
    let (spend, purchases): (i64, i64) = conn.query_row(
        "SELECT IFNULL(SUM(spend_delta), 0), IFNULL(SUM(purchases_delta), 0)
         FROM pending_effects WHERE customer_id = ?1",
        [id.get()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let birthday_at: Option<String> = conn.query_row(
        "SELECT MAX(birthday_bonus_at) FROM pending_effects WHERE customer_id = ?1",
        [id.get()],
        |r| r.get(0),
    )?;
    let birthday_at = birthday_at
        .map(|t| DateTime::parse_from_rfc3339(&t).map(|t| t.with_timezone(&Utc)))
        .transpose()
        .map_err(|e| corrupt("birthday bonus time", e))?;
    let mut stmt = conn.prepare_cached(
        "SELECT p.points_delta, p.points_earned, o.committed_at
         FROM pending_effects p JOIN outbox o ON o.seq = p.seq
         WHERE p.customer_id = ?1",
    )?;
    let rows = stmt.query_map([id.get()], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut points: i128 = 0;
    let mut waiting: i128 = 0;
    for row in rows {
        let (delta, earned, committed_at) = row?;
        let committed_at = DateTime::parse_from_rfc3339(&committed_at)
            .map_err(|e| corrupt("committed_at", e))?
            .with_timezone(&Utc);
        // Spent and clawed back count at once; earned once matured.
        let earned_now = if earned > 0 && !local.matured(committed_at) {
            earned
        } else {
            0
        };
        points += i128::from(delta) - i128::from(earned_now);
        waiting += i128::from(earned_now);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT promotion_id, SUM(uses) FROM pending_uses WHERE customer_id = ?1
         GROUP BY promotion_id",
    )?;
    let rows = stmt.query_map([id.get()], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    let mut uses = BTreeMap::new();
    for row in rows {
        let (promotion, n) = row?;
        let promotion = PromotionId::parse(promotion).map_err(|e| corrupt("promotion id", e))?;
        uses.insert(promotion, n);
    }
    Ok(Pending {
        spend: i128::from(spend),
        points,
        waiting,
        purchases,
        uses,
        birthday_at,
    })
}

/// Standing from wide sums, saturating: it is an estimate for pricing and
/// no real customer comes near the money range.
fn standing(spend: i128, points: i128) -> CustomerStanding {
    let max = i128::from(Money::MAX_MINOR);
    CustomerStanding {
        lifetime_spend: Money::from_wide(spend.clamp(-max, max)).unwrap_or_default(),
        points_balance: i64::try_from(points).unwrap_or(if points < 0 {
            i64::MIN
        } else {
            i64::MAX
        }),
        ..CustomerStanding::default()
    }
}

/// Applies a page of the change feed in one transaction: upserts the
/// snapshots, settles the effects they include (this register's records
/// through `settled_through`: the page's `stored_through`, or the
/// acknowledgement read before the page was requested, whichever is
/// further) and stores the cursor.
#[cfg(test)]
pub fn apply_changes(
    conn: &mut Connection,
    snapshots: &[CustomerSnapshot],
    settled_through: Option<Seq>,
    next_cursor: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    apply_page(conn, snapshots, None, settled_through, next_cursor, now)
}

/// [`apply_changes`] with the merchant's phone salt the page carried,
/// stored for typed phones.
pub fn apply_page(
    conn: &mut Connection,
    snapshots: &[CustomerSnapshot],
    phone_salt: Option<&str>,
    settled_through: Option<Seq>,
    next_cursor: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if let Some(salt) = phone_salt {
        tx.execute("UPDATE meta SET phone_salt = ?1 WHERE id = 1", [salt])?;
    }
    for c in snapshots {
        // A card or phone moved to this customer is no longer another's.
        tx.execute(
            "DELETE FROM customers WHERE card_number = ?1 AND id != ?2",
            params![c.card_number.as_str(), c.id.get()],
        )?;
        let phone_hash = c.phone_hash.map(|h| h.to_hex());
        if let Some(hash) = &phone_hash {
            tx.execute(
                "UPDATE customers SET phone_hash = NULL WHERE phone_hash = ?1 AND id != ?2",
                params![hash, c.id.get()],
            )?;
        }
        let tags = serde_json::to_string(&c.tags).map_err(|e| corrupt("tags", e))?;
        let uses =
            serde_json::to_string(&c.promotion_uses).map_err(|e| corrupt("promotion uses", e))?;
        let points_pending =
            serde_json::to_string(&c.points_pending).map_err(|e| corrupt("pending points", e))?;
        let points_expiring =
            serde_json::to_string(&c.points_expiring).map_err(|e| corrupt("expiring points", e))?;
        let leaving = serde_json::to_string(&c.window_spend_leaving)
            .map_err(|e| corrupt("window spend leaving", e))?;
        tx.execute(
            "INSERT INTO customers
                 (id, name, card_number, phone_hash, lifetime_spend, points_balance,
                  tokens_valid_after, updated_at, gender, birthday, purchases, tags,
                  promotion_uses, last_birthday_bonus, window_spend, points_pending,
                  points_expiring, window_spend_leaving, age_year, age_turns)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                     ?18, ?19, ?20)
             ON CONFLICT (id) DO UPDATE SET
                 name = excluded.name, card_number = excluded.card_number,
                 phone_hash = excluded.phone_hash,
                 lifetime_spend = excluded.lifetime_spend, points_balance = excluded.points_balance,
                 tokens_valid_after = excluded.tokens_valid_after, updated_at = excluded.updated_at,
                 gender = excluded.gender, birthday = excluded.birthday,
                 age_year = excluded.age_year, age_turns = excluded.age_turns,
                 purchases = excluded.purchases, tags = excluded.tags,
                 promotion_uses = excluded.promotion_uses,
                 last_birthday_bonus = excluded.last_birthday_bonus,
                 window_spend = excluded.window_spend,
                 points_pending = excluded.points_pending,
                 points_expiring = excluded.points_expiring,
                 window_spend_leaving = excluded.window_spend_leaving",
            params![
                c.id.get(),
                // Only the first name, whatever an older server sends.
                first_name(&c.name),
                c.card_number.as_str(),
                phone_hash,
                c.lifetime_spend.minor(),
                c.points_balance,
                c.tokens_valid_after.map(|t| t.to_rfc3339()),
                now.to_rfc3339(),
                c.gender.code(),
                c.birthday.map(String::from),
                c.purchases.map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
                tags,
                uses,
                c.last_birthday_bonus.map(|d| d.to_string()),
                c.window_spend.map(Money::minor),
                points_pending,
                points_expiring,
                leaving,
                c.age.map(|a| a.year),
                c.age.map(|a| i64::from(a.turns)),
            ],
        )?;
        let settled = settled_through.map_or(0, Seq::get);
        tx.execute(
            "DELETE FROM pending_effects WHERE customer_id = ?1 AND seq <= ?2",
            params![c.id.get(), settled],
        )?;
        tx.execute(
            "DELETE FROM pending_uses WHERE customer_id = ?1 AND seq <= ?2",
            params![c.id.get(), settled],
        )?;
    }
    tx.execute(
        "UPDATE meta SET customer_cursor = ?1 WHERE id = 1",
        [next_cursor],
    )?;
    tx.commit()?;
    Ok(())
}

/// Points the customer spent in this till's records the server has not
/// acknowledged yet (what the offline cap limits).
pub fn unacknowledged_redeemed(conn: &Connection, id: CustomerId) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT IFNULL(SUM(MAX(p.points_earned - p.points_delta, 0)), 0)
             FROM pending_effects p
             WHERE p.customer_id = ?1 AND p.seq > (SELECT acked_seq FROM meta WHERE id = 1)",
        )?
        .query_row([id.get()], |r| r.get(0))?)
}

/// The change-feed cursor to resume from.
pub fn cursor(conn: &Connection) -> Result<i64, StoreError> {
    Ok(
        conn.query_row("SELECT customer_cursor FROM meta WHERE id = 1", [], |r| {
            r.get(0)
        })?,
    )
}

/// Customers in the cache.
pub fn count(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("SELECT COUNT(*) FROM customers", [], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use shared::record::{IdentifiedBy, RecordCustomer};

    use super::*;
    use crate::store::outbox::{
        self,
        tests::{key, sale},
    };
    use crate::store::tests::temp_db;

    const SALT: &str = "0123456789abcdef";

    fn snapshot(id: i64, spend: i64, points: i64) -> CustomerSnapshot {
        let id = CustomerId::new(id).unwrap();
        CustomerSnapshot {
            id,
            name: format!("Customer {id}"),
            card_number: Ean13::card_for(id),
            phone_hash: Some(
                PhoneNumber::parse("+79161234567")
                    .unwrap()
                    .salted_hash(SALT),
            ),
            lifetime_spend: Money::from_minor(spend).unwrap(),
            points_balance: points,
            tokens_valid_after: None,
            gender: Gender::Female,
            birthday: MonthDay::new(9, 23),
            age: Some(AgeAnchor {
                year: 2026,
                turns: 36,
            }),
            purchases: Some(3),
            tags: vec!["staff".into()],
            promotion_uses: BTreeMap::from([(PromotionId::parse("milk").unwrap(), 2)]),
            last_birthday_bonus: None,
            window_spend: None,
            window_spend_leaving: vec![],
            points_pending: vec![],
            points_expiring: vec![],
        }
    }

    fn commit_for(conn: &mut Connection, id: CustomerId, total: i64, points: i64) -> Seq {
        outbox::commit(conn, &key(), |seq, prev| {
            let mut r = sale(seq, prev);
            r.customer = Some(RecordCustomer {
                id,
                identified_by: IdentifiedBy::Card,
            });
            r.total = Money::from_minor(total).unwrap();
            r.points_earned = points;
            r
        })
        .unwrap()
        .seq
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap()
    }

    /// The cached customer at `now`, with a 14-day pending period.
    fn cached_at(conn: &Connection, id: CustomerId, now: DateTime<Utc>) -> CachedCustomer {
        let local = LocalPoints {
            pending_days: 14,
            now,
            timezone: None,
        };
        find(conn, CustomerKey::Id(id), local).unwrap().unwrap()
    }

    /// Local earnings available at once, as with no pending period.
    fn at_once() -> LocalPoints {
        LocalPoints {
            pending_days: 0,
            now: DateTime::<Utc>::MAX_UTC,
            timezone: None,
        }
    }

    #[test]
    fn lookups_by_card_phone_and_id() {
        let (_dir, mut conn) = temp_db();
        let phone = PhoneNumber::parse("8 916 123 45 67").unwrap();
        apply_changes(&mut conn, &[snapshot(5, 100, 7)], None, 9, now()).unwrap();
        assert_eq!(
            find(&conn, CustomerKey::Phone(&phone), at_once()).unwrap(),
            None,
            "no salt yet: no phone is known"
        );
        apply_page(
            &mut conn,
            &[snapshot(5, 100, 7)],
            Some(SALT),
            None,
            10,
            now(),
        )
        .unwrap();
        let id = CustomerId::new(5).unwrap();
        let card = Ean13::card_for(id);
        for key in [
            CustomerKey::Id(id),
            CustomerKey::Card(&card),
            CustomerKey::Phone(&phone),
        ] {
            let c = find(&conn, key, at_once()).unwrap().unwrap();
            assert_eq!((c.id, c.standing.points_balance), (id, 7));
        }
        assert_eq!(cursor(&conn).unwrap(), 10);
        assert_eq!(count(&conn).unwrap(), 1);
        let other = Ean13::card_for(CustomerId::new(6).unwrap());
        assert_eq!(
            find(&conn, CustomerKey::Card(&other), at_once()).unwrap(),
            None
        );
    }

    #[test]
    fn the_revocation_instant_is_kept_per_customer() {
        let (_dir, mut conn) = temp_db();
        let revoked = DateTime::from_timestamp(1_790_000_123, 456_000_000).unwrap();
        let mut anna = snapshot(5, 0, 0);
        anna.tokens_valid_after = Some(revoked);
        apply_changes(&mut conn, &[anna], None, 1, now()).unwrap();
        let id = |n| CustomerId::new(n).unwrap();
        assert_eq!(tokens_valid_after(&conn, id(5)).unwrap(), Some(revoked));
        assert_eq!(tokens_valid_after(&conn, id(6)).unwrap(), None, "uncached");
        apply_changes(&mut conn, &[snapshot(5, 0, 0)], None, 2, now()).unwrap();
        assert_eq!(tokens_valid_after(&conn, id(5)).unwrap(), None);
    }

    #[test]
    fn a_phone_moves_to_its_new_owner() {
        let (_dir, mut conn) = temp_db();
        apply_page(
            &mut conn,
            &[snapshot(5, 0, 0), snapshot(6, 0, 0)],
            Some(SALT),
            None,
            1,
            now(),
        )
        .unwrap();
        let phone = PhoneNumber::parse("+79161234567").unwrap();
        let owner = find(&conn, CustomerKey::Phone(&phone), at_once())
            .unwrap()
            .unwrap();
        assert_eq!(owner.id.get(), 6);
        assert_eq!(count(&conn).unwrap(), 2);
    }

    #[test]
    fn pending_effects_count_until_a_snapshot_after_the_ack_includes_them() {
        let (_dir, mut conn) = temp_db();
        let id = CustomerId::new(5).unwrap();
        apply_changes(&mut conn, &[snapshot(5, 1000, 10)], None, 1, now()).unwrap();
        let seq = commit_for(&mut conn, id, 500, 5);
        let standing = |conn: &Connection| {
            find(conn, CustomerKey::Id(id), at_once())
                .unwrap()
                .unwrap()
                .standing
        };
        assert_eq!(standing(&conn).lifetime_spend.minor(), 1500);
        assert_eq!(standing(&conn).points_balance, 15);

        // A snapshot requested before the ack does not include the record.
        apply_changes(&mut conn, &[snapshot(5, 1000, 10)], None, 2, now()).unwrap();
        assert_eq!(standing(&conn).points_balance, 15);

        // One requested after the ack does, and the effect is settled.
        apply_changes(&mut conn, &[snapshot(5, 1500, 15)], Some(seq), 3, now()).unwrap();
        assert_eq!(standing(&conn).points_balance, 15);
        assert_eq!(standing(&conn).lifetime_spend.minor(), 1500);
    }

    #[test]
    fn segments_purchases_and_promotion_uses_come_from_the_snapshot_plus_pending() {
        let (_dir, mut conn) = temp_db();
        let id = CustomerId::new(5).unwrap();
        apply_changes(&mut conn, &[snapshot(5, 1000, 10)], None, 1, now()).unwrap();
        let milk = PromotionId::parse("milk").unwrap();
        let cached = find(&conn, CustomerKey::Id(id), at_once())
            .unwrap()
            .unwrap();
        assert_eq!(cached.standing.gender, Gender::Female);
        assert_eq!(cached.standing.birthday, MonthDay::new(9, 23));
        assert_eq!(
            cached
                .standing
                .age_on(NaiveDate::from_ymd_opt(2026, 9, 22).unwrap()),
            Some(35)
        );
        assert_eq!(cached.standing.purchases, Some(3));
        assert_eq!(cached.standing.tags, vec!["staff".to_owned()]);
        assert_eq!(cached.uses, BTreeMap::from([(milk.clone(), 2)]));

        let seq = outbox::commit(&mut conn, &key(), |seq, prev| {
            let mut r = sale(seq, prev);
            r.customer = Some(RecordCustomer {
                id,
                identified_by: IdentifiedBy::Card,
            });
            r.applied = vec![shared::pricing::AppliedRule {
                rule: shared::pricing::RuleRef::Promotion(milk.clone()),
                discount: Money::from_minor(50).unwrap(),
                funded_by: None,
            }];
            r
        })
        .unwrap()
        .seq;
        let cached = find(&conn, CustomerKey::Id(id), at_once())
            .unwrap()
            .unwrap();
        assert_eq!(cached.standing.purchases, Some(4));
        assert_eq!(cached.uses, BTreeMap::from([(milk.clone(), 3)]));
        assert_eq!(
            outbox::till_usage(&conn).unwrap(),
            BTreeMap::from([(milk.clone(), (1, 50))])
        );

        // A snapshot after the ack includes the use; nothing counts twice.
        let mut settled = snapshot(5, 1000, 10);
        settled.purchases = Some(4);
        settled.promotion_uses.insert(milk.clone(), 3);
        apply_changes(&mut conn, &[settled], Some(seq), 2, now()).unwrap();
        let cached = find(&conn, CustomerKey::Id(id), at_once())
            .unwrap()
            .unwrap();
        assert_eq!(cached.standing.purchases, Some(4));
        assert_eq!(cached.uses, BTreeMap::from([(milk, 3)]));
    }

    /// A customer who stays away drops out of a rolling tier at the till
    /// too: the snapshot's window spend ages to the till's clock.
    #[test]
    fn window_spend_leaves_the_window_on_the_tills_clock() {
        let (_dir, mut conn) = temp_db();
        let id = CustomerId::new(5).unwrap();
        let day = |n: i64| now() + chrono::TimeDelta::days(n);
        let mut synced = snapshot(5, 100_000, 0);
        synced.window_spend = Some(Money::from_minor(40_000).unwrap());
        synced.window_spend_leaving = vec![
            LeavingSpend {
                until: day(5),
                spend: Money::from_minor(30_000).unwrap(),
            },
            LeavingSpend {
                until: day(20),
                spend: Money::from_minor(10_000).unwrap(),
            },
        ];
        apply_changes(&mut conn, &[synced], None, 1, now()).unwrap();
        let window = |at: DateTime<Utc>| {
            cached_at(&conn, id, at)
                .standing
                .window_spend
                .map(Money::minor)
        };
        assert_eq!(window(now()), Some(40_000));
        assert_eq!(window(day(5)), Some(10_000), "the first day's 300.00 left");
        assert_eq!(window(day(20)), Some(0));
    }

    #[test]
    fn window_spend_and_the_last_birthday_bonus_are_the_snapshots_plus_pending_ones() {
        let (_dir, mut conn) = temp_db();
        let id = CustomerId::new(5).unwrap();
        let mut synced = snapshot(5, 100_000, 0);
        synced.window_spend = Some(Money::from_minor(40_000).unwrap());
        synced.last_birthday_bonus = NaiveDate::from_ymd_opt(2025, 9, 23);
        apply_changes(&mut conn, &[synced], None, 1, now()).unwrap();
        let moscow = LocalPoints {
            timezone: Some(chrono_tz::Europe::Moscow),
            ..at_once()
        };
        let cached = find(&conn, CustomerKey::Id(id), moscow).unwrap().unwrap();
        assert_eq!(cached.standing.window_spend.map(Money::minor), Some(40_000));
        assert_eq!(
            cached.standing.last_birthday_bonus,
            NaiveDate::from_ymd_opt(2025, 9, 23)
        );

        // A local sale at 22:30 UTC on 23 September 2026 gave the bonus: it
        // is the 24th in Moscow.
        outbox::commit(&mut conn, &key(), |seq, prev| {
            let mut r = sale(seq, prev);
            r.customer = Some(RecordCustomer {
                id,
                identified_by: IdentifiedBy::Card,
            });
            r.total = Money::from_minor(5_000).unwrap();
            r.wall_time = "2026-09-23T22:30:00Z".parse().unwrap();
            r.point_awards = vec![shared::pricing::PointsAward {
                rule: shared::pricing::RuleRef::BirthdayBonus,
                points: 50,
            }];
            r
        })
        .unwrap();
        let cached = find(&conn, CustomerKey::Id(id), moscow).unwrap().unwrap();
        assert_eq!(cached.standing.window_spend.map(Money::minor), Some(45_000));
        assert_eq!(
            cached.standing.last_birthday_bonus,
            NaiveDate::from_ymd_opt(2026, 9, 24)
        );
        let (standing, _) = uncached(&conn, id, moscow).unwrap();
        assert_eq!(
            standing.last_birthday_bonus,
            NaiveDate::from_ymd_opt(2026, 9, 24)
        );

        // Tiers by lifetime: no window spend, pending or not.
        apply_changes(&mut conn, &[snapshot(5, 100_000, 0)], None, 2, now()).unwrap();
        let cached = find(&conn, CustomerKey::Id(id), moscow).unwrap().unwrap();
        assert_eq!(cached.standing.window_spend, None);
    }

    #[test]
    fn an_uncached_customer_stands_on_pending_effects_alone() {
        let (_dir, mut conn) = temp_db();
        let id = CustomerId::new(9).unwrap();
        assert_eq!(
            uncached(&conn, id, at_once()).unwrap().0,
            CustomerStanding::default()
        );
        commit_for(&mut conn, id, 300, 3);
        assert_eq!(uncached(&conn, id, at_once()).unwrap().0.points_balance, 3);
    }

    #[test]
    fn local_earnings_wait_for_the_pending_period_and_spending_counts_at_once() {
        let (_dir, mut conn) = temp_db();
        let id = CustomerId::new(5).unwrap();
        apply_changes(&mut conn, &[snapshot(5, 1000, 100)], None, 1, now()).unwrap();
        let earned = commit_for(&mut conn, id, 500, 5);
        let spent = outbox::commit(&mut conn, &key(), |seq, prev| {
            let mut r = sale(seq, prev);
            r.customer = Some(RecordCustomer {
                id,
                identified_by: IdentifiedBy::Card,
            });
            r.points_redeemed = 30;
            r
        })
        .unwrap();
        let committed = spent.wall_time;
        let later = committed + chrono::TimeDelta::days(14);
        let (then, after) = (cached_at(&conn, id, committed), cached_at(&conn, id, later));
        assert_eq!(
            then.standing.points_balance,
            100 - 30,
            "the 5 earned are pending"
        );
        assert_eq!(then.points_pending, 5, "shown to the cashier as pending");
        assert_eq!(
            (after.standing.points_balance, after.points_pending),
            (100 - 30 + 5, 0)
        );

        assert_eq!(unacknowledged_redeemed(&conn, id).unwrap(), 30);
        assert_eq!(
            unacknowledged_redeemed(&conn, CustomerId::new(6).unwrap()).unwrap(),
            0
        );
        outbox::ack_through(&conn, earned).unwrap();
        assert_eq!(unacknowledged_redeemed(&conn, id).unwrap(), 30);
        outbox::ack_through(&conn, spent.seq).unwrap();
        assert_eq!(
            unacknowledged_redeemed(&conn, id).unwrap(),
            0,
            "the server has it"
        );
    }

    #[test]
    fn the_snapshots_points_age_to_the_tills_clock() {
        let (_dir, mut conn) = temp_db();
        let id = CustomerId::new(5).unwrap();
        let day = |n: i64| now() + chrono::TimeDelta::days(n);
        let mut anna = snapshot(5, 1000, 60);
        anna.points_pending = vec![PendingPoints {
            points: 30,
            until: day(10),
            expires: Some(day(300)),
            held: false,
        }];
        anna.points_expiring = vec![ExpiringPoints {
            points: 60,
            on: day(100),
        }];
        apply_changes(&mut conn, &[anna], None, 1, now()).unwrap();
        let balance = |at: DateTime<Utc>| cached_at(&conn, id, at).standing.points_balance;
        assert_eq!(balance(now()), 60);
        assert_eq!(balance(day(10)), 90, "the pending 30 became available");
        let waiting = |at: DateTime<Utc>| cached_at(&conn, id, at).points_pending;
        assert_eq!((waiting(now()), waiting(day(10))), (30, 0));
        assert_eq!(balance(day(100)), 30, "the 60 expired");
        assert_eq!(balance(day(300)), 0);
    }
}
