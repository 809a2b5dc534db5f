//! DTOs of the admin API: merchant set-up, customers and statistics
//! (admin bearer token). Only this server and its clients (the admin CLI,
//! the tests) speak them, so they live here, not in `shared::wire`.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use shared::identity::{Ean13, Email, Gender, PhoneNumber};
use shared::ids::{
    BrandId, CustomerId, MerchantId, PromotionId, RegisterId, RulesetVersion, Seq, StoreId,
};
use shared::money::{Currency, Money};
use shared::points::{ExpiringPoints, OverdraftCause, PendingPoints};
use shared::timezone::TimeZone;

/// `POST /api/v1/admin/merchants`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewMerchant {
    /// Display name.
    #[schema(pattern = r"\S")]
    pub name: String,
    /// Currency of the programme.
    pub currency: Currency,
}

/// A merchant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Merchant {
    /// Id.
    pub id: MerchantId,
    /// Name.
    pub name: String,
    /// Currency.
    pub currency: Currency,
}

/// `POST /api/v1/admin/merchants/{id}/brands`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewBrand {
    /// Name.
    #[schema(pattern = r"\S")]
    pub name: String,
}

/// A brand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Brand {
    /// Id.
    pub id: BrandId,
    /// Owner.
    pub merchant_id: MerchantId,
    /// Name.
    pub name: String,
}

/// `POST /api/v1/admin/merchants/{id}/stores`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewStore {
    /// The brand it trades under.
    pub brand_id: Option<BrandId>,
    /// Name.
    #[schema(pattern = r"\S")]
    pub name: String,
    /// IANA time zone, such as `Europe/Moscow`.
    pub timezone: TimeZone,
}

/// A store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Store {
    /// Id.
    pub id: StoreId,
    /// Owner.
    pub merchant_id: MerchantId,
    /// Brand.
    pub brand_id: Option<BrandId>,
    /// Name.
    pub name: String,
    /// IANA time zone.
    pub timezone: TimeZone,
}

/// `POST /api/v1/admin/stores/{id}/enrollment-tokens`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewEnrollmentToken {
    /// Lifetime in seconds; default one day.
    #[serde(default)]
    pub ttl_secs: Option<u64>,
}

/// A one-time register enrollment token.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnrollmentToken {
    /// The token; shown once.
    pub token: String,
    /// The store the register will belong to.
    pub store_id: StoreId,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// An enrolled register.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Register {
    /// Id.
    pub id: RegisterId,
    /// Store.
    pub store_id: StoreId,
    /// Host name given at enrollment.
    pub hostname: String,
    /// Agent version at enrollment.
    pub agent_version: String,
    /// The highest stored seq.
    pub head_seq: Option<Seq>,
    /// Records stored.
    pub records: i64,
    /// Last upload.
    pub last_seen_at: Option<DateTime<Utc>>,
}

/// The reply to a publish.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Published {
    /// The new version.
    pub version: RulesetVersion,
    /// When it takes effect.
    pub effective_from: DateTime<Utc>,
}

/// `POST /api/v1/admin/merchants/{id}/customers`: a lead with a name and a
/// channel (phone or e-mail).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewCustomer {
    /// Name.
    #[schema(pattern = r"\S")]
    pub name: String,
    /// Phone, if given.
    #[serde(default)]
    pub phone: Option<PhoneNumber>,
    /// E-mail, if given.
    #[serde(default)]
    pub email: Option<Email>,
    /// Gender.
    #[serde(default)]
    pub gender: Gender,
    /// Birth date.
    #[serde(default)]
    pub birth_date: Option<NaiveDate>,
}

/// A purchase in a customer's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PurchaseSummary {
    /// Record id.
    pub id: Uuid,
    /// Register.
    pub register_id: RegisterId,
    /// Seq there.
    pub seq: Seq,
    /// Store.
    pub store_id: StoreId,
    /// `sale` or `return`.
    pub kind: String,
    /// Register time.
    pub wall_time: DateTime<Utc>,
    /// Amount before discounts.
    pub subtotal: Money,
    /// Discount.
    pub discount: Money,
    /// Paid (negative for returns).
    pub total: Money,
    /// Points earned.
    pub points_earned: i64,
    /// Points spent.
    pub points_redeemed: i64,
}

/// A customer with standing and history.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerView {
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
    /// Printed card number.
    pub card_number: Ean13,
    /// Lifetime spend net of returns.
    pub lifetime_spend: Money,
    /// Points available to spend (negative while overdrawn).
    pub points_balance: i64,
    /// Points earned but not available yet, soonest first.
    #[serde(default)]
    pub points_pending: Vec<PendingPoints>,
    /// Available points that will expire, soonest first.
    #[serde(default)]
    pub points_expiring: Vec<ExpiringPoints>,
    /// Points that expired unspent.
    #[serde(default)]
    pub points_expired: i64,
    /// Current tier by the current ruleset.
    pub tier: Option<String>,
    /// Purchases, newest first.
    pub purchases: Vec<PurchaseSummary>,
    /// Points adjustments (support's, referral rewards), newest first.
    #[serde(default)]
    pub adjustments: Vec<PointsAdjustment>,
}

/// Where an adjustment comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentKind {
    /// Made by a person or key of the merchant, with a reason.
    Manual,
    /// A referral reward, credited by the server.
    Referral,
}

impl AdjustmentKind {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            AdjustmentKind::Manual => "manual",
            AdjustmentKind::Referral => "referral",
        }
    }

    /// The kind stored as `s`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "manual" => Some(AdjustmentKind::Manual),
            "referral" => Some(AdjustmentKind::Referral),
            _ => None,
        }
    }
}

/// A points credit (positive) or debit (negative) not tied to a purchase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PointsAdjustment {
    /// Id.
    pub id: i64,
    /// The customer.
    pub customer_id: CustomerId,
    /// Points: positive credits, negative debits.
    pub points: i64,
    /// Why.
    pub reason: String,
    /// Where it comes from.
    pub kind: AdjustmentKind,
    /// Who made it, as the audit trail names them.
    pub actor: String,
    /// The key that makes it once.
    pub idempotency_key: String,
    /// When (the server's clock).
    pub created_at: DateTime<Utc>,
}

/// `POST /api/v1/admin/customers/{id}/adjustments`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewPointsAdjustment {
    /// Points: positive to credit, negative to debit; never zero.
    #[schema(minimum = -1_000_000, maximum = 1_000_000)]
    pub points: i64,
    /// Why; required, at most 500 characters.
    #[schema(pattern = r"\S", max_length = 500)]
    pub reason: String,
    /// A key of the caller's choosing (1 to 100 characters): the same key
    /// again answers the adjustment made the first time instead of making
    /// another.
    #[schema(pattern = r"\S", max_length = 100)]
    pub idempotency_key: String,
}

/// The reply to an adjustment: it, and the balance after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AdjustmentReceipt {
    /// The adjustment.
    pub adjustment: PointsAdjustment,
    /// Available points after it.
    pub points_balance: i64,
    /// `false` when the key had been used: this is the first adjustment.
    pub created: bool,
}

/// `GET /api/v1/admin/merchants/{id}/overdrafts`: customers whose
/// balance records left negative, as the server applied them in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OverdraftReport {
    /// The merchant.
    pub merchant_id: MerchantId,
    /// Customers with an overdraft, by id.
    pub customers: Vec<CustomerOverdraft>,
}

/// A customer's overdrafts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerOverdraft {
    /// Who.
    pub customer_id: CustomerId,
    /// Their name.
    pub name: String,
    /// Their available points now (negative while still overdrawn).
    pub points_balance: i64,
    /// Points overdrawn by all the records below.
    pub overdrawn: i64,
    /// The records that left the balance negative, in the order applied.
    pub records: Vec<OverdraftRecord>,
}

/// A record that left a customer's balance negative.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OverdraftRecord {
    /// Record id.
    pub record_id: Uuid,
    /// Register.
    pub register_id: RegisterId,
    /// Seq there.
    pub seq: Seq,
    /// Store.
    pub store_id: StoreId,
    /// Register time.
    pub wall_time: DateTime<Utc>,
    /// Spending beyond the balance, or clawing back points spent.
    pub cause: OverdraftCause,
    /// Points the record spent.
    pub points_redeemed: i64,
    /// Points it took beyond the available balance (net of what the
    /// record itself earned and made available at once).
    pub overdrawn: i64,
    /// The available balance after it.
    pub balance_after: i64,
}

/// A token for the customer's phone.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssuedToken {
    /// The text to show as a QR code.
    pub token: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// Sales figures over a set of checks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SalesFigures {
    /// Sales checks.
    pub checks: i64,
    /// Return records.
    pub returns: i64,
    /// Paid on sales minus refunded on returns.
    pub revenue: Money,
    /// Discount given on sales.
    pub discount: Money,
    /// Sales paid ÷ sales checks, rounded half up.
    pub average_check: Money,
    /// Points earned.
    pub points_earned: i64,
}

/// A store's sales.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoreSales {
    /// Store.
    pub store_id: StoreId,
    /// Its name.
    pub store_name: String,
    /// Figures.
    #[serde(flatten)]
    pub figures: SalesFigures,
}

/// A store's sales on one day of the store's own time zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DaySales {
    /// The local day.
    pub day: NaiveDate,
    /// Store.
    pub store_id: StoreId,
    /// Its name.
    pub store_name: String,
    /// Figures.
    #[serde(flatten)]
    pub figures: SalesFigures,
}

/// Buyers in one segment (a gender or an age band).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SegmentSales {
    /// The segment label.
    pub segment: String,
    /// Distinct customers who bought.
    pub customers: i64,
    /// Figures.
    #[serde(flatten)]
    pub figures: SalesFigures,
}

/// How a promotion worked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PromotionStats {
    /// Promotion.
    pub promotion_id: PromotionId,
    /// Checks it applied to.
    pub checks: i64,
    /// Distinct identified customers who used it.
    pub customers: i64,
    /// Discount it gave.
    pub discount: Money,
    /// Who funds it, for partner promotions.
    pub funded_by: Option<String>,
}

/// `GET /api/v1/admin/merchants/{id}/stats`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Stats {
    /// Currency.
    pub currency: Currency,
    /// All checks.
    pub totals: SalesFigures,
    /// Checks with an identified customer.
    pub identified: SalesFigures,
    /// Per store.
    pub by_store: Vec<StoreSales>,
    /// Per day and store.
    pub by_day: Vec<DaySales>,
    /// Per gender of identified customers.
    pub by_gender: Vec<SegmentSales>,
    /// Per age band of identified customers, on the day of purchase.
    pub by_age: Vec<SegmentSales>,
    /// Per promotion.
    pub promotions: Vec<PromotionStats>,
}

/// The customer change feed's work since the server started
/// (`GET /api/v1/admin/customer-feed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerFeedMetrics {
    /// Change pages built from storage; registers at one cursor woken by
    /// one change share one.
    pub pages_computed: u64,
    /// Checks of registers' feeds answered (a page, shared or not, or
    /// nothing new).
    pub checks_answered: u64,
    /// Customer long-polls waiting for a change right now.
    pub long_polls_waiting: u64,
}

/// `GET /api/v1/admin/merchants/{id}/leases`: the promotions with global
/// limits, what the stored records gave of each, the leases outstanding
/// and each register's spend and lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeaseReport {
    /// The merchant.
    pub merchant_id: MerchantId,
    /// When the report was made (a lease is live until its `expires_at`).
    pub at: DateTime<Utc>,
    /// The current ruleset's promotions with a global limit, by id.
    pub promotions: Vec<PromotionLeases>,
}

/// Checks and money together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsesAndMoney {
    /// Checks.
    pub uses: i64,
    /// Money.
    pub money: Money,
}

/// One promotion's limits, spend and leases.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PromotionLeases {
    /// The promotion.
    pub promotion_id: PromotionId,
    /// Its name.
    pub name: String,
    /// Its total-uses limit.
    pub total_uses: Option<u64>,
    /// Its budget.
    pub budget: Option<Money>,
    /// What the stored records gave of it, net of returns.
    pub counted: UsesAndMoney,
    /// What the live leases may still give beyond the stored records:
    /// the most the spend can still grow by while the tills are offline.
    pub outstanding: UsesAndMoney,
    /// Each register that spent on it or holds a lease of it.
    pub registers: Vec<RegisterLease>,
}

/// A register's spend on a promotion and its lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RegisterLease {
    /// The register.
    pub register_id: RegisterId,
    /// What its stored records gave of the promotion, net of returns.
    pub spent: UsesAndMoney,
    /// Its lease, if it ever took one.
    pub lease: Option<LeaseView>,
}

/// A lease as HQ sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeaseView {
    /// Its id.
    pub lease_id: i64,
    /// The register's stored head when granted; the lease covers the
    /// records after it.
    pub through_seq: Option<Seq>,
    /// What was leased.
    pub granted: UsesAndMoney,
    /// What the register's stored records after `through_seq` gave.
    pub used: UsesAndMoney,
    /// What it may still give as far as the server knows (zero once
    /// expired: back in the pool).
    pub outstanding: UsesAndMoney,
    /// When it was granted.
    pub issued_at: DateTime<Utc>,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
    /// Whether it has ended (its unspent part returned to the pool).
    pub expired: bool,
}

/// `POST /api/v1/admin/merchants/{id}/invitations`: invite a person.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewInvitation {
    /// Their e-mail address.
    #[schema(format = Email)]
    pub email: String,
    /// `owner`, `marketer`, `analyst`, `store_manager` or `support`.
    #[schema(pattern = "^(owner|marketer|analyst|store_manager|support)$")]
    pub role: String,
    /// A store manager's stores.
    #[serde(default)]
    pub stores: Vec<StoreId>,
}

/// `POST /api/v1/admin/merchants/{id}/password-resets`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewPasswordReset {
    /// The person's e-mail address.
    #[schema(format = Email)]
    pub email: String,
}

/// A one-time link (an invitation or a password reset), shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OneTimeLink {
    /// The person.
    pub account_id: i64,
    /// The page that sets the password.
    pub link: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// A person of a merchant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccountView {
    /// Id.
    pub id: i64,
    /// E-mail address.
    pub email: String,
    /// Role.
    pub role: String,
    /// A store manager's stores.
    pub stores: Vec<StoreId>,
    /// Whether they set a password (accepted the invitation) and were not
    /// disabled since.
    pub active: bool,
}

/// `POST /api/v1/admin/merchants/{id}/api-keys`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewApiKey {
    /// What it is for.
    #[schema(pattern = r"\S")]
    pub name: String,
    /// Its role.
    #[schema(pattern = "^(owner|marketer|analyst|store_manager|support)$")]
    pub role: String,
    /// A store manager's key: the stores it acts on (at least one, the
    /// merchant's); ignored for other roles.
    #[serde(default)]
    pub stores: Vec<StoreId>,
}

/// An API key (never its secret, except once in [`CreatedApiKey`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    /// Id.
    pub id: i64,
    /// What it is for.
    pub name: String,
    /// Role.
    pub role: String,
    /// A store manager's key: its stores.
    pub stores: Vec<StoreId>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last accepted.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A new API key with its bearer token, shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    /// The key.
    pub key: ApiKeyView,
    /// `Authorization: Bearer <token>`.
    pub token: String,
}

/// An entry of the audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditView {
    /// Its place in the trail.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// On what.
    pub subject: String,
    /// Before.
    pub before: String,
    /// After.
    pub after: String,
}
