//! The customers use cases: sign-up, a customer's standing and history,
//! revoking their tokens, the change feed that fills the registers' caches,
//! and the overdraft report.
//!
//! The change feed is built once for many registers: a sale wakes every
//! register waiting on its merchant's feed, and those at the same cursor
//! share one page (see [`Customers::changes`]), as do registers asking
//! afresh at one cursor (after their pacing), with each register's own
//! `stored_through` read in the page's snapshot.
//!
//! Standing is computed, never kept as a running total: lifetime spend is
//! the sum of what ingest stored per record; points are the ledger replayed
//! by [`shared::points::replay`] in the server's order under the
//! programme of the merchant's current ruleset, at the instant the caller
//! passes.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use shared::identity::{Ean13, Email, Gender, PhoneNumber, first_name};
use shared::ids::{CustomerId, MerchantId, RegisterId, RulesetVersion, Seq};
use shared::money::Money;
use shared::points::{PointsPolicy, PointsStanding, replay};
use shared::pricing::CustomerStanding;
use shared::ruleset::TierBasis;
use shared::wire::sync::{CustomerDeltaPage, CustomerSnapshot, LeavingSpend};

use crate::db::{Announcement, ChangedCustomer, DbError, Repository, Tx};
use crate::notify::{Generation, Wake};
use crate::wire::admin::{
    CustomerOverdraft, NewCustomer, OverdraftRecord, OverdraftReport, PointsAdjustment,
    PurchaseSummary,
};

/// The most purchases a customer view lists.
const PURCHASES_SHOWN: usize = 100;

/// A customer with the standing the server computes.
#[derive(Debug, Clone)]
pub struct CustomerProfile {
    /// Id.
    pub id: CustomerId,
    /// Merchant.
    pub merchant_id: MerchantId,
    /// Name.
    pub name: String,
    /// Phone.
    pub phone: Option<PhoneNumber>,
    /// E-mail.
    pub email: Option<Email>,
    /// Gender.
    pub gender: Gender,
    /// Birth date.
    pub birth_date: Option<NaiveDate>,
    /// Sales minus refunds.
    pub lifetime_spend: Money,
    /// Points replayed from the ledger under the current ruleset's
    /// programme, at the instant asked for.
    pub points: PointsStanding,
    /// The newest purchases first.
    pub purchases: Vec<PurchaseSummary>,
    /// The newest points adjustments first.
    pub adjustments: Vec<PointsAdjustment>,
}

/// Customers and their standing.
#[derive(Clone)]
pub struct Customers {
    repo: Arc<dyn Repository>,
    feed: Arc<Feed>,
}

/// A change page built once for every register that asks for it at one
/// generation, with the head of each of the merchant's registers read in
/// the same snapshot.
#[derive(Debug)]
struct SharedPage {
    /// The page, `stored_through` left out.
    page: CustomerDeltaPage,
    /// Each register's highest stored seq in the page's snapshot.
    heads: HashMap<RegisterId, Seq>,
    /// The version of the ruleset whose programme it was built under.
    ruleset: Option<RulesetVersion>,
    /// When it was built.
    built: tokio::time::Instant,
}

/// How long a page built for one register's fresh request is taken by
/// another's: the registers paced alike ask within moments of each other,
/// and a page kept longer would date their customers' points from then.
const FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// A shared page, built by the first register that needs it.
type PageCell = Arc<tokio::sync::OnceCell<Arc<SharedPage>>>;

/// What one merchant's feed knows at one generation of its customers.
#[derive(Debug, Default)]
struct MerchantPages {
    /// The generation everything below was read at (or after).
    generation: Generation,
    /// Shared pages by (after, limit).
    pages: HashMap<(i64, usize), PageCell>,
    /// Cursors after which nothing had changed, in a snapshot begun at
    /// this generation.
    quiet: HashSet<i64>,
}

/// The pages the change feed shares, when each register may have its
/// next page, and its counters.
#[derive(Debug)]
struct Feed {
    merchants: Mutex<HashMap<MerchantId, MerchantPages>>,
    /// Registers sent a page lately (that said no more were ready), and
    /// the instant their next may be sent.
    paced: Mutex<HashMap<RegisterId, tokio::time::Instant>>,
    /// Where the ticks of the pacing interval are counted from.
    epoch: tokio::time::Instant,
    computed: AtomicU64,
    answered: AtomicU64,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            merchants: Mutex::default(),
            paced: Mutex::default(),
            epoch: tokio::time::Instant::now(),
            computed: AtomicU64::default(),
            answered: AtomicU64::default(),
        }
    }
}

impl Feed {
    fn lock_paced(&self) -> std::sync::MutexGuard<'_, HashMap<RegisterId, tokio::time::Instant>> {
        self.paced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<MerchantId, MerchantPages>> {
        self.merchants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Drops `cell`, the shared page at `key` of `generation`, from those
    /// kept (those that asked for it already have it).
    fn forget(
        &self,
        merchant: MerchantId,
        generation: Generation,
        key: (i64, usize),
        cell: &PageCell,
    ) {
        if let Some(pages) = self.lock().get_mut(&merchant)
            && pages.generation == generation
            && pages
                .pages
                .get(&key)
                .is_some_and(|kept| Arc::ptr_eq(kept, cell))
        {
            pages.pages.remove(&key);
        }
    }

    /// Notes that nothing changed after `cursor` in a snapshot begun at
    /// `generation`.
    fn quiet(&self, merchant: MerchantId, generation: Generation, cursor: i64) {
        if let Some(pages) = self.lock().get_mut(&merchant)
            && pages.generation == generation
        {
            pages.quiet.insert(cursor);
        }
    }
}

/// The change feed's work so far, for tests and the perf harness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedCounters {
    /// Pages built from storage (each a ruleset read, the changed
    /// customers' aggregates and a points replay per customer).
    pub pages_computed: u64,
    /// Checks of a register's feed answered, whether with a page built
    /// for it, one shared with others, or nothing new.
    pub checks_answered: u64,
}

/// How [`Customers::changes`] answers one check.
enum Plan {
    /// Nothing changed after the cursor: no page.
    Quiet,
    /// A page shared with the other registers at the cursor.
    Shared(PageCell),
    /// A page of the register's own: a newer generation is known already,
    /// or a page another register built read an older head of this one.
    Own,
}

/// An empty page: nothing after `after`.
fn nothing_after(after: i64) -> CustomerDeltaPage {
    CustomerDeltaPage {
        next_cursor: after,
        customers: Vec::new(),
        more: false,
        stored_through: None,
        phone_salt: None,
    }
}

/// The points policy of the merchant's current ruleset (none published:
/// points are available at once and never expire).
fn policy(tx: &mut dyn Tx, merchant: MerchantId) -> Result<PointsPolicy, DbError> {
    Ok(tx
        .current_ruleset(merchant)?
        .map(|c| PointsPolicy::of(&c.ruleset.programme))
        .unwrap_or_default())
}

/// The customer's points at `now`.
fn points(
    tx: &mut dyn Tx,
    policy: PointsPolicy,
    customer: CustomerId,
    now: DateTime<Utc>,
) -> Result<PointsStanding, DbError> {
    Ok(replay(policy, &tx.ledger(customer)?, now))
}

impl Customers {
    /// The service over `repo`.
    pub fn new(repo: Arc<dyn Repository>) -> Self {
        Customers {
            repo,
            feed: Arc::default(),
        }
    }

    /// Signs a customer up; a phone taken in the merchant is a conflict.
    pub async fn create(
        &self,
        merchant: MerchantId,
        new: NewCustomer,
    ) -> Result<CustomerId, DbError> {
        self.repo
            .write(move |tx| {
                let id = tx.insert_customer(merchant, &new)?;
                tx.announce(Announcement::Customers { merchant })?;
                Ok(id)
            })
            .await
    }

    /// A customer with standing (points taken at `now`) and history.
    pub async fn profile(
        &self,
        id: CustomerId,
        now: DateTime<Utc>,
    ) -> Result<CustomerProfile, DbError> {
        self.repo
            .read(move |tx| {
                let row = tx
                    .customer(id)?
                    .ok_or_else(|| DbError::NotFound(format!("customer {id}")))?;
                let policy = policy(tx, row.merchant_id)?;
                Ok(CustomerProfile {
                    points: points(tx, policy, id, now)?,
                    purchases: tx.purchases(id, PURCHASES_SHOWN)?,
                    adjustments: tx.adjustments(id, PURCHASES_SHOWN)?,
                    id: row.id,
                    merchant_id: row.merchant_id,
                    name: row.name,
                    phone: row.phone,
                    email: row.email,
                    gender: row.gender,
                    birth_date: row.birth_date,
                    lifetime_spend: row.lifetime_spend,
                })
            })
            .await
    }

    /// Refuses the customer's tokens issued before `now`; returns the
    /// merchant, whose registers then fetch the customer again.
    pub async fn revoke_tokens(
        &self,
        id: CustomerId,
        now: DateTime<Utc>,
    ) -> Result<MerchantId, DbError> {
        self.repo
            .write(move |tx| {
                let merchant = tx
                    .set_tokens_valid_after(id, now)?
                    .ok_or_else(|| DbError::NotFound(format!("customer {id}")))?;
                tx.mark_customer_changed(merchant, id)?;
                tx.announce(Announcement::Customers { merchant })?;
                Ok(merchant)
            })
            .await
    }

    /// A page of the merchant's customers changed after `after`, in cursor
    /// order, with the highest seq of `register` stored when the page was
    /// read (the same snapshot); `now` places the rolling tier window and
    /// dates their points. An empty page when nothing changed.
    ///
    /// `wake` says when the register asks: its first check, or after a
    /// wake-up, at the generation of the merchant's customers read after
    /// its subscription. Every register asking at the same generation and
    /// cursor shares one page, so a sale that wakes N registers costs one
    /// page, not N:
    ///
    /// - The page is built in one read transaction, begun after the
    ///   generation was read, that also reads the head of each of the
    ///   merchant's registers. A change announced at or before that
    ///   generation was committed before, so the page has it; a change
    ///   announced after moves the generation and wakes the waiter again.
    ///   Each register's `stored_through` is its head in the page's own
    ///   snapshot, exactly as a page built for it alone.
    /// - A page with nothing more after its `next_cursor` notes that
    ///   cursor as quiet at the generation, so the registers' next
    ///   long-polls (at that cursor) wait without building a page.
    /// - A register's first check (a fresh request, such as one after its
    ///   pacing) shares pages too: with none at its cursor it builds the
    ///   shared one, its own head read in that page's snapshot as for a
    ///   page of its own, so the registers paced alike that ask after it
    ///   take that page instead of building theirs. Such a page that says
    ///   more are ready (a register catching up) is not kept for others.
    ///   A first check takes a page another register built only if its
    ///   head now is the head the page read (a record it uploaded since,
    ///   whose announcement from another instance has not arrived yet,
    ///   must not count as settled), no ruleset was published since (the
    ///   programme dates points and sets the tier window) and the page is
    ///   at most [`FRESH_FOR`] old, and builds a page of its own otherwise.
    ///   Its points are then dated at its own `now`; a shared page's at the
    ///   instant the register that built it asked.
    pub async fn changes(
        &self,
        merchant: MerchantId,
        register: RegisterId,
        after: i64,
        limit: usize,
        now: DateTime<Utc>,
        wake: Wake,
    ) -> Result<CustomerDeltaPage, DbError> {
        self.feed.answered.fetch_add(1, Ordering::Relaxed);
        let plan = {
            let mut merchants = self.feed.lock();
            let pages = merchants.entry(merchant).or_default();
            if pages.generation < wake.generation {
                *pages = MerchantPages {
                    generation: wake.generation,
                    ..MerchantPages::default()
                };
            }
            if pages.generation != wake.generation {
                // A newer generation is known already: this check's
                // answers would be stale for others.
                Plan::Own
            } else if pages.quiet.contains(&after) {
                Plan::Quiet
            } else if let Some(cell) = pages.pages.get(&(after, limit)) {
                Plan::Shared(cell.clone())
            } else {
                let cell = PageCell::default();
                pages.pages.insert((after, limit), cell.clone());
                Plan::Shared(cell)
            }
        };
        match plan {
            Plan::Quiet => Ok(nothing_after(after)),
            Plan::Own => {
                self.own_page(merchant, register, after, limit, now, wake)
                    .await
            }
            Plan::Shared(cell) => {
                let mut built_here = false;
                let shared = cell
                    .get_or_try_init(|| {
                        built_here = true;
                        self.shared_page(merchant, after, limit, now, wake)
                    })
                    .await?
                    .clone();
                if built_here && wake.first && shared.page.more {
                    // A page in the middle of a register's catching up,
                    // which another seldom asks for at once: not kept.
                    self.feed
                        .forget(merchant, wake.generation, (after, limit), &cell);
                }
                if shared.page.customers.is_empty() {
                    return Ok(nothing_after(after));
                }
                let stored_through = shared.heads.get(&register).copied();
                // The page this check built read its head in its own
                // snapshot, as a page of its own does. Another's is taken
                // while fresh, if this register's head and the ruleset are
                // still those it read.
                if wake.first && !built_here {
                    let read = shared.ruleset.map_or(0, RulesetVersion::get);
                    let taken = shared.built.elapsed() <= FRESH_FOR
                        && self
                            .repo
                            .read(move |tx| {
                                let head = tx.head(register)?.map(|head| head.seq);
                                let newer = tx.latest_release_after(merchant, read)?;
                                Ok(head == stored_through && newer.is_none())
                            })
                            .await?;
                    if !taken {
                        return self
                            .own_page(merchant, register, after, limit, now, wake)
                            .await;
                    }
                }
                let mut page = shared.page.clone();
                page.stored_through = stored_through;
                Ok(page)
            }
        }
    }

    /// A page for `register` alone, with its head in the same snapshot.
    async fn own_page(
        &self,
        merchant: MerchantId,
        register: RegisterId,
        after: i64,
        limit: usize,
        now: DateTime<Utc>,
        wake: Wake,
    ) -> Result<CustomerDeltaPage, DbError> {
        self.feed.computed.fetch_add(1, Ordering::Relaxed);
        let page = self
            .repo
            .read(move |tx| {
                let (mut page, _) = change_page(tx, merchant, after, limit, now)?;
                page.stored_through = tx.head(register)?.map(|head| head.seq);
                Ok(page)
            })
            .await?;
        if !page.more {
            self.feed.quiet(merchant, wake.generation, page.next_cursor);
        }
        Ok(page)
    }

    /// A page for every register at `after`, with every register's head
    /// in the same snapshot.
    async fn shared_page(
        &self,
        merchant: MerchantId,
        after: i64,
        limit: usize,
        now: DateTime<Utc>,
        wake: Wake,
    ) -> Result<Arc<SharedPage>, DbError> {
        self.feed.computed.fetch_add(1, Ordering::Relaxed);
        let shared = self
            .repo
            .read(move |tx| {
                let (page, ruleset) = change_page(tx, merchant, after, limit, now)?;
                let heads = tx.merchant_heads(merchant)?.into_iter().collect();
                Ok(SharedPage {
                    page,
                    heads,
                    ruleset,
                    built: tokio::time::Instant::now(),
                })
            })
            .await?;
        if !shared.page.more {
            self.feed
                .quiet(merchant, wake.generation, shared.page.next_cursor);
        }
        Ok(Arc::new(shared))
    }

    /// When `register`'s next page of changes may be sent: `None` now.
    /// After a page that said no more were ready, the register waits for
    /// the tick [`next_tick`] gave when that page was sent (see
    /// `LongPollSettings::customer_page_interval_ms`).
    pub fn next_page_at(&self, register: RegisterId) -> Option<tokio::time::Instant> {
        let mut paced = self.feed.lock_paced();
        let at = *paced.get(&register)?;
        if at <= tokio::time::Instant::now() {
            paced.remove(&register);
            return None;
        }
        Some(at)
    }

    /// Notes that `register` was sent `page`: unless it was empty or more
    /// are ready, its next waits for the interval's next tick (see
    /// [`next_tick`]).
    pub fn page_sent(
        &self,
        register: RegisterId,
        page: &CustomerDeltaPage,
        interval: std::time::Duration,
    ) {
        if page.customers.is_empty() || page.more || interval.is_zero() {
            return;
        }
        let at = next_tick(self.feed.epoch, tokio::time::Instant::now(), interval);
        self.feed.lock_paced().insert(register, at);
    }

    /// The change feed's work so far.
    pub fn feed_counters(&self) -> FeedCounters {
        FeedCounters {
            pages_computed: self.feed.computed.load(Ordering::Relaxed),
            checks_answered: self.feed.answered.load(Ordering::Relaxed),
        }
    }

    /// The merchant's customers whose points records overdrew, replayed in
    /// the server's order, with their balances at `now`.
    pub async fn overdrafts(
        &self,
        merchant: MerchantId,
        now: DateTime<Utc>,
    ) -> Result<OverdraftReport, DbError> {
        self.repo
            .read(move |tx| overdrafts(tx, merchant, now))
            .await
    }
}

/// When a register sent a page at `sent` may have its next: the first tick
/// of `interval` counted from `epoch` that is at least half an interval
/// after `sent` (half to one and a half intervals later, one on average).
/// Registers paced alike so ask at the same instant, at one cursor once
/// they have caught up, and share one page instead of building one each:
/// a register sent its page within half an interval after a tick is paced
/// to the tick an interval later, so once two have asked at one tick they
/// keep asking together.
#[must_use]
pub fn next_tick(
    epoch: tokio::time::Instant,
    sent: tokio::time::Instant,
    interval: std::time::Duration,
) -> tokio::time::Instant {
    let step = interval.as_nanos().max(1);
    let earliest = (sent + interval / 2).saturating_duration_since(epoch);
    let ticks = earliest.as_nanos().div_ceil(step);
    let offset = u64::try_from(ticks.saturating_mul(step)).unwrap_or(u64::MAX);
    epoch
        .checked_add(std::time::Duration::from_nanos(offset))
        .unwrap_or(sent + interval)
}

/// A page of the merchant's customers changed after `after`, with the
/// version of the ruleset whose programme it was built under.
fn change_page(
    tx: &mut dyn Tx,
    merchant: MerchantId,
    after: i64,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<(CustomerDeltaPage, Option<RulesetVersion>), DbError> {
    // The current programme, read once: its rolling tier window, if it has
    // one, and its points policy.
    let current = tx.current_ruleset(merchant)?;
    let version = current.as_ref().map(|c| c.version);
    let programme = current.map(|c| c.ruleset.programme);
    let window = match programme.as_ref().map(|p| p.tier_basis) {
        Some(TierBasis::RollingWindow { days }) => Some(TimeDelta::days(i64::from(days))),
        _ => None,
    };
    let policy = programme.as_ref().map(PointsPolicy::of).unwrap_or_default();
    let window_start = window.map(|w| now - w);
    // One row more than asked tells whether another page is ready.
    let mut rows = tx.changed_customers(merchant, after, limit.saturating_add(1), window_start)?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = rows.last().map_or(after, |c| c.cursor);
    let salt = tx.phone_salt(merchant)?;
    let mut customers = Vec::with_capacity(rows.len());
    for changed in rows {
        let standing = points(tx, policy, changed.row.id, now)?;
        let leaving = match (window, window_start) {
            (Some(window), Some(start)) => tx
                .spend_by_day(changed.row.id, start)?
                .into_iter()
                .map(|(latest, spend)| LeavingSpend {
                    until: latest + window,
                    spend,
                })
                .collect(),
            _ => Vec::new(),
        };
        customers.push(snapshot(changed, standing, leaving, &salt, now));
    }
    let page = CustomerDeltaPage {
        next_cursor,
        customers,
        more,
        stored_through: None,
        phone_salt: Some(salt),
    };
    Ok((page, version))
}

/// What a register caches of a customer: what pricing needs and a first
/// name to greet, never a full name, phone, e-mail or birth date. The
/// phone is hashed with the merchant's `salt`; the birth date becomes the
/// birthday's month and day and the age turned on it in `now`'s year,
/// which give every birthday window and age the date would.
fn snapshot(
    changed: ChangedCustomer,
    standing: PointsStanding,
    window_spend_leaving: Vec<LeavingSpend>,
    salt: &str,
    now: DateTime<Utc>,
) -> CustomerSnapshot {
    let row = changed.row;
    let mut priced = CustomerStanding::default();
    priced.set_birth_date(row.birth_date, now.year());
    CustomerSnapshot {
        id: row.id,
        name: first_name(&row.name),
        card_number: Ean13::card_for(row.id),
        phone_hash: row.phone.map(|p| p.salted_hash(salt)),
        lifetime_spend: row.lifetime_spend,
        points_balance: standing.available,
        tokens_valid_after: changed.tokens_valid_after,
        gender: row.gender,
        birthday: priced.birthday,
        age: priced.age,
        purchases: u64::try_from(changed.sales).ok(),
        tags: changed.tags,
        promotion_uses: changed.promotion_uses,
        last_birthday_bonus: changed.last_birthday_bonus,
        window_spend: changed.window_spend,
        window_spend_leaving,
        points_pending: standing.pending,
        points_expiring: standing.expiring,
    }
}

fn overdrafts(
    tx: &mut dyn Tx,
    merchant: MerchantId,
    now: DateTime<Utc>,
) -> Result<OverdraftReport, DbError> {
    let policy = policy(tx, merchant)?;
    let mut customers = Vec::new();
    for (customer_id, name) in tx.spending_customers(merchant)? {
        let standing = points(tx, policy, customer_id, now)?;
        if standing.overdrafts.is_empty() {
            continue;
        }
        let mut records = Vec::with_capacity(standing.overdrafts.len());
        // Adjustments never overdraw when made (a debit below zero is
        // refused); the report lists the records.
        for o in &standing.overdrafts {
            let Some((register_id, seq)) = o.key.as_record() else {
                continue;
            };
            let stored = tx.overdrawn_record(crate::db::RecordKey { register_id, seq })?;
            records.push(OverdraftRecord {
                record_id: stored.record_id,
                register_id,
                seq,
                store_id: stored.store_id,
                wall_time: o.at,
                cause: o.cause,
                points_redeemed: stored.points_redeemed,
                overdrawn: o.points,
                balance_after: o.balance_after,
            });
        }
        customers.push(CustomerOverdraft {
            customer_id,
            name,
            points_balance: standing.available,
            overdrawn: standing.overdrafts.iter().map(|o| o.points).sum(),
            records,
        });
    }
    Ok(OverdraftReport {
        merchant_id: merchant,
        customers,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::next_tick;

    #[test]
    fn a_paced_register_waits_for_a_tick_half_to_one_and_a_half_intervals_on() {
        let (epoch, interval, ms) = (
            Instant::now(),
            Duration::from_secs(2),
            Duration::from_millis,
        );
        let at = |sent: u64| next_tick(epoch, epoch + ms(sent), interval) - epoch;
        assert_eq!(at(100), ms(2_000));
        assert_eq!(at(1_000), ms(2_000), "half an interval, exactly on a tick");
        assert_eq!(at(1_001), ms(4_000));
        assert_eq!(at(2_000), ms(4_000));
        for sent in (0..10_000).step_by(37) {
            let waits = at(sent) - ms(sent);
            assert!(
                waits >= interval / 2 && waits < interval * 3 / 2,
                "{sent}: {waits:?}"
            );
            assert!((at(sent).as_millis() % 2_000) == 0, "{sent}: on a tick");
        }
    }

    #[test]
    fn registers_paced_apart_ask_together_from_their_next_tick_on() {
        let (epoch, interval, ms) = (
            Instant::now(),
            Duration::from_secs(2),
            Duration::from_millis,
        );
        // When a register asks, from its first page sent at `sent`, until
        // 8 s: each page is answered 50 ms after it was asked for.
        let asks = |sent: u64| {
            let mut sent = epoch + ms(sent);
            let mut asked = Vec::new();
            loop {
                let at = next_tick(epoch, sent, interval);
                if at - epoch > ms(8_000) {
                    return asked;
                }
                asked.push((at - epoch).as_millis());
                sent = at + ms(50);
            }
        };
        // Two registers sent their pages 1.4 s apart: from 4 s on they ask
        // at the same ticks.
        assert_eq!(asks(300), [2_000, 4_000, 6_000, 8_000]);
        assert_eq!(asks(1_700), [4_000, 6_000, 8_000]);
    }
}
