//! Wire DTOs of the contract between the binaries: the sync protocol
//! between agent and server, and (until it moves to pos-agent) the till's
//! local API. The admin API's DTOs are sync-server's own. Domain types are
//! reused where they already parse at the boundary.
//!
//! - [`sync`]: register ↔ server (enrollment, upload, rulesets, customers).
//! - [`till`]: the agent's local API for the till's own software.

/// The sync protocol version spoken by this build. Sent by the agent in the
/// `x-loyalty-protocol` header.
pub const PROTOCOL_VERSION: u32 = 1;
/// The header carrying [`PROTOCOL_VERSION`].
pub const PROTOCOL_HEADER: &str = "x-loyalty-protocol";
/// The header in which the server lists, on every reply of a register
/// route, the optional parts of the protocol it offers (comma-separated),
/// so an agent learns them from its first exchange without asking.
pub const FEATURES_HEADER: &str = "x-loyalty-features";
/// The feature of quota leases (`POST /api/v1/leases`): an agent that
/// sees it enforces its lease of every promotion with a global limit, and
/// refuses those it holds no lease of.
pub const FEATURE_QUOTA_LEASES: &str = "quota-leases";
/// The feature of chain-verified ingest: an agent that sees it sends each
/// upload with [`sync::UploadBatch::chain_signature`], and the server
/// verifies that one signature and the hash chain instead of every
/// record's own signature (kept and audited). Without it, or from an
/// agent that does not send one, every record's signature is verified.
pub const FEATURE_CHAIN_INGEST: &str = "chain-ingest";
/// The feature of key rotation: the server serves its key chain at
/// `GET /api/v1/keys` and names its position in heartbeat replies, so a
/// register follows its signing key to a new one (see [`crate::keys`]).
pub const FEATURE_KEY_ROTATION: &str = "key-rotation";

/// An error reply of any API: a stable machine code and a human message.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Stable code, such as `validation`, `not_found`, `seq_gap`.
    pub error: String,
    /// What went wrong, for a person.
    pub message: String,
    /// For `seq_gap`: the seq the server expects next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_seq: Option<crate::ids::Seq>,
    /// For an invalid ruleset: every fault.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<String>,
}

pub mod sync {
    //! Register ↔ server.

    use std::collections::BTreeMap;

    use chrono::{DateTime, NaiveDate, Utc};
    use serde::{Deserialize, Serialize};

    use crate::crypto::{Hash256, PublicKey};
    #[cfg(doc)]
    use crate::identity::PhoneNumber;
    use crate::identity::{AgeAnchor, Ean13, Gender, MonthDay};
    use crate::ids::{BrandId, CustomerId, MerchantId, PromotionId, RegisterId, Seq, StoreId};
    use crate::money::{Currency, Money};
    use crate::points::{ExpiringPoints, PendingPoints};
    use crate::record::SignedRecord;

    /// `POST /api/v1/registers/enroll`.
    #[derive(Clone, Debug, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct EnrollRequest {
        /// The one-time enrollment token.
        pub enrollment_token: String,
        /// The register's Ed25519 public key.
        pub public_key: PublicKey,
        /// The agent's version.
        pub agent_version: String,
        /// The register's host name, for HQ.
        #[serde(default)]
        pub hostname: String,
    }

    /// The reply to enrollment.
    #[derive(Clone, Debug, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct EnrollResponse {
        /// The new register.
        pub register_id: RegisterId,
        /// Its merchant.
        pub merchant_id: MerchantId,
        /// Its store.
        pub store_id: StoreId,
        /// The store's name.
        pub store_name: String,
        /// The store's IANA time zone.
        pub store_timezone: crate::timezone::TimeZone,
        /// The brand the store trades under, for brand conditions of
        /// promotions (added later: absent from older servers).
        #[serde(default)]
        pub store_brand: Option<BrandId>,
        /// The merchant's currency.
        pub currency: Currency,
        /// The register's secret for `Authorization: Bearer <id>.<secret>`;
        /// the server keeps only its hash.
        pub register_secret: String,
        /// The key that signs rulesets and customer tokens; the agent pins it.
        pub server_public_key: PublicKey,
        /// The server's recovery key, if it has one; the agent pins it too,
        /// to follow a rotation it endorses (absent from older servers).
        #[serde(default)]
        pub server_recovery_key: Option<PublicKey>,
        /// The position of the server's key chain now: endorsements up to
        /// it are history the pinned keys already reflect.
        #[serde(default)]
        pub key_seq: crate::keys::ChainSeq,
    }

    /// A stored record with the key of the register that signed it, so the
    /// receiver verifies it itself.
    #[derive(Clone, Debug, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct StoredRecord {
        /// The record as signed.
        pub record: SignedRecord,
        /// The public key of the register that signed it.
        pub public_key: PublicKey,
    }

    /// `GET /api/v1/sales?register_id=R&seq=S` or `?record_id=U`: a sale
    /// of the register's merchant and every return of it the server has
    /// stored, so any till can take a return of a sale made at another
    /// (or pruned from its own outbox).
    #[derive(Clone, Debug, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct SaleWithReturns {
        /// The sale.
        pub sale: StoredRecord,
        /// Its returns, by register and seq.
        pub returns: Vec<StoredRecord>,
    }

    /// `POST /api/v1/records`: a contiguous range of one register's records.
    #[derive(Clone, Debug, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct UploadBatch {
        /// Records in seq order.
        pub records: Vec<SignedRecord>,
        /// The register's signature over the hash of the last record's
        /// bytes (`record::sign_chain_head`), sent to a server that offers
        /// [`FEATURE_CHAIN_INGEST`](crate::wire::FEATURE_CHAIN_INGEST).
        /// With it the server checks that each record's `prev_hash` is its
        /// predecessor's hash and verifies this one signature; without it
        /// (older agents), every record's own signature. A server that
        /// does not know the field ignores it and verifies every record.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub chain_signature: Option<crate::crypto::Signature>,
    }

    /// The most records in one batch.
    pub const MAX_BATCH_RECORDS: usize = 1000;
    /// The largest batch body in bytes.
    pub const MAX_BATCH_BYTES: usize = 1024 * 1024;

    /// `POST /api/v1/heartbeat`: how a register is, sent every minute or so
    /// whether or not it has records to upload, so HQ sees a till that is
    /// up but stuck apart from one that is down.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Heartbeat {
        /// The agent's version.
        pub agent_version: String,
        /// Records committed and not yet acknowledged.
        pub backlog: i64,
        /// Records the server refused for good, waiting for HQ.
        pub dead_letters: u32,
        /// The ruleset version it prices with.
        pub ruleset_version: Option<crate::ids::RulesetVersion>,
        /// Its alarms, as `pos-agent status` shows them (full disk, uploads
        /// blocked, a scanner down, …).
        #[serde(default)]
        pub alarms: Vec<String>,
    }

    /// The server's answer to a [`Heartbeat`]: the lowest agent version
    /// HQ requires of the merchant's registers, and whether this register
    /// is below it. The register raises an alarm and goes on selling and
    /// syncing: agents do not update themselves. A server before this
    /// reply answered 204 with no body, which means no minimum.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct HeartbeatReply {
        /// The minimum HQ set, if any.
        #[serde(default)]
        pub minimum_agent_version: Option<crate::version::AgentVersion>,
        /// Whether the version the heartbeat named is below it (a version
        /// that is not a semantic version counts as below).
        #[serde(default)]
        pub below_minimum: bool,
        /// The position of the server's key chain (`GET /api/v1/keys`): a
        /// register that accepted fewer endorsements fetches it (absent
        /// from older servers: 0).
        #[serde(default)]
        pub key_seq: crate::keys::ChainSeq,
    }

    /// The server's acknowledgement.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct UploadAck {
        /// Every record up to this seq is stored.
        pub acked_through: Option<Seq>,
        /// Hash of the stored head record.
        pub head_hash: Hash256,
        /// The server's clock, for drift estimation.
        pub server_time: DateTime<Utc>,
    }

    /// `POST /api/v1/leases`: a register asks for its shares of the
    /// promotions with global limits (total uses, budget), given back in a
    /// [`LeaseGrant`]. Each new grant replaces the register's leases.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct LeaseRequest {
        /// The register's own head, for HQ's view (the server counts only
        /// the records it stored).
        #[serde(default)]
        pub committed_through: Option<Seq>,
    }

    /// The reply to [`LeaseRequest`].
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct LeaseGrant {
        /// One lease per promotion of the current ruleset with a global
        /// limit; a limited promotion missing here has no lease (refused).
        pub leases: Vec<QuotaLease>,
        /// The server's clock when it granted them: a lease lasts
        /// `expires_at - server_time` by the till's own clock from receipt.
        pub server_time: DateTime<Utc>,
    }

    /// A register's share of a promotion's global limits.
    ///
    /// It covers the register's records after `through_seq` (the
    /// register's head as stored when it was granted): what those records
    /// gave of the promotion comes off it, on the till and on the server
    /// alike, so a record is never counted both in the pool and the lease.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct QuotaLease {
        /// Which promotion.
        pub promotion: PromotionId,
        /// The lease's id, for HQ and the logs.
        pub lease_id: i64,
        /// The register's stored head when granted (none: no record yet).
        pub through_seq: Option<Seq>,
        /// Checks it may apply to after `through_seq` (0 when the promotion
        /// has no total-uses limit, which the engine then ignores).
        pub uses: u64,
        /// Money it may give after `through_seq` (0 when the promotion has
        /// no budget).
        pub budget: Money,
        /// When the server takes the unspent part back.
        pub expires_at: DateTime<Utc>,
    }

    /// A customer as a till caches it: what pricing needs and a first name
    /// to greet, never a full name, phone, e-mail or birth date (152-FZ).
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct CustomerSnapshot {
        /// Who.
        pub id: CustomerId,
        /// The first name, for the cashier's greeting.
        pub name: String,
        /// Printed card number.
        pub card_number: Ean13,
        /// The phone, if given, hashed with the merchant's salt
        /// ([`PhoneNumber::salted_hash`] with the page's `phone_salt`), for
        /// a typed phone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub phone_hash: Option<Hash256>,
        /// Lifetime spend net of returns, as the server knows it.
        pub lifetime_spend: Money,
        /// Points available to spend, as the server knows them (negative
        /// while overdrawn); pending points are not in it.
        pub points_balance: i64,
        /// Tokens issued before this instant are refused (revocation).
        pub tokens_valid_after: Option<DateTime<Utc>>,
        /// Gender as given, for segment promotions.
        #[serde(default)]
        pub gender: Gender,
        /// The birthday's month and day, for birthday bonuses and windows.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub birthday: Option<MonthDay>,
        /// The age the customer turns on their birthday in a year, for age
        /// segments.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub age: Option<AgeAnchor>,
        /// Purchases (sales) the server has stored, if it says.
        #[serde(default)]
        pub purchases: Option<u64>,
        /// Tags the merchant gave the customer.
        #[serde(default)]
        pub tags: Vec<String>,
        /// Checks per promotion the customer used it on, as the server
        /// knows them (for per-customer limits).
        #[serde(default)]
        pub promotion_uses: BTreeMap<PromotionId, u64>,
        /// The store-local date the birthday bonus was last given, from the
        /// stored sales that earned it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub last_birthday_bonus: Option<NaiveDate>,
        /// Spend net of returns over the programme's rolling tier window,
        /// when the tiers go by a window, as of the snapshot.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub window_spend: Option<Money>,
        /// The parts of `window_spend` that leave the window, soonest
        /// first, so the till ages it to its own clock between snapshots
        /// (a customer who stays away drops out of a rolling tier).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub window_spend_leaving: Vec<LeavingSpend>,
        /// Points earned but not available yet, soonest first.
        #[serde(default)]
        pub points_pending: Vec<PendingPoints>,
        /// Available points that will expire, soonest first.
        #[serde(default)]
        pub points_expiring: Vec<ExpiringPoints>,
    }

    /// Spend that counts in the rolling tier window until `until`: one
    /// day's records, leaving with the latest of them.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct LeavingSpend {
        /// When it stops counting.
        pub until: DateTime<Utc>,
        /// Spend net of returns.
        pub spend: Money,
    }

    /// `GET /api/v1/customers/changes?after=C`: customers changed after a cursor.
    #[derive(Clone, Debug, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct CustomerDeltaPage {
        /// Pass as `after` next time.
        pub next_cursor: i64,
        /// Changed customers.
        pub customers: Vec<CustomerSnapshot>,
        /// Whether another page is ready now.
        pub more: bool,
        /// The merchant's salt of the customers' `phone_hash` (added
        /// later: absent from older servers).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub phone_salt: Option<String>,
        /// The requesting register's highest record the server had stored
        /// when it built the page, read in the same snapshot: the page's
        /// customers already count every record of that register up to
        /// here, so the till settles its pending effects through it even
        /// before it sees the acknowledgement.
        #[serde(default)]
        pub stored_through: Option<Seq>,
    }
}

pub mod till {
    //! The agent's local API for the till's own software (127.0.0.1 only).

    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Serialize};
    use uuid::Uuid;

    use crate::barcode::{Gs1Element, Gtin, ProductFormat};
    use crate::basket::Line;
    use crate::coupon::CouponCode;
    use crate::ids::{CustomerId, PromotionId, RegisterId, RulesetVersion, SaleId, Seq, Sku};
    use crate::money::{Money, Quantity};
    use crate::pricing::PricedCheck;
    use crate::record::{IdentifiedBy, RecordLine};

    /// How the cashier identifies a customer: exactly one field.
    #[derive(Clone, Debug, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(rename_all = "snake_case", deny_unknown_fields)]
    pub enum AttachCustomer {
        /// A scanned phone token.
        Token(String),
        /// A printed card number.
        Card(String),
        /// A phone number typed in.
        Phone(String),
    }

    /// A line on an open check, with its id for removal.
    #[derive(Clone, Debug, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct CheckLine {
        /// Id within the check.
        pub line_id: u32,
        /// The line.
        #[serde(flatten)]
        pub line: Line,
    }

    /// The identified customer of a check.
    #[derive(Clone, Debug, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct CustomerBrief {
        /// Id.
        pub id: CustomerId,
        /// Name, for the greeting.
        pub name: String,
        /// Tier by the cached lifetime spend.
        pub tier: Option<String>,
        /// Cached points balance: the points available to spend.
        pub points_balance: i64,
        /// Points earned but not available yet (the programme's pending
        /// period), for the cashier to mention.
        #[serde(default)]
        pub points_pending: i64,
        /// How they were identified.
        pub identified_by: IdentifiedBy,
    }

    /// An open check with its current pricing.
    #[derive(Clone, Debug, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct CheckView {
        /// Id.
        pub id: Uuid,
        /// Lines.
        pub lines: Vec<CheckLine>,
        /// Customer.
        pub customer: Option<CustomerBrief>,
        /// The ruleset version priced with.
        pub ruleset_version: Option<RulesetVersion>,
        /// Coupon codes entered.
        #[serde(default)]
        pub coupons: Vec<String>,
        /// Points the customer asked to pay with; `pricing.points_redeemed`
        /// says how many the programme allows.
        #[serde(default)]
        pub redeem_points: i64,
        /// Pricing of the lines as they stand.
        pub pricing: PricedCheck,
    }

    /// `PUT /v1/checks/{id}/coupons`: the coupon codes entered on the check
    /// (replacing any before).
    #[derive(Clone, Debug, Default, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(deny_unknown_fields)]
    pub struct SetCoupons {
        /// The codes, as typed or scanned.
        pub codes: Vec<String>,
    }

    /// `POST /v1/checks/{id}/coupons`: one more coupon code.
    #[derive(Clone, Debug, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(deny_unknown_fields)]
    pub struct AddCoupon {
        /// The code.
        pub code: String,
    }

    /// `POST /v1/checks/{id}/redeem`: pay with up to `points` points (0 to
    /// stop). The agent allows at most the cached balance (pending local
    /// redemptions already taken off) and what the programme allows on the
    /// check.
    #[derive(Clone, Copy, Debug, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(deny_unknown_fields)]
    pub struct Redeem {
        /// Points asked for.
        pub points: i64,
    }

    /// The sale a return refers to.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(untagged)]
    pub enum OriginalSale {
        /// By register and seq.
        Seq {
            /// The register that sold: this one, or another of the
            /// merchant's, whose sale the till fetches from the server (and
            /// keeps, for later returns offline).
            register_id: RegisterId,
            /// Its seq.
            seq: Seq,
        },
        /// By the purchase record's id.
        Record {
            /// The id.
            record_id: Uuid,
        },
    }

    /// A line coming back: the original line by position (`line_no`, from
    /// 0) or by SKU (the earliest lines of that SKU with something left).
    #[derive(Clone, Debug, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(deny_unknown_fields)]
    pub struct ReturnItem {
        /// The original line's position.
        #[serde(default)]
        pub line_no: Option<u32>,
        /// Or its SKU.
        #[serde(default)]
        pub sku: Option<Sku>,
        /// How much comes back.
        pub quantity: Quantity,
    }

    /// `POST /v1/returns`: a return of lines of a sale this register made.
    #[derive(Clone, Debug, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(deny_unknown_fields)]
    pub struct ReturnRequest {
        /// The sale.
        pub original: OriginalSale,
        /// What comes back.
        pub lines: Vec<ReturnItem>,
    }

    /// The reply to a return: the signed return record is durable in the
    /// outbox.
    #[derive(Clone, Debug, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct ReturnCommitted {
        /// The return record's id.
        pub record_id: Uuid,
        /// Its seq.
        pub seq: Seq,
        /// The sale's record id.
        pub original_record_id: Uuid,
        /// Money to give back to the customer.
        pub refund: Money,
        /// Points taken back from the customer.
        pub points_clawed_back: i64,
        /// Points given back to the customer.
        pub points_restored: i64,
        /// Promotions whose use was given back.
        pub uses_returned: Vec<PromotionId>,
        /// The return's lines as recorded (negative money).
        pub lines: Vec<RecordLine>,
    }

    /// `POST /v1/checks/{id}/commit`: the body is optional. With a
    /// `sale_id`, the commit is idempotent: repeated with the same id it
    /// answers the record already committed (same seq, same receipt), and
    /// `GET /v1/sales/{sale_id}` tells whether the sale was recorded.
    #[derive(Clone, Debug, Default, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(deny_unknown_fields)]
    pub struct CommitRequest {
        /// The till's own id of the sale.
        #[serde(default)]
        pub sale_id: Option<SaleId>,
    }

    /// The reply to a commit: the record is durable in the outbox.
    #[derive(Clone, Debug, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Committed {
        /// The till's id of the sale, when the commit carried one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub sale_id: Option<SaleId>,
        /// The check.
        pub check_id: Uuid,
        /// The purchase record's id.
        pub record_id: Uuid,
        /// The record's seq.
        pub seq: Seq,
        /// The final pricing.
        pub pricing: PricedCheck,
    }

    /// `GET /v1/sales/{sale_id}`: a sale committed with this id.
    #[derive(Clone, Debug, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct SaleOutcome {
        /// The commit's reply, exactly as it was first given.
        pub committed: Committed,
        /// Whether the server has acknowledged the record.
        pub uploaded: bool,
    }

    /// An event on `GET /v1/events` (server-sent events, JSON data).
    #[derive(Clone, Debug, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(tag = "type", rename_all = "snake_case")]
    pub enum TillEvent {
        /// A customer was identified by a scan.
        CustomerIdentified {
            /// Scanner.
            source: String,
            /// Who.
            customer: CustomerBrief,
            /// The open check the customer was attached to, if any.
            check_id: Option<Uuid>,
        },
        /// A product barcode was scanned: add it to the check.
        ProductScanned {
            /// Scanner.
            source: String,
            /// The barcode as scanned (GS1 fields separated by GS, `\u001d`).
            code: String,
            /// AIM symbology id, if the scanner sent one.
            symbology: Option<String>,
            /// What kind of barcode it was (`other` when the till alone
            /// knows, such as an internal Code 128).
            #[serde(default)]
            format: ProductFormat,
            /// The product's GTIN as 14 digits, when the code carries one
            /// with a valid check digit.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            gtin: Option<Gtin>,
            /// The GS1 fields (application identifier and value) in scan
            /// order: batch, expiry, serial, net weight, …
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            gs1: Vec<Gs1Element>,
        },
        /// A coupon code was scanned or typed in and entered on the most
        /// recently opened check.
        CouponScanned {
            /// Scanner.
            source: String,
            /// The code, normalised (upper case).
            code: CouponCode,
            /// The check that took it: the most recently opened one, if any
            /// is open and has room for another code.
            check_id: Option<Uuid>,
            /// Whether a promotion of the ruleset in use asks for this code;
            /// `false` tells the cashier the coupon unlocks nothing.
            #[serde(default)]
            known: bool,
        },
        /// A scan could not be used.
        ScanRejected {
            /// Scanner.
            source: String,
            /// Why, for the cashier.
            reason: String,
        },
        /// A new ruleset is in use.
        RulesetActivated {
            /// Version.
            version: RulesetVersion,
        },
        /// The server said this agent is below the minimum version HQ
        /// requires (sent when that becomes so, or the minimum changes):
        /// show the alarm, go on selling; the register needs an update.
        AgentOutdated {
            /// This agent's version.
            agent_version: String,
            /// The minimum HQ requires.
            minimum_agent_version: crate::version::AgentVersion,
            /// The alarm as `GET /v1/status` lists it.
            alarm: String,
        },
    }

    /// `GET /v1/scanners`: one barcode scanner of the register.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct ScannerView {
        /// The source name on its scans, such as
        /// `serial:/dev/serial/by-id/…` or `hid:/dev/input/by-id/…`.
        pub name: String,
        /// Whether it is readable now.
        pub state: ScannerState,
        /// Why it is disconnected.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub error: Option<String>,
        /// Scans delivered since the agent started.
        pub scans: u64,
        /// Open and read failures (unplugs) since the agent started.
        pub errors: u64,
        /// Lines dropped by framing (too long, not text).
        pub dropped: u64,
        /// When the last scan arrived.
        pub last_scan_at: Option<chrono::DateTime<chrono::Utc>>,
    }

    /// The connection state of a scanner.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(rename_all = "snake_case")]
    pub enum ScannerState {
        /// Opening the device.
        Connecting,
        /// Open and reading.
        Connected,
        /// Not readable (unplugged, missing, busy); retried with backoff.
        Disconnected,
        /// The reader has finished.
        Stopped,
    }

    /// `GET /v1/status`.
    #[derive(Clone, Debug, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct AgentStatus {
        /// The register.
        pub register_id: crate::ids::RegisterId,
        /// Its store.
        pub store_id: crate::ids::StoreId,
        /// Ruleset in use.
        pub ruleset_version: Option<RulesetVersion>,
        /// Records committed.
        pub last_seq: Option<Seq>,
        /// Records acknowledged by the server.
        pub acked_seq: Option<Seq>,
        /// Records waiting in the outbox.
        pub outbox_pending: i64,
        /// Customers in the cache.
        pub cached_customers: i64,
        /// Whether the last contact with the server succeeded.
        pub server_reachable: bool,
        /// Last error talking to the server.
        pub last_sync_error: Option<String>,
        /// Upload progress, alarms and the clock, in detail.
        #[serde(default)]
        pub sync: SyncStatus,
    }

    /// The sync health in `GET /v1/status`: upload progress, what stops it,
    /// the register clock's drift and the ruleset pipeline.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    #[serde(default)]
    pub struct SyncStatus {
        /// Thousandths of the committed records the server acknowledged
        /// (1000 when nothing waits).
        pub uploaded_permille: u32,
        /// The oldest record still kept in the outbox; older acknowledged
        /// ones were pruned.
        pub oldest_kept_seq: Option<Seq>,
        /// When the server last answered anything.
        pub last_contact_at: Option<DateTime<Utc>>,
        /// Whether the register counts as offline: the server answered
        /// nothing within `sync.offline_after_secs` (or never), so the
        /// offline redemption cap applies.
        #[serde(default)]
        pub offline: bool,
        /// How far the register clock is ahead of the server's, in ms
        /// (negative: behind), as last estimated. Informative only.
        pub clock_drift_ms: Option<i64>,
        /// The estimate is good to plus or minus this many ms.
        pub clock_drift_uncertainty_ms: Option<i64>,
        /// Why uploads stopped until a person acts: the agent and the server
        /// speak different protocol versions, or the register's credentials
        /// are refused.
        pub upload_blocked: Option<String>,
        /// Records the server refuses for good. Uploads stop at the first
        /// (seqs are dense); the records stay in the outbox.
        pub dead_letters: Vec<DeadLetterView>,
        /// The database cannot be written (disk full): commits answer
        /// `storage_full` and sales go on without loyalty.
        pub storage_alarm: Option<String>,
        /// A received ruleset waiting for its `effective_from`.
        pub pending_ruleset: Option<PendingRuleset>,
        /// Why the last offered ruleset was refused, if it was.
        pub ruleset_rejected: Option<String>,
        /// How rulesets are fetched: `long_poll` or `etag_poll`.
        pub ruleset_transport: String,
        /// The minimum agent version HQ requires, while this agent is
        /// below it (its alarm is among `alarms`); absent otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub required_agent_version: Option<crate::version::AgentVersion>,
        /// Every alarm above in one line each, for a till's banner.
        pub alarms: Vec<String>,
        /// What is left of the till's quota leases (its shares of the
        /// promotions' global limits), by promotion; empty when the
        /// server offers none.
        pub leases: Vec<LeaseStatus>,
    }

    /// What is left of one quota lease at the till.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct LeaseStatus {
        /// The promotion.
        pub promotion: crate::ids::PromotionId,
        /// The server's id of the lease.
        pub lease_id: i64,
        /// Checks left.
        pub uses_left: i64,
        /// Money left.
        pub budget_left: crate::money::Money,
        /// When it ends, by the till's clock.
        pub expires_at: DateTime<Utc>,
    }

    /// A record the server refused for good.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct DeadLetterView {
        /// The record.
        pub seq: Seq,
        /// The HTTP status of the refusal.
        pub http_status: u16,
        /// The server's error code, such as `bad_signature` or `fork`.
        pub code: String,
        /// The server's message.
        pub message: String,
        /// The first refusal.
        pub first_failed_at: DateTime<Utc>,
        /// The latest refusal.
        pub last_failed_at: DateTime<Utc>,
        /// How often it was refused.
        pub attempts: i64,
    }

    /// A ruleset stored and waiting for its time.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct PendingRuleset {
        /// Its version.
        pub version: RulesetVersion,
        /// When it takes effect, on the server's clock.
        pub effective_from: DateTime<Utc>,
    }
}
