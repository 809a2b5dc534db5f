//! Open checks, their pricing, and the commit that turns one into a signed
//! purchase record in the outbox.
//!
//! Open checks live in memory: a check that was never committed is not a
//! sale. Every change answers with the check priced by the ruleset in use.
//! A commit takes the check out of the open set first, so a second commit of
//! the same check finds nothing and can never write a second record; if the
//! commit fails, the check is put back for another try.
//!
//! At most `api.max_open_checks` are open at once (one more is refused with
//! [`CheckError::TooManyOpen`], 429), and a check nobody opened, changed or
//! read for `api.check_idle_secs` expires: it is dropped the next time the
//! open checks are looked at. Idle time is monotonic
//! ([`crate::Clock::monotonic`]): a wall clock stepping forward expires
//! nothing.
//!
//! # Idempotent commits
//!
//! A commit may carry the till's own [`SaleId`]. It is stored with the reply
//! in the transaction that appends the record (see
//! [`crate::store::sales`]), so a till that lost the reply (the agent was
//! killed, the request timed out) repeats the commit and gets the same
//! reply, same seq and same receipt, even after a restart; or asks
//! `GET /v1/sales/{sale_id}`. While a commit with that id is in flight, a
//! second one is refused with [`CheckError::CommitInProgress`]; an id used
//! for another check is refused with [`CheckError::SaleIdReused`].
//!
//! # Points offline
//!
//! Points are spent only from the customer's available balance (the cached
//! snapshot less this till's pending spending, see
//! [`crate::store::customers`]). While the register is offline
//! ([`Agent::is_offline`]) the points a customer spends in this till's
//! records the server has not acknowledged may not pass the programme's
//! `redemption.offline_cap_points`: asking for more is refused with
//! [`CheckError::OfflineCap`] (422 `offline_cap`), and a commit re-checks it
//! inside its transaction.

use std::collections::{HashMap, HashSet};
use std::sync::{MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use shared::basket::{BasketError, Line};
use shared::coupon::CouponCode;
use shared::crypto::Hash256;
use shared::ids::{PromotionId, SaleId, Seq};
use shared::money::{AmountError, Money};
use shared::pricing::{PricedCheck, PricingContext, PricingError, PromotionUsage, UsageCounts};
use shared::record::{
    PricingInputs, PurchaseRecord, RECORD_FORMAT, RecordCustomer, RecordKind, RecordLine, SumError,
};
use shared::token::TokenError;
use shared::wire::till::{
    AttachCustomer, CheckLine, CheckView, Committed, CustomerBrief, SaleOutcome,
};
use uuid::Uuid;

use crate::active_ruleset::ActiveRuleset;
use crate::agent::Agent;
use crate::identify::{self, Credential, CredentialError, Identified};
use crate::store::{StoreError, customers, outbox, sales};

/// Why a check operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// No open check has this id: never opened, committed, cancelled or
    /// expired.
    #[error("no open check {0}: never opened, committed, cancelled or expired untouched")]
    NotFound(Uuid),
    /// As many checks as `api.max_open_checks` are open.
    #[error(
        "{max} checks are open, the most this register keeps: commit or cancel one \
         (an untouched check expires after {idle_secs} s)"
    )]
    TooManyOpen {
        /// `api.max_open_checks`.
        max: usize,
        /// `api.check_idle_secs`.
        idle_secs: u64,
    },
    /// The check has no such line.
    #[error("the check has no line {0}")]
    LineNotFound(u32),
    /// A line or the basket is invalid.
    #[error(transparent)]
    Basket(#[from] BasketError),
    /// Committing a check without lines.
    #[error("an empty check cannot be committed")]
    Empty,
    /// Points asked for without a customer on the check.
    #[error("attach a customer before paying with points")]
    NoCustomer,
    /// Spending these points offline would pass the merchant's cap.
    #[error(
        "the register cannot reach the server: at most {cap} points per customer may be \
         spent offline; {spent} are spent in records not uploaded yet and this check would \
         spend {asked}"
    )]
    OfflineCap {
        /// The programme's `offline_cap_points`.
        cap: i64,
        /// Spent by the customer in records not acknowledged yet.
        spent: i64,
        /// What the check would spend.
        asked: i64,
    },
    /// The till's lease of a promotion no longer covers what the check
    /// was priced to give (another commit used it, or a renewal shrank
    /// it, meanwhile); the check stays open, priced again.
    #[error(
        "this till's share of promotion {promotion} changed while the check was priced; \
         look at the check again and commit"
    )]
    LeaseChanged {
        /// The promotion.
        promotion: PromotionId,
    },
    /// A request value out of range.
    #[error("{0}")]
    Invalid(String),
    /// The sale id was committed already, from another check.
    #[error("sale id {sale_id} was already committed from check {check_id}")]
    SaleIdReused {
        /// The sale id.
        sale_id: SaleId,
        /// The check it was committed from.
        check_id: Uuid,
    },
    /// A commit with this sale id is under way; ask again.
    #[error("a commit of sale {0} is under way; repeat the request to learn its outcome")]
    CommitInProgress(SaleId),
    /// No sale was committed with this id.
    #[error("no sale {0} was committed on this register")]
    SaleNotFound(SaleId),
    /// The customer credential was refused.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// No cached customer holds the card or phone.
    #[error("no customer with {0}")]
    CustomerNotFound(String),
    /// The record the check would make does not add up (a defect of the
    /// engine): refused before it is signed, as the server would refuse it.
    #[error("the record of this check would not add up: {0}")]
    Sums(#[from] SumError),
    /// A figure of the check, or a promotion's spend the till counts,
    /// left the money range: the check is refused, never priced at zero.
    #[error("this check cannot be priced: {0}")]
    Amount(#[from] AmountError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PricingError> for CheckError {
    fn from(err: PricingError) -> Self {
        match err {
            PricingError::Basket(e) => CheckError::Basket(e),
            PricingError::Amount(e) => CheckError::Amount(e),
        }
    }
}

/// The outcome of a commit.
#[derive(Clone, Debug)]
pub enum Commit {
    /// Committed now, and where the time went.
    New(Committed, CommitStages),
    /// Committed before with the same sale id: its first reply.
    Replayed(Committed),
}

/// Where a commit's time went, stage by stage (the `/metrics` histogram
/// `commit_stage_seconds`; the perf harness prints the breakdown).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStages {
    /// Pricing the check a last time and building its record.
    pub priced: Duration,
    /// Waiting for the database thread.
    pub queued: Duration,
    /// Inside the transaction: see [`outbox::CommitTimings`].
    pub transaction: outbox::CommitTimings,
    /// Counting the sale in the leases' book after the commit.
    pub after: Duration,
}

/// Where a scanned coupon went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScannedCoupon {
    /// The check that took it, if one is open and had room.
    pub check_id: Option<Uuid>,
    /// Whether a promotion of the ruleset in use asks for this code.
    pub known: bool,
}

/// The checks open on this register.
#[derive(Debug, Default)]
pub struct OpenChecks {
    checks: HashMap<Uuid, OpenCheck>,
    opened: u64,
    /// Sale ids of commits under way.
    committing: HashSet<SaleId>,
}

#[derive(Clone, Debug)]
pub(crate) struct OpenCheck {
    /// Order of opening, to find the most recent check.
    opened: u64,
    /// When the check was last opened, changed or read
    /// ([`crate::Clock::monotonic`]).
    touched: Duration,
    lines: Vec<CheckLine>,
    next_line_id: u32,
    customer: Option<Identified>,
    coupons: Vec<String>,
    redeem_points: i64,
}

impl OpenChecks {
    /// The most recently opened check, touched now.
    fn latest(&mut self, now: Duration) -> Option<(Uuid, &mut OpenCheck)> {
        self.checks
            .iter_mut()
            .max_by_key(|(_, check)| check.opened)
            .map(|(id, check)| {
                check.touched = now;
                (*id, check)
            })
    }

    /// The open check `id`, touched now.
    fn live(&mut self, id: Uuid, now: Duration) -> Result<&mut OpenCheck, CheckError> {
        let check = self.checks.get_mut(&id).ok_or(CheckError::NotFound(id))?;
        check.touched = now;
        Ok(check)
    }
}

impl OpenCheck {
    fn basket(&self) -> Vec<Line> {
        self.lines.iter().map(|l| l.line.clone()).collect()
    }
}

impl Agent {
    /// The open checks, those idle past `api.check_idle_secs` dropped.
    fn open_checks(&self) -> MutexGuard<'_, OpenChecks> {
        // Plain data: a panic elsewhere leaves it usable.
        let mut open = self.checks.lock().unwrap_or_else(PoisonError::into_inner);
        let idle = self.config.api.check_idle_secs;
        if idle > 0 {
            let idle = Duration::from_secs(idle);
            let now = self.clock.monotonic();
            let before = open.checks.len();
            open.checks
                .retain(|_, check| now.saturating_sub(check.touched) <= idle);
            let expired = before - open.checks.len();
            if expired > 0 {
                tracing::info!(expired, "open checks expired untouched");
            }
        }
        open
    }

    /// Where, when and with what the check is priced: the store's time
    /// zone, the coupons and points asked for, and the promotion usage this
    /// till knows (its own, and the customer's as synced plus pending).
    ///
    /// A promotion's spend is read only against its budget: one with a
    /// budget whose spend on this till left the money range refuses the
    /// check ([`CheckError::Amount`]) rather than read as zero, which would
    /// give the whole budget again.
    fn pricing_context(
        &self,
        active: &ActiveRuleset,
        check: &OpenCheck,
    ) -> Result<PricingContext, CheckError> {
        let budgeted: HashSet<&PromotionId> = active
            .engine
            .ruleset()
            .promotions
            .iter()
            .filter(|p| p.limits.budget.is_some())
            .map(|p| &p.id)
            .collect();
        let mut usage = UsageCounts::default();
        {
            let till = self
                .till_usage
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (id, &(uses, spent)) in till.iter() {
                usage.promotions.insert(
                    id.clone(),
                    PromotionUsage {
                        uses: u64::try_from(uses).unwrap_or(0),
                        // What this till gave on the promotion; the engine
                        // reads it only against a budget.
                        spent: if budgeted.contains(id) {
                            Money::from_minor(spent)?
                        } else {
                            Money::ZERO
                        },
                        ..PromotionUsage::default()
                    },
                );
            }
        }
        let now = self.clock.now();
        {
            let book = self
                .leases
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for p in &active.engine.ruleset().promotions {
                if let Some(left) = book.pricing_input(p, now) {
                    usage.promotions.entry(p.id.clone()).or_default().leased = Some(left);
                }
            }
        }
        if let Some(customer) = &check.customer {
            for (id, &n) in &customer.uses {
                usage
                    .promotions
                    .entry(id.clone())
                    .or_default()
                    .customer_uses = n;
            }
        }
        Ok(PricingContext {
            timezone: self.config.register.store_timezone.to_string(),
            brand: self.config.register.store_brand,
            coupons: check.coupons.clone(),
            redeem_points: check.redeem_points,
            usage,
            customer: check.customer.as_ref().map(|c| c.id),
            ..PricingContext::new(self.config.register.store_id, now)
        })
    }

    /// The store's time zone.
    pub(crate) fn store_timezone(&self) -> Option<chrono_tz::Tz> {
        Some(self.config.register.store_timezone.tz())
    }

    fn price(&self, active: &ActiveRuleset, check: &OpenCheck) -> Result<PricedCheck, CheckError> {
        let standing = check.customer.as_ref().map(|c| &c.standing);
        Ok(active.engine.price(
            &check.basket(),
            standing,
            &self.pricing_context(active, check)?,
        )?)
    }

    fn view(&self, id: Uuid, check: &OpenCheck) -> Result<CheckView, CheckError> {
        let active = self.rulesets.current();
        Ok(CheckView {
            id,
            lines: check.lines.clone(),
            customer: check
                .customer
                .as_ref()
                .map(|c| c.brief(active.engine.ruleset())),
            ruleset_version: active.version,
            coupons: check.coupons.clone(),
            redeem_points: check.redeem_points,
            pricing: self.price(&active, check)?,
        })
    }

    /// Runs `f` on the open check `id` and answers with its view.
    fn update_check(
        &self,
        id: Uuid,
        f: impl FnOnce(&mut OpenCheck) -> Result<(), CheckError>,
    ) -> Result<CheckView, CheckError> {
        let mut open = self.open_checks();
        let check = open.live(id, self.clock.monotonic())?;
        f(check)?;
        self.view(id, check)
    }

    /// Opens an empty check.
    pub fn open_check(&self) -> Result<CheckView, CheckError> {
        let id = Uuid::now_v7();
        let mut open = self.open_checks();
        let max = self.config.api.max_open_checks;
        if open.checks.len() >= max {
            return Err(CheckError::TooManyOpen {
                max,
                idle_secs: self.config.api.check_idle_secs,
            });
        }
        open.opened += 1;
        let check = OpenCheck {
            opened: open.opened,
            touched: self.clock.monotonic(),
            lines: Vec::new(),
            next_line_id: 1,
            customer: None,
            coupons: Vec::new(),
            redeem_points: 0,
        };
        let view = self.view(id, &check)?;
        open.checks.insert(id, check);
        Ok(view)
    }

    /// The check as it stands, priced now.
    pub fn check(&self, id: Uuid) -> Result<CheckView, CheckError> {
        self.update_check(id, |_| Ok(()))
    }

    /// Adds a line, refusing one that would make the check unpriceable.
    pub fn add_line(&self, id: Uuid, line: Line) -> Result<CheckView, CheckError> {
        line.validate()?;
        let mut open = self.open_checks();
        let check = open.live(id, self.clock.monotonic())?;
        let line_id = check.next_line_id;
        check.lines.push(CheckLine { line_id, line });
        match self.view(id, check) {
            Ok(view) => {
                check.next_line_id += 1;
                Ok(view)
            }
            Err(err) => {
                check.lines.pop();
                Err(err)
            }
        }
    }

    /// Removes a line.
    pub fn remove_line(&self, id: Uuid, line_id: u32) -> Result<CheckView, CheckError> {
        self.update_check(id, |check| {
            let at = check
                .lines
                .iter()
                .position(|l| l.line_id == line_id)
                .ok_or(CheckError::LineNotFound(line_id))?;
            check.lines.remove(at);
            Ok(())
        })
    }

    /// Identifies the customer from what the till sent and attaches them.
    #[tracing::instrument(skip_all, fields(check_id = %id))]
    pub async fn attach_customer(
        &self,
        id: Uuid,
        attach: &AttachCustomer,
    ) -> Result<CheckView, CheckError> {
        self.check(id)?;
        let parse = || {
            Credential::parse(
                attach,
                &self.trusted_keys(),
                self.config.register.merchant_id,
                self.clock.now(),
            )
        };
        let credential = match (parse(), attach) {
            // A key this register does not know yet: the server rotated.
            (
                Err(CredentialError::Token(TokenError::UnknownKey(_))),
                AttachCustomer::Token(text),
            ) if self.learn_key_of(text).await => parse()?,
            (parsed, _) => parsed?,
        };
        let described = credential.describe();
        let local = self.local_points();
        let identified = self
            .db
            .call(move |conn| identify::resolve(conn, &credential, local))
            .await?
            .map_err(CredentialError::from)?
            .ok_or(CheckError::CustomerNotFound(described))?;
        self.update_check(id, |check| {
            check.customer = Some(identified);
            Ok(())
        })
    }

    /// Removes the customer from the check, and any points asked for.
    pub fn detach_customer(&self, id: Uuid) -> Result<CheckView, CheckError> {
        self.update_check(id, |check| {
            check.customer = None;
            check.redeem_points = 0;
            Ok(())
        })
    }

    /// Replaces the coupon codes entered on the check.
    pub fn set_coupons(&self, id: Uuid, codes: Vec<String>) -> Result<CheckView, CheckError> {
        let codes = valid_coupons(codes)?;
        self.update_check(id, |check| {
            check.coupons = codes;
            Ok(())
        })
    }

    /// Adds a coupon code to the check (again is harmless).
    pub fn add_coupon(&self, id: Uuid, code: String) -> Result<CheckView, CheckError> {
        let mut open = self.open_checks();
        let check = open.live(id, self.clock.monotonic())?;
        let mut codes = check.coupons.clone();
        codes.push(code);
        check.coupons = valid_coupons(codes)?;
        self.view(id, check)
    }

    /// The offline cap per customer, while it applies: the programme has
    /// one and the register is offline.
    fn offline_cap(&self, active: &ActiveRuleset) -> Option<i64> {
        let cap = active
            .engine
            .ruleset()
            .programme
            .redemption
            .as_ref()?
            .offline_cap_points?;
        self.is_offline().then_some(cap)
    }

    /// Asks to pay with up to `points` points (0 stops). The engine allows
    /// at most the available balance, which already counts this till's
    /// pending redemptions, and what the programme allows on the check; the
    /// view's `pricing.points_redeemed` says how many. Offline, what the
    /// check would spend must fit under the offline cap, or the request is
    /// refused and the check keeps the points it had.
    pub async fn redeem(&self, id: Uuid, points: i64) -> Result<CheckView, CheckError> {
        if points < 0 {
            return Err(CheckError::Invalid("points must not be negative".into()));
        }
        let customer = {
            let open = self.open_checks();
            let check = open.checks.get(&id).ok_or(CheckError::NotFound(id))?;
            check.customer.as_ref().map(|c| c.id)
        };
        let cap = match (customer, self.offline_cap(&self.rulesets.current())) {
            (Some(customer), Some(cap)) if points > 0 => {
                let spent = self
                    .db
                    .call_for_till(move |conn| customers::unacknowledged_redeemed(conn, customer))
                    .await?;
                Some((cap, spent))
            }
            _ => None,
        };
        let mut open = self.open_checks();
        let check = open.live(id, self.clock.monotonic())?;
        if points > 0 && check.customer.is_none() {
            return Err(CheckError::NoCustomer);
        }
        let before = check.redeem_points;
        check.redeem_points = points;
        let view = match self.view(id, check) {
            Ok(view) => view,
            Err(err) => {
                check.redeem_points = before;
                return Err(err);
            }
        };
        if let Some((cap, spent)) = cap
            && check.customer.as_ref().map(|c| c.id) == customer
            && let Err(err) = within_cap(cap, spent, view.pricing.points_redeemed)
        {
            check.redeem_points = before;
            return Err(err);
        }
        Ok(view)
    }

    /// Attaches a customer identified by a scan to the most recently opened
    /// check, if any is open.
    pub fn attach_to_latest_check(&self, identified: Identified) -> (CustomerBrief, Option<Uuid>) {
        let brief = identified.brief(self.rulesets.current().engine.ruleset());
        let mut open = self.open_checks();
        let check_id = open.latest(self.clock.monotonic()).map(|(id, check)| {
            check.customer = Some(identified);
            id
        });
        (brief, check_id)
    }

    /// Enters a scanned coupon on the most recently opened check, if any is
    /// open. Says which check took it (none when no check is open or it
    /// already holds the most codes a check takes) and whether a promotion
    /// of the ruleset in use asks for this code, so the cashier learns at
    /// once that a coupon unlocks nothing.
    pub fn add_scanned_coupon(&self, code: &CouponCode) -> ScannedCoupon {
        let key = shared::ruleset::normalize_coupon(code.as_str());
        let known = self
            .rulesets
            .current()
            .engine
            .ruleset()
            .promotions
            .iter()
            .any(|p| {
                p.coupon
                    .as_deref()
                    .is_some_and(|c| shared::ruleset::normalize_coupon(c) == key)
            });
        let mut open = self.open_checks();
        let check_id = open.latest(self.clock.monotonic()).and_then(|(id, check)| {
            let mut codes = check.coupons.clone();
            codes.push(code.as_str().to_owned());
            check.coupons = valid_coupons(codes).ok()?;
            Some(id)
        });
        ScannedCoupon { check_id, known }
    }

    /// Drops the check.
    pub fn cancel(&self, id: Uuid) -> Result<(), CheckError> {
        self.open_checks()
            .checks
            .remove(&id)
            .map(drop)
            .ok_or(CheckError::NotFound(id))
    }

    /// Prices the check a last time, seals its record and makes it durable
    /// in the outbox. The reply follows the SQLite `COMMIT`. With a sale
    /// id, a sale already committed with it answers its first reply
    /// ([`Commit::Replayed`]).
    #[tracing::instrument(skip_all, fields(check_id = %id))]
    pub async fn commit(&self, id: Uuid, sale_id: Option<SaleId>) -> Result<Commit, CheckError> {
        if let Some(sale) = &sale_id
            && let Some(replayed) = self.committed_sale(id, sale).await?
        {
            return Ok(Commit::Replayed(replayed));
        }
        let taken = {
            let mut open = self.open_checks();
            match open.checks.get(&id) {
                Some(check) if check.lines.is_empty() => return Err(CheckError::Empty),
                Some(_) => {
                    if let Some(sale) = &sale_id
                        && !open.committing.insert(sale.clone())
                    {
                        return Err(CheckError::CommitInProgress(sale.clone()));
                    }
                    open.checks.remove(&id)
                }
                None => match &sale_id {
                    Some(sale) if open.committing.contains(sale) => {
                        return Err(CheckError::CommitInProgress(sale.clone()));
                    }
                    _ => None,
                },
            }
        };
        let Some(check) = taken else {
            // Committed since the first look, by a request that has ended.
            if let Some(sale) = &sale_id
                && let Some(replayed) = self.committed_sale(id, sale).await?
            {
                return Ok(Commit::Replayed(replayed));
            }
            return Err(CheckError::NotFound(id));
        };
        let result = self.commit_taken(id, &check, sale_id.clone()).await;
        let mut open = self.open_checks();
        if let Some(sale) = &sale_id {
            open.committing.remove(sale);
        }
        match result {
            Ok((committed, stages)) => {
                drop(open);
                tracing::info!(seq = %committed.seq, total = %committed.pricing.total, "committed");
                self.upload_wake.notify_one();
                Ok(Commit::New(committed, stages))
            }
            Err(err) => {
                open.checks.insert(id, check);
                Err(err)
            }
        }
    }

    /// The reply given to the commit of `sale`, if it was committed; an
    /// error if it was committed from another check.
    async fn committed_sale(
        &self,
        id: Uuid,
        sale: &SaleId,
    ) -> Result<Option<Committed>, CheckError> {
        let key = sale.clone();
        let Some(recorded) = self
            .db
            .call_for_till(move |conn| sales::find(conn, &key))
            .await?
        else {
            return Ok(None);
        };
        if recorded.check_id != id {
            return Err(CheckError::SaleIdReused {
                sale_id: sale.clone(),
                check_id: recorded.check_id,
            });
        }
        Ok(Some(recorded.committed))
    }

    /// `GET /v1/sales/{sale_id}`: the outcome of the commit of `sale`.
    pub async fn sale(&self, sale: SaleId) -> Result<SaleOutcome, CheckError> {
        if self.open_checks().committing.contains(&sale) {
            return Err(CheckError::CommitInProgress(sale));
        }
        let key = sale.clone();
        match self
            .db
            .call_for_till(move |conn| sales::find(conn, &key))
            .await?
        {
            Some(recorded) => Ok(SaleOutcome {
                committed: recorded.committed,
                uploaded: recorded.uploaded,
            }),
            None => Err(CheckError::SaleNotFound(sale)),
        }
    }

    async fn commit_taken(
        &self,
        id: Uuid,
        check: &OpenCheck,
        sale_id: Option<SaleId>,
    ) -> Result<(Committed, CommitStages), CheckError> {
        let pricing_started = Instant::now();
        let active = self.rulesets.current();
        // One context for the pricing and the record: the record's wall
        // time is the time priced at, so the server prices it the same.
        let ctx = self.pricing_context(&active, check)?;
        let standing = check.customer.as_ref().map(|c| &c.standing);
        let pricing = active.engine.price(&check.basket(), standing, &ctx)?;
        let register = &self.config.register;
        let draft = PurchaseRecord {
            format: RECORD_FORMAT,
            id: Uuid::now_v7(),
            merchant_id: register.merchant_id,
            store_id: register.store_id,
            register_id: self.config.sync.register_id,
            // Set from the head inside the transaction.
            seq: Seq::FIRST,
            prev_hash: Hash256::GENESIS,
            wall_time: ctx.now,
            ruleset_version: active.version,
            kind: RecordKind::Sale,
            currency: register.currency,
            customer: check.customer.as_ref().map(|c| RecordCustomer {
                id: c.id,
                identified_by: c.identified_by,
            }),
            lines: record_lines(check, &pricing),
            subtotal: pricing.subtotal,
            discount: pricing.discount,
            total: pricing.total,
            points_earned: pricing.points_earned,
            points_redeemed: pricing.points_redeemed,
            applied: pricing.applied.clone(),
            point_awards: pricing.points.clone(),
            pricing_inputs: Some(PricingInputs::capture(
                active.engine.ruleset(),
                check.customer.as_ref().map(|c| &c.standing),
                &ctx,
            )),
        };
        // The server refuses a record whose sums do not add up; so does the
        // till, before it signs one.
        draft.check_sums()?;
        let key = std::sync::Arc::clone(&self.key);
        let max_upload_bytes = self.config.sync.max_upload_bytes;
        let cap = self
            .offline_cap(&active)
            .zip(draft.customer.map(|c| c.id))
            .filter(|_| draft.points_redeemed > 0);
        let leased = crate::quota::leased_promotions(active.engine.ruleset());
        let reply = Committed {
            sale_id,
            check_id: id,
            record_id: draft.id,
            seq: Seq::FIRST,
            pricing,
        };
        let priced = pricing_started.elapsed();
        let leases = std::sync::Arc::clone(&self.leases);
        let queued_at = Instant::now();
        let (record, reply, stages) = self
            .db
            .call_for_till(move |conn| {
                let queued = queued_at.elapsed();
                let mut reply = reply;
                let committed =
                    outbox::commit_timed(conn, &key, max_upload_bytes, |tx, seq, prev_hash| {
                        if let Some((cap, customer)) = cap {
                            let spent = customers::unacknowledged_redeemed(tx, customer)?;
                            within_cap(cap, spent, draft.points_redeemed)?;
                        }
                        crate::quota::check_covered(tx, &leased, &draft, draft.wall_time)?;
                        reply.seq = seq;
                        if let Some(sale) = &reply.sale_id {
                            if let Some(earlier) = sales::find(tx, sale)? {
                                return Err(CheckError::SaleIdReused {
                                    sale_id: sale.clone(),
                                    check_id: earlier.check_id,
                                });
                            }
                            sales::insert(tx, sale, &reply, draft.wall_time)?;
                        }
                        Ok::<_, CheckError>(PurchaseRecord {
                            seq,
                            prev_hash,
                            ..draft
                        })
                    })
                    .map(|(record, timings)| (record, reply, timings));
                // Storage errors go out as such, so the database raises its
                // storage alarm; a refusal by the cap is a value.
                match committed {
                    Ok((record, reply, transaction)) => {
                        // What is left of the leases now counts this sale:
                        // counted here, on the database thread, as the
                        // transaction counted it, rather than read again.
                        let counting = Instant::now();
                        leases
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .count(&record);
                        let stages = CommitStages {
                            priced,
                            queued,
                            transaction,
                            after: counting.elapsed(),
                        };
                        Ok(Ok((record, reply, stages)))
                    }
                    Err(CheckError::Store(err)) => Err(err),
                    Err(refused) => Ok(Err(refused)),
                }
            })
            .await??;
        self.count_usage(&record);
        Ok((reply, stages))
    }
}

/// Refuses spending `asked` points offline when `spent` already were and
/// the cap is `cap`.
fn within_cap(cap: i64, spent: i64, asked: i64) -> Result<(), CheckError> {
    if asked > 0 && spent.saturating_add(asked) > cap {
        return Err(CheckError::OfflineCap { cap, spent, asked });
    }
    Ok(())
}

fn record_lines(check: &OpenCheck, pricing: &PricedCheck) -> Vec<RecordLine> {
    check
        .lines
        .iter()
        .zip(&pricing.lines)
        .map(|(l, p)| RecordLine {
            sku: l.line.sku.clone(),
            name: l.line.name.clone(),
            category: l.line.category.clone(),
            quantity: l.line.quantity,
            unit_price: l.line.unit_price,
            amount: p.amount,
            discount: p.discount,
            total: p.total,
            points: p.points,
            applied: p.applied.clone(),
        })
        .collect()
}

/// The most coupon codes a check takes.
const MAX_COUPONS: usize = 20;
/// The longest coupon code.
const MAX_COUPON_CHARS: usize = 64;

/// Trims codes, drops duplicates (compared as the engine compares them) and
/// refuses empty or overlong ones.
fn valid_coupons(codes: Vec<String>) -> Result<Vec<String>, CheckError> {
    let mut out: Vec<String> = Vec::new();
    for code in codes {
        let code = code.trim().to_owned();
        if code.is_empty()
            || code.chars().count() > MAX_COUPON_CHARS
            || code.chars().any(char::is_control)
        {
            return Err(CheckError::Invalid(format!(
                "a coupon code must be 1..={MAX_COUPON_CHARS} printable characters"
            )));
        }
        let key = shared::ruleset::normalize_coupon(&code);
        if !out
            .iter()
            .any(|c| shared::ruleset::normalize_coupon(c) == key)
        {
            out.push(code);
        }
    }
    if out.len() > MAX_COUPONS {
        return Err(CheckError::Invalid(format!(
            "a check takes at most {MAX_COUPONS} coupons"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use chrono::TimeDelta;
    use secrecy::SecretString;
    use shared::crypto::SigningKey;
    use shared::ids::{MerchantId, RegisterId, RulesetVersion, StoreId};
    use shared::money::Currency;
    use shared::pricing::Engine;
    use shared::ruleset::{Programme, Ruleset};

    use super::*;
    use crate::active_ruleset::RulesetSlot;
    use crate::config::{ApiConfig, RegisterConfig, ScanConfig, SyncConfig};
    use crate::quota::LeaseBook;
    use crate::store::leases::{self, NewHeldLease};
    use crate::store::{Db, tests::temp_db};
    use crate::{AgentConfig, SystemClock};

    fn promotion(id: &str, sku: &str, limits: serde_json::Value) -> shared::ruleset::Promotion {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": id,
            "target": {"kind": "skus", "skus": [sku]},
            "reward": {"kind": "percent_off", "percent": 1000},
            "limits": limits
        }))
        .unwrap()
    }

    fn line(sku: &str, quantity: u32) -> Line {
        serde_json::from_value(serde_json::json!({
            "sku": sku, "name": sku, "quantity": quantity, "unit_price": 10_000
        }))
        .unwrap()
    }

    /// An agent over a real database, with a ruleset of two promotions
    /// under global limits and the leases of both held.
    async fn leased_agent(dir: &std::path::Path, conn: rusqlite::Connection) -> Agent {
        let register = RegisterConfig {
            merchant_id: MerchantId::new(1).unwrap(),
            store_id: StoreId::new(2).unwrap(),
            store_timezone: "Europe/Moscow".parse().unwrap(),
            store_brand: None,
            currency: Currency::RUB,
        };
        let key = SigningKey::from_seed(&[7; 32]).unwrap();
        let config = AgentConfig {
            data_dir: dir.to_path_buf(),
            sync: SyncConfig::new(
                "http://127.0.0.1:9".into(),
                RegisterId::new(3).unwrap(),
                SecretString::from("s3cret".to_owned()),
                SigningKey::from_seed(&[42; 32]).unwrap().public_key(),
            ),
            register,
            api: ApiConfig::default(),
            scanners: Vec::new(),
            hid_scanners: Vec::new(),
            scan: ScanConfig::default(),
        };
        let ruleset = Ruleset {
            currency: Currency::RUB,
            programme: Programme::default(),
            promotions: vec![
                promotion(
                    "milk",
                    "4600000000011",
                    serde_json::json!({"total_uses": 100}),
                ),
                promotion(
                    "bread",
                    "4600000000028",
                    serde_json::json!({"budget": 500_000}),
                ),
                promotion(
                    "eggs",
                    "4600000000035",
                    serde_json::json!({"per_customer": 5}),
                ),
            ],
        };
        let active = ActiveRuleset {
            version: Some(RulesetVersion::new(1).unwrap()),
            engine: Engine::new(ruleset).unwrap(),
        };
        let agent = Agent::new(
            config,
            key,
            Db::new(conn),
            RulesetSlot::new(active),
            Arc::new(SystemClock),
            BTreeMap::new(),
        );
        agent.reload_leases().await.unwrap();
        agent
    }

    async fn sell(agent: &Agent, lines: &[(&str, u32)]) {
        let id = agent.open_check().unwrap().id;
        for &(sku, quantity) in lines {
            agent.add_line(id, line(sku, quantity)).unwrap();
        }
        assert!(matches!(
            agent.commit(id, None).await.unwrap(),
            Commit::New(..)
        ));
    }

    async fn book_in_memory_and_stored(agent: &Agent) -> (LeaseBook, LeaseBook) {
        let memory = agent
            .leases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let stored = agent.db.call(|conn| LeaseBook::load(conn)).await.unwrap();
        (memory, stored)
    }

    #[tokio::test]
    async fn the_leases_book_counts_each_sale_as_a_fresh_read_would() {
        let (dir, conn) = temp_db();
        let agent = leased_agent(dir.path(), conn).await;
        let milk = PromotionId::parse("milk").unwrap();
        let bread = PromotionId::parse("bread").unwrap();
        // Two sales before the leases: the server counts them already.
        sell(&agent, &[("4600000000011", 1)]).await;
        sell(&agent, &[("4600000000028", 2)]).await;
        let now = agent.clock.now();
        let (milk_lease, bread_lease) = (milk.clone(), bread.clone());
        agent
            .update_leases(move |conn| {
                leases::set_offered(conn, true)?;
                leases::replace(
                    conn,
                    &[
                        NewHeldLease {
                            promotion: milk_lease,
                            lease_id: 1,
                            through_seq: 2,
                            uses: 40,
                            budget: 1_000_000,
                            expires_at: now + TimeDelta::hours(1),
                        },
                        // Granted against a head the till has not reached
                        // yet (a restored database): sales up to seq 3 are
                        // not counted against it.
                        NewHeldLease {
                            promotion: bread_lease,
                            lease_id: 2,
                            through_seq: 3,
                            uses: 40,
                            budget: 200_000,
                            expires_at: now + TimeDelta::hours(1),
                        },
                    ],
                    now,
                )
            })
            .await
            .unwrap();
        let (memory, stored) = book_in_memory_and_stored(&agent).await;
        assert_eq!(memory, stored);
        let baskets: [&[(&str, u32)]; 6] = [
            &[("4600000000011", 1), ("4600000000028", 1)],
            &[("4600000000028", 3)],
            &[("4600000000035", 1)],
            &[("4600000000011", 2), ("4600000000035", 1)],
            &[
                ("4600000000011", 1),
                ("4600000000028", 2),
                ("4600000000035", 4),
            ],
            &[("4600000000099", 1)],
        ];
        for basket in baskets {
            sell(&agent, basket).await;
            let (memory, stored) = book_in_memory_and_stored(&agent).await;
            assert_eq!(memory, stored, "after the sale of {basket:?}");
        }
        let (memory, _) = book_in_memory_and_stored(&agent).await;
        // Seq 3..8 are after the milk lease's seq 2: three sales of milk.
        assert_eq!(memory.held[&milk].used_uses, 3);
        // Seq 4..8 are after the bread lease's seq 3: two sales of bread
        // (seq 3 sold bread too, before the lease's head).
        assert_eq!(memory.held[&bread].used_uses, 2);
        assert!(memory.held[&bread].used_spent > 0);
    }
}
